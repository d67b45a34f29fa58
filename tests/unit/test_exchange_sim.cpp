// Whole exchanges in memory, through the same wiring as the simulator: a
// RelayHost and N PeerHosts over the in-memory network (common/sim), with
// chunks carrying their bytes. Files must arrive byte for byte, clocks must
// match an independently stepped model, and logs must not depend on the
// window, the link latencies or the delivery order; faults (a peer or the
// server dying, a peer that never comes back) are injected at chosen rounds.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/random.h"
#include "common/sim/explore.h"
#include "common/sim/simulation.h"
#include "test_support.h"

namespace chunkex {
namespace {

using sim::Fault;
using sim::SimOptions;
using sim::SimResult;
using test::contains;

struct Files {
  std::vector<std::unique_ptr<BytesSource>> sources;
  std::vector<const ContentSource*> views() const {
    std::vector<const ContentSource*> out;
    for (const auto& source : sources) out.push_back(source.get());
    return out;
  }
  const Bytes& bytes(size_t i) const { return sources[i]->bytes(); }
  size_t count() const { return sources.size(); }
};

Files files_of(std::vector<Bytes> contents) {
  Files files;
  for (Bytes& content : contents) files.sources.push_back(std::make_unique<BytesSource>(content));
  return files;
}

Files seeded_files(const std::vector<uint64_t>& sizes, uint64_t seed = 42) {
  std::vector<Bytes> contents;
  for (size_t i = 0; i < sizes.size(); ++i)
    contents.push_back(pseudo_random_bytes(sizes[i], seed + i));
  return files_of(std::move(contents));
}

SimOptions options_for(const Files& files, uint32_t window = 8, uint64_t order_seed = 1) {
  SimOptions options;
  options.config.max_clients = static_cast<int>(files.count());
  options.config.chunk_bytes = 1000;
  options.config.window = window;
  options.config.costs = test::default_costs(files.count());
  options.order_seed = order_seed;
  options.chunks_inline = true;
  return options;
}

SimResult run(const Files& files, const SimOptions& options) {
  return sim::Simulation(options, files.views()).run();
}

std::vector<uint32_t> chunk_counts(const Files& files, uint32_t chunk_bytes) {
  std::vector<uint64_t> sizes;
  for (const auto& source : files.sources) sizes.push_back(source->bytes().size());
  return test::chunk_counts_of(sizes, chunk_bytes);
}

const sim::PeerResult& peer_with_slot(const SimResult& result, PeerIndex slot) {
  auto found = std::find_if(result.peers.begin(), result.peers.end(),
                            [&](const sim::PeerResult& peer) { return peer.slot == slot; });
  REQUIRE(found != result.peers.end());
  return *found;
}

// Everything a successful exchange must leave behind.
void check_success(const Files& files, const SimOptions& options, const SimResult& result) {
  const size_t n = files.count();
  const std::vector<uint32_t> counts = chunk_counts(files, options.config.chunk_bytes);
  const std::vector<ClockUs> final_clocks = test::model_final_clocks(counts, options.config.costs);
  REQUIRE_FALSE(result.step_limit_reached);
  REQUIRE(result.relay);
  const RelayOutcome& relay = *result.relay;
  REQUIRE_MESSAGE(relay.success, relay.failure);
  REQUIRE(relay.verified_owners.size() == n);
  CHECK(relay.rounds == ExchangeModel(counts, options.config.costs).rounds_total());
  CHECK(relay.final_clocks_us == final_clocks);
  for (PeerIndex slot = 0; slot < n; ++slot) {
    CAPTURE(slot);
    const sim::PeerResult& peer = peer_with_slot(result, slot);
    REQUIRE(peer.outcome);
    REQUIRE_MESSAGE(peer.outcome->success, peer.outcome->failure);
    CHECK(peer.outcome->final_clocks_us == final_clocks);
    std::vector<PeerIndex> others;
    for (PeerIndex o = 0; o < n; ++o) {
      if (o != slot) others.push_back(o);
    }
    CHECK(peer.outcome->verified_owners == others);
    CHECK(relay.verified_owners[slot] == others);
    CHECK(peer.committed.size() == n - 1);
    for (PeerIndex o : others) {
      CAPTURE(o);
      REQUIRE(peer.received.count(o) == 1);
      CHECK(peer.received.at(o) == files.bytes(o));
    }
    REQUIRE_FALSE(peer.log.empty());
    CHECK(contains(peer.log.back(), "final clocks " + format_clocks(final_clocks)));
  }
  REQUIRE_FALSE(result.server_log.empty());
  CHECK(contains(result.server_log.back(), "final clocks " + format_clocks(final_clocks)));
}

struct Logs {
  std::vector<std::string> server;
  std::map<PeerIndex, std::vector<std::string>> peers;  // by slot
};

Logs logs_of(const SimResult& result, bool drop_fault_lines = false) {
  auto filter = [&](std::vector<std::string> lines) {
    if (drop_fault_lines) std::erase_if(lines, sim::is_fault_line);
    return lines;
  };
  Logs logs{filter(result.server_log), {}};
  for (const sim::PeerResult& peer : result.peers) {
    if (peer.slot) logs.peers[*peer.slot] = filter(peer.log);
  }
  return logs;
}

void check_same_logs(const Logs& got, const Logs& want) {
  CHECK(got.server == want.server);
  CHECK(got.peers == want.peers);
}

// Every window, a few delivery orders, instant and uneven links: each run
// succeeds and writes exactly the logs of the first.
void check_logs_independent_of_window_and_order(const Files& files) {
  std::optional<Logs> baseline;
  for (uint32_t window : {1u, 4u, 64u}) {
    for (uint64_t order_seed : {1u, 2u, 3u}) {
      for (bool uneven_links : {false, true}) {
        CAPTURE(window);
        CAPTURE(order_seed);
        CAPTURE(uneven_links);
        SimOptions options = options_for(files, window, order_seed);
        if (uneven_links) {
          Xoshiro256 random(order_seed);
          for (size_t i = 0; i < files.count(); ++i) {
            options.links.push_back(
                sim::LinkModel{static_cast<sim::TimeUs>(random.below(20'000)),
                               random.chance(1, 2) ? random.between(100'000, 10'000'000) : 0});
          }
        }
        SimResult result = run(files, options);
        check_success(files, options, result);
        if (!baseline) {
          baseline = logs_of(result);
        } else {
          check_same_logs(logs_of(result), *baseline);
        }
      }
    }
  }
}

std::vector<std::string> round_lines(const std::vector<std::string>& log, uint64_t round) {
  std::vector<std::string> lines;
  const std::string tag = "(round " + std::to_string(round) + ")";
  for (const std::string& line : log) {
    if (line.ends_with(tag)) lines.push_back(line);
  }
  return lines;
}

// The first CHUNK_DATA that `target` sends for `requester` gets one
// data byte flipped in flight; its length stays the same.
struct ChunkCorrupter {
  size_t target;
  PeerIndex requester;
  uint32_t chunk_index;
  std::shared_ptr<int> flipped = std::make_shared<int>(0);

  void operator()(size_t from, Frame& frame) const {
    if (from != target || frame.type != FrameType::kChunkData) return;
    auto header = decode_chunk_header(frame);
    if (!header || header->peer != requester || header->chunk_index != chunk_index) return;
    REQUIRE(frame.payload.size() > kChunkHeaderBytes);
    frame.payload[kChunkHeaderBytes + (frame.payload.size() - kChunkHeaderBytes) / 2] ^= 0x01;
    ++*flipped;
  }
};

}  // namespace

TEST_CASE("unequal files arrive byte for byte and are committed once") {
  // 5, 3 (the last one partial), 1 and 0 chunks of 1000 bytes.
  Files files = seeded_files({5000, 2500, 1000, 0});
  SimOptions options = options_for(files);
  SimResult result = run(files, options);
  check_success(files, options, result);
  CHECK(result.relay->rounds == 9);  // D lacks 5 + 3 + 1 chunks
  CHECK(result.relay->files[3].size_bytes == 0);
  CHECK(peer_with_slot(result, 0).received.at(3).empty());
}

TEST_CASE("a peer serving two requesters logs both forwards, then both chunks") {
  // Round 0 of {5, 3, 1, 0} chunks: C (D's file is empty) and D both ask A.
  Files files = seeded_files({5000, 2500, 1000, 0});
  SimOptions options = options_for(files);
  SimResult result = run(files, options);
  check_success(files, options, result);
  CHECK(round_lines(peer_with_slot(result, 0).log, 0) ==
        std::vector<std::string>{
            "0.6 [A] REQUEST_CHUNK chunk 0 of B (round 0)",
            "1.5 [A] forwarded REQUEST_CHUNK from C: chunk 0 (round 0)",
            "8.1 [A] forwarded REQUEST_CHUNK from D: chunk 0 (round 0)",
            "7.5 [A] CHUNK_DATA chunk 0 to C (round 0)",
            "14.1 [A] CHUNK_DATA chunk 0 to D (round 0)",
            "20.1 [A] recv chunk 0 of B (round 0)",
        });
  CHECK(round_lines(result.server_log, 0) ==
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
  const std::vector<std::string>& log_a = peer_with_slot(result, 0).log;
  CHECK(std::count(log_a.begin(), log_a.end(),
                   "0.0 [A] file of D complete: 0 chunks, sha256 verified") == 1);
}

TEST_CASE("equal files: one chunk per peer per round, 19.8 ms a round") {
  Files files = seeded_files({3000, 3000, 3000, 3000});
  SimOptions options = options_for(files);
  SimResult result = run(files, options);
  check_success(files, options, result);
  CHECK(result.relay->rounds == 9);
  CHECK(result.relay->final_clocks_us ==
        std::vector<ClockUs>{9 * 19800 - 3000, 9 * 19800 - 2000, 9 * 19800 - 1000, 9 * 19800});
  const std::vector<std::string>& log_a = peer_with_slot(result, 0).log;
  CHECK(std::count(log_a.begin(), log_a.end(), "16.8 [A] recv chunk 0 of B (round 0)") == 1);
  const std::vector<std::string>& log_d = peer_with_slot(result, 3).log;
  CHECK(std::count(log_d.begin(), log_d.end(), "19.8 [D] recv chunk 0 of A (round 0)") == 1);
}

TEST_CASE("chunks holding NULs and the old delimiters arrive intact") {
  std::vector<Bytes> contents;
  for (auto [size, seed] : {std::pair{2000, 1}, {1005, 2}, {1000, 3}, {5, 4}}) {
    contents.push_back(pseudo_random_bytes(static_cast<size_t>(size), static_cast<uint64_t>(seed)));
  }
  auto put = [](Bytes& file, size_t at, std::string_view text) {
    std::copy(text.begin(), text.end(), file.begin() + static_cast<ptrdiff_t>(at));
  };
  put(contents[0], 995, "<END>");  // end of chunk 0
  put(contents[0], 1995, "<EoH>");
  put(contents[1], 1000, std::string_view("\0<END", 5));
  put(contents[2], 0, std::string_view("\0\0\0\0", 4));
  put(contents[3], 0, "<EoH>");
  Files files = files_of(std::move(contents));
  SimOptions options = options_for(files);
  check_success(files, options, run(files, options));
}

TEST_CASE("logs do not depend on window, links or delivery order: unequal files") {
  check_logs_independent_of_window_and_order(seeded_files({5000, 2500, 1000, 0}));
}

TEST_CASE("logs do not depend on window, links or delivery order: equal files") {
  check_logs_independent_of_window_and_order(seeded_files({2000, 2000, 2000, 2000}));
}

TEST_CASE("two peers") {
  check_logs_independent_of_window_and_order(seeded_files({2500, 1000}));
}

TEST_CASE("five peers") {
  check_logs_independent_of_window_and_order(seeded_files({3000, 0, 1500, 4000, 999}));
}

TEST_CASE("all files empty: done after one all-IDLE round") {
  Files files = seeded_files({0, 0, 0, 0});
  SimOptions options = options_for(files);
  SimResult result = run(files, options);
  check_success(files, options, result);
  CHECK(result.relay->rounds == 0);
  CHECK(result.relay->final_clocks_us == std::vector<ClockUs>(4, 0));
}

TEST_CASE("a corrupted chunk fails verification and the file is never committed") {
  ChunkCorrupter corrupter{1, 0, 1};  // B's chunk 1, on its way to A
  Files files = seeded_files({5000, 2500, 1000, 0});
  SimOptions options = options_for(files);
  options.tamper_to_relay = corrupter;
  SimResult result = run(files, options);
  CHECK(*corrupter.flipped == 1);
  const sim::PeerResult& a = peer_with_slot(result, 0);
  REQUIRE(a.outcome);
  CHECK_FALSE(a.outcome->success);
  CHECK_MESSAGE(contains(a.outcome->failure, "file of B failed verification"), a.outcome->failure);
  CHECK(a.committed.count(1) == 0);
  CHECK(a.received.at(1) != files.bytes(1));
  REQUIRE(result.relay);
  CHECK_FALSE(result.relay->success);
  CHECK_MESSAGE(contains(result.relay->failure, "client A"), result.relay->failure);
  for (PeerIndex slot = 1; slot < 4; ++slot) {
    CAPTURE(slot);
    REQUIRE(peer_with_slot(result, slot).outcome);
    CHECK_FALSE(peer_with_slot(result, slot).outcome->success);
  }
}

TEST_CASE("a corrupted single-chunk file is caught at once") {
  ChunkCorrupter corrupter{2, 3, 0};  // C's only chunk, on its way to D
  Files files = seeded_files({5000, 2500, 1000, 0});
  SimOptions options = options_for(files, 1);
  options.tamper_to_relay = corrupter;
  SimResult result = run(files, options);
  CHECK(*corrupter.flipped == 1);
  const sim::PeerResult& d = peer_with_slot(result, 3);
  REQUIRE(d.outcome);
  CHECK(contains(d.outcome->failure, "file of C failed verification"));
  CHECK(d.committed.count(2) == 0);
  REQUIRE(result.relay);
  CHECK_FALSE(result.relay->success);
}

TEST_CASE("a peer refuses a SEND_CHUNK whose clock differs from its model") {
  Files files = seeded_files({3000, 3000, 3000, 3000});
  SimOptions options = options_for(files);
  std::optional<size_t> victim;
  options.tamper_to_peer = [&](size_t peer, Frame& frame) {
    if (frame.type != FrameType::kSendChunk) return;
    auto header = decode_chunk_header(frame);
    if (!header || header->round != 1 || header->peer != 3) return;  // D's chunk, to C
    victim = peer;
    header->clock_us += 100;
    rewrite_chunk_frame(frame, FrameType::kSendChunk, *header);
  };
  SimResult result = run(files, options);
  REQUIRE(victim);
  const sim::PeerResult& c = result.peers[*victim];
  REQUIRE(c.outcome);
  CHECK_FALSE(c.outcome->success);
  CHECK_MESSAGE(contains(c.outcome->failure, "SEND_CHUNK"), c.outcome->failure);
  REQUIRE(result.relay);
  CHECK_FALSE(result.relay->success);
  CHECK(contains(result.relay->failure, "client " + std::string(1, peer_letter(*c.slot))));
}

TEST_CASE("a peer refuses FINAL clocks that differ from its model") {
  Files files = seeded_files({3000, 3000, 3000, 3000});
  SimOptions options = options_for(files);
  options.tamper_to_peer = [](size_t peer, Frame& frame) {
    if (peer != 1 || frame.type != FrameType::kFinal) return;
    auto final_message = decode_final(frame);
    REQUIRE(final_message);
    final_message->clocks_us[0] += 1;
    frame = encode(*final_message);
  };
  SimResult result = run(files, options);
  REQUIRE(result.peers[1].outcome);
  CHECK_FALSE(result.peers[1].outcome->success);
  CHECK(contains(result.peers[1].outcome->failure, "final clocks"));
  REQUIRE(result.peers[0].outcome);
  CHECK(result.peers[0].outcome->success);
}

TEST_CASE("with a token the exchange completes and logs the same as without") {
  Files files = seeded_files({3000, 1500, 1000, 0});
  SimOptions plain = options_for(files);
  SimResult plain_result = run(files, plain);
  check_success(files, plain, plain_result);
  SimOptions secured = options_for(files);
  secured.config.token = "correct horse battery staple";
  SimResult secured_result = run(files, secured);
  check_success(files, secured, secured_result);
  check_same_logs(logs_of(secured_result), logs_of(plain_result));
}

namespace {

// Runs `files` once without a fault, then with `fault` under a few windows
// and delivery orders: each run succeeds and its logs equal the first run's
// once the lines that record the fault are removed.
void check_fault_keeps_logs(const Files& files, Fault fault) {
  SimOptions plain_options = options_for(files);
  SimResult plain = run(files, plain_options);
  check_success(files, plain_options, plain);
  Logs want = logs_of(plain);
  for (uint32_t window : {1u, 8u}) {
    for (uint64_t order_seed : {1u, 7u}) {
      CAPTURE(window);
      CAPTURE(order_seed);
      SimOptions options = options_for(files, window, order_seed);
      options.fault = fault;
      SimResult result = run(files, options);
      REQUIRE(result.fault_injected);
      check_success(files, options, result);
      check_same_logs(logs_of(result, true), want);
      if (fault.kind != Fault::Kind::kServerCrash) {
        CHECK(result.relay->disconnects == 1);
        CHECK(result.relay->reconnects == 1);
        // Only rounds in flight are fetched again: at most a window of them
        // (plus the rounds forwarded ahead), a chunk each.
        CHECK(result.relay->refetched_bytes <= 2 * window * options.config.chunk_bytes);
      }
    }
  }
}

}  // namespace

TEST_CASE("a peer that dies and comes back finishes the exchange, logs as if it never left") {
  Files files = seeded_files({9500, 7001, 12000, 3000});
  for (size_t peer : {0u, 2u, 3u}) {
    for (uint64_t round : {0u, 1u, 7u, 20u}) {
      CAPTURE(peer);
      CAPTURE(round);
      check_fault_keeps_logs(files, Fault{Fault::Kind::kPeerCrash, peer, round, 1500});
    }
  }
}

TEST_CASE("a peer whose connection is cut connects again by itself; logs as if never cut") {
  Files files = seeded_files({9500, 7001, 12000, 3000});
  for (uint64_t round : {0u, 5u, 19u}) {
    CAPTURE(round);
    check_fault_keeps_logs(files, Fault{Fault::Kind::kCut, 1, round, 0});
  }
}

TEST_CASE("a restarted server resumes the exchange; logs as if it never stopped") {
  Files files = seeded_files({9500, 7001, 12000, 3000});
  for (uint64_t round : {1u, 9u, 20u, 27u}) {
    CAPTURE(round);
    check_fault_keeps_logs(files, Fault{Fault::Kind::kServerCrash, 0, round, 200});
  }
}

TEST_CASE("a peer that dies in the last round comes back and says DONE again") {
  Files files = seeded_files({3000, 3000, 3000});
  // 6 rounds move chunks; the 7th is all IDLE and closes the exchange.
  check_fault_keeps_logs(files, Fault{Fault::Kind::kPeerCrash, 1, 5, 100});
}

TEST_CASE("a peer that never comes back: the grace period ends the exchange, naming it") {
  Files files = seeded_files({9000, 9000, 9000, 9000});
  SimOptions options = options_for(files);
  options.fault = Fault{Fault::Kind::kPeerGone, 1, 5, 0};
  SimResult result = run(files, options);
  REQUIRE(result.fault_injected);
  PeerIndex gone = *result.peers[1].slot;
  std::string name(1, peer_letter(gone));
  REQUIRE(result.relay);
  CHECK(result.relay->failure == "client " + name + " did not come back within 60 s");
  CHECK(contains(result.server_log.back(), "exchange abandoned"));
  CHECK(std::any_of(result.server_log.begin(), result.server_log.end(), [&](const auto& line) {
    return contains(line, "client " + name + " disconnected: exchange paused at round");
  }));
  // The grace period, not the stall check, ended it: 60 s after the pause.
  CHECK(result.end_ms >= 60'000);
  CHECK(result.end_ms < 70'000);
  for (size_t i : {0u, 2u, 3u}) {
    CAPTURE(i);
    const sim::PeerResult& peer = result.peers[i];
    CHECK(std::any_of(peer.notices.begin(), peer.notices.end(), [&](const auto& text) {
      return contains(text, "client " + name + " lost its connection");
    }));
    REQUIRE(peer.outcome);
    CHECK(contains(peer.outcome->failure, "did not come back"));
  }
}

// Issue 10, point 3: a log write that fails (a full disk) is an error that
// names the file, and it ends the exchange everywhere at once: every peer's
// outcome says `why`, and only the relay's flush deadline passes, no stall.
namespace {

SimResult run_with_full_log(const std::string& log_name, size_t lines_max, const std::string& why) {
  Files files = seeded_files({9000, 9000, 9000, 9000});
  SimOptions options = options_for(files);
  options.log_quota = sim::LogQuota{log_name, lines_max};
  SimResult result = run(files, options);
  REQUIRE(result.relay);
  CHECK(contains(result.relay->failure, why));
  for (const sim::PeerResult& peer : result.peers) {
    REQUIRE(peer.outcome);
    CHECK_FALSE(peer.outcome->success);
    CHECK(contains(peer.outcome->failure, why));
  }
  CHECK(result.end_ms < RelayHost::kFlushDeadlineMs + 1000);
  return result;
}

}  // namespace

TEST_CASE("log disk full on a peer: it tells the server and every process ends naming the file") {
  const std::string why = "cannot write log ClientB.txt: No space left on device";
  for (size_t lines_max : {20, 0}) {  // 0: the log cannot even be started
    CAPTURE(lines_max);
    SimResult result = run_with_full_log("ClientB.txt", lines_max, why);
    CHECK(result.relay->failure == "client B reported an error: " + why);
    CHECK(contains(result.server_log.back(), "exchange abandoned"));
  }
}

TEST_CASE("log disk full on the server: every peer is told and the summary says why") {
  const std::string why = "cannot write log Server.txt: No space left on device";
  SimResult result = run_with_full_log("Server.txt", 30, why);
  CHECK(result.summary["success"] == false);
  CHECK(contains(result.summary["failure"].get<std::string>(), why));
  CHECK(result.server_log.size() == 30);  // nothing after the first failed line
}

namespace {

std::string problems_of(const sim::ExploreVerdict& verdict) {
  std::string problems;
  for (const std::string& problem : verdict.problems) problems += problem + "\n";
  return problems;
}

}  // namespace

// Seeds the explorer once failed on, each with its plan pinned: should the
// planner change, the test says so instead of quietly testing another run.
TEST_CASE("seeded exploration: seeds that once failed pass") {
  const std::vector<std::pair<uint64_t, std::string>> failed_once = {
      // E died after its DONE, in the last round, and restarted 1 ms later;
      // its connect reached the relay after the exchange ended, and the
      // relay told it "server full" instead of closing it (a live relay that
      // stopped accepting closes such a socket).
      {133005563197234,
       "5 peers, sizes [3899 1021 652 522 4002] bytes, chunk 174 B, window 1, links [8.4ms/inf "
       "19.9ms/inf 4.8ms/73MB/s 6.0ms/inf 6.9ms/46MB/s], fault peer-crash (peer 1, round 56, "
       "restart after 1 ms)"},
  };
  // Not a structured binding: clang 14 cannot capture one in CAPTURE's lambda.
  for (const auto& seed_and_plan : failed_once) {
    const uint64_t seed = seed_and_plan.first;
    CAPTURE(seed);
    sim::ExplorePlan plan = sim::plan_exploration(seed);
    REQUIRE(plan.describe() == seed_and_plan.second);
    sim::ExploreVerdict verdict = sim::explore_one(plan);
    CHECK_MESSAGE(verdict.passed, problems_of(verdict));
    CHECK(verdict.missed_final == 1);
  }
}

TEST_CASE("seeded exploration: a few runs pass every check") {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    CAPTURE(seed);
    sim::ExplorePlan plan = sim::plan_exploration(seed);
    sim::ExploreVerdict verdict = sim::explore_one(plan);
    CHECK_MESSAGE(verdict.passed, (plan.describe() + "\n" + problems_of(verdict)));
  }
}

}  // namespace chunkex
