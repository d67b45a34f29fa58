#include "common/peer_core.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log_format.h"

namespace chunkex {

PeerCore::PeerCore(PeerSettings settings, ChunkStore& store, PeerOutbox& outbox)
    : window_(settings.window),
      idle_timeout_s_(settings.idle_timeout_s),
      handshake_timeout_s_(settings.handshake_timeout_s),
      auth_(std::move(settings.auth)),
      store_(store),
      outbox_(outbox) {}

void PeerCore::on_time(TimeMs now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  if (first_frame_deadline_ms_ && *first_frame_deadline_ms_ <= now_ms_) {
    return on_first_frame_deadline();
  }
  if (next_deadline_ms() <= now_ms_) on_idle_deadline();
}

// The peer speaks first: a relay gives a slot only to a connection that
// said HELLO, so silent connections never keep a real peer out.
void PeerCore::on_connected() {
  first_frame_deadline_ms_ = now_ms_ + seconds_to_ms(handshake_timeout_s_);
  outbox_.send(encode_hello());
}

void PeerCore::on_first_frame_deadline() {
  first_frame_deadline_ms_.reset();
  fail(fmt::format("the server sent nothing within {} s of the connection: is a chunkex server "
                   "listening there?",
                   handshake_timeout_s_),
       false);
}

// Only while the exchange runs and no peer is away: before ROSTER the others
// may take as long as they like to join, and while the server waits for a
// peer that left it has nothing to say (it gives up on that peer itself).
TimeMs PeerCore::next_deadline_ms() const {
  if (phase_ == Phase::kFinished) return kNoDeadline;
  if (first_frame_deadline_ms_) return *first_frame_deadline_ms_;
  if (!exchanging() || waiting_for_peer()) return kNoDeadline;
  return last_frame_ms_ + 2 * seconds_to_ms(idle_timeout_s_);
}

std::string PeerCore::line(ClockUs clock_us, const std::string& event) const {
  return format_log_line(clock_us, self_ ? peer_name(*self_) : std::string("?"), event);
}

// The model runs up to `window_` rounds ahead; the clock that belongs in an
// event line is the one at the end of the last completed round.
ClockUs PeerCore::clock() const {
  return completed_clock_us_;
}

void PeerCore::on_frame(Frame frame) {
  if (phase_ == Phase::kFinished) return;
  last_frame_ms_ = now_ms_;
  first_frame_deadline_ms_.reset();
  try {
    switch (frame.type) {
      case FrameType::kChallenge:
        return handle_challenge(frame);
      case FrameType::kAuthOk:
        return handle_auth_ok(frame);
      case FrameType::kFlag:
        return handle_flag(frame);
      case FrameType::kRoster:
        return handle_roster(frame);
      case FrameType::kRequestChunk:
        return handle_forward(frame);
      case FrameType::kSendChunk:
        return handle_send_chunk(frame);
      case FrameType::kFinal:
        return handle_final(frame);
      case FrameType::kRefetch:
        return handle_refetch(frame);
      case FrameType::kPeerStatus:
        return handle_peer_status(frame);
      case FrameType::kError:
        return fail("server reported: " + decode_error(frame), false);
      default:
        return protocol_error(
            fmt::format("the server may not send {}", frame_type_name(frame.type)));
    }
  } catch (const std::runtime_error& error) {
    // Storage failures (disk full, file vanished): this peer cannot go on.
    fail(error.what(), true);
  }
}

void PeerCore::on_stream_error(const std::string& what) {
  protocol_error(what);
}

void PeerCore::on_disconnect() {
  if (phase_ == Phase::kFinished) return;
  connection_lost_ = true;
  fail("lost the connection to the server (it stopped, crashed or was cut off)", false);
}

bool PeerCore::waiting_for_peer() const {
  return std::find(peer_away_.begin(), peer_away_.end(), true) != peer_away_.end();
}

void PeerCore::on_idle_deadline() {
  fail(fmt::format("the server sent nothing for {} s", 2 * idle_timeout_s_), true);
}

void PeerCore::on_shutdown(const std::string& why) {
  if (phase_ == Phase::kFinished) return;
  fail("stopped: " + why, true);
}

void PeerCore::on_local_failure(const std::string& why) {
  fail(why, true);
}

void PeerCore::handle_challenge(const Frame& frame) {
  auto nonce = decode_challenge(frame);
  if (phase_ != Phase::kAwaitFlag || server_proved_token_ || !nonce) {
    return protocol_error("unexpected or malformed CHALLENGE");
  }
  if (auth_.token.empty()) {
    return fail("the server requires a token: give --token or set CHUNKEX_TOKEN", true);
  }
  server_nonce_ = *nonce;
  client_nonce_ = auth_.make_nonce();
  outbox_.send(
      encode(AuthMessage{client_nonce_, client_proof(auth_.token, server_nonce_, client_nonce_)}));
  phase_ = Phase::kAwaitAuthOk;
}

void PeerCore::handle_auth_ok(const Frame& frame) {
  auto proof = decode_auth_ok(frame);
  if (phase_ != Phase::kAwaitAuthOk || !proof) {
    return protocol_error("unexpected or malformed AUTH_OK");
  }
  if (!proofs_equal(*proof, server_proof(auth_.token, client_nonce_, server_nonce_))) {
    return fail("the server could not prove it knows the token", true);
  }
  server_proved_token_ = true;
  phase_ = Phase::kAwaitFlag;
}

void PeerCore::handle_flag(const Frame& frame) {
  auto flag = decode_flag(frame);
  if (phase_ != Phase::kAwaitFlag || !flag) return protocol_error("unexpected or malformed FLAG");
  if (!auth_.token.empty() && !server_proved_token_) {
    // Going on would hand our file to whoever answers at that address.
    return fail("a token is set but the server never asked for it; refusing to go on", true);
  }
  peer_count_ = flag->peer_count;
  chunk_bytes_ = flag->chunk_bytes;
  bool returning = flag->returning_slots != 0;
  self_ = returning ? choose_returning_slot(*flag) : flag->peer;
  // Said before the own file is hashed (a second or more for a large file):
  // whoever starts clients in turn, waiting for each to join so that IDs
  // follow that order, can start the next one now, and the hashes overlap.
  if (!returning) {
    outbox_.notice(fmt::format("joined as client {} of {}", peer_letter(*self_), peer_count_));
  }
  own_file_ = store_.open_own_file(*self_);
  FileLayout layout{own_file_.size_bytes, chunk_bytes_};
  if (!chunk_count_fits(layout)) {
    return fail("own file has more chunks than the protocol can number", true);
  }
  AnnounceMessage announce{own_file_, ResumeClaim{}};
  if (returning) {
    announce.resume.peer = *self_;
    auto saved = store_.saved_progress(*self_);
    if (saved && saved->own == own_file_) {
      announce.resume.exchange = saved->exchange;
      announce.resume.rounds_completed = saved->rounds_completed;
    }
    outbox_.notice(fmt::format("coming back as client {} of {} ({} rounds completed before)",
                               peer_letter(*self_), peer_count_, announce.resume.rounds_completed));
  }
  claim_ = announce.resume;
  outbox_.send(encode(announce));
  phase_ = Phase::kAwaitRoster;
}

// The server lists the slots that wait for their peer and offers one. A
// peer that saved progress as the offered slot, or else as another waiting
// one, takes that; otherwise the offer.
PeerIndex PeerCore::choose_returning_slot(const FlagMessage& flag) {
  std::vector<PeerIndex> saved = store_.slots_with_saved_progress();
  auto waiting = [&](PeerIndex peer) {
    return peer < flag.peer_count && ((flag.returning_slots >> peer) & 1u) != 0;
  };
  if (std::find(saved.begin(), saved.end(), flag.peer) != saved.end()) return flag.peer;
  for (PeerIndex peer : saved) {
    if (waiting(peer)) return peer;
  }
  return flag.peer;
}

void PeerCore::handle_roster(const Frame& frame) {
  auto roster = decode_roster(frame);
  if (phase_ != Phase::kAwaitRoster || !roster || roster->files.size() != peer_count_ ||
      !(roster->files[*self_] == own_file_)) {
    return protocol_error("unexpected or malformed ROSTER");
  }
  Sha256Digest exchange = exchange_digest(*roster, chunk_bytes_);
  resume_ = roster->resume;
  bool resuming = resume_.resume_round > 0;
  if (resuming && (claim_.exchange != exchange || resume_.resume_round > claim_.rounds_completed)) {
    return protocol_error(fmt::format("ROSTER resumes this peer at round {}, which it never saved",
                                      resume_.resume_round));
  }
  // Saved first: should this run die before its first round, the next one
  // comes back to the same point.
  store_.begin_progress(SavedProgress{*self_, own_file_, exchange, resume_.resume_round});
  log_joined(*roster);
  std::vector<uint32_t> chunk_counts;
  for (const FileAnnouncement& file : roster->files) {
    chunk_counts.push_back(
        static_cast<uint32_t>(FileLayout{file.size_bytes, chunk_bytes_}.chunk_count()));
  }
  model_.emplace(chunk_counts, roster->costs);
  peer_away_.assign(peer_count_, false);
  phase_ = Phase::kExchanging;
  open_incoming_files(*roster, resuming);
  if (phase_ != Phase::kExchanging) return;
  if (resuming) {
    outbox_.log(line(clock(), fmt::format("resumed after round {}: {} of {} chunks already "
                                          "received",
                                          resume_.resume_round - 1, progress_.chunks_received,
                                          progress_.chunks_needed)));
  }
  send_requests();
  complete_rounds();
}

// The first lines of the log, the same whether the peer joins or comes back.
void PeerCore::log_joined(const RosterMessage& roster) {
  FileLayout own_layout{own_file_.size_bytes, chunk_bytes_};
  outbox_.log(line(0, fmt::format("FLAG: joined as {} of {}; own file {} bytes, {} chunks, "
                                  "sha256 {}",
                                  peer_letter(*self_), peer_count_, own_file_.size_bytes,
                                  own_layout.chunk_count(), to_hex(own_file_.sha256))));
  for (PeerIndex owner = 0; owner < peer_count_; ++owner) {
    if (owner == *self_) continue;
    const FileAnnouncement& file = roster.files[owner];
    FileLayout layout{file.size_bytes, chunk_bytes_};
    outbox_.log(
        line(0, fmt::format("ROSTER: {} has {} bytes, {} chunks, sha256 {}", peer_letter(owner),
                            file.size_bytes, layout.chunk_count(), to_hex(file.sha256))));
  }
}

// Fresh: every received file starts empty. Resuming: the rounds completed
// before are replayed, and each file keeps the chunks they brought.
void PeerCore::open_incoming_files(const RosterMessage& roster, bool resuming) {
  incoming_.resize(peer_count_);
  for (PeerIndex owner = 0; owner < peer_count_; ++owner) {
    if (owner == *self_) continue;
    const FileAnnouncement& file = roster.files[owner];
    FileLayout layout{file.size_bytes, chunk_bytes_};
    progress_.chunks_needed += layout.chunk_count();
    incoming_[owner].emplace(Incoming{layout, file.sha256, 0});
    if (!resuming) store_.begin_file(owner, file.size_bytes);
  }
  // Empty files are complete before the first round.
  OpenRound nothing;
  for (PeerIndex owner = 0; owner < peer_count_; ++owner) {
    if (incoming_[owner] && incoming_[owner]->layout.chunk_count() == 0) {
      complete_file(owner, nothing, resuming);
    }
  }
  for (std::string& text : nothing.completion_lines) outbox_.log(std::move(text));
  if (!resuming) return;
  replay_completed_rounds(resume_.resume_round);
  for (PeerIndex owner = 0; owner < peer_count_; ++owner) {
    if (!incoming_[owner]) continue;
    Incoming& incoming = *incoming_[owner];
    if (incoming.chunks_received == incoming.layout.chunk_count()) continue;
    store_.resume_file(owner, incoming.layout.size_bytes,
                       incoming.layout.chunk_offset(incoming.chunks_received));
  }
}

// Rounds < `rounds` completed in an earlier run: their chunks are on disk
// and their log lines are written again, exactly as they were.
void PeerCore::replay_completed_rounds(uint64_t rounds) {
  while (model_->next_round() < rounds && phase_ == Phase::kExchanging) {
    OpenRound round;
    round.plan = model_->plan_next_round();
    round.requesters = round.plan.requesters_of(*self_);
    round.served = round.requesters.size();
    round.delivered = true;
    const PlannedRequest& mine = round.plan.requests[*self_];
    if (!mine.idle) {
      Incoming& incoming = *incoming_[mine.target];
      ++incoming.chunks_received;
      ++progress_.chunks_received;
      progress_.bytes_received += incoming.layout.chunk_length(mine.chunk_index);
      if (incoming.chunks_received == incoming.layout.chunk_count()) {
        complete_file(mine.target, round, true);
      }
    }
    log_round(round);
    completed_clock_us_ = round.plan.clocks_after_us[*self_];
    ++next_complete_round_;
  }
}

void PeerCore::complete_file(PeerIndex owner, OpenRound& round, bool replaying) {
  if (!replaying) return finish_incoming(owner, round);
  if (!store_.has_committed_file(owner)) {
    throw std::runtime_error(fmt::format(
        "cannot resume: the file of {} was verified before, but it is gone from the output "
        "directory",
        peer_letter(owner)));
  }
  verified_owners_.push_back(owner);
  ClockUs at = round.plan.requests.empty() ? 0 : round.plan.delivery_clock_us[*self_];
  round.completion_lines.push_back(
      line(at, fmt::format("file of {} complete: {} chunks, sha256 verified", peer_letter(owner),
                           incoming_[owner]->layout.chunk_count())));
}

// Keeps requests for up to `window_` incomplete rounds in flight, sent in
// batches (refill_batch_rounds).
// A returning peer opens at least the rounds the server forwarded before it
// left (they are forwarded to it again); it answered every forward of the
// rounds already delivered, and the server holds its requests up to
// forwarded_rounds.
void PeerCore::send_requests() {
  bool refill = refill_due(rounds_.size(), window_);
  while (
      phase_ == Phase::kExchanging && !model_->finished() &&
      ((refill && rounds_.size() < window_) || model_->next_round() < resume_.forwarded_rounds)) {
    OpenRound round;
    round.plan = model_->plan_next_round();
    round.requesters = round.plan.requesters_of(*self_);
    uint64_t number = round.plan.round;
    if (number < resume_.delivered_rounds) round.served = round.requesters.size();
    const PlannedRequest& mine = round.plan.requests[*self_];
    if (number >= resume_.delivered_rounds && number < resume_.forwarded_rounds) {
      // The server has this request from before.
    } else if (mine.idle) {
      outbox_.send(encode(IdleMessage{round.plan.round}));
    } else {
      outbox_.send(encode(RequestMessage{round.plan.round, mine.target, mine.chunk_index,
                                         round.plan.request_clock_us[*self_]}));
    }
    rounds_.push_back(std::move(round));
  }
}

PeerCore::OpenRound* PeerCore::open_round(uint64_t round) {
  if (round < next_complete_round_ || round >= next_complete_round_ + rounds_.size()) {
    return nullptr;
  }
  return &rounds_[round - next_complete_round_];
}

void PeerCore::handle_forward(const Frame& frame) {
  auto forward = decode_request(frame);
  OpenRound* round = forward && phase_ == Phase::kExchanging ? open_round(forward->round) : nullptr;
  if (!round) return protocol_error("unexpected or malformed forwarded REQUEST_CHUNK");
  const RoundPlan& plan = round->plan;
  // Forwards of a round come in requester-ID order, exactly as planned.
  bool expected = round->served < round->requesters.size() &&
                  round->requesters[round->served] == forward->peer &&
                  plan.requests[forward->peer].chunk_index == forward->chunk_index &&
                  plan.forward_clock_us[forward->peer] == forward->clock_us;
  if (!expected) {
    return protocol_error(
        fmt::format("round {}: forwarded request of {} for chunk {} at clock {} "
                    "does not match the schedule",
                    forward->round, peer_letter(forward->peer), forward->chunk_index,
                    format_clock_ms(forward->clock_us)));
  }
  if (auto problem = store_.own_file_problem()) return fail(*problem, true);
  FileLayout layout{own_file_.size_bytes, chunk_bytes_};
  outbox_.send_own_chunk(FrameType::kChunkData,
                         ChunkHeader{forward->round, forward->peer, forward->chunk_index,
                                     plan.answer_clock_us[forward->peer]},
                         layout.chunk_offset(forward->chunk_index),
                         layout.chunk_length(forward->chunk_index));
  ++round->served;
  complete_rounds();
}

void PeerCore::handle_send_chunk(const Frame& frame) {
  auto header = decode_chunk_header(frame);
  OpenRound* round = header && phase_ == Phase::kExchanging ? open_round(header->round) : nullptr;
  if (!round) return protocol_error("unexpected or malformed SEND_CHUNK");
  const PlannedRequest& mine = round->plan.requests[*self_];
  bool expected = !mine.idle && !round->delivered && mine.target == header->peer &&
                  mine.chunk_index == header->chunk_index &&
                  round->plan.delivery_clock_us[*self_] == header->clock_us;
  ChunkBytes data = received_chunk(frame);
  // Chunks of one owner arrive lowest first, so the digest can run as they land.
  if (!expected || data.size() != incoming_[mine.target]->layout.chunk_length(mine.chunk_index) ||
      incoming_[mine.target]->chunks_received != mine.chunk_index) {
    return protocol_error(
        fmt::format("round {}: SEND_CHUNK chunk {} of {} ({} bytes, clock {}) "
                    "does not match the request",
                    header->round, header->chunk_index, peer_letter(header->peer), data.size(),
                    format_clock_ms(header->clock_us)));
  }
  Incoming& incoming = *incoming_[mine.target];
  store_.write_chunk(mine.target, incoming.layout.chunk_offset(header->chunk_index), data);
  ++incoming.chunks_received;
  ++progress_.chunks_received;
  progress_.bytes_received += data.size();
  round->delivered = true;
  if (incoming.chunks_received == incoming.layout.chunk_count()) {
    finish_incoming(mine.target, *round);
    if (phase_ == Phase::kFinished) return;
  }
  complete_rounds();
}

// The last chunk of `owner`'s file is written: check the digest, then let the
// store give the file its final name. A mismatch keeps the temporary name.
void PeerCore::finish_incoming(PeerIndex owner, OpenRound& round) {
  Incoming& incoming = *incoming_[owner];
  Sha256Digest digest = store_.received_digest(owner);
  ClockUs at = round.plan.requests.empty() ? 0 : round.plan.delivery_clock_us[*self_];
  if (digest != incoming.expected_sha256) {
    return fail(fmt::format("file of {} failed verification: sha256 {} but {} announced {}",
                            peer_letter(owner), to_hex(digest), peer_letter(owner),
                            to_hex(incoming.expected_sha256)),
                true);
  }
  store_.commit_file(owner);
  verified_owners_.push_back(owner);
  round.completion_lines.push_back(
      line(at, fmt::format("file of {} complete: {} chunks, sha256 "
                           "verified",
                           peer_letter(owner), incoming.layout.chunk_count())));
  outbox_.notice(fmt::format("file of {} received and verified", peer_letter(owner)));
}

void PeerCore::complete_rounds() {
  while (phase_ == Phase::kExchanging && !rounds_.empty()) {
    const OpenRound& round = rounds_.front();
    bool idle = round.plan.requests[*self_].idle;
    if (round.served < round.requesters.size() || (!idle && !round.delivered)) break;
    log_round(round);
    completed_clock_us_ = round.plan.clocks_after_us[*self_];
    rounds_.pop_front();
    ++next_complete_round_;
    store_.record_progress(next_complete_round_);
    send_requests();
  }
  if (phase_ != Phase::kExchanging || !rounds_.empty() || !model_->finished()) return;
  std::sort(verified_owners_.begin(), verified_owners_.end());
  outbox_.log(
      line(clock(), fmt::format("DONE: {} files received and verified", verified_owners_.size())));
  outbox_.send(encode(DoneMessage{verified_owners_}));
  phase_ = Phase::kAwaitFinal;
}

// Canonical order within a round: the request, the forwards served (in
// requester-ID order), each chunk sent, then the chunk received.
void PeerCore::log_round(const OpenRound& round) {
  const RoundPlan& plan = round.plan;
  const PlannedRequest& mine = plan.requests[*self_];
  const std::string tag = fmt::format("(round {})", plan.round);
  if (mine.idle) {
    outbox_.log(line(plan.request_clock_us[*self_], "IDLE " + tag));
  } else {
    outbox_.log(line(plan.request_clock_us[*self_],
                     fmt::format("REQUEST_CHUNK chunk {} of {} {}", mine.chunk_index,
                                 peer_letter(mine.target), tag)));
  }
  if (plan.all_idle()) {
    outbox_.log(
        line(plan.request_clock_us[*self_], "every request IDLE: exchange complete " + tag));
    return;
  }
  for (PeerIndex q : round.requesters) {
    outbox_.log(line(plan.forward_clock_us[q],
                     fmt::format("forwarded REQUEST_CHUNK from {}: chunk {} {}", peer_letter(q),
                                 plan.requests[q].chunk_index, tag)));
  }
  for (PeerIndex q : round.requesters) {
    outbox_.log(line(plan.answer_clock_us[q],
                     fmt::format("CHUNK_DATA chunk {} to {} {}", plan.requests[q].chunk_index,
                                 peer_letter(q), tag)));
  }
  if (!mine.idle) {
    outbox_.log(line(
        plan.delivery_clock_us[*self_],
        fmt::format("recv chunk {} of {} {}", mine.chunk_index, peer_letter(mine.target), tag)));
  }
  for (const std::string& text : round.completion_lines) outbox_.log(text);
}

void PeerCore::handle_final(const Frame& frame) {
  auto final_message = decode_final(frame);
  if (phase_ != Phase::kAwaitFinal || !final_message ||
      final_message->clocks_us != model_->clocks_us()) {
    return protocol_error("unexpected FINAL, or final clocks that differ from the model");
  }
  outbox_.log(line(clock(), "final clocks " + format_clocks(final_message->clocks_us)));
  store_.clear_progress();
  phase_ = Phase::kFinished;
  PeerOutcome outcome;
  outcome.success = true;
  outcome.self = self_;
  outcome.final_clocks_us = final_message->clocks_us;
  outcome.verified_owners = verified_owners_;
  outbox_.finished(outcome);
}

// A chunk of this peer's own file for a peer that came back and lost it.
// It is outside the rounds: nothing is logged and no clock moves.
void PeerCore::handle_refetch(const Frame& frame) {
  auto refetch = decode_refetch(frame);
  FileLayout layout{own_file_.size_bytes, chunk_bytes_};
  if (!exchanging() || !refetch || refetch->peer >= peer_count_ || refetch->peer == *self_ ||
      refetch->chunk_index >= layout.chunk_count()) {
    return protocol_error("unexpected or malformed REFETCH");
  }
  if (auto problem = store_.own_file_problem()) return fail(*problem, true);
  outbox_.send_own_chunk(
      FrameType::kRefetchData, ChunkHeader{refetch->round, refetch->peer, refetch->chunk_index, 0},
      layout.chunk_offset(refetch->chunk_index), layout.chunk_length(refetch->chunk_index));
}

void PeerCore::handle_peer_status(const Frame& frame) {
  auto status = decode_peer_status(frame);
  if (!exchanging() || !status || status->peer >= peer_count_ || status->peer == *self_) {
    return protocol_error("unexpected or malformed PEER_STATUS");
  }
  peer_away_[status->peer] = !status->present;
  if (status->present) {
    outbox_.notice(fmt::format("client {} is back", peer_letter(status->peer)));
  } else {
    outbox_.notice(
        fmt::format("client {} lost its connection; the server waits up to {} s for "
                    "it to come back",
                    peer_letter(status->peer), status->grace_s));
  }
}

void PeerCore::protocol_error(const std::string& what) {
  fail("protocol error from the server: " + what, true);
}

void PeerCore::fail(const std::string& why, bool tell_server) {
  if (phase_ == Phase::kFinished) return;
  outbox_.log(line(clock(), "error: " + why));
  if (tell_server) outbox_.send(encode_error(why));
  phase_before_failure_ = phase_;
  phase_ = Phase::kFinished;
  PeerOutcome outcome;
  outcome.failure = why;
  // Once it has announced its file, the relay may have started the exchange
  // with it: coming back is the way on.
  outcome.resumable = model_.has_value() || phase_before_failure_ == Phase::kAwaitRoster;
  outcome.connection_lost = connection_lost_;
  outcome.self = self_;
  outcome.verified_owners = verified_owners_;
  outbox_.finished(outcome);
}

}  // namespace chunkex
