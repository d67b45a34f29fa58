#include "common/schedule.h"

#include <cassert>

namespace chunkex {

uint32_t rotation_offset(uint64_t round, size_t peer_count) {
  assert(peer_count >= 2);
  return 1 + static_cast<uint32_t>(round % (peer_count - 1));
}

std::optional<PeerIndex> choose_target(PeerIndex requester, uint64_t round,
                                       std::span<const uint32_t> chunks_taken,
                                       std::span<const uint32_t> chunk_counts) {
  const size_t peer_count = chunk_counts.size();
  const uint32_t first_offset = rotation_offset(round, peer_count);
  for (size_t step = 0; step < peer_count - 1; ++step) {
    // Offsets wrap within 1..N-1: never 0, which would be the requester itself.
    auto offset = static_cast<uint32_t>(1 + (first_offset - 1 + step) % (peer_count - 1));
    auto owner = static_cast<PeerIndex>((requester + offset) % peer_count);
    if (chunks_taken[owner] < chunk_counts[owner]) return owner;
  }
  return std::nullopt;
}

}  // namespace chunkex
