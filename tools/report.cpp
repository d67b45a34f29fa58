// chunkex-report: a run seen whole. Writes one self-contained HTML page (run
// summary, a space-time diagram of a window of rounds, each peer's clock
// against the round; with two runs, how they differ and both diagrams of the
// first round that differs), and/or a ShiViz log of the window with vector
// clocks derived from the messages.
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "common/io/cli.h"
#include "common/io/log_file.h"
#include "tools/analysis/html_report.h"
#include "tools/analysis/run_log.h"
#include "tools/analysis/shiviz.h"
#include "tools/analysis/space_time.h"

namespace {

struct Flags {
  std::vector<std::string> log_dirs;
  std::optional<std::string> html_path;
  std::optional<std::string> shiviz_path;
  std::string rounds{chunkex::kDefaultRounds};
  size_t page_events = chunkex::kEventsEmbeddedMax;
};

void add_flags(CLI::App& app, Flags& flags) {
  app.add_option("LOGDIR", flags.log_dirs, "a run's log directory; a second one to compare with")
      ->required()
      ->expected(1, 2);
  app.add_option("-o,--output", flags.html_path, "write the HTML report to FILE.html");
  app.add_option("--shiviz", flags.shiviz_path,
                 "write a ShiViz log (vector clocks from the messages) to FILE");
  app.add_option("--rounds", flags.rounds,
                 "rounds to draw or export: FROM-TO[,FROM-TO...], 'last' for the last round")
      ->capture_default_str();
  app.add_option("--page-events", flags.page_events,
                 "events of each run the page carries (the window's first, then the rounds around "
                 "it); the page says when a round asked for is not among them")
      ->check(CLI::Range(size_t{100}, size_t{1000000}))
      ->capture_default_str();
}

std::vector<chunkex::Run> load_runs(const std::vector<std::string>& dirs) {
  std::vector<chunkex::Run> runs;
  for (const std::string& dir : dirs) {
    auto run = chunkex::load_run(dir);
    if (!run.ok()) throw std::runtime_error(run.error);
    if (!run.value->from_directory) {
      throw std::runtime_error(
          fmt::format("{}: give a log directory (Server.txt, ClientA.txt, ...)", dir));
    }
    runs.push_back(std::move(*run.value));
  }
  return runs;
}

void write_html(const std::vector<const chunkex::Run*>& runs, const Flags& flags) {
  chunkex::ReportOptions options;
  options.rounds = flags.rounds;
  options.events_embedded_max = flags.page_events;
  auto page = chunkex::html_report(runs, options);
  if (!page.ok()) throw std::runtime_error(page.error);
  chunkex::write_file_atomically(*flags.html_path, *page.value);
  fmt::print("report written to {} ({} bytes)\n", *flags.html_path, page.value->size());
}

void write_shiviz(const std::vector<const chunkex::Run*>& runs, const Flags& flags) {
  std::vector<chunkex::RoundWindow> windows;
  for (const chunkex::Run* run : runs) {
    auto window = chunkex::RoundWindow::parse(flags.rounds, run->rounds_logged());
    if (!window.ok()) throw std::runtime_error(window.error);
    windows.push_back(std::move(*window.value));
  }
  chunkex::ShivizExport out = chunkex::shiviz_export(runs, windows, chunkex::kShivizEventsMax);
  for (const std::string& notice : out.notices) fmt::print(stderr, "chunkex-report: {}\n", notice);
  chunkex::write_file_atomically(*flags.shiviz_path, out.text);
  fmt::print("ShiViz log written to {} (rounds {})\n", *flags.shiviz_path, flags.rounds);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chunkex run report: an HTML page of one run or two, and a ShiViz export",
               "chunkex-report"};
  app.footer(
      "Examples:\n"
      "  chunkex-report logs -o report.html\n"
      "  chunkex-report runs/a runs/b -o compare.html --rounds 0-5,last\n"
      "  chunkex-report --shiviz run.shiviz logs --rounds 0-2");
  Flags flags;
  add_flags(app, flags);
  return chunkex::run_main(app, argc, argv, [&] {
    if (!flags.html_path && !flags.shiviz_path) {
      throw std::runtime_error("say what to write: -o FILE.html and/or --shiviz FILE");
    }
    std::vector<chunkex::Run> runs = load_runs(flags.log_dirs);
    std::vector<const chunkex::Run*> pointers;
    for (const chunkex::Run& run : runs) pointers.push_back(&run);
    if (flags.html_path) write_html(pointers, flags);
    if (flags.shiviz_path) write_shiviz(pointers, flags);
    return 0;
  });
}
