#include "tools/analysis/log_diff.h"

#include <algorithm>

#include <fmt/format.h>

namespace chunkex {
namespace {

// The indices of the lines a comparison keeps (`mask` empty: all).
std::vector<uint32_t> kept_indices(const ComponentLog& log, const std::vector<bool>* mask) {
  std::vector<uint32_t> kept;
  kept.reserve(log.size());
  for (size_t i = 0; i < log.size(); ++i) {
    if (!mask || (*mask)[i]) kept.push_back(static_cast<uint32_t>(i));
  }
  return kept;
}

// One side of the comparison: a component's log and the lines kept of it.
struct Side {
  const ComponentLog* log = nullptr;
  const std::vector<bool>* mask = nullptr;
};

Side side_of(const Run& run, const KeptLines& kept, const std::string& name) {
  for (size_t c = 0; c < run.components.size(); ++c) {
    if (run.components[c].name() == name) {
      return {&run.components[c], kept.empty() ? nullptr : &kept[c]};
    }
  }
  return {};
}

std::vector<ContextRow> context_of(const ComponentLog& left, const std::vector<uint32_t>& kept_left,
                                   const ComponentLog& right,
                                   const std::vector<uint32_t>& kept_right, size_t position,
                                   const DiffOptions& options) {
  std::vector<ContextRow> rows;
  size_t from = position > options.context_before ? position - options.context_before : 0;
  for (size_t k = from; k <= position + options.context_after; ++k) {
    ContextRow row;
    if (k < kept_left.size()) {
      row.left_line = kept_left[k] + 1u;
      row.left = std::string(left.line(kept_left[k]));
    }
    if (k < kept_right.size()) {
      row.right_line = kept_right[k] + 1u;
      row.right = std::string(right.line(kept_right[k]));
    }
    if (!row.left_line && !row.right_line) break;
    row.differs = !row.left_line || !row.right_line || row.left != row.right;
    rows.push_back(std::move(row));
  }
  return rows;
}

ComponentDiff compare_component(Side a, Side b, const DiffOptions& options) {
  const ComponentLog& left = *a.log;
  const ComponentLog& right = *b.log;
  ComponentDiff diff;
  diff.name = left.name();
  if (!a.mask && !b.mask && left.text() == right.text()) {
    diff.lines_left = diff.lines_right = left.size();
    return diff;
  }
  std::vector<uint32_t> kept_left = kept_indices(left, a.mask);
  std::vector<uint32_t> kept_right = kept_indices(right, b.mask);
  diff.lines_left = kept_left.size();
  diff.lines_right = kept_right.size();
  size_t common = std::min(kept_left.size(), kept_right.size());
  size_t k = 0;
  while (k < common && left.line(kept_left[k]) == right.line(kept_right[k])) ++k;
  if (k == common && kept_left.size() == kept_right.size()) return diff;
  diff.state = ComponentState::kDifferent;
  diff.position = k;
  int64_t left_section = k < kept_left.size() ? left.section(kept_left[k]) : kEndSection;
  int64_t right_section = k < kept_right.size() ? right.section(kept_right[k]) : kEndSection;
  diff.section = std::min(left_section, right_section);
  diff.context = context_of(left, kept_left, right, kept_right, k, options);
  return diff;
}

ComponentDiff one_sided(Side side, ComponentState state) {
  ComponentDiff diff;
  diff.name = side.log->name();
  diff.state = state;
  size_t lines = kept_indices(*side.log, side.mask).size();
  (state == ComponentState::kOnlyLeft ? diff.lines_left : diff.lines_right) = lines;
  return diff;
}

// Server first, then by peer letter, as the runs list them.
std::vector<std::string> component_names(const Run& left, const Run& right) {
  std::vector<std::string> names;
  for (const Run* run : {&left, &right}) {
    for (const ComponentLog& log : run->components) {
      if (std::find(names.begin(), names.end(), log.name()) == names.end()) {
        names.push_back(log.name());
      }
    }
  }
  std::stable_sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    bool a_server = a == kServerComponent;
    bool b_server = b == kServerComponent;
    return a_server != b_server ? a_server : a < b;
  });
  return names;
}

template <typename T>
std::optional<T> at(const std::vector<std::optional<T>>& values, size_t i) {
  return i < values.size() ? values[i] : std::nullopt;
}

// `deltas_us` holds each peer's clock difference at the end of the round
// before (0 before round 0: every clock starts at 0) and is moved on to this
// round's.
std::optional<RoundDiff> compare_round(const RunFacts& left, const RunFacts& right, size_t r,
                                       std::vector<std::optional<ClockUs>>& deltas_us) {
  static const RoundFacts kNone;
  const RoundFacts& a = r < left.rounds.size() ? left.rounds[r] : kNone;
  const RoundFacts& b = r < right.rounds.size() ? right.rounds[r] : kNone;
  RoundDiff diff;
  diff.round = static_cast<int64_t>(r);
  for (size_t p = 0; p < deltas_us.size(); ++p) {
    auto peer = static_cast<PeerIndex>(p);
    auto request_a = at(a.requests, p);
    auto request_b = at(b.requests, p);
    if (request_a != request_b) diff.requests.push_back({peer, request_a, request_b});
    ClockChange change{peer, at(a.end_clocks_us, p), at(b.end_clocks_us, p), std::nullopt};
    std::optional<ClockUs> before = deltas_us[p];
    deltas_us[p].reset();
    if (change.left_us && change.right_us) deltas_us[p] = *change.right_us - *change.left_us;
    if (before && deltas_us[p]) change.growth_us = *deltas_us[p] - *before;
    if (change.left_us != change.right_us) diff.clocks.push_back(change);
  }
  if (diff.requests.empty() && diff.clocks.empty()) return std::nullopt;
  return diff;
}

void compare_rounds(const RunFacts& left, const RunFacts& right, const DiffOptions& options,
                    DiffReport& report) {
  report.rounds_compared = std::max(left.rounds.size(), right.rounds.size());
  std::vector<std::optional<ClockUs>> deltas_us(report.peer_count, ClockUs{0});
  for (size_t r = 0; r < report.rounds_compared; ++r) {
    auto diff = compare_round(left, right, r, deltas_us);
    if (!diff) continue;
    ++report.rounds_differing;
    if (!report.first_round_differing) report.first_round_differing = diff->round;
    if (report.rounds.size() < options.rounds_shown_max) report.rounds.push_back(std::move(*diff));
  }
}

void compare_final(const RunFacts& left, const RunFacts& right, DiffReport& report) {
  report.rounds_left = left.rounds_moved;
  report.rounds_right = right.rounds_moved;
  for (size_t p = 0; p < report.peer_count; ++p) {
    ClockChange change{static_cast<PeerIndex>(p), std::nullopt, std::nullopt, std::nullopt};
    if (left.final_clocks_us && p < left.final_clocks_us->size()) {
      change.left_us = (*left.final_clocks_us)[p];
    }
    if (right.final_clocks_us && p < right.final_clocks_us->size()) {
      change.right_us = (*right.final_clocks_us)[p];
    }
    report.final_clocks.push_back(change);
  }
}

std::string describe_request(const std::optional<RoundRequest>& request) {
  if (!request) return "(none)";
  if (request->idle) return "IDLE";
  return fmt::format("chunk {} of {}", request->chunk, peer_letter(request->target));
}

std::string clock_or_unknown(const std::optional<ClockUs>& clock_us) {
  return clock_us ? format_clock_ms(*clock_us) : "?";
}

std::string describe_delta(const ClockChange& change) {
  if (!change.left_us || !change.right_us) {
    return fmt::format("{} {} -> {}", peer_letter(change.peer), clock_or_unknown(change.left_us),
                       clock_or_unknown(change.right_us));
  }
  return fmt::format("{} {}", peer_letter(change.peer),
                     format_delta_ms(*change.right_us - *change.left_us));
}

std::string_view state_name(ComponentState state) {
  switch (state) {
    case ComponentState::kSame:
      return "same";
    case ComponentState::kDifferent:
      return "different";
    case ComponentState::kOnlyLeft:
      return "only_left";
    case ComponentState::kOnlyRight:
      return "only_right";
  }
  return "same";
}

std::string first_difference_line(const ComponentDiff& diff, const DiffReport& report) {
  switch (diff.state) {
    case ComponentState::kSame:
      return fmt::format("  {:<7} same ({} lines)\n", diff.name, diff.lines_left);
    case ComponentState::kOnlyLeft:
      return fmt::format("  {:<7} only in {}\n", diff.name, report.left_label);
    case ComponentState::kOnlyRight:
      return fmt::format("  {:<7} only in {}\n", diff.name, report.right_label);
    case ComponentState::kDifferent:
      break;
  }
  const ContextRow* first = nullptr;
  for (const ContextRow& row : diff.context) {
    if (row.differs && !first) first = &row;
  }
  std::string where =
      first && first->left_line ? fmt::format("line {}", *first->left_line) : "past the end";
  return fmt::format(
      "  {:<7} {:<22} left {}, right {} ({} / {} lines)\n", diff.name,
      describe_section(diff.section), where,
      first && first->right_line ? fmt::format("line {}", *first->right_line) : "past the end",
      diff.lines_left, diff.lines_right);
}

std::string side_by_side(const ComponentDiff& diff) {
  size_t width = 0;
  for (const ContextRow& row : diff.context) width = std::max(width, row.left.size());
  std::string out = fmt::format("{}, {}:\n", diff.name, describe_section(diff.section));
  for (const ContextRow& row : diff.context) {
    std::string left_number = row.left_line ? fmt::format("{}", *row.left_line) : "";
    std::string right_number = row.right_line ? fmt::format("{}", *row.right_line) : "";
    out += fmt::format("{} {:>7} {:<{}} | {:>7} {}\n", row.differs ? '!' : ' ', left_number,
                       row.left, width, right_number, row.right);
  }
  return out;
}

// " of which +1.8 each in this round", or per peer when they differ.
std::string growth_text(const std::vector<ClockChange>& clocks) {
  bool all_known = std::all_of(clocks.begin(), clocks.end(),
                               [](const ClockChange& change) { return change.growth_us; });
  if (clocks.empty() || !all_known) return "";
  bool all_new = std::all_of(clocks.begin(), clocks.end(), [](const ClockChange& change) {
    return change.left_us && change.right_us &&
           *change.growth_us == *change.right_us - *change.left_us;
  });
  if (all_new) return "";  // the first round that differs: all of it is this round's
  bool all_equal = std::all_of(clocks.begin(), clocks.end(), [&](const ClockChange& change) {
    return change.growth_us == clocks.front().growth_us;
  });
  if (all_equal) {
    return fmt::format(", of which {} each in this round",
                       format_delta_ms(*clocks.front().growth_us));
  }
  std::string text = ", of which";
  for (const ClockChange& change : clocks) {
    text += fmt::format(" {} {}", peer_letter(change.peer), format_delta_ms(*change.growth_us));
  }
  text += " in this round";
  return text;
}

std::string round_line(const RoundDiff& diff) {
  std::string text = fmt::format("  round {}:", diff.round);
  for (const RequestChange& change : diff.requests) {
    text += fmt::format(" {} asks {} -> {};", peer_letter(change.peer),
                        describe_request(change.left), describe_request(change.right));
  }
  if (!diff.clocks.empty()) text += " clock";
  for (const ClockChange& change : diff.clocks) {
    text += ' ';
    text += describe_delta(change);
  }
  text += growth_text(diff.clocks);
  text += '\n';
  return text;
}

std::string rounds_section(const DiffReport& report) {
  if (report.rounds_differing == 0) {
    return fmt::format("All {} rounds logged have the same requests and end clocks.\n",
                       report.rounds_compared);
  }
  std::string out = fmt::format(
      "Rounds that differ: {} of the {} logged (0 to {}; requests as left -> right, clocks at the "
      "end of the round as right - left in ms){}\n",
      report.rounds_differing, report.rounds_compared, report.rounds_compared - 1,
      report.rounds.size() < report.rounds_differing
          ? fmt::format("; the first {} (--max-rounds N for more)", report.rounds.size())
          : "");
  for (const RoundDiff& diff : report.rounds) out += round_line(diff);
  return out;
}

std::string optional_number(const std::optional<uint64_t>& value) {
  return value ? fmt::format("{}", *value) : "?";
}

std::string final_section(const DiffReport& report) {
  size_t width = std::max<size_t>({12, report.left_label.size(), report.right_label.size()});
  std::string out = fmt::format("Final: {:<8} {:>{}} {:>{}} {:>12}\n", "", report.left_label, width,
                                report.right_label, width, "delta");
  std::string delta = "?";
  if (report.rounds_left && report.rounds_right) {
    auto d = static_cast<int64_t>(*report.rounds_right) - static_cast<int64_t>(*report.rounds_left);
    delta = fmt::format("{}{}", d > 0 ? "+" : "", d);
  }
  out += fmt::format("       {:<8} {:>{}} {:>{}} {:>12}\n", "rounds",
                     optional_number(report.rounds_left), width,
                     optional_number(report.rounds_right), width, delta);
  for (const ClockChange& change : report.final_clocks) {
    std::string d = change.left_us && change.right_us
                        ? format_delta_ms(*change.right_us - *change.left_us)
                        : "?";
    out += fmt::format(
        "       {:<8} {:>{}} {:>{}} {:>12}\n", fmt::format("clock {}", peer_letter(change.peer)),
        clock_or_unknown(change.left_us), width, clock_or_unknown(change.right_us), width, d);
  }
  return out;
}

nlohmann::ordered_json request_json(const std::optional<RoundRequest>& request) {
  if (!request) return nullptr;
  if (request->idle) return "IDLE";
  return {{"target", std::string(1, peer_letter(request->target))}, {"chunk", request->chunk}};
}

nlohmann::ordered_json clock_json(const std::optional<ClockUs>& clock_us) {
  if (!clock_us) return nullptr;
  return static_cast<double>(*clock_us) / 1000.0;
}

nlohmann::ordered_json section_json(int64_t section) {
  if (section == kSetupSection) return "setup";
  if (section == kEndSection) return "end";
  return section;
}

nlohmann::ordered_json component_json(const ComponentDiff& diff) {
  nlohmann::ordered_json out = {{"name", diff.name},
                                {"state", state_name(diff.state)},
                                {"lines_left", diff.lines_left},
                                {"lines_right", diff.lines_right}};
  if (diff.state != ComponentState::kDifferent) return out;
  nlohmann::ordered_json context = nlohmann::ordered_json::array();
  for (const ContextRow& row : diff.context) {
    context.push_back({{"left_line", row.left_line ? nlohmann::ordered_json(*row.left_line)
                                                   : nlohmann::ordered_json(nullptr)},
                       {"left", row.left_line ? nlohmann::ordered_json(row.left) : nullptr},
                       {"right_line", row.right_line ? nlohmann::ordered_json(*row.right_line)
                                                     : nlohmann::ordered_json(nullptr)},
                       {"right", row.right_line ? nlohmann::ordered_json(row.right) : nullptr},
                       {"differs", row.differs}});
  }
  out["first_difference"] = {
      {"index", diff.position}, {"round", section_json(diff.section)}, {"context", context}};
  return out;
}

nlohmann::ordered_json round_json(const RoundDiff& diff) {
  nlohmann::ordered_json requests = nlohmann::ordered_json::array();
  for (const RequestChange& change : diff.requests) {
    requests.push_back({{"peer", std::string(1, peer_letter(change.peer))},
                        {"left", request_json(change.left)},
                        {"right", request_json(change.right)}});
  }
  nlohmann::ordered_json clocks = nlohmann::ordered_json::array();
  for (const ClockChange& change : diff.clocks) {
    nlohmann::ordered_json delta = nullptr;
    if (change.left_us && change.right_us) delta = clock_json(*change.right_us - *change.left_us);
    clocks.push_back({{"peer", std::string(1, peer_letter(change.peer))},
                      {"left_ms", clock_json(change.left_us)},
                      {"right_ms", clock_json(change.right_us)},
                      {"delta_ms", delta},
                      {"growth_ms", clock_json(change.growth_us)}});
  }
  return {{"round", diff.round}, {"requests", requests}, {"end_clocks", clocks}};
}

}  // namespace

DiffReport diff_runs(const Run& left, const Run& right, const DiffOptions& options) {
  DiffReport report;
  report.left_label = left.label;
  report.right_label = right.label;
  KeptLines kept_left = kept_lines(left, options.filter);
  KeptLines kept_right = kept_lines(right, options.filter);
  for (const std::string& name : component_names(left, right)) {
    Side a = side_of(left, kept_left, name);
    Side b = side_of(right, kept_right, name);
    ComponentDiff diff = a.log && b.log ? compare_component(a, b, options)
                         : a.log        ? one_sided(a, ComponentState::kOnlyLeft)
                                        : one_sided(b, ComponentState::kOnlyRight);
    if (diff.state != ComponentState::kSame) report.identical = false;
    if (diff.state == ComponentState::kDifferent && diff.section >= 0 &&
        diff.section != kEndSection &&
        (!report.first_round_differing || diff.section < *report.first_round_differing)) {
      report.first_round_differing = diff.section;
    }
    report.components.push_back(std::move(diff));
  }
  RunFacts facts_left = facts_of(left, kept_left);
  RunFacts facts_right = facts_of(right, kept_right);
  report.peer_count = std::max(facts_left.peer_count, facts_right.peer_count);
  std::optional<int64_t> from_lines = report.first_round_differing;
  report.first_round_differing.reset();
  compare_rounds(facts_left, facts_right, options, report);
  if (from_lines &&
      (!report.first_round_differing || *from_lines < *report.first_round_differing)) {
    report.first_round_differing = from_lines;
  }
  compare_final(facts_left, facts_right, report);
  return report;
}

std::string render_text(const DiffReport& report) {
  std::string out =
      fmt::format("chunkex-diff: left {}, right {}: {}\n\n", report.left_label, report.right_label,
                  report.identical ? "identical" : "the runs differ");
  if (report.first_round_differing) {
    out += fmt::format("The first round that differs: {}.\n\n", *report.first_round_differing);
  }
  out += "First difference, by component:\n";
  for (const ComponentDiff& diff : report.components) out += first_difference_line(diff, report);
  for (const ComponentDiff& diff : report.components) {
    if (diff.state != ComponentState::kDifferent) continue;
    out += '\n';
    out += side_by_side(diff);
  }
  out += '\n';
  out += rounds_section(report);
  out += '\n';
  out += final_section(report);
  return out;
}

nlohmann::ordered_json render_json(const DiffReport& report) {
  nlohmann::ordered_json components = nlohmann::ordered_json::array();
  for (const ComponentDiff& diff : report.components) components.push_back(component_json(diff));
  nlohmann::ordered_json rounds = nlohmann::ordered_json::array();
  for (const RoundDiff& diff : report.rounds) rounds.push_back(round_json(diff));
  nlohmann::ordered_json clocks = nlohmann::ordered_json::object();
  for (const ClockChange& change : report.final_clocks) {
    nlohmann::ordered_json delta = nullptr;
    if (change.left_us && change.right_us) delta = clock_json(*change.right_us - *change.left_us);
    clocks[std::string(1, peer_letter(change.peer))] = {{"left_ms", clock_json(change.left_us)},
                                                        {"right_ms", clock_json(change.right_us)},
                                                        {"delta_ms", delta}};
  }
  auto rounds_of = [](const std::optional<uint64_t>& n) {
    return n ? nlohmann::ordered_json(*n) : nlohmann::ordered_json(nullptr);
  };
  return {{"left", report.left_label},
          {"right", report.right_label},
          {"identical", report.identical},
          {"components", components},
          {"first_round_differing", report.first_round_differing
                                        ? nlohmann::ordered_json(*report.first_round_differing)
                                        : nlohmann::ordered_json(nullptr)},
          {"rounds",
           {{"compared", report.rounds_compared},
            {"differing", report.rounds_differing},
            {"shown", rounds}}},
          {"final",
           {{"rounds",
             {{"left", rounds_of(report.rounds_left)}, {"right", rounds_of(report.rounds_right)}}},
            {"clocks", clocks}}}};
}

}  // namespace chunkex
