// libFuzzer target: the relay server's per-connection handling, through the
// relay's host (RelayHost, common/host/relay_host.h) with four connections.
// The harness is the host's RelayLink, as the Asio link is in the server: it
// numbers connections, decodes every byte a connection sends through that
// connection's FrameDecoder (decoded frames -> on_frame, a malformed stream ->
// on_stream_error), reports on_connect / on_closed / on_output_written, and
// tells the host the time: a clock in ms that only the input moves forward
// (never a deadline method: a deadline fires when the host's
// next_deadline_ms() is reached). It is also the host's RelayRecords (the
// log, the saved exchange that a restarted server resumes, the summary) and
// gives it RecordedNotices. In honest mode every peer is a PeerHost (the
// client's host: reconnect policy included) over a PeerLink of the harness
// and a FuzzChunkStore.
//
// Input layout (tests/fuzz/make_corpus.py writes seeds in it):
//   byte 0   bit 0     honest mode: every connection is a real PeerHost
//                      exchanging a small file; frames are injected or
//                      tampered with only on the fuzzed connection (and on
//                      connections opened later, reconnections included)
//            bit 1     (not honest) every connection announces a valid file first
//            bits 2-3  the fuzzed connection (0..3) in honest mode
//            bits 4-5  the relay's window, Config::window (kRelayWindows)
//            bits 6-7  the peers' window (kPeerWindows)
//   bytes 1-2          file sizes of connections 1..4, one nibble each (kSizes)
//   byte 3   bit 0     the server requires a token (CHALLENGE / AUTH / AUTH_OK first)
//            bit 1     (honest) the fuzzed connection's peer has the wrong token
//            bit 2     no grace period (reconnect_grace_s 0: a peer that leaves
//                      mid-exchange ends it, and peers do not reconnect);
//                      otherwise kGraceS, and a leaving peer pauses it
//   then operations, one byte each: low nibble the kind (Op), high nibble
//   picks the connection; some kinds read argument bytes after it.
//
// Time: the clock starts at 0 and moves only by kAdvance (a fixed step
// from kAdvanceMs) and by kShutdown 14 (the stall timeout) and 12 (to the
// relay's next deadline: the end of the grace period while paused). Every host deadline on the way
// fires at its own moment, in time order. A protocol deadline firing (the relay's handshake, stall,
// grace or flush deadline; a peer's first-frame, idle or connect deadline) counts as a
// perturbation; a peer's reconnect attempt does not. When the operations are done, every queued
// frame is delivered until nothing moves, and the clock moves on to reconnect attempts only (never
// past a protocol deadline), until nothing is left to do.
//
// Leaving and coming back, in honest mode: kDisconnect kills a peer's process
// (its host is dropped; high nibble bit 3 instead cuts the connection, and the
// PeerHost connects again by itself once the clock passes its reconnect
// attempt). kConnectNew with bit 3 restarts a peer whose process vanished,
// whose host gave up, or whose connection is dead: a new PeerHost over the
// SAME FuzzChunkStore, which keeps the received files and the saved progress,
// so it claims its old slot back. kShutdown 13 kills the server: every
// connection drops, and a new RelayHost starts from the exchange the old one
// saved (resume_from); the peers see their connections end and reconnect.
// kBacklog sets the output the link reports queued (queued_bytes()) above or
// below the relay's limit, and reports it; the link also reports output
// written each time a connection's queue of frames to its peer runs dry.
//
// Checked throughout: no send or close to ConnId 0 or to a connection the
// (current) relay never heard of or was told is closed, nothing sent after a
// close, the exchange finishes once (close_log, then the summary) and nothing
// is sent after that to a connection that held a slot, every such connection
// closed when the relay finishes, every frame the relay sends is one a peer's
// decoder accepts; with a token, no AUTH_OK without a valid AUTH and no slot
// (FLAG) without AUTH_OK. Reconnecting: a FLAG lists waiting slots exactly
// while the exchange is paused, and offers one of them; ROSTER once per
// connection, only after its ANNOUNCE, naming the file it announced, the same
// files for everyone, and a resume point only from a matching claim;
// REQUEST_CHUNK / SEND_CHUNK / REFETCH / PEER_STATUS / FINAL only to a
// connection that was sent ROSTER, never about its own slot; the exchange is
// persisted once as it starts (or as a restarted server is built) and then
// once per delivered round, in order, never while paused, and SEND_CHUNK and
// REFETCH come only for rounds persisted as delivered; a pause only with a
// grace period, a restarted server's wait included. Time: after on_time(now)
// a host's next deadline is later than now (a live link would spin otherwise); no deadline fires
// early: a connection dropped for its handshake had 10 s, a grace expiry came reconnect_grace_s
// after the pause began, a stall 60 s after the last progress the harness saw; a peer gives up on a
// silent server only after its first-frame or idle timeout, and never aborts a connect the link
// answered. The peers' stores: writes in order and within the file, the digest asked once after the
// last byte, commit only after it, the saved progress never counting a chunk that is not in the
// file (FuzzChunkStore); a peer's link: nothing sent outside an open session, its own chunks within
// its file, a session closed once, and a peer that sees its connection end, or a broken stream on
// it, ends that session.
// In honest mode with nothing injected: the exchange succeeds, every file
// arrives byte for byte, clocks match the model, and the logs equal those of a
// plain round-robin run with the default windows. With honest peers that only
// left and came back (or a server that restarted): once every slot is held
// again the exchange must finish and succeed exactly as a plain run (logs
// equal but for the pause / reconnect / resume lines).
//
// What no longer applies since the hosts (issue 8): the harness cannot fire
// one connection's handshake deadline alone (kAdvance moves the one clock, so
// every deadline due fires), nor the grace timer while nothing is paused (the
// core only has that deadline while paused; "the grace timer ends only a
// paused exchange" is now "a grace expiry comes only while paused, and not
// early"); "paused" is read from RelayProgress after every host call, since
// the outbox no longer reports exchange_paused() / exchange_resumed(); and the
// nonces are OpenSSL's (RelayHost and PeerHost take no NonceSource), so the
// bytes of CHALLENGE / AUTH / AUTH_OK differ from run to run; no check depends
// on them.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/bytes.h"
#include "common/chunking.h"
#include "common/config.h"
#include "common/exchange_model.h"
#include "common/frame.h"
#include "common/host/notices.h"
#include "common/host/peer_host.h"
#include "common/host/relay_host.h"
#include "common/messages.h"
#include "common/relay_core.h"
#include "common/sha256.h"
#include "common/time.h"
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
constexpr uint32_t kHandshakeS = 10;    // Config::handshake_timeout_s
constexpr uint32_t kIdleS = 60;         // Config::idle_timeout_s: the relay's stall limit
constexpr size_t kMaxConnections = 80;  // past the relay's limit of 64 authenticating
const std::string kToken = "fuzz-token";
constexpr size_t kMaxDrainSteps = 1'000'000;  // far above any exchange of these files
constexpr size_t kMaxDeadlineSteps = 100'000;
// kAdvance: by high nibble, how far the clock moves (ms). 0..3 pass the
// handshake timeout, as the old "handshake deadline" op did.
constexpr TimeMs kAdvanceMs[16] = {10'000, 10'000, 10'000, 10'000, 1,     10,     100,    499,
                                   500,    1'000,  4'999,  5'000,  9'999, 30'000, 60'000, 120'000};

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

bool starts_with(const std::string& text, const char* prefix) {
  return text.rfind(prefix, 0) == 0;
}

enum Op : uint8_t {
  kStepToPeer = 0,     // deliver the next relay -> peer frame of a connection
  kStepToRelay = 1,    // deliver the next peer -> relay frame of a connection
  kRun = 2,            // u8 n: n rounds of delivering one frame each way on every connection
  kInjectFrame = 3,    // u8 type (low nibble), u8 length, payload: a well-framed frame
  kRawBytes = 4,       // u8 length, bytes
  kTamperToRelay = 5,  // u8 position, u8 xor: flip bits of the next peer -> relay frame
  kDropToRelay = 6,    // lose the next peer -> relay frame
  kDupToRelay = 7,     // send the next peer -> relay frame twice
  kDisconnect = 8,     // the peer's process vanishes; high nibble bit 3: the connection
                       // is cut instead (both ends see it end; the peer reconnects)
  kConnectNew = 9,     // a new connection (a new honest peer in honest mode; high
                       // nibble bit 3: a restart of a peer that vanished, if any)
  kAdvance = 10,       // the clock moves by kAdvanceMs[high nibble]
  kBacklog = 11,       // the link's queued bytes: above the relay's limit if high
                       // nibble bit 0, else none; reported (on_output_written)
  kDrained = 12,       // on_output_written()
  kTamperToPeer = 13,  // u8 position, u8 xor: flip bits of the next relay -> peer frame's
                       // bytes (its header included) as the peer's link reads them
  kShutdown = 14,      // high nibble 15: on_shutdown (Ctrl-C); 14: the clock moves by the
                       // stall timeout; 13: the server is killed and restarted; 12: the
                       // clock moves to the relay's next deadline; 11: u8 picks a client
                       // process, Ctrl-C on it; otherwise a step both ways
  kStructured = 15,    // u8 kind, fields: a plausible ANNOUNCE/REQUEST/IDLE/CHUNK_DATA/DONE/
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

// What both hosts read: the relay's and a peer's configuration differ only in
// the window and, for a peer, the token it has.
Config base_config(const Options& options) {
  Config config;
  config.host = "fuzz.invalid";
  config.max_clients = kClients;
  config.chunk_bytes = kChunkBytes;
  config.costs = default_costs();
  config.handshake_timeout_s = kHandshakeS;
  config.idle_timeout_s = kIdleS;
  config.reconnect_grace_s = options.grace_s;
  return config;
}

Config relay_config(const Options& options) {
  Config config = base_config(options);
  config.window = options.relay_window;
  config.token = options.token ? kToken : "";
  return config;
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

// A log up to its peer's DONE line: what a peer that missed FINAL and the
// fault-free run share (the rest is the FINAL, or the error of missing it).
std::vector<std::string> through_done(const std::vector<std::string>& lines) {
  auto done = std::find_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.find("] DONE: ") != std::string::npos;
  });
  return std::vector<std::string>(lines.begin(), done == lines.end() ? done : done + 1);
}

// A peer's ClientX.txt: written anew by every session (PeerHost opens it
// once the server names the peer).
class FuzzPeerRecords : public PeerRecords {
 public:
  void open_log(PeerIndex peer) override {
    FUZZ_CHECK(!open);  // closed by the session before
    open = true;
    self = peer;
    lines.clear();
  }
  void log_line(const std::string& line) override {
    FUZZ_CHECK(open);
    lines.push_back(line);
  }
  void close_log() override {
    FUZZ_CHECK(open);
    open = false;
  }

  bool open = false;
  std::optional<PeerIndex> self;
  std::vector<std::string> lines;
};

class Harness : private RelayLink, private RelayRecords {
 public:
  struct Process;

  struct Conn {
    ConnId id = 0;
    bool fuzzable = false;
    Process* process = nullptr;                // honest mode: the peer behind it
    FrameDecoder decoder{kChunkBytes};         // the relay's side
    FrameDecoder peer_decoder;                 // the peer's side (limit: from FLAG, via the link)
    std::deque<std::optional<Frame>> to_peer;  // nullopt: the connection ends there
    std::deque<Frame> to_server;
    bool relay_knows = false;   // on_connect reported, on_closed not yet (nor the server died)
    bool relay_closed = false;  // the relay closed it (close_after_flush, close_all_now)
    bool stream_failed = false;
    bool peer_closed = false;  // the peer closed its side (or its process died)
    TimeMs connected_ms = 0;
    TimeMs last_frame_ms = 0;           // the last frame delivered to the peer
    std::optional<Nonce> server_nonce;  // from the CHALLENGE it was sent
    bool auth_seen = false;             // it sent an AUTH (the relay reads only the first)
    bool sent_valid_auth = false;
    Nonce client_nonce{};
    bool auth_ok_sent = false;
    bool flagged = false;                     // it was given a slot, or offered a waiting one
    bool returning = false;                   // its FLAG listed waiting slots
    std::optional<PeerIndex> slot;            // from FLAG (fresh) or its ROSTER (returning)
    std::optional<PeerIndex> offered;         // the slot its returning FLAG proposed
    bool announce_seen = false;               // the relay read an ANNOUNCE from it after FLAG
    std::optional<AnnounceMessage> announce;  // that ANNOUNCE, if well-formed
    bool roster_sent = false;
    bool final_sent = false;
    std::deque<ChunkHeader> refetches;  // REFETCHes sent to it, oldest first
    // Something was injected, tampered with, dropped, duplicated or cut, or
    // frames to it were dropped, or its peer gave up on it at a deadline.
    bool touched = false;
    size_t index = 0;  // in conns_
    // The link reads from a connection until it is closed or gone.
    bool readable() const { return relay_knows && !relay_closed && !stream_failed; }
  };

  // A peer's side of the link: one session at a time, answered by the harness.
  class PeerSide : public PeerLink {
   public:
    PeerSide(Harness& harness, Process& process) : harness_(harness), process_(process) {}
    void connect() override { harness_.peer_connect(process_); }
    // The harness answers every connect as soon as the host's call returns,
    // so a host never has one in flight to give up on (no connect times out).
    void abort_connect() override {
      FUZZ_CHECK(process_.connect_pending);
      process_.connect_pending = false;
    }
    void send(Frame frame) override { harness_.peer_send(process_, std::move(frame)); }
    void send_own_chunk(Frame prefix, uint64_t offset, uint32_t length) override {
      FUZZ_CHECK(prefix.type == FrameType::kChunkData || prefix.type == FrameType::kRefetchData);
      FUZZ_CHECK(prefix.payload.size() == kChunkHeaderBytes && !prefix.data_ref);
      const Bytes& own = process_.store->own();
      FUZZ_CHECK(offset <= own.size() && length <= own.size() - offset);
      auto from = own.begin() + static_cast<ptrdiff_t>(offset);
      prefix.payload.insert(prefix.payload.end(), from, from + length);
      harness_.peer_send(process_, std::move(prefix));
    }
    void close_after_flush() override { harness_.peer_close(process_); }
    void set_chunk_bytes_max(uint32_t chunk_bytes_max) override {
      if (process_.conn) process_.conn->peer_decoder.set_chunk_bytes_max(chunk_bytes_max);
    }

   private:
    Harness& harness_;
    Process& process_;
  };

  // One client process: its host, over a store that outlives it (restarts).
  struct Process {
    Process(Harness& harness, std::shared_ptr<FuzzChunkStore> shared_store, uint64_t file_size,
            uint64_t file_seed, bool first_fuzzable, Config peer_config)
        : store(std::move(shared_store)),
          size(file_size),
          seed(file_seed),
          fuzzable(first_fuzzable),
          config(std::move(peer_config)),
          link(harness, *this),
          host(config, *store, link, records, notices) {}
    std::shared_ptr<FuzzChunkStore> store;  // shared with its restarts
    uint64_t size;
    uint64_t seed;
    bool fuzzable;  // its next connection is (every one after its first is)
    Config config;
    PeerSide link;
    FuzzPeerRecords records;
    RecordedNotices notices;
    size_t notices_seen = 0;
    PeerHost host;
    Conn* conn = nullptr;          // its open session, if any
    Conn* last_session = nullptr;  // its latest session, open or not
    bool connect_pending = false;  // connect() asked, not answered yet
    bool gone = false;             // its process vanished
    bool restarted = false;        // a later process took its store over
    bool done_delivered = false;   // the relay read a DONE of this process
  };

  explicit Harness(const Options& options) : options_(options), config_(relay_config(options)) {
    start_relay(std::nullopt);
  }

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
    while (!input.empty()) {
      apply(input);
      resolve_connects();
    }
    backlog_bytes_ = 0;
    report_written();
    settle();
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
    for (const Conn* holder : holders) FUZZ_CHECK(holder && holder->process);
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
      plain.sizes[p] = holders[p]->process->size;
      plain.seeds[p] = holders[p]->process->seed;
    }
    return plain;
  }

  Logs logs() const {
    Logs logs{relay_log_, {}};
    for (const Conn* holder : slot_holders()) logs.peers.push_back(holder->process->records.lines);
    return logs;
  }

  // Honest, nothing injected, and the exchange succeeded: its logs must be
  // those of a plain run (`reference`). Interrupted runs write a few lines
  // more; peers that vanished after the end are not asked.
  bool wants_log_check() const {
    return options_.honest && !perturbed_ && outcome() && outcome()->success;
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
      const Process& peer = *holders[p]->process;
      if (peer.gone) continue;
      if (missed_final(peer)) {
        FUZZ_CHECK(through_done(without_interruptions(got.peers[p])) ==
                   through_done(want.peers[p]));
        continue;
      }
      FUZZ_CHECK(without_interruptions(got.peers[p]) == want.peers[p]);
    }
  }

  // Cut after its DONE reached the relay, a peer misses FINAL when the relay
  // ends first (docs/DESIGN.md §6.9): it fails, with every file verified.
  static bool missed_final(const Process& peer) {
    const std::optional<PeerOutcome>& ended = peer.host.outcome();
    return ended && !ended->success && peer.done_delivered;
  }

  void print() const {
    for (const std::string& line : relay_log_)
      std::fprintf(stderr, "relay log: %s\n", line.c_str());
    for (const std::string& line : relay_notices_.lines)
      std::fprintf(stderr, "relay notice: %s\n", line.c_str());
    std::fprintf(stderr, "relay: %s%s; perturbed %d, interrupted %d, paused %d, now %lld ms\n",
                 !outcome()           ? "not finished"
                 : outcome()->success ? "success"
                                      : "failed: ",
                 outcome() ? outcome()->failure.c_str() : "", perturbed_ ? 1 : 0,
                 interrupted_ ? 1 : 0, paused_ ? 1 : 0, static_cast<long long>(now_ms_));
    for (const auto& process : processes_) {
      const Process& peer = *process;
      const std::optional<PeerOutcome>& ended = peer.host.outcome();
      std::fprintf(
          stderr, "peer process (store run %d%s%s, session %llu, slot %d): %s%s\n", peer.store->run,
          peer.gone ? ", gone" : "", peer.restarted ? ", restarted" : "",
          peer.last_session ? static_cast<unsigned long long>(peer.last_session->id) : 0ULL,
          peer.records.self ? int{*peer.records.self} : -1,
          !ended           ? "not ended"
          : ended->success ? "success"
                           : "failed: ",
          ended ? ended->failure.c_str() : "");
      for (const std::string& line : peer.notices.lines)
        std::fprintf(stderr, "  notice: %s\n", line.c_str());
      for (const std::string& line : peer.records.lines)
        std::fprintf(stderr, "  log: %s\n", line.c_str());
    }
  }

  bool perturbed() const { return perturbed_; }

 private:
  const std::optional<RelayOutcome>& outcome() const { return relay_->outcome(); }

  // ---- RelayLink ----

  void send(ConnId id, Frame frame) override {
    Conn& conn = known(id);
    FUZZ_CHECK(!conn.relay_closed);            // nothing after a close
    if (finished_) FUZZ_CHECK(!conn.flagged);  // after finished: only refusing strangers
    FUZZ_CHECK(!frame.data_ref);               // a socket carries bytes
    check_server_frame(frame);
    check_deadline_error(conn, frame);
    check_handshake(conn, frame);
    check_placement(conn, frame);
    bytes_sent_ += kFrameHeaderBytes + frame.payload.size();
    // Only while its end is being reported (the link drops it).
    if (!conn.relay_knows) return;
    if (conn.process) conn.to_peer.push_back(std::move(frame));
  }
  void close_after_flush(ConnId id) override {
    Conn& conn = known(id);
    FUZZ_CHECK(!conn.relay_closed);  // closed once
    if (finished_) FUZZ_CHECK(!conn.flagged);
    conn.relay_closed = true;
    if (conn.process && conn.relay_knows) conn.to_peer.push_back(std::nullopt);
  }
  // The flush deadline after the end: whatever was not written is lost.
  void close_all_now() override {
    FUZZ_CHECK(finished_);
    for (size_t i = epoch_first_; i < conns_.size(); ++i) {
      Conn& conn = *conns_[i];
      if (!conn.relay_knows) continue;
      if (conn.relay_closed && conn.to_peer.empty()) continue;
      if (!conn.to_peer.empty()) conn.touched = true;
      conn.relay_closed = true;
      conn.to_peer.clear();
      if (conn.process) conn.to_peer.push_back(std::nullopt);
      closed_now_.push_back(&conn);  // its end is reported once this call returns
    }
  }
  void stop_accepting() override {
    FUZZ_CHECK(finished_);
    accepting_ = false;
  }
  size_t open_connections() const override {
    size_t open = 0;
    for (size_t i = epoch_first_; i < conns_.size(); ++i) open += conns_[i]->relay_knows ? 1 : 0;
    return open;
  }
  uint64_t queued_bytes() const override {
    uint64_t queued = backlog_bytes_;
    for (size_t i = epoch_first_; i < conns_.size(); ++i) {
      for (const std::optional<Frame>& frame : conns_[i]->to_peer) {
        if (frame) queued += kFrameHeaderBytes + frame->payload.size();
      }
    }
    return queued;
  }
  uint64_t bytes_received() const override { return bytes_received_; }
  uint64_t bytes_sent() const override { return bytes_sent_; }

  // ---- RelayRecords ----

  void log_line(const std::string& line) override {
    FUZZ_CHECK(!finished_);
    relay_log_.push_back(line);
  }
  // The host closes the log first when the exchange ends: the checks of the
  // end run here, before the summary.
  void close_log() override {
    FUZZ_CHECK(!finished_);  // at most once
    FUZZ_CHECK(!constructing_ && outcome());
    finished_ = true;
    check_finished(*outcome());
  }
  // Once per relay: when a new exchange starts, or (restored) as it is built;
  // then once per delivered round.
  void save_exchange(const SavedExchange& exchange) override {
    FUZZ_CHECK(!finished_);
    FUZZ_CHECK(exchange.roster.files.size() == kClients);
    FUZZ_CHECK(exchange.roster.costs == default_costs());
    if (!save_called_) {
      save_called_ = true;
      if (restored_) {
        FUZZ_CHECK(constructing_);
        FUZZ_CHECK(saved_ && exchange.roster.files == saved_->roster.files);
        FUZZ_CHECK(exchange.delivered_rounds == saved_->delivered_rounds);
      } else {
        FUZZ_CHECK(!constructing_ && !started_);  // the exchange starts once
        FUZZ_CHECK(!saved_ && exchange.delivered_rounds == 0);
        started_ = true;
        last_progress_ms_ = now_ms_;
      }
    } else {
      FUZZ_CHECK(!constructing_ && saved_);
      FUZZ_CHECK(exchange.roster.files == saved_->roster.files);
      FUZZ_CHECK(exchange.delivered_rounds == saved_->delivered_rounds + 1);  // in order
      FUZZ_CHECK(!relay_->progress().paused);  // not while a peer is away
      last_progress_ms_ = now_ms_;
    }
    saved_ = exchange;
    disk_saved_ = exchange;
  }
  void clear_saved_exchange() override {
    FUZZ_CHECK(finished_ && outcome() && outcome()->success);
    disk_saved_.reset();
  }
  std::string saved_exchange_location() const override { return "(fuzz memory)"; }
  void write_summary(const nlohmann::json& summary) override {
    FUZZ_CHECK(finished_ && !summary_written_);
    summary_written_ = true;
    FUZZ_CHECK(summary.at("success").get<bool>() == outcome()->success);
    FUZZ_CHECK(summary.at("rounds").get<uint64_t>() == outcome()->rounds);
  }

  void check_finished(const RelayOutcome& result) {
    // Nothing is left waiting: every connection is closed or gone, except
    // strangers still authenticating (the server's stop closes those).
    for (size_t i = epoch_first_; i < conns_.size(); ++i) {
      const Conn& conn = *conns_[i];
      FUZZ_CHECK(conn.relay_closed || !conn.relay_knows ||
                 (options_.token && !conn.flagged && !conn.auth_ok_sent));
    }
    if (result.success) {
      FUZZ_CHECK(started_ || restored_);
      FUZZ_CHECK(!paused_);
      FUZZ_CHECK(result.final_clocks_us.size() == kClients);
      FUZZ_CHECK(result.files.size() == kClients);
      FUZZ_CHECK(result.verified_owners.size() == kClients);
      FUZZ_CHECK(result.failure.empty());
      FUZZ_CHECK(roster_ && result.files == roster_->files);
      std::vector<bool> finals(kClients, false);
      for (size_t i = epoch_first_; i < conns_.size(); ++i) {
        const Conn& conn = *conns_[i];
        if (!conn.final_sent) continue;
        FUZZ_CHECK(!finals[*conn.slot]);
        finals[*conn.slot] = true;
      }
      for (bool sent : finals) FUZZ_CHECK(sent);  // FINAL to every slot
      return;
    }
    const std::string& why = result.failure;
    FUZZ_CHECK(!why.empty());
    if (starts_with(why, "client ") && !contains(why, " reported an error: ")) {
      // No deadline fires early. `paused_` is as the harness saw it before
      // this call, which for a deadline is the one that moved the clock.
      if (contains(why, " did not come back within ")) {
        FUZZ_CHECK(paused_ && options_.grace_s != 0);
        FUZZ_CHECK(now_ms_ - pause_started_ms_ >= seconds_to_ms(options_.grace_s));
      }
      if (contains(why, " stalled the exchange: ")) {
        FUZZ_CHECK((started_ || restored_) && !paused_);
        FUZZ_CHECK(now_ms_ - last_progress_ms_ >= seconds_to_ms(kIdleS));
      }
    }
  }

  bool running() const { return (started_ || restored_) && !finished_; }
  bool live_paused() const { return relay_->progress().paused; }

  Conn& known(ConnId id) {
    FUZZ_CHECK(id != 0);
    FUZZ_CHECK(id <= conns_.size());  // a connection the relay was told about
    Conn& conn = *conns_[id - 1];
    FUZZ_CHECK(conn.index >= epoch_first_);  // not one of a server that died
    // Not one reported closed, unless that report is under way.
    if (!conn.relay_knows) FUZZ_CHECK(id == disconnecting_);
    return conn;
  }

  // An ERROR that drops a connection for its handshake comes no earlier than
  // the handshake timeout after it connected.
  void check_deadline_error(const Conn& conn, const Frame& frame) const {
    if (frame.type != FrameType::kError) return;
    std::string text = decode_error(frame);
    if (starts_with(text, "no ANNOUNCE before the handshake deadline") ||
        starts_with(text, "no AUTH before the handshake deadline")) {
      FUZZ_CHECK(now_ms_ - conn.connected_ms >= seconds_to_ms(kHandshakeS));
    }
  }

  // After every call into the relay host: what the harness knows of pauses
  // and progress (RelayProgress), for the checks of deadlines.
  void relay_called() {
    if (finished_) {
      paused_ = false;
      return;
    }
    if (!started_ && !restored_) return;  // joining: nothing pauses, nothing is refetched
    RelayProgress progress = relay_->progress();
    // Without a grace period nobody waits for a peer that left (and a saved
    // exchange is not resumed).
    FUZZ_CHECK(!progress.paused || options_.grace_s != 0);
    if (progress.paused && !paused_) pause_started_ms_ = now_ms_;
    if (!progress.paused && paused_) last_progress_ms_ = now_ms_;  // resumed
    if (progress.chunks_refetched != refetched_seen_) last_progress_ms_ = now_ms_;
    refetched_seen_ = progress.chunks_refetched;
    paused_ = progress.paused;
  }

  // After every call into a peer host: a peer that gave up on a silent
  // server did so no earlier than its timeout.
  void peer_called(Process& process) {
    const std::vector<std::string>& lines = process.notices.lines;
    for (; process.notices_seen < lines.size(); ++process.notices_seen) {
      const std::string& line = lines[process.notices_seen];
      bool failure = starts_with(line, "error: ") || starts_with(line, "warning: ");
      if (!failure) continue;
      std::string why = line.substr(line.find(": ") + 2);
      const Conn* session = process.last_session;
      if (starts_with(why, "the server sent nothing within ")) {
        FUZZ_CHECK(session && now_ms_ - session->connected_ms >= seconds_to_ms(kHandshakeS));
      }
      if (starts_with(why, "the server sent nothing for ")) {
        FUZZ_CHECK(session && now_ms_ - session->last_frame_ms >= 2 * seconds_to_ms(kIdleS));
      }
    }
  }

  // A relay: the first, or after the server was killed, a new one that
  // resumes what the old one saved.
  void start_relay(std::optional<SavedExchange> resume_from) {
    // Without a grace period nobody would come back: a saved exchange is not
    // resumed, a new one starts (docs/DESIGN.md §6.6).
    if (options_.grace_s == 0) resume_from.reset();
    started_ = false;
    finished_ = false;
    save_called_ = false;
    summary_written_ = false;
    restored_ = resume_from.has_value();
    paused_ = false;
    refetched_seen_ = 0;
    saved_ = resume_from;
    roster_.reset();
    if (resume_from) {
      roster_ = resume_from->roster;
      roster_->resume = ResumePoint{};
    }
    epoch_first_ = conns_.size();
    closed_now_.clear();
    relay_log_.clear();
    relay_notices_.lines.clear();
    accepting_ = true;
    relay_.reset();
    constructing_ = true;
    RelayLink& link = *this;
    RelayRecords& records = *this;
    relay_ = std::make_unique<RelayHost>(config_, std::move(resume_from), link, records,
                                         relay_notices_, now_ms_);
    constructing_ = false;
    relay_called();  // a restored exchange is paused from the start
    relay_->on_listening("fuzz.invalid:9999", true, now_ms_);
    relay_called();
  }

  // The server process dies and is started again from what it saved (its
  // saved exchange is gone if it ended in success). Its connections drop:
  // whatever was in flight is lost, and each peer sees its connection end.
  void restart_server() {
    interrupted_ = true;
    for (size_t i = epoch_first_; i < conns_.size(); ++i) {
      Conn& conn = *conns_[i];
      conn.relay_knows = false;
      conn.to_server.clear();
      conn.to_peer.clear();
      if (conn.process && !conn.peer_closed) conn.to_peer.push_back(std::nullopt);
    }
    start_relay(disk_saved_);
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
        if (!status->present)
          FUZZ_CHECK(status->grace_s == options_.grace_s && options_.grace_s != 0);
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
          FUZZ_CHECK(running() && live_paused());
          FUZZ_CHECK(((flag->returning_slots >> flag->peer) & 1u) !=
                     0);  // it offers a waiting slot
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
    conn->connected_ms = conn->last_frame_ms = now_ms_;
    conns_.push_back(std::move(conn));
    return conns_.back().get();
  }

  // The relay accepts a connection.
  void open_relay_side(Conn& conn) {
    conn.relay_knows = true;
    relay_->on_connect(conn.id, now_ms_);
    relay_called();
  }

  void connect(bool fuzzable, uint64_t size, uint64_t seed) {
    if (conns_.size() >= kMaxConnections) return;
    if (!options_.honest) {
      if (!accepting_) return;  // refused
      // A scripted peer speaks first, as a PeerCore does (a silent
      // connection never gets a slot); what it sends next is the input's.
      Conn& conn = *add_conn(fuzzable);
      open_relay_side(conn);
      send_frame(conn, encode_hello());
      return;
    }
    start_process(std::make_shared<FuzzChunkStore>(file_of(size, seed)), size, seed, fuzzable,
                  options_.wrong_token && fuzzable ? "wrong-token" : "");
  }

  // A client process starts: its host connects.
  void start_process(std::shared_ptr<FuzzChunkStore> store, uint64_t size, uint64_t seed,
                     bool fuzzable, const std::string& wrong_token) {
    Config config = base_config(options_);
    config.window = options_.peer_window;
    if (options_.token) config.token = wrong_token.empty() ? kToken : wrong_token;
    processes_.push_back(
        std::make_unique<Process>(*this, std::move(store), size, seed, fuzzable, config));
    Process& process = *processes_.back();
    process.host.start(now_ms_);
    peer_called(process);
    resolve_connects();
  }

  // ---- the peers' side of the link ----

  void peer_connect(Process& process) {
    FUZZ_CHECK(!process.gone && !process.conn && !process.connect_pending);  // one at a time
    process.connect_pending = true;
    pending_connects_.push_back(&process);
  }

  // Nothing is sent outside an open session: not after the peer's core
  // finished (its host closes the session then), nor before it connected.
  void peer_send(Process& process, Frame frame) {
    FUZZ_CHECK(!process.gone && process.conn);
    process.conn->to_server.push_back(std::move(frame));
  }

  void peer_close(Process& process) {
    FUZZ_CHECK(process.conn);  // once per session
    process.conn->peer_closed = true;
    process.conn = nullptr;
  }

  // The link's own events, answered from the "event loop", never inside a
  // host call: connections the relay closed at once are reported closed, and
  // connects are answered at once, since the relay is always up (a server
  // that finished refuses).
  void resolve_connects() {
    while (!closed_now_.empty()) {
      Conn& conn = *closed_now_.front();
      closed_now_.pop_front();
      disconnect(conn);
    }
    while (!pending_connects_.empty()) {
      Process& process = *pending_connects_.front();
      pending_connects_.pop_front();
      if (process.gone || !process.connect_pending) continue;
      process.connect_pending = false;
      Conn* conn = accepting_ ? add_conn(process.fuzzable) : nullptr;
      if (!conn) {
        process.host.on_connect_failed(true, "Connection refused", now_ms_);
        peer_called(process);
        continue;
      }
      process.fuzzable = true;  // connections opened later are fuzzable
      conn->process = &process;
      process.conn = process.last_session = conn;
      process.store->new_run();  // a new core over the same store
      open_relay_side(*conn);
      process.host.on_connected("fuzz.invalid:9999", now_ms_);
      peer_called(process);
    }
  }

  // A peer whose process is gone, whose host gave up without success, or
  // whose connection is gone or dead (it waits to connect again), and that
  // nobody restarted yet.
  std::vector<Process*> restartable() {
    std::vector<Process*> found;
    for (auto& process : processes_) {
      if (process->restarted) continue;
      const std::optional<PeerOutcome>& ended = process->host.outcome();
      bool failed = ended && !ended->success;
      bool cut_off = !ended && (!process->conn || !process->conn->relay_knows);
      if (process->gone || failed || cut_off) found.push_back(process.get());
    }
    return found;
  }

  // The process dies: its host is dropped with whatever it had not sent.
  void kill(Process& process) {
    process.gone = true;
    process.connect_pending = false;
    if (process.conn) {
      process.conn->peer_closed = true;
      process.conn->to_server.clear();
      process.conn = nullptr;
    }
  }

  // The same client started again: same file, same store (its received
  // files and saved progress), a new connection.
  void restart_peer(Process& old) {
    if (conns_.size() >= kMaxConnections) return;
    interrupted_ = true;
    old.restarted = true;
    if (!old.gone) kill(old);
    std::string token = old.config.token;
    start_process(old.store, old.size, old.seed, true, token == kToken ? "" : token);
  }

  void disconnect(Conn& conn) {
    if (!conn.relay_knows) return;
    conn.relay_knows = false;
    disconnecting_ = conn.id;
    relay_->on_closed(conn.id, now_ms_);
    relay_called();
    disconnecting_ = 0;
  }

  void report_written() {
    relay_->on_output_written(now_ms_);
    relay_called();
  }

  // The relay side of the link: bytes from a connection, through its decoder.
  void receive_bytes(Conn& conn, ByteView bytes) {
    if (!conn.readable()) return;
    bytes_received_ += bytes.size();
    std::vector<Frame> frames;
    bool ok = conn.decoder.feed(bytes, frames);
    for (Frame& frame : frames) {
      if (!conn.readable()) return;  // the relay closed it: nothing more is read
      receive_frame(conn, std::move(frame));
    }
    if (!ok && conn.readable()) {
      conn.stream_failed = true;
      relay_->on_stream_error(conn.id, conn.decoder.error(), now_ms_);
      relay_called();
      FUZZ_CHECK(conn.relay_closed);  // a broken stream always ends the connection
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
    if (frame.type == FrameType::kDone && conn.process) conn.process->done_delivered = true;
    if (frame.type == FrameType::kAnnounce && conn.flagged && !conn.announce_seen) {
      conn.announce_seen = true;
      conn.announce = decode_announce(frame);
    }
    relay_->on_frame(conn.id, std::move(frame), now_ms_);
    relay_called();
  }

  void send_frame(Conn& conn, const Frame& frame) { receive_bytes(conn, encode_frame(frame)); }

  // The next relay -> peer item of a connection reaches the peer (whose link
  // decodes it as the Asio link does, with the limit FLAG set).
  // `tamper`: flip bits of that frame's bytes (header included) on the way.
  struct Tamper {
    uint8_t position = 0;
    uint8_t mask = 0;
  };
  bool deliver_to_peer(Conn& conn, std::optional<Tamper> tamper = std::nullopt) {
    if (!conn.process || conn.process->gone || conn.to_peer.empty()) return false;
    Process& process = *conn.process;
    std::optional<Frame> item = std::move(conn.to_peer.front());
    conn.to_peer.pop_front();
    // Written: the link reports it when a connection's queue runs dry (an
    // Asio connection writes what is queued in one gather write).
    if (item && conn.relay_knows && conn.to_peer.empty()) report_written();
    // A session the peer closed reads nothing more.
    if (process.conn != &conn) return true;
    if (!item) {
      process.host.on_closed(now_ms_);
      peer_called(process);
      FUZZ_CHECK(process.conn != &conn);  // a peer that loses its connection ends that session
      return true;
    }
    Bytes bytes = encode_frame(*item);
    if (tamper) bytes[tamper->position % bytes.size()] ^= tamper->mask == 0 ? 1 : tamper->mask;
    std::vector<Frame> frames;
    bool ok = conn.peer_decoder.feed(bytes, frames);
    for (Frame& frame : frames) {
      if (process.conn != &conn) return true;
      if (frame.type == FrameType::kRoster && !process.store->rosters.count(process.store->run)) {
        if (auto roster = decode_roster(frame))
          process.store->rosters[process.store->run] = *roster;
      }
      conn.last_frame_ms = now_ms_;
      process.host.on_frame(std::move(frame), now_ms_);
      peer_called(process);
    }
    if (!ok && process.conn == &conn) {
      process.host.on_stream_error(conn.peer_decoder.error(), now_ms_);
      peer_called(process);
      FUZZ_CHECK(process.conn != &conn);  // a broken stream ends the session
    }
    return true;
  }

  // The next peer -> relay frame of a connection reaches the relay, or the
  // relay hears that the connection ended.
  bool deliver_to_relay(Conn& conn) {
    if (!conn.process || !conn.relay_knows) {
      conn.to_server.clear();
      return false;
    }
    if (!conn.readable()) {
      // Closed by the relay: nothing more is read, and the link reports the
      // connection gone once the peer has seen the close.
      conn.to_server.clear();
      if (!conn.to_peer.empty() && !conn.peer_closed) return false;
      disconnect(conn);
      return true;
    }
    if (!conn.to_server.empty()) {
      Frame frame = std::move(conn.to_server.front());
      conn.to_server.pop_front();
      send_frame(conn, frame);
      return true;
    }
    if (conn.peer_closed) {  // the peer closed it once its last frame was out
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
    resolve_connects();
    return progress;
  }

  void drain() {
    size_t steps = 0;
    while (step_all()) FUZZ_CHECK(++steps < kMaxDrainSteps);  // no livelock
  }

  // ---- time ----

  // A peer host between two connections: its deadline is its next attempt.
  static bool waiting_to_reconnect(const Process& process) {
    return !process.gone && !process.host.done() && !process.conn && !process.connect_pending;
  }

  std::vector<Process*> live_processes() {
    std::vector<Process*> live;
    for (auto& process : processes_) {
      if (!process->gone && !process->host.done()) live.push_back(process.get());
    }
    return live;
  }

  // Every deadline due at `at_ms` fires, the relay's first.
  void fire_deadlines(TimeMs at_ms) {
    now_ms_ = std::max(now_ms_, at_ms);
    if (relay_->next_deadline_ms() <= now_ms_) {
      perturbed_ = true;  // every relay deadline is a protocol one
      relay_->on_time(now_ms_);
      relay_called();
      FUZZ_CHECK(relay_->next_deadline_ms() > now_ms_);
    }
    for (Process* process : live_processes()) {
      if (process->host.next_deadline_ms() > now_ms_) continue;
      if (!waiting_to_reconnect(*process)) {
        perturbed_ = true;  // a first-frame, idle or connect deadline
        if (process->conn) process->conn->touched = true;
      }
      process->host.on_time(now_ms_);
      peer_called(*process);
      FUZZ_CHECK(process->host.done() || process->host.next_deadline_ms() > now_ms_);
    }
  }

  TimeMs next_deadline_ms() {
    TimeMs next = relay_->next_deadline_ms();
    for (Process* process : live_processes())
      next = std::min(next, process->host.next_deadline_ms());
    return next;
  }

  void advance_to(TimeMs target_ms) {
    for (size_t steps = 0;; ++steps) {
      FUZZ_CHECK(steps < kMaxDeadlineSteps);
      TimeMs next = next_deadline_ms();
      if (next > target_ms) break;
      fire_deadlines(next);
      resolve_connects();
    }
    now_ms_ = std::max(now_ms_, target_ms);
  }

  void advance_to_relay_deadline() {
    TimeMs next = relay_->next_deadline_ms();
    if (next != kNoDeadline) advance_to(next);
  }

  // Everything queued is delivered, and the clock moves on to reconnect
  // attempts while one comes before every other deadline.
  void settle() {
    for (size_t steps = 0;; ++steps) {
      FUZZ_CHECK(steps < kMaxDeadlineSteps);
      drain();
      TimeMs benign = kNoDeadline;
      TimeMs other = relay_->next_deadline_ms();
      for (Process* process : live_processes()) {
        TimeMs next = process->host.next_deadline_ms();
        if (waiting_to_reconnect(*process)) {
          benign = std::min(benign, next);
        } else {
          other = std::min(other, next);
        }
      }
      if (benign == kNoDeadline || benign >= other) return;
      advance_to(benign);
    }
  }

  // ---- operations ----

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
        auto header = std::array<uint8_t, kFrameHeaderBytes>{kMagic0,
                                                             kMagic1,
                                                             kProtocolVersion,
                                                             type,
                                                             0,
                                                             0,
                                                             0,
                                                             static_cast<uint8_t>(payload.size())};
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
        if (!conn.process || conn.to_server.empty()) break;
        perturbed_ = true;
        conn.touched = true;
        Bytes bytes = encode_frame(conn.to_server.front());
        conn.to_server.pop_front();
        bytes[position % bytes.size()] ^= mask == 0 ? 1 : mask;
        receive_bytes(conn, bytes);
        break;
      }
      case kDropToRelay: {
        Conn& conn = fuzz_conn(select);
        if (!conn.process || conn.to_server.empty()) break;
        perturbed_ = true;
        conn.touched = true;
        conn.to_server.pop_front();
        break;
      }
      case kDupToRelay: {
        Conn& conn = fuzz_conn(select);
        if (!conn.process || conn.to_server.empty()) break;
        perturbed_ = true;
        conn.touched = true;
        send_frame(conn, conn.to_server.front());
        break;
      }
      case kDisconnect: {
        const bool cut = (select & 8) != 0;
        Conn& conn = any_conn(cut ? select & 7 : select);
        if (!conn.relay_knows) break;
        // An honest peer that leaves may come back; without a grace period
        // (or without a peer behind the connection) that ends the exchange.
        interrupted_ = true;
        conn.touched = true;
        if (!conn.process || options_.grace_s == 0) perturbed_ = true;
        conn.to_server.clear();
        conn.to_peer.clear();
        if (conn.process && conn.process->conn == &conn && !cut) kill(*conn.process);
        if (conn.process && conn.process->conn == &conn) conn.to_peer.push_back(std::nullopt);
        disconnect(conn);
        break;
      }
      case kConnectNew: {
        std::vector<Process*> restarts = options_.honest ? restartable() : std::vector<Process*>{};
        if ((select & 8) != 0 && !restarts.empty()) {
          restart_peer(*restarts[(select & 7) % restarts.size()]);
          break;
        }
        new_connections_ = true;
        connect(true, kSizes[select], conns_.size() + 1);
        break;
      }
      case kAdvance:
        advance_to(now_ms_ + kAdvanceMs[select]);
        break;
      case kBacklog:
        backlog_bytes_ = (select & 1) != 0 ? backlog_over_limit() : 0;
        report_written();
        break;
      case kDrained:
        report_written();
        break;
      case kTamperToPeer: {
        uint8_t position = input.u8();
        uint8_t mask = input.u8();
        Conn& conn = fuzz_conn(select);
        if (!conn.process || conn.process->gone || conn.to_peer.empty() || !conn.to_peer.front()) {
          break;
        }
        perturbed_ = true;
        conn.touched = true;
        deliver_to_peer(conn, Tamper{position, mask});
        break;
      }
      case kShutdown:
        if (select == 0x0f) {
          perturbed_ = true;
          relay_->on_shutdown("fuzz", 130, now_ms_);
          relay_called();
        } else if (select == 0x0e) {
          advance_to(now_ms_ + seconds_to_ms(kIdleS));  // past any stall deadline
        } else if (select == 0x0d) {
          restart_server();
        } else if (select == 0x0c) {
          advance_to_relay_deadline();  // while paused: the end of the grace period
        } else if (select == 0x0b) {
          // u8: Ctrl-C on a client process (one waiting to reconnect included).
          uint8_t which = input.u8();
          if (processes_.empty()) break;
          Process& process = *processes_[which % processes_.size()];
          if (process.gone || process.host.done()) break;
          perturbed_ = true;
          if (process.conn) process.conn->touched = true;
          process.host.on_shutdown("fuzz", 130, now_ms_);
          peer_called(process);
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

  // More output queued than the relay forwards new rounds past.
  uint64_t backlog_over_limit() const {
    return relay_settings_of(config_, std::nullopt).queued_output_bytes_max + 1;
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
        Frame frame =
            make_chunk_frame(FrameType::kChunkData, ChunkHeader{round, peer, chunk, clock}, length);
        std::fill_n(chunk_data_area(frame), length, uint8_t{0xab});
        return frame;
      }
      case 4: {
        DoneMessage done;
        size_t count = input.u8() % (kClients + 2);
        for (size_t i = 0; i < count; ++i)
          done.verified_owners.push_back(input.u8() % (kClients + 1));
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
        static constexpr PeerIndex kClaims[8] = {0,         1,       2, 3, kClients, kMaxPeers - 1,
                                                 kMaxPeers, kNoClaim};
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
        Frame frame = make_chunk_frame(
            FrameType::kRefetchData, ChunkHeader{round, peer, chunk, (mode & 2) ? 100 : 0}, length);
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
      return encode(
          RequestMessage{round, mine.target, mine.chunk_index, plan.request_clock_us[*slot]});
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
    // in the ROSTER that run (session) of the peer was given.
    std::set<const FuzzChunkStore*> stores;
    for (const auto& process : processes_) {
      const FuzzChunkStore& store = *process->store;
      if (!stores.insert(&store).second) continue;
      for (const auto& [names, file] : store.received) {
        if (!file.committed || !file.kept) continue;
        auto roster = store.rosters.find(file.committed_in_run);
        PeerIndex owner = names.second;
        FUZZ_CHECK(roster != store.rosters.end() && owner < roster->second.files.size());
        FUZZ_CHECK(file.data.size() == roster->second.files[owner].size_bytes);
        FUZZ_CHECK(sha256_of(file.data) == roster->second.files[owner].sha256);
      }
    }
    // The relay succeeded: every honest peer that it sent FINAL, that is
    // still there and that nothing was injected into succeeded too.
    if (honest && outcome() && outcome()->success) {
      for (size_t i = epoch_first_; i < conns_.size(); ++i) {
        const Conn& conn = *conns_[i];
        if (!conn.process || !conn.final_sent || conn.touched || conn.process->gone) continue;
        const std::optional<PeerOutcome>& ended = conn.process->host.outcome();
        FUZZ_CHECK(ended && ended->success);
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
    FUZZ_CHECK(outcome() && outcome()->success);
    std::vector<const Conn*> holders = slot_holders();
    std::vector<uint32_t> chunk_counts;
    for (const Conn* holder : holders) {
      uint64_t size = holder->process->store->own().size();
      chunk_counts.push_back(static_cast<uint32_t>(FileLayout{size, kChunkBytes}.chunk_count()));
    }
    ExchangeModel model(chunk_counts, default_costs());
    FUZZ_CHECK(outcome()->rounds == model.rounds_total());
    while (!model.finished()) model.plan_next_round();
    FUZZ_CHECK(outcome()->final_clocks_us == model.clocks_us());
    for (size_t i = 0; i < kClients; ++i) {
      const Process& peer = *holders[i]->process;
      if (peer.gone) continue;  // vanished after the exchange ended
      const std::optional<PeerOutcome>& ended = peer.host.outcome();
      FUZZ_CHECK(ended);
      if (!missed_final(peer)) {
        FUZZ_CHECK(ended->success);
        FUZZ_CHECK(ended->final_clocks_us == model.clocks_us());
        FUZZ_CHECK(ended->verified_owners.size() == kClients - 1);
      }
      FUZZ_CHECK(peer.store->opened_as == i);
      for (size_t owner = 0; owner < kClients; ++owner) {
        if (owner == i) continue;
        auto found =
            peer.store->received.find({static_cast<PeerIndex>(i), static_cast<PeerIndex>(owner)});
        FUZZ_CHECK(found != peer.store->received.end() && found->second.committed);
        FUZZ_CHECK(same_bytes(found->second.data, holders[owner]->process->store->own()));
      }
    }
  }

  void check_progress() {
    RelayProgress progress = relay_->progress();
    FUZZ_CHECK(progress.chunks_received.size() == kClients);
    FUZZ_CHECK(progress.chunks_needed.size() == kClients);
    FUZZ_CHECK(progress.bytes_received.size() == kClients);
    FUZZ_CHECK(progress.rounds_delivered <= progress.rounds_total + 1);
    FUZZ_CHECK(progress.rounds_delivered == relay_->rounds_delivered());
    if (!finished_) FUZZ_CHECK(!progress.paused || running());
    if (saved_ && !finished_) FUZZ_CHECK(progress.rounds_delivered == saved_->delivered_rounds);
    for (size_t i = 0; i < kClients; ++i) {
      FUZZ_CHECK(progress.chunks_received[i] <= progress.chunks_needed[i]);
      FUZZ_CHECK(progress.bytes_received[i] <= progress.chunks_received[i] * kChunkBytes);
    }
  }

  Options options_;
  Config config_;  // the relay's
  std::unique_ptr<RelayHost> relay_;
  RecordedNotices relay_notices_;
  std::vector<std::unique_ptr<Conn>> conns_;  // conns_[id - 1]
  std::vector<std::unique_ptr<Process>> processes_;
  std::deque<Process*> pending_connects_;
  std::deque<Conn*> closed_now_;  // by close_all_now(), not yet reported closed
  ConnId disconnecting_ = 0;      // inside on_closed(disconnecting_)
  TimeMs now_ms_ = 0;
  uint64_t backlog_bytes_ = 0;  // output the link says waits for slow sockets
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  bool perturbed_ = false;        // anything but honest frames in some order
  bool interrupted_ = false;      // honest peers left or came back, or the server restarted
  bool new_connections_ = false;  // a fifth client came (its refusal is logged)
  std::optional<SavedExchange> disk_saved_;  // what the server keeps on disk
  // Of the current relay (a new one after the server restarted):
  size_t epoch_first_ = 0;  // its first connection's index in conns_
  std::vector<std::string> relay_log_;
  bool accepting_ = true;
  bool constructing_ = false;  // inside RelayHost's constructor
  bool started_ = false;
  bool restored_ = false;  // built with resume_from
  bool save_called_ = false;
  bool finished_ = false;  // close_log() came
  bool summary_written_ = false;
  bool paused_ = false;  // RelayProgress::paused after the last host call
  TimeMs pause_started_ms_ = 0;
  TimeMs last_progress_ms_ = 0;  // the last progress seen (start, round, resume, refetch)
  uint64_t refetched_seen_ = 0;
  std::optional<SavedExchange> saved_;   // as this relay last persisted it
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

  // Logs do not depend on windows, backlog, delivery order, time or
  // interruptions.
  if (harness.wants_log_check()) {
    Harness reference(harness.reference_options());
    FuzzInput nothing(nullptr, 0);
    reference.run(nothing);
    harness.check_logs(reference.logs());
  }
  return 0;
}
