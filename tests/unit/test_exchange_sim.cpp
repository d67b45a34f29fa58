// A whole exchange in memory: one RelayCore and N PeerCores wired through a
// deterministic message pump (per-connection FIFO queues in both directions,
// delivered in a chosen interleaving). Files must arrive byte for byte, clocks
// must match an independently stepped model, and logs must not depend on the
// window or on the interleaving.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/chunk_store.h"
#include "common/messages.h"
#include "common/peer_core.h"
#include "common/relay_core.h"
#include "common/sha256.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::contains;
using test::MemoryChunkStore;
using test::QueuePeerOutbox;

enum class Order {
  kRoundRobin,       // one frame per connection and direction, connections in ID order
  kReverse,          // the same, highest connection first, server-bound frames first
  kConnectionFirst,  // drain the lowest busy connection completely before any other
  kRandom,           // a seeded random connection and direction each step
};

struct SimOptions {
  uint32_t chunk_bytes = 1000;
  uint32_t peer_window = 8;
  uint32_t relay_window = 8;
  Order order = Order::kRoundRobin;
  uint64_t order_seed = 1;
  // Applied to every frame in flight, before it is delivered.
  std::function<void(size_t peer, Frame&)> tamper_to_server;
  std::function<void(size_t peer, Frame&)> tamper_to_peer;
  // Shared secret of the relay and of every peer (empty: none).
  std::string token;
  // Once the relay has delivered `at_round` rounds: the process of `peer`
  // dies (all of them when `server` is set: the relay's) and is started
  // again at once. Restarted peers connect in reverse ID order.
  struct Crash {
    uint64_t at_round = 0;
    size_t peer = 0;
    bool server = false;
    bool comes_back = true;
  };
  std::optional<Crash> crash;
};

RelaySettings relay_settings(size_t peers, const SimOptions& options,
                             std::optional<SavedExchange> resume_from = std::nullopt) {
  RelaySettings settings{static_cast<int>(peers), options.chunk_bytes, test::default_costs(peers),
                         options.relay_window};
  settings.token = options.token;
  settings.resume_from = std::move(resume_from);
  return settings;
}

// Remembers what a real server saves in exchange.state.
class SavingRelayOutbox : public test::RecordingRelayOutbox {
 public:
  void save_exchange(const SavedExchange& exchange) override { saved = exchange; }
  void rounds_delivered(uint64_t rounds) override {
    REQUIRE(saved);
    saved->delivered_rounds = rounds;
  }
  std::optional<SavedExchange> saved;
};

// The log lines that record a peer leaving and coming back, or a restart.
bool is_resume_line(const std::string& line) {
  for (const char* part :
       {"disconnected: exchange paused", "reconnected: it has completed",
        "exchange resumed at round", "resumed after round", "server restarted: resuming"}) {
    if (contains(line, part)) return true;
  }
  return false;
}

std::vector<std::string> without_resume_lines(std::vector<std::string> lines) {
  std::erase_if(lines, is_resume_line);
  return lines;
}

ConnId conn_of(size_t peer) {
  return 10 + peer;
}

class Simulation {
 public:
  Simulation(std::vector<Bytes> own_files, SimOptions options)
      : options_(std::move(options)),
        files(std::move(own_files)),
        relay_out(std::make_unique<SavingRelayOutbox>()),
        relay(std::make_unique<RelayCore>(relay_settings(files.size(), options_), *relay_out)) {
    for (const Bytes& file : files) {
      auto peer = std::make_unique<Peer>(file);
      peer->core = std::make_unique<PeerCore>(options_.peer_window, peer->store, peer->out,
                                              PeerAuth{options_.token});
      peer->conn = conn_of(peers.size());
      peers.push_back(std::move(peer));
    }
    random_state_ = options_.order_seed;
  }

  size_t peer_count() const { return files.size(); }

  // Connects every peer in ID order, then delivers frames until none is left.
  void run() {
    for (size_t i = 0; i < peer_count(); ++i) {
      relay->on_connect(peers[i]->conn);
      collect();
    }
    while (step()) maybe_crash();
  }

  bool step() {
    switch (options_.order) {
      case Order::kRoundRobin:
        return round_robin(false);
      case Order::kReverse:
        return round_robin(true);
      case Order::kConnectionFirst:
        return connection_first();
      case Order::kRandom:
        return random_step();
    }
    return false;
  }

  struct Peer {
    explicit Peer(Bytes own) : store(std::move(own)), out(store) {}
    MemoryChunkStore store;
    QueuePeerOutbox out;
    std::unique_ptr<PeerCore> core;
    std::deque<std::optional<Frame>> from_server;  // nullopt: the server closed
    bool server_closed = false;                    // the server reads nothing more from this peer
    bool disconnect_reported = false;
    ConnId conn = 0;
  };

  std::vector<std::string> peer_log(size_t i) const { return peers[i]->out.log_lines; }

  SimOptions options_;
  std::vector<Bytes> files;
  std::unique_ptr<SavingRelayOutbox> relay_out;
  std::unique_ptr<RelayCore> relay;
  std::vector<std::unique_ptr<Peer>> peers;
  bool crashed = false;

 private:
  void maybe_crash() {
    const auto& crash = options_.crash;
    // Only once the exchange has started (rounds_total is known from then).
    RelayProgress progress = relay->progress();
    if (!crash || crashed || progress.rounds_total == 0 ||
        progress.rounds_delivered < crash->at_round) {
      return;
    }
    crashed = true;
    if (crash->server) return restart_server();
    kill_peer(crash->peer);
    if (crash->comes_back) start_again(crash->peer);
  }

  // Its queues die with it; the relay sees the connection drop.
  void kill_peer(size_t i) {
    Peer& peer = *peers[i];
    peer.from_server.clear();
    peer.out.to_server.clear();
    peer.server_closed = true;
    peer.disconnect_reported = true;
    ConnId dead = peer.conn;
    peer.conn = 0;  // what the relay still sends it is lost
    relay->on_disconnect(dead);
    collect();
  }

  // A new process over the same files (its store): a new core, a new
  // connection, and a log file written anew.
  void start_again(size_t i) {
    Peer& peer = *peers[i];
    peer.out.log_lines.clear();
    peer.out.finished_calls = 0;
    peer.out.outcome.reset();
    peer.core = std::make_unique<PeerCore>(options_.peer_window, peer.store, peer.out,
                                           PeerAuth{options_.token});
    peer.conn = next_conn_++;
    peer.server_closed = false;
    peer.disconnect_reported = false;
    relay->on_connect(peer.conn);
    collect();
  }

  // The relay process dies: every peer loses its connection (and exits);
  // then a new relay resumes from what the old one saved, and every peer is
  // started again, the last one first.
  void restart_server() {
    std::optional<SavedExchange> saved = relay_out->saved;
    REQUIRE(saved);
    for (auto& peer : peers) {
      peer->from_server.clear();
      peer->out.to_server.clear();
      peer->core->on_disconnect();
    }
    relay_out = std::make_unique<SavingRelayOutbox>();
    collected_ = 0;
    relay = std::make_unique<RelayCore>(relay_settings(peer_count(), options_, saved), *relay_out);
    for (size_t k = peer_count(); k-- > 0;) start_again(k);
  }

  // Moves what the relay sent into the per-connection queues; frames to a
  // connection whose peer died are lost.
  void collect() {
    for (; collected_ < relay_out->events.size(); ++collected_) {
      auto& event = relay_out->events[collected_];
      auto found = std::find_if(peers.begin(), peers.end(),
                                [&](const auto& peer) { return peer->conn == event.conn; });
      if (found == peers.end()) continue;
      Peer& peer = **found;
      if (event.close) {
        peer.server_closed = true;
        peer.from_server.push_back(std::nullopt);
      } else {
        peer.from_server.push_back(std::move(event.frame));
      }
    }
  }

  bool deliver_to_peer(size_t i) {
    Peer& peer = *peers[i];
    if (peer.from_server.empty()) return false;
    std::optional<Frame> frame = std::move(peer.from_server.front());
    peer.from_server.pop_front();
    if (frame) {
      if (options_.tamper_to_peer) options_.tamper_to_peer(i, *frame);
      peer.core->on_frame(std::move(*frame));
    } else {
      peer.core->on_disconnect();
    }
    return true;
  }

  bool deliver_to_server(size_t i) {
    Peer& peer = *peers[i];
    if (peer.server_closed) {
      peer.out.to_server.clear();
      return false;
    }
    if (!peer.out.to_server.empty()) {
      Frame frame = std::move(peer.out.to_server.front());
      peer.out.to_server.pop_front();
      if (options_.tamper_to_server) options_.tamper_to_server(i, frame);
      relay->on_frame(peer.conn, std::move(frame));
      collect();
      return true;
    }
    // A finished peer closes its connection once its last frame is out.
    if (peer.core->finished() && !peer.disconnect_reported) {
      peer.disconnect_reported = true;
      relay->on_disconnect(peer.conn);
      collect();
      return true;
    }
    return false;
  }

  bool round_robin(bool reverse) {
    bool progress = false;
    for (size_t k = 0; k < peer_count(); ++k) {
      size_t i = reverse ? peer_count() - 1 - k : k;
      if (reverse) {
        progress |= deliver_to_server(i);
        progress |= deliver_to_peer(i);
      } else {
        progress |= deliver_to_peer(i);
        progress |= deliver_to_server(i);
      }
    }
    return progress;
  }

  bool connection_first() {
    for (size_t i = 0; i < peer_count(); ++i) {
      bool progress = false;
      while (deliver_to_peer(i) || deliver_to_server(i)) progress = true;
      if (progress) return true;
    }
    return false;
  }

  bool random_step() {
    std::vector<std::pair<size_t, bool>> ready;  // (peer, to_server)
    for (size_t i = 0; i < peer_count(); ++i) {
      const Peer& peer = *peers[i];
      if (!peer.from_server.empty()) ready.emplace_back(i, false);
      bool to_server =
          !peer.server_closed &&
          (!peer.out.to_server.empty() || (peer.core->finished() && !peer.disconnect_reported));
      if (to_server) ready.emplace_back(i, true);
    }
    if (ready.empty()) return false;
    random_state_ = random_state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    auto [i, to_server] = ready[(random_state_ >> 33) % ready.size()];
    return to_server ? deliver_to_server(i) : deliver_to_peer(i);
  }

  size_t collected_ = 0;
  uint64_t random_state_ = 1;
  ConnId next_conn_ = 1000;
};

std::vector<Bytes> seeded_files(const std::vector<uint64_t>& sizes, uint64_t seed = 42) {
  std::vector<Bytes> files;
  for (size_t i = 0; i < sizes.size(); ++i)
    files.push_back(test::pseudo_random_bytes(sizes[i], seed + i));
  return files;
}

std::vector<uint32_t> chunk_counts(const Simulation& sim) {
  std::vector<uint64_t> sizes;
  for (const Bytes& file : sim.files) sizes.push_back(file.size());
  return test::chunk_counts_of(sizes, sim.options_.chunk_bytes);
}

// Everything a successful exchange must leave behind. After a crash chunks
// may be written twice and files resumed rather than begun.
void check_success(const Simulation& sim) {
  const bool crashed = sim.crashed;
  const size_t n = sim.peer_count();
  const std::vector<uint32_t> counts = chunk_counts(sim);
  const std::vector<PeerCosts> costs = test::default_costs(n);
  const std::vector<ClockUs> final_clocks = test::model_final_clocks(counts, costs);

  REQUIRE(sim.relay_out->finished_calls == 1);
  REQUIRE(sim.relay_out->outcome);
  const RelayOutcome& relay = *sim.relay_out->outcome;
  REQUIRE_MESSAGE(relay.success, relay.failure);
  REQUIRE(relay.verified_owners.size() == n);
  CHECK(relay.rounds == ExchangeModel(counts, costs).rounds_total());
  CHECK(relay.final_clocks_us == final_clocks);
  CHECK(sim.relay->finished());

  for (size_t i = 0; i < n; ++i) {
    CAPTURE(i);
    const Simulation::Peer& peer = *sim.peers[i];
    REQUIRE(peer.out.finished_calls == 1);
    REQUIRE(peer.out.outcome);
    const PeerOutcome& outcome = *peer.out.outcome;
    REQUIRE_MESSAGE(outcome.success, outcome.failure);
    CHECK(outcome.self == i);
    CHECK(outcome.final_clocks_us == final_clocks);
    std::vector<PeerIndex> others;
    for (size_t o = 0; o < n; ++o) {
      if (o != i) others.push_back(static_cast<PeerIndex>(o));
    }
    CHECK(outcome.verified_owners == others);
    CHECK(relay.verified_owners[i] == others);
    CHECK(peer.store.opened_as == i);

    const MemoryChunkStore& store = peer.store;
    CHECK(store.received.count(static_cast<PeerIndex>(i)) == 0);
    CHECK(store.commits_of(static_cast<PeerIndex>(i)) == 0);
    CHECK(store.begins_of(static_cast<PeerIndex>(i)) == 0);
    for (PeerIndex o : others) {
      CAPTURE(o);
      REQUIRE(store.received.count(o) == 1);
      CHECK(store.received.at(o).size() == sim.files[o].size());
      CHECK(store.received.at(o) == sim.files[o]);
      if (!crashed) {
        CHECK(store.bytes_written.at(o) == sim.files[o].size());
        CHECK(store.begins_of(o) == 1);
      }
      CHECK(store.begins_of(o) >= 1);
      CHECK(store.commits_of(o) == 1);
    }
    CHECK(peer.core->progress().chunks_received == peer.core->progress().chunks_needed);
    REQUIRE_FALSE(peer.out.log_lines.empty());
    CHECK(contains(peer.out.log_lines.back(), "final clocks " + format_clocks(final_clocks)));
  }
  REQUIRE_FALSE(sim.relay_out->log_lines.empty());
  CHECK(contains(sim.relay_out->log_lines.back(), "final clocks " + format_clocks(final_clocks)));
}

struct Logs {
  std::vector<std::string> server;
  std::vector<std::vector<std::string>> peers;
};

Logs logs_of(const Simulation& sim) {
  Logs logs{sim.relay_out->log_lines, {}};
  for (size_t i = 0; i < sim.peer_count(); ++i) logs.peers.push_back(sim.peer_log(i));
  return logs;
}

void check_same_logs(const Logs& got, const Logs& want) {
  CHECK(got.server == want.server);
  REQUIRE(got.peers.size() == want.peers.size());
  for (size_t i = 0; i < want.peers.size(); ++i) {
    CAPTURE(i);
    CHECK(got.peers[i] == want.peers[i]);
  }
}

// Runs `files` under every window and delivery order; each run must succeed
// and write exactly the logs of the first.
void check_logs_independent_of_window_and_order(const std::vector<Bytes>& files) {
  std::optional<Logs> baseline;
  const Order orders[] = {Order::kRoundRobin, Order::kReverse, Order::kConnectionFirst,
                          Order::kRandom};
  for (uint32_t peer_window : {1u, 4u, 64u}) {
    for (uint32_t relay_window : {1u, 8u, 64u}) {
      for (Order order : orders) {
        for (uint64_t seed : {1u, 2u}) {
          if (order != Order::kRandom && seed != 1) continue;
          CAPTURE(peer_window);
          CAPTURE(relay_window);
          CAPTURE(static_cast<int>(order));
          CAPTURE(seed);
          SimOptions options;
          options.peer_window = peer_window;
          options.relay_window = relay_window;
          options.order = order;
          options.order_seed = seed;
          Simulation sim(files, options);
          sim.run();
          check_success(sim);
          if (!baseline) {
            baseline = logs_of(sim);
          } else {
            check_same_logs(logs_of(sim), *baseline);
          }
        }
      }
    }
  }
}

// The first CHUNK_DATA that `target` sends for `requester` gets one data byte
// flipped in flight; its length stays the same.
struct ChunkCorrupter {
  size_t target;
  PeerIndex requester;
  uint32_t chunk_index;
  int flipped = 0;

  void operator()(size_t from, Frame& frame) {
    if (from != target || frame.type != FrameType::kChunkData) return;
    auto header = decode_chunk_header(frame);
    if (!header || header->peer != requester || header->chunk_index != chunk_index) return;
    REQUIRE(frame.payload.size() > kChunkHeaderBytes);
    frame.payload[kChunkHeaderBytes + (frame.payload.size() - kChunkHeaderBytes) / 2] ^= 0x01;
    ++flipped;
  }
};

}  // namespace

TEST_CASE("unequal files arrive byte for byte and are committed once") {
  // 5, 3 (the last one partial), 1 and 0 chunks of 1000 bytes.
  Simulation sim(seeded_files({5000, 2500, 1000, 0}), SimOptions{});
  sim.run();
  check_success(sim);
  CHECK(sim.relay_out->outcome->rounds == 9);  // D lacks 5 + 3 + 1 chunks
  CHECK(sim.relay_out->outcome->files[3].size_bytes == 0);
  CHECK(sim.peers[0]->store.received.at(3).empty());
}

namespace {

std::vector<std::string> round_lines(const std::vector<std::string>& log, uint64_t round) {
  std::vector<std::string> lines;
  const std::string tag = "(round " + std::to_string(round) + ")";
  for (const std::string& line : log) {
    if (line.size() >= tag.size() && line.compare(line.size() - tag.size(), tag.size(), tag) == 0) {
      lines.push_back(line);
    }
  }
  return lines;
}

}  // namespace

TEST_CASE("a peer serving two requesters logs both forwards, then both chunks") {
  // Round 0 of {5, 3, 1, 0} chunks: C (D's file is empty) and D both ask A.
  Simulation sim(seeded_files({5000, 2500, 1000, 0}), SimOptions{});
  sim.run();
  check_success(sim);
  CHECK(round_lines(sim.peer_log(0), 0) ==
        std::vector<std::string>{
            "0.6 [A] REQUEST_CHUNK chunk 0 of B (round 0)",
            "1.5 [A] forwarded REQUEST_CHUNK from C: chunk 0 (round 0)",
            "8.1 [A] forwarded REQUEST_CHUNK from D: chunk 0 (round 0)",
            "7.5 [A] CHUNK_DATA chunk 0 to C (round 0)",
            "14.1 [A] CHUNK_DATA chunk 0 to D (round 0)",
            "20.1 [A] recv chunk 0 of B (round 0)",
        });
  CHECK(round_lines(sim.relay_out->log_lines, 0) ==
        std::vector<std::string>{
            "0.6 [Server] REQUEST_CHUNK A asks B for chunk 0 (round 0)",
            "0.7 [Server] REQUEST_CHUNK B asks C for chunk 0 (round 0)",
            "0.8 [Server] REQUEST_CHUNK C asks A for chunk 0 (round 0)",
            "0.9 [Server] REQUEST_CHUNK D asks A for chunk 0 (round 0)",
            "0.9 [Server] sync clocks to 0.9 (round 0)",
            "1.6 [Server] forward REQUEST_CHUNK A -> B: chunk 0 (round 0)",
            "1.7 [Server] forward REQUEST_CHUNK B -> C: chunk 0 (round 0)",
            "1.5 [Server] forward REQUEST_CHUNK C -> A: chunk 0 (round 0)",
            "8.1 [Server] forward REQUEST_CHUNK D -> A: chunk 0 (round 0)",
            "8.6 [Server] CHUNK_DATA B -> A: chunk 0 of B (round 0)",
            "9.7 [Server] CHUNK_DATA C -> B: chunk 0 of C (round 0)",
            "7.5 [Server] CHUNK_DATA A -> C: chunk 0 of A (round 0)",
            "14.1 [Server] CHUNK_DATA A -> D: chunk 0 of A (round 0)",
            "14.1 [Server] sync clocks to 14.1 (round 0)",
            "20.1 [Server] SEND_CHUNK B -> A: chunk 0 of B (round 0)",
            "21.1 [Server] SEND_CHUNK C -> B: chunk 0 of C (round 0)",
            "22.1 [Server] SEND_CHUNK A -> C: chunk 0 of A (round 0)",
            "23.1 [Server] SEND_CHUNK A -> D: chunk 0 of A (round 0)",
        });
  // The empty file of D is complete before the first round.
  const std::vector<std::string> log_a = sim.peer_log(0);
  CHECK(std::count(log_a.begin(), log_a.end(),
                   "0.0 [A] file of D complete: 0 chunks, sha256 verified") == 1);
}

TEST_CASE("equal files: one chunk per peer per round, 19.8 ms a round") {
  Simulation sim(seeded_files({3000, 3000, 3000, 3000}), SimOptions{});
  sim.run();
  check_success(sim);
  CHECK(sim.relay_out->outcome->rounds == 9);
  CHECK(sim.relay_out->outcome->final_clocks_us ==
        std::vector<ClockUs>{9 * 19800 - 3000, 9 * 19800 - 2000, 9 * 19800 - 1000, 9 * 19800});
  const std::vector<std::string> log_a = sim.peer_log(0);
  CHECK(std::count(log_a.begin(), log_a.end(), "16.8 [A] recv chunk 0 of B (round 0)") == 1);
  const std::vector<std::string> log_d = sim.peer_log(3);
  CHECK(std::count(log_d.begin(), log_d.end(), "19.8 [D] recv chunk 0 of A (round 0)") == 1);
}

TEST_CASE("chunks holding NULs and the old delimiters arrive intact") {
  std::vector<Bytes> files = seeded_files({2000, 1005, 1000, 5});
  auto put = [](Bytes& file, size_t at, std::string_view text) {
    std::copy(text.begin(), text.end(), file.begin() + static_cast<ptrdiff_t>(at));
  };
  put(files[0], 995, "<END>");  // end of chunk 0
  put(files[0], 1995, "<EoH>");
  put(files[1], 1000, std::string_view("\0<END", 5));
  put(files[2], 0, std::string_view("\0\0\0\0", 4));
  put(files[3], 0, "<EoH>");
  Simulation sim(files, SimOptions{});
  sim.run();
  check_success(sim);
}

TEST_CASE("logs do not depend on window or delivery order: unequal files") {
  check_logs_independent_of_window_and_order(seeded_files({5000, 2500, 1000, 0}));
}

TEST_CASE("logs do not depend on window or delivery order: equal files") {
  check_logs_independent_of_window_and_order(seeded_files({2000, 2000, 2000, 2000}));
}

TEST_CASE("two peers") {
  check_logs_independent_of_window_and_order(seeded_files({2500, 1000}));
}

TEST_CASE("five peers") {
  check_logs_independent_of_window_and_order(seeded_files({3000, 0, 1500, 4000, 999}));
}

TEST_CASE("all files empty: done after one all-IDLE round") {
  Simulation sim(seeded_files({0, 0, 0, 0}), SimOptions{});
  sim.run();
  check_success(sim);
  CHECK(sim.relay_out->outcome->rounds == 0);
  CHECK(sim.relay_out->outcome->final_clocks_us == std::vector<ClockUs>(4, 0));
}

TEST_CASE("a corrupted chunk fails verification and the file is never committed") {
  ChunkCorrupter corrupter{1, 0, 1};  // B's chunk 1, on its way to A
  SimOptions options;
  options.tamper_to_server = std::ref(corrupter);
  Simulation sim(seeded_files({5000, 2500, 1000, 0}), options);
  sim.run();
  CHECK(corrupter.flipped == 1);

  const Simulation::Peer& a = *sim.peers[0];
  REQUIRE(a.out.outcome);
  CHECK_FALSE(a.out.outcome->success);
  CHECK_MESSAGE(contains(a.out.outcome->failure, "file of B failed verification"),
                a.out.outcome->failure);
  CHECK(a.store.commits_of(1) == 0);
  CHECK(a.store.received.at(1) != sim.files[1]);
  CHECK(std::find(a.out.outcome->verified_owners.begin(), a.out.outcome->verified_owners.end(),
                  1) == a.out.outcome->verified_owners.end());

  REQUIRE(sim.relay_out->outcome);
  CHECK_FALSE(sim.relay_out->outcome->success);
  CHECK_MESSAGE(contains(sim.relay_out->outcome->failure, "client A"),
                sim.relay_out->outcome->failure);
  for (size_t i = 1; i < 4; ++i) {
    CAPTURE(i);
    REQUIRE(sim.peers[i]->out.outcome);
    CHECK_FALSE(sim.peers[i]->out.outcome->success);
    CHECK(sim.peers[i]->out.finished_calls == 1);
  }
}

TEST_CASE("a corrupted single-chunk file is caught at once") {
  ChunkCorrupter corrupter{2, 3, 0};  // C's only chunk, on its way to D
  SimOptions options;
  options.tamper_to_server = std::ref(corrupter);
  options.order = Order::kConnectionFirst;
  Simulation sim(seeded_files({5000, 2500, 1000, 0}), options);
  sim.run();
  CHECK(corrupter.flipped == 1);
  const Simulation::Peer& d = *sim.peers[3];
  REQUIRE(d.out.outcome);
  CHECK(contains(d.out.outcome->failure, "file of C failed verification"));
  CHECK(d.store.commits_of(2) == 0);
  REQUIRE(sim.relay_out->outcome);
  CHECK_FALSE(sim.relay_out->outcome->success);
}

TEST_CASE("a peer refuses a SEND_CHUNK whose clock differs from its model") {
  SimOptions options;
  options.tamper_to_peer = [](size_t peer, Frame& frame) {
    if (peer != 2 || frame.type != FrameType::kSendChunk) return;
    auto header = decode_chunk_header(frame);
    if (!header || header->round != 1) return;
    header->clock_us += 100;
    rewrite_chunk_frame(frame, FrameType::kSendChunk, *header);
  };
  Simulation sim(seeded_files({3000, 3000, 3000, 3000}), options);
  sim.run();
  const Simulation::Peer& c = *sim.peers[2];
  REQUIRE(c.out.outcome);
  CHECK_FALSE(c.out.outcome->success);
  CHECK_MESSAGE(contains(c.out.outcome->failure, "SEND_CHUNK"), c.out.outcome->failure);
  REQUIRE(sim.relay_out->outcome);
  CHECK_FALSE(sim.relay_out->outcome->success);
  CHECK(contains(sim.relay_out->outcome->failure, "client C"));
}

TEST_CASE("a peer refuses FINAL clocks that differ from its model") {
  SimOptions options;
  options.tamper_to_peer = [](size_t peer, Frame& frame) {
    if (peer != 1 || frame.type != FrameType::kFinal) return;
    auto final_message = decode_final(frame);
    REQUIRE(final_message);
    final_message->clocks_us[0] += 1;
    frame = encode(*final_message);
  };
  Simulation sim(seeded_files({3000, 3000, 3000, 3000}), options);
  sim.run();
  REQUIRE(sim.peers[1]->out.outcome);
  CHECK_FALSE(sim.peers[1]->out.outcome->success);
  CHECK(contains(sim.peers[1]->out.outcome->failure, "final clocks"));
  REQUIRE(sim.peers[0]->out.outcome);
  CHECK(sim.peers[0]->out.outcome->success);
}

}  // namespace chunkex

namespace chunkex {

TEST_CASE("with a token the exchange completes and logs the same as without") {
  std::vector<Bytes> files = seeded_files({3000, 1500, 1000, 0});
  Simulation plain(files, SimOptions{});
  plain.run();
  check_success(plain);
  SimOptions with_token;
  with_token.token = "correct horse battery staple";
  Simulation secured(files, with_token);
  secured.run();
  check_success(secured);
  CHECK(secured.relay_out->log_lines == plain.relay_out->log_lines);
  for (size_t i = 0; i < files.size(); ++i) CHECK(secured.peer_log(i) == plain.peer_log(i));
}

}  // namespace chunkex

namespace chunkex {
namespace {

// Runs `files` once without a fault, then with `crash` under a few windows
// and orders: each run succeeds and its logs equal the first run's once the
// resume lines are removed. Returns the chunk bytes sent again in the last.
void check_resume_keeps_logs(const std::vector<Bytes>& files, SimOptions::Crash crash) {
  SimOptions plain_options;
  Simulation plain(files, plain_options);
  plain.run();
  check_success(plain);
  Logs want = logs_of(plain);
  for (uint32_t window : {1u, 8u}) {
    for (Order order : {Order::kRoundRobin, Order::kRandom}) {
      CAPTURE(window);
      CAPTURE(static_cast<int>(order));
      SimOptions options;
      options.peer_window = window;
      options.relay_window = window;
      options.order = order;
      options.crash = crash;
      Simulation sim(files, options);
      sim.run();
      REQUIRE(sim.crashed);
      check_success(sim);
      Logs got = logs_of(sim);
      CHECK(without_resume_lines(got.server) == want.server);
      for (size_t i = 0; i < files.size(); ++i) {
        CAPTURE(i);
        CHECK(without_resume_lines(got.peers[i]) == want.peers[i]);
      }
      const RelayOutcome& outcome = *sim.relay_out->outcome;
      if (!crash.server) {
        CHECK(outcome.disconnects == 1);
        CHECK(outcome.reconnects == 1);
        // Only rounds in flight are fetched again: at most a window of them
        // (plus the rounds forwarded ahead), a chunk each.
        CHECK(outcome.refetched_bytes <= 2 * window * options.chunk_bytes);
      }
    }
  }
}

}  // namespace

TEST_CASE("a peer that dies and comes back finishes the exchange, logs as if it never left") {
  std::vector<Bytes> files = seeded_files({9500, 7001, 12000, 3000});
  for (size_t peer : {0u, 2u, 3u}) {
    for (uint64_t round : {0u, 1u, 7u, 20u}) {
      CAPTURE(peer);
      CAPTURE(round);
      check_resume_keeps_logs(files, SimOptions::Crash{round, peer});
    }
  }
}

TEST_CASE("a restarted server resumes the exchange; logs as if it never stopped") {
  std::vector<Bytes> files = seeded_files({9500, 7001, 12000, 3000});
  for (uint64_t round : {1u, 9u, 25u, 31u}) {
    CAPTURE(round);
    check_resume_keeps_logs(files, SimOptions::Crash{round, 0, true});
  }
}

TEST_CASE("a peer that comes back after the last round only says DONE again") {
  std::vector<Bytes> files = seeded_files({3000, 3000, 3000});
  // 6 rounds move chunks; the 7th is all IDLE and closes the exchange.
  check_resume_keeps_logs(files, SimOptions::Crash{7, 1});
}

TEST_CASE("a peer that never comes back: the grace period ends the exchange, naming it") {
  SimOptions options;
  options.crash = SimOptions::Crash{5, 1, false, false};
  Simulation sim(seeded_files({9000, 9000, 9000, 9000}), options);
  sim.run();
  REQUIRE(sim.crashed);
  CHECK(sim.relay_out->finished_calls == 0);  // paused, waiting
  CHECK(sim.relay->progress().paused);
  CHECK(sim.relay_out->log_index("client B disconnected: exchange paused at round 5"));
  for (size_t i : {0u, 2u, 3u}) {
    CHECK(sim.peers[i]->core->waiting_for_peer());
    CHECK(contains(sim.peers[i]->out.notices.back(), "client B lost its connection"));
  }
  sim.relay->on_stall(60);  // a stall does not end a pause
  CHECK(sim.relay_out->finished_calls == 0);
  sim.relay->on_grace_expired();
  REQUIRE(sim.relay_out->outcome);
  CHECK(sim.relay_out->outcome->failure == "client B did not come back within 60 s");
  CHECK(contains(sim.relay_out->log_lines.back(), "exchange abandoned"));
}

}  // namespace chunkex
