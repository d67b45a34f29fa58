// chunkex-flood: hostile connections against a chunkex server, for the
// robustness test (tests/integration/test_flood.sh). It opens --connections
// sockets, round-robin over five behaviours a stranger on the internet may
// show, reads and discards whatever the server answers, and after --seconds
// closes everything and reports, as JSON, how each connection ended.
//
// One thread and one io_context: 500 sockets are 500 small objects, not 500
// threads. The frame header comes from common/frame.h, so the junk stays
// "valid-looking" if the wire format changes.
#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <asio.hpp>
#include <nlohmann/json.hpp>

#include "common/frame.h"
#include "common/io/cli.h"
#include "common/io/log_file.h"
#include "common/random.h"

namespace {

using chunkex::FrameType;

enum class Behaviour { kHalfOpen, kSlowloris, kRandomBytes, kOversized, kReset };
constexpr std::array kBehaviours = {Behaviour::kHalfOpen, Behaviour::kSlowloris,
                                    Behaviour::kRandomBytes, Behaviour::kOversized,
                                    Behaviour::kReset};

const char* name_of(Behaviour behaviour) {
  switch (behaviour) {
    case Behaviour::kHalfOpen:
      return "half_open";
    case Behaviour::kSlowloris:
      return "slowloris";
    case Behaviour::kRandomBytes:
      return "random_bytes";
    case Behaviour::kOversized:
      return "oversized_length";
    case Behaviour::kReset:
      return "reset";
  }
  return "unknown";
}

// How a connection ended, seen from the flood's side.
enum class Ending { kNone, kFailed, kClosedByServer, kClosedByUs, kOpenAtEnd };

// Connects are paced (about 500 a second) and capped, so the flood measures
// the server and not the listen backlog.
constexpr size_t kMaxConnectsInFlight = 100;
constexpr auto kLaunchPeriod = std::chrono::milliseconds(10);
constexpr size_t kLaunchesPerPeriod = 5;
constexpr auto kDripPeriod = std::chrono::milliseconds(200);
// Slowloris declares a plausible control payload and never finishes it.
constexpr uint32_t kSlowlorisPayloadBytes = 4096;
constexpr size_t kRandomBytes = 64 * 1024;
constexpr uint32_t kOversizedLength = 0xFFFFFFF0;
constexpr size_t kMaxDistinctErrors = 20;

struct Options {
  std::string host = "127.0.0.1";
  int port = 9999;
  size_t connections = 500;
  double seconds = 10;
  uint64_t seed = 1;
  std::string report;
};

struct Tally {
  uint64_t tried = 0;
  uint64_t connected = 0;
  uint64_t refused_or_failed = 0;
  uint64_t closed_by_server = 0;
  uint64_t closed_by_us = 0;
  uint64_t still_open_at_end = 0;
  uint64_t given_a_slot = 0;  // the server sent FLAG: the junk held a client slot

  void count(Ending ending, bool connected_once, bool flagged) {
    ++tried;
    connected += connected_once;
    given_a_slot += flagged;
    refused_or_failed += ending == Ending::kFailed;
    closed_by_server += ending == Ending::kClosedByServer;
    closed_by_us += ending == Ending::kClosedByUs;
    still_open_at_end += ending == Ending::kOpenAtEnd;
  }
  nlohmann::json to_json() const {
    return {{"connections_tried", tried},
            {"connected", connected},
            {"refused_or_failed", refused_or_failed},
            {"closed_by_server", closed_by_server},
            {"closed_by_us", closed_by_us},
            {"still_open_at_end", still_open_at_end},
            {"given_a_slot", given_a_slot}};
  }
};

// What all connections share: byte counts and the server's ERROR texts.
struct Shared {
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  std::map<std::string, uint64_t> server_errors;

  void note_error(const std::string& text) {
    if (server_errors.size() < kMaxDistinctErrors || server_errors.count(text)) {
      ++server_errors[text];
    }
  }
};

std::vector<uint8_t> header_bytes(FrameType type, uint32_t length) {
  auto header = chunkex::encode_frame_header(type, length);
  return {header.begin(), header.end()};
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::io_context& io, Shared& shared, Behaviour behaviour, uint64_t seed)
      : socket_(io), drip_timer_(io), shared_(shared), behaviour_(behaviour), seed_(seed) {}

  // `on_connect_done` runs once the connect succeeded or failed.
  void start(const asio::ip::tcp::endpoint& endpoint, std::function<void()> on_connect_done) {
    socket_.async_connect(endpoint,
                          [self = shared_from_this(), on_connect_done](const asio::error_code& ec) {
                            on_connect_done();
                            if (ec) return self->end(Ending::kFailed);
                            if (self->ending_ != Ending::kNone) return;  // time was up meanwhile
                            self->connected_ = true;
                            self->behave();
                          });
  }

  // The flood's time is up: whatever is still going on ends here.
  void stop() {
    end(connected_ ? Ending::kOpenAtEnd : Ending::kFailed);
    close();
  }

  Behaviour behaviour() const { return behaviour_; }
  Ending ending() const { return ending_; }
  bool connected_once() const { return connected_; }
  bool flagged() const { return flagged_; }

 private:
  void behave() {
    switch (behaviour_) {
      case Behaviour::kHalfOpen:
        break;
      case Behaviour::kSlowloris:
        pending_ = header_bytes(FrameType::kAnnounce, kSlowlorisPayloadBytes);
        pending_.resize(pending_.size() + kSlowlorisPayloadBytes, 0);
        drip();
        break;
      case Behaviour::kRandomBytes: {
        // The project's one seeded generator (common/random.h).
        chunkex::Bytes junk = chunkex::pseudo_random_bytes(kRandomBytes, seed_);
        write_all(std::vector<uint8_t>(junk.begin(), junk.end()));
        break;
      }
      case Behaviour::kOversized:
        write_all(header_bytes(FrameType::kAnnounce, kOversizedLength));
        break;
      case Behaviour::kReset: {
        // SO_LINGER 0: close() sends RST instead of FIN.
        asio::error_code ignored;
        socket_.set_option(asio::socket_base::linger(true, 0), ignored);
        return end(Ending::kClosedByUs);
      }
    }
    read();
  }

  void read() {
    socket_.async_read_some(asio::buffer(read_buffer_),
                            [self = shared_from_this()](const asio::error_code& ec, size_t n) {
                              if (ec) return self->end(Ending::kClosedByServer);  // EOF or reset
                              self->shared_.bytes_received += n;
                              self->parse(n);
                              self->read();
                            });
  }

  // The server's answers are frames; note who was given a slot and why
  // anyone was turned away.
  void parse(size_t n) {
    if (decoder_.failed()) return;
    std::vector<chunkex::Frame> frames;
    decoder_.feed(chunkex::ByteView(read_buffer_.data(), n), frames);
    for (const auto& frame : frames) {
      flagged_ = flagged_ || frame.type == FrameType::kFlag;
      if (frame.type == FrameType::kError) {
        shared_.note_error(std::string(frame.payload.begin(), frame.payload.end()));
      }
    }
  }

  void write_all(std::vector<uint8_t> bytes) {
    auto buffer = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    asio::async_write(socket_, asio::buffer(*buffer),
                      [self = shared_from_this(), buffer](const asio::error_code& ec, size_t n) {
                        self->shared_.bytes_sent += n;
                        if (ec) self->end(Ending::kClosedByServer);
                      });
  }

  // Slowloris: one byte of `pending_`, then a pause, then the next.
  void drip() {
    if (ending_ != Ending::kNone || dripped_ == pending_.size()) return;
    asio::async_write(socket_, asio::buffer(&pending_[dripped_], 1),
                      [self = shared_from_this()](const asio::error_code& ec, size_t n) {
                        self->shared_.bytes_sent += n;
                        self->dripped_ += n;
                        if (ec) return self->end(Ending::kClosedByServer);
                        self->drip_timer_.expires_after(kDripPeriod);
                        self->drip_timer_.async_wait([self](const asio::error_code& timer_ec) {
                          if (!timer_ec) self->drip();
                        });
                      });
  }

  // The first ending counts; later errors are its echoes.
  void end(Ending ending) {
    if (ending_ != Ending::kNone) return;
    ending_ = ending;
    close();
  }

  void close() {
    asio::error_code ignored;
    drip_timer_.cancel();
    socket_.close(ignored);
  }

  asio::ip::tcp::socket socket_;
  asio::steady_timer drip_timer_;
  Shared& shared_;
  Behaviour behaviour_;
  uint64_t seed_;
  bool connected_ = false;
  bool flagged_ = false;
  Ending ending_ = Ending::kNone;
  std::array<uint8_t, 4096> read_buffer_{};
  chunkex::FrameDecoder decoder_;
  std::vector<uint8_t> pending_;
  size_t dripped_ = 0;
};

asio::ip::address address_of(const std::string& host) {
  asio::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("--host " + host + ": not an IP address");
  return address;
}

class Flood {
 public:
  Flood(asio::io_context& io, Options options)
      : io_(io),
        options_(std::move(options)),
        endpoint_(address_of(options_.host), static_cast<uint16_t>(options_.port)),
        launch_timer_(io),
        end_timer_(io) {}

  void start() {
    end_timer_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(options_.seconds)));
    end_timer_.async_wait([this](const asio::error_code& ec) {
      if (!ec) stop();
    });
    launch_some();
  }

  nlohmann::json report() const {
    Tally total;
    std::map<Behaviour, Tally> by_behaviour;
    for (const auto& connection : connections_) {
      for (Tally* tally : {&total, &by_behaviour[connection->behaviour()]}) {
        tally->count(connection->ending(), connection->connected_once(), connection->flagged());
      }
    }
    nlohmann::json json = total.to_json();
    json["bytes_sent"] = shared_.bytes_sent;
    json["bytes_received"] = shared_.bytes_received;
    json["seconds"] = options_.seconds;
    for (const auto& [behaviour, tally] : by_behaviour) {
      json["behaviours"][name_of(behaviour)] = tally.to_json();
    }
    json["server_errors"] = shared_.server_errors;
    return json;
  }

 private:
  void launch_some() {
    for (size_t i = 0; i < kLaunchesPerPeriod && connections_.size() < options_.connections &&
                       connecting_ < kMaxConnectsInFlight;
         ++i) {
      launch_one();
    }
    if (connections_.size() == options_.connections) return;
    launch_timer_.expires_after(kLaunchPeriod);
    launch_timer_.async_wait([this](const asio::error_code& ec) {
      if (!ec) launch_some();
    });
  }

  void launch_one() {
    size_t index = connections_.size();
    Behaviour behaviour = kBehaviours[index % kBehaviours.size()];
    auto connection =
        std::make_shared<Connection>(io_, shared_, behaviour, options_.seed * 1000003 + index);
    connections_.push_back(connection);
    ++connecting_;
    connection->start(endpoint_, [this] { --connecting_; });
  }

  void stop() {
    launch_timer_.cancel();
    for (auto& connection : connections_) connection->stop();
  }

  asio::io_context& io_;
  Options options_;
  asio::ip::tcp::endpoint endpoint_;
  asio::steady_timer launch_timer_;
  asio::steady_timer end_timer_;
  Shared shared_;
  std::vector<std::shared_ptr<Connection>> connections_;
  size_t connecting_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chunkex flood: junk and slow connections against a chunkex server",
               "chunkex-flood"};
  Options options;
  app.add_option("--host", options.host, "server address (an IP address)")->capture_default_str();
  app.add_option("--port", options.port, "server port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--connections", options.connections,
                 "connections to open, round-robin over half-open, slowloris, "
                 "random bytes, oversized length and reset")
      ->check(CLI::Range(size_t{1}, size_t{10000}))
      ->capture_default_str();
  app.add_option("--seconds", options.seconds, "stop and close everything after this long")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  app.add_option("--seed", options.seed, "seed of the random bytes")->capture_default_str();
  app.add_option("--report", options.report, "also write the JSON report to this file");
  return chunkex::run_main(app, argc, argv, [&] {
    asio::io_context io;
    Flood flood(io, options);
    flood.start();
    io.run();
    std::string text = flood.report().dump(2) + "\n";
    fmt::print("{}", text);
    if (!options.report.empty()) chunkex::write_file_atomically(options.report, text);
    return 0;
  });
}
