#include "line_protocol.hpp"

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

void append_line(std::string& out, const Candle& c) {
  out += "candle";
  tag(out, "interval", c.interval);
  tag(out, "source", c.source);
  tag(out, "symbol", c.symbol);
  Fields f(out);
  f.decimal("open", c.open);
  f.decimal("high", c.high);
  f.decimal("low", c.low);
  f.decimal("close", c.close);
  f.decimal("volume", c.volume);
  f.decimal("quote_volume", c.quote_volume);
  f.decimal("taker_buy_volume", c.taker_buy_volume);
  f.decimal("taker_buy_quote_volume", c.taker_buy_quote_volume);
  f.decimal("vwap", c.vwap);
  f.integer("trades", c.trades);
  f.boolean("final", c.final);
  f.time(c.start);
}

void append_line(std::string& out, const Indicator& m) {
  out += "moving_average";
  tag(out, "symbol", m.symbol);
  tag(out, "window", m.window);
  Fields f(out);
  f.decimal("value", m.value);
  f.integer("trades", m.trades);
  f.time(m.end);
}

void append_line(std::string& out, const Ticker& t) {
  out += "ticker";
  tag(out, "coin", t.coin);
  tag(out, "symbol", t.symbol);
  tag(out, "vs_currency", t.vs_currency);
  Fields f(out);
  f.string("name", t.name);
  f.decimal("price", t.price);
  f.decimal("market_cap", t.market_cap);
  f.decimal("volume_24h", t.volume_24h);
  f.decimal("change_24h_pct", t.change_24h_pct);
  f.decimal("high_24h", t.high_24h);
  f.decimal("low_24h", t.low_24h);
  f.time(t.last_updated);
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
