#pragma once
// InfluxDB line protocol for cryptoflow's messages, per docs/contract.md's InfluxDB schema (the
// messages' points follow their descriptions, cryptoflow/messages/fields.hpp):
//   candle         tags symbol, interval, source; fields open..vwap (float), trades (integer),
//                  final (boolean); time = window start (ms)
//   moving_average tags symbol, window; fields value (float), trades (integer); time = end
//   ticker         tags coin, symbol, vs_currency; fields name (string), price, market_cap,
//                  volume_24h, change_24h_pct, high_24h, low_24h (float); time = last_updated
//   book           tags symbol, source; fields bid, bid_qty, ask, ask_qty, spread (float; a side
//                  or the spread left out when a side is empty), update_id (integer); time = the
//                  second of the book's update (ms, a whole second)
// Decimal fields are written with their exact digits; InfluxDB stores them as float64.
#include <string>
#include <string_view>

#include "cryptoflow/messages/book.hpp"
#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::influx {

// Appends one line (with trailing '\n') to out.
void append_line(std::string& out, const Candle& c);
void append_line(std::string& out, const Indicator& m);
void append_line(std::string& out, const Ticker& t);

// A book's best levels at one moment (the book measurement).
struct TopOfBook {
  std::string source, symbol;
  std::int64_t update_id = 0;
  std::int64_t time_ms = 0;
  std::optional<PriceLevel> bid, ask;
};
void append_line(std::string& out, const TopOfBook& b);

// Escaping rules of the line protocol.
void append_measurement(std::string& out, std::string_view s);   // escapes , and space
void append_tag(std::string& out, std::string_view s);           // escapes , = and space
void append_string_field(std::string& out, std::string_view s);  // quoted; escapes " and backslash

}  // namespace cryptoflow::influx
