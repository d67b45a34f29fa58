// Test data shared by the unit tests and the fuzz targets. No doctest here:
// the fuzz targets run without it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"

namespace chunkex::test {

// SplitMix64: the same bytes for the same seed on every platform.
inline Bytes pseudo_random_bytes(size_t size, uint64_t seed) {
  Bytes out(size);
  uint64_t state = seed;
  for (size_t i = 0; i < size; ++i) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    out[i] = static_cast<uint8_t>((z ^ (z >> 31)) >> 56);
  }
  return out;
}

}  // namespace chunkex::test
