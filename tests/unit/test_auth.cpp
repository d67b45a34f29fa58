// The token handshake (common/auth.h): HMAC proofs, and both cores refusing
// anyone who cannot prove the secret, in either direction.
#include <doctest/doctest.h>

#include "common/auth.h"
#include "common/peer_core.h"
#include "common/relay_core.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::contains;

Nonce filled(uint8_t byte) {
  Nonce nonce;
  nonce.fill(byte);
  return nonce;
}

// A nonce source that counts, so runs are repeatable.
NonceSource counting_nonces(uint8_t first) {
  return [next = first]() mutable { return filled(next++); };
}

RelaySettings settings_with_token(const std::string& token) {
  RelaySettings settings{4, 4, test::default_costs(4), 8};
  settings.token = token;
  settings.make_nonce = counting_nonces(1);
  return settings;
}

}  // namespace

TEST_CASE("proofs are HMAC-SHA256 over a label and both nonces") {
  // Expected values from Python: hmac.new(b"secret", b"chunkex-client" + s + c, sha256).
  CHECK(to_hex(client_proof("secret", filled(1), filled(2))) ==
        "5fcca103d6f7670975da96a21c711c8349be8a2ccf6b778650291c0dd326214d");
  CHECK(to_hex(server_proof("secret", filled(2), filled(1))) ==
        "a1f223cbad44a221066461cd7d592ef3126088a0e3853c798e9aa9328ad9025f");
  CHECK_FALSE(proofs_equal(client_proof("secret", filled(1), filled(2)),
                           client_proof("secreT", filled(1), filled(2))));
  CHECK(proofs_equal(client_proof("k", filled(3), filled(4)),
                     client_proof("k", filled(3), filled(4))));
}

TEST_CASE("auth frames round-trip and refuse wrong sizes") {
  AuthMessage auth{filled(7), client_proof("k", filled(1), filled(7))};
  auto decoded = decode_auth(encode(auth));
  REQUIRE(decoded);
  CHECK(decoded->client_nonce == auth.client_nonce);
  CHECK(decoded->proof == auth.proof);
  CHECK(decode_challenge(encode_challenge(filled(9))) == filled(9));
  Frame short_auth = encode(auth);
  short_auth.payload.pop_back();
  CHECK_FALSE(decode_auth(short_auth));
  CHECK_FALSE(decode_challenge(encode_auth_ok(Sha256Digest{})));
}

TEST_CASE("with a token the relay challenges first and admits only a correct proof") {
  test::RecordingRelayOutbox out;
  RelayCore relay(settings_with_token("secret"), out);
  test::connect(relay, 1);
  auto frames = out.frames_to(1);
  REQUIRE(frames.size() == 1);
  REQUIRE(decode_challenge(frames[0]));
  Nonce server_nonce = *decode_challenge(frames[0]);

  SUBCASE("right token: AUTH_OK with the server's proof, then FLAG for slot A") {
    relay.on_frame(
        1, encode(AuthMessage{filled(50), client_proof("secret", server_nonce, filled(50))}));
    frames = out.frames_to(1);
    REQUIRE(frames.size() == 3);
    REQUIRE(decode_auth_ok(frames[1]));
    CHECK(
        proofs_equal(*decode_auth_ok(frames[1]), server_proof("secret", filled(50), server_nonce)));
    REQUIRE(decode_flag(frames[2]));
    CHECK(decode_flag(frames[2])->peer == 0);
  }
  SUBCASE("wrong token: an ERROR, closed, no slot taken") {
    relay.on_frame(
        1, encode(AuthMessage{filled(50), client_proof("guess", server_nonce, filled(50))}));
    frames = out.frames_to(1);
    REQUIRE(frames.size() == 2);
    CHECK(frames[1].type == FrameType::kError);
    CHECK(contains(decode_error(frames[1]), "authentication failed"));
    CHECK(out.closed(1));
    // The next comer with the right proof still gets slot A.
    test::connect(relay, 2);
    Nonce second = *decode_challenge(out.frames_to(2)[0]);
    CHECK(second != server_nonce);
    relay.on_frame(2, encode(AuthMessage{filled(60), client_proof("secret", second, filled(60))}));
    REQUIRE(out.frames_of_type(2, FrameType::kFlag).size() == 1);
    CHECK(decode_flag(out.frames_of_type(2, FrameType::kFlag)[0])->peer == 0);
  }
  SUBCASE("no proof at all: a frame other than AUTH is refused") {
    relay.on_frame(1, encode_announce(FileAnnouncement{}));
    CHECK(contains(decode_error(out.frames_to(1).back()), "authentication required"));
    CHECK(out.closed(1));
  }
  SUBCASE("silence: refused at the handshake deadline") {
    relay.on_time(10'000);  // connected at 0, the default 10 s deadline
    CHECK(contains(decode_error(out.frames_to(1).back()), "handshake deadline"));
    CHECK(out.closed(1));
  }
}

TEST_CASE("a failed authentication is logged as a rejection at the end") {
  test::RecordingRelayOutbox out;
  RelayCore relay(settings_with_token("secret"), out);
  test::connect(relay, 1);
  relay.on_frame(1, encode(AuthMessage{filled(5), Sha256Digest{}}));
  relay.on_shutdown("test over");
  bool logged = false;
  for (const std::string& line : out.log_lines) {
    logged = logged || contains(line, "rejected connection 1: authentication failed");
  }
  CHECK(logged);
}

namespace {

struct TokenPeer {
  explicit TokenPeer(const std::string& token)
      : store(test::pseudo_random_bytes(8, 0)),
        out(store),
        core(PeerSettings{4, 60, PeerAuth{token, counting_nonces(80)}}, store, out) {}
  test::MemoryChunkStore store;
  test::QueuePeerOutbox out;
  PeerCore core;
};

}  // namespace

TEST_CASE("a peer proves the token and checks the server's proof") {
  TokenPeer peer("secret");
  peer.core.on_frame(encode_challenge(filled(1)));
  REQUIRE(peer.out.to_server.size() == 1);
  auto auth = decode_auth(peer.out.to_server.front());
  REQUIRE(auth);
  CHECK(auth->client_nonce == filled(80));
  CHECK(proofs_equal(auth->proof, client_proof("secret", filled(1), filled(80))));

  SUBCASE("a right server proof lets the exchange go on") {
    peer.core.on_frame(encode_auth_ok(server_proof("secret", filled(80), filled(1))));
    peer.core.on_frame(encode(FlagMessage{0, 4, 4}));
    CHECK_FALSE(peer.core.finished());
    CHECK(peer.out.to_server.back().type == FrameType::kAnnounce);
  }
  SUBCASE("a wrong server proof ends it") {
    peer.core.on_frame(encode_auth_ok(server_proof("other", filled(80), filled(1))));
    REQUIRE(peer.out.outcome);
    CHECK(contains(peer.out.outcome->failure, "could not prove"));
  }
}

TEST_CASE("a peer with a token refuses a server that never asks for it") {
  TokenPeer peer("secret");
  peer.core.on_frame(encode(FlagMessage{0, 4, 4}));
  REQUIRE(peer.out.outcome);
  CHECK_FALSE(peer.out.outcome->success);
  CHECK(contains(peer.out.outcome->failure, "never asked"));
}

TEST_CASE("a peer without a token says the server wants one") {
  TokenPeer peer("");
  peer.core.on_frame(encode_challenge(filled(1)));
  REQUIRE(peer.out.outcome);
  CHECK(contains(peer.out.outcome->failure, "CHUNKEX_TOKEN"));
}

TEST_CASE("a flood of unauthenticated connections cannot keep a real peer out") {
  test::RecordingRelayOutbox out;
  RelaySettings settings{4, 4, test::default_costs(), 8};
  settings.token = "secret";
  RelayCore relay(settings, out);
  for (ConnId junk = 1; junk <= 500; ++junk) relay.on_connect(junk);
  // Silent: only the newest 64 still wait in the pool; the others were dropped.
  CHECK(out.closed(1));
  CHECK(out.closed(436));
  CHECK_FALSE(out.closed(437));
  CHECK_FALSE(out.closed(500));
  ConnId real = 1000;
  test::connect(relay, real);
  auto challenge = out.frames_of_type(real, FrameType::kChallenge);
  REQUIRE(challenge.size() == 1);
  Nonce server_nonce = *decode_challenge(challenge[0]);
  Nonce client_nonce{};
  client_nonce.fill(7);
  relay.on_frame(
      real, encode(AuthMessage{client_nonce, client_proof("secret", server_nonce, client_nonce)}));
  CHECK(out.frames_of_type(real, FrameType::kFlag).size() == 1);
  CHECK_FALSE(out.closed(real));
}

}  // namespace chunkex
