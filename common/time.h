// Time as the hosts see it: milliseconds on a monotonic clock whose origin the
// host chooses (steady_clock in a live run, 0 at the start of a simulation).
// The protocol cores never read a clock: a host tells them the time
// (on_time(now_ms)) and asks them for their next deadline, after quinn-proto's
// poll_timeout()/handle_timeout(now). See docs/DESIGN.md §7.
//
// This is not the simulated clock of the exchange (clock.h): that one counts
// simulated processing time and is the same in every run; this one decides
// only when a deadline (handshake, stall, grace, idle, reconnect) has passed.
#pragma once

#include <cstdint>
#include <limits>

namespace chunkex {

using TimeMs = int64_t;

// next_deadline_ms() of a core or host with nothing to wait for.
inline constexpr TimeMs kNoDeadline = std::numeric_limits<TimeMs>::max();

inline constexpr TimeMs seconds_to_ms(uint32_t seconds) {
  return static_cast<TimeMs>(seconds) * 1000;
}

}  // namespace chunkex
