#pragma once
// Each message's fields, described once, in the order of its JSON: name, member, and where the
// field goes besides the topic's JSON (which holds every field). The JSON codec (codec.cpp: the
// writer, the DOM decoders and the trade's one-pass SAX reader), InfluxDB's line protocol
// (influxdb-sink) and the Elasticsearch documents and index templates (elasticsearch-sink) all
// walk these descriptions, so a field added here reaches every store that takes it, in the same
// name.
//
//   describe(message, visitor): visitor(name, member, uses) for each field, in order; message may
//   be const (to write it) or not (to read it). Members are std::string, Decimal,
//   std::optional<Decimal>, std::int64_t, std::optional<std::int64_t> or bool.
#include <concepts>
#include <type_traits>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::fields {

// Where a field goes besides the JSON.
enum Use : unsigned {
  json_only = 0,
  influx_tag = 1U << 0,    // a tag of the InfluxDB point (written sorted by name; an empty one left out)
  influx_field = 1U << 1,  // a field of the point (an absent optional left out)
  influx_time = 1U << 2,   // the point's time
  es_keyword = 1U << 3,    // a keyword of the Elasticsearch document
  es_value = 1U << 4,      // a number or boolean of the document (an absent optional: null)
  es_timestamp = 1U << 5,  // the document's @timestamp
  es_date = 1U << 6,       // a date of the document (ISO 8601)
  added_later = 1U << 7,   // records written before it existed lack it: absent decodes as the default
};
inline constexpr unsigned kTag = influx_tag | es_keyword;
inline constexpr unsigned kValue = influx_field | es_value;
inline constexpr unsigned kTime = influx_time | es_timestamp;

// The InfluxDB measurement and the Elasticsearch index (after the prefix) of a message.
template <class M>
struct Store;
template <>
struct Store<Candle> {
  static constexpr const char* measurement = "candle";
  static constexpr const char* index = "-candles";
};
template <>
struct Store<Ticker> {
  static constexpr const char* measurement = "ticker";
  static constexpr const char* index = "-tickers";
};
template <>
struct Store<Indicator> {
  static constexpr const char* measurement = "moving_average";
  static constexpr const char* index = "-indicators";
};

template <class C, class M>
concept MessageOf = std::same_as<std::remove_const_t<C>, M>;

template <MessageOf<Trade> C, class V>
void describe(C& m, V&& v) {
  v("source", m.source, json_only);
  v("symbol", m.symbol, json_only);
  v("trade_id", m.trade_id, json_only);
  v("price", m.price, json_only);
  v("quantity", m.quantity, json_only);
  v("buyer_is_maker", m.buyer_is_maker, json_only);
  v("event_time", m.event_time, json_only);
  v("trade_time", m.trade_time, json_only);
  v("received_time", m.received_time, json_only);
  v("first_trade_id", m.first_trade_id, json_only);  // aggTrade only: absent otherwise
  v("last_trade_id", m.last_trade_id, json_only);
}

template <MessageOf<Ticker> C, class V>
void describe(C& m, V&& v) {
  v("source", m.source, es_keyword);
  v("coin", m.coin, kTag);
  v("symbol", m.symbol, kTag);
  v("name", m.name, influx_field | es_keyword);
  v("vs_currency", m.vs_currency, kTag);
  v("price", m.price, kValue);
  v("market_cap", m.market_cap, kValue);
  v("volume_24h", m.volume_24h, kValue);
  v("change_24h_pct", m.change_24h_pct, kValue);
  v("high_24h", m.high_24h, kValue);  // absent in older records, or null: none
  v("low_24h", m.low_24h, kValue);
  v("last_updated", m.last_updated, kTime);
  v("received_time", m.received_time, json_only);
}

template <MessageOf<Candle> C, class V>
void describe(C& m, V&& v) {
  v("source", m.source, kTag);
  v("symbol", m.symbol, kTag);
  v("interval", m.interval, kTag);
  v("start", m.start, kTime);
  v("end", m.end, es_date);
  v("open", m.open, kValue);
  v("high", m.high, kValue);
  v("low", m.low, kValue);
  v("close", m.close, kValue);
  v("volume", m.volume, kValue);
  v("quote_volume", m.quote_volume, kValue);
  v("taker_buy_volume", m.taker_buy_volume, kValue);
  v("taker_buy_quote_volume", m.taker_buy_quote_volume, kValue | added_later);
  v("vwap", m.vwap, kValue);
  v("trades", m.trades, kValue);
  v("final", m.final, kValue);
}

template <MessageOf<Indicator> C, class V>
void describe(C& m, V&& v) {
  v("symbol", m.symbol, kTag);
  v("kind", m.kind, es_keyword);  // the measurement names it (moving_average)
  v("window", m.window, kTag);
  v("end", m.end, kTime);
  v("value", m.value, kValue);
  v("trades", m.trades, kValue);
}

}  // namespace cryptoflow::fields
