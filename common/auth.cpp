#include "common/auth.h"

#include <algorithm>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace chunkex {
namespace {

Sha256Digest hmac_sha256(const std::string& key, const std::string& label, const Nonce& first,
                         const Nonce& second) {
  Bytes message(label.begin(), label.end());
  message.insert(message.end(), first.begin(), first.end());
  message.insert(message.end(), second.begin(), second.end());
  Sha256Digest mac{};
  size_t length = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                 message.data(), message.size(), mac.data(), mac.size(), &length) ||
      length != mac.size()) {
    throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
  }
  return mac;
}

template <size_t N>
std::optional<std::array<uint8_t, N>> fixed_bytes(const Frame& frame, FrameType type) {
  if (frame.type != type || frame.payload.size() != N) return std::nullopt;
  std::array<uint8_t, N> bytes{};
  std::copy(frame.payload.begin(), frame.payload.end(), bytes.begin());
  return bytes;
}

}  // namespace

Nonce random_nonce() {
  Nonce nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    throw std::runtime_error("OpenSSL: no random bytes for a nonce");
  }
  return nonce;
}

Sha256Digest client_proof(const std::string& token, const Nonce& server_nonce,
                          const Nonce& client_nonce) {
  return hmac_sha256(token, "chunkex-client", server_nonce, client_nonce);
}

Sha256Digest server_proof(const std::string& token, const Nonce& client_nonce,
                          const Nonce& server_nonce) {
  return hmac_sha256(token, "chunkex-server", client_nonce, server_nonce);
}

bool proofs_equal(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Frame encode_challenge(const Nonce& server_nonce) {
  return Frame{FrameType::kChallenge, Bytes(server_nonce.begin(), server_nonce.end())};
}

Frame encode(const AuthMessage& message) {
  Frame frame{FrameType::kAuth, Bytes(message.client_nonce.begin(), message.client_nonce.end())};
  frame.payload.insert(frame.payload.end(), message.proof.begin(), message.proof.end());
  return frame;
}

Frame encode_auth_ok(const Sha256Digest& proof) {
  return Frame{FrameType::kAuthOk, Bytes(proof.begin(), proof.end())};
}

std::optional<Nonce> decode_challenge(const Frame& frame) {
  return fixed_bytes<32>(frame, FrameType::kChallenge);
}

std::optional<AuthMessage> decode_auth(const Frame& frame) {
  auto bytes = fixed_bytes<64>(frame, FrameType::kAuth);
  if (!bytes) return std::nullopt;
  AuthMessage message;
  std::copy_n(bytes->begin(), 32, message.client_nonce.begin());
  std::copy_n(bytes->begin() + 32, 32, message.proof.begin());
  return message;
}

std::optional<Sha256Digest> decode_auth_ok(const Frame& frame) {
  return fixed_bytes<32>(frame, FrameType::kAuthOk);
}

}  // namespace chunkex
