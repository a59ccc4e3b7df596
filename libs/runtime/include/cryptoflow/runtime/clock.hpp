#pragma once
// Wall-clock time as the services exchange it: integer milliseconds since the Unix epoch (UTC).
#include <cstdint>
#include <string>

namespace cryptoflow {

std::int64_t wall_clock_ms();
// "2019-10-11T00:00:00.000Z"
std::string format_iso8601_ms(std::int64_t ms);

}  // namespace cryptoflow
