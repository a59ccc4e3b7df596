#include "line_protocol.hpp"

#include <algorithm>
#include <array>

#include "cryptoflow/messages/fields.hpp"

namespace cryptoflow::influx {
namespace {

void escape(std::string& out, std::string_view s, std::string_view specials) {
  for (char c : s) {
    if (c == '\n' || c == '\r') {  // not representable in line protocol: never let it split a line
      out += ' ';
      continue;
    }
    if (specials.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
}

void tag(std::string& out, std::string_view key, std::string_view value) {
  if (value.empty()) return;  // InfluxDB rejects empty tag values: omit the tag
  out += ',';
  out += key;
  out += '=';
  append_tag(out, value);
}

class Fields {
 public:
  explicit Fields(std::string& out) : out_(out) { out_ += ' '; }
  void decimal(std::string_view key, const Decimal& d) {
    sep(key);
    char buf[64];
    out_.append(buf, d.write(buf));
  }
  void decimal(std::string_view key, const std::optional<Decimal>& d) {
    if (d) decimal(key, *d);
  }
  void integer(std::string_view key, std::int64_t v) {
    sep(key);
    out_ += std::to_string(v);
    out_ += 'i';
  }
  void boolean(std::string_view key, bool v) {
    sep(key);
    out_ += v ? "true" : "false";
  }
  void string(std::string_view key, std::string_view v) {
    sep(key);
    append_string_field(out_, v);
  }
  void time(std::int64_t ms) {
    out_ += ' ';
    out_ += std::to_string(ms);
    out_ += '\n';
  }

 private:
  void sep(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += key;
    out_ += '=';
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace

void append_measurement(std::string& out, std::string_view s) {
  escape(out, s, ", ");
}
void append_tag(std::string& out, std::string_view s) {
  escape(out, s, ",= ");
}
void append_string_field(std::string& out, std::string_view s) {
  out += '"';
  escape(out, s, "\"\\");
  out += '"';
}

namespace {

// A message's point, from its description (fields.hpp): the measurement, its tags sorted by
// name (InfluxDB's advice; an empty one left out), its fields in order, its time.
template <class M>
void append_point(std::string& out, const M& m) {
  std::array<std::pair<std::string_view, std::string_view>, 8> tags{};
  std::size_t n = 0;
  std::int64_t time = 0;
  fields::describe(m, [&](const char* name, const auto& v, unsigned use) {
    if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::string>) {
      if ((use & fields::influx_tag) != 0U) tags.at(n++) = {name, v};
    } else if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::int64_t>) {
      if ((use & fields::influx_time) != 0U) time = v;
    }
  });
  std::sort(tags.begin(), tags.begin() + static_cast<std::ptrdiff_t>(n));
  out += fields::Store<M>::measurement;
  for (std::size_t i = 0; i < n; ++i) tag(out, tags[i].first, tags[i].second);
  Fields f(out);
  fields::describe(m, [&](const char* name, const auto& v, unsigned use) {
    if ((use & fields::influx_field) == 0U) return;
    using T = std::decay_t<decltype(v)>;
    if constexpr (std::is_same_v<T, std::string>)
      f.string(name, v);
    else if constexpr (std::is_same_v<T, bool>)
      f.boolean(name, v);
    else if constexpr (std::is_same_v<T, std::int64_t>)
      f.integer(name, v);
    else
      f.decimal(name, v);
  });
  f.time(time);
}

}  // namespace

void append_line(std::string& out, const Candle& c) {
  append_point(out, c);
}
void append_line(std::string& out, const Indicator& m) {
  append_point(out, m);
}
void append_line(std::string& out, const Ticker& t) {
  append_point(out, t);
}

void append_line(std::string& out, const TopOfBook& b) {
  out += "book";
  tag(out, "source", b.source);
  tag(out, "symbol", b.symbol);
  Fields f(out);
  if (b.bid) {
    f.decimal("bid", b.bid->price);
    f.decimal("bid_qty", b.bid->quantity);
  }
  if (b.ask) {
    f.decimal("ask", b.ask->price);
    f.decimal("ask_qty", b.ask->quantity);
  }
  if (b.bid && b.ask)
    if (const auto spread = b.ask->price.checked_add(Decimal::from_units(-b.bid->price.units(), b.bid->price.scale())))
      f.decimal("spread", *spread);
  f.integer("update_id", b.update_id);
  f.time(b.time_ms);
}

}  // namespace cryptoflow::influx
