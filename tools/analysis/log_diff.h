// Two runs compared by component and round (docs/DESIGN.md §8): where each
// component's log first differs, with context from both sides; what differs
// in each round (requests, targets, chunks, each peer's clock at the end of
// the round); and the final clocks and round counts side by side. The logs are
// in canonical order and every line of a round carries it, so the lines of
// two runs align by position and a difference is placed in its round.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/analysis/run_log.h"

namespace chunkex {

struct DiffOptions {
  LineFilter filter;             // lines left out of the comparison (--ignore)
  size_t rounds_shown_max = 20;  // rounds listed in the per-round summary (--max-rounds)
  size_t context_before = 2;     // lines shown before a first difference
  size_t context_after = 3;      // and after it
};

// One row of a side-by-side excerpt; a side past its log's end is empty.
struct ContextRow {
  std::optional<size_t> left_line;  // line number in the left file
  std::string left;
  std::optional<size_t> right_line;
  std::string right;
  bool differs = false;
};

enum class ComponentState { kSame, kDifferent, kOnlyLeft, kOnlyRight };

struct ComponentDiff {
  std::string name;
  ComponentState state = ComponentState::kSame;
  size_t lines_left = 0;  // compared, after --ignore
  size_t lines_right = 0;
  // kDifferent: the first differing line (its index among those compared)
  // and the round it sits in (kSetupSection / kEndSection outside rounds).
  size_t position = 0;
  int64_t section = kSetupSection;
  std::vector<ContextRow> context;
};

struct RequestChange {
  PeerIndex peer = 0;
  std::optional<RoundRequest> left;
  std::optional<RoundRequest> right;
};

struct ClockChange {
  PeerIndex peer = 0;
  std::optional<ClockUs> left_us;
  std::optional<ClockUs> right_us;
  // In the per-round summary: how much of the difference this round added
  // (the difference now minus at the end of the round before).
  std::optional<ClockUs> growth_us;
};

struct RoundDiff {
  int64_t round = 0;
  std::vector<RequestChange> requests;  // only those that differ
  std::vector<ClockChange> clocks;      // only those that differ
};

struct DiffReport {
  std::string left_label;
  std::string right_label;
  bool identical = true;
  std::vector<ComponentDiff> components;  // Server, then by peer letter
  size_t peer_count = 0;
  uint64_t rounds_compared = 0;
  uint64_t rounds_differing = 0;
  std::vector<RoundDiff> rounds;                 // the first rounds_shown_max that differ
  std::optional<int64_t> first_round_differing;  // the first round with any difference
  std::optional<uint64_t> rounds_left;           // rounds that moved data
  std::optional<uint64_t> rounds_right;
  std::vector<ClockChange> final_clocks;  // every peer, equal or not
};

DiffReport diff_runs(const Run& left, const Run& right, const DiffOptions& options);

// The report as chunkex-diff prints it, and as its --json.
std::string render_text(const DiffReport& report);
nlohmann::ordered_json render_json(const DiffReport& report);

}  // namespace chunkex
