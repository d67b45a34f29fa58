#include "common/peer_core.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace chunkex {

PeerCore::PeerCore(uint32_t window, ChunkStore& store, PeerOutbox& outbox, PeerAuth auth)
    : window_(window), auth_(std::move(auth)), store_(store), outbox_(outbox) {}

std::string PeerCore::line(ClockUs clock_us, const std::string& event) const {
  return fmt::format("{} [{}] {}", format_clock_ms(clock_us),
                     self_ ? peer_name(*self_) : std::string("?"), event);
}

// The model runs up to `window_` rounds ahead; the clock that belongs in an
// event line is the one at the end of the last completed round.
ClockUs PeerCore::clock() const {
  return completed_clock_us_;
}

void PeerCore::on_frame(Frame frame) {
  if (phase_ == Phase::kFinished) return;
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
  fail("the server closed the connection", false);
}

void PeerCore::on_idle_deadline(uint32_t idle_s) {
  if (!exchanging()) return;
  fail(fmt::format("the server sent nothing for {} s", idle_s), true);
}

void PeerCore::on_shutdown(const std::string& why) {
  if (phase_ == Phase::kFinished) return;
  fail("stopped: " + why, true);
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
  self_ = flag->peer;
  peer_count_ = flag->peer_count;
  chunk_bytes_ = flag->chunk_bytes;
  own_file_ = store_.open_own_file(*self_);
  FileLayout layout{own_file_.size_bytes, chunk_bytes_};
  if (!chunk_count_fits(layout)) {
    return fail("own file has more chunks than the protocol can number", true);
  }
  outbox_.log(line(0, fmt::format("FLAG: joined as {} of {}; own file {} bytes, {} chunks, "
                                  "sha256 {}",
                                  peer_letter(*self_), peer_count_, own_file_.size_bytes,
                                  layout.chunk_count(), to_hex(own_file_.sha256))));
  outbox_.notice(fmt::format("joined as client {} of {}", peer_letter(*self_), peer_count_));
  outbox_.send(encode_announce(own_file_));
  phase_ = Phase::kAwaitRoster;
}

void PeerCore::handle_roster(const Frame& frame) {
  auto roster = decode_roster(frame);
  if (phase_ != Phase::kAwaitRoster || !roster || roster->files.size() != peer_count_ ||
      !(roster->files[*self_] == own_file_)) {
    return protocol_error("unexpected or malformed ROSTER");
  }
  std::vector<uint32_t> chunk_counts;
  incoming_.resize(peer_count_);
  for (PeerIndex owner = 0; owner < peer_count_; ++owner) {
    const FileAnnouncement& file = roster->files[owner];
    FileLayout layout{file.size_bytes, chunk_bytes_};
    chunk_counts.push_back(static_cast<uint32_t>(layout.chunk_count()));
    if (owner == *self_) continue;
    progress_.chunks_needed += layout.chunk_count();
    outbox_.log(
        line(0, fmt::format("ROSTER: {} has {} bytes, {} chunks, sha256 {}", peer_letter(owner),
                            file.size_bytes, layout.chunk_count(), to_hex(file.sha256))));
    incoming_[owner].emplace(Incoming{layout, file.sha256, Sha256{}, 0});
    store_.begin_file(owner, file.size_bytes);
  }
  model_.emplace(chunk_counts, roster->costs);
  phase_ = Phase::kExchanging;
  // Empty files are complete before the first round.
  OpenRound nothing;
  for (PeerIndex owner = 0; owner < peer_count_; ++owner) {
    if (incoming_[owner] && incoming_[owner]->layout.chunk_count() == 0) {
      finish_incoming(owner, nothing);
    }
  }
  for (std::string& text : nothing.completion_lines) outbox_.log(std::move(text));
  send_requests();
  complete_rounds();
}

// Keeps requests for up to `window_` incomplete rounds in flight.
void PeerCore::send_requests() {
  while (phase_ == Phase::kExchanging && !model_->finished() && rounds_.size() < window_) {
    OpenRound round;
    round.plan = model_->plan_next_round();
    round.requesters = round.plan.requesters_of(*self_);
    const PlannedRequest& mine = round.plan.requests[*self_];
    if (mine.idle) {
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
  FileLayout layout{own_file_.size_bytes, chunk_bytes_};
  outbox_.send_own_chunk(ChunkHeader{forward->round, forward->peer, forward->chunk_index,
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
  ByteView data = chunk_data(frame);
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
  incoming.hasher.update(data);
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
  Sha256Digest digest = incoming.hasher.finish();
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
  phase_ = Phase::kFinished;
  PeerOutcome outcome;
  outcome.success = true;
  outcome.self = self_;
  outcome.final_clocks_us = final_message->clocks_us;
  outcome.verified_owners = verified_owners_;
  outbox_.finished(outcome);
}

void PeerCore::protocol_error(const std::string& what) {
  fail("protocol error from the server: " + what, true);
}

void PeerCore::fail(const std::string& why, bool tell_server) {
  if (phase_ == Phase::kFinished) return;
  outbox_.log(line(clock(), "error: " + why));
  if (tell_server) outbox_.send(encode_error(why));
  phase_ = Phase::kFinished;
  PeerOutcome outcome;
  outcome.failure = why;
  outcome.self = self_;
  outcome.verified_owners = verified_owners_;
  outbox_.finished(outcome);
}

}  // namespace chunkex
