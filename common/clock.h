// Simulated clocks are integer microseconds. They become milliseconds text
// only here, at the edge, so that logs never depend on floating point.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chunkex {

using ClockUs = int64_t;

// Processing cost of one peer: `chunk_us` for CHUNK_DATA / SEND_CHUNK,
// `other_us` for every other message.
struct PeerCosts {
  ClockUs chunk_us = 0;
  ClockUs other_us = 0;
  bool operator==(const PeerCosts&) const = default;
};

// 16800 -> "16.8", 0 -> "0.0", 650 -> "0.65": milliseconds, trailing zeros
// trimmed, at least one decimal.
std::string format_clock_ms(ClockUs clock_us);

// "A=16.8 B=17.8 ..." for a full set of clocks.
std::string format_clocks(const std::vector<ClockUs>& clocks_us);

}  // namespace chunkex
