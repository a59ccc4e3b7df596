#pragma once
// Decodes one Binance WebSocket frame (a raw event or the combined-stream wrapper
// {"stream":..,"data":{..}}) into a normalised Trade: symbol upper case, exact decimals,
// times in milliseconds (microsecond timestamps, as Binance sends with timeUnit=MICROSECOND
// and in its 2025+ data, are converted).
#include <cstdint>
#include <string>
#include <string_view>

#include "cryptoflow/messages/messages.hpp"

namespace cryptoflow::binance {

enum class FrameKind {
  trade,            // a trade or aggTrade event: `trade` is filled
  ignored,          // valid JSON that is not a trade (depth, kline, subscription reply, ...)
  malformed,        // not JSON, not an object, or too large
  invalid,          // a trade event with a missing or ill-typed field
  server_shutdown,  // {"e":"serverShutdown"}: the server will close this connection soon
};

struct DecodedFrame {
  FrameKind kind = FrameKind::malformed;
  Trade trade;
  std::string error;  // for malformed / invalid: what was wrong (names the field)
};

inline constexpr std::size_t kMaxFrameBytes = std::size_t{64} * 1024;

// received_time_ms is stored in the trade as received_time.
DecodedFrame decode_frame(std::string_view frame, std::int64_t received_time_ms);

// Binance times: milliseconds since the epoch, or microseconds (values >= 1e14).
inline std::int64_t to_millis(std::int64_t t) {
  return t >= 100'000'000'000'000 ? t / 1000 : t;
}

}  // namespace cryptoflow::binance
