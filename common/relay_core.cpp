#include "common/relay_core.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/chunking.h"
#include "common/config.h"
#include "common/log_format.h"

namespace chunkex {
namespace {

// Rejection reasons kept for the end of the log; beyond that only counted.
constexpr size_t kMaxRejectionsListed = 100;

std::string letters(const std::vector<PeerIndex>& peers) {
  std::string names;
  for (PeerIndex peer : peers)
    names += fmt::format("{}{}", names.empty() ? "" : ", ", peer_letter(peer));
  return names;
}

}  // namespace

RelayCore::RelayCore(RelaySettings settings, RelayOutbox& outbox)
    : settings_(std::move(settings)),
      outbox_(outbox),
      admission_(
          AdmissionSettings{settings_.token, settings_.make_nonce, settings_.handshake_timeout_s}),
      peers_(settings_.max_clients) {
  if (!settings_.resume_from) return;
  if (settings_.grace_s == 0) {
    outbox_.notice(
        "a saved exchange was found, but reconnect_grace_s is 0, so no client would come back "
        "to it: a new exchange starts");
    return;
  }
  restore(*settings_.resume_from);
}

std::string RelayCore::line(ClockUs clock_us, const std::string& event) const {
  return format_log_line(clock_us, kServerComponent, event);
}

ClockUs RelayCore::max_clock() const {
  return clocks_us_.empty() ? 0 : *std::max_element(clocks_us_.begin(), clocks_us_.end());
}

uint64_t RelayCore::rounds_delivered() const {
  return pipeline_ ? pipeline_->next_deliver_round() : 0;
}

// ---- States ----------------------------------------------------------------

void RelayCore::set_exchange_state(ExchangeState next) {
  if (next == state_) return;
  if (!exchange_change_allowed(state_, next)) {
    return fail(fmt::format("internal error: the exchange cannot go from {} to {}",
                            exchange_state_name(state_), exchange_state_name(next)),
                std::nullopt);
  }
  state_ = next;
}

// The state the facts call for, once the exchange runs.
void RelayCore::update_exchange_state() {
  if (!exchange_running()) return;
  if (any_absent()) {
    // A restored exchange waits for everyone until everyone is back.
    return set_exchange_state(state_ == ExchangeState::kRestoredWaiting
                                  ? ExchangeState::kRestoredWaiting
                                  : ExchangeState::kPaused);
  }
  if (recovery_->any_catching_up()) return set_exchange_state(ExchangeState::kCatchingUp);
  set_exchange_state(pipeline_->all_delivered() ? ExchangeState::kClosing
                                                : ExchangeState::kRunning);
}

void RelayCore::set_conn_state(ConnId conn, ConnState next) {
  Connection& connection = conns_.at(conn);
  if (!conn_change_allowed(connection.state, next)) {
    return fail(fmt::format("internal error: a connection cannot go from {} to {}",
                            conn_state_name(connection.state), conn_state_name(next)),
                std::nullopt);
  }
  connection.state = next;
}

ConnState RelayCore::conn_state(ConnId conn) const {
  if (admission_.holds(conn)) return admission_.state_of(conn);
  auto found = conns_.find(conn);
  return found == conns_.end() ? ConnState::kClosed : found->second.state;
}

bool RelayCore::exchange_running() const {
  return state_ != ExchangeState::kJoining && state_ != ExchangeState::kFinished;
}

// ---- Time ------------------------------------------------------------------

void RelayCore::on_time(TimeMs now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  if (finished()) return;  // no deadline is left to fire
  // A restored exchange waits for every peer from the first moment it knows.
  if (state_ == ExchangeState::kRestoredWaiting && !grace_deadline_ms_) {
    grace_deadline_ms_ = now_ms_ + seconds_to_ms(settings_.grace_s);
  }
  for (const AdmissionStep& step : admission_.on_time(now_ms_)) carry_out(step);
  std::vector<ConnId> expired;
  for (const auto& [conn, connection] : conns_) {
    if (connection.handshake_deadline_ms && *connection.handshake_deadline_ms <= now_ms_) {
      expired.push_back(conn);
    }
  }
  for (ConnId conn : expired) on_handshake_deadline(conn);
  if (grace_deadline_ms_ && *grace_deadline_ms_ <= now_ms_) on_grace_expired();
  if (auto stall_ms = stall_deadline_ms(); stall_ms && *stall_ms <= now_ms_) on_stall();
}

TimeMs RelayCore::next_deadline_ms() const {
  if (finished()) return kNoDeadline;
  TimeMs next = admission_.next_deadline_ms();
  for (const auto& [conn, connection] : conns_) {
    if (connection.handshake_deadline_ms) next = std::min(next, *connection.handshake_deadline_ms);
  }
  if (grace_deadline_ms_) next = std::min(next, *grace_deadline_ms_);
  if (auto stall_ms = stall_deadline_ms()) next = std::min(next, *stall_ms);
  return next;
}

// While paused the grace period decides, not the stall check.
std::optional<TimeMs> RelayCore::stall_deadline_ms() const {
  if (!exchange_running() || any_absent()) return std::nullopt;
  return last_progress_ms_ + seconds_to_ms(settings_.stall_timeout_s);
}

void RelayCore::on_handshake_deadline(ConnId conn) {
  const Connection& connection = conns_.at(conn);
  if (connection.state == ConnState::kOffered) {
    return drop_returning(conn, "no ANNOUNCE before the handshake deadline");
  }
  release_slot(connection.peer, "no ANNOUNCE before the handshake deadline");
}

// In lock step everyone falls silent when one peer stalls, so silence alone
// does not name the culprit; what the oldest open round still waits for does.
void RelayCore::on_stall() {
  std::vector<PeerIndex> culprits = peers_holding_up_exchange();
  if (culprits.empty()) return note_progress();  // waiting on our own output, not on a peer
  fail(fmt::format("client {} stalled the exchange: nothing needed from it came in {} s (round {})",
                   letters(culprits), settings_.stall_timeout_s, rounds_delivered()),
       culprits.front());
}

void RelayCore::on_grace_expired() {
  grace_deadline_ms_.reset();
  std::vector<PeerIndex> absent = absent_peers();
  if (!exchange_running() || absent.empty()) return;
  fail(fmt::format("client {} did not come back within {} s", letters(absent), settings_.grace_s),
       absent.front());
}

// ---- Output ----------------------------------------------------------------

void RelayCore::send(ConnId conn, Frame frame) {
  queued_output_bytes_ += kFrameHeaderBytes + wire_payload_bytes(frame);
  outbox_.send(conn, std::move(frame));
}

void RelayCore::close(ConnId conn) {
  outbox_.close(conn);
}

void RelayCore::on_output_queued(uint64_t queued_bytes) {
  queued_output_bytes_ = queued_bytes;
  pump();
}

// ---- Admission -------------------------------------------------------------

void RelayCore::on_connect(ConnId conn) {
  if (finished()) return reject(conn, "the exchange is over");
  if (!slot_open()) return reject_full(conn);
  for (const AdmissionStep& step : admission_.on_connect(conn, now_ms_)) carry_out(step);
}

void RelayCore::carry_out(const AdmissionStep& step) {
  switch (step.kind) {
    case AdmissionStep::Kind::kChallenge:
      return send(step.conn, *step.frame);
    case AdmissionStep::Kind::kAdmit:
      if (step.frame) send(step.conn, *step.frame);
      return admit(step.conn, step.deadline_ms);
    case AdmissionStep::Kind::kReject:
      return reject(step.conn, step.why);
  }
}

// While joining: a free slot. Once the exchange runs: a slot whose peer is
// away and that no other newcomer was offered.
bool RelayCore::slot_open() const {
  if (state_ == ExchangeState::kJoining) return joined_count() < peers_.size();
  if (!exchange_running()) return false;
  size_t offered =
      static_cast<size_t>(std::count_if(conns_.begin(), conns_.end(), [](const auto& entry) {
        return entry.second.state == ConnState::kOffered;
      }));
  return absent_peers().size() > offered;
}

void RelayCore::admit(ConnId conn, TimeMs handshake_deadline_ms) {
  if (!slot_open()) return reject_full(conn);
  if (state_ == ExchangeState::kJoining) return join(conn, handshake_deadline_ms);
  offer_waiting_slot(conn, handshake_deadline_ms);
}

// The lowest free slot: IDs follow the order in which peers spoke HELLO (or
// proved the token).
void RelayCore::join(ConnId conn, TimeMs handshake_deadline_ms) {
  auto free_slot = std::find_if(peers_.begin(), peers_.end(),
                                [](const PeerSlot& slot) { return slot.conn == 0; });
  auto peer = static_cast<PeerIndex>(free_slot - peers_.begin());
  free_slot->conn = conn;
  conns_[conn] = Connection{ConnState::kJoined, peer, handshake_deadline_ms};
  send(conn, encode(FlagMessage{peer, static_cast<uint8_t>(settings_.max_clients),
                                settings_.chunk_bytes}));
  outbox_.notice(fmt::format("client {} joined ({} of {})", peer_letter(peer), joined_count(),
                             settings_.max_clients));
}

// Offers a newcomer the lowest slot that waits for its peer and that no
// other newcomer was offered. FLAG lists every waiting slot: a client that
// saved progress as one of them claims it in its ANNOUNCE instead.
void RelayCore::offer_waiting_slot(ConnId conn, TimeMs handshake_deadline_ms) {
  uint32_t waiting = 0;
  std::optional<PeerIndex> offer;
  for (PeerIndex peer : absent_peers()) {
    waiting |= 1u << peer;
    bool offered = std::any_of(conns_.begin(), conns_.end(), [&](const auto& entry) {
      return entry.second.state == ConnState::kOffered && entry.second.peer == peer;
    });
    if (!offer && !offered) offer = peer;
  }
  conns_[conn] = Connection{ConnState::kOffered, *offer, handshake_deadline_ms};
  send(conn, encode(FlagMessage{*offer, static_cast<uint8_t>(settings_.max_clients),
                                settings_.chunk_bytes, waiting}));
  outbox_.notice(
      fmt::format("a client connected for a waiting slot (offered {})", peer_letter(*offer)));
}

size_t RelayCore::joined_count() const {
  return static_cast<size_t>(std::count_if(peers_.begin(), peers_.end(),
                                           [](const PeerSlot& slot) { return slot.conn != 0; }));
}

void RelayCore::reject_full(ConnId conn) {
  reject(conn, fmt::format("server full: all {} client slots are taken", settings_.max_clients));
}

// A rejection's moment depends on when the stranger connected, so its log
// line waits for the end of the log, where only the count of them matters.
void RelayCore::reject(ConnId conn, const std::string& why) {
  send(conn, encode_error(why));
  close(conn);
  ++rejections_total_;
  if (rejections_.size() < kMaxRejectionsListed) rejections_.push_back(why);
  outbox_.notice(fmt::format("rejected a connection: {}", why));
}

// Before the exchange starts nothing depends on a peer yet, so one that
// leaves or misbehaves only gives its slot (and ID) back to the next comer.
void RelayCore::release_slot(PeerIndex peer, const std::string& why) {
  ConnId conn = peers_[peer].conn;
  send(conn, encode_error(why));
  close(conn);
  conns_.erase(conn);
  peers_[peer] = PeerSlot{};
  outbox_.notice(fmt::format("client {} left before the exchange started ({}); slot {} is free",
                             peer_letter(peer), why, peer_letter(peer)));
}

void RelayCore::handle_announce(ConnId conn, PeerIndex peer, const Frame& frame) {
  auto announce = decode_announce(frame);
  if (!announce) return protocol_error(peer, "malformed ANNOUNCE frame");
  if (!chunk_count_fits(FileLayout{announce->file.size_bytes, settings_.chunk_bytes})) {
    return protocol_error(peer, "announced file has more chunks than the protocol can number");
  }
  peers_[peer].file = announce->file;
  set_conn_state(conn, ConnState::kAnnounced);
  conns_.at(conn).handshake_deadline_ms.reset();
  bool everyone_announced =
      std::all_of(peers_.begin(), peers_.end(), [](const PeerSlot& slot) { return slot.file; });
  if (everyone_announced) start_exchange();
}

// Every slot's file and costs (config may list costs for more clients).
RosterMessage RelayCore::roster_of_slots() const {
  RosterMessage roster;
  for (size_t i = 0; i < peers_.size(); ++i) {
    roster.files.push_back(*peers_[i].file);
    roster.costs.push_back(settings_.costs[i]);
  }
  return roster;
}

void RelayCore::start_exchange() {
  RosterMessage roster = roster_of_slots();
  begin_exchange(roster);
  saved_ = SavedExchange{roster, 0};
  outbox_.persist(saved_);
  Frame roster_frame = encode(roster);
  for (const PeerSlot& slot : peers_) {
    send(slot.conn, roster_frame);
    set_conn_state(slot.conn, ConnState::kExchanging);
  }
  set_exchange_state(ExchangeState::kRunning);
  outbox_.notice(fmt::format("exchange started: at least {} rounds", rounds_total_));
  note_progress();
}

// What a new exchange and a resumed one share: the pipeline, recovery and
// the log's head.
void RelayCore::begin_exchange(const RosterMessage& roster) {
  std::vector<uint32_t> chunk_counts;
  std::vector<FileLayout> layouts;
  for (size_t i = 0; i < peers_.size(); ++i) {
    const FileAnnouncement& file = roster.files[i];
    FileLayout layout{file.size_bytes, settings_.chunk_bytes};
    layouts.push_back(layout);
    chunk_counts.push_back(static_cast<uint32_t>(layout.chunk_count()));
    outbox_.log(line(0, fmt::format("join {}: {} bytes, {} chunks, sha256 {}",
                                    peer_letter(static_cast<PeerIndex>(i)), file.size_bytes,
                                    layout.chunk_count(), to_hex(file.sha256))));
  }
  pipeline_.emplace(chunk_counts, roster.costs, layouts);
  recovery_.emplace(peers_.size(), layouts);
  exchange_digest_ = exchange_digest(roster, settings_.chunk_bytes);
  // A bound, not a replay of the whole exchange: announced sizes come from
  // the peers, and replaying 2^32-chunk files would freeze the event loop.
  rounds_total_ = pipeline_->model().rounds_lower_bound();
  clocks_us_.assign(peers_.size(), 0);
  outbox_.log(line(0, fmt::format("start exchange: {} clients, {}-byte chunks, at least {} rounds",
                                  peers_.size(), settings_.chunk_bytes, rounds_total_)));
}

// ---- Frames ----------------------------------------------------------------

void RelayCore::on_frame(ConnId conn, Frame frame) {
  if (finished()) return;
  if (admission_.holds(conn)) return carry_out(admission_.on_frame(conn, frame));
  auto found = conns_.find(conn);
  if (found == conns_.end()) return;
  const Connection connection = found->second;
  if (frame_allowed(connection.state, frame.type))
    return dispatch(conn, connection, std::move(frame));
  std::string_view type = frame_type_name(frame.type);
  if (connection.state == ConnState::kOffered) {
    return drop_returning(conn, fmt::format("expected ANNOUNCE, got {}", type));
  }
  protocol_error(connection.peer, fmt::format("a client that is {} may not send {}",
                                              conn_state_name(connection.state), type));
}

void RelayCore::dispatch(ConnId conn, const Connection& connection, Frame frame) {
  PeerIndex peer = connection.peer;
  switch (frame.type) {
    case FrameType::kAnnounce:
      if (connection.state == ConnState::kOffered) {
        return handle_returning_announce(conn, peer, frame);
      }
      return handle_announce(conn, peer, frame);
    case FrameType::kRequestChunk:
    case FrameType::kIdle:
      return handle_request(peer, frame);
    case FrameType::kChunkData:
      return handle_chunk_data(peer, std::move(frame));
    case FrameType::kRefetchData:
      return handle_refetch_data(peer, std::move(frame));
    case FrameType::kDone:
      return handle_done(conn, peer, frame);
    case FrameType::kError:
      if (state_ == ExchangeState::kJoining) {
        return release_slot(peer, "reported: " + decode_error(frame));
      }
      return fail(
          fmt::format("client {} reported an error: {}", peer_letter(peer), decode_error(frame)),
          peer);
    default:  // frame_allowed() admits nothing else
      return protocol_error(peer, fmt::format("unexpected {}", frame_type_name(frame.type)));
  }
}

void RelayCore::on_stream_error(ConnId conn, const std::string& what) {
  if (finished()) return close(conn);
  if (admission_.holds(conn)) {
    admission_.forget(conn);
    return reject(conn, "protocol error: " + what);
  }
  auto found = conns_.find(conn);
  if (found == conns_.end()) return close(conn);
  if (found->second.state == ConnState::kOffered) {
    return drop_returning(conn, "protocol error: " + what);
  }
  protocol_error(found->second.peer, what);
}

void RelayCore::on_disconnect(ConnId conn) {
  admission_.forget(conn);
  auto found = conns_.find(conn);
  if (found == conns_.end()) return;
  Connection connection = found->second;
  if (finished() || connection.state == ConnState::kOffered) {
    conns_.erase(found);
    return;
  }
  if (state_ == ExchangeState::kJoining) return release_slot(connection.peer, "disconnected");
  if (settings_.grace_s == 0) {
    return fail(fmt::format("client {} disconnected", peer_letter(connection.peer)),
                connection.peer);
  }
  pause_for(connection.peer);
}

void RelayCore::on_shutdown(const std::string& why) {
  if (finished()) return;
  fail(fmt::format("server stopped: {}", why), std::nullopt);
}

void RelayCore::handle_request(PeerIndex peer, const Frame& frame) {
  uint64_t round = 0;
  PlannedRequest sent;
  ClockUs clock_us = 0;
  if (frame.type == FrameType::kIdle) {
    auto idle = decode_idle(frame);
    if (!idle) return protocol_error(peer, "malformed IDLE frame");
    round = idle->round;
  } else {
    auto request = decode_request(frame);
    if (!request) return protocol_error(peer, "malformed REQUEST_CHUNK frame");
    round = request->round;
    sent = PlannedRequest{false, request->peer, request->chunk_index};
    clock_us = request->clock_us;
  }
  if (recovery_->covers(peer, round)) return handle_catch_up_request(peer, round, sent, clock_us);
  if (pipeline_->all_delivered()) {
    return protocol_error(peer,
                          fmt::format("{} after the last round", frame_type_name(frame.type)));
  }
  if (ProtocolFault fault = pipeline_->record_request(peer, round, sent, clock_us)) {
    return protocol_error(peer, *fault);
  }
  pump();
}

void RelayCore::handle_chunk_data(PeerIndex peer, Frame frame) {
  if (ProtocolFault fault = pipeline_->record_answer(peer, std::move(frame))) {
    return protocol_error(peer, *fault);
  }
  pump();
}

void RelayCore::handle_done(ConnId conn, PeerIndex peer, const Frame& frame) {
  auto done = decode_done(frame);
  if (!done) return protocol_error(peer, "malformed DONE");
  if (!pipeline_->reached_last_round(peer)) {
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
  set_conn_state(conn, ConnState::kDone);
  maybe_finish();
}

// ---- The round pipeline ----------------------------------------------------

void RelayCore::pump() {
  while (forward_next_round() || deliver_next_round()) {
  }
  maybe_finish();
}

// Rounds go on being forwarded while a returning peer catches up (their
// requests are in), but not while a peer is away.
bool RelayCore::forward_next_round() {
  if (state_ != ExchangeState::kRunning && state_ != ExchangeState::kCatchingUp) return false;
  if (queued_output_bytes_ > settings_.queued_output_bytes_max) return false;
  const RoundPlan* plan = pipeline_->forward_next(settings_.rounds_in_flight_max);
  if (!plan) return false;
  for (size_t q = 0; q < plan->requests.size(); ++q) {
    if (!plan->requests[q].idle) send_forward(*plan, static_cast<PeerIndex>(q));
  }
  return true;
}

// Not while a peer is away or catching up: a returning peer must get the
// chunks it lost before newer ones of the same owner (it hashes each file in
// order).
bool RelayCore::deliver_next_round() {
  if (state_ != ExchangeState::kRunning) return false;
  std::optional<DeliveredRound> delivered = pipeline_->deliver_next();
  if (!delivered) return false;
  const RoundPlan& plan = delivered->plan;
  log_round(plan);
  clocks_us_ = plan.clocks_after_us;
  // Saved before a chunk of the round can reach a peer, so that no peer
  // ever completes a round a restarted server would not know was delivered.
  saved_.delivered_rounds = pipeline_->next_deliver_round();
  outbox_.persist(saved_);
  note_progress();
  for (size_t q = 0; q < plan.requests.size(); ++q) {
    const PlannedRequest& request = plan.requests[q];
    if (request.idle) continue;
    Frame frame = std::move(*delivered->answers[q]);
    rewrite_chunk_frame(
        frame, FrameType::kSendChunk,
        ChunkHeader{plan.round, request.target, request.chunk_index, plan.delivery_clock_us[q]});
    peers_[q].bytes_received += chunk_data_bytes(frame);
    ++peers_[q].chunks_received;
    send(peers_[q].conn, std::move(frame));
  }
  update_exchange_state();
  return true;
}

// Requester q's request of `plan`, forwarded to its target.
void RelayCore::send_forward(const RoundPlan& plan, PeerIndex requester) {
  const PlannedRequest& request = plan.requests[requester];
  send(peers_[request.target].conn,
       encode(RequestMessage{plan.round, requester, request.chunk_index,
                             plan.forward_clock_us[requester]}));
}

// Canonical order: round, then step, then client ID (docs/DESIGN.md §4).
void RelayCore::log_round(const RoundPlan& plan) {
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

std::vector<PeerIndex> RelayCore::peers_holding_up_exchange() const {
  std::vector<PeerIndex> culprits;
  for (size_t p = 0; p < peers_.size(); ++p) {
    auto peer = static_cast<PeerIndex>(p);
    bool holding_up;
    if (state_ == ExchangeState::kCatchingUp) {
      // A catch-up waits for the chunks fetched again, or for more requests.
      holding_up = recovery_->owes_chunks(peer) || recovery_->owes_requests(peer);
    } else if (state_ == ExchangeState::kClosing) {
      holding_up = !peers_[p].verified_owners;  // no DONE yet
    } else {
      holding_up = pipeline_->awaits_request_from(peer) || pipeline_->awaits_answer_from(peer);
    }
    if (holding_up) culprits.push_back(peer);
  }
  return culprits;
}

// ---- Recovery --------------------------------------------------------------

bool RelayCore::any_absent() const {
  return std::any_of(peers_.begin(), peers_.end(),
                     [](const PeerSlot& slot) { return slot.conn == 0; });
}

std::vector<PeerIndex> RelayCore::absent_peers() const {
  std::vector<PeerIndex> absent;
  for (size_t p = 0; p < peers_.size(); ++p) {
    if (peers_[p].conn == 0) absent.push_back(static_cast<PeerIndex>(p));
  }
  return absent;
}

// The peer may come back (a restarted client announcing the same file), so
// its slot waits; whatever it had in flight is forgotten and asked again
// when it returns.
void RelayCore::pause_for(PeerIndex peer) {
  bool was_paused = any_absent();
  conns_.erase(peers_[peer].conn);
  peers_[peer].conn = 0;
  peers_[peer].verified_owners.reset();
  ++disconnects_;
  pipeline_->forget_work_of(peer);
  recovery_->forget(peer);
  update_exchange_state();
  outbox_.log(line(max_clock(),
                   fmt::format("client {} disconnected: exchange paused at round {}; waiting up "
                               "to {} s for it to come back",
                               peer_letter(peer), rounds_delivered(), settings_.grace_s)));
  outbox_.notice(
      fmt::format("client {} disconnected: exchange paused; waiting up to {} s for it "
                  "to come back (restart it on the same file)",
                  peer_letter(peer), settings_.grace_s));
  // Peers that came back wait for their ROSTER and are told nothing else.
  Frame status = encode(PeerStatusMessage{peer, false, settings_.grace_s});
  for (const PeerSlot& slot : peers_) {
    if (slot.conn != 0 && conns_.at(slot.conn).state != ConnState::kBack) send(slot.conn, status);
  }
  if (!was_paused) grace_deadline_ms_ = now_ms_ + seconds_to_ms(settings_.grace_s);
}

void RelayCore::drop_returning(ConnId conn, const std::string& why) {
  conns_.erase(conn);
  send(conn, encode_error(why));
  close(conn);
  outbox_.notice("a returning client was turned away: " + why);
}

void RelayCore::handle_returning_announce(ConnId conn, PeerIndex offered, const Frame& frame) {
  auto announce = decode_announce(frame);
  if (!announce) return drop_returning(conn, "malformed ANNOUNCE frame");
  const ResumeClaim& claim = announce->resume;
  PeerIndex peer = claim.peer != kNoClaim ? claim.peer : offered;
  if (peer >= peers_.size() || peers_[peer].conn != 0) {
    return drop_returning(conn, fmt::format("client slot {} is not waiting for a peer",
                                            peer < peers_.size() ? peer_letter(peer) : '?'));
  }
  const FileAnnouncement& expected = *peers_[peer].file;
  if (!(announce->file == expected)) {
    return drop_returning(
        conn, fmt::format("client {} must come back with its own file ({} bytes, sha256 {}); "
                          "this one has {} bytes, sha256 {}",
                          peer_letter(peer), expected.size_bytes, to_hex(expected.sha256),
                          announce->file.size_bytes, to_hex(announce->file.sha256)));
  }
  conns_[conn] = Connection{ConnState::kOffered, peer, std::nullopt};
  set_conn_state(conn, ConnState::kBack);
  PeerSlot& slot = peers_[peer];
  slot.conn = conn;
  // Progress saved for another exchange (or none) counts for nothing. Rounds
  // it completed past the last delivered one were all idle for it.
  bool same_exchange = claim.peer == peer && claim.exchange == exchange_digest_;
  slot.resume_round = same_exchange ? std::min(claim.rounds_completed, rounds_delivered()) : 0;
  ++reconnects_;
  outbox_.log(line(max_clock(), fmt::format("client {} reconnected: it has completed {} rounds",
                                            peer_letter(peer), slot.resume_round)));
  outbox_.notice(fmt::format("client {} is back (it had completed {} rounds)", peer_letter(peer),
                             slot.resume_round));
  if (!any_absent()) resume_exchange();
}

// Everyone is back. Each returning peer learns where it stands; rounds
// forwarded to it before it left are forwarded again, and chunks it lost are
// fetched again from their owners as its catch-up requests come in.
void RelayCore::resume_exchange() {
  std::vector<PeerIndex> returned;
  for (size_t p = 0; p < peers_.size(); ++p) {
    if (conns_.at(peers_[p].conn).state == ConnState::kBack) {
      returned.push_back(static_cast<PeerIndex>(p));
    }
  }
  RosterMessage roster = roster_of_slots();
  uint64_t delivered = rounds_delivered();
  roster.resume = ResumePoint{0, delivered, pipeline_->next_forward_round()};
  for (PeerIndex peer : returned) {
    PeerSlot& slot = peers_[peer];
    roster.resume.resume_round = slot.resume_round;
    send(slot.conn, encode(roster));
    bool lost_rounds = slot.resume_round < delivered;
    if (lost_rounds) {
      ExchangeModel fresh(pipeline_->model().chunk_counts(), roster.costs);
      recovery_->begin_catch_up(peer, fresh, slot.resume_round, delivered);
    }
    set_conn_state(slot.conn, lost_rounds ? ConnState::kCatchingUp : ConnState::kExchanging);
    reforward_unanswered(peer);
  }
  // Peers that waited hear who is back; returning ones know from ROSTER.
  std::vector<bool> stayed(peers_.size(), true);
  for (PeerIndex peer : returned) stayed[peer] = false;
  for (PeerIndex peer : returned) {
    for (size_t other = 0; other < peers_.size(); ++other) {
      if (stayed[other]) send(peers_[other].conn, encode(PeerStatusMessage{peer, true, 0}));
    }
  }
  for (size_t p = 0; p < peers_.size(); ++p) send_refetches(static_cast<PeerIndex>(p));
  update_exchange_state();
  outbox_.log(line(max_clock(), fmt::format("exchange resumed at round {}", delivered)));
  outbox_.notice(fmt::format("everyone is back: exchange resumed at round {}", delivered));
  grace_deadline_ms_.reset();
  note_progress();
  pump();
}

void RelayCore::reforward_unanswered(PeerIndex target) {
  for (const auto& [plan, requester] : pipeline_->unanswered_for(target)) {
    send_forward(*plan, requester);
  }
}

void RelayCore::send_refetches(PeerIndex owner) {
  if (peers_[owner].conn == 0) return;
  for (Frame& refetch : recovery_->take_unsent_refetches(owner)) {
    send(peers_[owner].conn, std::move(refetch));
  }
}

// A returning peer asks again, in order, for the rounds the others already
// finished. Each chunk it asks for is fetched again from its owner; nothing
// is logged (those rounds are in the log already) and no clock moves.
void RelayCore::handle_catch_up_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent,
                                        ClockUs clock_us) {
  if (ProtocolFault fault = recovery_->on_catch_up_request(peer, round, sent, clock_us)) {
    return protocol_error(peer, *fault);
  }
  if (!sent.idle) send_refetches(sent.target);
  end_finished_catch_ups();
}

void RelayCore::handle_refetch_data(PeerIndex peer, Frame frame) {
  std::optional<RefetchedChunk> relay;
  if (ProtocolFault fault = recovery_->on_refetch_data(peer, std::move(frame), relay)) {
    return protocol_error(peer, *fault);
  }
  if (!relay) return;  // its requester left again
  note_progress();
  send(peers_[relay->requester].conn, std::move(relay->send_chunk));
  end_finished_catch_ups();
}

void RelayCore::end_finished_catch_ups() {
  std::vector<PeerIndex> caught_up = recovery_->finish_catch_ups();
  if (caught_up.empty()) return;
  for (PeerIndex peer : caught_up) set_conn_state(peers_[peer].conn, ConnState::kExchanging);
  update_exchange_state();
  pump();
}

// A restarted server: the log of the rounds already delivered is written
// again from the model (it is a function of the roster alone), and every slot
// waits for its peer.
void RelayCore::restore(const SavedExchange& saved) {
  settings_.costs = saved.roster.costs;
  for (size_t i = 0; i < peers_.size(); ++i) peers_[i].file = saved.roster.files[i];
  begin_exchange(saved.roster);
  while (!pipeline_->model().finished() &&
         pipeline_->model().next_round() < saved.delivered_rounds) {
    RoundPlan plan = pipeline_->skip_delivered_round();
    log_round(plan);
    for (size_t q = 0; q < plan.requests.size(); ++q) {
      const PlannedRequest& request = plan.requests[q];
      if (request.idle) continue;
      ++peers_[q].chunks_received;
      peers_[q].bytes_received +=
          FileLayout{peers_[request.target].file->size_bytes, settings_.chunk_bytes}.chunk_length(
              request.chunk_index);
    }
    clocks_us_ = plan.clocks_after_us;
  }
  set_exchange_state(ExchangeState::kRestoredWaiting);
  saved_ = SavedExchange{saved.roster, rounds_delivered()};
  outbox_.persist(saved_);
  outbox_.log(line(max_clock(), fmt::format("server restarted: resuming after round {}; waiting "
                                            "for every client to come back",
                                            rounds_delivered())));
}

// ---- The end ---------------------------------------------------------------

void RelayCore::maybe_finish() {
  if (state_ != ExchangeState::kClosing) return;
  bool everyone_done = std::all_of(peers_.begin(), peers_.end(),
                                   [](const PeerSlot& slot) { return slot.verified_owners; });
  if (!everyone_done) return;
  RelayOutcome result = outcome();
  result.success = true;
  result.rounds = rounds_delivered() - 1;  // the last, all-IDLE round moved nothing
  for (const PeerSlot& slot : peers_) {
    result.files.push_back(*slot.file);
    result.verified_owners.push_back(*slot.verified_owners);
    outbox_.log(
        line(max_clock(), fmt::format("DONE {}: {} files verified",
                                      peer_letter(static_cast<PeerIndex>(&slot - peers_.data())),
                                      slot.verified_owners->size())));
  }
  log_rejections();
  outbox_.log(line(max_clock(), "final clocks " + format_clocks(clocks_us_)));
  for (const PeerSlot& slot : peers_) send(slot.conn, encode(FinalMessage{clocks_us_}));
  set_exchange_state(ExchangeState::kFinished);
  close_all();
  outbox_.finished(result);
}

void RelayCore::protocol_error(PeerIndex peer, const std::string& what) {
  if (state_ == ExchangeState::kJoining) return release_slot(peer, "protocol error: " + what);
  fail(fmt::format("protocol error from client {}: {}", peer_letter(peer), what), peer);
}

// Any fault of a peer ends the exchange: without its chunks nobody can finish.
// Every peer is told why, and nothing is left waiting.
void RelayCore::fail(const std::string& why, std::optional<PeerIndex> culprit) {
  if (finished()) return;
  ClockUs clock = culprit && *culprit < clocks_us_.size() ? clocks_us_[*culprit] : max_clock();
  outbox_.log(line(clock, "error: " + why));
  log_rejections();
  outbox_.log(line(max_clock(), "exchange abandoned"));
  outbox_.notice("error: " + why);
  Frame error = encode_error(why + "; the exchange cannot go on");
  for (const PeerSlot& slot : peers_) {
    if (slot.conn != 0) send(slot.conn, error);
  }
  state_ = ExchangeState::kFinished;
  close_all();
  RelayOutcome result = outcome();
  result.failure = why;
  result.rounds = rounds_delivered();
  outbox_.finished(result);
}

RelayOutcome RelayCore::outcome() const {
  RelayOutcome result;
  result.final_clocks_us = clocks_us_;
  result.rejected_connections = rejections_total_;
  result.disconnects = disconnects_;
  result.reconnects = reconnects_;
  result.refetched_bytes = recovery_ ? recovery_->refetched_bytes() : 0;
  return result;
}

// Every connection the core knows is closed: slots, offers and the
// connections still in their handshake.
void RelayCore::close_all() {
  for (const auto& [conn, connection] : conns_) close(conn);
  conns_.clear();
  for (ConnId conn : admission_.pending()) {
    admission_.forget(conn);
    close(conn);
  }
}

void RelayCore::log_rejections() {
  for (size_t i = 0; i < rejections_.size(); ++i) {
    outbox_.log(
        line(max_clock(), fmt::format("rejected connection {}: {}", i + 1, rejections_[i])));
  }
  if (rejections_total_ > rejections_.size()) {
    outbox_.log(line(max_clock(), fmt::format("rejected {} more connections",
                                              rejections_total_ - rejections_.size())));
  }
}

RelayProgress RelayCore::progress() const {
  RelayProgress progress;
  progress.rounds_delivered = rounds_delivered();
  progress.rounds_total = rounds_total_;
  progress.chunks_refetched = recovery_ ? recovery_->chunks_refetched() : 0;
  progress.paused = any_absent() && exchange_running();
  for (size_t i = 0; i < peers_.size(); ++i) {
    progress.chunks_received.push_back(peers_[i].chunks_received);
    progress.bytes_received.push_back(peers_[i].bytes_received);
    uint64_t needed = 0;
    if (pipeline_) {
      for (size_t o = 0; o < peers_.size(); ++o) {
        if (o != i) needed += pipeline_->model().chunk_counts()[o];
      }
    }
    progress.chunks_needed.push_back(needed);
  }
  return progress;
}

}  // namespace chunkex
