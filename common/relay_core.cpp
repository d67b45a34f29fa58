#include "common/relay_core.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/chunking.h"
#include "common/config.h"

namespace chunkex {
namespace {

std::string describe_request(const PlannedRequest& request) {
  if (request.idle) return "IDLE";
  return fmt::format("chunk {} of {}", request.chunk_index, peer_letter(request.target));
}

}  // namespace

RelayCore::RelayCore(RelaySettings settings, RelayOutbox& outbox)
    : settings_(std::move(settings)), outbox_(outbox), peers_(settings_.max_clients) {}

std::string RelayCore::line(ClockUs clock_us, const std::string& event) const {
  return fmt::format("{} [Server] {}", format_clock_ms(clock_us), event);
}

ClockUs RelayCore::max_clock() const {
  return clocks_us_.empty() ? 0 : *std::max_element(clocks_us_.begin(), clocks_us_.end());
}

namespace {

// Challenged connections cost a nonce each; a flood of them is cut off here.
constexpr size_t kMaxAwaitingAuth = 64;

}  // namespace

void RelayCore::on_connect(ConnId conn) {
  if (!slot_open()) return reject_full(conn);
  if (settings_.token.empty()) return admit(conn);
  if (awaiting_auth_.size() >= kMaxAwaitingAuth) {
    reject(conn, "too many connections are authenticating; try again later");
    return;
  }
  Nonce nonce = settings_.make_nonce();
  awaiting_auth_[conn] = nonce;
  outbox_.send(conn, encode_challenge(nonce));
}

void RelayCore::handle_auth(ConnId conn, const Frame& frame) {
  auto auth = decode_auth(frame);
  if (!auth) {
    return reject_unauthenticated(
        conn,
        fmt::format("authentication required: expected AUTH, got {}", frame_type_name(frame.type)));
  }
  const Nonce& server_nonce = awaiting_auth_.at(conn);
  if (!proofs_equal(auth->proof, client_proof(settings_.token, server_nonce, auth->client_nonce))) {
    return reject_unauthenticated(conn, "authentication failed: wrong token");
  }
  outbox_.send(conn,
               encode_auth_ok(server_proof(settings_.token, auth->client_nonce, server_nonce)));
  awaiting_auth_.erase(conn);
  if (!slot_open()) return reject_full(conn);
  admit(conn);
}

void RelayCore::reject_unauthenticated(ConnId conn, const std::string& why) {
  awaiting_auth_.erase(conn);
  reject(conn, why);
}

bool RelayCore::slot_open() const {
  return phase_ == Phase::kJoining && joined_count() < peers_.size();
}

void RelayCore::reject_full(ConnId conn) {
  reject(conn, fmt::format("server full: all {} client slots are taken", settings_.max_clients));
}

// Gives `conn` the lowest free slot; the caller checked slot_open().
void RelayCore::admit(ConnId conn) {
  auto free_slot = std::find_if(peers_.begin(), peers_.end(),
                                [](const PeerSlot& slot) { return slot.conn == 0; });
  auto peer = static_cast<PeerIndex>(free_slot - peers_.begin());
  free_slot->conn = conn;
  peer_of_conn_[conn] = peer;
  outbox_.send(conn, encode(FlagMessage{peer, static_cast<uint8_t>(settings_.max_clients),
                                        settings_.chunk_bytes}));
  outbox_.notice(fmt::format("client {} joined ({} of {})", peer_letter(peer), joined_count(),
                             settings_.max_clients));
}

size_t RelayCore::joined_count() const {
  return static_cast<size_t>(std::count_if(peers_.begin(), peers_.end(),
                                           [](const PeerSlot& slot) { return slot.conn != 0; }));
}

// Before the exchange starts nothing depends on a peer yet, so one that
// leaves or misbehaves only gives its slot (and ID) back to the next comer.
void RelayCore::release_slot(PeerIndex peer, const std::string& why) {
  ConnId conn = peers_[peer].conn;
  outbox_.send(conn, encode_error(why));
  outbox_.close(conn);
  peer_of_conn_.erase(conn);
  peers_[peer] = PeerSlot{};
  outbox_.notice(fmt::format("client {} left before the exchange started ({}); slot {} is free",
                             peer_letter(peer), why, peer_letter(peer)));
}

// A rejection's moment depends on when the stranger connected, so its log
// line waits for the end of the log, where only the count of them matters.
void RelayCore::reject(ConnId conn, const std::string& why) {
  outbox_.send(conn, encode_error(why));
  outbox_.close(conn);
  rejections_.push_back(why);
  outbox_.notice(fmt::format("rejected a connection: {}", why));
}

void RelayCore::on_frame(ConnId conn, Frame frame) {
  if (awaiting_auth_.count(conn) && phase_ != Phase::kFinished) return handle_auth(conn, frame);
  auto found = peer_of_conn_.find(conn);
  if (found == peer_of_conn_.end() || phase_ == Phase::kFinished) return;
  PeerIndex peer = found->second;
  switch (frame.type) {
    case FrameType::kAnnounce:
      return handle_announce(peer, frame);
    case FrameType::kRequestChunk:
    case FrameType::kIdle:
      return handle_request(peer, frame);
    case FrameType::kChunkData:
      return handle_chunk_data(peer, std::move(frame));
    case FrameType::kDone:
      return handle_done(peer, frame);
    case FrameType::kError:
      if (phase_ == Phase::kJoining) return release_slot(peer, "reported: " + decode_error(frame));
      return fail(
          fmt::format("client {} reported an error: {}", peer_letter(peer), decode_error(frame)),
          peer);
    default:
      return protocol_error(peer,
                            fmt::format("a client may not send {}", frame_type_name(frame.type)));
  }
}

void RelayCore::on_stream_error(ConnId conn, const std::string& what) {
  if (awaiting_auth_.count(conn)) return reject_unauthenticated(conn, "protocol error: " + what);
  auto found = peer_of_conn_.find(conn);
  if (found == peer_of_conn_.end()) {
    outbox_.close(conn);
    return;
  }
  protocol_error(found->second, what);
}

void RelayCore::on_disconnect(ConnId conn) {
  awaiting_auth_.erase(conn);
  auto found = peer_of_conn_.find(conn);
  if (found == peer_of_conn_.end() || phase_ == Phase::kFinished) return;
  if (phase_ == Phase::kJoining) return release_slot(found->second, "disconnected");
  fail(fmt::format("client {} disconnected", peer_letter(found->second)), found->second);
}

// In lock step everyone falls silent when one peer stalls, so silence alone
// does not name the culprit; what the oldest open round still waits for does.
void RelayCore::on_stall(uint32_t stalled_s) {
  if (phase_ != Phase::kExchanging && phase_ != Phase::kClosing) return;
  std::vector<PeerIndex> culprits = peers_holding_up_exchange();
  if (culprits.empty()) return;  // waiting on our own output, not on a peer
  std::string names;
  for (PeerIndex peer : culprits)
    names += fmt::format("{}{}", names.empty() ? "" : ", ", peer_letter(peer));
  fail(fmt::format("client {} stalled the exchange: nothing needed from it came in {} s (round {})",
                   names, stalled_s, next_deliver_round_),
       culprits.front());
}

std::vector<PeerIndex> RelayCore::peers_holding_up_exchange() const {
  std::vector<PeerIndex> culprits;
  for (size_t p = 0; p < peers_.size(); ++p) {
    auto peer = static_cast<PeerIndex>(p);
    bool holding_up;
    if (phase_ == Phase::kClosing) {
      holding_up = !peers_[p].verified_owners;  // no DONE yet
    } else if (rounds_.empty() || !rounds_.front().forwarded) {
      holding_up = rounds_.empty() || !rounds_.front().request_seen[p];  // no request yet
    } else {
      const RoundState& front = rounds_.front();
      holding_up = false;  // an answer it owes
      for (size_t q = 0; q < peers_.size(); ++q) {
        const PlannedRequest& request = front.plan.requests[q];
        holding_up = holding_up || (!request.idle && request.target == peer && !front.answers[q]);
      }
    }
    if (holding_up) culprits.push_back(peer);
  }
  return culprits;
}

void RelayCore::on_handshake_deadline(ConnId conn) {
  if (awaiting_auth_.count(conn)) {
    return reject_unauthenticated(conn, "no AUTH before the handshake deadline");
  }
  auto found = peer_of_conn_.find(conn);
  if (found == peer_of_conn_.end() || phase_ != Phase::kJoining || peers_[found->second].file) {
    return;
  }
  release_slot(found->second, "no ANNOUNCE before the handshake deadline");
}

void RelayCore::on_output_drained() {
  if (phase_ == Phase::kExchanging) pump();
}

void RelayCore::on_shutdown(const std::string& why) {
  if (phase_ == Phase::kFinished) return;
  fail(fmt::format("server stopped: {}", why), std::nullopt);
}

void RelayCore::handle_announce(PeerIndex peer, const Frame& frame) {
  if (phase_ != Phase::kJoining || peers_[peer].file) {
    return protocol_error(peer, "ANNOUNCE out of order (only once, before the exchange)");
  }
  auto announce = decode_announce(frame);
  if (!announce) return protocol_error(peer, "malformed ANNOUNCE frame");
  if (!chunk_count_fits(FileLayout{announce->size_bytes, settings_.chunk_bytes})) {
    return protocol_error(peer, "announced file has more chunks than the protocol can number");
  }
  peers_[peer].file = *announce;
  bool everyone_announced =
      std::all_of(peers_.begin(), peers_.end(), [](const PeerSlot& slot) { return slot.file; });
  if (everyone_announced) start_exchange();
}

void RelayCore::start_exchange() {
  RosterMessage roster;
  std::vector<uint32_t> chunk_counts;
  for (size_t i = 0; i < peers_.size(); ++i) {
    const FileAnnouncement& file = *peers_[i].file;
    FileLayout layout{file.size_bytes, settings_.chunk_bytes};
    chunk_counts.push_back(static_cast<uint32_t>(layout.chunk_count()));
    roster.files.push_back(file);
    roster.costs.push_back(settings_.costs[i]);
    outbox_.log(line(0, fmt::format("join {}: {} bytes, {} chunks, sha256 {}",
                                    peer_letter(static_cast<PeerIndex>(i)), file.size_bytes,
                                    layout.chunk_count(), to_hex(file.sha256))));
  }
  model_.emplace(chunk_counts, roster.costs);
  // A bound, not a replay of the whole exchange: announced sizes come from
  // the peers, and replaying 2^32-chunk files would freeze the event loop.
  rounds_total_ = model_->rounds_lower_bound();
  clocks_us_.assign(peers_.size(), 0);
  phase_ = Phase::kExchanging;
  Frame roster_frame = encode(roster);
  for (const PeerSlot& slot : peers_) outbox_.send(slot.conn, roster_frame);
  outbox_.log(line(0, fmt::format("start exchange: {} clients, {}-byte chunks, at least {} rounds",
                                  peers_.size(), settings_.chunk_bytes, rounds_total_)));
  outbox_.notice(fmt::format("exchange started: at least {} rounds", rounds_total_));
  outbox_.exchange_started();
}

RelayCore::RoundState* RelayCore::round_state(uint64_t round) {
  if (round < next_deliver_round_ || round >= next_deliver_round_ + kMaxWindowRounds) {
    return nullptr;
  }
  while (next_deliver_round_ + rounds_.size() <= round) {
    if (model_->finished()) return nullptr;
    RoundState state;
    state.plan = model_->plan_next_round();
    state.request_seen.assign(peers_.size(), false);
    state.answers.resize(peers_.size());
    state.requests_missing = peers_.size();
    for (const PlannedRequest& request : state.plan.requests) {
      if (!request.idle) ++state.answers_missing;
    }
    rounds_.push_back(std::move(state));
  }
  return &rounds_[round - next_deliver_round_];
}

void RelayCore::handle_request(PeerIndex peer, const Frame& frame) {
  if (phase_ != Phase::kExchanging) {
    return protocol_error(peer, fmt::format("{} out of order", frame_type_name(frame.type)));
  }
  if (frame.type == FrameType::kIdle) {
    auto idle = decode_idle(frame);
    if (!idle) return protocol_error(peer, "malformed IDLE frame");
    return record_request(peer, idle->round, PlannedRequest{}, 0);
  }
  auto request = decode_request(frame);
  if (!request) return protocol_error(peer, "malformed REQUEST_CHUNK frame");
  record_request(peer, request->round, PlannedRequest{false, request->peer, request->chunk_index},
                 request->clock_us);
}

// A request must be exactly what the schedule says this peer asks in that
// round, with the clock the model gives it.
void RelayCore::record_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent,
                               ClockUs clock_us) {
  RoundState* state = round_state(round);
  if (!state) {
    return protocol_error(
        peer, fmt::format("request for round {} outside the open rounds {}..{}", round,
                          next_deliver_round_, next_deliver_round_ + kMaxWindowRounds - 1));
  }
  if (state->request_seen[peer]) {
    return protocol_error(peer, fmt::format("second request for round {}", round));
  }
  const PlannedRequest& planned = state->plan.requests[peer];
  if (!(sent == planned) || (!sent.idle && clock_us != state->plan.request_clock_us[peer])) {
    return protocol_error(
        peer,
        fmt::format("round {}: sent {} at clock {}, the schedule says {} at clock {}", round,
                    describe_request(sent), format_clock_ms(clock_us), describe_request(planned),
                    format_clock_ms(state->plan.request_clock_us[peer])));
  }
  state->request_seen[peer] = true;
  --state->requests_missing;
  pump();
}

void RelayCore::handle_chunk_data(PeerIndex peer, Frame frame) {
  auto header = decode_chunk_header(frame);
  if (phase_ != Phase::kExchanging || !header) {
    return protocol_error(peer, "unexpected or malformed CHUNK_DATA");
  }
  RoundState* state = header->round >= next_deliver_round_ && header->round < next_forward_round_
                          ? &rounds_[header->round - next_deliver_round_]
                          : nullptr;
  if (!state || header->peer >= peers_.size()) {
    return protocol_error(
        peer, fmt::format("CHUNK_DATA for round {} that was not forwarded", header->round));
  }
  PeerIndex requester = header->peer;
  const PlannedRequest& planned = state->plan.requests[requester];
  if (planned.idle || planned.target != peer || planned.chunk_index != header->chunk_index ||
      state->answers[requester]) {
    return protocol_error(
        peer, fmt::format("round {}: CHUNK_DATA chunk {} for {} was not asked of it", header->round,
                          header->chunk_index, peer_letter(requester)));
  }
  FileLayout layout{peers_[peer].file->size_bytes, settings_.chunk_bytes};
  if (chunk_data(frame).size() != layout.chunk_length(header->chunk_index)) {
    return protocol_error(
        peer, fmt::format("round {}: chunk {} carries {} bytes, expected {}", header->round,
                          header->chunk_index, chunk_data(frame).size(),
                          layout.chunk_length(header->chunk_index)));
  }
  if (header->clock_us != state->plan.answer_clock_us[requester]) {
    return protocol_error(peer,
                          fmt::format("round {}: CHUNK_DATA clock {} differs from the model's {}",
                                      header->round, format_clock_ms(header->clock_us),
                                      format_clock_ms(state->plan.answer_clock_us[requester])));
  }
  state->answers[requester] = std::move(frame);
  --state->answers_missing;
  pump();
}

void RelayCore::handle_done(PeerIndex peer, const Frame& frame) {
  auto done = decode_done(frame);
  if (phase_ == Phase::kJoining || !done || peers_[peer].verified_owners) {
    return protocol_error(peer, "unexpected or malformed DONE");
  }
  if (!reached_last_round(peer)) {
    return protocol_error(peer, "DONE before its requests reached the last round");
  }
  std::vector<PeerIndex> every_other;
  for (size_t owner = 0; owner < peers_.size(); ++owner) {
    if (owner != peer) every_other.push_back(static_cast<PeerIndex>(owner));
  }
  if (done->verified_owners != every_other) {
    return protocol_error(peer, "DONE must list every other peer's file as verified");
  }
  peers_[peer].verified_owners = done->verified_owners;
  maybe_finish();
}

// A peer may report DONE once it has sent its IDLE for the final round.
bool RelayCore::reached_last_round(PeerIndex peer) const {
  if (phase_ == Phase::kClosing) return true;
  return model_->finished() && !rounds_.empty() && rounds_.back().plan.all_idle() &&
         rounds_.back().request_seen[peer];
}

void RelayCore::pump() {
  while (phase_ == Phase::kExchanging && (forward_next_round() || deliver_next_round())) {
  }
  maybe_finish();
}

bool RelayCore::forward_next_round() {
  if (next_forward_round_ - next_deliver_round_ >= settings_.rounds_in_flight_max) return false;
  if (outbox_.output_backlogged()) return false;
  if (next_forward_round_ - next_deliver_round_ >= rounds_.size()) return false;
  RoundState& state = rounds_[next_forward_round_ - next_deliver_round_];
  if (state.requests_missing > 0) return false;
  const RoundPlan& plan = state.plan;
  for (size_t q = 0; q < plan.requests.size(); ++q) {
    const PlannedRequest& request = plan.requests[q];
    if (request.idle) continue;
    outbox_.send(peers_[request.target].conn,
                 encode(RequestMessage{plan.round, static_cast<PeerIndex>(q), request.chunk_index,
                                       plan.forward_clock_us[q]}));
  }
  state.forwarded = true;
  ++next_forward_round_;
  return true;
}

bool RelayCore::deliver_next_round() {
  if (rounds_.empty() || !rounds_.front().forwarded || rounds_.front().answers_missing > 0) {
    return false;
  }
  RoundState& state = rounds_.front();
  const RoundPlan& plan = state.plan;
  for (size_t q = 0; q < plan.requests.size(); ++q) {
    const PlannedRequest& request = plan.requests[q];
    if (request.idle) continue;
    Frame frame = std::move(*state.answers[q]);
    rewrite_chunk_frame(
        frame, FrameType::kSendChunk,
        ChunkHeader{plan.round, request.target, request.chunk_index, plan.delivery_clock_us[q]});
    peers_[q].bytes_received += chunk_data(frame).size();
    ++peers_[q].chunks_received;
    outbox_.send(peers_[q].conn, std::move(frame));
  }
  log_round(state);
  clocks_us_ = plan.clocks_after_us;
  if (plan.all_idle()) phase_ = Phase::kClosing;
  rounds_.pop_front();
  ++next_deliver_round_;
  return true;
}

// Canonical order: round, then step, then client ID (SPEC section 5).
void RelayCore::log_round(const RoundState& state) {
  const RoundPlan& plan = state.plan;
  const auto& requests = plan.requests;
  auto each_request = [&](auto&& write) {
    for (size_t q = 0; q < requests.size(); ++q) {
      if (!requests[q].idle) write(peer_letter(static_cast<PeerIndex>(q)), requests[q], q);
    }
  };
  const std::string round_tag = fmt::format("(round {})", plan.round);
  for (size_t q = 0; q < requests.size(); ++q) {
    char who = peer_letter(static_cast<PeerIndex>(q));
    outbox_.log(line(plan.request_clock_us[q],
                     requests[q].idle ? fmt::format("IDLE {} {}", who, round_tag)
                                      : fmt::format("REQUEST_CHUNK {} asks {} for chunk {} {}", who,
                                                    peer_letter(requests[q].target),
                                                    requests[q].chunk_index, round_tag)));
  }
  if (plan.all_idle()) {
    outbox_.log(line(max_clock(), fmt::format("every request IDLE: exchange complete after {} "
                                              "rounds {}",
                                              plan.round, round_tag)));
    return;
  }
  outbox_.log(
      line(plan.request_sync_us,
           fmt::format("sync clocks to {} {}", format_clock_ms(plan.request_sync_us), round_tag)));
  each_request([&](char who, const PlannedRequest& r, size_t q) {
    outbox_.log(line(plan.forward_clock_us[q],
                     fmt::format("forward REQUEST_CHUNK {} -> {}: chunk {} {}", who,
                                 peer_letter(r.target), r.chunk_index, round_tag)));
  });
  each_request([&](char who, const PlannedRequest& r, size_t q) {
    outbox_.log(line(plan.answer_clock_us[q],
                     fmt::format("CHUNK_DATA {} -> {}: chunk {} of {} {}", peer_letter(r.target),
                                 who, r.chunk_index, peer_letter(r.target), round_tag)));
  });
  outbox_.log(
      line(plan.answer_sync_us,
           fmt::format("sync clocks to {} {}", format_clock_ms(plan.answer_sync_us), round_tag)));
  each_request([&](char who, const PlannedRequest& r, size_t q) {
    outbox_.log(line(plan.delivery_clock_us[q],
                     fmt::format("SEND_CHUNK {} -> {}: chunk {} of {} {}", peer_letter(r.target),
                                 who, r.chunk_index, peer_letter(r.target), round_tag)));
  });
}

void RelayCore::maybe_finish() {
  if (phase_ != Phase::kClosing) return;
  bool everyone_done = std::all_of(peers_.begin(), peers_.end(),
                                   [](const PeerSlot& slot) { return slot.verified_owners; });
  if (!everyone_done) return;
  RelayOutcome outcome;
  outcome.success = true;
  outcome.rounds = next_deliver_round_ - 1;  // the last, all-IDLE round moved nothing
  outcome.final_clocks_us = clocks_us_;
  outcome.rejected_connections = rejections_.size();
  for (const PeerSlot& slot : peers_) {
    outcome.files.push_back(*slot.file);
    outcome.verified_owners.push_back(*slot.verified_owners);
    outbox_.log(
        line(max_clock(), fmt::format("DONE {}: {} files verified",
                                      peer_letter(static_cast<PeerIndex>(&slot - peers_.data())),
                                      slot.verified_owners->size())));
  }
  log_rejections();
  outbox_.log(line(max_clock(), "final clocks " + format_clocks(clocks_us_)));
  for (const PeerSlot& slot : peers_) outbox_.send(slot.conn, encode(FinalMessage{clocks_us_}));
  phase_ = Phase::kFinished;
  close_all();
  outbox_.finished(outcome);
}

void RelayCore::protocol_error(PeerIndex peer, const std::string& what) {
  if (phase_ == Phase::kJoining) return release_slot(peer, "protocol error: " + what);
  fail(fmt::format("protocol error from client {}: {}", peer_letter(peer), what), peer);
}

// Any fault of a peer ends the exchange: without its chunks nobody can finish.
// Every peer is told why, and nothing is left waiting.
void RelayCore::fail(const std::string& why, std::optional<PeerIndex> culprit) {
  if (phase_ == Phase::kFinished) return;
  ClockUs clock = culprit && *culprit < clocks_us_.size() ? clocks_us_[*culprit] : max_clock();
  outbox_.log(line(clock, "error: " + why));
  log_rejections();
  outbox_.log(line(max_clock(), "exchange abandoned"));
  outbox_.notice("error: " + why);
  Frame error = encode_error(why + "; the exchange cannot go on");
  for (const PeerSlot& slot : peers_) {
    if (slot.conn != 0) outbox_.send(slot.conn, error);
  }
  phase_ = Phase::kFinished;
  close_all();
  RelayOutcome outcome;
  outcome.failure = why;
  outcome.rounds = next_deliver_round_;
  outcome.final_clocks_us = clocks_us_;
  outcome.rejected_connections = rejections_.size();
  outbox_.finished(outcome);
}

void RelayCore::close_all() {
  for (const PeerSlot& slot : peers_) {
    if (slot.conn != 0) outbox_.close(slot.conn);
  }
}

void RelayCore::log_rejections() {
  for (size_t i = 0; i < rejections_.size(); ++i) {
    outbox_.log(
        line(max_clock(), fmt::format("rejected connection {}: {}", i + 1, rejections_[i])));
  }
}

RelayProgress RelayCore::progress() const {
  RelayProgress progress;
  progress.rounds_delivered = next_deliver_round_;
  progress.rounds_total = rounds_total_;
  for (size_t i = 0; i < peers_.size(); ++i) {
    progress.chunks_received.push_back(peers_[i].chunks_received);
    progress.bytes_received.push_back(peers_[i].bytes_received);
    uint64_t needed = 0;
    if (model_) {
      for (size_t o = 0; o < peers_.size(); ++o) {
        if (o != i) needed += model_->chunk_counts()[o];
      }
    }
    progress.chunks_needed.push_back(needed);
  }
  return progress;
}

}  // namespace chunkex
