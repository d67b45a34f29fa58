#include "tools/analysis/html_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tools/analysis/log_diff.h"
#include "tools/analysis/space_time.h"

namespace chunkex {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kPalette[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                         "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};

std::string_view color_of(size_t peer) {
  return kPalette[peer % std::size(kPalette)];
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// JSON inside <script>: no "<" may end the element early.
std::string script_json(const Json& json) {
  std::string text = json.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else {
      out += c;
    }
  }
  return out;
}

std::string bytes_text(double bytes) {
  constexpr std::string_view kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  size_t unit = 0;
  while (bytes >= 1000 && unit + 1 < std::size(kUnits)) {
    bytes /= 1000;
    ++unit;
  }
  return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

// ------------------------------------------------------------ summary ---

struct RunView {
  const Run* run = nullptr;
  RunFacts facts;
};

std::string outcome_of(const RunView& view) {
  const auto& summary = view.run->summary;
  if (summary && summary->contains("success")) {
    if (summary->value("success", false)) return "complete";
    return "failed: " + summary->value("failure", std::string("(no reason recorded)"));
  }
  for (const ComponentLog& log : view.run->components) {
    for (size_t i = log.size(); i-- > 0;) {
      if (log.brief(i).kind == LogEventKind::kError) {
        return "error: " + std::string(log.event(i).detail);
      }
    }
  }
  return view.facts.final_clocks_us ? "complete (from the logs)" : "not finished (from the logs)";
}

// Files verified, by receiver then owner: from summary.json, else from the
// peers' "file of X complete" lines.
std::vector<std::vector<std::string>> verification_of(const RunView& view) {
  size_t n = view.facts.peer_count;
  std::vector<std::vector<std::string>> table(n, std::vector<std::string>(n, "missing"));
  const auto& summary = view.run->summary;
  bool from_summary = summary && summary->contains("received");
  for (size_t r = 0; r < n; ++r) {
    table[r][r] = "";
    for (size_t o = 0; o < n && from_summary; ++o) {
      if (o == r) continue;
      const Json empty;
      std::string receiver = peer_name(static_cast<PeerIndex>(r));
      std::string owner = peer_name(static_cast<PeerIndex>(o));
      const auto& received = (*summary)["received"];
      if (received.contains(receiver) && received[receiver].contains(owner)) {
        table[r][o] = received[receiver][owner].get<std::string>();
      }
    }
  }
  if (from_summary) return table;
  for (const ComponentLog& log : view.run->components) {
    for (size_t i = 0; i < log.size(); ++i) {
      const CompactEvent& e = log.brief(i);
      if (e.kind == LogEventKind::kFileComplete && e.peer < n && e.target < n) {
        table[e.peer][e.target] = "verified";
      }
    }
  }
  return table;
}

std::string verified_count(const std::vector<std::vector<std::string>>& table) {
  size_t verified = 0;
  size_t total = 0;
  for (size_t r = 0; r < table.size(); ++r) {
    for (size_t o = 0; o < table.size(); ++o) {
      if (o == r) continue;
      ++total;
      if (table[r][o] == "verified") ++verified;
    }
  }
  return fmt::format("{} of {}", verified, total);
}

// A live run's wall time; a simulated one (chunkex-sim) has none, but may
// predict one from its link model.
std::string wall_time(const std::optional<nlohmann::json>& summary) {
  if (!summary) return "not recorded (no summary.json)";
  if (summary->contains("wall_seconds")) {
    return fmt::format("{:.3f} s", (*summary)["wall_seconds"].get<double>());
  }
  if (summary->contains("predicted_wall_seconds")) {
    return fmt::format("simulated run: {:.3f} s predicted from its link model",
                       (*summary)["predicted_wall_seconds"].get<double>());
  }
  if (summary->contains("simulator_seconds")) return "simulated run (chunkex-sim): none";
  return "not recorded";
}

std::string summary_value(const RunView& view, std::string_view row) {
  const auto& summary = view.run->summary;
  if (row == "rounds") {
    if (summary && summary->contains("rounds"))
      return fmt::format("{}", (*summary)["rounds"].get<uint64_t>());
    return view.facts.rounds_moved ? fmt::format("{}", *view.facts.rounds_moved) : "?";
  }
  if (row == "wall") return wall_time(summary);
  if (row == "bytes") {
    if (!summary || !summary->contains("bytes_relayed")) return "not recorded (no summary.json)";
    const auto& relayed = (*summary)["bytes_relayed"];
    return fmt::format("{} ({} in, {} out)", bytes_text(relayed.value("total", 0.0)),
                       bytes_text(relayed.value("received", 0.0)),
                       bytes_text(relayed.value("sent", 0.0)));
  }
  if (row == "faults" && summary) {
    return fmt::format("{} disconnects, {} reconnects, {} rejected connections",
                       summary->value("disconnects", 0), summary->value("reconnects", 0),
                       summary->value("rejected_connections", 0));
  }
  return row == "faults" ? "not recorded" : "";
}

std::string final_clock(const RunView& view, size_t peer) {
  const auto& clocks = view.facts.final_clocks_us;
  return clocks && peer < clocks->size() ? format_clock_ms((*clocks)[peer]) : "?";
}

std::string summary_table(const std::vector<RunView>& views) {
  std::string html = "<table class=\"summary\"><tr><th></th>";
  for (const RunView& view : views) html += "<th>" + escape(view.run->label) + "</th>";
  html += "</tr>\n";
  auto row = [&](std::string_view title, auto&& value_of) {
    html += fmt::format("<tr><th>{}</th>", title);
    for (const RunView& view : views) html += "<td>" + escape(value_of(view)) + "</td>";
    html += "</tr>\n";
  };
  row("outcome", [](const RunView& v) { return outcome_of(v); });
  row("rounds", [](const RunView& v) { return summary_value(v, "rounds"); });
  size_t peers = 0;
  for (const RunView& view : views) peers = std::max(peers, view.facts.peer_count);
  for (size_t p = 0; p < peers; ++p) {
    row(fmt::format("final clock {} (ms)", peer_letter(static_cast<PeerIndex>(p))),
        [&](const RunView& v) { return final_clock(v, p); });
  }
  row("wall time", [](const RunView& v) { return summary_value(v, "wall"); });
  row("bytes relayed", [](const RunView& v) { return summary_value(v, "bytes"); });
  row("files verified", [](const RunView& v) { return verified_count(verification_of(v)); });
  row("faults", [](const RunView& v) { return summary_value(v, "faults"); });
  return html + "</table>\n";
}

std::string received_table(const RunView& view) {
  auto table = verification_of(view);
  std::string html = fmt::format(
      "<table class=\"received\"><caption>{}: receiver (row) holds the file of owner "
      "(column)</caption><tr><th></th>",
      escape(view.run->label));
  for (size_t o = 0; o < table.size(); ++o)
    html += fmt::format("<th>{}</th>", peer_letter(static_cast<PeerIndex>(o)));
  html += "</tr>\n";
  for (size_t r = 0; r < table.size(); ++r) {
    html += fmt::format("<tr><th>{}</th>", peer_letter(static_cast<PeerIndex>(r)));
    for (size_t o = 0; o < table.size(); ++o) {
      html += fmt::format("<td class=\"{}\">{}</td>", table[r][o], escape(table[r][o]));
    }
    html += "</tr>\n";
  }
  return html + "</table>\n";
}

// -------------------------------------------------------------- plots ---

struct Series {
  std::string name;
  std::string_view color;
  bool dashed = false;
  std::vector<std::pair<double, double>> points;  // (round, ms)
};

// A "nice" tick step (1, 2 or 5 times a power of ten) for about 5 ticks.
double tick_step(double span) {
  if (span <= 0) return 1;
  double raw = span / 5;
  double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * power) return m * power;
  }
  return 10 * power;
}

struct Bounds {
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
};

Bounds bounds_of(const std::vector<Series>& series) {
  Bounds b{0, 0, 0, 0};
  bool first = true;
  for (const Series& s : series) {
    for (auto [x, y] : s.points) {
      if (first) b = {x, x, y, y};
      first = false;
      b.x_min = std::min(b.x_min, x);
      b.x_max = std::max(b.x_max, x);
      b.y_min = std::min(b.y_min, y);
      b.y_max = std::max(b.y_max, y);
    }
  }
  if (b.x_max <= b.x_min) b.x_max = b.x_min + 1;
  if (b.y_max <= b.y_min) b.y_max = b.y_min + 1;
  return b;
}

std::string axes(const Bounds& b, double width, double height, double left, double top,
                 std::string_view y_label) {
  std::string svg = fmt::format(
      "<line class=\"axis\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\"/>"
      "<line class=\"axis\" x1=\"{0}\" y1=\"{2}\" x2=\"{3}\" y2=\"{2}\"/>",
      left, top, top + height, left + width);
  double x_step = std::max(1.0, std::round(tick_step(b.x_max - b.x_min)));
  for (double x = std::ceil(b.x_min / x_step) * x_step; x <= b.x_max; x += x_step) {
    double px = left + (x - b.x_min) / (b.x_max - b.x_min) * width;
    svg += fmt::format("<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\">{}</text>", px,
                       top + height + 14, static_cast<int64_t>(x));
  }
  double y_step = tick_step(b.y_max - b.y_min);
  for (double y = std::ceil(b.y_min / y_step) * y_step; y <= b.y_max; y += y_step) {
    double py = top + height - (y - b.y_min) / (b.y_max - b.y_min) * height;
    svg += fmt::format(
        "<text class=\"tick y\" x=\"{:.1f}\" y=\"{:.1f}\">{:g}</text>"
        "<line class=\"grid\" x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\"/>",
        left - 4, py + 4, y, left, py, left + width, py);
  }
  svg += fmt::format("<text class=\"label\" x=\"{:.1f}\" y=\"{:.1f}\">round</text>",
                     left + width / 2, top + height + 30);
  svg += fmt::format("<text class=\"label\" x=\"{:.1f}\" y=\"{:.1f}\">{}</text>", left, top - 8,
                     escape(y_label));
  return svg;
}

std::string plot(const std::vector<Series>& series, std::string_view y_label) {
  constexpr double kWidth = 640, kHeight = 260, kLeft = 80, kTop = 24;
  Bounds b = bounds_of(series);
  std::string svg = fmt::format(
      "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\">",
      kLeft + kWidth + 150, kTop + kHeight + 40);
  svg += axes(b, kWidth, kHeight, kLeft, kTop, y_label);
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    std::string points;
    for (auto [x, y] : s.points) {
      points += fmt::format("{:.1f},{:.1f} ", kLeft + (x - b.x_min) / (b.x_max - b.x_min) * kWidth,
                            kTop + kHeight - (y - b.y_min) / (b.y_max - b.y_min) * kHeight);
    }
    svg += fmt::format(
        "<polyline class=\"curve{}\" stroke=\"{}\" points=\"{}\"><title>{}</title></polyline>",
        s.dashed ? " dashed" : "", s.color, points, escape(s.name));
    double legend_y = kTop + 14 + static_cast<double>(i) * 16;
    svg += fmt::format(
        "<line class=\"curve{}\" stroke=\"{}\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>"
        "<text class=\"legend\" x=\"{}\" y=\"{}\">{}</text>",
        s.dashed ? " dashed" : "", s.color, kLeft + kWidth + 10, legend_y - 4, kLeft + kWidth + 30,
        legend_y - 4, kLeft + kWidth + 34, legend_y, escape(s.name));
  }
  return svg + "</svg>\n";
}

// Every k-th round, so that a curve has at most kPlotPointsMax points (the
// last round always).
std::vector<size_t> plotted_rounds(size_t rounds) {
  std::vector<size_t> picked;
  size_t step = std::max<size_t>(1, (rounds + kPlotPointsMax - 1) / kPlotPointsMax);
  for (size_t r = 0; r < rounds; r += step) picked.push_back(r);
  if (rounds > 0 && picked.back() != rounds - 1) picked.push_back(rounds - 1);
  return picked;
}

std::string clock_plot(const std::vector<RunView>& views) {
  std::vector<Series> series;
  for (size_t v = 0; v < views.size(); ++v) {
    const RunFacts& facts = views[v].facts;
    for (size_t p = 0; p < facts.peer_count; ++p) {
      Series s{fmt::format("{}{}", peer_letter(static_cast<PeerIndex>(p)),
                           views.size() > 1 ? fmt::format(" (run {})", v + 1) : ""),
               color_of(p),
               v > 0,
               {}};
      for (size_t r : plotted_rounds(facts.rounds.size())) {
        const auto& clock = facts.rounds[r].end_clocks_us[p];
        if (clock)
          s.points.emplace_back(static_cast<double>(r), static_cast<double>(*clock) / 1000);
      }
      series.push_back(std::move(s));
    }
  }
  return plot(series, "clock at the end of the round (ms)");
}

// Two runs: each peer's clock difference (run 2 - run 1) against the round.
std::string delta_plot(const RunView& left, const RunView& right) {
  std::vector<Series> series;
  size_t rounds = std::min(left.facts.rounds.size(), right.facts.rounds.size());
  size_t peers = std::min(left.facts.peer_count, right.facts.peer_count);
  for (size_t p = 0; p < peers; ++p) {
    Series s{peer_name(static_cast<PeerIndex>(p)), color_of(p), false, {}};
    for (size_t r : plotted_rounds(rounds)) {
      const auto& a = left.facts.rounds[r].end_clocks_us[p];
      const auto& b = right.facts.rounds[r].end_clocks_us[p];
      if (a && b)
        s.points.emplace_back(static_cast<double>(r), static_cast<double>(*b - *a) / 1000);
    }
    series.push_back(std::move(s));
  }
  return plot(series, "clock difference, run 2 - run 1 (ms)");
}

// ------------------------------------------------ embedded diagram data ---

// Server in the middle: every arrow goes to or from it.
std::vector<size_t> lane_order(const Run& run) {
  std::vector<size_t> peers;
  std::optional<size_t> server;
  for (size_t c = 0; c < run.components.size(); ++c) {
    if (run.components[c].is_server()) {
      server = c;
    } else {
      peers.push_back(c);
    }
  }
  std::vector<size_t> lanes(peers.begin(),
                            peers.begin() + static_cast<ptrdiff_t>(peers.size() / 2));
  if (server) lanes.push_back(*server);
  lanes.insert(lanes.end(), peers.begin() + static_cast<ptrdiff_t>(peers.size() / 2), peers.end());
  return lanes;
}

// The window first (and a round the page must show), then the rounds after
// the window's first round, then those before it, while the cap allows.
std::vector<int64_t> sections_to_embed(const RoundWindow& window, int64_t also_round,
                                       uint64_t rounds_logged) {
  std::vector<int64_t> sections = window.sections();
  auto add = [&](int64_t section) {
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      sections.push_back(section);
    }
  };
  if (also_round != kNoRound) {
    if (also_round == 0) add(kSetupSection);
    add(also_round);
  }
  int64_t first = 0;
  for (int64_t section : window.sections()) {
    if (section >= 0 && section != kEndSection) {
      first = section;
      break;
    }
  }
  auto last = static_cast<int64_t>(rounds_logged) - 1;
  for (int64_t r = first; r <= last; ++r) add(r);
  for (int64_t r = first; r-- > 0;) add(r);
  add(kSetupSection);
  add(kEndSection);
  return sections;
}

Json section_key(int64_t section) {
  if (section == kSetupSection) return "setup";
  if (section == kEndSection) return "end";
  return section;
}

// The taken sections, each with its events (lane, clock, line) in causal
// order and its messages (type, send, receive) as indices into them.
Json sections_json(const Run& run, const SpaceTime& picture, const std::vector<size_t>& lanes) {
  std::vector<size_t> lane_of(run.components.size());
  for (size_t l = 0; l < lanes.size(); ++l) lane_of[lanes[l]] = l;
  std::map<int64_t, Json> events;
  std::map<int64_t, std::map<uint64_t, size_t>> index_of;  // packed ref -> index in its section
  auto section_of = [&](EventRef ref) { return run.components[ref.component].section(ref.index); };
  for (EventRef ref : picture.events) {
    int64_t section = section_of(ref);
    Json& list = events[section];
    index_of[section][(uint64_t{ref.component} << 32) | ref.index] = list.size();
    const ComponentLog& log = run.components[ref.component];
    list.push_back({lane_of[ref.component], format_clock_ms(log.brief(ref.index).clock_us),
                    std::string(log.line(ref.index))});
  }
  std::map<int64_t, Json> messages;
  for (const Message& m : picture.messages) {
    int64_t section = section_of(m.send);
    auto& indices = index_of[section];
    messages[section].push_back(
        {std::string(m.type), indices.at((uint64_t{m.send.component} << 32) | m.send.index),
         indices.at((uint64_t{m.receive.component} << 32) | m.receive.index)});
  }
  Json sections = Json::array();
  std::vector<int64_t> taken = picture.sections;
  std::sort(taken.begin(), taken.end());
  for (int64_t section : taken) {
    sections.push_back({{"key", section_key(section)},
                        {"events", events.count(section) ? events[section] : Json::array()},
                        {"messages", messages.count(section) ? messages[section] : Json::array()}});
  }
  return sections;
}

// `divergent`: a round the page must hold (kNoRound: none).
Json run_json(const Run& run, const RoundWindow& window, int64_t divergent, size_t events_max) {
  std::vector<size_t> lanes = lane_order(run);
  uint64_t rounds = run.rounds_logged();
  SpaceTime picture = space_time(run, sections_to_embed(window, divergent, rounds), events_max);
  Json lane_names = Json::array();
  for (size_t c : lanes) lane_names.push_back(run.components[c].name());
  return {{"label", run.label},
          {"lanes", lane_names},
          {"lastRound", static_cast<int64_t>(rounds) - 1},
          {"window", window.text()},
          {"cap", events_max},
          {"arrowsMax", kArrowsDrawnMax},
          {"capped", picture.capped},
          {"sections", sections_json(run, picture, lanes)}};
}

// --------------------------------------------------------------- page ---

std::string diff_section(const DiffReport& report) {
  std::string html = "<section id=\"diff\"><h2>How the runs differ</h2>\n";
  html += "<p>The report of <code>chunkex-diff " + escape(report.left_label) + " " +
          escape(report.right_label) + "</code>:</p>\n";
  html += "<pre class=\"diff\">" + escape(render_text(report)) + "</pre>\n";
  if (report.first_round_differing) {
    html += fmt::format(
        "<h2 id=\"divergence-title\" data-round=\"{0}\">The first round that differs: round "
        "{0}</h2>\n<p>Messages whose log lines differ between the runs are drawn bold and "
        "underlined.</p>\n"
        "<div class=\"pair\"><div class=\"diagram\" id=\"divergence-0\"></div>"
        "<div class=\"diagram\" id=\"divergence-1\"></div></div>\n",
        *report.first_round_differing);
  }
  return html + "</section>\n";
}

std::string diagram_section(const std::vector<RunView>& views, const std::string& rounds) {
  std::string html = fmt::format(
      "<section id=\"spacetime\"><h2>Space-time diagram</h2>\n"
      "<p>One lane per component; every message an arrow from the line its sender logged to the "
      "line its receiver logged, labelled with its type and the sender's clock (ms). Hover over "
      "an arrow or a dot for the log lines.</p>\n"
      "<div class=\"controls\"><label>rounds <input id=\"rounds\" value=\"{}\" "
      "size=\"24\"></label> "
      "<button id=\"draw\">draw</button> <button id=\"earlier\">&#9664; earlier</button> "
      "<button id=\"later\">later &#9654;</button> <span class=\"hint\">FROM-TO[,FROM-TO...], "
      "'last' for the last round; the page's address may end in #rounds=FROM-TO</span></div>\n<p "
      "id=\"notice\" class=\"notice\"></p>\n"
      "<div class=\"pair\">",
      escape(rounds));
  for (size_t v = 0; v < views.size(); ++v) {
    html += fmt::format("<div class=\"diagram\" id=\"diagram-{}\"></div>", v);
  }
  return html + "</div>\n</section>\n";
}

std::string page(const std::vector<RunView>& views, const std::optional<DiffReport>& diff,
                 const std::vector<Json>& data, const std::string& rounds) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"generator\" content=\"chunkex-report\">\n<title>chunkex run report</title>\n"
      "<style>\n";
  html += kReportCss;
  html += "</style></head>\n<body data-status=\"loading\">\n<h1>chunkex run report</h1>\n";
  html += "<section id=\"summary\"><h2>Summary</h2>\n" + summary_table(views);
  html += "<details><summary>Received files</summary>\n";
  for (const RunView& view : views) html += received_table(view);
  html += "</details></section>\n";
  if (diff) html += diff_section(*diff);
  html += diagram_section(views, rounds);
  html += "<section id=\"clocks\"><h2>Each peer's clock against the round</h2>\n";
  html += clock_plot(views);
  if (views.size() == 2) html += delta_plot(views[0], views[1]);
  html += "</section>\n<div id=\"hover\" class=\"hover\"></div>\n";
  for (size_t v = 0; v < data.size(); ++v) {
    html +=
        fmt::format("<script type=\"application/json\" class=\"run-data\" id=\"run-data-{}\">", v);
    html += script_json(data[v]);
    html += "</script>\n";
  }
  html += "<script>\n";
  html += kReportScript;
  html += "</script>\n</body></html>\n";
  return html;
}

}  // namespace

OrError<std::string> html_report(const std::vector<const Run*>& runs,
                                 const ReportOptions& options) {
  std::vector<RunView> views;
  for (const Run* run : runs) views.push_back(RunView{run, facts_of(*run)});
  std::optional<DiffReport> diff;
  if (runs.size() == 2) diff = diff_runs(*runs[0], *runs[1], DiffOptions{});
  int64_t divergent = kNoRound;
  if (diff && diff->first_round_differing) divergent = *diff->first_round_differing;
  std::vector<Json> data;
  for (const Run* run : runs) {
    auto window = RoundWindow::parse(options.rounds, run->rounds_logged());
    if (!window.ok()) return {std::nullopt, window.error};
    data.push_back(run_json(*run, *window.value, divergent, options.events_embedded_max));
  }
  return {page(views, diff, data, options.rounds), {}};
}

}  // namespace chunkex
