// A run as events and messages (a Lamport diagram's material): every message
// the logs record, from the line its sender wrote to the line its receiver
// wrote, for a window of rounds. Every message goes through the server, so
// each is a peer line paired with a server line:
//
//   ANNOUNCE       peer "FLAG: joined as ..."      -> Server "join X: ..."
//   ROSTER         Server "start exchange: ..."    -> each peer's first "ROSTER: ..."
//   REQUEST_CHUNK  peer "REQUEST_CHUNK ..."        -> Server "REQUEST_CHUNK X asks ..."
//   IDLE           peer "IDLE"                     -> Server "IDLE X"
//   forward        Server "forward REQUEST_CHUNK"  -> target "forwarded REQUEST_CHUNK ..."
//   CHUNK_DATA     target "CHUNK_DATA chunk ..."   -> Server "CHUNK_DATA T -> X ..."
//   SEND_CHUNK     Server "SEND_CHUNK T -> X ..."  -> requester "recv chunk ..."
//   DONE           peer "DONE: ..."                -> Server "DONE X: ..."
//   FINAL          Server "final clocks ..."       -> each peer's "final clocks ..."
//
// (The server logs no line when it sends FLAG, so FLAG has no arrow; the
// peer's FLAG line is where it announces its file.) Lines that are neither
// end of a message are local events.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tools/analysis/run_log.h"

namespace chunkex {

// Rounds to look at: "0-2,last", "5", "100-120". A window holds the events
// before round 0 when it holds round 0, and those after the last round when
// it holds the last.
class RoundWindow {
 public:
  // `rounds_logged`: the run's rounds (the last is rounds_logged - 1).
  static OrError<RoundWindow> parse(std::string_view text, uint64_t rounds_logged);
  static RoundWindow of_rounds(std::vector<std::pair<int64_t, int64_t>> ranges,
                               uint64_t rounds_logged);

  bool holds(int64_t section) const;
  // The sections held, in order (kSetupSection first, kEndSection last).
  std::vector<int64_t> sections() const;
  std::string text() const;  // "0-2,60"

 private:
  std::vector<std::pair<int64_t, int64_t>> ranges_;  // inclusive, in order
  int64_t last_round_ = -1;
};

// "0-2,last" with the last round: the first three rounds and the last.
inline constexpr std::string_view kDefaultRounds = "0-2,last";

struct EventRef {
  uint32_t component = 0;  // index into Run::components
  uint32_t index = 0;      // event index in that log
  bool operator==(const EventRef&) const = default;
};

struct Message {
  std::string_view type;  // "REQUEST_CHUNK", "forward", ...
  EventRef send;
  EventRef receive;
};

struct SpaceTime {
  // Every event of the sections taken, ordered so that each receive comes
  // after its send (and each component's events in log order).
  std::vector<EventRef> events;
  std::vector<Message> messages;
  std::vector<int64_t> sections;  // the sections taken, in order
  bool capped = false;            // sections were left out to stay within the cap
};

// The events and messages of `sections` (in that order), taking whole
// sections while their events fit within `events_max`.
SpaceTime space_time(const Run& run, const std::vector<int64_t>& sections, size_t events_max);

}  // namespace chunkex
