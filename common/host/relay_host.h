// The relay's host: one RelayCore over any link. It holds the connection
// table the link reports, tells the core the time and the output queued,
// keeps the console progress, persists the exchange, writes the summary, and
// after the end gives the connections kFlushDeadlineMs to read their last
// frame. The same host runs the live server (an Asio link, net/asio_links.h)
// and the simulator (sim/network.h). See docs/DESIGN.md §7.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/host/host_clock.h"
#include "common/host/notices.h"
#include "common/relay_core.h"
#include "common/time.h"

namespace chunkex {

// The network as the relay sees it. Connections are numbered by the link,
// from 1; every connection it reports open, it reports closed once.
class RelayLink {
 public:
  virtual ~RelayLink() = default;
  virtual void send(ConnId conn, Frame frame) = 0;
  // Closes once the frames queued for `conn` are written.
  virtual void close_after_flush(ConnId conn) = 0;
  virtual void close_all_now() = 0;
  virtual void stop_accepting() = 0;
  virtual size_t open_connections() const = 0;
  // Output accepted by send() and not yet written, over every connection.
  virtual uint64_t queued_bytes() const = 0;
  virtual uint64_t bytes_received() const = 0;
  virtual uint64_t bytes_sent() const = 0;
};

// Where the relay's deterministic log, its saved exchange and its summary go:
// files in a live run, files or memory in the simulator and the tests.
class RelayRecords {
 public:
  virtual ~RelayRecords() = default;
  virtual void log_line(const std::string& line) = 0;
  virtual void close_log() = 0;
  // Called with the same roster until the exchange ends, and a growing
  // delivered_rounds: only the counter changes.
  virtual void save_exchange(const SavedExchange& exchange) = 0;
  virtual void clear_saved_exchange() = 0;
  // Where the saved exchange lives, for messages ("logs/exchange.state").
  virtual std::string saved_exchange_location() const = 0;
  virtual void write_summary(const nlohmann::json& summary) = 0;
  // The first write that failed (log, saved exchange or summary), naming the
  // file and the reason; the host ends the exchange with it. Records kept in
  // memory never fail.
  virtual std::optional<std::string> write_failure() const { return std::nullopt; }
};

// The relay settings a configuration gives, memory budgets applied.
RelaySettings relay_settings_of(const Config& config, std::optional<SavedExchange> resume_from);

class RelayHost : private RelayOutbox {
 public:
  // After the exchange ends, peers get this long to read their last frame.
  static constexpr TimeMs kFlushDeadlineMs = 5000;

  // `link`, `records` and `notices` must outlive the host. A restored
  // exchange writes its log head at once.
  RelayHost(const Config& config, std::optional<SavedExchange> resume_from, RelayLink& link,
            RelayRecords& records, Notices& notices, TimeMs now_ms);

  // The link listens: say so, and what the server waits for.
  // `loopback`: only this machine can connect.
  void on_listening(const std::string& address, bool loopback, TimeMs now_ms);
  void on_connect(ConnId conn, TimeMs now_ms);
  void on_frame(ConnId conn, Frame frame, TimeMs now_ms);
  // The stream of `conn` was not valid framing (the link closes it).
  void on_stream_error(ConnId conn, const std::string& what, TimeMs now_ms);
  void on_closed(ConnId conn, TimeMs now_ms);
  // Output was written: the queue is shorter.
  void on_output_written(TimeMs now_ms);
  // Ctrl-C / SIGTERM (or a simulated kill). `exit_code` is the process's.
  void on_shutdown(const std::string& why, int exit_code, TimeMs now_ms);
  void on_time(TimeMs now_ms);
  TimeMs next_deadline_ms() const;

  // The exchange ended and every connection is closed (or was given up on).
  bool done() const { return finished_ && (link_.open_connections() == 0 || flushed_); }
  int exit_code() const { return exit_code_; }
  const std::optional<RelayOutcome>& outcome() const { return outcome_; }
  RelayProgress progress() const { return core_.progress(); }
  uint64_t rounds_delivered() const { return core_.rounds_delivered(); }
  // Between the exchange's start and the delivery of its last round.
  bool mid_exchange() const { return core_.exchange_started() && !core_.closing() && !outcome_; }

 private:
  // RelayOutbox
  void send(ConnId conn, Frame frame) override { link_.send(conn, std::move(frame)); }
  void close(ConnId conn) override { link_.close_after_flush(conn); }
  void log(std::string line) override { records_.log_line(line); }
  void notice(std::string text) override { notices_.say(text); }
  void persist(const SavedExchange& exchange) override { records_.save_exchange(exchange); }
  void finished(const RelayOutcome& outcome) override;

  void after_event(TimeMs now_ms);
  // A record that could not be written ends the exchange (every peer is
  // told) and the process exits 1 naming it.
  void check_records();
  void tell_core_time(TimeMs now_ms);
  void show_progress(TimeMs now_ms);
  void print_summary(const RelayOutcome& outcome, double wall_seconds);
  nlohmann::json summary_json(const RelayOutcome& outcome, double wall_seconds) const;

  Config config_;
  RelayLink& link_;
  RelayRecords& records_;
  Notices& notices_;
  RelayCore core_;
  // The link asks next_deadline_ms() after every call: that is when the
  // clock learns what was due.
  mutable HostClock clock_;
  TimeMs now_ms_;
  std::optional<TimeMs> started_at_ms_;
  TimeMs next_progress_ms_ = kNoDeadline;
  TimeMs last_progress_ms_ = 0;
  std::vector<uint64_t> last_progress_bytes_;  // by peer
  std::optional<RelayOutcome> outcome_;
  bool finished_ = false;
  TimeMs flush_deadline_ms_ = kNoDeadline;
  bool flushed_ = false;
  int shutdown_exit_code_ = 0;
  int exit_code_ = 1;
  bool write_failure_reported_ = false;
};

// The summary the server writes as summary.json (wall time, bytes relayed,
// final clocks, every received file's verification).
nlohmann::json relay_summary_json(const RelayOutcome& outcome, double wall_seconds,
                                  uint64_t bytes_received, uint64_t bytes_sent);

}  // namespace chunkex
