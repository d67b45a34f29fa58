// The one seeded generator of chunkex: xoshiro256** seeded through
// splitmix64. Its output is fixed by its definition (unlike std::
// distributions, whose output may differ between standard libraries), so a
// seed names the same files, schedules and faults on every machine.
// chunkex-gen, the simulator, the explorer, chunkex-flood, the unit tests and
// the fuzz targets all draw from it. See docs/DESIGN.md §8.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"

namespace chunkex {

class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed) {
    for (auto& word : state_) word = splitmix64(seed);
  }

  uint64_t next() {
    uint64_t result = rotl(state_[1] * 5, 7) * 9;
    uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // A value in [0, bound) (bound > 0); the tiny modulo bias does not matter
  // for choosing schedules and faults.
  uint64_t below(uint64_t bound) { return next() % bound; }
  // A value in [low, high].
  uint64_t between(uint64_t low, uint64_t high) { return low + below(high - low + 1); }
  // True with probability numerator / denominator.
  bool chance(uint64_t numerator, uint64_t denominator) { return below(denominator) < numerator; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  std::array<uint64_t, 4> state_{};
};

// The bytes of one generated file, in order: the generator's 64-bit words,
// little-endian, cut at the file's size. Reads must be sequential; a read
// may end mid-word (the rest of that word starts the next read).
class GeneratedByteStream {
 public:
  explicit GeneratedByteStream(uint64_t seed) : random_(seed) {}
  void read(std::span<uint8_t> dest);
  // Skips `count` bytes (generating them: the generator cannot jump).
  void skip(uint64_t count);
  uint64_t position() const { return position_; }

 private:
  Xoshiro256 random_;
  uint64_t position_ = 0;
  std::array<uint8_t, 8> word_{};
  size_t word_used_ = 8;  // bytes of word_ already handed out
};

// The seed chunkex-gen uses for file `index` of a workload drawn from `seed`.
inline uint64_t generated_file_seed(uint64_t seed, size_t index) {
  return seed * 1000003 + index;
}

// `size` bytes of seeded test data (unit tests, fuzz targets).
Bytes pseudo_random_bytes(size_t size, uint64_t seed);

}  // namespace chunkex
