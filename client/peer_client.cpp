#include "client/peer_client.h"

#include <csignal>

#include <fmt/format.h>

namespace chunkex {

PeerClient::PeerClient(asio::io_context& io, Config config, FileChunkStore& store)
    : io_(io),
      config_(std::move(config)),
      store_(store),
      signals_(io, SIGINT, SIGTERM),
      progress_timer_(io),
      reconnect_timer_(io),
      console_("[client] ") {}

namespace {

asio::ip::tcp::socket connect_to(asio::io_context& io, const Config& config, asio::error_code& ec) {
  asio::ip::tcp::socket socket(io);
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(config.host, std::to_string(config.port), ec);
  if (!ec) asio::connect(socket, endpoints, ec);
  return socket;
}

}  // namespace

void PeerClient::start() {
  asio::error_code ec;
  asio::ip::tcp::socket socket = connect_to(io_, config_, ec);
  if (ec) {
    throw std::runtime_error(fmt::format("cannot connect to the server at {}:{}: {}", config_.host,
                                         config_.port, ec.message()));
  }
  started_at_ = last_progress_at_ = std::chrono::steady_clock::now();
  start_session(std::move(socket));
}

// A fresh PeerCore per connection: a returning one finds its saved progress
// through the store, exactly as a restarted process would.
void PeerClient::start_session(asio::ip::tcp::socket socket) {
  console_.say(fmt::format("connected to {}:{}", config_.host, config_.port));
  core_.emplace(config_.window, store_, *this, PeerAuth{config_.token});
  connection_ = std::make_shared<FrameConnection>(std::move(socket), kMaxChunkBytes,
                                                  std::chrono::seconds(config_.idle_timeout_s));
  // Callbacks of an earlier connection must never reach this session's core.
  uint32_t session = ++sessions_;
  connection_->start(FrameConnection::Callbacks{[this, session](Frame frame) {
                                                  if (session == sessions_)
                                                    on_frame(std::move(frame));
                                                },
                                                [this, session](const std::string& what) {
                                                  if (session == sessions_)
                                                    core_->on_stream_error(what);
                                                },
                                                nullptr,
                                                [this, session](const std::string&) {
                                                  if (session != sessions_) return;
                                                  core_->on_disconnect();
                                                  signals_.cancel();
                                                  progress_timer_.cancel();
                                                }});
  watch_signals();
  schedule_progress();
}

void PeerClient::on_frame(Frame frame) {
  bool is_flag = frame.type == FrameType::kFlag;
  core_->on_frame(std::move(frame));
  // Until FLAG names the chunk size, the decoder allows the protocol maximum.
  if (is_flag) connection_->set_chunk_bytes_max(core_->chunk_bytes());
}

void PeerClient::watch_signals() {
  signals_.async_wait([this](const asio::error_code& ec, int signal_number) {
    if (ec) return;
    signal_exit_code_ = 128 + signal_number;
    core_->on_shutdown(signal_number == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
  });
}

void PeerClient::schedule_progress() {
  progress_timer_.expires_after(console_.progress_period());
  progress_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || core_->finished()) return;
    show_progress();
    // The server judges a silent peer after idle_timeout_s and tells everyone
    // who it was; a client gives up on a silent server only after twice that,
    // so the one that knows the culprit speaks first.
    uint32_t limit_s = 2 * config_.idle_timeout_s;
    auto silent_for = std::chrono::steady_clock::now() - connection_->last_read_at();
    // While the server waits for a peer to come back it has nothing to send;
    // it gives up on that peer itself when the grace period ends.
    if (silent_for > std::chrono::seconds(limit_s) && !core_->waiting_for_peer()) {
      core_->on_idle_deadline(limit_s);
    }
    if (!core_->finished()) schedule_progress();
  });
}

void PeerClient::show_progress() {
  PeerProgress progress = core_->progress();
  if (!core_->self() || progress.chunks_needed == 0) return;
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - last_progress_at_).count();
  double rate = seconds > 0
                    ? static_cast<double>(progress.bytes_received - last_progress_bytes_) / seconds
                    : 0;
  last_progress_at_ = now;
  last_progress_bytes_ = progress.bytes_received;
  console_.progress(fmt::format("{}: {}/{} chunks received, {}/s", peer_letter(*core_->self()),
                                progress.chunks_received, progress.chunks_needed,
                                format_bytes(rate)));
}

void PeerClient::send(Frame frame) {
  if (connection_) connection_->send(std::move(frame));
}

void PeerClient::send_own_chunk(FrameType type, const ChunkHeader& header, uint64_t offset,
                                uint32_t length) {
  if (!connection_) return;
  Frame prefix = make_chunk_frame(type, header, 0);
  connection_->send_with_file_data(type, std::move(prefix.payload), store_.own_fd(), offset,
                                   length);
}

void PeerClient::log(std::string line) {
  if (!log_.is_open() && core_->self()) {
    log_.open(config_.log_dir, fmt::format("Client{}.txt", peer_letter(*core_->self())));
  }
  log_.write_line(line);
}

void PeerClient::notice(std::string text) {
  console_.say(text);
}

void PeerClient::finished(const PeerOutcome& outcome) {
  log_.close();
  console_.end_progress();
  signals_.cancel();
  progress_timer_.cancel();
  if (connection_) connection_->close_after_flush();
  if (!try_reconnect(outcome)) end(outcome);
}

// Only a dropped connection mid-exchange is worth another try; the server
// keeps the slot for reconnect_grace_s, so that is how long to keep trying.
bool PeerClient::try_reconnect(const PeerOutcome& outcome) {
  if (outcome.success || !outcome.connection_lost || !outcome.resumable ||
      config_.reconnect_grace_s == 0 || signal_exit_code_ != 0) {
    return false;
  }
  // Each drop opens a pause of its own on the server, so a window of its own.
  reconnect_until_ =
      std::chrono::steady_clock::now() + std::chrono::seconds(config_.reconnect_grace_s);
  console_.warn(fmt::format("{}; connecting again (for up to {} s)", outcome.failure,
                            config_.reconnect_grace_s));
  // Ctrl-C while waiting stops the waiting.
  signals_.async_wait([this](const asio::error_code& ec, int signal_number) {
    if (ec) return;
    reconnect_timer_.cancel();
    signal_exit_code_ = 128 + signal_number;
    PeerOutcome stopped;
    stopped.resumable = true;
    stopped.failure = "stopped while connecting again to the server";
    end(stopped);
  });
  reconnect_attempt();
  return true;
}

void PeerClient::reconnect_attempt() {
  reconnect_timer_.expires_after(std::chrono::milliseconds(500));
  reconnect_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) connect_again();
  });
}

// Asynchronous, and abandoned after kConnectTimeout: a host that drops SYNs
// would otherwise hold the loop (and Ctrl-C) for minutes.
void PeerClient::connect_again() {
  constexpr auto kConnectTimeout = std::chrono::seconds(5);
  asio::ip::tcp::resolver resolver(io_);
  asio::error_code ec;
  auto endpoints = resolver.resolve(config_.host, std::to_string(config_.port), ec);
  if (ec) return reconnect_failed(ec);
  auto socket = std::make_shared<asio::ip::tcp::socket>(io_);
  reconnect_timer_.expires_after(kConnectTimeout);
  reconnect_timer_.async_wait([socket](const asio::error_code& wait_error) {
    if (!wait_error) socket->close();
  });
  asio::async_connect(*socket, endpoints,
                      [this, socket](const asio::error_code& connect_error, const auto&) {
                        reconnect_timer_.cancel();
                        if (signal_exit_code_ != 0) return;  // stopped meanwhile
                        if (connect_error) return reconnect_failed(connect_error);
                        signals_.cancel();  // start_session watches them again
                        start_session(std::move(*socket));
                      });
}

void PeerClient::reconnect_failed(const asio::error_code& ec) {
  PeerOutcome gone;
  gone.resumable = true;
  // Refused: nothing listens there any more, the server itself is gone.
  if (ec == asio::error::connection_refused) {
    gone.failure = fmt::format(
        "lost the connection to the server, and it refuses new ones ({}:{}: {}): it stopped "
        "or crashed",
        config_.host, config_.port, ec.message());
    return end(gone);
  }
  if (std::chrono::steady_clock::now() >= reconnect_until_) {
    gone.failure =
        fmt::format("lost the connection to the server and could not connect again within {} s: {}",
                    config_.reconnect_grace_s, ec.message());
    return end(gone);
  }
  reconnect_attempt();
}

void PeerClient::end(const PeerOutcome& outcome) {
  signals_.cancel();
  exit_code_ = outcome.success ? 0 : (signal_exit_code_ ? signal_exit_code_ : 1);
  if (outcome.success) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at_).count();
    console_.say(fmt::format("{}: done in {:.2f} s: {} files verified; final clocks {}",
                             peer_letter(*outcome.self), seconds, outcome.verified_owners.size(),
                             format_clocks(outcome.final_clocks_us)));
  } else {
    console_.error(outcome.failure);
    if (outcome.resumable) {
      console_.say(
          fmt::format("partial files and progress are kept in {}: start this client "
                      "again (with the server) to resume",
                      config_.out_dir));
    }
  }
}

}  // namespace chunkex
