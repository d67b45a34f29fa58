#include "common/sim/simulation.h"

#include <fmt/format.h>

namespace chunkex::sim {

std::string fault_name(Fault::Kind kind) {
  switch (kind) {
    case Fault::Kind::kNone:
      return "none";
    case Fault::Kind::kPeerCrash:
      return "peer-crash";
    case Fault::Kind::kCut:
      return "cut";
    case Fault::Kind::kServerCrash:
      return "server-crash";
    case Fault::Kind::kPeerGone:
      return "peer-gone";
  }
  return "?";
}

void SimLog::open(const std::string& name) {
  lines.clear();
  name_ = name;
  lines_written_ = 0;
  full_.reset();
  if (log_dir_) file_.open(*log_dir_, name);
}

void SimLog::write(const std::string& line) {
  if (full_) return;
  if (quota_ && quota_->log_name == name_ && lines_written_ >= quota_->lines_max) {
    full_ = fmt::format("cannot write log {}: No space left on device", name_);
    return;
  }
  ++lines_written_;
  if (log_dir_) return file_.write_line(line);
  lines.push_back(line);
}

void MemoryPeerRecords::open_log(PeerIndex peer) {
  self = peer;
  log.open(fmt::format("Client{}.txt", peer_letter(peer)));
}

struct Simulation::Peer {
  Peer(std::vector<const ContentSource*> sources, const SimOptions& options)
      : store(std::move(sources), options.out_dir, options.chunks_inline),
        records(options.log_dir, options.log_quota) {}
  SimChunkStore store;
  MemoryPeerRecords records;
  RecordedNotices notices;
  PeerLink* link = nullptr;
  std::unique_ptr<PeerHost> host;
  uint32_t processes = 0;
};

Simulation::Simulation(SimOptions options, std::vector<const ContentSource*> sources)
    : options_(std::move(options)),
      sources_(std::move(sources)),
      network_(options_.order_seed),
      relay_records_(options_.log_dir, options_.log_quota) {
  network_.set_tampering(options_.tamper_to_relay, options_.tamper_to_peer);
  for (size_t i = 0; i < static_cast<size_t>(options_.config.max_clients); ++i) {
    auto peer = std::make_unique<Peer>(sources_, options_);
    LinkModel link = i < options_.links.size() ? options_.links[i] : LinkModel{};
    peer->link = &network_.add_peer(peer->store, link, options_.chunks_inline);
    peers_.push_back(std::move(peer));
  }
}

Simulation::~Simulation() {
  // Hosts first: the network they point to is a member too.
  for (auto& peer : peers_) peer->host.reset();
  relay_.reset();
}

void Simulation::start_relay(std::optional<SavedExchange> resume_from) {
  relay_records_.restart_log();
  relay_ =
      std::make_unique<RelayHost>(options_.config, std::move(resume_from), network_.relay_link(),
                                  relay_records_, relay_notices_, network_.now_ms());
  network_.set_relay(relay_.get());
  relay_->on_listening("the simulated network", true, network_.now_ms());
}

// A new process over the peer's store: the same files and saved progress.
void Simulation::start_peer(size_t index) {
  Peer& peer = *peers_[index];
  network_.set_peer(index, nullptr);
  peer.host = std::make_unique<PeerHost>(options_.config, peer.store, *peer.link, peer.records,
                                         peer.notices);
  ++peer.processes;
  network_.set_peer(index, peer.host.get());
  peer.host->start(network_.now_ms());
}

SimResult Simulation::run() {
  start_relay(std::nullopt);
  // One after the other, as scripts/run-local.sh starts them: with equal
  // links the relay names them A, B, C, ... in index order.
  for (size_t i = 0; i < peers_.size(); ++i) {
    network_.at(static_cast<TimeUs>(i) * kPeerStartGapUs, [this, i] { start_peer(i); });
  }
  uint64_t steps = 0;
  bool limit_reached = false;
  while (network_.step()) {
    if (!fault_injected_) maybe_inject_fault();
    if (++steps >= options_.max_steps) {
      limit_reached = true;
      break;
    }
  }
  SimResult result = collect();
  result.step_limit_reached = limit_reached;
  return result;
}

void Simulation::maybe_inject_fault() {
  const Fault& fault = options_.fault;
  if (fault.kind == Fault::Kind::kNone || !relay_ || !relay_->mid_exchange() ||
      relay_->rounds_delivered() < fault.at_round) {
    return;
  }
  fault_injected_ = true;
  inject_fault();
}

void Simulation::inject_fault() {
  const Fault& fault = options_.fault;
  TimeUs restart_us = network_.now_us() + fault.restart_after_ms * 1000;
  switch (fault.kind) {
    case Fault::Kind::kNone:
      return;
    case Fault::Kind::kCut:
      return network_.cut_peer(fault.peer);
    case Fault::Kind::kPeerCrash:
    case Fault::Kind::kPeerGone:
      network_.crash_peer(fault.peer);
      peers_[fault.peer]->host.reset();
      if (fault.kind == Fault::Kind::kPeerCrash) {
        network_.at(restart_us, [this, index = fault.peer] { start_peer(index); });
      }
      return;
    case Fault::Kind::kServerCrash:
      network_.crash_relay();
      relay_.reset();
      network_.at(restart_us, [this] { start_relay(relay_records_.saved); });
      return;
  }
}

SimResult Simulation::collect() {
  SimResult result;
  result.server_log = std::move(relay_records_.log.lines);
  result.relay = relay_ ? relay_->outcome() : std::nullopt;
  result.summary = relay_records_.summary;
  result.relay_notices = relay_notices_.lines;
  result.traffic = network_.traffic();
  result.end_ms = network_.now_ms();
  result.fault_injected = fault_injected_;
  for (const auto& peer : peers_) {
    PeerResult out;
    out.slot = peer->records.self;
    out.log = std::move(peer->records.log.lines);
    if (peer->host) out.outcome = peer->host->outcome();
    out.notices = peer->notices.lines;
    out.committed = peer->store.committed();
    out.received = peer->store.received();
    out.processes = peer->processes;
    result.peers.push_back(std::move(out));
  }
  return result;
}

}  // namespace chunkex::sim
