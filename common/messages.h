// Payload layouts of every chunkex message (all integers big-endian). The
// framing is in frame.h; this file turns payloads into structs and back.
//
//   FLAG           u8 peer, u8 peer_count, u32 chunk_bytes
//   ANNOUNCE       u64 size_bytes, 32-byte SHA-256
//   ROSTER         u8 count, then per peer: u64 size_bytes, 32-byte SHA-256,
//                  u32 chunk_cost_us, u32 other_cost_us
//   REQUEST_CHUNK  u64 round, u8 peer, u32 chunk_index, i64 clock_us
//                  (peer = target when a peer sends it, requester when the
//                  server forwards it)
//   IDLE           u64 round
//   CHUNK_DATA     u64 round, u8 peer, u32 chunk_index, i64 clock_us, data
//   SEND_CHUNK     (same layout; peer = requester in CHUNK_DATA, owner in
//                  SEND_CHUNK, so the relay rewrites 21 bytes and never copies data)
//   DONE           u8 count, count x u8 verified owner
//   FINAL          u8 count, count x i64 clock_us
//   ERROR          UTF-8 text
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/peer_id.h"

namespace chunkex {

using Sha256Digest = std::array<uint8_t, 32>;
inline constexpr size_t kChunkHeaderBytes = 8 + 1 + 4 + 8;
inline constexpr size_t kMaxErrorTextBytes = 1024;

struct FlagMessage {
  PeerIndex peer = 0;
  uint8_t peer_count = 0;
  uint32_t chunk_bytes = 0;
};

struct FileAnnouncement {
  uint64_t size_bytes = 0;
  Sha256Digest sha256{};
  bool operator==(const FileAnnouncement&) const = default;
};

struct RosterMessage {
  std::vector<FileAnnouncement> files;  // by peer index
  std::vector<PeerCosts> costs;         // by peer index
};

struct IdleMessage {
  uint64_t round = 0;
};

// The 21 bytes that name a chunk in a round: the whole REQUEST_CHUNK payload,
// and the head of CHUNK_DATA / SEND_CHUNK.
struct ChunkHeader {
  uint64_t round = 0;
  PeerIndex peer = 0;
  uint32_t chunk_index = 0;
  ClockUs clock_us = 0;
  bool operator==(const ChunkHeader&) const = default;
};
using RequestMessage = ChunkHeader;

struct DoneMessage {
  std::vector<PeerIndex> verified_owners;
};

struct FinalMessage {
  std::vector<ClockUs> clocks_us;
};

Frame encode(const FlagMessage& message);
Frame encode_announce(const FileAnnouncement& message);
Frame encode(const RosterMessage& message);
Frame encode(const RequestMessage& message);
Frame encode(const IdleMessage& message);
Frame encode(const DoneMessage& message);
Frame encode(const FinalMessage& message);
Frame encode_error(std::string_view text);

// Each decoder returns nullopt when the payload does not have exactly the
// layout above (short, long, or a count out of range).
std::optional<FlagMessage> decode_flag(const Frame& frame);
std::optional<FileAnnouncement> decode_announce(const Frame& frame);
std::optional<RosterMessage> decode_roster(const Frame& frame);
std::optional<RequestMessage> decode_request(const Frame& frame);
std::optional<IdleMessage> decode_idle(const Frame& frame);
std::optional<DoneMessage> decode_done(const Frame& frame);
std::optional<FinalMessage> decode_final(const Frame& frame);
std::string decode_error(const Frame& frame);

// A CHUNK_DATA or SEND_CHUNK frame whose data area (`data_bytes` long, after
// the header) is left for the caller to fill in place.
Frame make_chunk_frame(FrameType type, const ChunkHeader& header, size_t data_bytes);
std::optional<ChunkHeader> decode_chunk_header(const Frame& frame);
// Turns a received CHUNK_DATA into the SEND_CHUNK that relays it, in place.
void rewrite_chunk_frame(Frame& frame, FrameType type, const ChunkHeader& header);
ByteView chunk_data(const Frame& frame);
uint8_t* chunk_data_area(Frame& frame);

}  // namespace chunkex
