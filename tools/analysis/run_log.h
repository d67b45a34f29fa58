// A run's logs in memory, read through the one parser of the log format
// (common/log_format.h): each component's file read whole and parsed once,
// every event placed in its round, and the facts a comparison or a picture
// needs (each round's requests and end-of-round clocks, the final clocks).
// Used by chunkex-diff and chunkex-report.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <regex.h>

#include <nlohmann/json.hpp>

#include "common/log_format.h"

namespace chunkex {

// A value, or why there is none (std::expected comes with C++23).
template <typename T>
struct OrError {
  std::optional<T> value;
  std::string error;
  bool ok() const { return value.has_value(); }
};

// Where an event sits: before round 0, in round r (a line without a round,
// such as "file of B complete", belongs to the round before it), or after the
// last round (DONE, final clocks, rejected connections, exchange abandoned).
inline constexpr int64_t kSetupSection = -1;
inline constexpr int64_t kEndSection = std::numeric_limits<int64_t>::max();

// Logs this large are not read (the default workload's are under 13 MB);
// line offsets fit 32 bits.
inline constexpr uint64_t kLogBytesMax = uint64_t{2} << 30;

// A file's bytes, mapped whole (read-only, private): no copy, which keeps
// chunkex-diff within its time on 48 MB of logs. A log truncated while it is
// mapped (a new run writing into the same directory) ends the program with
// SIGBUS: read finished runs.
class FileText {
 public:
  FileText() = default;
  FileText(const char* bytes, size_t size) : bytes_(bytes), size_(size) {}
  FileText(FileText&& other) noexcept { *this = std::move(other); }
  FileText& operator=(FileText&& other) noexcept;
  ~FileText();
  std::string_view view() const { return {bytes_, size_}; }

 private:
  const char* bytes_ = nullptr;
  size_t size_ = 0;
};

OrError<FileText> read_file_text(const std::string& path);

// What the tools need of every event, kept for each line; the rest of a
// LogEvent is parsed again from the line when asked for (ComponentLog::event),
// which keeps two default-workload runs (800 000 lines) small in memory.
struct CompactEvent {
  ClockUs clock_us = 0;
  int64_t round = kNoRound;
  ClockUs value_us = 0;
  uint32_t chunk = 0;
  LogEventKind kind = LogEventKind::kOther;
  PeerIndex peer = kNoPeer;
  PeerIndex target = kNoPeer;
};

class ComponentLog {
 public:
  // Parses `text`; `path` names the file in the error. Every line must be a
  // chunkex log line, and all of them of one component.
  static OrError<ComponentLog> parse(std::string path, FileText text);

  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }  // "Server", "A", ...
  bool is_server() const { return name_ == kServerComponent; }
  std::string_view text() const { return text_.view(); }
  size_t size() const { return events_.size(); }
  const CompactEvent& brief(size_t i) const { return events_[i]; }
  LogEvent event(size_t i) const;  // its views point into this log
  std::string_view line(size_t i) const {
    return text_.view().substr(line_starts_[i], line_starts_[i + 1] - line_starts_[i] - 1);
  }
  int64_t section(size_t i) const { return sections_[i]; }

 private:
  std::string path_;
  std::string name_;
  FileText text_;  // the events point into it
  std::vector<CompactEvent> events_;
  std::vector<uint32_t> line_starts_;  // and one past the last line's newline
  std::vector<int64_t> sections_;
};

// The lines a comparison leaves out (chunkex-diff --ignore): those that
// match a POSIX extended regular expression (glibc's matcher is about ten
// times faster than std::regex here).
class LineFilter {
 public:
  LineFilter() = default;  // keeps every line
  static OrError<LineFilter> compile(const std::string& pattern);
  bool active() const { return pattern_ != nullptr; }
  bool keeps(std::string_view line) const;

 private:
  std::shared_ptr<const regex_t> pattern_;
};

// Which lines of each component (by index in Run::components) a filter keeps;
// empty when it keeps every line.
using KeptLines = std::vector<std::vector<bool>>;

struct RoundRequest {
  bool idle = true;
  PeerIndex target = kNoPeer;
  uint32_t chunk = 0;
  bool operator==(const RoundRequest&) const = default;
};

// One round as the logs tell it; nullopt where no log says.
struct RoundFacts {
  std::vector<std::optional<RoundRequest>> requests;  // by requester
  std::vector<std::optional<ClockUs>> end_clocks_us;  // by peer, at the end of the round
};

struct RunFacts {
  size_t peer_count = 0;
  std::vector<RoundFacts> rounds;        // by round number, through the last logged
  std::optional<uint64_t> rounds_moved;  // rounds that moved data ("complete after N rounds")
  std::optional<std::vector<ClockUs>> final_clocks_us;
};

struct Run {
  std::string label;                      // the path it was read from
  std::vector<ComponentLog> components;   // Server first, then by peer letter
  std::optional<nlohmann::json> summary;  // summary.json, when the directory has one
  bool from_directory = false;

  const ComponentLog* component(std::string_view name) const;
  // Round numbers in the logs: 1 + the highest; 0 for none.
  uint64_t rounds_logged() const;
};

// A log directory (Server.txt, Client<ID>.txt, summary.json) or one log file.
// The error says which path is missing, holds no log, or is not a chunkex log.
OrError<Run> load_run(const std::string& path);

KeptLines kept_lines(const Run& run, const LineFilter& filter);

// The facts of `run`, from the lines kept: the server's log when there is
// one, the peers' logs for what it does not say.
RunFacts facts_of(const Run& run, const KeptLines& kept = {});

// "round 12", "before round 0", "after the last round".
std::string describe_section(int64_t section);

// "+2.0", "-0.65", "0.0": a clock difference in the log's ms format.
std::string format_delta_ms(ClockUs delta_us);

}  // namespace chunkex
