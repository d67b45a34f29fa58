// chunkex-wan-proxy: a TCP proxy that emulates a WAN link between the peers
// and the relay server, for benchmarks on a machine whose kernel has no
// netem/tbf qdisc. It is a byte pipe and knows nothing of the chunkex protocol.
//
// What it emulates, per direction of each proxied connection: a link of fixed
// rate (a chunk of n bytes occupies the link for n*8/rate seconds, starting
// when it has arrived and the previous chunk has left) followed by a fixed
// one-way propagation delay. So a chunk is written on at
//   link_free = max(arrival, link_free) + n*8/rate;  release = link_free + delay.
// A lone small message sees `delay` each way (RTT = 2 * delay); a bulk stream
// gets `rate`. EOF (half-close) travels the same way, behind the data.
//
// Limits: no loss, reordering or jitter; chunks are whatever one read returned
// (up to kReadBytesMax), so the link is store-and-forward at that granularity
// rather than per packet. Each connection has its own link (run one proxy per
// peer to model one access link per peer). The proxy terminates TCP on both
// sides, so the end hosts' congestion control never sees the delay: in-flight
// data is bounded by --buffer-bytes per direction instead (it plays the role
// of the window; keep it above rate * delay or it, not the rate, is the cap).
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <nlohmann/json.hpp>

namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Nanoseconds = std::chrono::nanoseconds;

// Largest single read, and so the largest store-and-forward unit (0.5 ms at
// 1 Gbit/s). Reads smaller than half of it are copied to a right-sized buffer
// so that held memory stays within twice the counted bytes at worst.
constexpr size_t kReadBytesMax = 64 * 1024;
// Released chunks gathered into one write; bounds the iovec count per syscall.
constexpr size_t kChunksPerWriteMax = 64;

struct Options {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 0;
  std::string port_file;
  std::string upstream_host = "127.0.0.1";
  uint16_t upstream_port = 0;
  double delay_ms = 10;
  double rate_mbit = 1000;
  size_t buffer_bytes = 4 << 20;
  size_t connections_max = 16;
  size_t exit_after_connections = 0;
  std::string stats_file;
};

// The timing of one direction of the link; pure arithmetic, no I/O.
class LinkModel {
 public:
  LinkModel(double delay_ms, double rate_mbit)
      : delay_(static_cast<int64_t>(delay_ms * 1e6)), ns_per_byte_(8e3 / rate_mbit) {}

  Clock::time_point release_time(Clock::time_point arrival, size_t bytes) {
    auto serialization =
        Nanoseconds(static_cast<int64_t>(static_cast<double>(bytes) * ns_per_byte_));
    link_free_at_ = std::max(arrival, link_free_at_) + serialization;
    return link_free_at_ + delay_;
  }

 private:
  Nanoseconds delay_;
  double ns_per_byte_;
  Clock::time_point link_free_at_{};
};

struct ConnectionStats {
  uint64_t up_bytes = 0;    // client -> upstream, bytes written to upstream
  uint64_t down_bytes = 0;  // upstream -> client, bytes written to the client
  size_t up_held_bytes_max = 0;
  size_t down_held_bytes_max = 0;
  bool open = true;
};

// Bytes read from one socket, waiting for their release time. size 0 = EOF.
struct Chunk {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  size_t capacity = 0;
  Clock::time_point release_at;
};

// One direction of a proxied connection: source -> link -> destination.
struct Direction {
  Direction(tcp::socket& from, tcp::socket& to, const Options& options, uint64_t& forwarded,
            size_t& held_max)
      : source(from),
        destination(to),
        link(options.delay_ms, options.rate_mbit),
        timer(from.get_executor()),
        bytes_forwarded(forwarded),
        held_bytes_max(held_max) {}

  tcp::socket& source;
  tcp::socket& destination;
  LinkModel link;
  asio::steady_timer timer;
  std::deque<Chunk> queue;
  size_t held_bytes = 0;  // buffer capacity of every queued chunk
  size_t chunks_in_flight = 0;
  bool read_paused = false;  // held_bytes reached --buffer-bytes
  bool timer_armed = false;
  bool source_ended = false;
  bool finished = false;  // EOF passed on to the destination
  uint64_t& bytes_forwarded;
  size_t& held_bytes_max;
};

// One accepted client and its upstream connection (after Asio's chat example:
// every handler holds the session alive and checks closed_ first).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket client, const Options& options, ConnectionStats& stats,
          std::function<void()> on_closed)
      : client_(std::move(client)),
        upstream_(client_.get_executor()),
        options_(options),
        stats_(stats),
        on_closed_(std::move(on_closed)),
        up_(client_, upstream_, options, stats.up_bytes, stats.up_held_bytes_max),
        down_(upstream_, client_, options, stats.down_bytes, stats.down_held_bytes_max) {}

  void start(const tcp::resolver::results_type& upstream_endpoints) {
    auto self(shared_from_this());
    asio::async_connect(upstream_, upstream_endpoints,
                        [this, self](const asio::error_code& ec, const tcp::endpoint&) {
                          if (closed_) return;
                          if (ec) return fail("upstream connect: " + ec.message());
                          asio::error_code ignored;
                          client_.set_option(tcp::no_delay(true), ignored);
                          upstream_.set_option(tcp::no_delay(true), ignored);
                          do_read(up_);
                          do_read(down_);
                        });
  }

  void close() { fail(""); }

 private:
  void do_read(Direction& d) {
    size_t room = options_.buffer_bytes - std::min(options_.buffer_bytes, d.held_bytes);
    if (room == 0) {
      d.read_paused = true;
      return;
    }
    size_t capacity = std::min(room, kReadBytesMax);
    auto buffer = std::make_shared<Chunk>();
    buffer->data = std::make_unique_for_overwrite<uint8_t[]>(capacity);
    buffer->capacity = capacity;
    auto self(shared_from_this());
    d.source.async_read_some(asio::buffer(buffer->data.get(), capacity),
                             [this, self, &d, buffer](const asio::error_code& ec, size_t bytes) {
                               if (closed_) return;
                               if (ec == asio::error::eof) return on_source_eof(d);
                               if (ec) return fail(ec.message());
                               buffer->size = bytes;
                               enqueue(d, std::move(*buffer));
                               do_read(d);
                             });
  }

  void enqueue(Direction& d, Chunk chunk) {
    if (chunk.size < chunk.capacity / 2) {
      auto exact = std::make_unique_for_overwrite<uint8_t[]>(chunk.size);
      std::copy_n(chunk.data.get(), chunk.size, exact.get());
      chunk.data = std::move(exact);
      chunk.capacity = chunk.size;
    }
    chunk.release_at = d.link.release_time(Clock::now(), chunk.size);
    d.held_bytes += chunk.capacity;
    d.held_bytes_max = std::max(d.held_bytes_max, d.held_bytes);
    d.queue.push_back(std::move(chunk));
    pump(d);
  }

  void on_source_eof(Direction& d) {
    d.source_ended = true;
    Chunk eof;
    eof.release_at = d.link.release_time(Clock::now(), 0);
    d.queue.push_back(std::move(eof));
    pump(d);
  }

  // Writes every chunk that is due, or waits for the first one that is not.
  void pump(Direction& d) {
    if (d.chunks_in_flight > 0 || d.timer_armed || d.queue.empty()) return;
    auto now = Clock::now();
    if (d.queue.front().release_at > now) return arm_timer(d);
    if (d.queue.front().size == 0) return forward_eof(d);
    std::vector<asio::const_buffer> buffers;
    for (const Chunk& chunk : d.queue) {
      if (chunk.size == 0 || chunk.release_at > now || buffers.size() == kChunksPerWriteMax) break;
      buffers.push_back(asio::buffer(chunk.data.get(), chunk.size));
    }
    d.chunks_in_flight = buffers.size();
    do_write(d, buffers);
  }

  void arm_timer(Direction& d) {
    d.timer_armed = true;
    d.timer.expires_at(d.queue.front().release_at);
    auto self(shared_from_this());
    d.timer.async_wait([this, self, &d](const asio::error_code&) {
      if (closed_) return;
      d.timer_armed = false;
      pump(d);
    });
  }

  void do_write(Direction& d, const std::vector<asio::const_buffer>& buffers) {
    auto self(shared_from_this());
    asio::async_write(d.destination, buffers,
                      [this, self, &d](const asio::error_code& ec, size_t bytes) {
                        if (closed_) return;
                        if (ec) return fail(ec.message());
                        d.bytes_forwarded += bytes;
                        for (; d.chunks_in_flight > 0; --d.chunks_in_flight) {
                          d.held_bytes -= d.queue.front().capacity;
                          d.queue.pop_front();
                        }
                        if (d.read_paused && !d.source_ended) {
                          d.read_paused = false;
                          do_read(d);
                        }
                        pump(d);
                      });
  }

  void forward_eof(Direction& d) {
    d.queue.pop_front();
    d.finished = true;
    asio::error_code ec;
    d.destination.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return fail("shutdown: " + ec.message());
    if (up_.finished && down_.finished) fail("");
  }

  // Closes both sides at once; why is empty for a clean end.
  void fail(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    if (!why.empty()) fmt::print(stderr, "wan-proxy: connection closed: {}\n", why);
    asio::error_code ignored;
    for (Direction* d : {&up_, &down_}) {
      d->timer.cancel();
      d->queue.clear();
      d->held_bytes = 0;
    }
    client_.close(ignored);
    upstream_.close(ignored);
    stats_.open = false;
    if (on_closed_) on_closed_();
  }

  tcp::socket client_;
  tcp::socket upstream_;
  const Options& options_;
  ConnectionStats& stats_;
  std::function<void()> on_closed_;
  Direction up_;
  Direction down_;
  bool closed_ = false;
};

// Accepts clients, starts a session per client, keeps the per-connection
// counters (in accept order) and reports them at the end.
class Proxy {
 public:
  Proxy(asio::io_context& io, const Options& options)
      : io_(io), options_(options), acceptor_(io), signals_(io, SIGINT, SIGTERM) {
    tcp::resolver resolver(io);
    upstream_endpoints_ =
        resolver.resolve(options.upstream_host, std::to_string(options.upstream_port));
    tcp::endpoint endpoint(asio::ip::make_address(options.listen_host), options.listen_port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
  }

  void start() {
    announce_port();
    signals_.async_wait([this](const asio::error_code& ec, int) {
      if (!ec) finish();
    });
    do_accept();
  }

 private:
  void announce_port() {
    tcp::endpoint bound = acceptor_.local_endpoint();
    fmt::print("listening on {}:{}\n", bound.address().to_string(), bound.port());
    std::fflush(stdout);
    if (options_.port_file.empty()) return;
    std::string partial = options_.port_file + ".part";
    std::ofstream(partial) << bound.port() << "\n";
    std::filesystem::rename(partial, options_.port_file);
  }

  void do_accept() {
    acceptor_.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
      if (!acceptor_.is_open()) return;
      if (!ec) admit(std::move(socket));
      do_accept();
    });
  }

  void admit(tcp::socket socket) {
    if (open_connections_ >= options_.connections_max) {
      fmt::print(stderr, "wan-proxy: refused a connection: {} already open\n", open_connections_);
      ++refused_;
      return;  // the socket closes here
    }
    ++open_connections_;
    std::erase_if(sessions_, [](const std::weak_ptr<Session>& weak) { return weak.expired(); });
    ConnectionStats& stats = stats_[next_id_++];
    auto session = std::make_shared<Session>(std::move(socket), options_, stats,
                                             [this] { on_session_closed(); });
    sessions_.push_back(session);
    session->start(upstream_endpoints_);
  }

  void on_session_closed() {
    --open_connections_;
    ++closed_connections_;
    if (options_.exit_after_connections > 0 &&
        closed_connections_ >= options_.exit_after_connections) {
      asio::post(io_, [this] { finish(); });
    }
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    report();
    asio::error_code ignored;
    acceptor_.close(ignored);
    signals_.cancel(ignored);
    for (auto& weak : sessions_) {
      if (auto session = weak.lock()) session->close();
    }
  }

  void report() const;

  asio::io_context& io_;
  const Options& options_;
  tcp::acceptor acceptor_;
  asio::signal_set signals_;
  tcp::resolver::results_type upstream_endpoints_;
  // By accept order; nodes stay put (sessions hold references). One entry per
  // connection ever accepted: the report is the point of the program.
  std::map<uint64_t, ConnectionStats> stats_;
  std::vector<std::weak_ptr<Session>> sessions_;
  uint64_t next_id_ = 1;
  size_t open_connections_ = 0;
  size_t closed_connections_ = 0;
  size_t refused_ = 0;
  bool finished_ = false;
};

void Proxy::report() const {
  nlohmann::json connections = nlohmann::json::array();
  uint64_t up_max = 0;
  uint64_t down_max = 0;
  for (const auto& [id, stats] : stats_) {
    connections.push_back({{"id", id},
                           {"up_bytes", stats.up_bytes},
                           {"down_bytes", stats.down_bytes},
                           {"up_held_bytes_max", stats.up_held_bytes_max},
                           {"down_held_bytes_max", stats.down_held_bytes_max},
                           {"closed", !stats.open}});
    up_max = std::max(up_max, stats.up_bytes);
    down_max = std::max(down_max, stats.down_bytes);
  }
  nlohmann::json line = {{"delay_ms", options_.delay_ms},
                         {"rate_mbit", options_.rate_mbit},
                         {"buffer_bytes", options_.buffer_bytes},
                         {"connections", connections},
                         {"refused", refused_},
                         {"up_bytes_max", up_max},
                         {"down_bytes_max", down_max},
                         {"busiest_direction_bytes", std::max(up_max, down_max)}};
  std::string text = line.dump();
  fmt::print("{}\n", text);
  std::fflush(stdout);
  if (!options_.stats_file.empty()) std::ofstream(options_.stats_file) << text << "\n";
}

void add_flags(CLI::App& app, Options& options) {
  app.add_option("--listen-host", options.listen_host, "address to listen on")
      ->capture_default_str();
  app.add_option("--listen-port", options.listen_port, "port to listen on (0: the OS picks)")
      ->capture_default_str();
  app.add_option("--port-file", options.port_file, "also write the bound port to this file");
  app.add_option("--upstream-host", options.upstream_host, "the real server's address")
      ->capture_default_str();
  app.add_option("--upstream-port", options.upstream_port, "the real server's port")
      ->required()
      ->check(CLI::Range(1, 65535));
  app.add_option("--delay-ms", options.delay_ms, "one-way delay added in each direction")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60000.0));
  app.add_option("--rate-mbit", options.rate_mbit, "link rate per direction, Mbit/s")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1e7));
  app.add_option("--buffer-bytes", options.buffer_bytes,
                 "bytes held per direction before reading pauses (the emulated window)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 34));
  app.add_option("--max-connections", options.connections_max,
                 "connections proxied at once; more are refused")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{4096}));
  app.add_option("--exit-after-connections", options.exit_after_connections,
                 "report and exit once this many connections have closed (0: run until a signal)")
      ->capture_default_str();
  app.add_option("--stats-file", options.stats_file, "also write the final JSON report here");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chunkex WAN link emulator: a TCP proxy adding delay and a rate cap"};
  Options options;
  add_flags(app, options);
  CLI11_PARSE(app, argc, argv);
  try {
    asio::io_context io(1);
    Proxy proxy(io, options);
    proxy.start();
    io.run();
  } catch (const std::exception& error) {
    fmt::print(stderr, "wan-proxy: error: {}\n", error.what());
    return 1;
  }
  return 0;
}
