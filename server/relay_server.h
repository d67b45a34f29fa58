// The relay server's transport: one Asio event loop, one FrameConnection per
// socket, all protocol decisions delegated to RelayCore. It owns the things
// that vary between runs (addresses, wall time, throughput), which go to the
// console and to summary.json, never to Server.txt.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include <asio.hpp>

#include "common/config.h"
#include "common/io/console.h"
#include "common/io/counter_file.h"
#include "common/io/log_file.h"
#include "common/net/frame_connection.h"
#include "common/relay_core.h"

namespace chunkex {

class RelayServer : public RelayOutbox {
 public:
  // `resume_from`: an exchange an earlier server process saved (see
  // load_saved_exchange); every slot then waits for its peer to come back.
  RelayServer(asio::io_context& io, Config config, std::optional<SavedExchange> resume_from);

  // Binds, starts accepting and prints "listening on HOST:PORT" (and writes
  // PORT to `port_file` unless empty). Throws std::runtime_error when the
  // address cannot be used.
  void listen(const std::string& port_file);
  int exit_code() const { return exit_code_; }

  // RelayOutbox
  void send(ConnId conn, Frame frame) override;
  void close(ConnId conn) override;
  void log(std::string line) override;
  void notice(std::string text) override;
  void exchange_started() override;
  void save_exchange(const SavedExchange& exchange) override;
  void rounds_delivered(uint64_t rounds) override;
  void exchange_paused() override;
  void exchange_resumed() override;
  bool output_backlogged() const override;
  void finished(const RelayOutcome& outcome) override;

 private:
  RelaySettings open_log_and_settings(std::optional<SavedExchange> resume_from);
  void do_accept();
  void add_connection(asio::ip::tcp::socket socket);
  void forget_connection(ConnId conn);
  void start_handshake_deadline(ConnId conn);
  void watch_signals();
  void schedule_progress();
  void show_progress();
  void check_stall();
  void print_summary(const RelayOutcome& outcome, double wall_seconds);
  void write_summary(const RelayOutcome& outcome, double wall_seconds);
  void stop_when_flushed();
  uint64_t sum_over_connections(uint64_t (FrameConnection::*count)() const) const;
  uint64_t bytes_received() const;
  uint64_t bytes_sent() const;

  asio::io_context& io_;
  Config config_;
  asio::ip::tcp::acceptor acceptor_;
  asio::signal_set signals_;
  asio::steady_timer progress_timer_;
  asio::steady_timer stop_timer_;
  asio::steady_timer grace_timer_;
  CounterFile saved_exchange_;
  Console console_;
  LogFile log_;
  RelayCore core_;
  std::map<ConnId, std::shared_ptr<FrameConnection>> connections_;
  std::map<ConnId, std::shared_ptr<asio::steady_timer>> handshake_timers_;
  ConnId next_conn_ = 1;
  uint64_t closed_bytes_received_ = 0;
  uint64_t closed_bytes_sent_ = 0;
  std::optional<std::chrono::steady_clock::time_point> started_at_;
  std::chrono::steady_clock::time_point last_progress_at_{};
  std::vector<uint64_t> last_progress_bytes_;  // by peer
  uint64_t last_progress_events_ = 0;          // rounds delivered + chunks refetched
  std::chrono::steady_clock::time_point last_round_delivered_at_{};
  bool stopping_ = false;
  int signal_exit_code_ = 0;
  int exit_code_ = 1;
};

// `<log_dir>/exchange.state`: the exchange a server saves when it starts one,
// and the rounds it delivered, so that a restarted server resumes it.
std::string saved_exchange_path(const Config& config);
// The saved exchange, if any. Throws std::runtime_error when it cannot be
// resumed with this configuration (another chunk size or other costs).
std::optional<SavedExchange> load_saved_exchange(const Config& config);

}  // namespace chunkex
