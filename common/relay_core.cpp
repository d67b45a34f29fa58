#include "common/relay_core.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/chunking.h"
#include "common/config.h"
#include "common/log_format.h"

namespace chunkex {
namespace {

std::string describe_request(const PlannedRequest& request) {
  if (request.idle) return "IDLE";
  return fmt::format("chunk {} of {}", request.chunk_index, peer_letter(request.target));
}

}  // namespace

RelayCore::RelayCore(RelaySettings settings, RelayOutbox& outbox)
    : settings_(std::move(settings)),
      outbox_(outbox),
      peers_(settings_.max_clients),
      fetches_(settings_.max_clients) {
  if (settings_.resume_from) restore(*settings_.resume_from);
}

std::string RelayCore::line(ClockUs clock_us, const std::string& event) const {
  return format_log_line(clock_us, kServerComponent, event);
}

ClockUs RelayCore::max_clock() const {
  return clocks_us_.empty() ? 0 : *std::max_element(clocks_us_.begin(), clocks_us_.end());
}

namespace {

// Challenged connections cost a nonce each; a flood of them is capped here.
constexpr size_t kMaxAwaitingAuth = 64;
// Rejection reasons kept for the end of the log; beyond that only counted.
constexpr size_t kMaxRejectionsListed = 100;

}  // namespace

void RelayCore::on_time(TimeMs now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  if (phase_ == Phase::kFinished) return;  // no deadline is left to fire
  // A restored exchange waits for every peer from the first moment it knows.
  if (!grace_deadline_ms_ && exchange_running() && any_absent() && settings_.grace_s > 0) {
    grace_deadline_ms_ = now_ms_ + seconds_to_ms(settings_.grace_s);
  }
  std::vector<ConnId> expired;
  for (const auto& [conn, deadline_ms] : handshake_deadlines_ms_) {
    if (deadline_ms <= now_ms_) expired.push_back(conn);
  }
  for (ConnId conn : expired) {
    handshake_deadlines_ms_.erase(conn);
    on_handshake_deadline(conn);
  }
  if (grace_deadline_ms_ && *grace_deadline_ms_ <= now_ms_) on_grace_expired();
  if (auto stall_ms = stall_deadline_ms(); stall_ms && *stall_ms <= now_ms_) on_stall();
}

TimeMs RelayCore::next_deadline_ms() const {
  if (phase_ == Phase::kFinished) return kNoDeadline;
  TimeMs next = kNoDeadline;
  for (const auto& [conn, deadline_ms] : handshake_deadlines_ms_)
    next = std::min(next, deadline_ms);
  if (grace_deadline_ms_) next = std::min(next, *grace_deadline_ms_);
  if (auto stall_ms = stall_deadline_ms()) next = std::min(next, *stall_ms);
  return next;
}

// While paused the grace period decides, not the stall check.
std::optional<TimeMs> RelayCore::stall_deadline_ms() const {
  if (!exchange_running() || any_absent()) return std::nullopt;
  return last_progress_ms_ + seconds_to_ms(settings_.stall_timeout_s);
}

void RelayCore::send(ConnId conn, Frame frame) {
  queued_output_bytes_ += kFrameHeaderBytes + wire_payload_bytes(frame);
  outbox_.send(conn, std::move(frame));
}

void RelayCore::close(ConnId conn) {
  handshake_deadlines_ms_.erase(conn);
  outbox_.close(conn);
}

void RelayCore::on_output_queued(uint64_t queued_bytes) {
  queued_output_bytes_ = queued_bytes;
  if (phase_ == Phase::kExchanging) pump();
}

void RelayCore::on_connect(ConnId conn) {
  if (!slot_open()) return reject_full(conn);
  handshake_deadlines_ms_[conn] = now_ms_ + seconds_to_ms(settings_.handshake_timeout_s);
  if (settings_.token.empty()) return admit(conn);
  // The oldest challenged connection makes room: a real peer answers within
  // a round trip, a flood's connections never do, so refusing newcomers
  // instead would let a flood keep every peer out.
  if (awaiting_auth_.size() >= kMaxAwaitingAuth) {
    reject_unauthenticated(awaiting_auth_.begin()->first,
                           "too many connections are authenticating; the oldest was dropped");
  }
  Nonce nonce = settings_.make_nonce();
  awaiting_auth_[conn] = nonce;
  send(conn, encode_challenge(nonce));
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
  send(conn, encode_auth_ok(server_proof(settings_.token, auth->client_nonce, server_nonce)));
  awaiting_auth_.erase(conn);
  if (!slot_open()) return reject_full(conn);
  admit(conn);
}

void RelayCore::reject_unauthenticated(ConnId conn, const std::string& why) {
  awaiting_auth_.erase(conn);
  reject(conn, why);
}

bool RelayCore::exchange_running() const {
  return phase_ == Phase::kExchanging || phase_ == Phase::kClosing;
}

// While joining: a free slot. Once the exchange runs: a slot whose peer is
// away and that no other newcomer was offered.
bool RelayCore::slot_open() const {
  if (phase_ == Phase::kJoining) return joined_count() < peers_.size();
  return exchange_running() && absent_peers().size() > returning_.size();
}

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

bool RelayCore::any_catching_up() const {
  return std::any_of(peers_.begin(), peers_.end(),
                     [](const PeerSlot& slot) { return slot.catch_up.has_value(); });
}

void RelayCore::reject_full(ConnId conn) {
  reject(conn, fmt::format("server full: all {} client slots are taken", settings_.max_clients));
}

// Gives `conn` the lowest free slot; the caller checked slot_open().
void RelayCore::admit(ConnId conn) {
  if (phase_ != Phase::kJoining) return admit_returning(conn);
  auto free_slot = std::find_if(peers_.begin(), peers_.end(),
                                [](const PeerSlot& slot) { return slot.conn == 0; });
  auto peer = static_cast<PeerIndex>(free_slot - peers_.begin());
  free_slot->conn = conn;
  peer_of_conn_[conn] = peer;
  send(conn, encode(FlagMessage{peer, static_cast<uint8_t>(settings_.max_clients),
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
  send(conn, encode_error(why));
  close(conn);
  peer_of_conn_.erase(conn);
  peers_[peer] = PeerSlot{};
  outbox_.notice(fmt::format("client {} left before the exchange started ({}); slot {} is free",
                             peer_letter(peer), why, peer_letter(peer)));
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

void RelayCore::on_frame(ConnId conn, Frame frame) {
  if (awaiting_auth_.count(conn) && phase_ != Phase::kFinished) return handle_auth(conn, frame);
  if (returning_.count(conn) && phase_ != Phase::kFinished) {
    if (frame.type == FrameType::kAnnounce) return handle_returning_announce(conn, frame);
    return drop_returning(conn,
                          fmt::format("expected ANNOUNCE, got {}", frame_type_name(frame.type)));
  }
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
    case FrameType::kRefetchData:
      return handle_refetch_data(peer, std::move(frame));
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
  if (returning_.count(conn)) return drop_returning(conn, "protocol error: " + what);
  auto found = peer_of_conn_.find(conn);
  if (found == peer_of_conn_.end()) {
    close(conn);
    return;
  }
  protocol_error(found->second, what);
}

void RelayCore::on_disconnect(ConnId conn) {
  handshake_deadlines_ms_.erase(conn);
  awaiting_auth_.erase(conn);
  returning_.erase(conn);
  auto found = peer_of_conn_.find(conn);
  if (found == peer_of_conn_.end() || phase_ == Phase::kFinished) return;
  if (phase_ == Phase::kJoining) return release_slot(found->second, "disconnected");
  if (settings_.grace_s == 0) {
    return fail(fmt::format("client {} disconnected", peer_letter(found->second)), found->second);
  }
  pause_for(found->second);
}

// The peer may come back (a restarted client announcing the same file), so
// its slot waits; whatever it had in flight is forgotten and asked again
// when it returns.
void RelayCore::pause_for(PeerIndex peer) {
  bool was_paused = any_absent();
  peer_of_conn_.erase(peers_[peer].conn);
  peers_[peer].conn = 0;
  ++disconnects_;
  forget_work_of(peer);
  outbox_.log(line(max_clock(),
                   fmt::format("client {} disconnected: exchange paused at round {}; waiting up "
                               "to {} s for it to come back",
                               peer_letter(peer), next_deliver_round_, settings_.grace_s)));
  outbox_.notice(
      fmt::format("client {} disconnected: exchange paused; waiting up to {} s for it "
                  "to come back (restart it on the same file)",
                  peer_letter(peer), settings_.grace_s));
  // Peers that came back wait for their ROSTER and are told nothing else.
  Frame status = encode(PeerStatusMessage{peer, false, settings_.grace_s});
  for (const PeerSlot& slot : peers_) {
    if (slot.conn != 0 && !slot.returning) send(slot.conn, status);
  }
  if (!was_paused) grace_deadline_ms_ = now_ms_ + seconds_to_ms(settings_.grace_s);
}

void RelayCore::forget_work_of(PeerIndex peer) {
  for (size_t i = 0; i < rounds_.size(); ++i) {
    RoundState& state = rounds_[i];
    if (!state.forwarded) {
      // Requests of rounds not yet forwarded: it sends them again.
      if (state.request_seen[peer]) ++state.requests_missing;
      state.request_seen[peer] = false;
      continue;
    }
    // Answers it gave for rounds not yet delivered: it answers again.
    for (size_t q = 0; q < peers_.size(); ++q) {
      const PlannedRequest& request = state.plan.requests[q];
      if (!request.idle && request.target == peer && state.answers[q]) {
        state.answers[q].reset();
        ++state.answers_missing;
      }
    }
  }
  PeerSlot& slot = peers_[peer];
  slot.catch_up.reset();
  slot.returning = false;
  slot.verified_owners.reset();
  for (std::deque<Fetch>& queue : fetches_) {
    std::erase_if(queue, [&](const Fetch& f) { return f.header.peer == peer && !f.sent; });
    for (Fetch& fetch : queue) fetch.stale = fetch.stale || fetch.header.peer == peer;
  }
  // Chunks it was asked to send again are asked again when it is back.
  std::erase_if(fetches_[peer], [](const Fetch& f) { return f.stale; });
  for (Fetch& fetch : fetches_[peer]) fetch.sent = false;
}

void RelayCore::on_grace_expired() {
  grace_deadline_ms_.reset();
  std::vector<PeerIndex> absent = absent_peers();
  if (!exchange_running() || absent.empty()) return;
  std::string names;
  for (PeerIndex peer : absent)
    names += fmt::format("{}{}", names.empty() ? "" : ", ", peer_letter(peer));
  fail(fmt::format("client {} did not come back within {} s", names, settings_.grace_s),
       absent.front());
}

// Offers a newcomer the lowest slot that waits for its peer and that no
// other newcomer was offered. FLAG lists every waiting slot: a client that
// saved progress as one of them claims it in its ANNOUNCE instead.
void RelayCore::admit_returning(ConnId conn) {
  uint32_t waiting = 0;
  std::optional<PeerIndex> offer;
  for (PeerIndex peer : absent_peers()) {
    waiting |= 1u << peer;
    bool offered = std::any_of(returning_.begin(), returning_.end(),
                               [&](const auto& entry) { return entry.second == peer; });
    if (!offer && !offered) offer = peer;
  }
  returning_[conn] = *offer;
  send(conn, encode(FlagMessage{*offer, static_cast<uint8_t>(settings_.max_clients),
                                settings_.chunk_bytes, waiting}));
  outbox_.notice(
      fmt::format("a client connected for a waiting slot (offered {})", peer_letter(*offer)));
}

void RelayCore::drop_returning(ConnId conn, const std::string& why) {
  returning_.erase(conn);
  send(conn, encode_error(why));
  close(conn);
  outbox_.notice("a returning client was turned away: " + why);
}

void RelayCore::handle_returning_announce(ConnId conn, const Frame& frame) {
  auto announce = decode_announce(frame);
  if (!announce) return drop_returning(conn, "malformed ANNOUNCE frame");
  const ResumeClaim& claim = announce->resume;
  PeerIndex peer = claim.peer != kNoClaim ? claim.peer : returning_.at(conn);
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
  returning_.erase(conn);
  handshake_deadlines_ms_.erase(conn);
  PeerSlot& slot = peers_[peer];
  slot.conn = conn;
  peer_of_conn_[conn] = peer;
  slot.returning = true;
  // Progress saved for another exchange (or none) counts for nothing. Rounds
  // it completed past the last delivered one were all idle for it.
  bool same_exchange = claim.peer == peer && claim.exchange == exchange_digest_;
  slot.resume_round = same_exchange ? std::min(claim.rounds_completed, next_deliver_round_) : 0;
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
  RosterMessage roster = roster_of_slots();
  roster.resume = ResumePoint{0, next_deliver_round_, next_forward_round_};
  for (size_t p = 0; p < peers_.size(); ++p) {
    PeerSlot& slot = peers_[p];
    if (!slot.returning) continue;
    auto peer = static_cast<PeerIndex>(p);
    roster.resume.resume_round = slot.resume_round;
    send(slot.conn, encode(roster));
    if (slot.resume_round < next_deliver_round_) {
      CatchUp catch_up{ExchangeModel(model_->chunk_counts(), roster.costs), next_deliver_round_};
      while (catch_up.model.next_round() < slot.resume_round) catch_up.model.plan_next_round();
      slot.catch_up = std::move(catch_up);
    }
    reforward_unanswered(peer);
  }
  // Peers that waited hear who is back; returning ones know from ROSTER.
  for (size_t p = 0; p < peers_.size(); ++p) {
    if (!peers_[p].returning) continue;
    for (const PeerSlot& other : peers_) {
      if (!other.returning) {
        send(other.conn, encode(PeerStatusMessage{static_cast<PeerIndex>(p), true, 0}));
      }
    }
  }
  for (PeerSlot& slot : peers_) slot.returning = false;
  for (size_t p = 0; p < peers_.size(); ++p) refetch_all_unsent(static_cast<PeerIndex>(p));
  outbox_.log(line(max_clock(), fmt::format("exchange resumed at round {}", next_deliver_round_)));
  outbox_.notice(
      fmt::format("everyone is back: exchange resumed at round {}", next_deliver_round_));
  grace_deadline_ms_.reset();
  note_progress();
  pump();
}

void RelayCore::reforward_unanswered(PeerIndex target) {
  for (RoundState& state : rounds_) {
    if (!state.forwarded) break;
    const RoundPlan& plan = state.plan;
    for (size_t q = 0; q < plan.requests.size(); ++q) {
      const PlannedRequest& request = plan.requests[q];
      if (!request.idle && request.target == target && !state.answers[q]) send_forward(plan, q);
    }
  }
}

// Requester q's request of `plan`, forwarded to its target.
void RelayCore::send_forward(const RoundPlan& plan, size_t q) {
  const PlannedRequest& request = plan.requests[q];
  send(peers_[request.target].conn,
       encode(RequestMessage{plan.round, static_cast<PeerIndex>(q), request.chunk_index,
                             plan.forward_clock_us[q]}));
}

void RelayCore::refetch_all_unsent(PeerIndex target) {
  if (peers_[target].conn == 0) return;
  for (Fetch& fetch : fetches_[target]) {
    if (fetch.sent) continue;
    send(peers_[target].conn, encode_refetch(ChunkHeader{fetch.header.round, fetch.header.peer,
                                                         fetch.header.chunk_index, 0}));
    fetch.sent = true;
  }
}

// In lock step everyone falls silent when one peer stalls, so silence alone
// does not name the culprit; what the oldest open round still waits for does.
void RelayCore::on_stall() {
  std::vector<PeerIndex> culprits = peers_holding_up_exchange();
  if (culprits.empty()) return note_progress();  // waiting on our own output, not on a peer
  uint32_t stalled_s = settings_.stall_timeout_s;
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
    if (any_catching_up()) {
      // A catch-up waits for the REFETCHed chunks, or for more requests.
      bool owes_chunks = std::any_of(fetches_[p].begin(), fetches_[p].end(),
                                     [](const Fetch& fetch) { return fetch.sent; });
      holding_up = owes_chunks || (peers_[p].catch_up && peers_[p].catch_up->fetches_owed == 0);
    } else if (phase_ == Phase::kClosing) {
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
  if (returning_.count(conn))
    return drop_returning(conn, "no ANNOUNCE before the handshake deadline");
  auto found = peer_of_conn_.find(conn);
  if (found == peer_of_conn_.end() || phase_ != Phase::kJoining || peers_[found->second].file) {
    return;
  }
  release_slot(found->second, "no ANNOUNCE before the handshake deadline");
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
  if (!chunk_count_fits(FileLayout{announce->file.size_bytes, settings_.chunk_bytes})) {
    return protocol_error(peer, "announced file has more chunks than the protocol can number");
  }
  peers_[peer].file = announce->file;
  handshake_deadlines_ms_.erase(peers_[peer].conn);
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
  for (const PeerSlot& slot : peers_) send(slot.conn, roster_frame);
  outbox_.notice(fmt::format("exchange started: at least {} rounds", rounds_total_));
  note_progress();
}

// What a new exchange and a resumed one share: the model and the log's head.
void RelayCore::begin_exchange(const RosterMessage& roster) {
  std::vector<uint32_t> chunk_counts;
  for (size_t i = 0; i < peers_.size(); ++i) {
    const FileAnnouncement& file = roster.files[i];
    FileLayout layout{file.size_bytes, settings_.chunk_bytes};
    chunk_counts.push_back(static_cast<uint32_t>(layout.chunk_count()));
    outbox_.log(line(0, fmt::format("join {}: {} bytes, {} chunks, sha256 {}",
                                    peer_letter(static_cast<PeerIndex>(i)), file.size_bytes,
                                    layout.chunk_count(), to_hex(file.sha256))));
  }
  model_.emplace(chunk_counts, roster.costs);
  exchange_digest_ = exchange_digest(roster, settings_.chunk_bytes);
  // A bound, not a replay of the whole exchange: announced sizes come from
  // the peers, and replaying 2^32-chunk files would freeze the event loop.
  rounds_total_ = model_->rounds_lower_bound();
  clocks_us_.assign(peers_.size(), 0);
  phase_ = Phase::kExchanging;
  outbox_.log(line(0, fmt::format("start exchange: {} clients, {}-byte chunks, at least {} rounds",
                                  peers_.size(), settings_.chunk_bytes, rounds_total_)));
}

// A restarted server: the log of the rounds already delivered is written
// again from the model (it is a function of the roster alone), and every slot
// waits for its peer.
void RelayCore::restore(const SavedExchange& saved) {
  settings_.costs = saved.roster.costs;
  for (size_t i = 0; i < peers_.size(); ++i) peers_[i].file = saved.roster.files[i];
  begin_exchange(saved.roster);
  while (!model_->finished() && model_->next_round() < saved.delivered_rounds) {
    RoundPlan plan = model_->plan_next_round();
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
  next_deliver_round_ = next_forward_round_ = model_->next_round();
  if (model_->finished()) phase_ = Phase::kClosing;
  saved_ = SavedExchange{saved.roster, next_deliver_round_};
  outbox_.persist(saved_);
  outbox_.log(line(max_clock(), fmt::format("server restarted: resuming after round {}; waiting "
                                            "for every client to come back",
                                            next_deliver_round_)));
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
  const std::optional<CatchUp>& catch_up = peers_[peer].catch_up;
  if (phase_ != Phase::kExchanging && !catch_up) {
    return protocol_error(peer, fmt::format("{} out of order", frame_type_name(frame.type)));
  }
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
  if (catch_up && round < catch_up->end_round) {
    return handle_catch_up_request(peer, round, sent, clock_us);
  }
  if (phase_ != Phase::kExchanging) {
    return protocol_error(peer, fmt::format("{} out of order", frame_type_name(frame.type)));
  }
  record_request(peer, round, sent, clock_us);
}

// A returning peer asks again, in order, for the rounds the others already
// finished. Each chunk it asks for is fetched again from its owner; nothing
// is logged (those rounds are in the log already) and no clock moves.
void RelayCore::handle_catch_up_request(PeerIndex peer, uint64_t round, const PlannedRequest& sent,
                                        ClockUs clock_us) {
  CatchUp& catch_up = *peers_[peer].catch_up;
  if (round != catch_up.model.next_round()) {
    return protocol_error(peer, fmt::format("catching up: request for round {}, expected round {}",
                                            round, catch_up.model.next_round()));
  }
  RoundPlan plan = catch_up.model.plan_next_round();
  const PlannedRequest& planned = plan.requests[peer];
  if (!(sent == planned) || (!sent.idle && clock_us != plan.request_clock_us[peer])) {
    return protocol_error(peer,
                          fmt::format("catching up: round {}: sent {}, the schedule says {}", round,
                                      describe_request(sent), describe_request(planned)));
  }
  if (!planned.idle) {
    fetches_[planned.target].push_back(
        Fetch{ChunkHeader{round, peer, planned.chunk_index, plan.delivery_clock_us[peer]}});
    ++catch_up.fetches_owed;
    refetch_all_unsent(planned.target);
  }
  if (catch_up.done()) {
    peers_[peer].catch_up.reset();
    pump();
  }
}

void RelayCore::handle_refetch_data(PeerIndex peer, Frame frame) {
  auto header = decode_chunk_header(frame);
  std::deque<Fetch>& queue = fetches_[peer];
  bool expected = header && !queue.empty() && queue.front().sent &&
                  queue.front().header.round == header->round &&
                  queue.front().header.peer == header->peer &&
                  queue.front().header.chunk_index == header->chunk_index;
  if (!expected) return protocol_error(peer, "REFETCH_DATA that was not asked for");
  FileLayout layout{peers_[peer].file->size_bytes, settings_.chunk_bytes};
  if (chunk_data_bytes(frame) != layout.chunk_length(header->chunk_index)) {
    return protocol_error(peer, fmt::format("REFETCH_DATA chunk {} carries {} bytes, expected {}",
                                            header->chunk_index, chunk_data_bytes(frame),
                                            layout.chunk_length(header->chunk_index)));
  }
  Fetch fetch = queue.front();
  queue.pop_front();
  if (fetch.stale) return;  // its requester left again
  PeerIndex requester = fetch.header.peer;
  rewrite_chunk_frame(
      frame, FrameType::kSendChunk,
      ChunkHeader{fetch.header.round, peer, fetch.header.chunk_index, fetch.header.clock_us});
  PeerSlot& slot = peers_[requester];
  ++chunks_refetched_;
  refetched_bytes_ += chunk_data_bytes(frame);
  note_progress();
  send(slot.conn, std::move(frame));
  --slot.catch_up->fetches_owed;
  if (slot.catch_up->done()) {
    slot.catch_up.reset();
    pump();
  }
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
  if (chunk_data_bytes(frame) != layout.chunk_length(header->chunk_index)) {
    return protocol_error(
        peer, fmt::format("round {}: chunk {} carries {} bytes, expected {}", header->round,
                          header->chunk_index, chunk_data_bytes(frame),
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
  if (peers_[peer].catch_up) return false;
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
  if (any_absent()) return false;
  if (next_forward_round_ - next_deliver_round_ >= settings_.rounds_in_flight_max) return false;
  if (queued_output_bytes_ > settings_.queued_output_bytes_max) return false;
  if (next_forward_round_ - next_deliver_round_ >= rounds_.size()) return false;
  RoundState& state = rounds_[next_forward_round_ - next_deliver_round_];
  if (state.requests_missing > 0) return false;
  const RoundPlan& plan = state.plan;
  for (size_t q = 0; q < plan.requests.size(); ++q) {
    if (!plan.requests[q].idle) send_forward(plan, q);
  }
  state.forwarded = true;
  ++next_forward_round_;
  return true;
}

// Not while a peer is away or catching up: a returning peer must get the
// chunks it lost before newer ones of the same owner (it hashes each file in
// order).
bool RelayCore::deliver_next_round() {
  if (rounds_.empty() || !rounds_.front().forwarded || rounds_.front().answers_missing > 0 ||
      any_absent() || any_catching_up()) {
    return false;
  }
  RoundState state = std::move(rounds_.front());
  rounds_.pop_front();
  const RoundPlan& plan = state.plan;
  log_round(plan);
  clocks_us_ = plan.clocks_after_us;
  if (plan.all_idle()) phase_ = Phase::kClosing;
  ++next_deliver_round_;
  // Saved before a chunk of the round can reach a peer, so that no peer
  // ever completes a round a restarted server would not know was delivered.
  saved_.delivered_rounds = next_deliver_round_;
  outbox_.persist(saved_);
  note_progress();
  for (size_t q = 0; q < plan.requests.size(); ++q) {
    const PlannedRequest& request = plan.requests[q];
    if (request.idle) continue;
    Frame frame = std::move(*state.answers[q]);
    rewrite_chunk_frame(
        frame, FrameType::kSendChunk,
        ChunkHeader{plan.round, request.target, request.chunk_index, plan.delivery_clock_us[q]});
    peers_[q].bytes_received += chunk_data_bytes(frame);
    ++peers_[q].chunks_received;
    send(peers_[q].conn, std::move(frame));
  }
  return true;
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

void RelayCore::maybe_finish() {
  if (phase_ != Phase::kClosing || any_absent() || any_catching_up()) return;
  bool everyone_done = std::all_of(peers_.begin(), peers_.end(),
                                   [](const PeerSlot& slot) { return slot.verified_owners; });
  if (!everyone_done) return;
  RelayOutcome outcome;
  outcome.success = true;
  outcome.rounds = next_deliver_round_ - 1;  // the last, all-IDLE round moved nothing
  outcome.final_clocks_us = clocks_us_;
  outcome.rejected_connections = rejections_total_;
  outcome.disconnects = disconnects_;
  outcome.reconnects = reconnects_;
  outcome.refetched_bytes = refetched_bytes_;
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
  for (const PeerSlot& slot : peers_) send(slot.conn, encode(FinalMessage{clocks_us_}));
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
    if (slot.conn != 0) send(slot.conn, error);
  }
  phase_ = Phase::kFinished;
  close_all();
  RelayOutcome outcome;
  outcome.failure = why;
  outcome.rounds = next_deliver_round_;
  outcome.final_clocks_us = clocks_us_;
  outcome.rejected_connections = rejections_total_;
  outcome.disconnects = disconnects_;
  outcome.reconnects = reconnects_;
  outcome.refetched_bytes = refetched_bytes_;
  outbox_.finished(outcome);
}

void RelayCore::close_all() {
  for (const PeerSlot& slot : peers_) {
    if (slot.conn != 0) close(slot.conn);
  }
  for (const auto& [conn, offered] : returning_) close(conn);
  returning_.clear();
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
  progress.rounds_delivered = next_deliver_round_;
  progress.rounds_total = rounds_total_;
  progress.chunks_refetched = chunks_refetched_;
  progress.paused = exchange_running() && any_absent();
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
