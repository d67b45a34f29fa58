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
//
// A peer that leaves mid-exchange pauses it for `grace_s` (resume below). A
// newcomer may take its slot back by announcing the same file: it says how
// many rounds it had completed (its saved progress), and it catches up on the
// chunks it lost by REFETCH from their owners, while the others' rounds wait.
// A restarted server does the same for every slot, from SavedExchange.
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
#include "common/time.h"

namespace chunkex {

// Chosen by the transport, unique per connection, never 0.
using ConnId = uint64_t;

struct SavedExchange {
  RosterMessage roster;  // files and costs by slot (its `resume` is unused)
  uint64_t delivered_rounds = 0;
};

struct RelaySettings {
  int max_clients = 4;
  uint32_t chunk_bytes = 131072;
  std::vector<PeerCosts> costs;
  uint32_t rounds_in_flight_max = 8;
  // When not empty, a newcomer must prove it knows this secret (auth.h)
  // before it gets a slot.
  std::string token;
  NonceSource make_nonce = random_nonce;
  // How long a paused exchange waits for a peer that left; 0: it fails at once.
  uint32_t grace_s = 60;
  // A connection that has not announced its file (or proved the token) by
  // then is dropped, and gives back the slot it held.
  uint32_t handshake_timeout_s = 10;
  // No round delivered (and no lost chunk fetched again) for this long while
  // nobody is away: the peers the oldest open round waits for are named and
  // the exchange ends.
  uint32_t stall_timeout_s = 60;
  // No new round is forwarded while more output than this waits to be
  // written (the host reports it with on_output_queued()).
  uint64_t queued_output_bytes_max = 8u << 20;
  // An exchange a previous server process started (its roster and how many
  // rounds it delivered): every slot waits for its peer to come back.
  std::optional<SavedExchange> resume_from;
};

struct RelayOutcome {
  bool success = false;
  std::string failure;  // why the exchange stopped, when it did not succeed
  uint64_t rounds = 0;  // rounds that moved data
  std::vector<ClockUs> final_clocks_us;
  std::vector<FileAnnouncement> files;
  std::vector<std::vector<PeerIndex>> verified_owners;  // by peer
  uint64_t rejected_connections = 0;
  uint64_t disconnects = 0;      // peers that left mid-exchange
  uint64_t reconnects = 0;       // peers that came back
  uint64_t refetched_bytes = 0;  // chunk data sent again to peers that came back
};

// What the core asks of its host: a short list of actions.
class RelayOutbox {
 public:
  virtual ~RelayOutbox() = default;
  virtual void send(ConnId conn, Frame frame) = 0;
  // Close once the frames already queued for `conn` are written. The host
  // still reports the connection's end with on_disconnect().
  virtual void close(ConnId conn) = 0;
  // A line of the deterministic server log.
  virtual void log(std::string line) = 0;
  // Console only: facts whose timing or order varies between runs.
  virtual void notice(std::string text) = 0;
  // Remember the exchange (roster and rounds delivered) so that a restarted
  // server can resume it. Called when it starts and after every delivered
  // round, before any chunk of that round is sent.
  virtual void persist(const SavedExchange& exchange) = 0;
  virtual void finished(const RelayOutcome& outcome) = 0;
};

struct RelayProgress {
  uint64_t rounds_delivered = 0;
  uint64_t rounds_total = 0;              // a lower bound: exact for equal files
  std::vector<uint64_t> chunks_received;  // by peer
  std::vector<uint64_t> chunks_needed;    // by peer
  std::vector<uint64_t> bytes_received;   // by peer: chunk data delivered to it
  uint64_t chunks_refetched = 0;          // catch-up chunks relayed so far
  bool paused = false;                    // waiting for a peer to come back
};

class RelayCore {
 public:
  // `outbox` must outlive the core.
  RelayCore(RelaySettings settings, RelayOutbox& outbox);

  // Time is an input: the host calls on_time() before every other call (and
  // when next_deadline_ms() comes); every deadline that passed fires then.
  void on_time(TimeMs now_ms);
  TimeMs next_deadline_ms() const;

  void on_connect(ConnId conn);
  void on_frame(ConnId conn, Frame frame);
  // The transport could not decode the stream (malformed or oversized frame).
  void on_stream_error(ConnId conn, const std::string& what);
  void on_disconnect(ConnId conn);
  // Ctrl-C / SIGTERM.
  void on_shutdown(const std::string& why);
  // Output bytes the host holds, not yet written. The core counts what it
  // sends itself between two reports.
  void on_output_queued(uint64_t queued_bytes);

  bool finished() const { return phase_ == Phase::kFinished; }
  bool exchange_started() const { return phase_ != Phase::kJoining; }
  uint64_t rounds_delivered() const { return next_deliver_round_; }
  // Every round is delivered; the exchange waits for the last DONEs.
  bool closing() const { return phase_ == Phase::kClosing; }
  RelayProgress progress() const;

 private:
  enum class Phase { kJoining, kExchanging, kClosing, kFinished };

  // A returning peer's requests for rounds already delivered to the others:
  // each one that asks for a chunk becomes a REFETCH to its owner.
  struct CatchUp {
    ExchangeModel model;        // at the next round the peer will ask about
    uint64_t end_round = 0;     // rounds_delivered when it came back
    uint64_t fetches_owed = 0;  // REFETCHed chunks not yet relayed
    bool done() const { return model.next_round() >= end_round && fetches_owed == 0; }
  };

  struct PeerSlot {
    // 0: slot free, or (once the exchange started) its peer is away. The
    // transport numbers connections from 1.
    ConnId conn = 0;
    std::optional<FileAnnouncement> file;
    std::optional<std::vector<PeerIndex>> verified_owners;  // set by DONE
    uint64_t chunks_received = 0;
    uint64_t bytes_received = 0;
    bool returning = false;  // came back; gets ROSTER once everyone is back
    uint64_t resume_round = 0;
    std::optional<CatchUp> catch_up;
  };

  // A chunk asked again of its owner for a peer catching up. Kept per owner
  // in sending order, which is the order the owner answers in.
  struct Fetch {
    ChunkHeader header;  // round, requester, chunk, clock of its SEND_CHUNK
    bool sent = false;
    bool stale = false;  // the requester left again: drop the answer
  };

  struct RoundState {
    RoundPlan plan;
    std::vector<bool> request_seen;             // by requester
    std::vector<std::optional<Frame>> answers;  // by requester
    size_t requests_missing = 0;
    size_t answers_missing = 0;
    bool forwarded = false;
  };

  void send(ConnId conn, Frame frame);
  void close(ConnId conn);
  void on_handshake_deadline(ConnId conn);
  void on_stall();
  void on_grace_expired();
  void note_progress() { last_progress_ms_ = now_ms_; }
  std::optional<TimeMs> stall_deadline_ms() const;
  void reject(ConnId conn, const std::string& why);
  bool slot_open() const;
  bool exchange_running() const;
  bool any_absent() const;
  std::vector<PeerIndex> absent_peers() const;
  RosterMessage roster_of_slots() const;
  void send_forward(const RoundPlan& plan, size_t q);
  bool any_catching_up() const;
  void admit_returning(ConnId conn);
  void drop_returning(ConnId conn, const std::string& why);
  void handle_returning_announce(ConnId conn, const Frame& frame);
  void resume_exchange();
  void refetch_all_unsent(PeerIndex target);
  void reforward_unanswered(PeerIndex target);
  void pause_for(PeerIndex peer);
  void forget_work_of(PeerIndex peer);
  void handle_catch_up_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent,
                               ClockUs clock_us);
  void handle_refetch_data(PeerIndex peer, Frame frame);
  void restore(const SavedExchange& saved);
  void begin_exchange(const RosterMessage& roster);
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
  void log_round(const RoundPlan& plan);
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
  std::map<ConnId, PeerIndex> returning_;  // FLAGged for a waiting slot, no ANNOUNCE yet
  Sha256Digest exchange_digest_{};
  std::vector<std::deque<Fetch>> fetches_;  // by owner
  std::optional<ExchangeModel> model_;
  uint64_t rounds_total_ = 0;
  std::deque<RoundState> rounds_;  // rounds_.front() is the next to deliver
  uint64_t next_forward_round_ = 0;
  uint64_t next_deliver_round_ = 0;
  std::vector<ClockUs> clocks_us_;  // clocks as of the last delivered round
  // The first kMaxRejectionsListed reasons are kept for the log; the rest
  // only counted.
  std::vector<std::string> rejections_;
  uint64_t rejections_total_ = 0;
  TimeMs now_ms_ = 0;
  std::map<ConnId, TimeMs> handshake_deadlines_ms_;  // connections still in their handshake
  TimeMs last_progress_ms_ = 0;
  std::optional<TimeMs> grace_deadline_ms_;  // while paused
  uint64_t queued_output_bytes_ = 0;
  SavedExchange saved_;
  uint64_t disconnects_ = 0;
  uint64_t reconnects_ = 0;
  uint64_t chunks_refetched_ = 0;
  uint64_t refetched_bytes_ = 0;
};

}  // namespace chunkex
