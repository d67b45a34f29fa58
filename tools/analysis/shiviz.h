// A ShiViz log (https://bestchai.bitbucket.io/shiviz/) of one or two runs:
// the first line is the regular expression that parses an event, the second
// the delimiter between executions, then each execution as
//
//   === <label> ===
//   <the log line>
//   <host> {"<host>": n, ...}
//
// for every event of the window. The vector clocks come from the messages
// (space_time.h): each host's own entry counts its events from 1, and a
// receive merges the clock its sender had. The event's simulated clock (ms)
// is the field `sim_ms`. Two executions let ShiViz compare the runs pairwise
// ("Show differences").
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tools/analysis/run_log.h"
#include "tools/analysis/space_time.h"

namespace chunkex {

inline constexpr std::string_view kShivizRegex =
    R"((?<sim_ms>-?\d+\.\d+) \[[^\]]+\] (?<event>.*)\n(?<host>\S+) (?<clock>\{.*\}))";
inline constexpr std::string_view kShivizDelimiter = "=== (?<trace>.*) ===";

// Events a ShiViz export takes from one run; ShiViz itself slows down long
// before that.
inline constexpr size_t kShivizEventsMax = 100000;

struct ShivizExport {
  std::string text;
  std::vector<std::string> notices;  // windows cut short by the cap
};

// `windows[i]` chooses the rounds of `runs[i]`.
ShivizExport shiviz_export(const std::vector<const Run*>& runs,
                           const std::vector<RoundWindow>& windows, size_t events_max);

}  // namespace chunkex
