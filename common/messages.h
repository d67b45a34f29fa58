// Payload layouts of every chunkex message (all integers big-endian). The
// framing is in frame.h; this file turns payloads into structs and back.
//
//   FLAG           u8 peer, u8 peer_count, u32 chunk_bytes, u32 returning
//                  (bit i: slot i waits for its peer to come back; when any
//                  bit is set, `peer` is only a proposal, see ANNOUNCE)
//   ANNOUNCE       u64 size_bytes, 32-byte SHA-256, u8 claimed peer (0xFF:
//                  none), 32-byte exchange digest, u64 rounds_completed
//   ROSTER         u8 count, then per peer: u64 size_bytes, 32-byte SHA-256,
//                  u32 chunk_cost_us, u32 other_cost_us; then u64
//                  resume_round, u64 delivered_rounds, u64 forwarded_rounds
//                  (all 0 for a fresh exchange)
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
//   REFETCH        (REQUEST_CHUNK layout; peer = requester, clock 0)
//   REFETCH_DATA   (CHUNK_DATA layout, clock 0)
//   PEER_STATUS    u8 peer, u8 present, u32 grace_s
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
  uint32_t returning_slots = 0;  // bit i: slot i waits for its peer to come back
};

struct FileAnnouncement {
  uint64_t size_bytes = 0;
  Sha256Digest sha256{};
  bool operator==(const FileAnnouncement&) const = default;
};

inline constexpr PeerIndex kNoClaim = 0xFF;

// What a returning peer remembers of an exchange it took part in: its slot,
// the exchange (exchange_digest()) and how many rounds it had completed.
struct ResumeClaim {
  PeerIndex peer = kNoClaim;
  Sha256Digest exchange{};
  uint64_t rounds_completed = 0;
  bool operator==(const ResumeClaim&) const = default;
};

struct AnnounceMessage {
  FileAnnouncement file;
  ResumeClaim resume;
};

// Where a (re)joining peer starts: it has completed rounds < resume_round;
// rounds < delivered_rounds need no forward from it (it answered them before
// it left); it sends no request for rounds in [delivered_rounds,
// forwarded_rounds) (the server has them). All 0: a fresh exchange.
struct ResumePoint {
  uint64_t resume_round = 0;
  uint64_t delivered_rounds = 0;
  uint64_t forwarded_rounds = 0;
  bool operator==(const ResumePoint&) const = default;
};

struct RosterMessage {
  std::vector<FileAnnouncement> files;  // by peer index
  std::vector<PeerCosts> costs;         // by peer index
  ResumePoint resume;                   // for the peer it is sent to
};

// Names one exchange: chunk size, every file and every cost. A peer's saved
// progress applies only to the exchange with the same digest.
Sha256Digest exchange_digest(const RosterMessage& roster, uint32_t chunk_bytes);

struct PeerStatusMessage {
  PeerIndex peer = 0;
  bool present = false;
  uint32_t grace_s = 0;  // while absent: how long the server waits for it
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

// A peer's first frame: it speaks chunkex (the header's magic and version say
// so); only then can it get a slot. No payload.
Frame encode_hello();
bool is_hello(const Frame& frame);
Frame encode(const FlagMessage& message);
Frame encode(const AnnounceMessage& message);
Frame encode_announce(const FileAnnouncement& file);  // no resume claim
Frame encode(const RosterMessage& message);
Frame encode(const RequestMessage& message);
Frame encode(const IdleMessage& message);
Frame encode(const DoneMessage& message);
Frame encode(const FinalMessage& message);
Frame encode_error(std::string_view text);
Frame encode(const PeerStatusMessage& message);
Frame encode_refetch(const ChunkHeader& header);

// Each decoder returns nullopt when the payload does not have exactly the
// layout above (short, long, or a count out of range).
std::optional<FlagMessage> decode_flag(const Frame& frame);
std::optional<AnnounceMessage> decode_announce(const Frame& frame);
std::optional<RosterMessage> decode_roster(const Frame& frame);
std::optional<RequestMessage> decode_request(const Frame& frame);
std::optional<IdleMessage> decode_idle(const Frame& frame);
std::optional<DoneMessage> decode_done(const Frame& frame);
std::optional<FinalMessage> decode_final(const Frame& frame);
// The peer's text with every byte that is not printable ASCII (and every
// backslash) escaped as \xNN: it never holds a line break or a control
// character.
std::string decode_error(const Frame& frame);
std::optional<PeerStatusMessage> decode_peer_status(const Frame& frame);
std::optional<ChunkHeader> decode_refetch(const Frame& frame);

// A CHUNK_DATA or SEND_CHUNK frame whose data area (`data_bytes` long, after
// the header) is left for the caller to fill in place.
Frame make_chunk_frame(FrameType type, const ChunkHeader& header, size_t data_bytes);
std::optional<ChunkHeader> decode_chunk_header(const Frame& frame);
// Turns a received CHUNK_DATA into the SEND_CHUNK that relays it, in place.
void rewrite_chunk_frame(Frame& frame, FrameType type, const ChunkHeader& header);
// The chunk bytes a CHUNK_DATA / SEND_CHUNK / REFETCH_DATA frame carries
// inline (empty when they travel by reference).
ByteView chunk_data(const Frame& frame);
uint8_t* chunk_data_area(Frame& frame);
// The chunk's length, whether inline or by reference.
uint64_t chunk_data_bytes(const Frame& frame);

}  // namespace chunkex
