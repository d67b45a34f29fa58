// A peer's host: one PeerCore per connection over any link and any store.
// It tells the core the time, opens the log once the server names the peer,
// shows progress, and owns the reconnect policy: a connection that drops
// mid-exchange is tried again every kReconnectPeriodMs for up to
// reconnect_grace_s (each try given up after kConnectTimeoutMs) with a fresh
// core over the same store, which resumes from the saved progress; a refused
// connection means the server is gone. The same host runs the live client
// (net/asio_links.h) and the simulator's peers. See docs/DESIGN.md §7.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/chunk_store.h"
#include "common/config.h"
#include "common/host/host_clock.h"
#include "common/host/notices.h"
#include "common/peer_core.h"
#include "common/time.h"

namespace chunkex {

// The connection to the relay as a peer sees it: one at a time.
class PeerLink {
 public:
  virtual ~PeerLink() = default;
  // Starts connecting; the link answers with on_connected() or
  // on_connect_failed(), unless abort_connect() comes first.
  virtual void connect() = 0;
  virtual void abort_connect() = 0;
  virtual void send(Frame frame) = 0;
  // A CHUNK_DATA / REFETCH_DATA frame: `prefix` (the chunk header) followed
  // by bytes [offset, offset + length) of the peer's own file.
  virtual void send_own_chunk(Frame prefix, uint64_t offset, uint32_t length) = 0;
  virtual void close_after_flush() = 0;
  virtual void set_chunk_bytes_max(uint32_t chunk_bytes_max) = 0;
};

// Where the peer's deterministic log goes (ClientX.txt once X is known).
class PeerRecords {
 public:
  virtual ~PeerRecords() = default;
  virtual void open_log(PeerIndex self) = 0;
  virtual void log_line(const std::string& line) = 0;
  virtual void close_log() = 0;
  // The first write that failed, naming the file and the reason; the host
  // ends the peer with it (telling the server). Records kept in memory never
  // fail.
  virtual std::optional<std::string> write_failure() const { return std::nullopt; }
};

class PeerHost : private PeerOutbox {
 public:
  static constexpr TimeMs kReconnectPeriodMs = 500;
  static constexpr TimeMs kConnectTimeoutMs = 5000;

  // `store`, `link`, `records` and `notices` must outlive the host.
  PeerHost(const Config& config, ChunkStore& store, PeerLink& link, PeerRecords& records,
           Notices& notices);

  // Connects for the first time.
  void start(TimeMs now_ms);
  void on_connected(const std::string& address, TimeMs now_ms);
  // `refused`: nothing listens there (the server is gone).
  void on_connect_failed(bool refused, const std::string& why, TimeMs now_ms);
  void on_frame(Frame frame, TimeMs now_ms);
  void on_stream_error(const std::string& what, TimeMs now_ms);
  void on_closed(TimeMs now_ms);
  // Ctrl-C / SIGTERM. `exit_code` is the process's.
  void on_shutdown(const std::string& why, int exit_code, TimeMs now_ms);
  void on_time(TimeMs now_ms);
  TimeMs next_deadline_ms() const;

  bool done() const { return ended_.has_value(); }
  int exit_code() const { return exit_code_; }
  const std::optional<PeerOutcome>& outcome() const { return ended_; }
  std::optional<PeerIndex> self() const { return core_ ? core_->self() : std::nullopt; }
  // Connections made so far (1 + reconnections).
  uint32_t sessions() const { return sessions_; }

 private:
  // PeerOutbox
  void send(Frame frame) override { link_.send(std::move(frame)); }
  void send_own_chunk(FrameType type, const ChunkHeader& header, uint64_t offset,
                      uint32_t length) override;
  void log(std::string line) override;
  void notice(std::string text) override { notices_.say(text); }
  void finished(const PeerOutcome& outcome) override;

  bool try_reconnect(const PeerOutcome& outcome, TimeMs now_ms);
  void end(const PeerOutcome& outcome);
  void show_progress(TimeMs now_ms);
  // The console hears which of this client's settings the server overrides.
  void tell_imposed_settings(const Frame& frame);
  // A log that could not be written ends the peer: the server is told, so
  // the others end at once too.
  void check_records();
  void tell_core_time(TimeMs now_ms);

  Config config_;
  ChunkStore& store_;
  PeerLink& link_;
  PeerRecords& records_;
  Notices& notices_;
  std::optional<PeerCore> core_;  // a new one for every connection
  mutable HostClock clock_;       // learns what was due from next_deadline_ms()
  uint32_t sessions_ = 0;
  bool log_open_ = false;
  TimeMs now_ms_ = 0;
  TimeMs started_ms_ = 0;
  bool connecting_ = false;
  TimeMs connect_deadline_ms_ = kNoDeadline;
  TimeMs next_attempt_ms_ = kNoDeadline;
  TimeMs reconnect_until_ms_ = kNoDeadline;
  TimeMs next_progress_ms_ = kNoDeadline;
  TimeMs last_progress_ms_ = 0;
  uint64_t last_progress_bytes_ = 0;
  int shutdown_exit_code_ = 0;
  std::optional<PeerOutcome> ended_;
  int exit_code_ = 1;
  bool write_failure_reported_ = false;
  bool flag_settings_told_ = false;
  bool roster_settings_told_ = false;
};

}  // namespace chunkex
