// The live links: the relay and peer hosts (common/host/) over Asio TCP, one
// event loop, one FrameConnection per socket. A link turns socket events
// into host calls stamped with the steady clock, and after each one arms a
// single timer for the host's next deadline: no policy about time lives
// here. See docs/DESIGN.md §7.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <asio.hpp>

#include "common/config.h"
#include "common/host/peer_host.h"
#include "common/host/relay_host.h"
#include "common/io/file_chunk_store.h"
#include "common/net/frame_connection.h"
#include "common/time.h"

namespace chunkex {

// Milliseconds of std::chrono::steady_clock: the hosts' time in a live run.
TimeMs steady_now_ms();

// One timer for a host's next deadline, re-armed after every host call.
class DeadlineTimer {
 public:
  explicit DeadlineTimer(asio::io_context& io) : timer_(io) {}
  // Calls `on_due(now_ms)` at `deadline_ms` (kNoDeadline: never).
  void arm(TimeMs deadline_ms, std::function<void(TimeMs)> on_due);
  void cancel();

 private:
  asio::steady_timer timer_;
  TimeMs armed_ms_ = kNoDeadline;
};

class AsioRelayLink : public RelayLink {
 public:
  AsioRelayLink(asio::io_context& io, const Config& config);
  // `host` must outlive the link's loop.
  void attach(RelayHost& host) { host_ = &host; }

  // Binds and listens; returns "HOST:PORT" as bound (the port the OS chose
  // for --port 0). Throws std::runtime_error when the address cannot be used.
  std::string listen();
  // Accepts connections and watches SIGINT / SIGTERM; io.run() then returns
  // once the host is done.
  void start(const std::string& address);

  // RelayLink
  void send(ConnId conn, Frame frame) override;
  void close_after_flush(ConnId conn) override;
  void close_all_now() override;
  void stop_accepting() override;
  size_t open_connections() const override { return connections_.size(); }
  uint64_t queued_bytes() const override;
  uint64_t bytes_received() const override;
  uint64_t bytes_sent() const override;

 private:
  void do_accept();
  void pause_accepting(const asio::error_code& ec);
  void add_connection(asio::ip::tcp::socket socket);
  void forget_connection(ConnId conn);
  void watch_signals();
  void after_host_call();
  uint64_t sum_over_connections(uint64_t (FrameConnection::*count)() const) const;

  asio::io_context& io_;
  Config config_;
  RelayHost* host_ = nullptr;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer accept_pause_timer_;
  asio::signal_set signals_;
  DeadlineTimer deadline_;
  std::map<ConnId, std::shared_ptr<FrameConnection>> connections_;
  ConnId next_conn_ = 1;
  uint64_t closed_bytes_received_ = 0;
  uint64_t closed_bytes_sent_ = 0;
  TimeMs accept_error_said_ms_ = -1'000'000;
  uint64_t accept_errors_unsaid_ = 0;
  bool accepting_ = false;
};

class AsioPeerLink : public PeerLink {
 public:
  // `store` serves the own file's chunks (sendfile) and must outlive the link.
  AsioPeerLink(asio::io_context& io, const Config& config, FileChunkStore& store);
  void attach(PeerHost& host) { host_ = &host; }
  // Watches SIGINT / SIGTERM and lets the host connect; io.run() then returns
  // once the host is done.
  void start();

  // PeerLink
  void connect() override;
  void abort_connect() override;
  void send(Frame frame) override;
  void send_own_chunk(Frame prefix, uint64_t offset, uint32_t length) override;
  void close_after_flush() override;
  void set_chunk_bytes_max(uint32_t chunk_bytes_max) override;

 private:
  void start_session(asio::ip::tcp::socket socket);
  void watch_signals();
  void after_host_call();

  asio::io_context& io_;
  Config config_;
  FileChunkStore& store_;
  PeerHost* host_ = nullptr;
  asio::signal_set signals_;
  DeadlineTimer deadline_;
  std::shared_ptr<asio::ip::tcp::socket> connecting_;
  std::shared_ptr<FrameConnection> connection_;
  uint32_t session_ = 0;  // callbacks of an earlier connection are ignored
};

}  // namespace chunkex
