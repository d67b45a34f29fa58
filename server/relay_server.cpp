#include "server/relay_server.h"

#include <csignal>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/sha256.h"

namespace chunkex {
namespace {

// After the exchange ends, peers get this long to read their last frame.
constexpr auto kFlushDeadline = std::chrono::seconds(5);
// Memory budgets. Answers of forwarded rounds wait here until their round is
// complete, so the rounds forwarded ahead of delivery are capped by bytes
// (32 rounds for 4 peers of 128 KiB chunks); and no new round is forwarded
// while more than kMaxQueuedOutputBytes wait for slow sockets.
constexpr uint64_t kMaxBufferedAnswerBytes = 16u << 20;
constexpr uint64_t kMaxQueuedOutputBytes = 8u << 20;

RelaySettings relay_settings(const Config& config, std::optional<SavedExchange> resume_from) {
  uint64_t round_bytes = static_cast<uint64_t>(config.max_clients) * config.chunk_bytes;
  auto rounds_by_memory =
      static_cast<uint32_t>(std::max<uint64_t>(1, kMaxBufferedAnswerBytes / round_bytes));
  RelaySettings settings;
  settings.max_clients = config.max_clients;
  settings.chunk_bytes = config.chunk_bytes;
  settings.costs = config.costs;
  settings.rounds_in_flight_max = std::min(config.window, rounds_by_memory);
  settings.token = config.token;
  settings.grace_s = config.reconnect_grace_s;
  settings.resume_from = std::move(resume_from);
  return settings;
}

constexpr const char* kSavedExchangeMagic = "chunkex exchange v1";
constexpr const char* kDeliveredKey = "rounds_delivered";

TextFields saved_exchange_fields(const Config& config, const RosterMessage& roster) {
  TextFields fields{{"chunk_bytes", std::to_string(config.chunk_bytes)},
                    {"peers", std::to_string(roster.files.size())}};
  for (size_t i = 0; i < roster.files.size(); ++i) {
    fields.emplace_back("file",
                        fmt::format("{} {} {} {} {}", peer_letter(static_cast<PeerIndex>(i)),
                                    roster.files[i].size_bytes, to_hex(roster.files[i].sha256),
                                    roster.costs[i].chunk_us, roster.costs[i].other_us));
  }
  return fields;
}

std::optional<FileAnnouncement> parse_file_field(const std::string& text, PeerCosts& costs) {
  char letter = 0;
  unsigned long long size = 0;
  char hex[65] = {};
  long long chunk_us = 0, other_us = 0;
  if (std::sscanf(text.c_str(), " %c %llu %64s %lld %lld", &letter, &size, hex, &chunk_us,
                  &other_us) != 5) {
    return std::nullopt;
  }
  auto digest = digest_from_hex(hex);
  if (!digest) return std::nullopt;
  costs = PeerCosts{chunk_us, other_us};
  return FileAnnouncement{size, *digest};
}

double ms_of(ClockUs clock_us) {
  return static_cast<double>(clock_us) / 1000.0;
}

}  // namespace

std::string saved_exchange_path(const Config& config) {
  return (std::filesystem::path(config.log_dir) / "exchange.state").string();
}

std::optional<SavedExchange> load_saved_exchange(const Config& config) {
  std::string path = saved_exchange_path(config);
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto fields = read_counter_file(path, kSavedExchangeMagic);
  auto unusable = [&](const std::string& why) {
    return std::runtime_error(fmt::format(
        "{} holds an unfinished exchange, but {}; run with --fresh to start a new one", path, why));
  };
  if (!fields) throw unusable("it is not a saved exchange");
  SavedExchange saved;
  for (const auto& [key, value] : *fields) {
    if (key != "file") continue;
    PeerCosts costs;
    auto file = parse_file_field(value, costs);
    if (!file) throw unusable("a file line is malformed");
    saved.roster.files.push_back(*file);
    saved.roster.costs.push_back(costs);
  }
  if (field_value(*fields, "chunk_bytes") != std::to_string(config.chunk_bytes)) {
    throw unusable(
        fmt::format("it was saved with another chunk_bytes (now {})", config.chunk_bytes));
  }
  if (saved.roster.files.size() != static_cast<size_t>(config.max_clients)) {
    throw unusable(fmt::format("it was saved for {} clients (max_clients is now {})",
                               saved.roster.files.size(), config.max_clients));
  }
  for (size_t i = 0; i < saved.roster.costs.size(); ++i) {
    if (!(saved.roster.costs[i] == config.costs[i])) throw unusable("its costs_ms differ");
  }
  try {
    saved.delivered_rounds = std::stoull(field_value(*fields, kDeliveredKey).value_or(""));
  } catch (const std::exception&) {
    throw unusable("its round counter is malformed");
  }
  return saved;
}

RelayServer::RelayServer(asio::io_context& io, Config config,
                         std::optional<SavedExchange> resume_from)
    : io_(io),
      config_(std::move(config)),
      acceptor_(io),
      signals_(io, SIGINT, SIGTERM),
      progress_timer_(io),
      stop_timer_(io),
      grace_timer_(io),
      console_("[server] "),
      core_(open_log_and_settings(std::move(resume_from)), *this) {}

void RelayServer::listen(const std::string& port_file) {
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
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot listen on {}:{}: {}", config_.host, config_.port, ec.message()));
  }
  acceptor_.listen();
  auto bound = acceptor_.local_endpoint();
  fmt::print("listening on {}:{}\n", bound.address().to_string(), bound.port());
  std::fflush(stdout);
  if (!port_file.empty()) write_file_atomically(port_file, fmt::format("{}\n", bound.port()));
  if (!bound.address().is_loopback() && config_.token.empty()) {
    console_.warn(
        fmt::format("listening on {} without a token: anyone who can reach this port can take a "
                    "client slot; set --token or CHUNKEX_TOKEN on the server and every client",
                    bound.address().to_string()));
  }
  // Only a resumed exchange is saved before the first client comes.
  if (saved_exchange_.is_open()) {
    console_.say(
        fmt::format("resuming the exchange saved in {} after {} rounds (--fresh starts "
                    "a new one); waiting for every client to come back",
                    saved_exchange_path(config_), core_.progress().rounds_delivered));
  }
  console_.say(fmt::format("waiting for {} clients{}", config_.max_clients,
                           config_.token.empty() ? "" : " (token required)"));
  watch_signals();
  do_accept();
}

void RelayServer::do_accept() {
  acceptor_.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (stopping_) return;
    if (!ec) {
      add_connection(std::move(socket));
    } else if (ec != asio::error::operation_aborted) {
      console_.error("accept failed: " + ec.message());
    }
    do_accept();
  });
}

void RelayServer::add_connection(asio::ip::tcp::socket socket) {
  ConnId conn = next_conn_++;
  auto connection = std::make_shared<FrameConnection>(std::move(socket), config_.chunk_bytes,
                                                      std::chrono::seconds(config_.idle_timeout_s));
  connections_[conn] = connection;
  connection->start(FrameConnection::Callbacks{
      [this, conn](Frame frame) { core_.on_frame(conn, std::move(frame)); },
      [this, conn](const std::string& what) { core_.on_stream_error(conn, what); },
      [this] { core_.on_output_drained(); },
      [this, conn](const std::string&) {
        forget_connection(conn);
        core_.on_disconnect(conn);
      }});
  core_.on_connect(conn);
  start_handshake_deadline(conn);
}

// A connection that takes a slot and never announces would block the exchange
// forever (and shift every later peer's ID).
void RelayServer::start_handshake_deadline(ConnId conn) {
  auto timer =
      std::make_shared<asio::steady_timer>(io_, std::chrono::seconds(config_.handshake_timeout_s));
  handshake_timers_[conn] = timer;
  timer->async_wait([this, conn](const asio::error_code& ec) {
    if (ec) return;
    handshake_timers_.erase(conn);
    core_.on_handshake_deadline(conn);
  });
}

void RelayServer::forget_connection(ConnId conn) {
  auto found = connections_.find(conn);
  if (found == connections_.end()) return;
  closed_bytes_received_ += found->second->bytes_read();
  closed_bytes_sent_ += found->second->bytes_written();
  connections_.erase(found);
  if (auto timer = handshake_timers_.find(conn); timer != handshake_timers_.end()) {
    timer->second->cancel();
    handshake_timers_.erase(timer);
  }
  if (stopping_ && connections_.empty()) {
    stop_timer_.cancel();
  }
}

void RelayServer::watch_signals() {
  signals_.async_wait([this](const asio::error_code& ec, int signal_number) {
    if (ec) return;
    signal_exit_code_ = 128 + signal_number;
    core_.on_shutdown(signal_number == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)");
  });
}

void RelayServer::send(ConnId conn, Frame frame) {
  auto found = connections_.find(conn);
  if (found != connections_.end()) found->second->send(std::move(frame));
}

void RelayServer::close(ConnId conn) {
  auto found = connections_.find(conn);
  if (found != connections_.end()) found->second->close_after_flush();
}

bool RelayServer::output_backlogged() const {
  return sum_over_connections(&FrameConnection::queued_bytes) > kMaxQueuedOutputBytes;
}

void RelayServer::log(std::string line) {
  log_.write_line(line);
}

void RelayServer::notice(std::string text) {
  console_.say(text);
}

void RelayServer::exchange_started() {
  started_at_ = std::chrono::steady_clock::now();
  last_round_delivered_at_ = *started_at_;
  last_progress_at_ = *started_at_;
  schedule_progress();
}

// The core writes the log of a resumed exchange as it is constructed.
RelaySettings RelayServer::open_log_and_settings(std::optional<SavedExchange> resume_from) {
  log_.open(config_.log_dir, "Server.txt");
  return relay_settings(config_, std::move(resume_from));
}

void RelayServer::save_exchange(const SavedExchange& exchange) {
  saved_exchange_.create(saved_exchange_path(config_), kSavedExchangeMagic,
                         saved_exchange_fields(config_, exchange.roster), kDeliveredKey,
                         exchange.delivered_rounds);
}

void RelayServer::rounds_delivered(uint64_t rounds) {
  saved_exchange_.update(rounds);
}

void RelayServer::exchange_paused() {
  grace_timer_.expires_after(std::chrono::seconds(config_.reconnect_grace_s));
  grace_timer_.async_wait([this](const asio::error_code& ec) {
    if (!ec) core_.on_grace_expired();
  });
}

void RelayServer::exchange_resumed() {
  grace_timer_.cancel();
  last_round_delivered_at_ = std::chrono::steady_clock::now();
}

void RelayServer::schedule_progress() {
  progress_timer_.expires_after(console_.progress_period());
  progress_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopping_) return;
    show_progress();
    check_stall();
    if (!stopping_) schedule_progress();
  });
}

void RelayServer::check_stall() {
  auto now = std::chrono::steady_clock::now();
  RelayProgress progress = core_.progress();
  uint64_t events = progress.rounds_delivered + progress.chunks_refetched;
  if (events != last_progress_events_ || progress.paused) {
    last_progress_events_ = events;
    last_round_delivered_at_ = now;
  } else if (now - last_round_delivered_at_ > std::chrono::seconds(config_.idle_timeout_s)) {
    core_.on_stall(config_.idle_timeout_s);
  }
}

void RelayServer::show_progress() {
  RelayProgress progress = core_.progress();
  auto now = std::chrono::steady_clock::now();
  double seconds = std::chrono::duration<double>(now - last_progress_at_).count();
  last_progress_at_ = now;
  last_progress_bytes_.resize(progress.bytes_received.size(), 0);
  std::string text = fmt::format("round {}/{}", progress.rounds_delivered, progress.rounds_total);
  for (size_t i = 0; i < progress.chunks_received.size(); ++i) {
    uint64_t delta = progress.bytes_received[i] - last_progress_bytes_[i];
    last_progress_bytes_[i] = progress.bytes_received[i];
    text += fmt::format(" | {} {}/{} {}/s", peer_letter(static_cast<PeerIndex>(i)),
                        progress.chunks_received[i], progress.chunks_needed[i],
                        format_bytes(seconds > 0 ? static_cast<double>(delta) / seconds : 0));
  }
  console_.progress(text);
}

uint64_t RelayServer::sum_over_connections(uint64_t (FrameConnection::*count)() const) const {
  uint64_t total = 0;
  for (const auto& [conn, connection] : connections_) total += ((*connection).*count)();
  return total;
}

uint64_t RelayServer::bytes_received() const {
  return closed_bytes_received_ + sum_over_connections(&FrameConnection::bytes_read);
}

uint64_t RelayServer::bytes_sent() const {
  return closed_bytes_sent_ + sum_over_connections(&FrameConnection::bytes_written);
}

void RelayServer::finished(const RelayOutcome& outcome) {
  double wall_seconds =
      started_at_
          ? std::chrono::duration<double>(std::chrono::steady_clock::now() - *started_at_).count()
          : 0.0;
  log_.close();
  grace_timer_.cancel();
  // A failed exchange stays saved, for a restarted server to resume.
  if (outcome.success) saved_exchange_.remove();
  exit_code_ = outcome.success ? 0 : (signal_exit_code_ ? signal_exit_code_ : 1);
  print_summary(outcome, wall_seconds);
  write_summary(outcome, wall_seconds);
  stop_when_flushed();
}

void RelayServer::print_summary(const RelayOutcome& outcome, double wall_seconds) {
  console_.end_progress();
  if (!outcome.success) {
    console_.error(
        fmt::format("exchange failed after {} rounds: {}", outcome.rounds, outcome.failure));
    return;
  }
  uint64_t relayed = bytes_received() + bytes_sent();
  size_t verified = 0;
  for (const auto& owners : outcome.verified_owners) verified += owners.size();
  console_.say(
      fmt::format("exchange complete: {} rounds in {:.2f} s", outcome.rounds, wall_seconds));
  console_.say("final clocks " + format_clocks(outcome.final_clocks_us));
  console_.say(fmt::format("relayed {} ({} in, {} out), {}/s", format_bytes(double(relayed)),
                           format_bytes(double(bytes_received())),
                           format_bytes(double(bytes_sent())),
                           format_bytes(wall_seconds > 0 ? double(relayed) / wall_seconds : 0)));
  for (size_t i = 0; i < outcome.verified_owners.size(); ++i) {
    std::string owners;
    for (PeerIndex owner : outcome.verified_owners[i])
      owners += fmt::format(" {}", peer_letter(owner));
    console_.say(fmt::format("client {} verified the files of{}",
                             peer_letter(static_cast<PeerIndex>(i)), owners));
  }
  console_.say(fmt::format("files verified: {} of {}", verified,
                           outcome.files.size() * (outcome.files.size() - 1)));
  if (outcome.rejected_connections > 0) {
    console_.say(fmt::format("connections rejected: {}", outcome.rejected_connections));
  }
  if (outcome.disconnects > 0) {
    console_.say(fmt::format("clients lost: {}, came back: {}; chunk data sent again: {}",
                             outcome.disconnects, outcome.reconnects,
                             format_bytes(double(outcome.refetched_bytes))));
  }
}

void RelayServer::write_summary(const RelayOutcome& outcome, double wall_seconds) {
  using nlohmann::json;
  uint64_t received = bytes_received();
  uint64_t sent = bytes_sent();
  json summary = {
      {"success", outcome.success},
      {"rounds", outcome.rounds},
      {"wall_seconds", wall_seconds},
      {"bytes_relayed", {{"received", received}, {"sent", sent}, {"total", received + sent}}},
      {"goodput_bytes_per_second",
       wall_seconds > 0 ? static_cast<double>(received + sent) / wall_seconds : 0.0},
      {"rejected_connections", outcome.rejected_connections},
      {"disconnects", outcome.disconnects},
      {"reconnects", outcome.reconnects},
      {"refetched_bytes", outcome.refetched_bytes},
  };
  if (!outcome.success) summary["failure"] = outcome.failure;
  for (size_t i = 0; i < outcome.final_clocks_us.size(); ++i) {
    std::string id = peer_name(static_cast<PeerIndex>(i));
    summary["final_clocks_ms"][id] = ms_of(outcome.final_clocks_us[i]);
    summary["final_clocks_us"][id] = outcome.final_clocks_us[i];
  }
  for (size_t i = 0; i < outcome.files.size(); ++i) {
    std::string id = peer_name(static_cast<PeerIndex>(i));
    summary["files"][id] = {{"size_bytes", outcome.files[i].size_bytes},
                            {"sha256", to_hex(outcome.files[i].sha256)}};
    for (PeerIndex owner = 0; owner < outcome.files.size(); ++owner) {
      if (owner == i) continue;
      const auto& verified = outcome.verified_owners[i];
      summary["received"][id][peer_name(owner)] =
          std::find(verified.begin(), verified.end(), owner) != verified.end() ? "verified"
                                                                               : "missing";
    }
  }
  std::string path = (std::filesystem::path(config_.log_dir) / "summary.json").string();
  try {
    write_file_atomically(path, summary.dump(2) + "\n");
    console_.say("summary written to " + path);
  } catch (const std::exception& error) {
    console_.error(error.what());
  }
}

// Stop accepting, let every connection flush its last frames (FINAL or
// ERROR), and stop the loop when they are closed or the deadline passes.
void RelayServer::stop_when_flushed() {
  stopping_ = true;
  asio::error_code ignored;
  acceptor_.close(ignored);
  signals_.cancel();
  progress_timer_.cancel();
  for (auto& [conn, timer] : handshake_timers_) timer->cancel();
  handshake_timers_.clear();
  if (connections_.empty()) return;
  stop_timer_.expires_after(kFlushDeadline);
  stop_timer_.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    for (auto& [conn, connection] : std::map(connections_)) connection->close_now();
  });
}

}  // namespace chunkex
