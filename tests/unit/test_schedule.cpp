// docs/DESIGN.md §2: round r uses offset o = 1 + (r mod (N-1)); peer i asks
// peer (i + o) mod N, falling back to the next offsets when that peer has
// nothing left for it, and is idle when it lacks nothing.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "common/peer_id.h"
#include "common/schedule.h"

namespace chunkex {
namespace {

// What a requester has taken at the start: nothing of anyone else's file, and
// all of its own (as ExchangeModel sets it up).
std::vector<uint32_t> fresh_taken(PeerIndex requester, const std::vector<uint32_t>& counts) {
  std::vector<uint32_t> taken(counts.size(), 0);
  taken[requester] = counts[requester];
  return taken;
}

// Letters of the peer each requester asks in `round`, "-" for idle.
std::string targets_in_round(uint64_t round, const std::vector<uint32_t>& counts) {
  std::string letters;
  for (size_t q = 0; q < counts.size(); ++q) {
    auto requester = static_cast<PeerIndex>(q);
    auto target = choose_target(requester, round, fresh_taken(requester, counts), counts);
    letters += target ? peer_letter(*target) : '-';
  }
  return letters;
}

std::string target_letter(PeerIndex requester, uint64_t round, const std::vector<uint32_t>& taken,
                          const std::vector<uint32_t>& counts) {
  auto target = choose_target(requester, round, taken, counts);
  return target ? peer_name(*target) : "idle";
}

}  // namespace

TEST_CASE("rotation_offset cycles through 1..N-1") {
  CHECK(rotation_offset(0, 4) == 1);
  CHECK(rotation_offset(1, 4) == 2);
  CHECK(rotation_offset(2, 4) == 3);
  CHECK(rotation_offset(3, 4) == 1);
  CHECK(rotation_offset(11720, 4) == 1 + 11720 % 3);
  for (uint64_t round = 0; round < 5; ++round) CHECK(rotation_offset(round, 2) == 1);
  CHECK(rotation_offset(3, 5) == 4);
  CHECK(rotation_offset(4, 5) == 1);
  CHECK(rotation_offset(UINT64_MAX, 4) == 1 + UINT64_MAX % 3);
}

TEST_CASE("N=4 reproduces the original request table") {
  const std::vector<uint32_t> counts(4, 10);
  CHECK(targets_in_round(0, counts) == "BCDA");
  CHECK(targets_in_round(1, counts) == "CDAB");
  CHECK(targets_in_round(2, counts) == "DABC");
  CHECK(targets_in_round(3, counts) == "BCDA");
  CHECK(targets_in_round(4, counts) == "CDAB");
  CHECK(targets_in_round(3905 * 3 + 2, counts) == "DABC");
}

TEST_CASE("N=2 always asks the other peer") {
  const std::vector<uint32_t> counts{3, 5};
  for (uint64_t round = 0; round < 4; ++round) CHECK(targets_in_round(round, counts) == "BA");
}

TEST_CASE("N=5 rotates through offsets 1 to 4") {
  const std::vector<uint32_t> counts(5, 2);
  CHECK(targets_in_round(0, counts) == "BCDEA");
  CHECK(targets_in_round(1, counts) == "CDEAB");
  CHECK(targets_in_round(2, counts) == "DEABC");
  CHECK(targets_in_round(3, counts) == "EABCD");
  CHECK(targets_in_round(4, counts) == "BCDEA");
}

TEST_CASE("an exhausted rotating target falls back to the next offsets") {
  const std::vector<uint32_t> counts{4, 4, 4, 4};
  // A, round 0: offset 1 (B), then 2 (C), then 3 (D).
  CHECK(target_letter(0, 0, {4, 4, 0, 0}, counts) == "C");
  CHECK(target_letter(0, 0, {4, 4, 4, 0}, counts) == "D");
  // A, round 1: offset 2 (C), then 3 (D), then wraps to 1 (B).
  CHECK(target_letter(0, 1, {4, 0, 4, 0}, counts) == "D");
  CHECK(target_letter(0, 1, {4, 0, 4, 4}, counts) == "B");
  // A, round 2: offset 3 (D) wraps straight to 1 (B), then 2 (C).
  CHECK(target_letter(0, 2, {4, 0, 0, 4}, counts) == "B");
  CHECK(target_letter(0, 2, {4, 4, 0, 4}, counts) == "C");
  // D, round 0: offset 1 is A; then B, then C.
  CHECK(target_letter(3, 0, {4, 0, 0, 4}, counts) == "B");
  CHECK(target_letter(3, 0, {4, 4, 0, 4}, counts) == "C");
  // C, round 2: offset 3 is B; exhausted, wraps to offset 1 (D).
  CHECK(target_letter(2, 2, {0, 4, 4, 0}, counts) == "D");
}

TEST_CASE("a partly taken file is still asked for") {
  const std::vector<uint32_t> counts{4, 4, 4, 4};
  CHECK(target_letter(0, 0, {4, 3, 0, 0}, counts) == "B");
}

TEST_CASE("empty files are skipped") {
  const std::vector<uint32_t> counts{8, 0, 1, 0};
  CHECK(target_letter(0, 0, {8, 0, 0, 0}, counts) == "C");
  CHECK(target_letter(3, 0, {0, 0, 0, 0}, counts) == "A");
  // D, round 1: offset 2 is B (empty), offset 3 is C.
  CHECK(target_letter(3, 1, {0, 0, 0, 0}, counts) == "C");
  CHECK(target_letter(3, 1, {0, 0, 1, 0}, counts) == "A");
}

TEST_CASE("a requester that lacks nothing is idle, never its own target") {
  const std::vector<uint32_t> counts{5, 5, 5, 5};
  for (uint64_t round = 0; round < 3; ++round) {
    CAPTURE(round);
    // Own file untaken and non-empty: still never chosen.
    CHECK(target_letter(1, round, {5, 0, 5, 5}, counts) == "idle");
    CHECK(target_letter(0, round, {5, 5, 5, 5}, counts) == "idle");
  }
  CHECK(target_letter(0, 0, {0, 0}, {0, 0}) == "idle");
  CHECK(target_letter(1, 3, {7, 0}, {7, 9}) == "idle");
}

}  // namespace chunkex
