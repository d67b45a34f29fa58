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
#include "common/io/log_file.h"
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

// A log that holds only `lines_max` lines (a full disk).
struct LogQuota {
  std::string log_name;  // "Server.txt", "ClientB.txt"
  size_t lines_max = 0;
};

struct SimOptions {
  Config config;                 // max_clients is the number of peers
  std::vector<LinkModel> links;  // by peer; missing entries: instant links
  uint64_t order_seed = 1;
  std::optional<std::string> out_dir;
  // Logs go to files here as they are written (else they are kept in memory).
  std::optional<std::string> log_dir;
  Fault fault;
  std::optional<LogQuota> log_quota;
  uint64_t max_steps = 50'000'000;
  // Tests: chunks carry their bytes (and the stores keep what they receive),
  // and frames can be altered in flight. `peer` is the simulation index.
  bool chunks_inline = false;
  std::function<void(size_t peer, Frame&)> tamper_to_relay;
  std::function<void(size_t peer, Frame&)> tamper_to_peer;
};

// One log of the simulation, in memory or written to `<log_dir>/<name>` as it
// comes. With a quota for its name it fills up after `lines_max` lines, as on
// a full disk: the write fails and the failure names the file.
class SimLog {
 public:
  SimLog(std::optional<std::string> log_dir, std::optional<LogQuota> quota)
      : log_dir_(std::move(log_dir)), quota_(std::move(quota)) {}
  // Starts `name` anew (a restarted component rewrites its log).
  void open(const std::string& name);
  void write(const std::string& line);
  void close() { file_.close(); }
  std::optional<std::string> failure() const { return full_ ? full_ : file_.error(); }

  std::vector<std::string> lines;  // without a log directory

 private:
  std::optional<std::string> log_dir_;
  std::optional<LogQuota> quota_;
  LogFile file_;
  std::string name_;
  size_t lines_written_ = 0;
  std::optional<std::string> full_;
};

// The relay's records. The saved exchange outlives a server crash; the log
// does not (a restarted server writes Server.txt anew: restart_log()).
class MemoryRelayRecords : public RelayRecords {
 public:
  MemoryRelayRecords(std::optional<std::string> log_dir, std::optional<LogQuota> quota)
      : log(std::move(log_dir), std::move(quota)) {}
  void restart_log() { log.open("Server.txt"); }
  void log_line(const std::string& line) override { log.write(line); }
  void close_log() override { log.close(); }
  void save_exchange(const SavedExchange& exchange) override { saved = exchange; }
  void clear_saved_exchange() override { saved.reset(); }
  std::string saved_exchange_location() const override { return "the simulator's memory"; }
  void write_summary(const nlohmann::json& json) override { summary = json; }
  std::optional<std::string> write_failure() const override { return log.failure(); }

  SimLog log;
  std::optional<SavedExchange> saved;
  nlohmann::json summary;
};

// A peer's log (ClientX.txt).
class MemoryPeerRecords : public PeerRecords {
 public:
  MemoryPeerRecords(std::optional<std::string> log_dir, std::optional<LogQuota> quota)
      : log(std::move(log_dir), std::move(quota)) {}
  void open_log(PeerIndex peer) override;
  void log_line(const std::string& line) override { log.write(line); }
  void close_log() override { log.close(); }
  std::optional<std::string> write_failure() const override { return log.failure(); }

  std::optional<PeerIndex> self;
  SimLog log;
};

struct PeerResult {
  std::optional<PeerIndex> slot;  // the ID the relay gave it
  std::vector<std::string> log;   // ClientX.txt
  std::optional<PeerOutcome> outcome;
  std::vector<std::string> notices;
  std::set<PeerIndex> committed;        // owners whose files it verified
  std::map<PeerIndex, Bytes> received;  // with chunks_inline
  uint32_t processes = 0;               // 1 + restarts
};

struct SimResult {
  std::vector<std::string> server_log;
  std::optional<RelayOutcome> relay;
  nlohmann::json summary;
  std::vector<std::string> relay_notices;
  std::vector<PeerResult> peers;  // by simulation index
  TrafficStats traffic;
  TimeMs end_ms = 0;  // virtual time when nothing was left to do
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
