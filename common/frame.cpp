#include "common/frame.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include <fmt/format.h>

#include "common/messages.h"

namespace chunkex {

std::optional<FrameType> frame_type_from_byte(uint8_t value) {
  if (value < static_cast<uint8_t>(FrameType::kFlag) ||
      value > static_cast<uint8_t>(kLastFrameType)) {
    return std::nullopt;
  }
  return static_cast<FrameType>(value);
}

std::string_view frame_type_name(FrameType type) {
  switch (type) {
    case FrameType::kFlag:
      return "FLAG";
    case FrameType::kAnnounce:
      return "ANNOUNCE";
    case FrameType::kRoster:
      return "ROSTER";
    case FrameType::kRequestChunk:
      return "REQUEST_CHUNK";
    case FrameType::kIdle:
      return "IDLE";
    case FrameType::kChunkData:
      return "CHUNK_DATA";
    case FrameType::kSendChunk:
      return "SEND_CHUNK";
    case FrameType::kDone:
      return "DONE";
    case FrameType::kFinal:
      return "FINAL";
    case FrameType::kError:
      return "ERROR";
    case FrameType::kChallenge:
      return "CHALLENGE";
    case FrameType::kAuth:
      return "AUTH";
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kAuthOk:
      return "AUTH_OK";
    case FrameType::kRefetch:
      return "REFETCH";
    case FrameType::kRefetchData:
      return "REFETCH_DATA";
    case FrameType::kPeerStatus:
      return "PEER_STATUS";
  }
  return "UNKNOWN";
}

bool carries_chunk_data(FrameType type) {
  return type == FrameType::kChunkData || type == FrameType::kSendChunk ||
         type == FrameType::kRefetchData;
}

uint32_t max_payload_bytes(FrameType type, uint32_t chunk_bytes_max) {
  if (carries_chunk_data(type)) return kChunkHeaderBytes + chunk_bytes_max;
  return kMaxControlPayloadBytes;
}

std::array<uint8_t, kFrameHeaderBytes> encode_frame_header(FrameType type, uint32_t payload_bytes) {
  std::array<uint8_t, kFrameHeaderBytes> header{};
  header[0] = kMagic0;
  header[1] = kMagic1;
  header[2] = kProtocolVersion;
  header[3] = static_cast<uint8_t>(type);
  store_big_endian<uint32_t>(header.data() + 4, payload_bytes);
  return header;
}

Bytes encode_frame(const Frame& frame) {
  auto header = encode_frame_header(frame.type, static_cast<uint32_t>(frame.payload.size()));
  Bytes out(kFrameHeaderBytes + frame.payload.size());
  std::memcpy(out.data(), header.data(), kFrameHeaderBytes);
  if (!frame.payload.empty()) {
    std::memcpy(out.data() + kFrameHeaderBytes, frame.payload.data(), frame.payload.size());
  }
  return out;
}

bool FrameDecoder::parse_header() {
  if (header_[0] != kMagic0 || header_[1] != kMagic1) {
    error_ = "not a chunkex frame (bad magic bytes)";
    return false;
  }
  if (header_[2] != kProtocolVersion) {
    error_ =
        fmt::format("unsupported protocol version {} (expected {})", header_[2], kProtocolVersion);
    return false;
  }
  auto type = frame_type_from_byte(header_[3]);
  if (!type) {
    error_ = fmt::format("unknown frame type {}", header_[3]);
    return false;
  }
  uint32_t length = load_big_endian<uint32_t>(header_.data() + 4);
  uint32_t limit = max_payload_bytes(*type, chunk_bytes_max_);
  if (length > limit) {
    error_ = fmt::format("oversized {} frame: {} bytes declared, limit {}", frame_type_name(*type),
                         length, limit);
    return false;
  }
  type_ = *type;
  payload_.resize(length);
  payload_filled_ = 0;
  return true;
}

bool FrameDecoder::feed(ByteView bytes, std::vector<Frame>& frames) {
  if (failed()) return false;
  size_t used = 0;
  while (used < bytes.size()) {
    if (header_filled_ < kFrameHeaderBytes) {
      size_t take = std::min(kFrameHeaderBytes - header_filled_, bytes.size() - used);
      std::memcpy(header_.data() + header_filled_, bytes.data() + used, take);
      header_filled_ += take;
      used += take;
      if (header_filled_ < kFrameHeaderBytes) break;
      if (!parse_header()) return false;
    }
    size_t take = std::min(payload_.size() - payload_filled_, bytes.size() - used);
    if (take > 0) std::memcpy(payload_.data() + payload_filled_, bytes.data() + used, take);
    payload_filled_ += take;
    used += take;
    if (payload_filled_ < payload_.size()) break;
    complete_frame_if_full(frames);
  }
  return true;
}

void FrameDecoder::complete_frame_if_full(std::vector<Frame>& frames) {
  if (header_filled_ < kFrameHeaderBytes || payload_filled_ < payload_.size()) return;
  frames.push_back(Frame{type_, std::move(payload_)});
  payload_ = Bytes{};
  payload_filled_ = 0;
  header_filled_ = 0;
}

std::span<uint8_t> FrameDecoder::payload_space() {
  if (failed() || header_filled_ < kFrameHeaderBytes) return {};
  return std::span<uint8_t>(payload_).subspan(payload_filled_);
}

void FrameDecoder::payload_received(size_t bytes, std::vector<Frame>& frames) {
  assert(bytes <= payload_.size() - payload_filled_);
  payload_filled_ += bytes;
  complete_frame_if_full(frames);
}

}  // namespace chunkex
