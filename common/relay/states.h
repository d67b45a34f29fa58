// The relay's explicit states, per connection and per exchange, with the
// legal transitions written down as tables (docs/DESIGN.md §5.7, after h11's
// _state.py). A frame a connection may not send in its state is a protocol
// error that names the connection; a state change not in the table is a bug
// in the core, reported as a value by the checker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/frame.h"

namespace chunkex {

// What a component of the core found wrong with what a peer sent: the text of
// a protocol error, or nothing. Errors cross the core's parts as values.
using ProtocolFault = std::optional<std::string>;

enum class ConnState : uint8_t {
  kSilent,      // connected, nothing heard yet (the pre-handshake pool)
  kChallenged,  // said HELLO and was sent CHALLENGE; no AUTH yet (the pool)
  kOffered,     // offered a slot that waits for its peer; no ANNOUNCE yet
  kJoined,      // holds a slot before the exchange; no ANNOUNCE yet
  kAnnounced,   // announced its file; waits for the others and ROSTER
  kBack,        // came back to its waiting slot; waits for ROSTER
  kCatchingUp,  // came back: asks again for the rounds it lost
  kExchanging,  // has ROSTER: requests, answers, chunks fetched again
  kDone,        // sent DONE; its last answers may still come (they travel behind it)
  kClosed,      // turned away, failed or left: nothing more is read
};

enum class ExchangeState : uint8_t {
  kJoining,          // slots fill; nothing depends on any peer yet
  kRunning,          // rounds are forwarded and delivered
  kPaused,           // a peer left: rounds wait for it, up to grace_s
  kRestoredWaiting,  // a restarted server waits for every peer, up to grace_s
  kCatchingUp,       // everyone is back; a returning peer fetches what it lost
  kClosing,          // every round is delivered; waits for the last DONEs
  kFinished,         // succeeded or failed; no deadline is left
};

std::string_view conn_state_name(ConnState state);
std::string_view exchange_state_name(ExchangeState state);

// What a connection in `state` may send; ERROR is legal in every state but
// kClosed (it ends the exchange, or frees the slot while joining).
bool frame_allowed(ConnState state, FrameType type);

// The legal changes of state; anything else is a bug in the core.
bool conn_change_allowed(ConnState from, ConnState to);
bool exchange_change_allowed(ExchangeState from, ExchangeState to);

}  // namespace chunkex
