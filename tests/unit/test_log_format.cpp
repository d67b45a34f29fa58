// The log format read back: every kind of line the relay and peer cores write
// parses into its fields and is written again from them byte for byte. The
// lines come from whole exchanges in memory (unequal files, a stranger turned
// away, a peer that dies and comes back, a server restart, an error), so a
// line kind added to a core without a template here fails this test.
#include <doctest/doctest.h>

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/log_format.h"
#include "common/messages.h"
#include "common/peer_core.h"
#include "common/relay_core.h"
#include "test_support.h"

namespace chunkex {
namespace {

constexpr uint32_t kChunkBytes = 1000;

class SavingOutbox : public test::RecordingRelayOutbox {
 public:
  void save_exchange(const SavedExchange& exchange) override { saved = exchange; }
  void rounds_delivered(uint64_t rounds) override {
    if (saved) saved->delivered_rounds = rounds;
  }
  std::optional<SavedExchange> saved;
};

// One relay and N peers over in-memory queues, delivered round-robin. Every
// line any incarnation of any core logged is kept in `lines`.
class Exchange {
 public:
  explicit Exchange(const std::vector<uint64_t>& sizes) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      peers_.push_back(std::make_unique<Node>(test::pseudo_random_bytes(sizes[i], 7 + i)));
    }
    new_relay(std::nullopt);
  }

  void connect_all() {
    for (size_t i = 0; i < peers_.size(); ++i) connect(i);
  }
  // A new client process for slot `i` over the same files.
  void connect(size_t i) {
    Node& node = *peers_[i];
    node.core = std::make_unique<PeerCore>(8, node.store, node.out);
    node.conn = next_conn_++;
    node.inbox.clear();
    node.reported = false;
    relay_->on_connect(node.conn);
    collect();
  }
  // A connection that holds no peer (a stranger).
  void connect_stranger() {
    relay_->on_connect(next_conn_++);
    collect();
  }
  // Delivers until nothing moves or `stop` says so.
  void run(const std::function<bool()>& stop = {}) {
    while (step()) {
      if (stop && stop()) return;
    }
  }
  uint64_t rounds_delivered() const { return relay_->progress().rounds_delivered; }
  // The client process of slot `i` dies with everything it had in flight.
  void kill(size_t i) {
    Node& node = *peers_[i];
    keep_peer_lines(node);
    ConnId dead = node.conn;
    node.conn = 0;
    node.inbox.clear();
    node.out.to_server.clear();
    relay_->on_disconnect(dead);
    collect();
  }
  // The relay process dies and a new one resumes; every client comes back.
  void restart_server() {
    std::optional<SavedExchange> saved = relay_out_->saved;
    REQUIRE(saved);
    for (auto& node : peers_) {
      node->inbox.clear();
      node->out.to_server.clear();
      node->core->on_disconnect();
      keep_peer_lines(*node);
    }
    new_relay(saved);
    for (size_t i = peers_.size(); i-- > 0;) connect(i);
  }
  void send_error_from(size_t i, const std::string& why) {
    relay_->on_frame(peers_[i]->conn, encode_error(why));
    collect();
  }

  // Every line logged so far, by every incarnation of every core.
  std::vector<std::string> take_lines() {
    keep_lines();
    return std::move(lines_);
  }

 private:
  struct Node {
    explicit Node(Bytes own) : store(std::move(own)), out(store) {}
    test::MemoryChunkStore store;
    test::QueuePeerOutbox out;
    std::unique_ptr<PeerCore> core;
    std::deque<std::optional<Frame>> inbox;  // nullopt: the server closed
    ConnId conn = 0;
    bool reported = false;  // its end of the connection was closed
  };

  void new_relay(std::optional<SavedExchange> saved) {
    if (relay_out_) keep_relay_lines();
    RelaySettings settings{static_cast<int>(peers_.size()), kChunkBytes,
                           test::default_costs(peers_.size()), 8};
    settings.resume_from = std::move(saved);
    relay_out_ = std::make_unique<SavingOutbox>();
    relay_ = std::make_unique<RelayCore>(settings, *relay_out_);
    collected_ = 0;
  }
  void keep_relay_lines() {
    for (std::string& line : relay_out_->log_lines) lines_.push_back(std::move(line));
    relay_out_->log_lines.clear();
  }
  void keep_peer_lines(Node& node) {
    for (std::string& line : node.out.log_lines) lines_.push_back(std::move(line));
    node.out.log_lines.clear();
  }
  void keep_lines() {
    keep_relay_lines();
    for (auto& node : peers_) keep_peer_lines(*node);
  }

  void collect() {
    for (; collected_ < relay_out_->events.size(); ++collected_) {
      auto& event = relay_out_->events[collected_];
      for (auto& node : peers_) {
        if (node->conn != event.conn || node->conn == 0) continue;
        if (event.close) {
          node->inbox.push_back(std::nullopt);
        } else {
          node->inbox.push_back(event.frame);
        }
      }
    }
  }

  bool step() {
    bool moved = false;
    for (auto& node : peers_) {
      if (!node->core) continue;
      if (!node->inbox.empty()) {
        std::optional<Frame> frame = std::move(node->inbox.front());
        node->inbox.pop_front();
        frame ? node->core->on_frame(std::move(*frame)) : node->core->on_disconnect();
        moved = true;
      }
      if (node->conn == 0) continue;
      if (!node->out.to_server.empty()) {
        Frame frame = std::move(node->out.to_server.front());
        node->out.to_server.pop_front();
        relay_->on_frame(node->conn, std::move(frame));
        collect();
        moved = true;
      } else if (node->core->finished() && !node->reported) {
        node->reported = true;
        relay_->on_disconnect(node->conn);
        collect();
        moved = true;
      }
    }
    return moved;
  }

  std::vector<std::unique_ptr<Node>> peers_;
  std::unique_ptr<SavingOutbox> relay_out_;
  std::unique_ptr<RelayCore> relay_;
  size_t collected_ = 0;
  ConnId next_conn_ = 10;
  std::vector<std::string> lines_;
};

// Unequal files: IDLE requests, a peer serving two requesters in a round, an
// empty file, and a stranger turned away.
std::vector<std::string> unequal_files_lines() {
  Exchange exchange({2500, 1200, 0, 3100});
  exchange.connect_all();
  exchange.run([&] { return exchange.rounds_delivered() >= 1; });
  exchange.connect_stranger();
  exchange.run();
  return exchange.take_lines();
}

std::vector<std::string> peer_comes_back_lines() {
  Exchange exchange({3000, 3000, 3000, 3000});
  exchange.connect_all();
  exchange.run([&] { return exchange.rounds_delivered() >= 4; });
  exchange.kill(1);
  exchange.connect(1);
  exchange.run();
  return exchange.take_lines();
}

std::vector<std::string> server_restart_lines() {
  Exchange exchange({3000, 3000, 3000, 3000});
  exchange.connect_all();
  exchange.run([&] { return exchange.rounds_delivered() >= 3; });
  exchange.restart_server();
  exchange.run();
  return exchange.take_lines();
}

// A peer reports an error mid-exchange; another peer's core is sent a ROSTER
// before its FLAG (it fails before it knows its ID: component "?").
std::vector<std::string> error_lines() {
  Exchange exchange({3000, 3000, 3000});
  exchange.connect_all();
  exchange.run([&] { return exchange.rounds_delivered() >= 2; });
  exchange.send_error_from(2, "disk full");
  exchange.run();
  std::vector<std::string> lines = exchange.take_lines();
  test::MemoryChunkStore store(test::pseudo_random_bytes(10, 1));
  test::QueuePeerOutbox out(store);
  PeerCore early(8, store, out);
  early.on_frame(Frame{FrameType::kRoster, {}});
  lines.insert(lines.end(), out.log_lines.begin(), out.log_lines.end());
  return lines;
}

std::vector<std::string> written_lines() {
  std::vector<std::string> all;
  for (auto scenario :
       {unequal_files_lines, peer_comes_back_lines, server_restart_lines, error_lines}) {
    std::vector<std::string> lines = scenario();
    REQUIRE_FALSE(lines.empty());
    all.insert(all.end(), lines.begin(), lines.end());
  }
  return all;
}

LogEvent parsed(std::string_view line) {
  auto event = parse_log_line(line);
  REQUIRE_MESSAGE(event, line);
  return *event;
}

TEST_CASE("every line the cores write reads back and is written again unchanged") {
  std::vector<std::string> lines = written_lines();
  std::set<std::pair<LogEventKind, bool>> seen;
  for (const std::string& line : lines) {
    CAPTURE(line);
    LogEvent event = parsed(line);
    CHECK(event.kind != LogEventKind::kOther);
    CHECK(format_log_line(event.clock_us, event.component, format_log_event(event)) == line);
    seen.insert({event.kind, event.from_server()});
  }
  // Every kind each side can write, once at least.
  using K = LogEventKind;
  for (K kind :
       {K::kJoin, K::kStart, K::kRequest, K::kIdle, K::kAllIdle, K::kSync, K::kForward,
        K::kChunkData, K::kSendChunk, K::kDone, K::kFinalClocks, K::kRejected, K::kError,
        K::kAbandoned, K::kDisconnected, K::kReconnected, K::kResumed, K::kServerRestarted}) {
    CAPTURE(log_event_kind_name(kind));
    CHECK(seen.count({kind, true}) == 1);
  }
  for (K kind :
       {K::kFlag, K::kRoster, K::kRequest, K::kIdle, K::kAllIdle, K::kForward, K::kChunkData,
        K::kSendChunk, K::kFileComplete, K::kDone, K::kFinalClocks, K::kError, K::kPeerResumed}) {
    CAPTURE(log_event_kind_name(kind));
    CHECK(seen.count({kind, false}) == 1);
  }
}

TEST_CASE("the fields of a round's lines, on the server and on a peer") {
  LogEvent request = parsed("0.6 [Server] REQUEST_CHUNK A asks B for chunk 0 (round 0)");
  CHECK(request.kind == LogEventKind::kRequest);
  CHECK(request.clock_us == 600);
  CHECK(request.peer == 0);
  CHECK(request.target == 1);
  CHECK(request.round == 0);

  LogEvent sync = parsed("0.9 [Server] sync clocks to 0.9 (round 0)");
  CHECK(sync.kind == LogEventKind::kSync);
  CHECK(sync.value_us == 900);

  LogEvent delivery = parsed("10.8 [Server] SEND_CHUNK B -> A: chunk 3 of B (round 12)");
  CHECK(delivery.kind == LogEventKind::kSendChunk);
  CHECK(delivery.peer == 0);
  CHECK(delivery.target == 1);
  CHECK(delivery.chunk == 3);
  CHECK(delivery.round == 12);
  CHECK_FALSE(parse_log_line("10.8 [Server] SEND_CHUNK B -> A: chunk 3 of C (round 12)")->kind ==
              LogEventKind::kSendChunk);

  LogEvent recv = parsed("16.8 [A] recv chunk 0 of B (round 0)");
  CHECK(recv.kind == LogEventKind::kSendChunk);
  CHECK(recv.peer == 0);
  CHECK(recv.target == 1);
  CHECK(recv.clock_us == 16800);

  LogEvent forwarded = parsed("1.5 [A] forwarded REQUEST_CHUNK from D: chunk 0 (round 0)");
  CHECK(forwarded.kind == LogEventKind::kForward);
  CHECK(forwarded.peer == 3);
  CHECK(forwarded.target == 0);

  LogEvent final_clocks = parsed("1188.0 [Server] final clocks A=1185.0 B=1186.0 C=1187.0");
  CHECK(final_clocks.kind == LogEventKind::kFinalClocks);
  CHECK(parse_clocks(final_clocks.detail) == std::vector<ClockUs>{1185000, 1186000, 1187000});
}

TEST_CASE("clocks read back exactly") {
  CHECK(parse_clock_ms("0.0") == 0);
  CHECK(parse_clock_ms("16.8") == 16800);
  CHECK(parse_clock_ms("0.65") == 650);
  CHECK(parse_clock_ms("232075.8") == 232075800);
  CHECK(parse_clock_ms("-1.005") == -1005);
  for (ClockUs us : {0LL, 1LL, 10LL, 999LL, 16800LL, 232075800LL, -650LL}) {
    CHECK(parse_clock_ms(format_clock_ms(us)) == us);
  }
  for (const char* bad : {"", "1", ".5", "1.", "1.2345", "a.1", "1.a", "--1.0", "1e3.0"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_clock_ms(bad));
  }
  CHECK(parse_clocks("A=1.0 B=2.5") == std::vector<ClockUs>{1000, 2500});
  CHECK_FALSE(parse_clocks("B=1.0"));
  CHECK_FALSE(parse_clocks("A=1.0 "));
  CHECK_FALSE(parse_clocks(""));
}

TEST_CASE("lines that are not a chunkex log's") {
  for (const char* bad : {"", "hello world", "16.8 A recv", "16.8 [A recv", "x [A] recv",
                          "16.8 [Mallory] recv chunk 0 of B (round 0)", "16.8 [A]"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_log_line(bad));
  }
  // A well-formed line with an event of no known kind: kept, as kOther.
  LogEvent other = parsed("1.0 [Server] something new");
  CHECK(other.kind == LogEventKind::kOther);
  CHECK(format_log_event(other) == "something new");
}

}  // namespace
}  // namespace chunkex
