#include "common/sha256.h"

#include <cstdio>

#include <stdexcept>
#include <utility>

#include <openssl/evp.h>

namespace chunkex {

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (!context_ || EVP_DigestInit_ex(context_, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
  }
}

Sha256::~Sha256() {
  EVP_MD_CTX_free(context_);
}

Sha256::Sha256(Sha256&& other) noexcept : context_(std::exchange(other.context_, nullptr)) {}

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  std::swap(context_, other.context_);
  return *this;
}

void Sha256::update(ByteView data) {
  if (EVP_DigestUpdate(context_, data.data(), data.size()) != 1) {
    throw std::runtime_error("OpenSSL: SHA-256 update failed");
  }
}

Sha256Digest Sha256::finish() {
  Sha256Digest digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_, digest.data(), &length) != 1 || length != digest.size()) {
    throw std::runtime_error("OpenSSL: SHA-256 final failed");
  }
  return digest;
}

Sha256Digest sha256_of(ByteView data) {
  Sha256 hasher;
  hasher.update(data);
  return hasher.finish();
}

std::optional<Sha256Digest> digest_from_hex(const std::string& hex) {
  Sha256Digest digest{};
  if (hex.size() != 2 * digest.size()) return std::nullopt;
  for (size_t i = 0; i < digest.size(); ++i) {
    unsigned value = 0;
    if (std::sscanf(hex.c_str() + 2 * i, "%2x", &value) != 1) return std::nullopt;
    digest[i] = static_cast<uint8_t>(value);
  }
  return digest;
}

}  // namespace chunkex
