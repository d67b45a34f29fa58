// SHA-256 through OpenSSL's EVP interface, fed incrementally: chunks of a
// received file arrive in order, so the digest is ready the moment the last
// chunk is written, without reading the file back.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/messages.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace chunkex {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(ByteView data);
  // Returns the digest; the object must not be updated afterwards.
  Sha256Digest finish();

 private:
  EVP_MD_CTX* context_;
};

Sha256Digest sha256_of(ByteView data);

// 64 hex digits (as to_hex writes them) back to a digest; nullopt otherwise.
std::optional<Sha256Digest> digest_from_hex(const std::string& hex);

}  // namespace chunkex
