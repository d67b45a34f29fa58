#include "common/random.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace chunkex {
namespace {

void store_little_endian(uint64_t word, uint8_t* out) {
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(out, &word, sizeof word);
  } else {
    for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(word >> (8 * i));
  }
}

}  // namespace

void GeneratedByteStream::read(std::span<uint8_t> dest) {
  size_t filled = 0;
  // The rest of a word a previous read cut.
  while (filled < dest.size() && word_used_ < word_.size()) dest[filled++] = word_[word_used_++];
  // Whole words straight into place.
  while (dest.size() - filled >= 8) {
    store_little_endian(random_.next(), dest.data() + filled);
    filled += 8;
  }
  if (filled < dest.size()) {
    store_little_endian(random_.next(), word_.data());
    word_used_ = 0;
    while (filled < dest.size()) dest[filled++] = word_[word_used_++];
  }
  position_ += dest.size();
}

void GeneratedByteStream::skip(uint64_t count) {
  std::array<uint8_t, 4096> scratch;
  while (count > 0) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(count, scratch.size()));
    read(std::span<uint8_t>(scratch.data(), take));
    count -= take;
  }
}

Bytes pseudo_random_bytes(size_t size, uint64_t seed) {
  Bytes out(size);
  GeneratedByteStream(seed).read(out);
  return out;
}

}  // namespace chunkex
