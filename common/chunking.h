// How a file of `size_bytes` splits into chunks of `chunk_bytes` (the last
// chunk may be shorter; an empty file has no chunks).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace chunkex {

struct FileLayout {
  uint64_t size_bytes = 0;
  uint32_t chunk_bytes = 1;

  uint64_t chunk_count() const { return (size_bytes + chunk_bytes - 1) / chunk_bytes; }
  uint64_t chunk_offset(uint32_t chunk_index) const {
    return static_cast<uint64_t>(chunk_index) * chunk_bytes;
  }
  uint32_t chunk_length(uint32_t chunk_index) const {
    return static_cast<uint32_t>(
        std::min<uint64_t>(chunk_bytes, size_bytes - chunk_offset(chunk_index)));
  }
};

// Chunk indices travel as u32; a file with more chunks than that is refused.
inline bool chunk_count_fits(const FileLayout& layout) {
  return layout.chunk_count() <= UINT32_MAX;
}

}  // namespace chunkex
