#include "common/relay/round_pipeline.h"

#include <fmt/format.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/peer_id.h"

namespace chunkex {

std::string describe_request(const PlannedRequest& request) {
  if (request.idle) return "IDLE";
  return fmt::format("chunk {} of {}", request.chunk_index, peer_letter(request.target));
}

ProtocolFault check_chunk_length(const FileLayout& layout, uint32_t chunk_index,
                                 uint64_t data_bytes) {
  if (data_bytes == layout.chunk_length(chunk_index)) return std::nullopt;
  return fmt::format("chunk {} carries {} bytes, expected {}", chunk_index, data_bytes,
                     layout.chunk_length(chunk_index));
}

RoundPipeline::RoundPipeline(std::vector<uint32_t> chunk_counts, std::vector<PeerCosts> costs,
                             std::vector<FileLayout> layouts)
    : model_(std::move(chunk_counts), std::move(costs)), layouts_(std::move(layouts)) {}

RoundPlan RoundPipeline::skip_delivered_round() {
  RoundPlan plan = model_.plan_next_round();
  next_deliver_round_ = next_forward_round_ = model_.next_round();
  all_delivered_ = model_.finished();
  return plan;
}

RoundPipeline::RoundState* RoundPipeline::open_round(uint64_t round) {
  if (round < next_deliver_round_ || round >= next_deliver_round_ + kMaxWindowRounds) {
    return nullptr;
  }
  while (next_deliver_round_ + rounds_.size() <= round) {
    if (model_.finished()) return nullptr;
    RoundState state;
    state.plan = model_.plan_next_round();
    state.request_seen.assign(peer_count(), false);
    state.answers.resize(peer_count());
    state.requests_missing = peer_count();
    for (const PlannedRequest& request : state.plan.requests) {
      if (!request.idle) ++state.answers_missing;
    }
    rounds_.push_back(std::move(state));
  }
  return &rounds_[round - next_deliver_round_];
}

ProtocolFault RoundPipeline::record_request(PeerIndex peer, uint64_t round,
                                            const PlannedRequest& sent, ClockUs clock_us) {
  RoundState* state = open_round(round);
  if (!state) {
    return fmt::format("request for round {} outside the open rounds {}..{}", round,
                       next_deliver_round_, next_deliver_round_ + kMaxWindowRounds - 1);
  }
  if (state->request_seen[peer]) return fmt::format("second request for round {}", round);
  const PlannedRequest& planned = state->plan.requests[peer];
  ClockUs planned_clock_us = state->plan.request_clock_us[peer];
  if (!(sent == planned) || (!sent.idle && clock_us != planned_clock_us)) {
    return fmt::format("round {}: sent {} at clock {}, the schedule says {} at clock {}", round,
                       describe_request(sent), format_clock_ms(clock_us), describe_request(planned),
                       format_clock_ms(planned_clock_us));
  }
  state->request_seen[peer] = true;
  --state->requests_missing;
  return std::nullopt;
}

ProtocolFault RoundPipeline::record_answer(PeerIndex peer, Frame frame) {
  auto header = decode_chunk_header(frame);
  if (!header) return "malformed CHUNK_DATA";
  bool forwarded = header->round >= next_deliver_round_ && header->round < next_forward_round_;
  if (!forwarded || header->peer >= peer_count()) {
    return fmt::format("CHUNK_DATA for round {} that was not forwarded", header->round);
  }
  RoundState& state = rounds_[header->round - next_deliver_round_];
  PeerIndex requester = header->peer;
  const PlannedRequest& planned = state.plan.requests[requester];
  if (planned.idle || planned.target != peer || planned.chunk_index != header->chunk_index ||
      state.answers[requester]) {
    return fmt::format("round {}: CHUNK_DATA chunk {} for {} was not asked of it", header->round,
                       header->chunk_index, peer_letter(requester));
  }
  if (ProtocolFault length =
          check_chunk_length(layouts_[peer], header->chunk_index, chunk_data_bytes(frame))) {
    return fmt::format("round {}: {}", header->round, *length);
  }
  ClockUs planned_clock_us = state.plan.answer_clock_us[requester];
  if (header->clock_us != planned_clock_us) {
    return fmt::format("round {}: CHUNK_DATA clock {} differs from the model's {}", header->round,
                       format_clock_ms(header->clock_us), format_clock_ms(planned_clock_us));
  }
  state.answers[requester] = std::move(frame);
  --state.answers_missing;
  return std::nullopt;
}

const RoundPlan* RoundPipeline::forward_next(uint32_t rounds_in_flight_max) {
  // A batch starts once a batch's worth is free and goes on (as requests
  // come in) until the bound is reached.
  uint64_t in_flight = rounds_in_flight();
  refilling_ = in_flight < rounds_in_flight_max &&
               (refilling_ || refill_due(in_flight, rounds_in_flight_max));
  if (!refilling_ || in_flight >= rounds_.size()) return nullptr;
  RoundState& state = rounds_[in_flight];
  if (state.requests_missing > 0) return nullptr;
  state.forwarded = true;
  ++next_forward_round_;
  return &state.plan;
}

std::optional<DeliveredRound> RoundPipeline::deliver_next() {
  if (rounds_.empty() || !rounds_.front().forwarded || rounds_.front().answers_missing > 0) {
    return std::nullopt;
  }
  DeliveredRound delivered{std::move(rounds_.front().plan), std::move(rounds_.front().answers)};
  rounds_.pop_front();
  ++next_deliver_round_;
  all_delivered_ = delivered.plan.all_idle();
  return delivered;
}

void RoundPipeline::forget_work_of(PeerIndex peer) {
  for (RoundState& state : rounds_) {
    if (!state.forwarded) {
      if (state.request_seen[peer]) ++state.requests_missing;
      state.request_seen[peer] = false;
      continue;
    }
    for (size_t q = 0; q < peer_count(); ++q) {
      const PlannedRequest& request = state.plan.requests[q];
      if (!request.idle && request.target == peer && state.answers[q]) {
        state.answers[q].reset();
        ++state.answers_missing;
      }
    }
  }
}

std::vector<std::pair<const RoundPlan*, PeerIndex>> RoundPipeline::unanswered_for(
    PeerIndex target) const {
  std::vector<std::pair<const RoundPlan*, PeerIndex>> unanswered;
  for (const RoundState& state : rounds_) {
    if (!state.forwarded) break;
    for (size_t q = 0; q < peer_count(); ++q) {
      const PlannedRequest& request = state.plan.requests[q];
      if (!request.idle && request.target == target && !state.answers[q]) {
        unanswered.emplace_back(&state.plan, static_cast<PeerIndex>(q));
      }
    }
  }
  return unanswered;
}

bool RoundPipeline::awaits_request_from(PeerIndex peer) const {
  if (rounds_.empty()) return true;
  return !rounds_.front().forwarded && !rounds_.front().request_seen[peer];
}

bool RoundPipeline::awaits_answer_from(PeerIndex peer) const {
  if (rounds_.empty() || !rounds_.front().forwarded) return false;
  const RoundState& front = rounds_.front();
  for (size_t q = 0; q < peer_count(); ++q) {
    const PlannedRequest& request = front.plan.requests[q];
    if (!request.idle && request.target == peer && !front.answers[q]) return true;
  }
  return false;
}

bool RoundPipeline::reached_last_round(PeerIndex peer) const {
  if (all_delivered_) return true;
  return model_.finished() && !rounds_.empty() && rounds_.back().plan.all_idle() &&
         rounds_.back().request_seen[peer];
}

}  // namespace chunkex
