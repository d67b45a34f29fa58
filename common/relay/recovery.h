// Recovery (docs/DESIGN.md §6.3, §6.4): a peer that comes back asks again,
// in order, for the rounds the others finished while it was away; each
// chunk it asks for is fetched again from its owner (REFETCH) and relayed
// to it outside the rounds. This part keeps the catch-up of each returning
// peer and the fetches owed by each owner, in the order the owner answers
// them. Every queue is bounded: a catching-up peer may have at most
// kMaxWindowRounds chunks fetched for it and not yet relayed (its window
// bounds an honest peer's requests to fewer), so the owners' queues hold at
// most that many fetches per returning peer. No I/O.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "common/chunking.h"
#include "common/exchange_model.h"
#include "common/messages.h"
#include "common/relay/states.h"

namespace chunkex {

// A chunk fetched again, ready for its requester: the SEND_CHUNK to send.
struct RefetchedChunk {
  PeerIndex requester = 0;
  Frame send_chunk;
};

class Recovery {
 public:
  Recovery(size_t peer_count, std::vector<FileLayout> layouts);

  // `peer` is back and had completed `resume_round` of `end_round` rounds.
  void begin_catch_up(PeerIndex peer, const ExchangeModel& fresh_model, uint64_t resume_round,
                      uint64_t end_round);
  bool catching_up(PeerIndex peer) const { return catch_ups_[peer].has_value(); }
  bool any_catching_up() const;
  // The catch-up covers requests for rounds before its end.
  bool covers(PeerIndex peer, uint64_t round) const;

  // A catch-up request: exactly what the schedule says, in order. A chunk
  // asked for becomes a fetch owed by its owner.
  ProtocolFault on_catch_up_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent,
                                    ClockUs clock_us);
  // REFETCH_DATA from `owner`: the oldest fetch sent to it, the exact length.
  // Returns the chunk to relay, or nothing when its requester left again.
  ProtocolFault on_refetch_data(PeerIndex owner, Frame frame, std::optional<RefetchedChunk>& relay);
  // Ends the catch-ups that are complete; returns their peers.
  std::vector<PeerIndex> finish_catch_ups();

  // Fetches of `owner` not sent yet, as REFETCH frames; they count as sent.
  std::vector<Frame> take_unsent_refetches(PeerIndex owner);

  // A peer left: its catch-up ends, fetches for it are dropped (or their
  // answers ignored once sent), and fetches asked of it are asked again.
  void forget(PeerIndex peer);

  // For the stall check: an owner owes a fetched chunk; a catching-up peer
  // owes requests (nothing is owed to it).
  bool owes_chunks(PeerIndex owner) const;
  bool owes_requests(PeerIndex peer) const;

  uint64_t chunks_refetched() const { return chunks_refetched_; }
  uint64_t refetched_bytes() const { return refetched_bytes_; }

 private:
  struct CatchUp {
    ExchangeModel model;        // at the next round the peer will ask about
    uint64_t end_round = 0;     // rounds delivered when it came back
    uint64_t fetches_owed = 0;  // chunks fetched again not yet relayed
    bool done() const { return model.next_round() >= end_round && fetches_owed == 0; }
  };
  // A chunk asked again of its owner for a peer catching up.
  struct Fetch {
    ChunkHeader header;  // round, requester, chunk, clock of its SEND_CHUNK
    bool sent = false;
    bool stale = false;  // the requester left again: drop the answer
  };

  std::vector<FileLayout> layouts_;                // by peer
  std::vector<std::optional<CatchUp>> catch_ups_;  // by peer
  std::vector<std::deque<Fetch>> fetches_;         // by owner, in sending order
  uint64_t chunks_refetched_ = 0;
  uint64_t refetched_bytes_ = 0;
};

}  // namespace chunkex
