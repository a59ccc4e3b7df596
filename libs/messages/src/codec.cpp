#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>

#include "cryptoflow/messages/fields.hpp"
#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow {
namespace {

// The encoders write JSON straight into the caller's string: keys as they are, strings escaped
// as RapidJSON's Writer escapes them (", \\, control characters; UTF-8 passes through), so the
// bytes are the same as before, without a StringBuffer and a copy per message.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void key(std::string_view k) {  // three appends of known length (a literal's is a constant)
    const char open[2] = {first_ ? '{' : ',', '"'};
    first_ = false;
    out_.append(open, 2);
    out_.append(k);
    out_.append("\":", 2);
  }
  void string(std::string_view v) {
    static constexpr char hex[] = "0123456789ABCDEF";
    out_ += '"';
    std::size_t plain = 0;  // the run of bytes that need no escape, appended at once
    for (std::size_t i = 0; i < v.size(); ++i) {
      const auto c = static_cast<unsigned char>(v[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(v.data() + plain, i - plain);
      plain = i + 1;
      out_ += '\\';
      switch (c) {
        case '"': out_ += '"'; break;
        case '\\': out_ += '\\'; break;
        case '\b': out_ += 'b'; break;
        case '\f': out_ += 'f'; break;
        case '\n': out_ += 'n'; break;
        case '\r': out_ += 'r'; break;
        case '\t': out_ += 't'; break;
        default:
          out_ += "u00";
          out_ += hex[c >> 4];
          out_ += hex[c & 0xF];
      }
    }
    out_.append(v.data() + plain, v.size() - plain);
    out_ += '"';
  }
  void raw(std::string_view v) { out_.append(v); }
  void end() { out_ += first_ ? "{}" : "}"; }

 private:
  std::string& out_;
  bool first_ = true;
};

void put(Writer& w, std::string_view key, std::string_view v) {
  w.key(key);
  w.string(v);
}
void put(Writer& w, std::string_view key, const Decimal& d) {
  char buf[64];  // digits, a sign and a point need no escaping: quoted as they are
  buf[0] = '"';
  const auto n = d.write(buf + 1);
  buf[n + 1] = '"';
  w.key(key);
  w.raw({buf, n + 2});
}
void put(Writer& w, std::string_view key, const std::optional<Decimal>& d) {
  if (d) {
    put(w, key, *d);
  } else {
    w.key(key);
    w.raw("null");
  }
}
void put(Writer& w, std::string_view key, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  w.key(key);
  w.raw({buf, static_cast<std::size_t>(r.ptr - buf)});
}
void put_bool(Writer& w, std::string_view key, bool v) {
  w.key(key);
  w.raw(v ? "true" : "false");
}

template <class Fn>
void encode(std::string& out, Fn&& body) {
  Writer w(out);
  body(w);
  w.end();
}

// A parsed JSON object and typed accessors that record the first error, naming the field.
// Parsing uses stack buffers for RapidJSON's pools: no heap allocation for ordinary messages.
class Fields {
 public:
  explicit Fields(std::string_view json)
      : value_alloc_(value_buf_, sizeof value_buf_),
        parse_alloc_(parse_buf_, sizeof parse_buf_),
        doc_(&value_alloc_, sizeof parse_buf_, &parse_alloc_) {
    if (json.size() > kMaxMessageBytes) {
      error_ = "message of " + std::to_string(json.size()) + " bytes exceeds the limit";
      return;
    }
    doc_.Parse<rapidjson::kParseIterativeFlag>(json.data(), json.size());
    if (doc_.HasParseError()) {
      error_ = "malformed JSON at offset " + std::to_string(doc_.GetErrorOffset());
    } else if (!doc_.IsObject()) {
      error_ = "message is not a JSON object";
    }
  }
  [[nodiscard]] bool ok() const { return error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }

  void str(const char* name, std::string& out) {
    if (const auto* v = get(name)) {
      if (v->IsString())
        out.assign(v->GetString(), v->GetStringLength());
      else
        fail(name, "expected a string");
    }
  }
  void dec(const char* name, Decimal& out) {
    if (const auto* v = get(name)) parse_decimal(name, *v, out);
  }
  // A field added after records without it were written: absent leaves out as it is.
  void dec_if_present(const char* name, Decimal& out) {
    if (!ok()) return;
    auto it = doc_.FindMember(name);
    if (it != doc_.MemberEnd()) parse_decimal(name, it->value, out);
  }
  void opt_dec(const char* name, std::optional<Decimal>& out) {
    if (!ok()) return;
    auto it = doc_.FindMember(name);
    if (it == doc_.MemberEnd() || it->value.IsNull()) {
      out.reset();
      return;
    }
    Decimal d;
    if (parse_decimal(name, it->value, d)) out = d;
  }
  void i64(const char* name, std::int64_t& out) {
    if (const auto* v = get(name)) {
      if (v->IsInt64())
        out = v->GetInt64();
      else
        fail(name, "expected an integer");
    }
  }
  void opt_i64(const char* name, std::optional<std::int64_t>& out) {
    if (!ok()) return;
    auto it = doc_.FindMember(name);
    if (it == doc_.MemberEnd() || it->value.IsNull()) return;
    if (it->value.IsInt64())
      out = it->value.GetInt64();
    else
      fail(name, "expected an integer");
  }
  void boolean(const char* name, bool& out) {
    if (const auto* v = get(name)) {
      if (v->IsBool())
        out = v->GetBool();
      else
        fail(name, "expected true or false");
    }
  }

 private:
  const rapidjson::Value* get(const char* name) {
    if (!ok()) return nullptr;
    auto it = doc_.FindMember(name);
    if (it == doc_.MemberEnd()) {
      fail(name, "missing");
      return nullptr;
    }
    return &it->value;
  }
  bool parse_decimal(const char* name, const rapidjson::Value& v, Decimal& out) {
    if (!v.IsString()) {
      fail(name, "expected a decimal string");
      return false;
    }
    auto d = Decimal::parse(std::string_view(v.GetString(), v.GetStringLength()));
    if (!d) {
      fail(name, "not a decimal number");
      return false;
    }
    out = *d;
    return true;
  }
  void fail(const char* name, const char* what) { error_ = std::string("field '") + name + "': " + what; }

  char value_buf_[4096];
  char parse_buf_[1024];
  rapidjson::MemoryPoolAllocator<> value_alloc_;
  rapidjson::MemoryPoolAllocator<> parse_alloc_;
  rapidjson::GenericDocument<rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>, rapidjson::MemoryPoolAllocator<>>
      doc_;
  std::string error_;
};

// The descriptions (fields.hpp) written and read: each member's type picks how.
struct JsonPut {
  Writer& w;
  void operator()(const char* name, const std::string& v, unsigned) const { put(w, name, v); }
  void operator()(const char* name, const Decimal& v, unsigned) const { put(w, name, v); }
  void operator()(const char* name, const std::optional<Decimal>& v, unsigned) const { put(w, name, v); }
  void operator()(const char* name, std::int64_t v, unsigned) const { put(w, name, v); }
  void operator()(const char* name, const std::optional<std::int64_t>& v, unsigned) const {
    if (v) put(w, name, *v);  // absent, not null
  }
  void operator()(const char* name, bool v, unsigned) const { put_bool(w, name, v); }
};

struct JsonGet {
  Fields& f;
  void operator()(const char* name, std::string& v, unsigned) const { f.str(name, v); }
  void operator()(const char* name, Decimal& v, unsigned use) const {
    if (use & fields::added_later)
      f.dec_if_present(name, v);
    else
      f.dec(name, v);
  }
  void operator()(const char* name, std::optional<Decimal>& v, unsigned) const { f.opt_dec(name, v); }
  void operator()(const char* name, std::int64_t& v, unsigned) const { f.i64(name, v); }
  void operator()(const char* name, std::optional<std::int64_t>& v, unsigned) const { f.opt_i64(name, v); }
  void operator()(const char* name, bool& v, unsigned) const { f.boolean(name, v); }
};

template <class T, class Fn>
Decoded<T> decode(std::string_view json, Fn&& read) {
  Fields f(json);
  T m{};
  read(f, m);
  if (!f.ok()) return {std::nullopt, f.error()};
  return {std::move(m), {}};
}

}  // namespace

void append_json(std::string& out, const Trade& m) {
  encode(out, [&](Writer& w) { fields::describe(m, JsonPut{w}); });
}
void append_json(std::string& out, const Ticker& m) {
  encode(out, [&](Writer& w) { fields::describe(m, JsonPut{w}); });
}
void append_json(std::string& out, const Candle& m) {
  encode(out, [&](Writer& w) { fields::describe(m, JsonPut{w}); });
}
void append_json(std::string& out, const Indicator& m) {
  encode(out, [&](Writer& w) { fields::describe(m, JsonPut{w}); });
}

std::string to_json(const Trade& m) {
  std::string out;
  append_json(out, m);
  return out;
}
std::string to_json(const Ticker& m) {
  std::string out;
  append_json(out, m);
  return out;
}
std::string to_json(const Candle& m) {
  std::string out;
  out.reserve(320);
  append_json(out, m);
  return out;
}
std::string to_json(const Indicator& m) {
  std::string out;
  append_json(out, m);
  return out;
}

namespace detail {
Decoded<Trade> decode_trade_dom(std::string_view json) {
  return decode<Trade>(json, [](Fields& f, Trade& m) { fields::describe(m, JsonGet{f}); });
}
}  // namespace detail

namespace {

// A member of the message being read, as FlatReader keeps it; its type is the field's kind.
using Target = void*;
template <class T>
T& as(Target t) {
  return *static_cast<T*>(t);
}

// One pass over a message with RapidJSON's SAX reader, straight into the message. Its fields are
// the message's description (fields.hpp): names, kinds and rules read once per type (the table),
// the members' addresses once per message. It keeps the DOM decoder's rules exactly (JsonGet
// above: detail::decode_trade_dom): the first occurrence of a key counts, unknown keys and
// anything nested are skipped, and the error reported is the first one in the order of the
// description.
template <class M>
class FlatReader {
 public:
  // Only the members' addresses are taken per message; names and rules come from the table.
  [[gnu::flatten]] explicit FlatReader(M& m) {
    std::size_t k = 0;
    fields::describe(m, [&](const char*, auto& member, unsigned) { targets_[k++] = &member; });
  }

  // SAX handler.
  bool Null() {
    return value(State::null, [](Target) {});
  }
  bool Bool(bool b) {
    return value(kind() == Kind::boolean ? State::ok : State::bad, [&](Target t) { as<bool>(t) = b; });
  }
  bool Int(int i) { return integer(i); }
  bool Uint(unsigned u) { return integer(u); }
  bool Int64(std::int64_t i) { return integer(i); }
  bool Uint64(std::uint64_t u) {
    return u <= static_cast<std::uint64_t>(INT64_MAX) ? integer(static_cast<std::int64_t>(u))
                                                      : value(State::bad, [](Target) {});
  }
  bool Double(double) {
    return value(State::bad, [](Target) {});
  }
  bool RawNumber(const char*, rapidjson::SizeType, bool) { return true; }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    const std::string_view v(s, n);
    const auto k = kind();
    if (k == Kind::string) return value(State::ok, [&](Target t) { as<std::string>(t).assign(v); });
    if (k != Kind::decimal && k != Kind::opt_decimal) return value(State::bad, [](Target) {});
    if (!open()) return true;
    auto d = Decimal::parse(v);
    if (!d) {
      not_decimal_[field_] = true;
      return value(State::bad, [](Target) {});
    }
    return value(State::ok, [&](Target t) {
      if (k == Kind::decimal)
        as<Decimal>(t) = *d;
      else
        as<std::optional<Decimal>>(t) = *d;
    });
  }
  bool StartObject() {
    if (depth_ == 0) top_object_ = true;
    return nested();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth_ == 1) field_ = lookup(std::string_view(s, n));
    return true;
  }
  bool EndObject(rapidjson::SizeType) { return end(); }
  bool StartArray() { return nested(); }
  bool EndArray(rapidjson::SizeType) { return end(); }

  // After a successful parse: the first error in field order, or empty.
  [[nodiscard]] std::string error() const {
    if (!top_object_) return "message is not a JSON object";
    const auto& table = table_;
    for (std::size_t f = 0; f < table.count; ++f) {
      const auto st = state_[f];
      const auto k = table.kinds[f];
      const bool optional = k == Kind::opt_integer || k == Kind::opt_decimal;
      if (st == State::ok || (optional && st != State::bad) || (table.absent_ok[f] && st == State::missing)) continue;
      std::string what;
      if (st == State::missing) {
        what = "missing";
      } else {
        switch (k) {
          case Kind::string: what = "expected a string"; break;
          case Kind::decimal:
          case Kind::opt_decimal: what = not_decimal_[f] ? "not a decimal number" : "expected a decimal string"; break;
          case Kind::boolean: what = "expected true or false"; break;
          default: what = "expected an integer";
        }
      }
      return "field '" + std::string(table.names[f]) + "': " + what;
    }
    return {};
  }

 private:
  static constexpr std::size_t kMaxFields = 16;
  enum class Kind : unsigned char { string, decimal, opt_decimal, integer, opt_integer, boolean };
  enum class State : unsigned char { missing, ok, null, bad };
  // The message's description, read once: each field's name, kind and whether records written
  // before it existed lack it.
  struct Table {
    std::array<std::string_view, kMaxFields> names{};
    std::array<Kind, kMaxFields> kinds{};
    std::array<bool, kMaxFields> absent_ok{};
    std::size_t count = 0;
  };
  template <class T>
  static constexpr Kind kind_of() {
    if constexpr (std::is_same_v<T, std::string>) return Kind::string;
    if constexpr (std::is_same_v<T, Decimal>) return Kind::decimal;
    if constexpr (std::is_same_v<T, std::optional<Decimal>>) return Kind::opt_decimal;
    if constexpr (std::is_same_v<T, std::int64_t>) return Kind::integer;
    if constexpr (std::is_same_v<T, std::optional<std::int64_t>>) return Kind::opt_integer;
    if constexpr (std::is_same_v<T, bool>) return Kind::boolean;
  }
  static Table read_description() {
    Table t;
    M m{};
    fields::describe(m, [&](const char* name, auto& member, unsigned use) {
      if (t.count == kMaxFields) std::abort();  // a message of more fields: raise kMaxFields
      t.names[t.count] = name;
      t.kinds[t.count] = kind_of<std::remove_cvref_t<decltype(member)>>();
      t.absent_ok[t.count] = (use & fields::added_later) != 0;
      ++t.count;
    });
    return t;
  }
  // Made at the program's start (no guard on each read); nothing decodes before main().
  static inline const Table kTable = read_description();

  // Keys come in the description's order from every writer of ours: the one after the last
  // found is tried first. Names are short: compared as two overlapping words of 8 (or 4) bytes,
  // in line, rather than by a call to memcmp.
  [[gnu::always_inline]] static bool same(std::string_view a, std::string_view b) {
    const auto n = a.size();
    if (n != b.size()) return false;
    const auto words = [&](auto word) {
      decltype(word) x0, x1, y0, y1;
      constexpr auto w = sizeof word;
      std::memcpy(&x0, a.data(), w);
      std::memcpy(&y0, b.data(), w);
      std::memcpy(&x1, a.data() + n - w, w);
      std::memcpy(&y1, b.data() + n - w, w);
      return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    };
    if (n >= 8) {
      if (n > 16) return a == b;
      return words(std::uint64_t{});
    }
    if (n >= 4) return words(std::uint32_t{});
    return a == b;
  }
  int lookup(std::string_view k) {
    if (next_ < table_.count && same(k, table_.names[next_])) return static_cast<int>(next_++);
    for (std::size_t f = 0; f < table_.count; ++f)
      if (same(k, table_.names[f])) {
        next_ = f + 1;
        return static_cast<int>(f);
      }
    return -1;
  }
  [[nodiscard]] Kind kind() const { return field_ < 0 ? Kind::opt_integer : table_.kinds[field_]; }
  // A scalar at the top level of the object, for a known key's first occurrence.
  [[nodiscard]] bool open() const { return depth_ == 1 && field_ >= 0 && state_[field_] == State::missing; }
  template <class Set>
  bool value(State st, Set&& assign) {
    if (!open()) return true;
    if (st == State::ok) assign(targets_[field_]);
    state_[field_] = st;
    return true;
  }
  bool integer(std::int64_t v) {
    const auto k = kind();
    if (k == Kind::integer) return value(State::ok, [&](Target t) { as<std::int64_t>(t) = v; });
    if (k == Kind::opt_integer) return value(State::ok, [&](Target t) { as<std::optional<std::int64_t>>(t) = v; });
    return value(State::bad, [](Target) {});
  }
  bool nested() {
    if (depth_ == 1) (void)value(State::bad, [](Target) {});  // an object or array where a scalar belongs
    ++depth_;
    return true;
  }
  bool end() {
    --depth_;
    return true;
  }

  const Table& table_ = kTable;
  std::array<Target, kMaxFields> targets_;  // set for the description's fields
  int depth_ = 0;
  int field_ = -1;
  std::size_t next_ = 0;  // the field lookup() tries first
  bool top_object_ = false;
  std::array<State, kMaxFields> state_{};
  std::array<bool, kMaxFields> not_decimal_{};
};
using TradeReader = FlatReader<Trade>;

}  // namespace

// The shape the producers write, tokenized without RapidJSON for the handler above: one flat
// object whose values are strings without escapes or control characters, integers of up to 19
// digits, true, false or null. Returns false at the first thing outside that shape (an escape,
// a nested value, a fraction or exponent, a longer number, anything malformed or trailing); the
// caller then starts again with RapidJSON, so what this accepts decodes exactly as before
// (tests/fuzz/frame_fuzz.cpp checks every input against the DOM decoder).
bool scan_flat_trade(std::string_view json, TradeReader& h) {
  const char* p = json.data();
  const char* const end = p + json.size();
  const auto skip_space = [&] {
    while (p != end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
  };
  const auto quoted = [&](std::string_view& out) {  // at the opening quote
    const char* const first = ++p;
    while (p != end && *p != '"') {
      const auto c = static_cast<unsigned char>(*p);
      if (c < 0x20 || c == '\\') return false;
      ++p;
    }
    if (p == end) return false;
    out = {first, static_cast<std::size_t>(p++ - first)};
    return true;
  };
  const auto literal = [&](std::string_view word) {
    if (static_cast<std::size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) return false;
    p += word.size();
    return true;
  };
  skip_space();
  if (p == end || *p++ != '{') return false;
  h.StartObject();
  skip_space();
  if (p != end && *p == '}') return false;  // {}: RapidJSON's path reports it
  while (true) {
    skip_space();
    std::string_view key, text;
    if (p == end || *p != '"' || !quoted(key)) return false;
    h.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()), true);
    skip_space();
    if (p == end || *p++ != ':') return false;
    skip_space();
    if (p == end) return false;
    if (*p == '"') {
      if (!quoted(text)) return false;
      h.String(text.data(), static_cast<rapidjson::SizeType>(text.size()), true);
    } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
      const bool negative = *p == '-';
      if (negative) ++p;
      const char* const digits = p;
      std::uint64_t v = 0;  // 19 digits cannot overflow 64 bits
      while (p != end && *p >= '0' && *p <= '9' && p - digits < 20) v = v * 10 + static_cast<std::uint64_t>(*p++ - '0');
      const auto n = p - digits;
      if (n == 0 || n > 19 || (n > 1 && *digits == '0')) return false;
      if (p != end && (*p == '.' || *p == 'e' || *p == 'E')) return false;
      constexpr auto kMinMagnitude = static_cast<std::uint64_t>(INT64_MAX) + 1;
      if (negative) {
        if (v > kMinMagnitude) return false;  // a double for RapidJSON
        h.Int64(v == kMinMagnitude ? INT64_MIN : -static_cast<std::int64_t>(v));
      } else {
        h.Uint64(v);  // Uint64 takes what fits int64 as an integer, like RapidJSON's Int/Uint/Int64
      }
    } else if (literal("true")) {
      h.Bool(true);
    } else if (literal("false")) {
      h.Bool(false);
    } else if (literal("null")) {
      h.Null();
    } else {
      return false;
    }
    skip_space();
    if (p == end) return false;
    if (*p == ',') {
      ++p;
      continue;
    }
    if (*p++ != '}') return false;
    break;
  }
  h.EndObject(0);
  skip_space();
  return p == end;
}

Decoded<Trade> decode_trade(std::string_view json) {
  if (json.size() > kMaxMessageBytes)
    return {std::nullopt, "message of " + std::to_string(json.size()) + " bytes exceeds the limit"};
  Trade t{};
  std::optional<TradeReader> handler(std::in_place, t);
  if (!scan_flat_trade(json, *handler)) {  // not the flat shape: RapidJSON from the start
    t = Trade{};
    handler.emplace(t);
    char stack_buf[1024];
    rapidjson::MemoryPoolAllocator<> stack_alloc(stack_buf, sizeof stack_buf);
    rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::MemoryPoolAllocator<>> reader(
        &stack_alloc, 256);
    rapidjson::MemoryStream ms(json.data(), json.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(ms);
    if (reader.Parse<rapidjson::kParseIterativeFlag>(in, *handler).IsError())
      return {std::nullopt, "malformed JSON at offset " + std::to_string(reader.GetErrorOffset())};
  }
  auto error = handler->error();
  if (!error.empty()) return {std::nullopt, std::move(error)};
  return {std::move(t), {}};
}

Decoded<Ticker> decode_ticker(std::string_view json) {
  return decode<Ticker>(json, [](Fields& f, Ticker& m) { fields::describe(m, JsonGet{f}); });
}

Decoded<Candle> decode_candle(std::string_view json) {
  return decode<Candle>(json, [](Fields& f, Candle& m) { fields::describe(m, JsonGet{f}); });
}

Decoded<Indicator> decode_indicator(std::string_view json) {
  return decode<Indicator>(json, [](Fields& f, Indicator& m) { fields::describe(m, JsonGet{f}); });
}

std::string check_trade(const Trade& t) {
  if (t.symbol.empty()) return "field 'symbol': empty";
  if (t.symbol.size() > kMaxSymbolLength)
    return "field 'symbol': longer than " + std::to_string(kMaxSymbolLength) + " characters";
  if (t.source.size() > kMaxSourceLength)
    return "field 'source': longer than " + std::to_string(kMaxSourceLength) + " characters";
  for (char c : t.symbol)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return "field 'symbol': not upper-case letters and digits";
  if (t.source.empty()) return "field 'source': empty";
  if (!(t.price > Decimal())) return "field 'price': not positive";
  if (t.quantity < Decimal()) return "field 'quantity': negative";
  if (t.trade_id < 0) return "field 'trade_id': negative";
  if (t.trade_time <= 0) return "field 'trade_time': not a time";
  if (t.event_time <= 0) return "field 'event_time': not a time";
  if (t.first_trade_id.has_value() != t.last_trade_id.has_value())
    return "fields 'first_trade_id'/'last_trade_id': only one present";
  if (t.first_trade_id && *t.last_trade_id < *t.first_trade_id) return "field 'last_trade_id': below first_trade_id";
  return {};
}

}  // namespace cryptoflow
