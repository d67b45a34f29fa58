// The run report: one self-contained HTML page (CSS, SVG and script inline;
// nothing is fetched when it opens) with the run summary, a space-time
// diagram of a window of rounds that can be moved in the page, each peer's
// clock against the round, and for two runs their comparison (log_diff.h)
// and both runs' diagrams of the first round that differs, side by side.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tools/analysis/run_log.h"

namespace chunkex {

// Events of one run the page carries, so that it opens fast: the window's
// rounds first, then the rounds around them. Rounds beyond are drawn with
// another --rounds.
inline constexpr size_t kEventsEmbeddedMax = 20000;
// Arrows one diagram draws at most.
inline constexpr size_t kArrowsDrawnMax = 3000;
// Points of a clock-against-round curve (every k-th round beyond that).
inline constexpr size_t kPlotPointsMax = 600;

struct ReportOptions {
  std::string rounds = "0-2,last";  // the window drawn first (--rounds)
  size_t events_embedded_max = kEventsEmbeddedMax;
};

// One run, or two to compare. The error names a bad --rounds.
OrError<std::string> html_report(const std::vector<const Run*>& runs, const ReportOptions& options);

// The page's stylesheet and script (report_page.cpp).
extern const char* const kReportCss;
extern const char* const kReportScript;

}  // namespace chunkex
