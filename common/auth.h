// Mutual proof of a shared secret (config `token`) by HMAC-SHA256
// challenge-response. The secret never crosses the wire:
//
//   server -> CHALLENGE  server_nonce
//   client -> AUTH       client_nonce, HMAC(token, "chunkex-client" | server_nonce | client_nonce)
//   server -> AUTH_OK    HMAC(token, "chunkex-server" | client_nonce | server_nonce)
//
// Both nonces are fresh per connection, so a recorded proof is useless on
// another connection, and the labels keep a client proof from passing as a
// server proof. MACs are compared in constant time.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>

#include "common/messages.h"

namespace chunkex {

using Nonce = std::array<uint8_t, 32>;
using NonceSource = std::function<Nonce()>;

// 32 bytes from OpenSSL's CSPRNG.
Nonce random_nonce();

Sha256Digest client_proof(const std::string& token, const Nonce& server_nonce,
                          const Nonce& client_nonce);
Sha256Digest server_proof(const std::string& token, const Nonce& client_nonce,
                          const Nonce& server_nonce);
bool proofs_equal(const Sha256Digest& a, const Sha256Digest& b);

struct AuthMessage {
  Nonce client_nonce{};
  Sha256Digest proof{};
};

Frame encode_challenge(const Nonce& server_nonce);
Frame encode(const AuthMessage& message);
Frame encode_auth_ok(const Sha256Digest& proof);
std::optional<Nonce> decode_challenge(const Frame& frame);
std::optional<AuthMessage> decode_auth(const Frame& frame);
std::optional<Sha256Digest> decode_auth_ok(const Frame& frame);

}  // namespace chunkex
