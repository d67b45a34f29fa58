// The round pipeline (docs/DESIGN.md §1.3, §3): requests are collected per
// round, a round is forwarded as soon as every request is in, its answers
// are collected, and rounds are delivered in order. At most kMaxWindowRounds
// rounds are open at once. Each request and answer is checked against the
// schedule; what is wrong comes back as a ProtocolFault. No I/O: the core sends what
// forward_next() and deliver_next() hand it.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/chunking.h"
#include "common/exchange_model.h"
#include "common/messages.h"
#include "common/relay/states.h"

namespace chunkex {

// "IDLE" or "chunk N of X", for protocol errors.
std::string describe_request(const PlannedRequest& request);
// A chunk of `layout` that carries `data_bytes`: its exact length, or a
// ProtocolFault saying "chunk N carries M bytes, expected L".
ProtocolFault check_chunk_length(const FileLayout& layout, uint32_t chunk_index,
                                 uint64_t data_bytes);

struct DeliveredRound {
  RoundPlan plan;
  std::vector<std::optional<Frame>> answers;  // by requester; set where not IDLE
};

class RoundPipeline {
 public:
  RoundPipeline(std::vector<uint32_t> chunk_counts, std::vector<PeerCosts> costs,
                std::vector<FileLayout> layouts);

  const ExchangeModel& model() const { return model_; }
  uint64_t next_forward_round() const { return next_forward_round_; }
  uint64_t next_deliver_round() const { return next_deliver_round_; }
  // The final, all-IDLE round is delivered: only DONEs are left.
  bool all_delivered() const { return all_delivered_; }
  uint64_t rounds_in_flight() const { return next_forward_round_ - next_deliver_round_; }

  // A restarted server: the next round counts as delivered (returns its plan
  // for the log).
  RoundPlan skip_delivered_round();

  // A request must be exactly what the schedule says this peer asks in that
  // round, with the clock the model gives it.
  ProtocolFault record_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent,
                               ClockUs clock_us);
  // CHUNK_DATA from `peer`: a forwarded, undelivered round, a chunk asked of
  // it and not answered yet, the exact length and the model's clock.
  ProtocolFault record_answer(PeerIndex peer, Frame frame);

  // The next round, if every request is in and fewer than
  // `rounds_in_flight_max` rounds are forwarded ahead of delivery, refilled in
  // batches (refill_batch_rounds). It counts as forwarded once returned.
  const RoundPlan* forward_next(uint32_t rounds_in_flight_max);
  // The oldest forwarded round once every answer is in.
  std::optional<DeliveredRound> deliver_next();

  // A peer left: the requests it sent for rounds not forwarded, and the
  // answers it gave for rounds not delivered, are forgotten (it sends them
  // again when it is back).
  void forget_work_of(PeerIndex peer);
  // Forwarded requests to `target` not answered yet: (plan, requester).
  std::vector<std::pair<const RoundPlan*, PeerIndex>> unanswered_for(PeerIndex target) const;

  // What the oldest open round waits for from `peer`.
  bool awaits_request_from(PeerIndex peer) const;
  bool awaits_answer_from(PeerIndex peer) const;
  // The peer's IDLE for the final round came in.
  bool reached_last_round(PeerIndex peer) const;

 private:
  struct RoundState {
    RoundPlan plan;
    std::vector<bool> request_seen;             // by requester
    std::vector<std::optional<Frame>> answers;  // by requester
    size_t requests_missing = 0;
    size_t answers_missing = 0;
    bool forwarded = false;
  };

  RoundState* open_round(uint64_t round);
  size_t peer_count() const { return layouts_.size(); }

  ExchangeModel model_;
  std::vector<FileLayout> layouts_;  // by peer
  std::deque<RoundState> rounds_;    // rounds_.front() is the next to deliver
  uint64_t next_forward_round_ = 0;
  uint64_t next_deliver_round_ = 0;
  bool all_delivered_ = false;
  bool refilling_ = true;  // forwarding a batch until rounds_in_flight_max are out
};

}  // namespace chunkex
