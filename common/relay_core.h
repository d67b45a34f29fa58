// The relay server's protocol logic as a state machine with no I/O: the
// transport reports connections, frames and disconnects; the core answers
// through RelayOutbox (frames to send, connections to close, log lines).
//
// Phases: joining (FLAG each newcomer, collect ANNOUNCE; a peer that leaves
// now frees its slot for the next comer) -> exchanging
// (batch REQUEST_CHUNK/IDLE by round, forward, batch CHUNK_DATA, deliver
// SEND_CHUNK) -> closing (wait for every DONE) -> finished. Rounds are
// forwarded in order as soon as all their requests are in (up to
// `rounds_in_flight_max` rounds ahead of delivery) and delivered in order, so
// clients may pipeline requests without changing a single clock or log line.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/exchange_model.h"
#include "common/messages.h"

namespace chunkex {

// Chosen by the transport, unique per connection, never 0.
using ConnId = uint64_t;

struct RelaySettings {
  int max_clients = 4;
  uint32_t chunk_bytes = 131072;
  std::vector<PeerCosts> costs;
  uint32_t rounds_in_flight_max = 8;
  // When not empty, a newcomer must prove it knows this secret (auth.h)
  // before it gets a slot.
  std::string token;
  NonceSource make_nonce = random_nonce;
};

struct RelayOutcome {
  bool success = false;
  std::string failure;  // why the exchange stopped, when it did not succeed
  uint64_t rounds = 0;  // rounds that moved data
  std::vector<ClockUs> final_clocks_us;
  std::vector<FileAnnouncement> files;
  std::vector<std::vector<PeerIndex>> verified_owners;  // by peer
  uint64_t rejected_connections = 0;
};

class RelayOutbox {
 public:
  virtual ~RelayOutbox() = default;
  virtual void send(ConnId conn, Frame frame) = 0;
  // Close once the frames already queued for `conn` are written.
  virtual void close(ConnId conn) = 0;
  // A line of the deterministic server log.
  virtual void log(std::string line) = 0;
  // Console only: facts whose timing or order varies between runs.
  virtual void notice(std::string text) = 0;
  virtual void exchange_started() {}
  // True while the transport holds more unsent output than it wants to; the
  // core then forwards no new round until on_output_drained().
  virtual bool output_backlogged() const { return false; }
  virtual void finished(const RelayOutcome& outcome) = 0;
};

struct RelayProgress {
  uint64_t rounds_delivered = 0;
  uint64_t rounds_total = 0;              // a lower bound: exact for equal files
  std::vector<uint64_t> chunks_received;  // by peer
  std::vector<uint64_t> chunks_needed;    // by peer
  std::vector<uint64_t> bytes_received;   // by peer: chunk data delivered to it
};

class RelayCore {
 public:
  // `outbox` must outlive the core.
  RelayCore(RelaySettings settings, RelayOutbox& outbox);

  void on_connect(ConnId conn);
  void on_frame(ConnId conn, Frame frame);
  // The transport could not decode the stream (malformed or oversized frame).
  void on_stream_error(ConnId conn, const std::string& what);
  void on_disconnect(ConnId conn);
  // The handshake deadline of `conn` passed (the transport keeps the time).
  void on_handshake_deadline(ConnId conn);
  // No round was delivered for `stalled_s` seconds (the transport keeps the
  // time): the peers the oldest open round waits for are stuck or gone.
  void on_stall(uint32_t stalled_s);
  // Ctrl-C / SIGTERM.
  void on_shutdown(const std::string& why);
  // Output was written; rounds held back by output_backlogged() may go.
  void on_output_drained();

  bool finished() const { return phase_ == Phase::kFinished; }
  RelayProgress progress() const;

 private:
  enum class Phase { kJoining, kExchanging, kClosing, kFinished };

  struct PeerSlot {
    ConnId conn = 0;  // 0: slot free (the transport numbers connections from 1)
    std::optional<FileAnnouncement> file;
    std::optional<std::vector<PeerIndex>> verified_owners;  // set by DONE
    uint64_t chunks_received = 0;
    uint64_t bytes_received = 0;
  };

  struct RoundState {
    RoundPlan plan;
    std::vector<bool> request_seen;             // by requester
    std::vector<std::optional<Frame>> answers;  // by requester
    size_t requests_missing = 0;
    size_t answers_missing = 0;
    bool forwarded = false;
  };

  void reject(ConnId conn, const std::string& why);
  bool slot_open() const;
  void reject_full(ConnId conn);
  void admit(ConnId conn);
  void handle_auth(ConnId conn, const Frame& frame);
  void reject_unauthenticated(ConnId conn, const std::string& why);
  void release_slot(PeerIndex peer, const std::string& why);
  size_t joined_count() const;
  void handle_announce(PeerIndex peer, const Frame& frame);
  void start_exchange();
  void handle_request(PeerIndex peer, const Frame& frame);
  void handle_chunk_data(PeerIndex peer, Frame frame);
  void handle_done(PeerIndex peer, const Frame& frame);
  RoundState* round_state(uint64_t round);
  void record_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent, ClockUs clock_us);
  bool reached_last_round(PeerIndex peer) const;
  std::vector<PeerIndex> peers_holding_up_exchange() const;
  void pump();
  bool forward_next_round();
  bool deliver_next_round();
  void log_round(const RoundState& state);
  void maybe_finish();
  void protocol_error(PeerIndex peer, const std::string& what);
  void fail(const std::string& why, std::optional<PeerIndex> culprit);
  void close_all();
  void log_rejections();
  ClockUs max_clock() const;
  std::string line(ClockUs clock_us, const std::string& event) const;

  RelaySettings settings_;
  RelayOutbox& outbox_;
  Phase phase_ = Phase::kJoining;
  std::vector<PeerSlot> peers_;  // by ID, max_clients slots
  std::map<ConnId, PeerIndex> peer_of_conn_;
  std::map<ConnId, Nonce> awaiting_auth_;  // challenged, no proof yet
  std::optional<ExchangeModel> model_;
  uint64_t rounds_total_ = 0;
  std::deque<RoundState> rounds_;  // rounds_.front() is the next to deliver
  uint64_t next_forward_round_ = 0;
  uint64_t next_deliver_round_ = 0;
  std::vector<ClockUs> clocks_us_;  // clocks as of the last delivered round
  std::vector<std::string> rejections_;
};

}  // namespace chunkex
