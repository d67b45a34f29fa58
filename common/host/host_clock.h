// The time a host gives its core: the link's time minus the time this
// process was not running. A deadline the link reports much later than it
// was due means the process itself was frozen (SIGSTOP, a suspended machine,
// a swap storm); the frames that came meanwhile still wait in the socket
// buffers. Judged at once, the stall deadline would blame every peer for the
// host's own pause. So the first call after such a gap holds the core's time
// just short of the deadline that was due, and every later time is shifted
// by the gap: the frames are read first, and a peer that really went silent
// is named one deadline later. Host time never reaches the logs (§7.1).
#pragma once

#include <algorithm>

#include "common/time.h"

namespace chunkex {

class HostClock {
 public:
  // A deadline reported this much later than due means the process was frozen.
  static constexpr TimeMs kFrozenAfterMs = 1000;

  // The core's time for a host call at link time `now_ms`.
  TimeMs core_time(TimeMs now_ms) {
    if (due_ms_ != kNoDeadline && now_ms > due_ms_ + kFrozenAfterMs) {
      frozen_ms_ += now_ms - due_ms_ + 1;
      due_ms_ = kNoDeadline;
    }
    return now_ms - frozen_ms_;
  }
  // The link time of a core deadline.
  TimeMs link_time(TimeMs core_deadline_ms) const {
    return core_deadline_ms == kNoDeadline ? kNoDeadline : core_deadline_ms + frozen_ms_;
  }
  // The host's next deadline (link time), as handed to the link.
  void set_due(TimeMs deadline_ms) { due_ms_ = deadline_ms; }
  TimeMs frozen_ms() const { return frozen_ms_; }

 private:
  TimeMs frozen_ms_ = 0;
  TimeMs due_ms_ = kNoDeadline;
};

}  // namespace chunkex
