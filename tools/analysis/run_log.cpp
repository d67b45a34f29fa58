#include "tools/analysis/run_log.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace chunkex {
namespace {

namespace fs = std::filesystem;

bool ends_the_log(LogEventKind kind) {
  return kind == LogEventKind::kDone || kind == LogEventKind::kFinalClocks ||
         kind == LogEventKind::kRejected || kind == LogEventKind::kRejectedMore ||
         kind == LogEventKind::kAbandoned;
}

std::string shown(std::string_view line) {
  constexpr size_t kShownMax = 80;
  std::string text(line.substr(0, kShownMax));
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return line.size() > kShownMax ? text + "..." : text;
}

// Server.txt first, then Client<ID>.txt by ID.
std::vector<std::string> log_files_in(const std::string& dir) {
  std::vector<std::string> names;
  if (fs::is_regular_file(fs::path(dir) / "Server.txt")) names.push_back("Server.txt");
  for (int i = 0; i < kMaxPeers; ++i) {
    std::string name = fmt::format("Client{}.txt", peer_letter(static_cast<PeerIndex>(i)));
    if (fs::is_regular_file(fs::path(dir) / name)) names.push_back(name);
  }
  return names;
}

OrError<nlohmann::json> read_summary(const std::string& path) {
  auto text = read_file_text(path);
  if (!text.ok()) return {std::nullopt, text.error};
  std::string_view view = text.value->view();
  auto json = nlohmann::json::parse(view.begin(), view.end(), nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return {std::nullopt, fmt::format("{}: not a chunkex summary (not a JSON object)", path)};
  }
  return {std::move(json), {}};
}

OrError<Run> load_directory(const std::string& dir) {
  Run run;
  run.label = dir;
  run.from_directory = true;
  for (const std::string& name : log_files_in(dir)) {
    std::string path = (fs::path(dir) / name).string();
    auto text = read_file_text(path);
    if (!text.ok()) return {std::nullopt, text.error};
    auto log = ComponentLog::parse(path, std::move(*text.value));
    if (!log.ok()) return {std::nullopt, log.error};
    run.components.push_back(std::move(*log.value));
  }
  if (run.components.empty()) {
    return {std::nullopt, fmt::format("{}: no chunkex log here (expected Server.txt, "
                                      "ClientA.txt, ...)",
                                      dir)};
  }
  std::string summary_path = (fs::path(dir) / "summary.json").string();
  if (fs::exists(summary_path)) {
    auto summary = read_summary(summary_path);
    if (!summary.ok()) return {std::nullopt, summary.error};
    run.summary = std::move(summary.value);
  }
  return {std::move(run), {}};
}

// Peer letters end "A=.. B=..": how many peers the logs speak of.
size_t peer_count_of(const Run& run) {
  size_t count = 0;
  for (const ComponentLog& log : run.components) {
    if (!log.is_server()) {
      auto peer = peer_from_name(log.name());
      if (peer) count = std::max<size_t>(count, *peer + 1u);
      continue;
    }
    for (size_t i = 0; i < log.size(); ++i) {
      if (log.brief(i).kind == LogEventKind::kStart) {
        return static_cast<size_t>(log.event(i).numbers[0]);
      }
      if (log.brief(i).round != kNoRound) break;
    }
  }
  return count;
}

RoundFacts& round_at(RunFacts& facts, int64_t round) {
  auto index = static_cast<size_t>(round);
  while (facts.rounds.size() <= index) {
    facts.rounds.push_back(RoundFacts{std::vector<std::optional<RoundRequest>>(facts.peer_count),
                                      std::vector<std::optional<ClockUs>>(facts.peer_count)});
  }
  return facts.rounds[index];
}

// What one line says about its round; a peer's log speaks for that peer
// only. Round numbers above `rounds_max` (more than the logs have lines) are
// not believed.
void note_event(const ComponentLog& log, size_t i, RunFacts& facts,
                std::vector<std::optional<ClockUs>>& sync_us, int64_t rounds_max) {
  const CompactEvent& event = log.brief(i);
  if (event.round > rounds_max) return;
  switch (event.kind) {
    case LogEventKind::kFinalClocks:
      if (!facts.final_clocks_us) facts.final_clocks_us = parse_clocks(log.event(i).detail);
      return;
    case LogEventKind::kAllIdle:
      if (!facts.rounds_moved) facts.rounds_moved = static_cast<uint64_t>(event.round);
      return;
    case LogEventKind::kSync: {
      auto r = static_cast<size_t>(event.round);
      if (sync_us.size() <= r) sync_us.resize(r + 1);
      sync_us[r] = event.value_us;
      return;
    }
    default:
      break;
  }
  if (event.round == kNoRound || event.peer >= facts.peer_count) return;
  RoundFacts& round = round_at(facts, event.round);
  std::optional<RoundRequest>& request = round.requests[event.peer];
  if (event.kind == LogEventKind::kRequest && !request) {
    request = RoundRequest{false, event.target, event.chunk};
  } else if (event.kind == LogEventKind::kIdle && !request) {
    request = RoundRequest{};
  } else if (event.kind == LogEventKind::kSendChunk && !round.end_clocks_us[event.peer]) {
    round.end_clocks_us[event.peer] = event.clock_us;
  }
}

// A peer that received nothing in a round ends it at the round's last sync
// (docs/DESIGN.md §3, step 5); a round of IDLE requests only moves no clock.
// Without the server's log an idle peer's clock is not known.
void fill_end_clocks(RunFacts& facts, const std::vector<std::optional<ClockUs>>& sync_us) {
  for (size_t r = 0; r < facts.rounds.size(); ++r) {
    RoundFacts& round = facts.rounds[r];
    bool all_idle = std::all_of(round.requests.begin(), round.requests.end(),
                                [](const auto& request) { return request && request->idle; });
    for (size_t p = 0; p < facts.peer_count; ++p) {
      if (round.end_clocks_us[p] || !round.requests[p]) continue;
      if (r < sync_us.size() && sync_us[r]) {
        round.end_clocks_us[p] = sync_us[r];
      } else if (all_idle) {
        round.end_clocks_us[p] = r > 0 ? facts.rounds[r - 1].end_clocks_us[p] : 0;
      }
    }
  }
}

}  // namespace

FileText& FileText::operator=(FileText&& other) noexcept {
  std::swap(bytes_, other.bytes_);
  std::swap(size_, other.size_);
  return *this;
}

FileText::~FileText() {
  if (size_ > 0) munmap(const_cast<char*>(bytes_), size_);
}

OrError<FileText> read_file_text(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {std::nullopt, fmt::format("{}: cannot open: {}", path, std::strerror(errno))};
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return {std::nullopt, fmt::format("{}: not a regular file", path)};
  }
  auto size = static_cast<uint64_t>(info.st_size);
  if (size > kLogBytesMax) {
    ::close(fd);
    return {std::nullopt,
            fmt::format("{}: {} bytes is more than a log may have ({})", path, size, kLogBytesMax)};
  }
  if (size == 0) {
    ::close(fd);
    return {FileText{}, {}};
  }
  void* bytes = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  ::close(fd);
  if (bytes == MAP_FAILED) {
    return {std::nullopt, fmt::format("{}: cannot map: {}", path, std::strerror(errno))};
  }
  return {FileText{static_cast<const char*>(bytes), size}, {}};
}

OrError<ComponentLog> ComponentLog::parse(std::string path, FileText text) {
  ComponentLog log;
  log.path_ = std::move(path);
  log.text_ = std::move(text);
  std::string_view all = log.text_.view();
  size_t lines = static_cast<size_t>(std::count(all.begin(), all.end(), '\n')) + 1;
  log.events_.reserve(lines);
  log.line_starts_.reserve(lines + 1);
  log.sections_.reserve(lines);
  int64_t section = kSetupSection;
  size_t start = 0;
  while (start < all.size()) {
    size_t end = std::min(all.find('\n', start), all.size());
    std::string_view line = all.substr(start, end - start);
    auto event = parse_log_line(line);
    if (!event) {
      return {std::nullopt, fmt::format("{} line {}: not a chunkex log line: \"{}\"", log.path_,
                                        log.events_.size() + 1, shown(line))};
    }
    if (log.name_.empty()) log.name_ = std::string(event->component);
    if (event->component != log.name_) {
      return {std::nullopt, fmt::format("{} line {}: a line of [{}] in the log of [{}]", log.path_,
                                        log.events_.size() + 1, event->component, log.name_)};
    }
    if (event->round != kNoRound) section = event->round;
    if (ends_the_log(event->kind)) section = kEndSection;
    log.events_.push_back(CompactEvent{event->clock_us, event->round, event->value_us, event->chunk,
                                       event->kind, event->peer, event->target});
    log.line_starts_.push_back(static_cast<uint32_t>(start));
    log.sections_.push_back(section);
    start = end + 1;
  }
  log.line_starts_.push_back(static_cast<uint32_t>(start));
  return {std::move(log), {}};
}

LogEvent ComponentLog::event(size_t i) const {
  auto event = parse_log_line(line(i));
  return event ? *event : LogEvent{};  // every line parsed when the log was read
}

OrError<LineFilter> LineFilter::compile(const std::string& pattern) {
  auto compiled = std::make_unique<regex_t>();
  int status = regcomp(compiled.get(), pattern.c_str(), REG_EXTENDED | REG_NOSUB);
  if (status != 0) {
    char why[256];
    regerror(status, compiled.get(), why, sizeof why);
    return {std::nullopt, fmt::format("'{}' is not a regular expression: {}", pattern, why)};
  }
  LineFilter filter;
  filter.pattern_ = std::shared_ptr<const regex_t>(compiled.release(), [](const regex_t* p) {
    regfree(const_cast<regex_t*>(p));
    delete p;
  });
  return {std::move(filter), {}};
}

bool LineFilter::keeps(std::string_view line) const {
  if (!pattern_) return true;
  // REG_STARTEND: the line need not end in a NUL (it is a view of the file).
  regmatch_t range{0, static_cast<regoff_t>(line.size())};
  return regexec(pattern_.get(), line.data(), 1, &range, REG_STARTEND) != 0;
}

KeptLines kept_lines(const Run& run, const LineFilter& filter) {
  KeptLines kept;
  if (!filter.active()) return kept;
  for (const ComponentLog& log : run.components) {
    std::vector<bool>& mask = kept.emplace_back(log.size());
    for (size_t i = 0; i < log.size(); ++i) mask[i] = filter.keeps(log.line(i));
  }
  return kept;
}

const ComponentLog* Run::component(std::string_view name) const {
  for (const ComponentLog& log : components) {
    if (log.name() == name) return &log;
  }
  return nullptr;
}

uint64_t Run::rounds_logged() const {
  int64_t highest = kNoRound;
  for (const ComponentLog& log : components) {
    for (size_t i = log.size(); i-- > 0;) {
      if (log.brief(i).round != kNoRound) {
        highest = std::max(highest, log.brief(i).round);
        break;
      }
    }
  }
  return static_cast<uint64_t>(highest + 1);
}

OrError<Run> load_run(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return {std::nullopt, fmt::format("{}: no such file or directory", path)};
  if (fs::is_directory(path, ec)) return load_directory(path);
  auto text = read_file_text(path);
  if (!text.ok()) return {std::nullopt, text.error};
  auto log = ComponentLog::parse(path, std::move(*text.value));
  if (!log.ok()) return {std::nullopt, log.error};
  if (log.value->size() == 0)
    return {std::nullopt, fmt::format("{}: empty, not a chunkex log", path)};
  Run run;
  run.label = path;
  run.components.push_back(std::move(*log.value));
  return {std::move(run), {}};
}

RunFacts facts_of(const Run& run, const KeptLines& kept) {
  RunFacts facts;
  facts.peer_count = std::min<size_t>(peer_count_of(run), kMaxPeers);
  std::vector<std::optional<ClockUs>> sync_us;
  int64_t lines = 0;
  for (const ComponentLog& log : run.components) lines += static_cast<int64_t>(log.size());
  // The server first: where it and a peer both speak, the server's line counts.
  for (size_t c = 0; c < run.components.size(); ++c) {
    const ComponentLog& log = run.components[c];
    for (size_t i = 0; i < log.size(); ++i) {
      if (!kept.empty() && !kept[c][i]) continue;
      note_event(log, i, facts, sync_us, lines);
    }
  }
  fill_end_clocks(facts, sync_us);
  return facts;
}

std::string describe_section(int64_t section) {
  if (section == kSetupSection) return "before round 0";
  if (section == kEndSection) return "after the last round";
  return fmt::format("round {}", section);
}

std::string format_delta_ms(ClockUs delta_us) {
  std::string text = format_clock_ms(delta_us);
  if (delta_us > 0) text.insert(text.begin(), '+');
  return text;
}

}  // namespace chunkex
