// The rotating request order of docs/DESIGN.md §2. With N peers, round r uses
// offset o = 1 + (r mod (N-1)) and peer i asks peer (i + o) mod N. When that
// peer has nothing left for the requester, the next offsets are tried in turn
// (o+1, o+2, ... wrapping within 1..N-1); a requester that lacks nothing is idle.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "common/peer_id.h"

namespace chunkex {

uint32_t rotation_offset(uint64_t round, size_t peer_count);

// `chunks_taken[o]` is how many chunks of owner o's file the requester has
// already asked for (always a prefix, lowest first); `chunk_counts[o]` is the
// size of o's file in chunks. Returns the owner to ask, or nullopt when idle.
std::optional<PeerIndex> choose_target(PeerIndex requester, uint64_t round,
                                       std::span<const uint32_t> chunks_taken,
                                       std::span<const uint32_t> chunk_counts);

}  // namespace chunkex
