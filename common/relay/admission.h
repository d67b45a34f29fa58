// Admission and authentication: the connections that hold no slot yet, in a
// bounded pre-handshake pool (docs/DESIGN.md §5.3, §6.8). A connection gets
// a slot only once it has spoken the protocol: HELLO, and with a token a
// verified AUTH. Silent or garbage connections never take a slot, so they
// cannot keep a real peer out; the pool holds at most kPendingMax of them,
// and a newcomer makes room by dropping the oldest (a real peer speaks
// within a round trip, a flood's connections never do). No I/O: every
// decision is returned as a value for the core to carry out.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/relay/states.h"
#include "common/time.h"

namespace chunkex {

using ConnId = uint64_t;

struct AdmissionSettings {
  std::string token;  // empty: HELLO alone admits
  NonceSource make_nonce = random_nonce;
  uint32_t handshake_timeout_s = 10;
};

struct AdmissionStep {
  enum class Kind {
    kChallenge,  // send `frame` (CHALLENGE); the connection stays pending
    kAdmit,      // spoke the protocol: give it a slot; send `frame` first if any (AUTH_OK)
    kReject,     // turn it away with `why`
  };
  Kind kind;
  ConnId conn;
  std::string why;
  std::optional<Frame> frame;
  TimeMs deadline_ms = 0;  // kAdmit: when the handshake must be complete (ANNOUNCE)
};

class Admission {
 public:
  static constexpr size_t kPendingMax = 64;

  explicit Admission(AdmissionSettings settings) : settings_(std::move(settings)) {}

  // A new connection joins the pool (maybe dropping the oldest).
  std::vector<AdmissionStep> on_connect(ConnId conn, TimeMs now_ms);
  // A frame from a pending connection (holds(conn) is true).
  AdmissionStep on_frame(ConnId conn, const Frame& frame);
  // Pending connections whose handshake deadline has come.
  std::vector<AdmissionStep> on_time(TimeMs now_ms);
  TimeMs next_deadline_ms() const;

  bool holds(ConnId conn) const { return pending_.count(conn) != 0; }
  ConnState state_of(ConnId conn) const { return pending_.at(conn).state; }
  // Forgets a connection (closed, rejected or admitted).
  void forget(ConnId conn) { pending_.erase(conn); }
  std::vector<ConnId> pending() const;

 private:
  struct Pending {
    ConnState state = ConnState::kSilent;
    TimeMs deadline_ms = 0;
    Nonce nonce{};
  };

  AdmissionStep reject(ConnId conn, std::string why);
  AdmissionStep on_hello(ConnId conn, Pending& pending);
  AdmissionStep on_auth(ConnId conn, const Pending& pending, const Frame& frame);

  AdmissionSettings settings_;
  // By ConnId, which the link hands out in connection order: begin() is
  // the oldest.
  std::map<ConnId, Pending> pending_;
};

}  // namespace chunkex
