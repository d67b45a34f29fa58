// The whole exchange as a deterministic model: which peer asks whom for which
// chunk in every round, and every clock value of docs/DESIGN.md §3. It does no
// I/O. The relay core steps it to check and forward requests; every peer core
// steps its own copy to choose its requests and to know the clocks it will be
// sent, so server and peers can never disagree silently (the clocks carried in
// frames are checked against it).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/clock.h"
#include "common/peer_id.h"

namespace chunkex {

// Rounds are opened (a peer's requests) and forwarded (the relay) in batches
// of a quarter of the bound on rounds in flight, at least one: refilled once
// that many are free. A batch is one write and one wakeup on the other side
// rather than one per round, and at least three quarters of the window stay in
// flight. Only when things are sent changes, never what (DESIGN §1.3).
constexpr uint64_t refill_batch_rounds(uint64_t rounds_in_flight_max) {
  return std::max<uint64_t>(1, rounds_in_flight_max / 4);
}

// Whether a refill may start: a batch's worth of rounds is free.
constexpr bool refill_due(uint64_t rounds_in_flight, uint64_t rounds_in_flight_max) {
  return rounds_in_flight + refill_batch_rounds(rounds_in_flight_max) <= rounds_in_flight_max;
}

struct PlannedRequest {
  bool idle = true;
  PeerIndex target = 0;
  uint32_t chunk_index = 0;
  bool operator==(const PlannedRequest&) const = default;
};

// One round, with clock values after each step. Vectors are indexed by the
// requester; a target's values sit at the index of the requester it serves.
struct RoundPlan {
  uint64_t round = 0;
  std::vector<PlannedRequest> requests;
  std::vector<ClockUs> request_clock_us;   // requester, after sending (step 1)
  ClockUs request_sync_us = 0;             // step 2
  std::vector<ClockUs> forward_clock_us;   // target, carried by the forward (step 3)
  std::vector<ClockUs> answer_clock_us;    // target, after its CHUNK_DATA (step 4)
  ClockUs answer_sync_us = 0;              // step 5
  std::vector<ClockUs> delivery_clock_us;  // requester, after SEND_CHUNK (step 6)
  std::vector<ClockUs> clocks_after_us;    // every peer, at the end of the round

  bool all_idle() const;
  // Requesters whose request goes to `target`, in requester-ID order.
  std::vector<PeerIndex> requesters_of(PeerIndex target) const;
};

class ExchangeModel {
 public:
  ExchangeModel(std::vector<uint32_t> chunk_counts, std::vector<PeerCosts> costs);

  // Plans the next round and advances the model past it. The first round in
  // which every request is IDLE ends the exchange; it moves no clock (there is
  // nothing to sync), which is why the default run ends at A=232072.8 rather
  // than with every clock at D's value.
  RoundPlan plan_next_round();

  bool finished() const { return finished_; }
  uint64_t next_round() const { return next_round_; }
  size_t peer_count() const { return chunk_counts_.size(); }
  const std::vector<ClockUs>& clocks_us() const { return clocks_us_; }
  const std::vector<uint32_t>& chunk_counts() const { return chunk_counts_; }

  // Rounds that move at least one chunk, from round 0 to the end: 11721 for
  // the default workload; the final all-IDLE round is not counted. Steps a
  // copy through every round, so it costs as much as the exchange has rounds:
  // never call it on sizes a peer announced (use rounds_lower_bound()).
  uint64_t rounds_total() const;
  // A peer receives at most one chunk a round, so the exchange takes at least
  // as many rounds as the most any peer needs (exactly that for equal files).
  uint64_t rounds_lower_bound() const;

 private:
  void apply_clocks(RoundPlan& plan);

  std::vector<uint32_t> chunk_counts_;
  std::vector<PeerCosts> costs_;
  std::vector<std::vector<uint32_t>> chunks_taken_;  // [requester][owner]
  std::vector<ClockUs> clocks_us_;
  uint64_t next_round_ = 0;
  bool finished_ = false;
};

}  // namespace chunkex
