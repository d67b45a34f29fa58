#include "common/relay/states.h"

#include <algorithm>
#include <array>
#include <utility>

namespace chunkex {
namespace {

using enum ConnState;
using F = FrameType;

struct LegalFrame {
  ConnState state;
  FrameType type;
};

// Which frame each connection state accepts (ERROR aside). What a frame then
// changes is in kConnChanges; its content is checked by its handler.
constexpr std::array kLegalFrames{
    LegalFrame{kSilent, F::kHello},
    LegalFrame{kChallenged, F::kAuth},
    LegalFrame{kOffered, F::kAnnounce},
    LegalFrame{kJoined, F::kAnnounce},
    LegalFrame{kCatchingUp, F::kRequestChunk},
    LegalFrame{kCatchingUp, F::kIdle},
    LegalFrame{kCatchingUp, F::kChunkData},
    LegalFrame{kCatchingUp, F::kRefetchData},
    LegalFrame{kExchanging, F::kRequestChunk},
    LegalFrame{kExchanging, F::kIdle},
    LegalFrame{kExchanging, F::kChunkData},
    LegalFrame{kExchanging, F::kRefetchData},
    LegalFrame{kExchanging, F::kDone},
    // Control frames overtake queued chunk frames (docs/DESIGN.md §5.8), so
    // a peer's last answers may arrive after its DONE.
    LegalFrame{kDone, F::kChunkData},
    LegalFrame{kDone, F::kRefetchData},
};

// Every state may also become kClosed.
constexpr std::array kConnChanges{
    std::pair{kSilent, kChallenged},      // HELLO with a token: CHALLENGE
    std::pair{kSilent, kJoined},          // HELLO: FLAG with a free slot
    std::pair{kSilent, kOffered},         // HELLO mid-exchange: FLAG offering a waiting slot
    std::pair{kChallenged, kJoined},      // AUTH verified: FLAG
    std::pair{kChallenged, kOffered},     // AUTH verified mid-exchange
    std::pair{kOffered, kBack},           // ANNOUNCE of the slot's own file
    std::pair{kJoined, kAnnounced},       // ANNOUNCE
    std::pair{kAnnounced, kExchanging},   // ROSTER
    std::pair{kBack, kCatchingUp},        // ROSTER with rounds it lost
    std::pair{kBack, kExchanging},        // ROSTER, nothing lost
    std::pair{kCatchingUp, kExchanging},  // every lost chunk fetched again
    std::pair{kExchanging, kDone},        // DONE
};

using X = ExchangeState;
constexpr std::array kExchangeChanges{
    std::pair{X::kJoining, X::kRunning},         std::pair{X::kJoining, X::kRestoredWaiting},
    std::pair{X::kRestoredWaiting, X::kRunning}, std::pair{X::kRestoredWaiting, X::kCatchingUp},
    std::pair{X::kRestoredWaiting, X::kClosing}, std::pair{X::kRunning, X::kPaused},
    std::pair{X::kRunning, X::kClosing},         std::pair{X::kPaused, X::kRunning},
    std::pair{X::kPaused, X::kCatchingUp},       std::pair{X::kPaused, X::kClosing},
    std::pair{X::kCatchingUp, X::kRunning},      std::pair{X::kCatchingUp, X::kClosing},
    std::pair{X::kCatchingUp, X::kPaused},       std::pair{X::kClosing, X::kPaused},
};

template <typename Table, typename State>
bool listed(const Table& table, State from, State to) {
  return std::find(table.begin(), table.end(), std::pair{from, to}) != table.end();
}

}  // namespace

std::string_view conn_state_name(ConnState state) {
  switch (state) {
    case kSilent:
      return "connected, silent";
    case kChallenged:
      return "challenged";
    case kOffered:
      return "offered a waiting slot";
    case kJoined:
      return "joined";
    case kAnnounced:
      return "announced";
    case kBack:
      return "back, waiting for ROSTER";
    case kCatchingUp:
      return "catching up";
    case kExchanging:
      return "exchanging";
    case kDone:
      return "done";
    case kClosed:
      return "closed";
  }
  return "?";
}

std::string_view exchange_state_name(ExchangeState state) {
  switch (state) {
    case X::kJoining:
      return "joining";
    case X::kRunning:
      return "running";
    case X::kPaused:
      return "paused";
    case X::kRestoredWaiting:
      return "restored, waiting";
    case X::kCatchingUp:
      return "catching up";
    case X::kClosing:
      return "closing";
    case X::kFinished:
      return "finished";
  }
  return "?";
}

bool frame_allowed(ConnState state, FrameType type) {
  if (state == kClosed) return false;
  if (type == F::kError) return true;
  return std::any_of(kLegalFrames.begin(), kLegalFrames.end(), [&](const LegalFrame& legal) {
    return legal.state == state && legal.type == type;
  });
}

bool conn_change_allowed(ConnState from, ConnState to) {
  return (to == kClosed && from != kClosed) || listed(kConnChanges, from, to);
}

bool exchange_change_allowed(ExchangeState from, ExchangeState to) {
  return (to == X::kFinished && from != X::kFinished) || listed(kExchangeChanges, from, to);
}

}  // namespace chunkex
