#include "common/exchange_model.h"

#include <algorithm>
#include <cassert>

#include "common/schedule.h"

namespace chunkex {

bool RoundPlan::all_idle() const {
  return std::all_of(requests.begin(), requests.end(),
                     [](const PlannedRequest& request) { return request.idle; });
}

std::vector<PeerIndex> RoundPlan::requesters_of(PeerIndex target) const {
  std::vector<PeerIndex> requesters;
  for (size_t q = 0; q < requests.size(); ++q) {
    if (!requests[q].idle && requests[q].target == target) {
      requesters.push_back(static_cast<PeerIndex>(q));
    }
  }
  return requesters;
}

ExchangeModel::ExchangeModel(std::vector<uint32_t> chunk_counts, std::vector<PeerCosts> costs)
    : chunk_counts_(std::move(chunk_counts)),
      costs_(std::move(costs)),
      chunks_taken_(chunk_counts_.size(), std::vector<uint32_t>(chunk_counts_.size(), 0)),
      clocks_us_(chunk_counts_.size(), 0) {
  assert(chunk_counts_.size() >= 2 && chunk_counts_.size() == costs_.size());
  // A peer never asks for its own file.
  for (size_t q = 0; q < chunks_taken_.size(); ++q) chunks_taken_[q][q] = chunk_counts_[q];
}

RoundPlan ExchangeModel::plan_next_round() {
  assert(!finished_);
  const size_t n = peer_count();
  RoundPlan plan;
  plan.round = next_round_++;
  plan.requests.resize(n);
  for (size_t q = 0; q < n; ++q) {
    auto target =
        choose_target(static_cast<PeerIndex>(q), plan.round, chunks_taken_[q], chunk_counts_);
    if (!target) continue;
    plan.requests[q] = PlannedRequest{false, *target, chunks_taken_[q][*target]++};
  }
  finished_ = plan.all_idle();
  apply_clocks(plan);
  return plan;
}

// docs/DESIGN.md §3, steps 1-6. A target serving several requesters handles them
// one at a time in requester-ID order (forward, then its CHUNK_DATA).
void ExchangeModel::apply_clocks(RoundPlan& plan) {
  const size_t n = peer_count();
  auto& c = clocks_us_;
  plan.request_clock_us = plan.forward_clock_us = plan.answer_clock_us = plan.delivery_clock_us =
      std::vector<ClockUs>(n, 0);
  if (!finished_) {
    for (size_t q = 0; q < n; ++q) {
      if (!plan.requests[q].idle) c[q] += costs_[q].other_us;
      plan.request_clock_us[q] = c[q];
    }
    plan.request_sync_us = *std::max_element(c.begin(), c.end());
    std::fill(c.begin(), c.end(), plan.request_sync_us);
    for (size_t q = 0; q < n; ++q) {
      if (plan.requests[q].idle) continue;
      PeerIndex t = plan.requests[q].target;
      plan.forward_clock_us[q] = c[t] += costs_[t].other_us;
      plan.answer_clock_us[q] = c[t] += costs_[t].chunk_us;
    }
    plan.answer_sync_us = *std::max_element(c.begin(), c.end());
    std::fill(c.begin(), c.end(), plan.answer_sync_us);
    for (size_t q = 0; q < n; ++q) {
      if (!plan.requests[q].idle) plan.delivery_clock_us[q] = c[q] += costs_[q].chunk_us;
    }
  } else {
    plan.request_clock_us = c;
  }
  plan.clocks_after_us = c;
}

uint64_t ExchangeModel::rounds_lower_bound() const {
  uint64_t all = 0;
  for (uint32_t count : chunk_counts_) all += count;
  uint64_t most = 0;
  for (uint32_t own : chunk_counts_) most = std::max<uint64_t>(most, all - own);
  return most;
}

uint64_t ExchangeModel::rounds_total() const {
  ExchangeModel copy = *this;
  while (!copy.finished()) copy.plan_next_round();
  return copy.next_round() - 1;
}

}  // namespace chunkex
