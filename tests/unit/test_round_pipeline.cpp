// RoundPipeline on its own: rounds are forwarded in batches of a quarter of
// the bound on rounds in flight (refill_batch_rounds, docs/DESIGN.md §1.3).
#include <doctest/doctest.h>

#include <vector>

#include "common/exchange_model.h"
#include "common/frame.h"
#include "common/messages.h"
#include "common/relay/round_pipeline.h"
#include "test_support.h"

namespace chunkex {
namespace {

constexpr uint32_t kChunkBytes = 1000;
constexpr uint32_t kChunksPerFile = 20;

// Four peers, 20 chunks each, default costs; `plans` is the same schedule,
// planned beside the pipeline so that the test can send what it expects.
struct PipelineHarness {
  PipelineHarness()
      : pipeline(counts(), test::default_costs(), layouts()),
        model(counts(), test::default_costs()) {}

  static std::vector<uint32_t> counts() { return std::vector<uint32_t>(4, kChunksPerFile); }
  static std::vector<FileLayout> layouts() {
    return std::vector<FileLayout>(4, FileLayout{kChunksPerFile * kChunkBytes, kChunkBytes});
  }

  // Every peer's request for rounds up to `last`.
  void request_through(uint64_t last) {
    while (plans.size() <= last) plans.push_back(model.plan_next_round());
    for (uint64_t round = requested; round <= last; ++round) {
      const RoundPlan& plan = plans[round];
      for (PeerIndex peer = 0; peer < 4; ++peer) {
        REQUIRE_FALSE(
            pipeline.record_request(peer, round, plan.requests[peer], plan.request_clock_us[peer]));
      }
    }
    requested = last + 1;
  }

  // The rounds forward_next() hands out now, in order.
  std::vector<uint64_t> forward_all(uint32_t rounds_in_flight_max) {
    std::vector<uint64_t> forwarded;
    while (const RoundPlan* plan = pipeline.forward_next(rounds_in_flight_max)) {
      forwarded.push_back(plan->round);
    }
    return forwarded;
  }

  // Every answer of the oldest forwarded round, then its delivery.
  void answer_and_deliver(uint64_t round) {
    const RoundPlan& plan = plans[round];
    for (PeerIndex requester = 0; requester < 4; ++requester) {
      const PlannedRequest& request = plan.requests[requester];
      if (request.idle) continue;
      Frame answer = make_chunk_frame(
          FrameType::kChunkData,
          ChunkHeader{round, requester, request.chunk_index, plan.answer_clock_us[requester]},
          kChunkBytes);
      REQUIRE_FALSE(pipeline.record_answer(request.target, std::move(answer)));
    }
    auto delivered = pipeline.deliver_next();
    REQUIRE(delivered);
    CHECK(delivered->plan.round == round);
  }

  RoundPipeline pipeline;
  ExchangeModel model;
  std::vector<RoundPlan> plans;
  uint64_t requested = 0;
};

}  // namespace

TEST_CASE("refill batches are a quarter of the bound, at least one round") {
  CHECK(refill_batch_rounds(1) == 1);
  CHECK(refill_batch_rounds(7) == 1);
  CHECK(refill_batch_rounds(8) == 2);
  CHECK(refill_batch_rounds(32) == 8);
  CHECK(refill_batch_rounds(128) == 32);
}

TEST_CASE("the relay forwards rounds in batches once a quarter of its bound is free") {
  PipelineHarness h;
  h.request_through(15);
  CHECK(h.pipeline.next_forward_round() == 0);
  CHECK(h.forward_all(8) == std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  h.answer_and_deliver(0);
  CHECK(h.forward_all(8).empty());  // one round free: less than a batch of 2
  h.answer_and_deliver(1);
  CHECK(h.forward_all(8) == std::vector<uint64_t>{8, 9});
  CHECK(h.pipeline.rounds_in_flight() == 8);
}

TEST_CASE("a batch begun without every request goes on when the requests come") {
  PipelineHarness h;
  h.request_through(8);
  CHECK(h.forward_all(8) == std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  h.answer_and_deliver(0);
  h.answer_and_deliver(1);
  CHECK(h.forward_all(8) == std::vector<uint64_t>{8});  // round 9 is not requested yet
  h.request_through(12);
  CHECK(h.forward_all(8) == std::vector<uint64_t>{9});  // the batch refills to 8 in flight
  CHECK(h.forward_all(8).empty());
}

TEST_CASE("with a bound of one round the relay forwards each round as the last is delivered") {
  PipelineHarness h;
  h.request_through(3);
  CHECK(h.forward_all(1) == std::vector<uint64_t>{0});
  h.answer_and_deliver(0);
  CHECK(h.forward_all(1) == std::vector<uint64_t>{1});
}

}  // namespace chunkex
