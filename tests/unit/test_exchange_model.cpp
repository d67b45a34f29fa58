// docs/DESIGN.md §3: the exact clock model, and the schedule it drives, checked
// against the worked example, the default run's final clocks and small
// hand-computed cases with unequal files.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "common/clock.h"
#include "common/exchange_model.h"
#include "test_support.h"

namespace chunkex {
namespace {

using Clocks = std::vector<ClockUs>;

PlannedRequest asks(PeerIndex target, uint32_t chunk) {
  return PlannedRequest{false, target, chunk};
}
const PlannedRequest kIdle{};

// Every plan of a run, the final all-IDLE round included.
std::vector<RoundPlan> run_to_end(ExchangeModel& model) {
  std::vector<RoundPlan> plans;
  while (!model.finished()) plans.push_back(model.plan_next_round());
  return plans;
}

}  // namespace

TEST_CASE("worked example: round 0 with default costs and equal files") {
  ExchangeModel model(std::vector<uint32_t>(4, 3907), test::default_costs());
  RoundPlan plan = model.plan_next_round();
  CHECK(plan.round == 0);
  CHECK(plan.requests ==
        std::vector<PlannedRequest>{asks(1, 0), asks(2, 0), asks(3, 0), asks(0, 0)});
  CHECK(plan.request_clock_us == Clocks{600, 700, 800, 900});
  CHECK(plan.request_sync_us == 900);
  // Indexed by requester: A's request is served by B, ..., D's by A.
  CHECK(plan.forward_clock_us == Clocks{1600, 1700, 1800, 1500});
  CHECK(plan.answer_clock_us == Clocks{8600, 9700, 10800, 7500});
  CHECK(plan.answer_sync_us == 10800);
  CHECK(plan.delivery_clock_us == Clocks{16800, 17800, 18800, 19800});
  CHECK(plan.clocks_after_us == Clocks{16800, 17800, 18800, 19800});
  CHECK(model.clocks_us() == plan.clocks_after_us);
  CHECK_FALSE(plan.all_idle());
  CHECK(plan.requesters_of(1) == std::vector<PeerIndex>{0});
  CHECK(plan.requesters_of(0) == std::vector<PeerIndex>{3});
}

TEST_CASE("worked example: round 1 adds 19.8 ms to every clock") {
  ExchangeModel model(std::vector<uint32_t>(4, 3907), test::default_costs());
  model.plan_next_round();
  RoundPlan plan = model.plan_next_round();
  CHECK(plan.round == 1);
  CHECK(plan.requests ==
        std::vector<PlannedRequest>{asks(2, 0), asks(3, 0), asks(0, 0), asks(1, 0)});
  CHECK(plan.request_clock_us == Clocks{17400, 18500, 19600, 20700});
  CHECK(plan.request_sync_us == 20700);
  CHECK(plan.clocks_after_us == Clocks{36600, 37600, 38600, 39600});
}

TEST_CASE("default run: 11721 rounds, D ends at 232075.8 ms") {
  ExchangeModel model(std::vector<uint32_t>(4, 3907), test::default_costs());
  CHECK(model.rounds_total() == 11721);
  CHECK(model.next_round() == 0);  // rounds_total works on a copy
  CHECK(model.clocks_us() == Clocks{0, 0, 0, 0});

  const std::vector<PeerCosts> costs = test::default_costs();
  std::vector<RoundPlan> plans = run_to_end(model);
  REQUIRE(plans.size() == 11722);
  bool every_round_as_table = true;
  for (size_t r = 0; r + 1 < plans.size(); ++r) {
    const RoundPlan& plan = plans[r];
    for (size_t q = 0; q < 4; ++q) {
      const auto target = static_cast<PeerIndex>((q + 1 + r % 3) % 4);
      // Each round adds 19.8 ms; a peer ends it (9 ms - its chunk cost) behind D.
      const ClockUs expected = 19800 * static_cast<ClockUs>(r + 1) - (9000 - costs[q].chunk_us);
      if (!(plan.requests[q] == asks(target, static_cast<uint32_t>(r / 3))) ||
          plan.clocks_after_us[q] != expected) {
        every_round_as_table = false;
      }
    }
  }
  CHECK(every_round_as_table);
  CHECK(plans.back().all_idle());
  CHECK(plans.back().clocks_after_us == plans[11720].clocks_after_us);
  CHECK(model.finished());
  CHECK(model.clocks_us() == Clocks{232072800, 232073800, 232074800, 232075800});
  CHECK(format_clocks(model.clocks_us()) == "A=232072.8 B=232073.8 C=232074.8 D=232075.8");
}

TEST_CASE("the final all-IDLE round moves no clock") {
  ExchangeModel model({1, 1, 1, 1}, test::default_costs());
  std::vector<RoundPlan> plans = run_to_end(model);
  REQUIRE(plans.size() == 4);
  const RoundPlan& last = plans.back();
  CHECK(last.round == 3);
  CHECK(last.all_idle());
  CHECK(last.requests == std::vector<PlannedRequest>(4, kIdle));
  CHECK(last.clocks_after_us == plans[2].clocks_after_us);
  CHECK(last.clocks_after_us ==
        Clocks{3 * 19800 - 3000, 3 * 19800 - 2000, 3 * 19800 - 1000, 3 * 19800});
  for (size_t r = 0; r < 3; ++r) CHECK_FALSE(plans[r].all_idle());
}

TEST_CASE("format_clock_ms prints milliseconds with trailing zeros trimmed") {
  CHECK(format_clock_ms(16800) == "16.8");
  CHECK(format_clock_ms(0) == "0.0");
  CHECK(format_clock_ms(650) == "0.65");
  CHECK(format_clock_ms(232075800) == "232075.8");
  CHECK(format_clock_ms(1) == "0.001");
  CHECK(format_clock_ms(9000) == "9.0");
  CHECK(format_clock_ms(1010) == "1.01");
  CHECK(format_clocks({16800, 17800, 18800, 19800}) == "A=16.8 B=17.8 C=18.8 D=19.8");
}

TEST_CASE("a target serving two requesters answers them one at a time") {
  // Only A has chunks, so B and C both ask A in every round; A is idle.
  ExchangeModel model({2, 0, 0}, {{6000, 600}, {7000, 700}, {8000, 800}});
  CHECK(model.rounds_total() == 2);

  RoundPlan r0 = model.plan_next_round();
  CHECK(r0.requests == std::vector<PlannedRequest>{kIdle, asks(0, 0), asks(0, 0)});
  CHECK(r0.requesters_of(0) == std::vector<PeerIndex>{1, 2});
  CHECK(r0.request_clock_us == Clocks{0, 700, 800});  // an idle request costs nothing
  CHECK(r0.request_sync_us == 800);
  // A: forward for B (+0.6), CHUNK_DATA for B (+6), then forward for C.
  CHECK(r0.forward_clock_us == Clocks{0, 1400, 8000});
  CHECK(r0.answer_clock_us == Clocks{0, 7400, 14000});
  CHECK(r0.answer_sync_us == 14000);
  CHECK(r0.delivery_clock_us == Clocks{0, 21000, 22000});
  CHECK(r0.clocks_after_us == Clocks{14000, 21000, 22000});

  RoundPlan r1 = model.plan_next_round();
  CHECK(r1.requests == std::vector<PlannedRequest>{kIdle, asks(0, 1), asks(0, 1)});
  CHECK(r1.request_clock_us == Clocks{14000, 21700, 22800});
  CHECK(r1.forward_clock_us == Clocks{0, 23400, 30000});
  CHECK(r1.answer_clock_us == Clocks{0, 29400, 36000});
  CHECK(r1.clocks_after_us == Clocks{36000, 43000, 44000});

  RoundPlan r2 = model.plan_next_round();
  CHECK(r2.all_idle());
  CHECK(model.finished());
  CHECK(model.clocks_us() == Clocks{36000, 43000, 44000});
}

TEST_CASE("unequal files {8,3,1,0}: every chunk once, lowest first, empty file never asked") {
  const std::vector<uint32_t> counts{8, 3, 1, 0};
  ExchangeModel model(counts, test::default_costs());
  // D lacks 12 chunks and receives at most one a round, never idling before.
  CHECK(model.rounds_total() == 12);
  std::vector<RoundPlan> plans = run_to_end(model);
  REQUIRE(plans.size() == 13);

  std::vector<std::vector<uint32_t>> received(4, std::vector<uint32_t>(4, 0));
  for (const RoundPlan& plan : plans) {
    for (size_t q = 0; q < 4; ++q) {
      const PlannedRequest& request = plan.requests[q];
      if (request.idle) continue;
      CAPTURE(plan.round);
      CAPTURE(q);
      CHECK(request.target != q);
      CHECK(request.target != 3);
      CHECK(request.chunk_index == received[q][request.target]);  // lowest missing first
      ++received[q][request.target];
    }
  }
  for (size_t q = 0; q < 4; ++q) {
    for (size_t o = 0; o < 4; ++o) {
      CAPTURE(q);
      CAPTURE(o);
      CHECK(received[q][o] == (o == q ? 0 : counts[o]));
    }
  }
  for (size_t r = 0; r + 1 < plans.size(); ++r) CHECK_FALSE(plans[r].all_idle());
  CHECK(plans.back().all_idle());
  // Round 0: A asks B, B asks C, C asks A (D is empty), D asks A; A serves C then D.
  CHECK(plans[0].requests ==
        std::vector<PlannedRequest>{asks(1, 0), asks(2, 0), asks(0, 0), asks(0, 0)});
  CHECK(plans[0].requesters_of(0) == std::vector<PeerIndex>{2, 3});
  CHECK(plans[0].forward_clock_us[3] == plans[0].answer_clock_us[2] + 600);
}

TEST_CASE("round count is the largest number of chunks any peer lacks") {
  const std::vector<std::vector<uint32_t>> workloads = {
      {5, 0},          {0, 0, 0, 0}, {1, 0, 0, 0}, {3, 3, 3, 3},       {7, 1, 0, 2, 4},
      {0, 9, 0, 0, 0}, {2, 2},       {4, 1, 1},    {1, 2, 3, 4, 5, 6},
  };
  for (const auto& counts : workloads) {
    CAPTURE(counts.size());
    CAPTURE(counts[0]);
    const uint32_t total = std::accumulate(counts.begin(), counts.end(), 0u);
    uint32_t most_lacking = 0;
    for (uint32_t own : counts) most_lacking = std::max(most_lacking, total - own);
    ExchangeModel model(counts, test::default_costs(counts.size()));
    CHECK(model.rounds_total() == most_lacking);
    std::vector<RoundPlan> plans = run_to_end(model);
    CHECK(plans.size() == most_lacking + 1);
  }
}

TEST_CASE("all files empty: the first round is all IDLE and no clock moves") {
  ExchangeModel model({0, 0, 0, 0}, test::default_costs());
  CHECK(model.rounds_total() == 0);
  RoundPlan plan = model.plan_next_round();
  CHECK(plan.all_idle());
  CHECK(model.finished());
  CHECK(model.clocks_us() == Clocks{0, 0, 0, 0});
}

TEST_CASE("N=2 and N=5 with equal files add one full round trip per round") {
  ExchangeModel two({2, 2}, test::default_costs(2));
  RoundPlan p = two.plan_next_round();
  // A 0.6, B 0.7 -> 0.7; B serves A: 1.4, 8.4; A serves B: 1.3, 7.3 -> 8.4;
  // A +6 = 14.4, B +7 = 15.4.
  CHECK(p.forward_clock_us == Clocks{1400, 1300});
  CHECK(p.answer_clock_us == Clocks{8400, 7300});
  CHECK(p.clocks_after_us == Clocks{14400, 15400});
  CHECK(two.rounds_total() == 2);  // counted from round 0, whatever has been planned

  ExchangeModel five(std::vector<uint32_t>(5, 1), test::default_costs(5));
  CHECK(five.rounds_total() == 4);
  RoundPlan f = five.plan_next_round();
  // Sync 1.0 (E's other cost); E serves D last: 1.0 + 1.0 + 10 = 12.0 is the max.
  CHECK(f.request_sync_us == 1000);
  CHECK(f.answer_sync_us == 12000);
  CHECK(f.clocks_after_us == Clocks{18000, 19000, 20000, 21000, 22000});
}

}  // namespace chunkex

namespace chunkex {

TEST_CASE("the lower bound on rounds is exact for equal files and cheap for huge ones") {
  std::vector<PeerCosts> costs(4, PeerCosts{1000, 100});
  CHECK(ExchangeModel({3907, 3907, 3907, 3907}, costs).rounds_lower_bound() == 11721);
  ExchangeModel unequal({8, 3, 1, 0}, costs);
  CHECK(unequal.rounds_lower_bound() <= unequal.rounds_total());
  CHECK(unequal.rounds_lower_bound() == 12);
  // 2^32 - 1 chunks each: computed without stepping 3 x 2^32 rounds.
  ExchangeModel huge({UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX}, costs);
  CHECK(huge.rounds_lower_bound() == 3ull * UINT32_MAX);
}

}  // namespace chunkex
