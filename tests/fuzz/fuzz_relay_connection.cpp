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
//   then operations, one byte each: low nibble the kind (Op), high nibble
//   picks the connection; some kinds read argument bytes after it.
//
// Every byte a connection sends goes through its own FrameDecoder, as in the
// server (decoded frames -> on_frame, a malformed stream -> on_stream_error).
// When the operations are done, every queued frame is delivered until nothing
// moves. Checked throughout: no send or close to ConnId 0 or to a connection
// the relay never heard of, nothing sent after a close, finished() once and
// nothing sent after it to a connection that held a slot, every such
// connection closed when the relay finishes, every frame the relay sends is
// one a peer's decoder accepts; with a token, no AUTH_OK without a valid AUTH
// and no slot (FLAG) without AUTH_OK. In honest mode with nothing injected: the exchange
// succeeds, every file arrives byte for byte, clocks match the model, and the
// logs equal those of a plain round-robin run with the default windows.
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
  kConnectNew = 9,    // a new connection (a new honest peer in honest mode)
  kDeadline = 10,     // the handshake deadline of a connection passes
  kBacklog = 11,      // output_backlogged() = high nibble bit 0; drained when false
  kDrained = 12,      // on_output_drained()
  kTamperToPeer = 13, // u8 position, u8 xor: flip bits of the next relay -> peer frame
  kShutdown = 14,     // high nibble 15: on_shutdown (Ctrl-C); 14: on_stall; otherwise a step both ways
  kStructured = 15,   // u8 kind, fields: a plausible ANNOUNCE/REQUEST/IDLE/CHUNK_DATA/DONE/ERROR/AUTH
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

class Harness : public RelayOutbox {
 public:
  struct Peer {
    Peer(Bytes file, uint32_t window, PeerAuth auth)
        : store(std::move(file)), out(store), core(window, store, out, std::move(auth)) {}
    FuzzChunkStore store;
    FuzzPeerOutbox out;
    PeerCore core;
    std::optional<RosterMessage> roster;  // the first well-formed ROSTER it was given
    bool gone = false;                    // its process vanished
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
    bool flagged = false;  // it was given a slot
    std::optional<PeerIndex> slot;
    size_t index = 0;  // in conns_
    // The transport reads from a connection until it closes it.
    bool readable() const { return !closed_by_relay && !stream_failed && !disconnected; }
  };

  explicit Harness(const Options& options)
      : options_(options),
        relay_(relay_settings(options), *this) {}

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
        Bytes file = file_of(options_.sizes[static_cast<size_t>(i)], options_.seeds[static_cast<size_t>(i)]);
        send_frame(conn, encode_announce(FileAnnouncement{file.size(), sha256_of(file)}));
      }
    }
    while (!input.empty()) apply(input);
    backlog_ = false;
    relay_.on_output_drained();
    drain();
    if (verbose()) print();
    check_end();
    // The server goes away: every connection still open is reported closed.
    for (auto& conn : conns_) disconnect(*conn);
    check_progress();
  }

  // IDs go in the order connections authenticate (in the order they connect
  // without a token): the connection holding each slot, in an honest run
  // where nobody left.
  std::vector<const Conn*> slot_holders() const {
    std::vector<const Conn*> holders(kClients, nullptr);
    for (const auto& conn : conns_) {
      if (!conn->slot) continue;
      FUZZ_CHECK(!holders[*conn->slot]);  // nobody left, so nobody took a slot twice
      holders[*conn->slot] = conn.get();
    }
    for (const Conn* holder : holders) FUZZ_CHECK(holder && holder->peer);
    return holders;
  }

  // A plain run of the same files with the same IDs: the first four
  // connections' files, reordered by the slot each got.
  Options reference_options() const {
    Options plain = options_;
    plain.relay_window = 8;
    plain.peer_window = 8;
    std::vector<const Conn*> holders = slot_holders();
    for (size_t p = 0; p < kClients; ++p) {
      FUZZ_CHECK(holders[p]->index < kClients);  // no newcomer took part
      plain.sizes[p] = options_.sizes[holders[p]->index];
      plain.seeds[p] = options_.seeds[holders[p]->index];
    }
    return plain;
  }

  Logs logs() const {
    Logs logs{relay_log_, {}};
    for (const Conn* holder : slot_holders()) logs.peers.push_back(holder->peer->out.log_lines);
    return logs;
  }

  void print() const {
    for (const std::string& line : relay_log_) std::fprintf(stderr, "relay log: %s\n", line.c_str());
    std::fprintf(stderr, "relay: %s%s; perturbed %d\n",
                 !outcome_ ? "not finished" : outcome_->success ? "success" : "failed: ",
                 outcome_ ? outcome_->failure.c_str() : "", perturbed_ ? 1 : 0);
    for (const auto& conn : conns_) {
      if (!conn->peer || !conn->peer->out.outcome) continue;
      const PeerOutcome& outcome = *conn->peer->out.outcome;
      std::fprintf(stderr, "peer on connection %llu: %s%s\n",
                   static_cast<unsigned long long>(conn->id), outcome.success ? "success" : "failed: ",
                   outcome.failure.c_str());
    }
  }

  bool perturbed() const { return perturbed_; }
  bool new_connections() const { return new_connections_; }

  // RelayOutbox
  void send(ConnId id, Frame frame) override {
    Conn& conn = known(id);
    FUZZ_CHECK(!conn.closed_by_relay);       // nothing after a close
    if (finished_) FUZZ_CHECK(!conn.flagged);  // after finished: only refusing strangers
    check_server_frame(frame);
    check_handshake(conn, frame);
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
    FUZZ_CHECK(!started_ && !finished_);
    started_ = true;
  }
  bool output_backlogged() const override { return backlog_; }
  void finished(const RelayOutcome& outcome) override {
    FUZZ_CHECK(!finished_);  // at most once
    finished_ = true;
    outcome_ = outcome;
    // Nothing is left waiting: every connection is closed or gone, except
    // strangers still authenticating (the server's stop closes those).
    for (const auto& conn : conns_) {
      FUZZ_CHECK(conn->closed_by_relay || conn->disconnected ||
                 (options_.token && !conn->flagged && !conn->auth_ok_sent));
    }
    if (outcome.success) {
      FUZZ_CHECK(started_);
      FUZZ_CHECK(outcome.final_clocks_us.size() == kClients);
      FUZZ_CHECK(outcome.files.size() == kClients);
      FUZZ_CHECK(outcome.verified_owners.size() == kClients);
      FUZZ_CHECK(outcome.failure.empty());
    } else {
      FUZZ_CHECK(!outcome.failure.empty());
    }
  }

 private:
  Conn& known(ConnId id) {
    FUZZ_CHECK(id != 0);
    FUZZ_CHECK(id <= conns_.size());  // a connection the relay was told about
    return *conns_[id - 1];
  }

  // Every frame the relay sends must be one a peer's decoder (limit: the
  // chunk size from FLAG) and message decoders accept.
  static void check_server_frame(const Frame& frame) {
    FUZZ_CHECK(frame.payload.size() <= max_payload_bytes(frame.type, kChunkBytes));
    switch (frame.type) {
      case FrameType::kAnnounce:
      case FrameType::kIdle:
      case FrameType::kChunkData:
      case FrameType::kDone:
      case FrameType::kAuth:
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
      default:
        break;  // frame types added later are not checked here
    }
  }

  // The handshake in order: CHALLENGE once (only with a token), AUTH_OK only
  // for a valid AUTH and carrying the server's proof, FLAG only after AUTH_OK.
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
      case FrameType::kFlag:
        FUZZ_CHECK(!conn.flagged);
        if (options_.token) FUZZ_CHECK(conn.auth_ok_sent);
        conn.flagged = true;
        conn.slot = decode_flag(frame)->peer;
        break;
      default:
        break;
    }
  }

  Frame valid_auth(const Conn& conn, const Nonce& client_nonce) const {
    Nonce server_nonce = conn.server_nonce.value_or(Nonce{});
    return encode(AuthMessage{client_nonce, client_proof(kToken, server_nonce, client_nonce)});
  }

  void connect(bool fuzzable, uint64_t size, uint64_t seed) {
    if (conns_.size() >= kMaxConnections) return;
    auto conn = std::make_unique<Conn>();
    conn->id = conns_.size() + 1;
    conn->index = conns_.size();
    conn->fuzzable = fuzzable;
    if (options_.honest) {
      PeerAuth auth;
      if (options_.token) {
        auth.token = options_.wrong_token && fuzzable ? "wrong-token" : kToken;
        auth.make_nonce = counting_nonces(static_cast<uint8_t>(conn->id));
      }
      conn->peer = std::make_unique<Peer>(file_of(size, seed), options_.peer_window, auth);
    }
    ConnId id = conn->id;
    conns_.push_back(std::move(conn));
    relay_.on_connect(id);
  }

  void disconnect(Conn& conn) {
    if (conn.disconnected) return;
    conn.disconnected = true;
    disconnecting_ = conn.id;
    relay_.on_disconnect(conn.id);
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
      relay_.on_stream_error(conn.id, conn.decoder.error());
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
    relay_.on_frame(conn.id, std::move(frame));
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
    return *candidates[select % candidates.size()];
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
        receive_bytes(fuzz_conn(select), bytes);
        break;
      }
      case kRawBytes: {
        perturbed_ = true;
        uint8_t length = input.u8();
        receive_bytes(fuzz_conn(select), input.bytes(length));
        break;
      }
      case kTamperToRelay: {
        uint8_t position = input.u8();
        uint8_t mask = input.u8();
        Conn& conn = fuzz_conn(select);
        if (!conn.peer || conn.peer->gone || conn.peer->out.to_server.empty()) break;
        perturbed_ = true;
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
        conn.peer->out.to_server.pop_front();
        break;
      }
      case kDupToRelay: {
        Conn& conn = fuzz_conn(select);
        if (!conn.peer || conn.peer->gone || conn.peer->out.to_server.empty()) break;
        perturbed_ = true;
        send_frame(conn, conn.peer->out.to_server.front());
        break;
      }
      case kDisconnect: {
        Conn& conn = any_conn(select);
        if (conn.disconnected) break;
        perturbed_ = true;
        if (conn.peer) conn.peer->gone = true;
        disconnect(conn);
        break;
      }
      case kConnectNew:
        new_connections_ = true;
        connect(true, kSizes[select], conns_.size() + 1);
        break;
      case kDeadline: {
        Conn& conn = any_conn(select);
        // The transport's timer fires once, and not after the connection is gone.
        if (conn.disconnected || conn.deadline_fired) break;
        perturbed_ = true;
        conn.deadline_fired = true;
        relay_.on_handshake_deadline(conn.id);
        break;
      }
      case kBacklog:
        backlog_ = (select & 1) != 0;
        if (!backlog_) relay_.on_output_drained();
        break;
      case kDrained:
        relay_.on_output_drained();
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
        Bytes& payload = conn.to_peer.front()->payload;
        payload[position % payload.size()] ^= mask == 0 ? 1 : mask;
        deliver_to_peer(conn);
        break;
      }
      case kShutdown:
        if (select == 0x0f) {
          perturbed_ = true;
          relay_.on_shutdown("fuzz");
        } else if (select == 0x0e) {
          perturbed_ = true;
          relay_.on_stall(30);
        } else {
          Conn& conn = any_conn(select);
          deliver_to_peer(conn);
          deliver_to_relay(conn);
        }
        break;
      case kStructured: {
        perturbed_ = true;
        Conn& conn = fuzz_conn(select);
        send_frame(conn, structured_frame(conn, input));
        break;
      }
    }
  }

  // Frames with the right shape and small field values, so that the schedule's
  // exact requests (clocks are multiples of 100 us here) are within reach.
  Frame structured_frame(const Conn& conn, FuzzInput& input) const {
    switch (input.u8() % 7) {
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
      default: {  // AUTH: the right proof for this connection, or a flipped one
        uint8_t choice = input.u8();
        Nonce client_nonce{};
        client_nonce.fill(choice);
        Frame frame = valid_auth(conn, client_nonce);
        if (choice & 1) frame.payload.back() ^= 1;
        return frame;
      }
    }
  }

  void check_end() {
    const bool honest = options_.honest;
    // Whatever happened, a committed file is exactly what its owner announced.
    for (const auto& conn : conns_) {
      if (!conn->peer) continue;
      const Peer& peer = *conn->peer;
      for (const auto& [owner, file] : peer.store.received) {
        if (!file.committed || !file.kept) continue;
        FUZZ_CHECK(peer.roster && owner < peer.roster->files.size());
        FUZZ_CHECK(sha256_of(file.data) == peer.roster->files[owner].sha256);
      }
    }
    // The relay succeeded: every honest peer that took part (it was sent the
    // ROSTER) and that nothing was injected into succeeded too.
    if (honest && outcome_ && outcome_->success) {
      for (const auto& conn : conns_) {
        if (!conn->peer || conn->fuzzable || conn->peer->gone || !conn->peer->roster) continue;
        FUZZ_CHECK(conn->peer->out.outcome && conn->peer->out.outcome->success);
      }
    }
    if (!honest || perturbed_) return;

    // Honest peers, nothing injected: whatever the delivery order and
    // windows, the exchange completes and every file arrives intact.
    FUZZ_CHECK(outcome_ && outcome_->success);
    std::vector<const Conn*> holders = slot_holders();
    std::vector<uint32_t> chunk_counts;
    for (const Conn* holder : holders) {
      uint64_t size = holder->peer->store.own().size();
      chunk_counts.push_back(static_cast<uint32_t>(FileLayout{size, kChunkBytes}.chunk_count()));
    }
    ExchangeModel model(chunk_counts, default_costs());
    FUZZ_CHECK(outcome_->rounds == model.rounds_total());
    while (!model.finished()) model.plan_next_round();
    FUZZ_CHECK(outcome_->final_clocks_us == model.clocks_us());
    for (size_t i = 0; i < kClients; ++i) {
      const Peer& peer = *holders[i]->peer;
      FUZZ_CHECK(peer.out.outcome && peer.out.outcome->success);
      FUZZ_CHECK(peer.out.outcome->final_clocks_us == model.clocks_us());
      FUZZ_CHECK(peer.store.opened_as == i);
      FUZZ_CHECK(peer.out.outcome->verified_owners.size() == kClients - 1);
      for (size_t owner = 0; owner < kClients; ++owner) {
        if (owner == i) continue;
        auto found = peer.store.received.find(static_cast<PeerIndex>(owner));
        FUZZ_CHECK(found != peer.store.received.end() && found->second.committed);
        FUZZ_CHECK(same_bytes(found->second.data, holders[owner]->peer->store.own()));
      }
    }
  }

  void check_progress() {
    RelayProgress progress = relay_.progress();
    FUZZ_CHECK(progress.chunks_received.size() == kClients);
    FUZZ_CHECK(progress.chunks_needed.size() == kClients);
    FUZZ_CHECK(progress.bytes_received.size() == kClients);
    FUZZ_CHECK(progress.rounds_delivered <= progress.rounds_total + 1);
    for (size_t i = 0; i < kClients; ++i) {
      FUZZ_CHECK(progress.chunks_received[i] <= progress.chunks_needed[i]);
      FUZZ_CHECK(progress.bytes_received[i] <= progress.chunks_received[i] * kChunkBytes);
    }
  }

  Options options_;
  RelayCore relay_;
  std::vector<std::unique_ptr<Conn>> conns_;  // conns_[id - 1]
  std::vector<std::string> relay_log_;
  ConnId disconnecting_ = 0;  // inside on_disconnect(disconnecting_)
  bool backlog_ = false;
  bool started_ = false;
  bool finished_ = false;
  std::optional<RelayOutcome> outcome_;
  bool perturbed_ = false;         // anything but honest frames in some order
  bool new_connections_ = false;   // a fifth client came (its refusal is logged)
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

  Harness harness(options);
  harness.run(input);

  // Logs do not depend on windows, backlog or delivery order.
  if (options.honest && !harness.perturbed() && !harness.new_connections()) {
    Harness reference(harness.reference_options());
    FuzzInput nothing(nullptr, 0);
    reference.run(nothing);
    Logs got = harness.logs();
    Logs want = reference.logs();
    FUZZ_CHECK(got.relay == want.relay);
    FUZZ_CHECK(got.peers == want.peers);
  }
  return 0;
}
