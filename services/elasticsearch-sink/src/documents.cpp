#include "documents.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "cryptoflow/messages/fields.hpp"
#include "cryptoflow/runtime/clock.hpp"

namespace cryptoflow::elastic {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(Writer& w, const char* k) {
  w.Key(k);
}
void str(Writer& w, const char* k, std::string_view v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
}
void num(Writer& w, const char* k, const Decimal& d) {
  char buf[64];
  const auto n = d.write(buf);
  w.Key(k);
  w.RawValue(buf, n, rapidjson::kNumberType);  // exact digits
}
void num(Writer& w, const char* k, const std::optional<Decimal>& d) {
  if (d) {
    num(w, k, *d);
  } else {
    key(w, k);
    w.Null();
  }
}
void i64(Writer& w, const char* k, std::int64_t v) {
  w.Key(k);
  w.Int64(v);
}
void time(Writer& w, const char* k, std::int64_t ms) {
  str(w, k, format_iso8601_ms(ms));
}

template <class Body>
void append(std::string& out, const std::string& index, const std::string& id, Body&& body) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  key(w, "index");
  w.StartObject();
  str(w, "_index", index);
  str(w, "_id", id);
  w.EndObject();
  w.EndObject();
  out.append(sb.GetString(), sb.GetSize());
  out += '\n';
  sb.Clear();
  Writer d(sb);
  d.StartObject();
  body(d);
  d.EndObject();
  out.append(sb.GetString(), sb.GetSize());
  out += '\n';
}

// A message's document, from its description (fields.hpp): @timestamp, then its keywords,
// values and dates in order.
template <class M>
void append_document(std::string& out, const std::string& index, const std::string& id, const M& m) {
  append(out, index, id, [&](Writer& w) {
    fields::describe(m, [&](const char*, const auto& v, unsigned use) {
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, std::int64_t>)
        if ((use & fields::es_timestamp) != 0U) time(w, "@timestamp", v);
    });
    fields::describe(m, [&](const char* name, const auto& v, unsigned use) {
      using T = std::decay_t<decltype(v)>;
      if constexpr (std::is_same_v<T, std::string>) {
        if ((use & fields::es_keyword) != 0U) str(w, name, v);
      } else if constexpr (std::is_same_v<T, std::int64_t>) {
        if ((use & fields::es_date) != 0U) time(w, name, v);
        if ((use & fields::es_value) != 0U) i64(w, name, v);
      } else if constexpr (std::is_same_v<T, bool>) {
        if ((use & fields::es_value) != 0U) {
          w.Key(name);
          w.Bool(v);
        }
      } else {
        if ((use & fields::es_value) != 0U) num(w, name, v);
      }
    });
  });
}

// A message's index mappings, from the same description: keyword, double, long, boolean, date.
template <class M>
std::string mappings() {
  std::string out;
  const M m{};
  fields::describe(m, [&](const char* name, const auto& v, unsigned use) {
    using T = std::decay_t<decltype(v)>;
    const char* type = nullptr;
    if ((use & fields::es_keyword) != 0U) type = "keyword";
    if ((use & fields::es_date) != 0U) type = "date";
    if ((use & fields::es_value) != 0U)
      type = std::is_same_v<T, bool> ? "boolean" : std::is_same_v<T, std::int64_t> ? "long" : "double";
    if (type) out += std::string(out.empty() ? "" : ",") + "\"" + name + R"(":{"type":")" + type + "\"}";
  });
  return out;
}

}  // namespace

void append_bulk_index(std::string& out, const std::string& index, const Candle& c) {
  append_document(out, index, c.symbol + "-" + c.interval + "-" + std::to_string(c.start), c);
}

void append_bulk_index(std::string& out, const std::string& index, const Ticker& t) {
  append_document(out, index, t.coin + ":" + t.vs_currency + "-" + std::to_string(t.last_updated), t);
}

void append_bulk_index(std::string& out, const std::string& index, const Indicator& m) {
  append_document(out, index, m.symbol + "-" + m.window + "-" + std::to_string(m.end), m);
}

std::string encode_record(const TopicNames& t, const std::string& prefix, const std::string& topic,
                          std::string_view value, std::string& ndjson) {
  auto encode = [&](auto decoded, const char* suffix) -> std::string {
    if (!decoded) return decoded.error;
    append_bulk_index(ndjson, prefix + suffix, *decoded.value);
    return {};
  };
  if (topic == t.candles) return encode(decode_candle(value), fields::Store<Candle>::index);
  if (topic == t.tickers) return encode(decode_ticker(value), fields::Store<Ticker>::index);
  if (topic == t.indicators) return encode(decode_indicator(value), fields::Store<Indicator>::index);
  return "no Elasticsearch index for topic " + topic;
}

std::vector<IndexTemplate> index_templates(const std::string& prefix) {
  auto make = [&](const char* suffix, const std::string& properties) {
    return IndexTemplate{prefix + suffix, R"({"index_patterns":[")" + prefix + suffix +
                                              R"("],"priority":200,"template":{"settings":{"number_of_shards":1},)"
                                              R"("mappings":{"properties":{"@timestamp":{"type":"date"},)" +
                                              properties + "}}}}"};
  };
  return {
      make(fields::Store<Candle>::index, mappings<Candle>()),
      make(fields::Store<Ticker>::index, mappings<Ticker>()),
      make(fields::Store<Indicator>::index, mappings<Indicator>()),
  };
}

}  // namespace cryptoflow::elastic
