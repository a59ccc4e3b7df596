#pragma once
// Binance's kline windows, aligned as Binance aligns them, and candles of any of its intervals
// rolled up exactly from finer final candles the store holds.
//
// Alignment (https://developers.binance.com/docs/binance-spot-api-docs/rest-api, klines): a
// window of a fixed length opens at a multiple of its length since the epoch; "1w" opens on
// Monday 00:00, "1M" on the 1st 00:00; with timeZone, these boundaries are local to that offset.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::gateway {

// Binance's timeZone parameter: "0", "8", "-5", "+05:45", "-1:00", within [-12:00, +14:00];
// the offset in ms, or nullopt when malformed or out of range.
std::optional<std::int64_t> parse_time_zone(std::string_view text);

// The multiple of step (> 0) at or before t, for any t: the start of the step-long window from
// the UNIX epoch that holds t.
std::int64_t floor_to(std::int64_t t, std::int64_t step);

// The open of the window of `interval` that holds t; the open of the window after the one
// opening at `open`. interval is one of Binance's (interval_ms() != 0).
std::int64_t window_open(std::int64_t t, std::string_view interval, std::int64_t offset_ms);
std::int64_t window_next(std::int64_t open, std::string_view interval, std::int64_t offset_ms);

// Whether the store holds `interval` (one of `held`) as the windows Binance has at this offset.
bool serves_directly(const std::vector<std::string>& held, std::string_view interval, std::int64_t offset_ms);

// Of the intervals held, the longest whose windows tile `interval`'s exactly at this offset
// (each target window a whole number of them, boundaries shared); empty when none does.
std::string base_interval(const std::vector<std::string>& held, std::string_view interval, std::int64_t offset_ms);

// The windows of `interval` made from base candles (ascending by start): open of the first,
// close of the last, highest high, lowest low of those with trades (a window without trades
// carries the last price: Binance's 5m klines are made so from its 1m klines, checked in
// tests/unit/gateway/rollup_test.cpp), sums of the volumes and trade counts; vwap = quote / base
// volume (the close when nothing traded). A window is made only when its base
// candles run without a gap from its open; the last one may stop short of its end (the window
// still open: not final). final: the window is complete and every base candle in it is final.
// origin: the start of the base series' first candle ever (nothing traded before it): a window
// holding it is made from it on, as Binance makes a new symbol's first week from its listing.
std::vector<Candle> roll_up(const std::vector<Candle>& base, std::string_view interval, std::int64_t offset_ms,
                            std::optional<std::int64_t> origin = std::nullopt);

}  // namespace cryptoflow::gateway
