#pragma once
// The domain messages that travel on cryptoflow's Kafka topics, and their JSON codecs.
// Field names are fixed by docs/contract.md; the JSON Schemas in proto/ describe the same shapes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cryptoflow/messages/decimal.hpp"

namespace cryptoflow {

// crypto.trades, key = symbol.
struct Trade {
  std::string source;         // "binance"
  std::string symbol;         // upper case: "BTCUSDT"
  std::int64_t trade_id = 0;  // trade id, or aggregate trade id for aggTrade
  Decimal price;
  Decimal quantity;
  bool buyer_is_maker = false;
  std::int64_t event_time = 0;                 // ms since epoch (exchange's event time)
  std::int64_t trade_time = 0;                 // ms since epoch (the time that places the trade in a window)
  std::int64_t received_time = 0;              // ms since epoch (when cryptoflow received it)
  std::optional<std::int64_t> first_trade_id;  // aggTrade only
  std::optional<std::int64_t> last_trade_id;   // aggTrade only

  // How many exchange trades this message stands for (aggTrade: last - first + 1).
  [[nodiscard]] std::int64_t trade_count() const {
    return first_trade_id && last_trade_id ? *last_trade_id - *first_trade_id + 1 : 1;
  }
  friend bool operator==(const Trade&, const Trade&) = default;
};

// crypto.tickers, key = "<coin>:<vs_currency>".
struct Ticker {
  std::string source;  // "coingecko"
  std::string coin;    // CoinGecko id: "bitcoin"
  std::string symbol;  // "btc"
  std::string name;    // "Bitcoin"
  std::string vs_currency;
  std::optional<Decimal> price;
  std::optional<Decimal> market_cap;
  std::optional<Decimal> volume_24h;
  std::optional<Decimal> change_24h_pct;
  std::int64_t last_updated = 0;  // ms
  std::int64_t received_time = 0;
  std::optional<Decimal> high_24h;  // CoinGecko's 24-hour range; absent in older records
  std::optional<Decimal> low_24h;
  friend bool operator==(const Ticker&, const Ticker&) = default;
};

// crypto.candles, key = "<symbol>:<interval>".
struct Candle {
  std::string source;  // source of the trades: "binance"
  std::string symbol;
  std::string interval;    // "1m", "5m", "1h", "1d"
  std::int64_t start = 0;  // window start, ms, inclusive
  std::int64_t end = 0;    // window end, ms, exclusive (start + interval)
  Decimal open, high, low, close;
  Decimal volume;                  // base asset volume
  Decimal quote_volume;            // sum of price * quantity
  Decimal taker_buy_volume;        // base volume of trades whose buyer was the taker
  Decimal taker_buy_quote_volume;  // their price * quantity (0 in records written before it existed)
  Decimal vwap;                    // quote_volume / volume (close when volume is zero)
  std::int64_t trades = 0;         // exchange trades in the window
  bool final = false;              // true exactly once, when the watermark closes the window
  friend bool operator==(const Candle&, const Candle&) = default;
};

// crypto.indicators, key = symbol.
struct Indicator {
  std::string symbol;
  std::string kind;    // "sma"
  std::string window;  // "30s"
  std::int64_t end = 0;
  Decimal value;
  std::int64_t trades = 0;
  friend bool operator==(const Indicator&, const Indicator&) = default;
};

// Outcome of decoding: a value, or an error that names the offending field.
template <class T>
struct Decoded {
  std::optional<T> value;
  std::string error;
  explicit operator bool() const { return value.has_value(); }
};

std::string to_json(const Trade& m);
std::string to_json(const Ticker& m);
std::string to_json(const Candle& m);
std::string to_json(const Indicator& m);
// The same bytes appended to out: a caller that reuses one string allocates nothing per message.
void append_json(std::string& out, const Trade& m);
void append_json(std::string& out, const Ticker& m);
void append_json(std::string& out, const Candle& m);
void append_json(std::string& out, const Indicator& m);

// Unknown fields are ignored; a missing or ill-typed field is an error naming it.
// decode_trade reads the message in one pass (RapidJSON SAX: no document is built); it is the
// hot path of the stream-processor.
Decoded<Trade> decode_trade(std::string_view json);
Decoded<Ticker> decode_ticker(std::string_view json);
Decoded<Candle> decode_candle(std::string_view json);
Decoded<Indicator> decode_indicator(std::string_view json);

// Checks beyond types that the schema states: symbol 1-30 upper-case letters and digits, source
// 1-32 characters, price > 0, quantity >= 0, times > 0, aggTrade ids ordered. Empty when valid.
inline constexpr std::size_t kMaxSymbolLength = 30;  // Binance's longest is 20
inline constexpr std::size_t kMaxSourceLength = 32;
std::string check_trade(const Trade& t);

// Kafka keys of the contract.
inline std::string candle_key(const Candle& c) {
  return c.symbol + ":" + c.interval;
}
inline std::string ticker_key(const Ticker& t) {
  return t.coin + ":" + t.vs_currency;
}

// Largest message the decoders accept; anything bigger is rejected unread.
inline constexpr std::size_t kMaxMessageBytes = 1 << 20;

namespace detail {
// decode_trade through a RapidJSON document, like the other decoders: the reference that the
// fuzz test holds decode_trade to (same value, same error, for every input).
Decoded<Trade> decode_trade_dom(std::string_view json);
}  // namespace detail

}  // namespace cryptoflow
