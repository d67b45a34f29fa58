// A whole exchange in one process: a RelayHost and N PeerHosts over the
// in-memory network (network.h), with logs kept in memory, and at most one
// fault injected at a chosen round. The simulator (tools/sim.cpp), the
// explorer and the unit tests all run exchanges through this one wiring.
// See docs/DESIGN.md §8.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/host/notices.h"
#include "common/host/peer_host.h"
#include "common/host/relay_host.h"
#include "common/sim/network.h"
#include "common/sim/sim_store.h"

namespace chunkex::sim {

struct Fault {
  enum class Kind {
    kNone,
    kPeerCrash,    // the peer's process dies, and is started again after restart_after_ms
    kCut,          // the peer's connection is cut; the peer connects again by itself
    kServerCrash,  // the server dies, and is started again after restart_after_ms
    kPeerGone,     // the peer's process dies and never comes back
  };
  Kind kind = Kind::kNone;
  size_t peer = 0;  // by simulation index
  // Once the relay has delivered this many rounds (after the exchange
  // started, before its last round is delivered; never, past that).
  uint64_t at_round = 0;
  TimeMs restart_after_ms = 0;
};

std::string fault_name(Fault::Kind kind);

struct SimOptions {
  Config config;                // max_clients is the number of peers
  std::vector<LinkModel> links;  // by peer; missing entries: instant links
  uint64_t order_seed = 1;
  std::optional<std::string> out_dir;
  Fault fault;
  uint64_t max_steps = 50'000'000;
  // Tests: chunks carry their bytes (and the stores keep what they receive),
  // and frames can be altered in flight. `peer` is the simulation index.
  bool chunks_inline = false;
  std::function<void(size_t peer, Frame&)> tamper_to_relay;
  std::function<void(size_t peer, Frame&)> tamper_to_peer;
};

// The relay's records in memory. The saved exchange outlives a server crash;
// the log does not (a restarted server writes Server.txt anew).
class MemoryRelayRecords : public RelayRecords {
 public:
  void log_line(const std::string& line) override { lines.push_back(line); }
  void close_log() override {}
  void save_exchange(const SavedExchange& exchange) override { saved = exchange; }
  void clear_saved_exchange() override { saved.reset(); }
  void write_summary(const nlohmann::json& json) override { summary = json; }

  std::vector<std::string> lines;
  std::optional<SavedExchange> saved;
  nlohmann::json summary;
};

class MemoryPeerRecords : public PeerRecords {
 public:
  void open_log(PeerIndex peer) override {
    self = peer;
    lines.clear();
  }
  void log_line(const std::string& line) override { lines.push_back(line); }
  void close_log() override {}

  std::optional<PeerIndex> self;
  std::vector<std::string> lines;
};

struct PeerResult {
  std::optional<PeerIndex> slot;    // the ID the relay gave it
  std::vector<std::string> log;     // ClientX.txt
  std::optional<PeerOutcome> outcome;
  std::vector<std::string> notices;
  std::set<PeerIndex> committed;    // owners whose files it verified
  std::map<PeerIndex, Bytes> received;  // with chunks_inline
  uint32_t processes = 0;           // 1 + restarts
};

struct SimResult {
  std::vector<std::string> server_log;
  std::optional<RelayOutcome> relay;
  nlohmann::json summary;
  std::vector<std::string> relay_notices;
  std::vector<PeerResult> peers;  // by simulation index
  TrafficStats traffic;
  TimeMs end_ms = 0;               // virtual time when nothing was left to do
  bool fault_injected = false;
  bool step_limit_reached = false;
};

class Simulation {
 public:
  static constexpr TimeUs kPeerStartGapUs = 1000;

  // `sources[i]` is the file of the peer the relay names i (hashed already);
  // they must outlive the simulation.
  Simulation(SimOptions options, std::vector<const ContentSource*> sources);
  ~Simulation();

  SimResult run();

 private:
  struct Peer;

  void start_relay(std::optional<SavedExchange> resume_from);
  void start_peer(size_t index);
  void maybe_inject_fault();
  void inject_fault();
  SimResult collect();

  SimOptions options_;
  std::vector<const ContentSource*> sources_;
  Network network_;
  MemoryRelayRecords relay_records_;
  RecordedNotices relay_notices_;
  std::unique_ptr<RelayHost> relay_;
  std::vector<std::unique_ptr<Peer>> peers_;
  bool fault_injected_ = false;
};

}  // namespace chunkex::sim
