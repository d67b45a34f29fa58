// The relay server's protocol logic as a state machine with no I/O: the
// host reports connections, frames, disconnects and the time; the core
// answers through RelayOutbox (frames to send, connections to close, log
// lines, notices, the saved exchange, the outcome).
//
// It coordinates three parts, each in common/relay/:
//   admission     connections without a slot: HELLO, the token's challenge,
//                 a bounded pre-handshake pool (admission.h);
//   the pipeline  rounds batched by round, forwarded as soon as all their
//                 requests are in (up to `rounds_in_flight_max` ahead of
//                 delivery) and delivered in order (round_pipeline.h);
//   recovery      a peer that left and came back catches up by REFETCH from
//                 the chunks' owners while the others' rounds wait
//                 (recovery.h); a restarted server waits for every slot.
// Each connection and the exchange have one explicit state; the legal
// frames and changes are tables in relay/states.h (docs/DESIGN.md §5.7):
//
//   joining -> running <-> paused / catching up -> closing -> finished
//   joining -> restored, waiting -> running / catching up / closing
//
// A peer that leaves mid-exchange pauses it for `grace_s`. A newcomer may
// take its slot back by announcing the same file: it says how many rounds it
// had completed (its saved progress), and it catches up on the chunks it
// lost. Clients may pipeline requests without changing a clock or log line.
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
#include "common/relay/admission.h"
#include "common/relay/recovery.h"
#include "common/relay/round_pipeline.h"
#include "common/relay/states.h"
#include "common/time.h"

namespace chunkex {

// ConnId (relay/admission.h): chosen by the transport, unique per
// connection, never 0, rising in connection order.

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
  // before it gets a slot; without it, HELLO alone gets one.
  std::string token;
  NonceSource make_nonce = random_nonce;
  // How long a paused exchange waits for a peer that left; 0: it fails at once.
  uint32_t grace_s = 60;
  // A connection that has not said HELLO, proved the token and announced its
  // file this long after it connected is dropped (and gives back its slot).
  uint32_t handshake_timeout_s = 10;
  // No round delivered (and no lost chunk fetched again) for this long while
  // nobody is away: the peers the oldest open round waits for are named and
  // the exchange ends.
  uint32_t stall_timeout_s = 60;
  // No new round is forwarded while more output than this waits to be
  // written (the host reports it with on_output_queued()).
  uint64_t queued_output_bytes_max = 8u << 20;
  // An exchange a previous server process started (its roster and how many
  // rounds it delivered): every slot waits up to grace_s for its peer to come
  // back. With grace_s 0 nobody would, so it is not resumed (a notice says
  // so) and a new exchange starts.
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

  bool finished() const { return state_ == ExchangeState::kFinished; }
  bool exchange_started() const { return state_ != ExchangeState::kJoining; }
  uint64_t rounds_delivered() const;
  // Every round is delivered; the exchange waits for the last DONEs.
  bool closing() const { return state_ == ExchangeState::kClosing; }
  ExchangeState exchange_state() const { return state_; }
  // The state of a connection the core knows (kClosed for any other).
  ConnState conn_state(ConnId conn) const;
  RelayProgress progress() const;

 private:
  struct PeerSlot {
    // 0: slot free, or (once the exchange started) its peer is away. The
    // transport numbers connections from 1.
    ConnId conn = 0;
    std::optional<FileAnnouncement> file;
    std::optional<std::vector<PeerIndex>> verified_owners;  // set by DONE
    uint64_t chunks_received = 0;
    uint64_t bytes_received = 0;
    uint64_t resume_round = 0;  // rounds it had completed when it came back
  };

  // A connection that holds a slot, or is offered one that waits for its
  // peer. Connections in their handshake are in admission_.
  struct Connection {
    ConnState state = ConnState::kJoined;
    PeerIndex peer = 0;                           // its slot, or the slot it is offered
    std::optional<TimeMs> handshake_deadline_ms;  // until its ANNOUNCE
  };

  // States and their changes (relay/states.h).
  void set_exchange_state(ExchangeState next);
  void update_exchange_state();
  void set_conn_state(ConnId conn, ConnState next);
  bool exchange_running() const;

  // Deadlines.
  void on_handshake_deadline(ConnId conn);
  void on_stall();
  void on_grace_expired();
  void note_progress() { last_progress_ms_ = now_ms_; }
  std::optional<TimeMs> stall_deadline_ms() const;

  // Admission: slots for connections that spoke the protocol.
  void carry_out(const AdmissionStep& step);
  void admit(ConnId conn, TimeMs handshake_deadline_ms);
  void join(ConnId conn, TimeMs handshake_deadline_ms);
  void offer_waiting_slot(ConnId conn, TimeMs handshake_deadline_ms);
  bool slot_open() const;
  void reject(ConnId conn, const std::string& why);
  void reject_full(ConnId conn);
  void release_slot(PeerIndex peer, const std::string& why);
  size_t joined_count() const;
  void handle_announce(ConnId conn, PeerIndex peer, const Frame& frame);
  RosterMessage roster_of_slots() const;
  void start_exchange();
  void begin_exchange(const RosterMessage& roster);

  // Frames from peers with a slot.
  void dispatch(ConnId conn, const Connection& connection, Frame frame);
  void handle_request(PeerIndex peer, const Frame& frame);
  void handle_chunk_data(PeerIndex peer, Frame frame);
  void handle_done(ConnId conn, PeerIndex peer, const Frame& frame);

  // The round pipeline.
  void pump();
  bool forward_next_round();
  bool deliver_next_round();
  void send_forward(const RoundPlan& plan, PeerIndex requester);
  void log_round(const RoundPlan& plan);
  std::vector<PeerIndex> peers_holding_up_exchange() const;

  // Recovery: pause, return, catch-up, restore.
  bool any_absent() const;
  std::vector<PeerIndex> absent_peers() const;
  void pause_for(PeerIndex peer);
  void drop_returning(ConnId conn, const std::string& why);
  void handle_returning_announce(ConnId conn, PeerIndex offered, const Frame& frame);
  void resume_exchange();
  void handle_catch_up_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent,
                               ClockUs clock_us);
  void handle_refetch_data(PeerIndex peer, Frame frame);
  void end_finished_catch_ups();
  void send_refetches(PeerIndex owner);
  void reforward_unanswered(PeerIndex target);
  void restore(const SavedExchange& saved);

  // The end.
  void maybe_finish();
  void protocol_error(PeerIndex peer, const std::string& what);
  void fail(const std::string& why, std::optional<PeerIndex> culprit);
  void close_all();
  void log_rejections();
  RelayOutcome outcome() const;

  void send(ConnId conn, Frame frame);
  void close(ConnId conn);
  ClockUs max_clock() const;
  std::string line(ClockUs clock_us, const std::string& event) const;

  RelaySettings settings_;
  RelayOutbox& outbox_;
  ExchangeState state_ = ExchangeState::kJoining;
  Admission admission_;
  std::vector<PeerSlot> peers_;  // by ID, max_clients slots
  std::map<ConnId, Connection> conns_;
  Sha256Digest exchange_digest_{};
  std::optional<RoundPipeline> pipeline_;  // once the exchange starts
  std::optional<Recovery> recovery_;       // once the exchange starts
  uint64_t rounds_total_ = 0;
  std::vector<ClockUs> clocks_us_;  // clocks as of the last delivered round
  // The first kMaxRejectionsListed reasons are kept for the log; the rest
  // only counted.
  std::vector<std::string> rejections_;
  uint64_t rejections_total_ = 0;
  TimeMs now_ms_ = 0;
  TimeMs last_progress_ms_ = 0;
  std::optional<TimeMs> grace_deadline_ms_;  // while paused or restored-waiting
  uint64_t queued_output_bytes_ = 0;
  SavedExchange saved_;
  uint64_t disconnects_ = 0;
  uint64_t reconnects_ = 0;
};

}  // namespace chunkex
