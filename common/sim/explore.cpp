#include "common/sim/explore.h"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "common/host/relay_host.h"
#include "common/random.h"
#include "common/sim/sources.h"

namespace chunkex::sim {
namespace {

constexpr uint32_t kMaxChunksPerFile = 40;

Config explore_config(Xoshiro256& random, size_t peers) {
  Config config;
  config.max_clients = static_cast<int>(peers);
  config.chunk_bytes = static_cast<uint32_t>(random.between(64, 4096));
  config.window = static_cast<uint32_t>(random.chance(1, 4) ? 1 : random.between(1, 64));
  config.costs.clear();
  for (size_t i = 0; i < peers; ++i) {
    auto ms = static_cast<ClockUs>(6 + i);
    config.costs.push_back(PeerCosts{ms * 1000 + static_cast<ClockUs>(random.below(1000)),
                                     ms * 100 + static_cast<ClockUs>(random.below(100))});
  }
  return config;
}

// Unequal files: some empty, some with a partial last chunk.
std::vector<uint64_t> explore_sizes(Xoshiro256& random, size_t peers, uint32_t chunk_bytes) {
  std::vector<uint64_t> sizes;
  for (size_t i = 0; i < peers; ++i) {
    if (random.chance(1, 8)) {
      sizes.push_back(0);
      continue;
    }
    uint64_t chunks = random.between(1, kMaxChunksPerFile);
    uint64_t tail = random.chance(1, 2) ? random.between(1, chunk_bytes - 1) : 0;
    sizes.push_back((chunks - (tail ? 1 : 0)) * chunk_bytes + tail);
  }
  if (std::all_of(sizes.begin(), sizes.end(), [](uint64_t size) { return size == 0; })) {
    sizes[0] = chunk_bytes;
  }
  return sizes;
}

Fault explore_fault(Xoshiro256& random, size_t peers, uint64_t rounds_hint) {
  Fault fault;
  fault.kind = static_cast<Fault::Kind>(random.below(5));
  fault.peer = random.below(peers);
  fault.at_round = random.below(rounds_hint + 2);
  if (fault.kind == Fault::Kind::kPeerCrash) fault.restart_after_ms = random.between(0, 5000);
  // Restarted before the peers' first reconnect attempt (500 ms), so none of
  // them is refused and gives up.
  if (fault.kind == Fault::Kind::kServerCrash) fault.restart_after_ms = random.between(0, 400);
  return fault;
}

std::vector<std::string> without_fault_lines(std::vector<std::string> lines) {
  std::erase_if(lines, is_fault_line);
  return lines;
}

// The first line where two logs differ, for a failure report.
std::string first_difference(const std::vector<std::string>& expected,
                             const std::vector<std::string>& got) {
  size_t i = 0;
  while (i < expected.size() && i < got.size() && expected[i] == got[i]) ++i;
  return fmt::format("line {}: expected '{}', got '{}'", i + 1,
                     i < expected.size() ? expected[i] : "<end>",
                     i < got.size() ? got[i] : "<end>");
}

bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return line.find(part) != std::string::npos; });
}

// A peer whose connection broke (or whose process died) after its DONE may
// miss FINAL when the relay ends the exchange before the peer is back: it has
// every file verified, and reports that it could not hear the end: the
// server refused it, or closed a connection it no longer accepted. Its log
// then lacks the final clocks and holds the error instead.
bool missed_final(const PeerResult& peer, size_t peers) {
  if (!peer.outcome || peer.outcome->success || peer.committed.size() + 1 != peers) return false;
  const std::string& failure = peer.outcome->failure;
  return failure.find("lost the connection to the server") != std::string::npos ||
         failure.find("cannot connect to the server") != std::string::npos;
}

std::vector<std::string> without_end_lines(std::vector<std::string> lines) {
  std::erase_if(lines, [](const std::string& line) {
    return line.find("] final clocks ") != std::string::npos ||
           line.find("] error: lost the connection") != std::string::npos;
  });
  return lines;
}

struct Checker {
  const ExplorePlan& plan;
  ExploreVerdict verdict;

  void problem(std::string text) {
    verdict.passed = false;
    verdict.problems.push_back(std::move(text));
  }

  void check_complete(const SimResult& run, const std::string& which) {
    if (run.step_limit_reached) problem(which + ": the simulation did not settle");
    if (!run.relay || !run.relay->success) {
      problem(fmt::format("{}: the exchange failed: {}", which,
                          run.relay ? run.relay->failure : "the relay never finished"));
      return;
    }
    size_t peers = run.peers.size();
    for (size_t i = 0; i < peers; ++i) {
      const PeerResult& peer = run.peers[i];
      if (missed_final(peer, peers) && run.fault_injected) {
        ++verdict.missed_final;
      } else if (!peer.outcome || !peer.outcome->success) {
        problem(fmt::format("{}: peer {} did not finish: {}", which, i,
                            peer.outcome ? peer.outcome->failure : "no outcome"));
      } else if (peer.committed.size() + 1 != peers) {
        problem(fmt::format("{}: peer {} verified {} of {} files", which, i, peer.committed.size(),
                            peers - 1));
      }
    }
  }

  void check_same_logs(const SimResult& reference, const SimResult& faulty) {
    auto expected = without_fault_lines(reference.server_log);
    auto got = without_fault_lines(faulty.server_log);
    if (expected != got) problem("Server.txt differs: " + first_difference(expected, got));
    for (const PeerResult& ref_peer : reference.peers) {
      auto match = std::find_if(faulty.peers.begin(), faulty.peers.end(),
                                [&](const PeerResult& p) { return p.slot == ref_peer.slot; });
      if (match == faulty.peers.end()) {
        problem("no peer of the faulty run holds the slot of a reference peer");
        continue;
      }
      auto ref_lines = without_fault_lines(ref_peer.log);
      auto lines = without_fault_lines(match->log);
      if (missed_final(*match, faulty.peers.size())) {
        ref_lines = without_end_lines(ref_lines);
        lines = without_end_lines(lines);
      }
      if (ref_lines != lines) {
        problem(fmt::format("Client{}.txt differs: {}", peer_letter(*ref_peer.slot),
                            first_difference(ref_lines, lines)));
      }
    }
  }

  void check_peer_gone(const SimResult& faulty) {
    const Fault& fault = plan.options.fault;
    // It died after its DONE reached the relay (and its last answers did):
    // nothing was missing, and the exchange ended before the loss mattered.
    if (faulty.relay && faulty.relay->success) {
      if (faulty.peers[fault.peer].committed.size() + 1 != faulty.peers.size()) {
        problem("the exchange succeeded without a peer that never came back and lacked files");
      }
      for (size_t i = 0; i < faulty.peers.size(); ++i) {
        const auto& outcome = faulty.peers[i].outcome;
        if (i != fault.peer && (!outcome || !outcome->success)) {
          problem(fmt::format("peer {} did not finish though the exchange succeeded", i));
        }
      }
      return;
    }
    if (!faulty.relay || faulty.relay->success ||
        faulty.relay->failure.find("did not come back") == std::string::npos) {
      problem(
          "a peer that never came back should end the exchange at the grace period, got: " +
          (faulty.relay ? (faulty.relay->success ? "success" : faulty.relay->failure) : "no end"));
    }
    for (size_t i = 0; i < faulty.peers.size(); ++i) {
      if (i == fault.peer) continue;
      const auto& outcome = faulty.peers[i].outcome;
      if (!outcome || outcome->success ||
          outcome->failure.find("did not come back") == std::string::npos) {
        problem(fmt::format("peer {} should fail naming the peer that did not come back, got: {}",
                            i, outcome ? outcome->failure : "no outcome"));
      }
    }
  }

  void check_resent(const SimResult& reference, const SimResult& faulty) {
    uint64_t window_rounds = relay_settings_of(plan.config, std::nullopt).rounds_in_flight_max;
    uint64_t limit = 2 * window_rounds * plan.config.chunk_bytes;
    for (size_t slot = 0; slot < faulty.peers.size(); ++slot) {
      uint64_t sent = faulty.traffic.chunk_bytes_for_slot[slot];
      uint64_t expected = reference.traffic.chunk_bytes_for_slot[slot];
      uint64_t extra = sent > expected ? sent - expected : 0;
      verdict.resent_chunk_bytes = std::max(verdict.resent_chunk_bytes, extra);
      if (extra > limit) {
        problem(
            fmt::format("{} chunk bytes were sent again for client {}, more than 2 x {} "
                        "window chunks ({} bytes)",
                        extra, peer_letter(static_cast<PeerIndex>(slot)), window_rounds, limit));
      }
    }
  }

  // A deadline fires with cause only when a peer really left for good.
  void check_deadlines(const SimResult& run, bool peer_gone) {
    for (const char* part : {"handshake deadline", "stalled", "sent nothing"}) {
      if (any_contains(run.relay_notices, part)) {
        problem(fmt::format("a deadline fired without cause ('{}')", part));
      }
      for (const PeerResult& peer : run.peers) {
        if (any_contains(peer.notices, part)) {
          problem(fmt::format("a peer's deadline fired without cause ('{}')", part));
        }
      }
    }
    uint64_t grace_ms = seconds_to_ms(plan.config.reconnect_grace_s);
    uint64_t limit_ms = peer_gone ? 2 * grace_ms : grace_ms;
    if (static_cast<uint64_t>(run.end_ms) > limit_ms + 60'000) {
      problem(fmt::format("the run took {} ms of simulated time", run.end_ms));
    }
  }
};

std::vector<std::unique_ptr<GeneratedSource>> make_sources(const ExplorePlan& plan) {
  std::vector<std::unique_ptr<GeneratedSource>> sources;
  std::vector<HashedSource*> to_hash;
  for (size_t i = 0; i < plan.sizes_bytes.size(); ++i) {
    sources.push_back(std::make_unique<GeneratedSource>(plan.seed, i, plan.sizes_bytes[i]));
    to_hash.push_back(sources.back().get());
  }
  hash_sources(to_hash, 1);
  return sources;
}

}  // namespace

bool is_fault_line(const std::string& line) {
  for (const char* part :
       {"disconnected: exchange paused", "reconnected: it has completed",
        "exchange resumed at round", "resumed after round", "server restarted: resuming"}) {
    if (line.find(part) != std::string::npos) return true;
  }
  return false;
}

ExplorePlan plan_exploration(uint64_t seed) {
  Xoshiro256 random(seed);
  ExplorePlan plan;
  plan.seed = seed;
  size_t peers = random.between(2, 5);
  plan.config = explore_config(random, peers);
  plan.sizes_bytes = explore_sizes(random, peers, plan.config.chunk_bytes);
  plan.options.config = plan.config;
  plan.options.order_seed = random.next();
  for (size_t i = 0; i < peers; ++i) {
    LinkModel link;
    link.latency_us = static_cast<TimeUs>(random.below(20'000));
    if (random.chance(1, 2)) link.bandwidth_bytes_per_s = random.between(1'000'000, 100'000'000);
    plan.options.links.push_back(link);
  }
  uint64_t rounds_hint = 0;
  for (uint64_t size : plan.sizes_bytes) rounds_hint += size / plan.config.chunk_bytes + 1;
  plan.options.fault = explore_fault(random, peers, rounds_hint);
  return plan;
}

std::string ExplorePlan::describe() const {
  std::string sizes;
  for (uint64_t size : sizes_bytes) sizes += fmt::format("{}{}", sizes.empty() ? "" : " ", size);
  std::string latencies;
  for (const LinkModel& link : options.links) {
    latencies += fmt::format(
        "{}{:.1f}ms/{}", latencies.empty() ? "" : " ",
        static_cast<double>(link.latency_us) / 1000.0,
        link.bandwidth_bytes_per_s
            ? fmt::format("{:.0f}MB/s", static_cast<double>(link.bandwidth_bytes_per_s) / 1e6)
            : std::string("inf"));
  }
  const Fault& fault = options.fault;
  return fmt::format(
      "{} peers, sizes [{}] bytes, chunk {} B, window {}, links [{}], fault {} (peer {}, round "
      "{}, restart after {} ms)",
      sizes_bytes.size(), sizes, config.chunk_bytes, config.window, latencies,
      fault_name(fault.kind), fault.peer, fault.at_round, fault.restart_after_ms);
}

ExploreVerdict explore_one(const ExplorePlan& plan) {
  auto sources = make_sources(plan);
  std::vector<const ContentSource*> views;
  for (const auto& source : sources) views.push_back(source.get());
  SimOptions fault_free = plan.options;
  fault_free.fault = Fault{};
  SimResult reference = Simulation(fault_free, views).run();
  SimResult faulty = Simulation(plan.options, views).run();
  Checker checker{plan, {}};
  checker.check_complete(reference, "fault-free run");
  checker.verdict.rounds = reference.relay ? reference.relay->rounds : 0;
  bool peer_gone = faulty.fault_injected && plan.options.fault.kind == Fault::Kind::kPeerGone;
  if (peer_gone) {
    checker.check_peer_gone(faulty);
  } else {
    checker.check_complete(faulty, "run with the fault");
    checker.check_same_logs(reference, faulty);
    checker.check_resent(reference, faulty);
  }
  checker.check_deadlines(faulty, peer_gone);
  return checker.verdict;
}

}  // namespace chunkex::sim
