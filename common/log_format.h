// The event log's line format (docs/DESIGN.md §4), written down once: how a line
// is put together (format_log_line, which RelayCore and PeerCore call for
// every line they log) and how each kind of line the server and the peers
// write reads back into a LogEvent. The tools that compare and draw runs read
// logs only through parse_log_line. Pure functions over strings; no I/O.
//
// A line is `<clock ms> [<component>] <event>`: the component is "Server", a
// peer's letter, or "?" (a peer that fails before it learns its ID). The
// event texts of every kind are listed as templates in log_format.cpp; the
// lines of a round end in "(round N)".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/peer_id.h"

namespace chunkex {

// "16.8 [A] recv chunk 0 of B (round 0)".
std::string format_log_line(ClockUs clock_us, std::string_view component, std::string_view event);

inline constexpr std::string_view kServerComponent = "Server";

enum class LogEventKind : uint8_t {
  kOther,  // a well-formed line whose event is none of the kinds below
  // Before the first round.
  kJoin,    // Server: a peer's announced file
  kStart,   // Server: the exchange starts
  kFlag,    // peer: its ID and own file
  kRoster,  // peer: another peer's file
  // The lines of a round; each is written by both ends of one message.
  kRequest,       // REQUEST_CHUNK: sent by the requester, received by the server
  kIdle,          // IDLE: sent by the requester, received by the server
  kAllIdle,       // every request of the round was IDLE: the exchange is complete
  kSync,          // Server: every clock set to the maximum
  kForward,       // forwarded REQUEST_CHUNK: sent by the server, received by the target
  kChunkData,     // CHUNK_DATA: sent by the target, received by the server
  kSendChunk,     // SEND_CHUNK: sent by the server, received ("recv chunk") by the requester
  kFileComplete,  // peer: a received file verified
  // The end of the exchange.
  kDone,          // DONE: sent by a peer, received by the server
  kFinalClocks,   // FINAL: the server's clocks as every peer receives them
  kRejected,      // Server: a connection turned away (listed at the end)
  kRejectedMore,  // Server: how many more were turned away than are listed
  kError,
  kAbandoned,  // Server: the exchange ended on an error
  // A peer or the server going away and coming back.
  kDisconnected,
  kReconnected,
  kResumed,
  kServerRestarted,
  kPeerResumed,
};
inline constexpr int kLogEventKindCount = static_cast<int>(LogEventKind::kPeerResumed) + 1;

// "request", "send_chunk", ...: a stable name for JSON and pictures.
std::string_view log_event_kind_name(LogEventKind kind);

inline constexpr int64_t kNoRound = -1;
inline constexpr PeerIndex kNoPeer = 0xff;

// One parsed line. The string_views point into the parsed line, which must
// outlive the event. Which fields a kind fills is listed with its template in
// log_format.cpp; on a peer's round lines the peer itself is filled in, so
// `peer` is always the requester and `target` the peer asked.
struct LogEvent {
  ClockUs clock_us = 0;
  std::string_view component;
  std::string_view text;  // the event: everything after "] "
  LogEventKind kind = LogEventKind::kOther;
  int64_t round = kNoRound;
  PeerIndex peer = kNoPeer;
  PeerIndex target = kNoPeer;
  uint32_t chunk = 0;
  ClockUs value_us = 0;               // the clock a sync sets
  std::array<uint64_t, 3> numbers{};  // counts: bytes, chunks, rounds, files, ...
  std::string_view detail;            // free text: a sha256, an error's reason, final clocks

  bool from_server() const { return component == kServerComponent; }
};

// Reads one line (without its newline). nullopt: not a line of a chunkex log.
// An unknown event on a well-formed line is kind kOther.
std::optional<LogEvent> parse_log_line(std::string_view line);

// The event text written again from the fields of `event`: the inverse of
// parse_log_line (kOther gives its text back unchanged).
std::string format_log_event(const LogEvent& event);

// "16.8" -> 16800: the clock format of format_clock_ms, read back exactly.
std::optional<ClockUs> parse_clock_ms(std::string_view text);

// "A=16.8 B=17.8 ..." (format_clocks) -> the clocks by peer, in order.
std::optional<std::vector<ClockUs>> parse_clocks(std::string_view text);

}  // namespace chunkex
