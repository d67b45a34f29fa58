// HostClock: time the process was frozen does not count against the peers.
#include <doctest/doctest.h>

#include "common/host/host_clock.h"

namespace chunkex {

TEST_CASE("server frozen past a deadline: the core's time stops short of it, later ones shift") {
  HostClock clock;
  CHECK(clock.core_time(1000) == 1000);
  clock.set_due(4000);                   // the stall deadline
  CHECK(clock.core_time(4000) == 4000);  // on time: judged as usual
  clock.set_due(7000);
  CHECK(clock.core_time(7900) == 7900);  // late within kFrozenAfterMs: as usual
  clock.set_due(10'000);
  // Woken 5 s after the deadline: held 1 ms short of it, frames read first.
  CHECK(clock.core_time(15'000) == 9999);
  CHECK(clock.core_time(15'010) == 10'009);
  CHECK(clock.link_time(13'000) == 18'001);
  CHECK(clock.link_time(kNoDeadline) == kNoDeadline);
}

TEST_CASE("no deadline pending: a gap is not taken for a freeze") {
  HostClock clock;
  clock.set_due(kNoDeadline);
  CHECK(clock.core_time(100'000) == 100'000);
  CHECK(clock.frozen_ms() == 0);
}

}  // namespace chunkex
