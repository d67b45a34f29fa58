// chunkex-diff: compares two runs (two log directories, or two log files) by
// component and round, and says where they first differ and why: the first
// differing round of each log with context from both sides, what differs in
// each round (requests, targets, chunks, clocks at the end of the round), and
// the final clocks and round counts side by side. Exit status as diff's:
// 0 identical, 1 different, 2 error.
#include <cstdio>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "tools/analysis/log_diff.h"
#include "tools/analysis/run_log.h"

namespace {

constexpr int kIdentical = 0;
constexpr int kDifferent = 1;
constexpr int kTrouble = 2;

struct Flags {
  std::string left;
  std::string right;
  std::optional<std::string> ignore;
  bool json = false;
  size_t max_rounds = 20;
};

void add_flags(CLI::App& app, Flags& flags) {
  app.add_option("LEFT", flags.left, "a log directory (Server.txt, ClientA.txt, ...) or a log file")
      ->required();
  app.add_option("RIGHT", flags.right, "the other run: a directory if LEFT is one, else a file")
      ->required();
  app.add_option("--ignore", flags.ignore,
                 "REGEX (POSIX extended): lines that match are left out before comparing, e.g. "
                 "'disconnected|reconnected|resumed'");
  app.add_flag("--json", flags.json, "write the report as JSON");
  app.add_option("--max-rounds", flags.max_rounds, "rounds listed in the per-round summary")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
}

int trouble(const std::string& message) {
  fmt::print(stderr, "chunkex-diff: error: {}\n", message);
  return kTrouble;
}

int compare(const Flags& flags) {
  chunkex::DiffOptions options;
  if (flags.ignore) {
    auto filter = chunkex::LineFilter::compile(*flags.ignore);
    if (!filter.ok()) return trouble("--ignore " + filter.error);
    options.filter = std::move(*filter.value);
  }
  options.rounds_shown_max = flags.max_rounds;
  auto left = chunkex::load_run(flags.left);
  if (!left.ok()) return trouble(left.error);
  auto right = chunkex::load_run(flags.right);
  if (!right.ok()) return trouble(right.error);
  if (left.value->from_directory != right.value->from_directory) {
    return trouble(fmt::format("compare two log directories or two log files, not {} and {}",
                               flags.left, flags.right));
  }
  chunkex::DiffReport report = chunkex::diff_runs(*left.value, *right.value, options);
  std::string text =
      flags.json ? chunkex::render_json(report).dump(2) + "\n" : chunkex::render_text(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return report.identical ? kIdentical : kDifferent;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chunkex run comparison: where two runs' logs first differ, round by round",
               "chunkex-diff"};
  app.footer(
      "Exit status: 0 identical, 1 different, 2 error (a missing file, or not a chunkex log).");
  Flags flags;
  add_flags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? kIdentical : kTrouble;
  }
  try {
    return compare(flags);
  } catch (const std::exception& error) {
    return trouble(error.what());
  }
}
