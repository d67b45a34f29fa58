#include "common/relay/admission.h"

#include <algorithm>

#include <fmt/format.h>

namespace chunkex {

std::vector<AdmissionStep> Admission::on_connect(ConnId conn, TimeMs now_ms) {
  std::vector<AdmissionStep> steps;
  if (pending_.size() >= kPendingMax) {
    steps.push_back(reject(pending_.begin()->first,
                           "too many connections are in their handshake; the oldest was dropped"));
  }
  pending_[conn] =
      Pending{ConnState::kSilent, now_ms + seconds_to_ms(settings_.handshake_timeout_s)};
  return steps;
}

AdmissionStep Admission::on_frame(ConnId conn, const Frame& frame) {
  Pending& pending = pending_.at(conn);
  if (!frame_allowed(pending.state, frame.type) || frame.type == FrameType::kError) {
    std::string_view got = frame_type_name(frame.type);
    if (pending.state == ConnState::kSilent) {
      return reject(conn, fmt::format("protocol error: expected HELLO first, got {}", got));
    }
    return reject(conn, fmt::format("authentication required: expected AUTH, got {}", got));
  }
  if (pending.state == ConnState::kSilent) return on_hello(conn, pending);
  return on_auth(conn, pending, frame);
}

AdmissionStep Admission::on_hello(ConnId conn, Pending& pending) {
  if (settings_.token.empty()) {
    TimeMs deadline_ms = pending.deadline_ms;
    pending_.erase(conn);
    return AdmissionStep{AdmissionStep::Kind::kAdmit, conn, {}, std::nullopt, deadline_ms};
  }
  pending.state = ConnState::kChallenged;
  pending.nonce = settings_.make_nonce();
  return AdmissionStep{AdmissionStep::Kind::kChallenge, conn, {}, encode_challenge(pending.nonce)};
}

AdmissionStep Admission::on_auth(ConnId conn, const Pending& pending, const Frame& frame) {
  auto auth = decode_auth(frame);
  if (!auth) return reject(conn, "authentication required: malformed AUTH");
  if (!proofs_equal(auth->proof,
                    client_proof(settings_.token, pending.nonce, auth->client_nonce))) {
    return reject(conn, "authentication failed: wrong token");
  }
  Frame ok = encode_auth_ok(server_proof(settings_.token, auth->client_nonce, pending.nonce));
  TimeMs deadline_ms = pending.deadline_ms;
  pending_.erase(conn);
  return AdmissionStep{AdmissionStep::Kind::kAdmit, conn, {}, std::move(ok), deadline_ms};
}

std::vector<AdmissionStep> Admission::on_time(TimeMs now_ms) {
  std::vector<AdmissionStep> steps;
  std::vector<std::pair<ConnId, ConnState>> expired;
  for (const auto& [conn, pending] : pending_) {
    if (pending.deadline_ms <= now_ms) expired.emplace_back(conn, pending.state);
  }
  for (const auto& [conn, state] : expired) {
    steps.push_back(reject(conn, state == ConnState::kSilent
                                     ? "no HELLO before the handshake deadline"
                                     : "no AUTH before the handshake deadline"));
  }
  return steps;
}

TimeMs Admission::next_deadline_ms() const {
  TimeMs next = kNoDeadline;
  for (const auto& [conn, pending] : pending_) next = std::min(next, pending.deadline_ms);
  return next;
}

std::vector<ConnId> Admission::pending() const {
  std::vector<ConnId> conns;
  for (const auto& [conn, pending] : pending_) conns.push_back(conn);
  return conns;
}

AdmissionStep Admission::reject(ConnId conn, std::string why) {
  pending_.erase(conn);
  return AdmissionStep{AdmissionStep::Kind::kReject, conn, std::move(why), std::nullopt};
}

}  // namespace chunkex
