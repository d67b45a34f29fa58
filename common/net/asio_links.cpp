#include "common/net/asio_links.h"

#include <csignal>

#include <fmt/format.h>

namespace chunkex {
namespace {

// Out of file descriptors, accept() fails at once every time: wait this long
// before the next try instead of spinning, and say so at most every
// kAcceptErrorReportMs.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr TimeMs kAcceptErrorReportMs = 5000;

int exit_code_of(int signal_number) {
  return 128 + signal_number;
}

// SIGHUP (the terminal closed) stops a run as cleanly as Ctrl-C: by default
// it would kill the process with its log cut mid-line and no ERROR sent.
std::string signal_reason(int signal_number) {
  if (signal_number == SIGINT) return "interrupted (SIGINT)";
  if (signal_number == SIGHUP) return "hung up (SIGHUP)";
  return "terminated (SIGTERM)";
}

}  // namespace

TimeMs steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void DeadlineTimer::arm(TimeMs deadline_ms, std::function<void(TimeMs)> on_due) {
  if (deadline_ms == armed_ms_) return;
  armed_ms_ = deadline_ms;
  if (deadline_ms == kNoDeadline) {
    timer_.cancel();
    return;
  }
  timer_.expires_after(
      std::chrono::milliseconds(std::max<TimeMs>(0, deadline_ms - steady_now_ms())));
  timer_.async_wait([this, on_due = std::move(on_due)](const asio::error_code& ec) {
    if (ec) return;
    armed_ms_ = kNoDeadline;
    on_due(steady_now_ms());
  });
}

void DeadlineTimer::cancel() {
  armed_ms_ = kNoDeadline;
  timer_.cancel();
}

// ---- relay ----

AsioRelayLink::AsioRelayLink(asio::io_context& io, const Config& config)
    : io_(io),
      config_(config),
      acceptor_(io),
      accept_pause_timer_(io),
      signals_(io, SIGINT, SIGTERM, SIGHUP),
      deadline_(io) {}

std::string AsioRelayLink::listen() {
  asio::ip::tcp::resolver resolver(io_);
  asio::error_code ec;
  auto endpoints = resolver.resolve(config_.host, std::to_string(config_.port), ec);
  if (ec || endpoints.empty()) {
    throw std::runtime_error(fmt::format("cannot resolve {}: {}", config_.host, ec.message()));
  }
  asio::ip::tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot listen on {}:{}: {}", config_.host, config_.port, ec.message()));
  }
  auto bound = acceptor_.local_endpoint();
  return fmt::format("{}:{}", bound.address().to_string(), bound.port());
}

void AsioRelayLink::start(const std::string& address) {
  watch_signals();
  accepting_ = true;
  do_accept();
  bool loopback = acceptor_.local_endpoint().address().is_loopback();
  host_->on_listening(address, loopback, steady_now_ms());
  after_host_call();
}

void AsioRelayLink::do_accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (!accepting_) return;
    if (ec == asio::error::operation_aborted) return;
    if (ec) return pause_accepting(ec);
    add_connection(std::move(socket));
    do_accept();
  });
}

// EMFILE and its kin fail every accept() at once until a descriptor frees up.
void AsioRelayLink::pause_accepting(const asio::error_code& ec) {
  TimeMs now = steady_now_ms();
  if (now - accept_error_said_ms_ >= kAcceptErrorReportMs) {
    std::string repeats = accept_errors_unsaid_ ? fmt::format(" ({} more since the last report)",
                                                              accept_errors_unsaid_)
                                                : "";
    fmt::print(stderr, "[server] warning: accept failed: {}{}; retrying every {} ms\n",
               ec.message(), repeats, kAcceptPause.count());
    accept_error_said_ms_ = now;
    accept_errors_unsaid_ = 0;
  } else {
    ++accept_errors_unsaid_;
  }
  accept_pause_timer_.expires_after(kAcceptPause);
  accept_pause_timer_.async_wait([this](const asio::error_code& wait_error) {
    if (!wait_error && accepting_) do_accept();
  });
}

void AsioRelayLink::add_connection(asio::ip::tcp::socket socket) {
  ConnId conn = next_conn_++;
  // A write stall is judged after the host's own stall limit has had its
  // chance to name a stuck peer: the host decides, the socket only backs it.
  auto connection = std::make_shared<FrameConnection>(
      std::move(socket), config_.chunk_bytes, std::chrono::seconds(2 * config_.idle_timeout_s));
  connections_[conn] = connection;
  connection->start(
      FrameConnection::Callbacks{[this, conn](Frame frame) {
                                   host_->on_frame(conn, std::move(frame), steady_now_ms());
                                   after_host_call();
                                 },
                                 [this, conn](const std::string& what) {
                                   host_->on_stream_error(conn, what, steady_now_ms());
                                   after_host_call();
                                 },
                                 [this] {
                                   host_->on_output_written(steady_now_ms());
                                   after_host_call();
                                 },
                                 [this, conn](const std::string&) {
                                   forget_connection(conn);
                                   host_->on_closed(conn, steady_now_ms());
                                   after_host_call();
                                 }});
  host_->on_connect(conn, steady_now_ms());
  after_host_call();
}

void AsioRelayLink::forget_connection(ConnId conn) {
  auto found = connections_.find(conn);
  if (found == connections_.end()) return;
  closed_bytes_received_ += found->second->bytes_read();
  closed_bytes_sent_ += found->second->bytes_written();
  connections_.erase(found);
}

void AsioRelayLink::watch_signals() {
  signals_.async_wait([this](const asio::error_code& ec, int signal_number) {
    if (ec) return;
    host_->on_shutdown(signal_reason(signal_number), exit_code_of(signal_number), steady_now_ms());
    after_host_call();
  });
}

void AsioRelayLink::after_host_call() {
  if (host_->done()) {
    stop_accepting();
    deadline_.cancel();
    signals_.cancel();
    close_all_now();
    return;
  }
  deadline_.arm(host_->next_deadline_ms(), [this](TimeMs now_ms) {
    host_->on_time(now_ms);
    after_host_call();
  });
}

void AsioRelayLink::send(ConnId conn, Frame frame) {
  auto found = connections_.find(conn);
  if (found != connections_.end()) found->second->send(std::move(frame));
}

void AsioRelayLink::close_after_flush(ConnId conn) {
  auto found = connections_.find(conn);
  if (found != connections_.end()) found->second->close_after_flush();
}

void AsioRelayLink::close_all_now() {
  for (auto& [conn, connection] : std::map(connections_)) connection->close_now();
}

void AsioRelayLink::stop_accepting() {
  accepting_ = false;
  asio::error_code ignored;
  acceptor_.close(ignored);
  accept_pause_timer_.cancel();
}

uint64_t AsioRelayLink::sum_over_connections(uint64_t (FrameConnection::*count)() const) const {
  uint64_t total = 0;
  for (const auto& [conn, connection] : connections_) total += ((*connection).*count)();
  return total;
}

uint64_t AsioRelayLink::queued_bytes() const {
  return sum_over_connections(&FrameConnection::queued_bytes);
}

uint64_t AsioRelayLink::bytes_received() const {
  return closed_bytes_received_ + sum_over_connections(&FrameConnection::bytes_read);
}

uint64_t AsioRelayLink::bytes_sent() const {
  return closed_bytes_sent_ + sum_over_connections(&FrameConnection::bytes_written);
}

// ---- peer ----

AsioPeerLink::AsioPeerLink(asio::io_context& io, const Config& config, FileChunkStore& store)
    : io_(io),
      config_(config),
      store_(store),
      signals_(io, SIGINT, SIGTERM, SIGHUP),
      deadline_(io) {}

void AsioPeerLink::start() {
  watch_signals();
  host_->start(steady_now_ms());
  after_host_call();
}

void AsioPeerLink::connect() {
  asio::ip::tcp::resolver resolver(io_);
  asio::error_code ec;
  auto endpoints = resolver.resolve(config_.host, std::to_string(config_.port), ec);
  if (ec) {
    // Answered from the loop, never from inside the host's own call.
    asio::post(io_, [this, why = ec.message()] {
      host_->on_connect_failed(false, why, steady_now_ms());
      after_host_call();
    });
    return;
  }
  auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
  connecting_ = socket;
  asio::async_connect(*socket, endpoints,
                      [this, socket](const asio::error_code& connect_error, const auto&) {
                        if (connecting_ != socket) return;  // aborted meanwhile
                        connecting_.reset();
                        if (connect_error) {
                          host_->on_connect_failed(connect_error == asio::error::connection_refused,
                                                   connect_error.message(), steady_now_ms());
                        } else {
                          start_session(std::move(*socket));
                        }
                        after_host_call();
                      });
}

void AsioPeerLink::abort_connect() {
  if (!connecting_) return;
  asio::error_code ignored;
  connecting_->close(ignored);
  connecting_.reset();
}

void AsioPeerLink::start_session(asio::ip::tcp::socket socket) {
  connection_ = std::make_shared<FrameConnection>(std::move(socket), kMaxChunkBytes,
                                                  std::chrono::seconds(2 * config_.idle_timeout_s));
  uint32_t session = ++session_;
  auto current = [this, session] { return session == session_; };
  connection_->start(FrameConnection::Callbacks{[this, current](Frame frame) {
                                                  if (!current()) return;
                                                  host_->on_frame(std::move(frame),
                                                                  steady_now_ms());
                                                  after_host_call();
                                                },
                                                [this, current](const std::string& what) {
                                                  if (!current()) return;
                                                  host_->on_stream_error(what, steady_now_ms());
                                                  after_host_call();
                                                },
                                                nullptr,
                                                [this, current](const std::string&) {
                                                  if (!current()) return;
                                                  host_->on_closed(steady_now_ms());
                                                  after_host_call();
                                                }});
  host_->on_connected(fmt::format("{}:{}", config_.host, config_.port), steady_now_ms());
}

void AsioPeerLink::watch_signals() {
  signals_.async_wait([this](const asio::error_code& ec, int signal_number) {
    if (ec) return;
    host_->on_shutdown(signal_reason(signal_number), exit_code_of(signal_number), steady_now_ms());
    after_host_call();
    if (!host_->done()) watch_signals();
  });
}

void AsioPeerLink::after_host_call() {
  if (host_->done()) {
    deadline_.cancel();
    signals_.cancel();
    abort_connect();
    return;
  }
  deadline_.arm(host_->next_deadline_ms(), [this](TimeMs now_ms) {
    host_->on_time(now_ms);
    after_host_call();
  });
}

void AsioPeerLink::send(Frame frame) {
  if (connection_) connection_->send(std::move(frame));
}

void AsioPeerLink::send_own_chunk(Frame prefix, uint64_t offset, uint32_t length) {
  if (!connection_) return;
  connection_->send_with_file_data(prefix.type, std::move(prefix.payload), store_.own_fd(), offset,
                                   length);
}

void AsioPeerLink::close_after_flush() {
  if (connection_) connection_->close_after_flush();
}

void AsioPeerLink::set_chunk_bytes_max(uint32_t chunk_bytes_max) {
  if (connection_) connection_->set_chunk_bytes_max(chunk_bytes_max);
}

}  // namespace chunkex
