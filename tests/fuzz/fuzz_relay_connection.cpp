// libFuzzer target: the relay server's per-connection handling (RelayCore),
// driven the way the Asio transport drives it, with four connections.
//
// Input layout (tests/fuzz/make_corpus.py writes seeds in it):
//   byte 0   bit 0     honest mode: every connection is a real PeerCore
//                      exchanging a small file; frames are injected or
//                      tampered with only on the fuzzed connection (and on
//                      connections opened later)
//            bit 1     (not honest) every connection announces a valid file first
//            bits 2-3  the fuzzed connection (0..3) in honest mode
//            bits 4-5  the relay's rounds_in_flight_max (kRelayWindows)
//            bits 6-7  the peers' window (kPeerWindows)
//   bytes 1-2          file sizes of connections 1..4, one nibble each (kSizes)
//   byte 3   bit 0     the server requires a token (CHALLENGE / AUTH / AUTH_OK first)
//            bit 1     (honest) the fuzzed connection's peer has the wrong token
//            bit 2     no grace period (grace_s 0: a peer that leaves mid-exchange
//                      ends it); otherwise kGraceS, and a leaving peer pauses it
//   then operations, one byte each: low nibble the kind (Op), high nibble
//   picks the connection; some kinds read argument bytes after it.
//
// Reconnecting: in honest mode, kConnectNew with bit 3 of its selector set
// restarts a peer whose process vanished (or that failed once its connection
// was gone): a new PeerCore over the SAME FuzzChunkStore, which keeps the
// received files and the saved progress, so it claims its old slot back. A
// kShutdown with selector 13 kills the server: every connection drops, every
// peer loses it, and a new RelayCore starts from what the old one saved
// (RelaySettings::resume_from); selector 12 fires the grace timer.
//
// Every byte a connection sends goes through its own FrameDecoder, as in the
// server (decoded frames -> on_frame, a malformed stream -> on_stream_error).
// When the operations are done, every queued frame is delivered until nothing
// moves. Checked throughout: no send or close to ConnId 0 or to a connection
// the (current) relay never heard of, nothing sent after a close, finished()
// once and nothing sent after it to a connection that held a slot, every such
// connection closed when the relay finishes, every frame the relay sends is
// one a peer's decoder accepts; with a token, no AUTH_OK without a valid AUTH
// and no slot (FLAG) without AUTH_OK. Reconnecting: a FLAG lists waiting slots
// exactly while the exchange is paused, and offers one of them; ROSTER once
// per connection, only after its ANNOUNCE, naming the file it announced, the
// same files for everyone, and a resume point only from a matching claim;
// REQUEST_CHUNK / SEND_CHUNK / REFETCH / PEER_STATUS / FINAL only to a
// connection that was sent ROSTER, never about its own slot; SEND_CHUNK and
// REFETCH only for rounds reported delivered; no round delivered while paused;
// the grace timer ends only a paused exchange; the peers' saved progress
// never counts a chunk that is not in their files (FuzzChunkStore).
// In honest mode with nothing injected: the exchange succeeds, every file
// arrives byte for byte, clocks match the model, and the logs equal those of a
// plain round-robin run with the default windows. With honest peers that only
// left and came back (or a server that restarted): once every slot is held
// again the exchange must finish and succeed exactly as a plain run (logs
// equal but for the pause / reconnect / resume lines).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/bytes.h"
#include "common/chunking.h"
#include "common/exchange_model.h"
#include "common/frame.h"
#include "common/messages.h"
#include "common/peer_core.h"
#include "common/relay_core.h"
#include "common/sha256.h"
#include "fuzz_support.h"

namespace chunkex::fuzz {
namespace {

constexpr int kClients = 4;
constexpr uint32_t kChunkBytes = 64;
constexpr uint64_t kSizes[16] = {0,   1,   2,   63,  64,  65,  100, 127,
                                 128, 129, 191, 192, 200, 255, 256, 300};
constexpr uint32_t kRelayWindows[4] = {1, 2, 8, 32};
constexpr uint32_t kPeerWindows[4] = {1, 2, 8, 128};
constexpr uint32_t kGraceS = 60;
constexpr size_t kMaxConnections = 80;  // past the relay's limit of 64 authenticating
const std::string kToken = "fuzz-token";
constexpr size_t kMaxDrainSteps = 1'000'000;  // far above any exchange of these files

// CHUNKEX_FUZZ_VERBOSE=1: print the relay's log and outcome (for triage).
bool verbose() {
  static const bool enabled = [] {
    const char* value = std::getenv("CHUNKEX_FUZZ_VERBOSE");
    return value != nullptr && std::string(value) == "1";
  }();
  return enabled;
}

std::vector<PeerCosts> default_costs() {
  return {{6000, 600}, {7000, 700}, {8000, 800}, {9000, 900}};
}

Bytes file_of(uint64_t size, uint64_t seed) {
  return pseudo_random_bytes(size, 0x5eed0000 + seed);
}

bool contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

enum Op : uint8_t {
  kStepToPeer = 0,    // deliver the next relay -> peer frame of a connection
  kStepToRelay = 1,   // deliver the next peer -> relay frame of a connection
  kRun = 2,           // u8 n: n rounds of delivering one frame each way on every connection
  kInjectFrame = 3,   // u8 type (low nibble), u8 length, payload: a well-framed frame
  kRawBytes = 4,      // u8 length, bytes
  kTamperToRelay = 5, // u8 position, u8 xor: flip bits of the next peer -> relay frame
  kDropToRelay = 6,   // lose the next peer -> relay frame
  kDupToRelay = 7,    // send the next peer -> relay frame twice
  kDisconnect = 8,    // the peer's process vanishes
  kConnectNew = 9,    // a new connection (a new honest peer in honest mode; high
                      // nibble bit 3: a restart of a peer that vanished, if any)
  kDeadline = 10,     // the handshake deadline of a connection passes
  kBacklog = 11,      // output_backlogged() = high nibble bit 0; drained when false
  kDrained = 12,      // on_output_drained()
  kTamperToPeer = 13, // u8 position, u8 xor: flip bits of the next relay -> peer frame
  kShutdown = 14,     // high nibble 15: on_shutdown (Ctrl-C); 14: on_stall; 13: the server
                      // is killed and restarted; 12: on_grace_expired; otherwise a step both ways
  kStructured = 15,   // u8 kind, fields: a plausible ANNOUNCE/REQUEST/IDLE/CHUNK_DATA/DONE/
                      // ERROR/AUTH, ANNOUNCE with a resume claim, REFETCH_DATA, or the
                      // exact frame the schedule says this slot sends
};

struct Options {
  bool honest = false;
  bool announce = false;
  size_t fuzzed = 0;
  uint32_t relay_window = 8;
  uint32_t peer_window = 8;
  std::array<uint64_t, kClients> sizes{};
  std::array<uint64_t, kClients> seeds{1, 2, 3, 4};  // of the first four files' bytes
  bool token = false;
  bool wrong_token = false;
  uint32_t grace_s = kGraceS;
};

// Nonces that differ per call and repeat from run to run.
NonceSource counting_nonces(uint8_t tag) {
  auto counter = std::make_shared<uint64_t>(0);
  return [counter, tag] {
    Nonce nonce{};
    nonce[0] = tag;
    store_big_endian<uint64_t>(nonce.data() + 1, ++*counter);
    return nonce;
  };
}

// Field by field: RelaySettings gains fields (authentication) whose defaults suit here.
RelaySettings relay_settings(const Options& options) {
  RelaySettings settings;
  settings.max_clients = kClients;
  settings.chunk_bytes = kChunkBytes;
  settings.costs = default_costs();
  settings.rounds_in_flight_max = options.relay_window;
  settings.grace_s = options.grace_s;
  if (options.token) {
    settings.token = kToken;
    settings.make_nonce = counting_nonces(0x5e);
  }
  return settings;
}

struct Logs {
  std::vector<std::string> relay;
  std::vector<std::vector<std::string>> peers;
};

// Lines only an interrupted exchange writes: a peer left, came back, the
// exchange resumed, the server restarted, a stranger was turned away.
bool interruption_line(const std::string& line) {
  return contains(line, "disconnected: exchange paused") || contains(line, " reconnected: ") ||
         contains(line, "exchange resumed at round") || contains(line, "server restarted:") ||
         contains(line, "rejected connection ") || contains(line, "] resumed after round ");
}

std::vector<std::string> without_interruptions(const std::vector<std::string>& lines) {
  std::vector<std::string> kept;
  for (const std::string& line : lines) {
    if (!interruption_line(line)) kept.push_back(line);
  }
  return kept;
}

class Harness : public RelayOutbox {
 public:
  struct Peer {
    Peer(std::shared_ptr<FuzzChunkStore> shared_store, uint64_t file_size, uint64_t file_seed,
         uint32_t window, PeerAuth peer_auth)
        : store(std::move(shared_store)),
          size(file_size),
          seed(file_seed),
          auth(peer_auth),
          run(store->run),
          out(*store),
          core(window, *store, out, std::move(peer_auth)) {}
    std::shared_ptr<FuzzChunkStore> store;  // shared with its restarts
    uint64_t size;
    uint64_t seed;
    PeerAuth auth;
    int run;  // store->run of this process
    FuzzPeerOutbox out;
    PeerCore core;
    std::optional<RosterMessage> roster;  // the first well-formed ROSTER it was given
    bool gone = false;                    // its process vanished
    bool restarted = false;               // a later process took its store over
  };

  struct Conn {
    ConnId id = 0;
    bool fuzzable = false;
    std::unique_ptr<Peer> peer;  // honest mode only
    FrameDecoder decoder{kChunkBytes};
    std::deque<std::optional<Frame>> to_peer;  // nullopt: the relay closed
    bool closed_by_relay = false;
    bool stream_failed = false;
    bool disconnected = false;
    bool deadline_fired = false;
    std::optional<Nonce> server_nonce;  // from the CHALLENGE it was sent
    bool auth_seen = false;             // it sent an AUTH (the relay reads only the first)
    bool sent_valid_auth = false;
    Nonce client_nonce{};
    bool auth_ok_sent = false;
    bool flagged = false;  // it was given a slot, or offered a waiting one
    bool returning = false;              // its FLAG listed waiting slots
    std::optional<PeerIndex> slot;       // from FLAG (fresh) or its ROSTER (returning)
    std::optional<PeerIndex> offered;    // the slot its returning FLAG proposed
    bool announce_seen = false;          // the relay read an ANNOUNCE from it after FLAG
    std::optional<AnnounceMessage> announce;  // that ANNOUNCE, if well-formed
    bool roster_sent = false;
    bool final_sent = false;
    std::deque<ChunkHeader> refetches;  // REFETCHes sent to it, oldest first
    bool touched = false;  // something was injected, tampered with, dropped or duplicated
    size_t index = 0;  // in conns_
    // The transport reads from a connection until it closes it.
    bool readable() const { return !closed_by_relay && !stream_failed && !disconnected; }
  };

  explicit Harness(const Options& options) : options_(options) { start_relay(std::nullopt); }

  void run(FuzzInput& input) {
    for (int i = 0; i < kClients; ++i) {
      connect(!options_.honest || static_cast<size_t>(i) == options_.fuzzed,
              options_.sizes[static_cast<size_t>(i)], options_.seeds[static_cast<size_t>(i)]);
    }
    if (options_.wrong_token) perturbed_ = true;
    if (!options_.honest && options_.announce) {
      for (int i = 0; i < kClients; ++i) {
        Conn& conn = *conns_[static_cast<size_t>(i)];
        if (conn.server_nonce) send_frame(conn, valid_auth(conn, Nonce{}));
        send_frame(conn, encode_announce(initial_file(static_cast<size_t>(i))));
      }
    }
    while (!input.empty()) apply(input);
    backlog_ = false;
    relay_->on_output_drained();
    drain();
    if (verbose()) print();
    check_end();
    check_progress();
    // The server goes away: every connection still open is reported closed.
    for (auto& conn : conns_) disconnect(*conn);
    check_progress();
  }

  // In honest runs that succeeded: the connection that held each slot at the
  // end (each was sent FINAL).
  std::vector<const Conn*> slot_holders() const {
    std::vector<const Conn*> holders(kClients, nullptr);
    for (size_t i = epoch_first_; i < conns_.size(); ++i) {
      const Conn& conn = *conns_[i];
      if (!conn.final_sent) continue;
      FUZZ_CHECK(conn.slot && *conn.slot < kClients);
      FUZZ_CHECK(!holders[*conn.slot]);  // one FINAL per slot
      holders[*conn.slot] = &conn;
    }
    for (const Conn* holder : holders) FUZZ_CHECK(holder && holder->peer);
    return holders;
  }

  // A plain run of the same files with the same IDs: the holders' files,
  // by slot.
  Options reference_options() const {
    Options plain = options_;
    plain.relay_window = 8;
    plain.peer_window = 8;
    std::vector<const Conn*> holders = slot_holders();
    for (size_t p = 0; p < kClients; ++p) {
      plain.sizes[p] = holders[p]->peer->size;
      plain.seeds[p] = holders[p]->peer->seed;
    }
    return plain;
  }

  Logs logs() const {
    Logs logs{relay_log_, {}};
    for (const Conn* holder : slot_holders()) logs.peers.push_back(holder->peer->out.log_lines);
    return logs;
  }

  // Honest, nothing injected, and the exchange succeeded: its logs must be
  // those of a plain run (`reference`). Interrupted runs write a few lines
  // more; peers that vanished after the end are not asked.
  bool wants_log_check() const {
    return options_.honest && !perturbed_ && outcome_ && outcome_->success;
  }
  void check_logs(const Logs& want) const {
    Logs got = logs();
    if (!interrupted_ && !new_connections_) {
      FUZZ_CHECK(got.relay == want.relay);
      FUZZ_CHECK(got.peers == want.peers);
      return;
    }
    FUZZ_CHECK(without_interruptions(got.relay) == want.relay);
    std::vector<const Conn*> holders = slot_holders();
    for (size_t p = 0; p < kClients; ++p) {
      if (holders[p]->peer->gone) continue;
      FUZZ_CHECK(without_interruptions(got.peers[p]) == want.peers[p]);
    }
  }

  void print() const {
    for (const std::string& line : relay_log_) std::fprintf(stderr, "relay log: %s\n", line.c_str());
    std::fprintf(stderr, "relay: %s%s; perturbed %d, interrupted %d, paused %d\n",
                 !outcome_ ? "not finished" : outcome_->success ? "success" : "failed: ",
                 outcome_ ? outcome_->failure.c_str() : "", perturbed_ ? 1 : 0,
                 interrupted_ ? 1 : 0, paused_ ? 1 : 0);
    for (const auto& conn : conns_) {
      if (!conn->peer) continue;
      const Peer& peer = *conn->peer;
      std::fprintf(stderr, "peer on connection %llu (run %d%s%s, slot %d): %s%s\n",
                   static_cast<unsigned long long>(conn->id), peer.run, peer.gone ? ", gone" : "",
                   peer.restarted ? ", restarted" : "", conn->slot ? int{*conn->slot} : -1,
                   !peer.out.outcome ? "not finished" : peer.out.outcome->success ? "success" : "failed: ",
                   peer.out.outcome ? peer.out.outcome->failure.c_str() : "");
      if (verbose()) {
        for (const std::string& line : peer.out.log_lines)
          std::fprintf(stderr, "  %llu log: %s\n", static_cast<unsigned long long>(conn->id),
                       line.c_str());
      }
    }
  }

  bool perturbed() const { return perturbed_; }

  // RelayOutbox
  void send(ConnId id, Frame frame) override {
    Conn& conn = known(id);
    FUZZ_CHECK(!conn.closed_by_relay);       // nothing after a close
    if (finished_) FUZZ_CHECK(!conn.flagged);  // after finished: only refusing strangers
    check_server_frame(frame);
    check_handshake(conn, frame);
    check_placement(conn, frame);
    if (conn.disconnected) {
      // Only while its disconnect is being reported (the transport drops it).
      FUZZ_CHECK(id == disconnecting_);
      return;
    }
    if (conn.peer) conn.to_peer.push_back(std::move(frame));
  }
  void close(ConnId id) override {
    Conn& conn = known(id);
    FUZZ_CHECK(!conn.closed_by_relay);  // closed once
    if (finished_) FUZZ_CHECK(!conn.flagged);
    if (conn.disconnected) FUZZ_CHECK(id == disconnecting_);
    conn.closed_by_relay = true;
    if (conn.peer && !conn.disconnected) conn.to_peer.push_back(std::nullopt);
  }
  void log(std::string line) override {
    FUZZ_CHECK(!finished_);
    relay_log_.push_back(std::move(line));
  }
  void notice(std::string) override {}
  void exchange_started() override {
    FUZZ_CHECK(!started_ && !finished_ && !restored_);
    started_ = true;
  }
  // Once per relay: when a new exchange starts, or (restored) as it is built.
  void save_exchange(const SavedExchange& exchange) override {
    FUZZ_CHECK(!save_called_ && !started_ && !finished_);
    save_called_ = true;
    FUZZ_CHECK(exchange.roster.files.size() == kClients);
    FUZZ_CHECK(exchange.roster.costs == default_costs());
    if (restored_) {
      FUZZ_CHECK(saved_ && exchange.roster.files == saved_->roster.files);
      FUZZ_CHECK(exchange.delivered_rounds == saved_->delivered_rounds);
    } else {
      FUZZ_CHECK(!saved_ && exchange.delivered_rounds == 0);
    }
    saved_ = exchange;
  }
  void rounds_delivered(uint64_t rounds) override {
    FUZZ_CHECK(saved_ && !finished_);
    FUZZ_CHECK(!paused_);  // not while a peer is away
    FUZZ_CHECK(rounds == saved_->delivered_rounds + 1);  // one at a time, in order
    saved_->delivered_rounds = rounds;
  }
  void exchange_paused() override {
    FUZZ_CHECK(running() && !paused_);
    FUZZ_CHECK(options_.grace_s != 0);  // without a grace period nobody waits
    paused_ = true;
  }
  void exchange_resumed() override {
    FUZZ_CHECK(running() && paused_);
    paused_ = false;
  }
  bool output_backlogged() const override { return backlog_; }
  void finished(const RelayOutcome& outcome) override {
    FUZZ_CHECK(!finished_);  // at most once
    finished_ = true;
    outcome_ = outcome;
    // Nothing is left waiting: every connection is closed or gone, except
    // strangers still authenticating (the server's stop closes those).
    for (size_t i = epoch_first_; i < conns_.size(); ++i) {
      const Conn& conn = *conns_[i];
      FUZZ_CHECK(conn.closed_by_relay || conn.disconnected ||
                 (options_.token && !conn.flagged && !conn.auth_ok_sent));
    }
    if (outcome.success) {
      FUZZ_CHECK(started_ || restored_);
      FUZZ_CHECK(!paused_);
      FUZZ_CHECK(outcome.final_clocks_us.size() == kClients);
      FUZZ_CHECK(outcome.files.size() == kClients);
      FUZZ_CHECK(outcome.verified_owners.size() == kClients);
      FUZZ_CHECK(outcome.failure.empty());
      FUZZ_CHECK(roster_ && outcome.files == roster_->files);
      std::vector<bool> finals(kClients, false);
      for (size_t i = epoch_first_; i < conns_.size(); ++i) {
        const Conn& conn = *conns_[i];
        if (!conn.final_sent) continue;
        FUZZ_CHECK(!finals[*conn.slot]);
        finals[*conn.slot] = true;
      }
      for (bool sent : finals) FUZZ_CHECK(sent);  // FINAL to every slot
    } else {
      FUZZ_CHECK(!outcome.failure.empty());
    }
  }

 private:
  bool running() const { return (started_ || restored_) && !finished_; }

  Conn& known(ConnId id) {
    FUZZ_CHECK(id != 0);
    FUZZ_CHECK(id <= conns_.size());  // a connection the relay was told about
    Conn& conn = *conns_[id - 1];
    FUZZ_CHECK(conn.index >= epoch_first_);  // not one of a server that died
    return conn;
  }

  // A relay: the first, or after the server was killed, a new one that
  // resumes what the old one saved.
  void start_relay(std::optional<SavedExchange> resume_from) {
    started_ = false;
    finished_ = false;
    outcome_.reset();
    save_called_ = false;
    restored_ = resume_from.has_value();
    paused_ = restored_;  // a restarted server waits for everyone
    saved_ = resume_from;
    roster_.reset();
    if (resume_from) {
      roster_ = resume_from->roster;
      roster_->resume = ResumePoint{};
    }
    epoch_first_ = conns_.size();
    relay_log_.clear();
    RelaySettings settings = relay_settings(options_);
    settings.resume_from = std::move(resume_from);
    relay_.reset();
    relay_ = std::make_unique<RelayCore>(std::move(settings), *this);
  }

  // The server process dies and is started again. Its saved exchange
  // survives unless it ended in success (the server removes it then).
  void restart_server() {
    interrupted_ = true;
    for (auto& conn : conns_) {
      conn->to_peer.clear();
      conn->disconnected = true;
      if (conn->peer && !conn->peer->gone) {
        conn->peer->core.on_disconnect();  // the peer exits, its progress kept
        conn->peer->gone = true;
      }
    }
    std::optional<SavedExchange> saved = saved_;
    if (outcome_ && outcome_->success) saved.reset();
    start_relay(saved);
  }

  const FileAnnouncement initial_file(size_t i) const {
    Bytes file = file_of(options_.sizes[i], options_.seeds[i]);
    return FileAnnouncement{file.size(), sha256_of(file)};
  }

  // Every frame the relay sends must be one a peer's decoder (limit: the
  // chunk size from FLAG) and message decoders accept.
  void check_server_frame(const Frame& frame) const {
    FUZZ_CHECK(frame.payload.size() <= max_payload_bytes(frame.type, kChunkBytes));
    switch (frame.type) {
      case FrameType::kAnnounce:
      case FrameType::kIdle:
      case FrameType::kChunkData:
      case FrameType::kDone:
      case FrameType::kAuth:
      case FrameType::kRefetchData:
        FUZZ_CHECK(false && "the relay sent a peer-to-server frame type");
        break;
      case FrameType::kFlag: {
        auto flag = decode_flag(frame);
        FUZZ_CHECK(flag && flag->peer_count == kClients && flag->chunk_bytes == kChunkBytes);
        break;
      }
      case FrameType::kRoster: {
        auto roster = decode_roster(frame);
        FUZZ_CHECK(roster && roster->files.size() == kClients);
        for (const FileAnnouncement& file : roster->files) {
          FUZZ_CHECK(chunk_count_fits(FileLayout{file.size_bytes, kChunkBytes}));
        }
        break;
      }
      case FrameType::kRequestChunk: {
        auto request = decode_request(frame);
        FUZZ_CHECK(request && request->peer < kClients);
        break;
      }
      case FrameType::kSendChunk: {
        auto header = decode_chunk_header(frame);
        FUZZ_CHECK(header && header->peer < kClients);
        FUZZ_CHECK(!chunk_data(frame).empty() && chunk_data(frame).size() <= kChunkBytes);
        break;
      }
      case FrameType::kFinal: {
        auto final_message = decode_final(frame);
        FUZZ_CHECK(final_message && final_message->clocks_us.size() == kClients);
        break;
      }
      case FrameType::kError:
        FUZZ_CHECK(frame.payload.size() <= kMaxErrorTextBytes);
        break;
      case FrameType::kChallenge:
        FUZZ_CHECK(decode_challenge(frame).has_value());
        break;
      case FrameType::kAuthOk:
        FUZZ_CHECK(decode_auth_ok(frame).has_value());
        break;
      case FrameType::kRefetch: {
        auto refetch = decode_refetch(frame);
        FUZZ_CHECK(refetch && refetch->peer < kClients && refetch->clock_us == 0);
        break;
      }
      case FrameType::kPeerStatus: {
        auto status = decode_peer_status(frame);
        FUZZ_CHECK(status && status->peer < kClients);
        // Absent: how long the server waits, which it only does with a grace period.
        if (!status->present) FUZZ_CHECK(status->grace_s == options_.grace_s && options_.grace_s != 0);
        break;
      }
      default:
        break;  // frame types added later are not checked here
    }
  }

  // The handshake in order: CHALLENGE once (only with a token), AUTH_OK only
  // for a valid AUTH and carrying the server's proof, FLAG only after AUTH_OK.
  // A FLAG lists waiting slots exactly while the exchange runs (paused), and
  // offers one of them.
  void check_handshake(Conn& conn, const Frame& frame) {
    switch (frame.type) {
      case FrameType::kChallenge:
        FUZZ_CHECK(options_.token && !conn.server_nonce && !conn.flagged);
        conn.server_nonce = decode_challenge(frame);
        break;
      case FrameType::kAuthOk: {
        FUZZ_CHECK(options_.token && conn.server_nonce && conn.sent_valid_auth);
        FUZZ_CHECK(!conn.auth_ok_sent && !conn.flagged);
        conn.auth_ok_sent = true;
        auto proof = decode_auth_ok(frame);
        FUZZ_CHECK(proof && *proof == server_proof(kToken, conn.client_nonce, *conn.server_nonce));
        break;
      }
      case FrameType::kFlag: {
        FUZZ_CHECK(!conn.flagged);
        if (options_.token) FUZZ_CHECK(conn.auth_ok_sent);
        conn.flagged = true;
        auto flag = decode_flag(frame);
        if (flag->returning_slots == 0) {
          FUZZ_CHECK(!running());  // once the exchange runs, only waiting slots are offered
          conn.slot = flag->peer;
        } else {
          FUZZ_CHECK(running() && paused_);
          FUZZ_CHECK(((flag->returning_slots >> flag->peer) & 1u) != 0);  // it offers a waiting slot
          conn.returning = true;
          conn.offered = flag->peer;
        }
        break;
      }
      default:
        break;
    }
  }

  // What may be sent to a connection by where it stands: ROSTER once, after
  // its ANNOUNCE; the frames of the exchange only after ROSTER.
  void check_placement(Conn& conn, const Frame& frame) {
    switch (frame.type) {
      case FrameType::kRoster: {
        FUZZ_CHECK(conn.flagged && !conn.roster_sent);
        FUZZ_CHECK(conn.announce_seen && conn.announce);
        conn.roster_sent = true;
        auto roster = decode_roster(frame);
        const ResumeClaim& claim = conn.announce->resume;
        std::optional<PeerIndex> fresh_slot = conn.slot;
        if (conn.returning) fresh_slot = claim.peer != kNoClaim ? claim.peer : *conn.offered;
        FUZZ_CHECK(fresh_slot && *fresh_slot < kClients);
        PeerIndex slot = *fresh_slot;
        conn.slot = slot;
        FUZZ_CHECK(roster->files[slot] == conn.announce->file);  // the file it announced
        FUZZ_CHECK(roster->costs == default_costs());
        RosterMessage files_only = *roster;
        files_only.resume = ResumePoint{};
        if (!roster_) roster_ = files_only;
        FUZZ_CHECK(roster_->files == files_only.files);  // one exchange
        const ResumePoint& resume = roster->resume;
        if (!conn.returning) {
          FUZZ_CHECK(resume == ResumePoint{});
        } else if (resume.resume_round > 0) {
          // Only progress it claimed, for this slot and this exchange.
          FUZZ_CHECK(claim.peer == slot);
          FUZZ_CHECK(claim.exchange == exchange_digest(*roster, kChunkBytes));
          FUZZ_CHECK(resume.resume_round <= claim.rounds_completed);
        }
        if (conn.returning && saved_) {
          FUZZ_CHECK(resume.delivered_rounds == saved_->delivered_rounds);
        }
        break;
      }
      case FrameType::kRequestChunk: {
        FUZZ_CHECK(conn.roster_sent);
        FUZZ_CHECK(decode_request(frame)->peer != *conn.slot);  // nobody asks itself
        break;
      }
      case FrameType::kSendChunk: {
        FUZZ_CHECK(conn.roster_sent);
        auto header = decode_chunk_header(frame);
        FUZZ_CHECK(header->peer != *conn.slot);
        // Reported delivered before any chunk of the round reaches a peer.
        FUZZ_CHECK(saved_ && header->round < saved_->delivered_rounds);
        break;
      }
      case FrameType::kRefetch: {
        FUZZ_CHECK(conn.roster_sent);
        auto refetch = decode_refetch(frame);
        FUZZ_CHECK(refetch->peer != *conn.slot);
        FUZZ_CHECK(saved_ && refetch->round < saved_->delivered_rounds);
        conn.refetches.push_back(*refetch);
        break;
      }
      case FrameType::kPeerStatus: {
        // A peer only learns of others once it knows the roster.
        FUZZ_CHECK(conn.roster_sent);
        FUZZ_CHECK(decode_peer_status(frame)->peer != *conn.slot);
        break;
      }
      case FrameType::kFinal:
        FUZZ_CHECK(conn.roster_sent && !conn.final_sent);
        conn.final_sent = true;
        break;
      default:
        break;
    }
  }

  Frame valid_auth(const Conn& conn, const Nonce& client_nonce) const {
    Nonce server_nonce = conn.server_nonce.value_or(Nonce{});
    return encode(AuthMessage{client_nonce, client_proof(kToken, server_nonce, client_nonce)});
  }

  Conn* add_conn(bool fuzzable) {
    if (conns_.size() >= kMaxConnections) return nullptr;
    auto conn = std::make_unique<Conn>();
    conn->id = conns_.size() + 1;
    conn->index = conns_.size();
    conn->fuzzable = fuzzable;
    conns_.push_back(std::move(conn));
    return conns_.back().get();
  }

  void connect(bool fuzzable, uint64_t size, uint64_t seed) {
    Conn* conn = add_conn(fuzzable);
    if (!conn) return;
    if (options_.honest) {
      PeerAuth auth;
      if (options_.token) {
        auth.token = options_.wrong_token && fuzzable ? "wrong-token" : kToken;
        auth.make_nonce = counting_nonces(static_cast<uint8_t>(conn->id));
      }
      conn->peer = std::make_unique<Peer>(std::make_shared<FuzzChunkStore>(file_of(size, seed)),
                                          size, seed, options_.peer_window, auth);
    }
    relay_->on_connect(conn->id);
  }

  // A peer whose process is gone (or that failed once its connection was
  // gone) and that nobody restarted yet.
  std::vector<Conn*> restartable() {
    std::vector<Conn*> found;
    for (auto& conn : conns_) {
      const Peer* peer = conn->peer.get();
      if (!peer || peer->restarted) continue;
      bool failed = peer->out.outcome && !peer->out.outcome->success;
      if (peer->gone || (conn->disconnected && failed)) found.push_back(conn.get());
    }
    return found;
  }

  // The same client started again: same file, same store (its received
  // files and saved progress), a new connection.
  void restart_peer(Conn& old) {
    Peer& before = *old.peer;
    Conn* conn = add_conn(true);
    if (!conn) return;
    interrupted_ = true;
    before.restarted = true;
    PeerAuth auth = before.auth;
    if (options_.token) auth.make_nonce = counting_nonces(static_cast<uint8_t>(conn->id));
    before.store->new_run();
    conn->peer = std::make_unique<Peer>(before.store, before.size, before.seed,
                                        options_.peer_window, auth);
    relay_->on_connect(conn->id);
  }

  void disconnect(Conn& conn) {
    if (conn.disconnected) return;
    conn.disconnected = true;
    disconnecting_ = conn.id;
    relay_->on_disconnect(conn.id);
    disconnecting_ = 0;
  }

  // The relay side of the transport: bytes from a connection, through its decoder.
  void receive_bytes(Conn& conn, ByteView bytes) {
    if (!conn.readable()) return;
    std::vector<Frame> frames;
    bool ok = conn.decoder.feed(bytes, frames);
    for (Frame& frame : frames) {
      if (!conn.readable()) return;  // the relay closed it: nothing more is read
      receive_frame(conn, std::move(frame));
    }
    if (!ok && conn.readable()) {
      conn.stream_failed = true;
      relay_->on_stream_error(conn.id, conn.decoder.error());
      FUZZ_CHECK(conn.closed_by_relay);  // a broken stream always ends the connection
    }
  }

  void receive_frame(Conn& conn, Frame frame) {
    if (frame.type == FrameType::kAuth && !conn.auth_seen) {
      conn.auth_seen = true;
      auto auth = decode_auth(frame);
      if (auth && options_.token && conn.server_nonce) {
        conn.client_nonce = auth->client_nonce;
        conn.sent_valid_auth =
            auth->proof == client_proof(kToken, *conn.server_nonce, auth->client_nonce);
      }
    }
    if (frame.type == FrameType::kAnnounce && conn.flagged && !conn.announce_seen) {
      conn.announce_seen = true;
      conn.announce = decode_announce(frame);
    }
    relay_->on_frame(conn.id, std::move(frame));
  }

  void send_frame(Conn& conn, const Frame& frame) { receive_bytes(conn, encode_frame(frame)); }

  bool deliver_to_peer(Conn& conn) {
    if (!conn.peer || conn.peer->gone || conn.to_peer.empty()) return false;
    Peer& peer = *conn.peer;
    std::optional<Frame> frame = std::move(conn.to_peer.front());
    conn.to_peer.pop_front();
    if (!frame) {
      peer.core.on_disconnect();
      return true;
    }
    if (frame->type == FrameType::kRoster && !peer.roster) peer.roster = decode_roster(*frame);
    peer.core.on_frame(std::move(*frame));
    return true;
  }

  bool deliver_to_relay(Conn& conn) {
    if (!conn.peer || conn.peer->gone || conn.disconnected) return false;
    Peer& peer = *conn.peer;
    if (!conn.readable()) {
      // Closed by the relay: nothing more is read, and the transport reports
      // the connection gone once the peer has seen the close.
      peer.out.to_server.clear();
      if (!conn.to_peer.empty()) return false;
      disconnect(conn);
      return true;
    }
    if (!peer.out.to_server.empty()) {
      Frame frame = std::move(peer.out.to_server.front());
      peer.out.to_server.pop_front();
      send_frame(conn, frame);
      return true;
    }
    if (peer.core.finished()) {  // the client exits once its last frame is out
      disconnect(conn);
      return true;
    }
    return false;
  }

  bool step_all() {
    bool progress = false;
    for (size_t i = 0; i < conns_.size(); ++i) {
      progress |= deliver_to_peer(*conns_[i]);
      progress |= deliver_to_relay(*conns_[i]);
    }
    return progress;
  }

  void drain() {
    size_t steps = 0;
    while (step_all()) FUZZ_CHECK(++steps < kMaxDrainSteps);  // no livelock
  }

  Conn& any_conn(uint8_t select) { return *conns_[select % conns_.size()]; }

  // Where injected frames go: in honest mode only the fuzzed connection and
  // those opened later; otherwise any connection.
  Conn& fuzz_conn(uint8_t select) {
    std::vector<Conn*> candidates;
    for (auto& conn : conns_) {
      if (conn->fuzzable) candidates.push_back(conn.get());
    }
    Conn& conn = *candidates[select % candidates.size()];
    return conn;
  }

  void apply(FuzzInput& input) {
    const uint8_t op = input.u8();
    const auto kind = static_cast<Op>(op & 0x0f);
    const auto select = static_cast<uint8_t>(op >> 4);
    switch (kind) {
      case kStepToPeer:
        deliver_to_peer(any_conn(select));
        break;
      case kStepToRelay:
        deliver_to_relay(any_conn(select));
        break;
      case kRun: {
        uint8_t rounds = input.u8();
        for (uint8_t i = 0; i < rounds && step_all(); ++i) {
        }
        break;
      }
      case kInjectFrame: {
        perturbed_ = true;
        uint8_t type = input.u8() & 0x0f;
        uint8_t length = input.u8();
        ByteView payload = input.bytes(length);
        auto header =
            std::array<uint8_t, kFrameHeaderBytes>{kMagic0, kMagic1, kProtocolVersion, type, 0, 0,
                                                   0, static_cast<uint8_t>(payload.size())};
        Bytes bytes(header.begin(), header.end());
        bytes.insert(bytes.end(), payload.begin(), payload.end());
        Conn& conn = fuzz_conn(select);
        conn.touched = true;
        receive_bytes(conn, bytes);
        break;
      }
      case kRawBytes: {
        perturbed_ = true;
        uint8_t length = input.u8();
        Conn& conn = fuzz_conn(select);
        conn.touched = true;
        receive_bytes(conn, input.bytes(length));
        break;
      }
      case kTamperToRelay: {
        uint8_t position = input.u8();
        uint8_t mask = input.u8();
        Conn& conn = fuzz_conn(select);
        if (!conn.peer || conn.peer->gone || conn.peer->out.to_server.empty()) break;
        perturbed_ = true;
        conn.touched = true;
        Bytes bytes = encode_frame(conn.peer->out.to_server.front());
        conn.peer->out.to_server.pop_front();
        bytes[position % bytes.size()] ^= mask == 0 ? 1 : mask;
        receive_bytes(conn, bytes);
        break;
      }
      case kDropToRelay: {
        Conn& conn = fuzz_conn(select);
        if (!conn.peer || conn.peer->out.to_server.empty()) break;
        perturbed_ = true;
        conn.touched = true;
        conn.peer->out.to_server.pop_front();
        break;
      }
      case kDupToRelay: {
        Conn& conn = fuzz_conn(select);
        if (!conn.peer || conn.peer->gone || conn.peer->out.to_server.empty()) break;
        perturbed_ = true;
        conn.touched = true;
        send_frame(conn, conn.peer->out.to_server.front());
        break;
      }
      case kDisconnect: {
        Conn& conn = any_conn(select);
        if (conn.disconnected) break;
        // An honest peer that leaves may come back; without a grace period
        // (or without a peer behind the connection) that ends the exchange.
        interrupted_ = true;
        if (!conn.peer || options_.grace_s == 0) perturbed_ = true;
        if (conn.peer) conn.peer->gone = true;
        disconnect(conn);
        break;
      }
      case kConnectNew: {
        std::vector<Conn*> restarts = options_.honest ? restartable() : std::vector<Conn*>{};
        if ((select & 8) != 0 && !restarts.empty()) {
          restart_peer(*restarts[(select & 7) % restarts.size()]);
          break;
        }
        new_connections_ = true;
        connect(true, kSizes[select], conns_.size() + 1);
        break;
      }
      case kDeadline: {
        Conn& conn = any_conn(select);
        // The transport's timer fires once, and not after the connection is gone.
        if (conn.disconnected || conn.deadline_fired) break;
        perturbed_ = true;
        conn.deadline_fired = true;
        relay_->on_handshake_deadline(conn.id);
        break;
      }
      case kBacklog:
        backlog_ = (select & 1) != 0;
        if (!backlog_) relay_->on_output_drained();
        break;
      case kDrained:
        relay_->on_output_drained();
        break;
      case kTamperToPeer: {
        uint8_t position = input.u8();
        uint8_t mask = input.u8();
        Conn& conn = fuzz_conn(select);
        if (!conn.peer || conn.peer->gone || conn.to_peer.empty() || !conn.to_peer.front() ||
            conn.to_peer.front()->payload.empty()) {
          break;
        }
        perturbed_ = true;
        conn.touched = true;
        Bytes& payload = conn.to_peer.front()->payload;
        payload[position % payload.size()] ^= mask == 0 ? 1 : mask;
        deliver_to_peer(conn);
        break;
      }
      case kShutdown:
        if (select == 0x0f) {
          perturbed_ = true;
          relay_->on_shutdown("fuzz");
        } else if (select == 0x0e) {
          perturbed_ = true;
          relay_->on_stall(30);
        } else if (select == 0x0d) {
          restart_server();
        } else if (select == 0x0c) {
          // The transport's grace timer: only a paused exchange may end by it
          // (a timer that fired as the last peer came back must do nothing).
          bool was_paused = paused_ && running();
          bool was_finished = finished_;
          relay_->on_grace_expired();
          if (finished_ && !was_finished) {
            FUZZ_CHECK(was_paused && !outcome_->success);
            perturbed_ = true;
          }
        } else {
          Conn& conn = any_conn(select);
          deliver_to_peer(conn);
          deliver_to_relay(conn);
        }
        break;
      case kStructured: {
        perturbed_ = true;
        Conn& conn = fuzz_conn(select);
        conn.touched = true;
        send_frame(conn, structured_frame(conn, input));
        break;
      }
    }
  }

  // The slot a connection holds or was offered, as far as the relay said.
  std::optional<PeerIndex> slot_of(const Conn& conn) const {
    if (conn.slot) return conn.slot;
    if (conn.announce && conn.announce->resume.peer < kClients) return conn.announce->resume.peer;
    return conn.offered;
  }

  uint32_t chunk_length_of(PeerIndex owner, uint32_t chunk) const {
    if (!roster_ || owner >= roster_->files.size()) return 0;
    FileLayout layout{roster_->files[owner].size_bytes, kChunkBytes};
    if (chunk >= layout.chunk_count()) return 0;
    return layout.chunk_length(chunk);
  }

  // Frames with the right shape and small field values, so that the schedule's
  // exact requests (clocks are multiples of 100 us here) are within reach.
  Frame structured_frame(Conn& conn, FuzzInput& input) const {
    switch (input.u8() % 10) {
      case 0: {
        uint8_t choice = input.u8();
        uint64_t size = kSizes[choice & 0x0f];
        if (choice & 0x80) {
          uint64_t high = input.u16();
          size = (high << 32) | (uint64_t{input.u16()} << 16) | input.u16();
        }
        return encode_announce(FileAnnouncement{size, {}});
      }
      case 1: {
        uint64_t round = input.u8();
        PeerIndex peer = input.u8() % (kClients + 1);
        uint32_t chunk = input.u8();
        ClockUs clock = ClockUs{input.u16()} * 100;
        return encode(RequestMessage{round, peer, chunk, clock});
      }
      case 2:
        return encode(IdleMessage{input.u8()});
      case 3: {
        uint64_t round = input.u8();
        PeerIndex peer = input.u8() % (kClients + 1);
        uint32_t chunk = input.u8();
        ClockUs clock = ClockUs{input.u16()} * 100;
        size_t length = input.u8() % (kChunkBytes + 2);
        Frame frame = make_chunk_frame(FrameType::kChunkData, ChunkHeader{round, peer, chunk, clock},
                                       length);
        std::fill_n(chunk_data_area(frame), length, uint8_t{0xab});
        return frame;
      }
      case 4: {
        DoneMessage done;
        size_t count = input.u8() % (kClients + 2);
        for (size_t i = 0; i < count; ++i) done.verified_owners.push_back(input.u8() % (kClients + 1));
        return encode(done);
      }
      case 5: {
        ByteView text = input.bytes(input.u8() % 32);
        return encode_error(std::string(text.begin(), text.end()));
      }
      case 6: {  // AUTH: the right proof for this connection, or a flipped one
        uint8_t choice = input.u8();
        Nonce client_nonce{};
        client_nonce.fill(choice);
        Frame frame = valid_auth(conn, client_nonce);
        if (choice & 1) frame.payload.back() ^= 1;
        return frame;
      }
      case 7: {  // ANNOUNCE with a resume claim
        // u8 file: bit 7 a listed size with no digest, else the file of slot
        // (low 2 bits) as the exchange knows it; u8 claimed slot (kClaims);
        // u8: bit 0 the real exchange digest (else zeros), rest rounds completed.
        static constexpr PeerIndex kClaims[8] = {0, 1, 2, 3, kClients, kMaxPeers - 1, kMaxPeers,
                                                 kNoClaim};
        uint8_t file_choice = input.u8();
        uint8_t claim_choice = input.u8();
        uint8_t progress_choice = input.u8();
        AnnounceMessage announce;
        if (file_choice & 0x80) {
          announce.file = FileAnnouncement{kSizes[file_choice & 0x0f], {}};
        } else {
          size_t owner = file_choice % kClients;
          announce.file = roster_ ? roster_->files[owner] : initial_file(owner);
        }
        announce.resume.peer = kClaims[claim_choice & 7];
        if ((progress_choice & 1) && roster_) {
          announce.resume.exchange = exchange_digest(*roster_, kChunkBytes);
        }
        announce.resume.rounds_completed = progress_choice >> 1;
        return encode(announce);
      }
      case 8: {  // REFETCH_DATA: the answer to the oldest REFETCH, or like CHUNK_DATA
        uint8_t mode = input.u8();
        if ((mode & 1) == 0 && !conn.refetches.empty()) {
          ChunkHeader header = conn.refetches.front();
          conn.refetches.pop_front();
          std::optional<PeerIndex> slot = slot_of(conn);
          uint32_t length = slot ? chunk_length_of(*slot, header.chunk_index) : 0;
          Frame frame = make_chunk_frame(FrameType::kRefetchData, header, length);
          std::fill_n(chunk_data_area(frame), length, uint8_t{0xcd});
          return frame;
        }
        uint64_t round = input.u8();
        PeerIndex peer = input.u8() % (kClients + 1);
        uint32_t chunk = input.u8();
        size_t length = input.u8() % (kChunkBytes + 2);
        Frame frame = make_chunk_frame(FrameType::kRefetchData,
                                       ChunkHeader{round, peer, chunk, (mode & 2) ? 100 : 0},
                                       length);
        std::fill_n(chunk_data_area(frame), length, uint8_t{0xcd});
        return frame;
      }
      default:  // the frame the schedule says this slot sends in a round
        return scheduled_frame(conn, input.u8(), input.u8());
    }
  }

  // u8 round, u8 what (mod 3): 0 its request (REQUEST_CHUNK / IDLE), 1 the
  // CHUNK_DATA answering one of its requesters of that round (the n-th, n =
  // what >> 2; any requester if none), 2 its DONE.
  Frame scheduled_frame(const Conn& conn, uint8_t round, uint8_t what) const {
    std::optional<PeerIndex> slot = slot_of(conn);
    if (!roster_ || !slot || *slot >= kClients) return encode(IdleMessage{round});
    if (what % 3 == 2) {
      DoneMessage done;
      for (PeerIndex owner = 0; owner < kClients; ++owner) {
        if (owner != *slot) done.verified_owners.push_back(owner);
      }
      return encode(done);
    }
    std::vector<uint32_t> chunk_counts;
    for (const FileAnnouncement& file : roster_->files) {
      chunk_counts.push_back(
          static_cast<uint32_t>(FileLayout{file.size_bytes, kChunkBytes}.chunk_count()));
    }
    ExchangeModel model(chunk_counts, roster_->costs);
    RoundPlan plan;
    while (!model.finished() && model.next_round() <= round) plan = model.plan_next_round();
    if (plan.requests.empty() || plan.round != round) return encode(IdleMessage{round});
    if (what % 3 == 0) {
      const PlannedRequest& mine = plan.requests[*slot];
      if (mine.idle) return encode(IdleMessage{round});
      return encode(RequestMessage{round, mine.target, mine.chunk_index,
                                   plan.request_clock_us[*slot]});
    }
    std::vector<PeerIndex> requesters = plan.requesters_of(*slot);
    auto requester = requesters.empty() ? static_cast<PeerIndex>((what >> 2) % kClients)
                                        : requesters[(what >> 2) % requesters.size()];
    const PlannedRequest& asked = plan.requests[requester];
    uint32_t length = asked.idle ? 1 : chunk_length_of(*slot, asked.chunk_index);
    Frame frame = make_chunk_frame(
        FrameType::kChunkData,
        ChunkHeader{round, requester, asked.chunk_index, plan.answer_clock_us[requester]}, length);
    std::fill_n(chunk_data_area(frame), length, uint8_t{0xab});
    return frame;
  }

  void check_end() {
    const bool honest = options_.honest;
    // Whatever happened, a committed file is exactly what its owner announced
    // in the ROSTER that process was given.
    for (const auto& conn : conns_) {
      if (!conn->peer) continue;
      const Peer& peer = *conn->peer;
      for (const auto& [names, file] : peer.store->received) {
        if (!file.committed || !file.kept || file.committed_in_run != peer.run) continue;
        PeerIndex owner = names.second;
        FUZZ_CHECK(peer.roster && owner < peer.roster->files.size());
        FUZZ_CHECK(sha256_of(file.data) == peer.roster->files[owner].sha256);
      }
    }
    // The relay succeeded: every honest peer that it sent FINAL, that is
    // still there and that nothing was injected into succeeded too.
    if (honest && outcome_ && outcome_->success) {
      for (size_t i = epoch_first_; i < conns_.size(); ++i) {
        const Conn& conn = *conns_[i];
        if (!conn.peer || !conn.final_sent || conn.touched || conn.peer->gone) continue;
        FUZZ_CHECK(conn.peer->out.outcome && conn.peer->out.outcome->success);
      }
    }
    if (!honest || perturbed_) return;

    if (interrupted_ && !finished_) {
      // Honest peers left (or the server died) and not all came back: only a
      // slot still waiting (or one still free before the start) holds it up.
      FUZZ_CHECK(!running() || relay_->progress().paused);
      return;
    }
    // Honest peers, nothing injected: whatever the delivery order, windows
    // and interruptions, the exchange completes and every file arrives intact.
    FUZZ_CHECK(outcome_ && outcome_->success);
    std::vector<const Conn*> holders = slot_holders();
    std::vector<uint32_t> chunk_counts;
    for (const Conn* holder : holders) {
      uint64_t size = holder->peer->store->own().size();
      chunk_counts.push_back(static_cast<uint32_t>(FileLayout{size, kChunkBytes}.chunk_count()));
    }
    ExchangeModel model(chunk_counts, default_costs());
    FUZZ_CHECK(outcome_->rounds == model.rounds_total());
    while (!model.finished()) model.plan_next_round();
    FUZZ_CHECK(outcome_->final_clocks_us == model.clocks_us());
    for (size_t i = 0; i < kClients; ++i) {
      const Peer& peer = *holders[i]->peer;
      if (peer.gone) continue;  // vanished after the exchange ended
      FUZZ_CHECK(peer.out.outcome && peer.out.outcome->success);
      FUZZ_CHECK(peer.out.outcome->final_clocks_us == model.clocks_us());
      FUZZ_CHECK(peer.store->opened_as == i);
      FUZZ_CHECK(peer.out.outcome->verified_owners.size() == kClients - 1);
      for (size_t owner = 0; owner < kClients; ++owner) {
        if (owner == i) continue;
        auto found = peer.store->received.find(
            {static_cast<PeerIndex>(i), static_cast<PeerIndex>(owner)});
        FUZZ_CHECK(found != peer.store->received.end() && found->second.committed);
        FUZZ_CHECK(same_bytes(found->second.data, holders[owner]->peer->store->own()));
      }
    }
  }

  void check_progress() {
    RelayProgress progress = relay_->progress();
    FUZZ_CHECK(progress.chunks_received.size() == kClients);
    FUZZ_CHECK(progress.chunks_needed.size() == kClients);
    FUZZ_CHECK(progress.bytes_received.size() == kClients);
    FUZZ_CHECK(progress.rounds_delivered <= progress.rounds_total + 1);
    if (!finished_) FUZZ_CHECK(progress.paused == paused_);
    if (saved_ && !finished_) FUZZ_CHECK(progress.rounds_delivered == saved_->delivered_rounds);
    for (size_t i = 0; i < kClients; ++i) {
      FUZZ_CHECK(progress.chunks_received[i] <= progress.chunks_needed[i]);
      FUZZ_CHECK(progress.bytes_received[i] <= progress.chunks_received[i] * kChunkBytes);
    }
  }

  Options options_;
  std::unique_ptr<RelayCore> relay_;
  std::vector<std::unique_ptr<Conn>> conns_;  // conns_[id - 1]
  ConnId disconnecting_ = 0;  // inside on_disconnect(disconnecting_)
  bool backlog_ = false;
  bool perturbed_ = false;         // anything but honest frames in some order
  bool interrupted_ = false;       // honest peers left or came back, or the server restarted
  bool new_connections_ = false;   // a fifth client came (its refusal is logged)
  // Of the current relay (a new one after the server restarted):
  size_t epoch_first_ = 0;  // its first connection's index in conns_
  std::vector<std::string> relay_log_;
  bool started_ = false;
  bool restored_ = false;  // built with resume_from
  bool save_called_ = false;
  bool finished_ = false;
  bool paused_ = false;    // between exchange_paused() and exchange_resumed()
  std::optional<RelayOutcome> outcome_;
  std::optional<SavedExchange> saved_;  // what the server would keep on disk
  std::optional<RosterMessage> roster_;  // the exchange's files (resume point zero)
};

}  // namespace
}  // namespace chunkex::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chunkex::fuzz;
  if (size < 4) return 0;
  FuzzInput input(data, size);
  const uint8_t config = input.u8();
  Options options;
  options.honest = (config & 1) != 0;
  options.announce = (config & 2) != 0;
  options.fuzzed = (config >> 2) & 3;
  options.relay_window = kRelayWindows[(config >> 4) & 3];
  options.peer_window = kPeerWindows[(config >> 6) & 3];
  const uint8_t sizes_low = input.u8();
  const uint8_t sizes_high = input.u8();
  options.sizes = {kSizes[sizes_low & 0x0f], kSizes[sizes_low >> 4], kSizes[sizes_high & 0x0f],
                   kSizes[sizes_high >> 4]};
  const uint8_t extra = input.u8();
  options.token = (extra & 1) != 0;
  options.wrong_token = options.token && options.honest && (extra & 2) != 0;
  options.grace_s = (extra & 4) != 0 ? 0 : kGraceS;

  Harness harness(options);
  harness.run(input);

  // Logs do not depend on windows, backlog, delivery order or interruptions.
  if (harness.wants_log_check()) {
    Harness reference(harness.reference_options());
    FuzzInput nothing(nullptr, 0);
    reference.run(nothing);
    harness.check_logs(reference.logs());
  }
  return 0;
}
