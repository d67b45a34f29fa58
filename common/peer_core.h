// A peer's protocol logic as a state machine with no I/O of its own: frames
// from the server go in; frames to send, log lines and chunk reads/writes
// (through ChunkStore) come out.
//
// The peer steps its own copy of ExchangeModel: the model says what this peer
// asks each round and every clock it will see, so requests can be sent up to
// `window` rounds ahead and the log still comes out in canonical order. Every
// clock the server sends is checked against the model.
//
// Progress is saved through ChunkStore after every completed round. A peer
// that comes back (a restarted client) claims its old slot, replays the
// rounds it had completed through the model (which rewrites its log exactly)
// and asks again for the chunks of later rounds.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/chunk_store.h"
#include "common/chunking.h"
#include "common/exchange_model.h"
#include "common/messages.h"
#include "common/sha256.h"
#include "common/time.h"

namespace chunkex {

struct PeerOutcome {
  bool success = false;
  std::string failure;
  std::optional<PeerIndex> self;
  std::vector<ClockUs> final_clocks_us;
  std::vector<PeerIndex> verified_owners;
  bool resumable = false;        // failed mid-exchange: a restart can resume it
  bool connection_lost = false;  // the failure was the connection dropping
};

class PeerOutbox {
 public:
  virtual ~PeerOutbox() = default;
  virtual void send(Frame frame) = 0;
  // Sends CHUNK_DATA with `header` and bytes [offset, offset + length) of this
  // peer's own file (the one ChunkStore::open_own_file described).
  // `type` is CHUNK_DATA, or REFETCH_DATA for a chunk asked again.
  virtual void send_own_chunk(FrameType type, const ChunkHeader& header, uint64_t offset,
                              uint32_t length) = 0;
  virtual void log(std::string line) = 0;
  virtual void notice(std::string text) = 0;
  // Called once; the transport closes the connection and exits.
  virtual void finished(const PeerOutcome& outcome) = 0;
};

struct PeerProgress {
  uint64_t chunks_received = 0;
  uint64_t chunks_needed = 0;
  uint64_t bytes_received = 0;
};

// The shared secret, when the server requires one (auth.h).
struct PeerAuth {
  std::string token;
  NonceSource make_nonce = random_nonce;
};

struct PeerSettings {
  uint32_t window = 128;  // rounds of requests kept in flight
  // From ROSTER to FINAL the server never falls silent this long (it names a
  // stalled peer after idle_timeout_s itself, and says when it waits for one
  // that left); a silent server is given up on after twice this.
  uint32_t idle_timeout_s = 60;
  PeerAuth auth;
  // A relay speaks first (FLAG, CHALLENGE or ERROR) the moment it accepts a
  // connection; a listener silent this long after connecting is not one.
  uint32_t handshake_timeout_s = 10;
};

class PeerCore {
 public:
  // `store` and `outbox` must outlive the core.
  PeerCore(PeerSettings settings, ChunkStore& store, PeerOutbox& outbox);

  // Time is an input: the host calls on_time() before every other call (and
  // when next_deadline_ms() comes); a deadline that passed fires then.
  void on_time(TimeMs now_ms);
  TimeMs next_deadline_ms() const;

  // The connection is up (the first frame is due now).
  void on_connected();
  void on_frame(Frame frame);
  void on_stream_error(const std::string& what);
  void on_disconnect();
  void on_shutdown(const std::string& why);
  // This peer cannot go on (its log could not be written, its own file
  // shrank): the server is told `why`, so the exchange ends everywhere.
  void on_local_failure(const std::string& why);

  bool finished() const { return phase_ == Phase::kFinished; }
  // True from ROSTER to FINAL, when the server must keep talking; before
  // that the peer may wait as long as it takes the others to join.
  bool exchanging() const { return phase_ == Phase::kExchanging || phase_ == Phase::kAwaitFinal; }
  // The server said a peer left and the exchange waits for it: silence is
  // expected until it is back (or the server gives up on it).
  bool waiting_for_peer() const;
  std::optional<PeerIndex> self() const { return self_; }
  PeerProgress progress() const { return progress_; }
  // The largest chunk the server may send (for the frame decoder).
  uint32_t chunk_bytes() const { return chunk_bytes_; }

 private:
  enum class Phase { kAwaitFlag, kAwaitAuthOk, kAwaitRoster, kExchanging, kAwaitFinal, kFinished };

  struct OpenRound {
    RoundPlan plan;
    std::vector<PeerIndex> requesters;  // whom this peer serves, in ID order
    size_t served = 0;
    bool delivered = false;
    std::vector<std::string> completion_lines;  // "file of B complete" etc.
  };

  struct Incoming {
    FileLayout layout;
    Sha256Digest expected_sha256{};
    uint32_t chunks_received = 0;
  };

  void handle_challenge(const Frame& frame);
  void handle_auth_ok(const Frame& frame);
  void handle_flag(const Frame& frame);
  PeerIndex choose_returning_slot(const FlagMessage& flag);
  void handle_roster(const Frame& frame);
  void log_joined(const RosterMessage& roster);
  void open_incoming_files(const RosterMessage& roster, bool resuming);
  void replay_completed_rounds(uint64_t rounds);
  void complete_file(PeerIndex owner, OpenRound& round, bool replaying);
  void handle_refetch(const Frame& frame);
  void handle_peer_status(const Frame& frame);
  void handle_forward(const Frame& frame);
  void handle_send_chunk(const Frame& frame);
  void handle_final(const Frame& frame);
  void send_requests();
  void complete_rounds();
  void finish_incoming(PeerIndex owner, OpenRound& round);
  OpenRound* open_round(uint64_t round);
  void log_round(const OpenRound& round);
  void protocol_error(const std::string& what);
  void fail(const std::string& why, bool tell_server);
  ClockUs clock() const;
  std::string line(ClockUs clock_us, const std::string& event) const;

  void on_idle_deadline();
  void on_first_frame_deadline();

  uint32_t window_;
  uint32_t idle_timeout_s_;
  uint32_t handshake_timeout_s_;
  std::optional<TimeMs> first_frame_deadline_ms_;
  PeerAuth auth_;
  TimeMs now_ms_ = 0;
  TimeMs last_frame_ms_ = 0;
  Nonce server_nonce_{};
  Nonce client_nonce_{};
  bool server_proved_token_ = false;
  ChunkStore& store_;
  PeerOutbox& outbox_;
  Phase phase_ = Phase::kAwaitFlag;
  std::optional<PeerIndex> self_;
  uint8_t peer_count_ = 0;
  uint32_t chunk_bytes_ = kMaxChunkBytes;
  FileAnnouncement own_file_;
  std::optional<ExchangeModel> model_;
  std::deque<OpenRound> rounds_;  // rounds_.front() is the oldest incomplete round
  uint64_t next_complete_round_ = 0;
  ClockUs completed_clock_us_ = 0;
  std::vector<std::optional<Incoming>> incoming_;  // by owner
  std::vector<PeerIndex> verified_owners_;
  PeerProgress progress_;
  ResumeClaim claim_;            // what this peer told the server it had saved
  ResumePoint resume_;           // where the server said this peer starts
  std::vector<bool> peer_away_;  // by peer, from PEER_STATUS
  bool connection_lost_ = false;
  Phase phase_before_failure_ = Phase::kAwaitFlag;
};

}  // namespace chunkex
