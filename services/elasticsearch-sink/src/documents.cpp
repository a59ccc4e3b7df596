#include "documents.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

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

}  // namespace

void append_bulk_index(std::string& out, const std::string& index, const Candle& c) {
  append(out, index, c.symbol + "-" + c.interval + "-" + std::to_string(c.start), [&](Writer& w) {
    time(w, "@timestamp", c.start);
    str(w, "symbol", c.symbol);
    str(w, "interval", c.interval);
    str(w, "source", c.source);
    num(w, "open", c.open);
    num(w, "high", c.high);
    num(w, "low", c.low);
    num(w, "close", c.close);
    num(w, "volume", c.volume);
    num(w, "quote_volume", c.quote_volume);
    num(w, "taker_buy_volume", c.taker_buy_volume);
    num(w, "taker_buy_quote_volume", c.taker_buy_quote_volume);
    num(w, "vwap", c.vwap);
    i64(w, "trades", c.trades);
    w.Key("final");
    w.Bool(c.final);
    time(w, "end", c.end);
  });
}

void append_bulk_index(std::string& out, const std::string& index, const Ticker& t) {
  append(out, index, t.coin + ":" + t.vs_currency + "-" + std::to_string(t.last_updated), [&](Writer& w) {
    time(w, "@timestamp", t.last_updated);
    str(w, "coin", t.coin);
    str(w, "symbol", t.symbol);
    str(w, "name", t.name);
    str(w, "vs_currency", t.vs_currency);
    num(w, "price", t.price);
    num(w, "market_cap", t.market_cap);
    num(w, "volume_24h", t.volume_24h);
    num(w, "change_24h_pct", t.change_24h_pct);
    num(w, "high_24h", t.high_24h);
    num(w, "low_24h", t.low_24h);
    str(w, "source", t.source);
  });
}

void append_bulk_index(std::string& out, const std::string& index, const Indicator& m) {
  append(out, index, m.symbol + "-" + m.window + "-" + std::to_string(m.end), [&](Writer& w) {
    time(w, "@timestamp", m.end);
    str(w, "symbol", m.symbol);
    str(w, "kind", m.kind);
    str(w, "window", m.window);
    num(w, "value", m.value);
    i64(w, "trades", m.trades);
  });
}

std::string encode_record(const TopicNames& t, const std::string& prefix, const std::string& topic,
                          std::string_view value, std::string& ndjson) {
  auto encode = [&](auto decoded, const char* suffix) -> std::string {
    if (!decoded) return decoded.error;
    append_bulk_index(ndjson, prefix + suffix, *decoded.value);
    return {};
  };
  if (topic == t.candles) return encode(decode_candle(value), "-candles");
  if (topic == t.tickers) return encode(decode_ticker(value), "-tickers");
  if (topic == t.indicators) return encode(decode_indicator(value), "-indicators");
  return "no Elasticsearch index for topic " + topic;
}

std::vector<IndexTemplate> index_templates(const std::string& prefix) {
  auto make = [&](const std::string& suffix, const std::string& properties) {
    return IndexTemplate{prefix + suffix, R"({"index_patterns":[")" + prefix + suffix +
                                              R"("],"priority":200,"template":{"settings":{"number_of_shards":1},)"
                                              R"("mappings":{"properties":{"@timestamp":{"type":"date"},)" +
                                              properties + "}}}}"};
  };
  const std::string kw = R"({"type":"keyword"})", dbl = R"({"type":"double"})";
  return {
      make("-candles", R"("symbol":)" + kw + R"(,"interval":)" + kw + R"(,"source":)" + kw + R"(,"open":)" + dbl +
                           R"(,"high":)" + dbl + R"(,"low":)" + dbl + R"(,"close":)" + dbl + R"(,"volume":)" + dbl +
                           R"(,"quote_volume":)" + dbl + R"(,"taker_buy_volume":)" + dbl +
                           R"(,"taker_buy_quote_volume":)" + dbl + R"(,"vwap":)" + dbl +
                           R"(,"trades":{"type":"long"},"final":{"type":"boolean"},"end":{"type":"date"})"),
      make("-tickers", R"("coin":)" + kw + R"(,"symbol":)" + kw + R"(,"name":)" + kw + R"(,"vs_currency":)" + kw +
                           R"(,"source":)" + kw + R"(,"price":)" + dbl + R"(,"market_cap":)" + dbl +
                           R"(,"volume_24h":)" + dbl + R"(,"change_24h_pct":)" + dbl + R"(,"high_24h":)" + dbl +
                           R"(,"low_24h":)" + dbl),
      make("-indicators", R"("symbol":)" + kw + R"(,"kind":)" + kw + R"(,"window":)" + kw + R"(,"value":)" + dbl +
                              R"(,"trades":{"type":"long"})"),
  };
}

}  // namespace cryptoflow::elastic
