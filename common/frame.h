// The chunkex wire format. Every frame is a fixed 8-byte header followed by a
// payload of exactly `payload_bytes` bytes:
//
//   offset 0  2 bytes  magic "CX"
//   offset 2  1 byte   protocol version (kProtocolVersion)
//   offset 3  1 byte   frame type (FrameType)
//   offset 4  4 bytes  payload length, big-endian
//
// Payload bytes are opaque to the framing layer, so a chunk's data is carried
// exactly (the original text delimiters corrupted chunks ending in '<END>'
// characters). The decoder bounds every length by type before it allocates.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"

namespace chunkex {

inline constexpr uint8_t kMagic0 = 'C';
inline constexpr uint8_t kMagic1 = 'X';
// 2: a peer speaks first (HELLO), so a silent connection never holds a slot.
inline constexpr uint8_t kProtocolVersion = 2;
inline constexpr size_t kFrameHeaderBytes = 8;
// Control frames (everything but chunk data) never need more than this.
inline constexpr uint32_t kMaxControlPayloadBytes = 4096;
// Upper bound for the configurable chunk size.
inline constexpr uint32_t kMaxChunkBytes = 16u << 20;

enum class FrameType : uint8_t {
  kFlag = 1,          // server -> peer: your ID, peer count, chunk size
  kAnnounce = 2,      // peer -> server: own file size and SHA-256
  kRoster = 3,        // server -> peers: every file and every peer's costs
  kRequestChunk = 4,  // peer -> server (request) and server -> target (forward)
  kIdle = 5,          // peer -> server: nothing left to ask this round
  kChunkData = 6,     // target -> server: the requested chunk
  kSendChunk = 7,     // server -> requester: the chunk it asked for
  kDone = 8,          // peer -> server: all files received and verified
  kFinal = 9,         // server -> peers: exchange over, final clocks
  kError = 10,        // either way: what went wrong, then the sender closes
  kChallenge = 11,    // server -> newcomer: a fresh nonce (only with a token)
  kAuth = 12,         // newcomer -> server: its nonce and its proof of the token
  kAuthOk = 13,       // server -> newcomer: the server's proof of the token
  kRefetch = 14,      // server -> owner: send again a chunk a returning peer lost
  kRefetchData = 15,  // owner -> server: the chunk asked for by REFETCH
  kPeerStatus = 16,   // server -> peers: a peer left (the exchange waits) or is back
  kHello = 17,        // peer -> server, first: it speaks chunkex (no payload)
};
inline constexpr FrameType kLastFrameType = FrameType::kHello;

std::optional<FrameType> frame_type_from_byte(uint8_t value);
std::string_view frame_type_name(FrameType type);
bool carries_chunk_data(FrameType type);

class ContentSource;  // content.h

// A chunk's bytes carried by reference instead of in the payload: only over
// the simulator's in-memory link, where the bytes are `length_bytes` bytes of
// `source` from `offset` (see content.h). The payload then holds the chunk
// header alone. A frame with a reference never reaches a socket.
struct ChunkRef {
  const ContentSource* source = nullptr;
  uint64_t offset = 0;
  uint32_t length_bytes = 0;
};

struct Frame {
  FrameType type;
  Bytes payload;
  std::optional<ChunkRef> data_ref = std::nullopt;
};

// Payload bytes the frame carries on the wire, a referenced chunk included.
inline uint64_t wire_payload_bytes(const Frame& frame) {
  return frame.payload.size() + (frame.data_ref ? frame.data_ref->length_bytes : 0);
}

// Largest payload a frame of `type` may declare when chunks are at most
// `chunk_bytes_max` long.
uint32_t max_payload_bytes(FrameType type, uint32_t chunk_bytes_max);

// The 8 header bytes for a frame of `type` with `payload_bytes` of payload.
std::array<uint8_t, kFrameHeaderBytes> encode_frame_header(FrameType type, uint32_t payload_bytes);

// Header plus payload in one buffer (tests and small control frames).
Bytes encode_frame(const Frame& frame);

// Incremental decoder: feed it whatever the socket returned, in any split,
// and it yields whole frames. The first malformed header stops it for good;
// error() then says what was wrong.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t chunk_bytes_max = kMaxChunkBytes)
      : chunk_bytes_max_(chunk_bytes_max) {}

  // Appends every frame completed by `bytes` to `frames`. Returns false once
  // the stream is malformed.
  bool feed(ByteView bytes, std::vector<Frame>& frames);

  // While a payload is being filled: the part still missing, so that a
  // transport can read large payloads straight into place (no extra copy).
  // Report what was read there with payload_received().
  std::span<uint8_t> payload_space();
  void payload_received(size_t bytes, std::vector<Frame>& frames);

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // True when part of a frame is buffered: a stream ending now is truncated.
  bool mid_frame() const { return header_filled_ > 0; }
  void set_chunk_bytes_max(uint32_t chunk_bytes_max) { chunk_bytes_max_ = chunk_bytes_max; }

 private:
  bool parse_header();
  void complete_frame_if_full(std::vector<Frame>& frames);

  uint32_t chunk_bytes_max_;
  std::array<uint8_t, kFrameHeaderBytes> header_{};
  size_t header_filled_ = 0;
  FrameType type_{};
  Bytes payload_;
  size_t payload_filled_ = 0;
  std::string error_;
};

}  // namespace chunkex
