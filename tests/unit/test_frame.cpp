// docs/DESIGN.md §5: length-prefixed binary framing. A chunk's bytes are carried
// exactly, in any split of the stream; malformed headers are refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "common/frame.h"
#include "common/messages.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::bytes_of;
using test::contains;
using test::describe;

constexpr FrameType kAllTypes[] = {
    FrameType::kFlag,   FrameType::kAnnounce,  FrameType::kRoster,      FrameType::kRequestChunk,
    FrameType::kIdle,   FrameType::kChunkData, FrameType::kSendChunk,   FrameType::kDone,
    FrameType::kFinal,  FrameType::kError,     FrameType::kChallenge,   FrameType::kAuth,
    FrameType::kAuthOk, FrameType::kRefetch,   FrameType::kRefetchData, FrameType::kPeerStatus,
};

Bytes header_bytes(uint8_t m0, uint8_t m1, uint8_t version, uint8_t type, uint32_t length) {
  Bytes header{m0, m1, version, type};
  put_big_endian<uint32_t>(header, length);
  return header;
}

Bytes concat(const std::vector<Frame>& frames) {
  Bytes stream;
  for (const Frame& frame : frames) {
    Bytes encoded = encode_frame(frame);
    stream.insert(stream.end(), encoded.begin(), encoded.end());
  }
  return stream;
}

// Chunk data that holds NULs and ends with the original text delimiter.
Frame chunk_frame_ending_with(FrameType type, std::string_view tail) {
  Bytes data = bytes_of(std::string("\0a\0b<EoH>\0\0<END>", 16));
  data.insert(data.end(), tail.begin(), tail.end());
  Frame frame = make_chunk_frame(type, ChunkHeader{7, 2, 3, 16800}, data.size());
  std::copy(data.begin(), data.end(), chunk_data_area(frame));
  return frame;
}

// Several frames of different kinds, including an empty payload.
std::vector<Frame> sample_frames() {
  return {
      encode(FlagMessage{1, 4, 131072}),
      Frame{FrameType::kDone, {}},
      chunk_frame_ending_with(FrameType::kChunkData, "<END>"),
      encode(RequestMessage{5, 1, 2, 9000}),
      chunk_frame_ending_with(FrameType::kSendChunk, "<EoH>"),
      encode_error("bye"),
  };
}

void check_same_frames(const std::vector<Frame>& got, const std::vector<Frame>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) CHECK(describe(got[i]) == describe(want[i]));
}

}  // namespace

TEST_CASE("frame header is magic CX, version, type, big-endian length") {
  auto header = encode_frame_header(FrameType::kChunkData, 0x01020304);
  CHECK(Bytes(header.begin(), header.end()) == Bytes{'C', 'X', kProtocolVersion, 6, 1, 2, 3, 4});
  Bytes encoded = encode_frame(Frame{FrameType::kIdle, Bytes{0xAA, 0xBB}});
  CHECK(encoded == Bytes{'C', 'X', kProtocolVersion, 5, 0, 0, 0, 2, 0xAA, 0xBB});
}

TEST_CASE("frame type bytes map to the original message names") {
  CHECK(frame_type_name(FrameType::kFlag) == "FLAG");
  CHECK(frame_type_name(FrameType::kRequestChunk) == "REQUEST_CHUNK");
  CHECK(frame_type_name(FrameType::kChunkData) == "CHUNK_DATA");
  CHECK(frame_type_name(FrameType::kSendChunk) == "SEND_CHUNK");
  CHECK_FALSE(frame_type_from_byte(0).has_value());
  CHECK(frame_type_name(FrameType::kHello) == "HELLO");
  CHECK_FALSE(frame_type_from_byte(18).has_value());
  for (FrameType type : kAllTypes) {
    CHECK(frame_type_from_byte(static_cast<uint8_t>(type)) == type);
  }
  CHECK(carries_chunk_data(FrameType::kChunkData));
  CHECK(carries_chunk_data(FrameType::kSendChunk));
  CHECK_FALSE(carries_chunk_data(FrameType::kRequestChunk));
}

TEST_CASE("every frame type round-trips through the decoder") {
  for (FrameType type : kAllTypes) {
    CAPTURE(frame_type_name(type));
    Frame frame{type, test::pseudo_random_bytes(40, static_cast<uint64_t>(type))};
    FrameDecoder decoder;
    std::vector<Frame> frames;
    CHECK(decoder.feed(encode_frame(frame), frames));
    check_same_frames(frames, {frame});
    CHECK_FALSE(decoder.mid_frame());
    CHECK_FALSE(decoder.failed());
  }
}

TEST_CASE("a zero-length payload is a whole frame") {
  FrameDecoder decoder;
  std::vector<Frame> frames;
  CHECK(decoder.feed(encode_frame(Frame{FrameType::kIdle, {}}), frames));
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == FrameType::kIdle);
  CHECK(frames[0].payload.empty());
  CHECK_FALSE(decoder.mid_frame());
}

TEST_CASE("a stream split in two at every byte boundary yields the same frames") {
  const std::vector<Frame> want = sample_frames();
  const Bytes stream = concat(want);
  for (size_t split = 0; split <= stream.size(); ++split) {
    CAPTURE(split);
    FrameDecoder decoder;
    std::vector<Frame> frames;
    ByteView all(stream);
    CHECK(decoder.feed(all.first(split), frames));
    CHECK(decoder.feed(all.subspan(split), frames));
    check_same_frames(frames, want);
    CHECK_FALSE(decoder.mid_frame());
  }
}

TEST_CASE("a stream fed one byte at a time completes each frame on its last byte") {
  const std::vector<Frame> want = sample_frames();
  const Bytes stream = concat(want);
  std::vector<size_t> frame_ends;  // stream offset just past each frame
  size_t offset = 0;
  for (const Frame& frame : want)
    frame_ends.push_back(offset += kFrameHeaderBytes + frame.payload.size());

  FrameDecoder decoder;
  std::vector<Frame> frames;
  std::vector<size_t> completed_at;
  for (size_t i = 0; i < stream.size(); ++i) {
    size_t before = frames.size();
    REQUIRE(decoder.feed(ByteView(&stream[i], 1), frames));
    if (frames.size() != before) completed_at.push_back(i + 1);
    bool at_boundary = frames.size() > 0 && completed_at.back() == i + 1;
    CHECK(decoder.mid_frame() == !at_boundary);
  }
  CHECK(completed_at == frame_ends);
  check_same_frames(frames, want);
}

TEST_CASE("chunk data ending in the old text delimiters is carried byte for byte") {
  for (std::string_view tail : {"<END>", "<EoH>", "<END><EoH>"}) {
    CAPTURE(tail);
    Frame frame = chunk_frame_ending_with(FrameType::kChunkData, tail);
    Bytes data(chunk_data(frame).begin(), chunk_data(frame).end());
    FrameDecoder decoder;
    std::vector<Frame> frames;
    REQUIRE(decoder.feed(encode_frame(frame), frames));
    REQUIRE(frames.size() == 1);
    ByteView got = chunk_data(frames[0]);
    CHECK(Bytes(got.begin(), got.end()) == data);
    CHECK(got.size() == 16 + tail.size());
    CHECK(std::string(got.end() - tail.size(), got.end()) == std::string(tail));
    CHECK(got[0] == 0);
  }
}

namespace {

// Reads `stream` as the transport does: `read_size` bytes at a time, straight
// into payload_space() whenever a payload is being filled, else through feed().
std::vector<Frame> decode_with_direct_reads(const Bytes& stream, size_t read_size) {
  FrameDecoder decoder;
  std::vector<Frame> frames;
  size_t pos = 0;
  while (pos < stream.size()) {
    std::span<uint8_t> space = decoder.payload_space();
    size_t n = std::min(read_size, stream.size() - pos);
    if (!space.empty()) {
      n = std::min(n, space.size());
      std::copy_n(stream.begin() + static_cast<ptrdiff_t>(pos), n, space.begin());
      decoder.payload_received(n, frames);
    } else {
      REQUIRE(decoder.feed(ByteView(stream).subspan(pos, n), frames));
    }
    pos += n;
  }
  CHECK_FALSE(decoder.mid_frame());
  return frames;
}

}  // namespace

TEST_CASE("reading payloads straight into payload_space yields the same frames") {
  const std::vector<Frame> want = sample_frames();
  const Bytes stream = concat(want);
  for (size_t read_size = 1; read_size <= stream.size(); ++read_size) {
    CAPTURE(read_size);
    check_same_frames(decode_with_direct_reads(stream, read_size), want);
  }
}

TEST_CASE("payload_space is the missing part of the payload being filled") {
  Frame frame = chunk_frame_ending_with(FrameType::kSendChunk, "<END>");
  const Bytes stream = encode_frame(frame);
  const size_t payload = frame.payload.size();
  FrameDecoder decoder;
  std::vector<Frame> frames;
  CHECK(decoder.payload_space().empty());
  REQUIRE(decoder.feed(ByteView(stream).first(5), frames));
  CHECK(decoder.payload_space().empty());  // header incomplete
  REQUIRE(decoder.feed(ByteView(stream).subspan(5, 3 + 10), frames));
  std::span<uint8_t> space = decoder.payload_space();
  REQUIRE(space.size() == payload - 10);
  std::copy(stream.begin() + kFrameHeaderBytes + 10, stream.end(), space.begin());
  decoder.payload_received(space.size() - 1, frames);
  CHECK(frames.empty());
  CHECK(decoder.payload_space().size() == 1);
  decoder.payload_received(1, frames);
  check_same_frames(frames, {frame});
  CHECK(decoder.payload_space().empty());
  CHECK_FALSE(decoder.mid_frame());

  FrameDecoder broken;
  CHECK_FALSE(broken.feed(header_bytes('C', 'X', kProtocolVersion, 0, 100), frames));
  CHECK(broken.payload_space().empty());
}

namespace {

// Feeds `stream` (a valid frame header + payload prefix) and expects the
// decoder to refuse it with an error that mentions every part of `why`.
void check_rejected(FrameDecoder& decoder, const Bytes& stream,
                    std::initializer_list<std::string_view> why) {
  std::vector<Frame> frames;
  CHECK_FALSE(decoder.feed(stream, frames));
  CHECK(frames.empty());
  CHECK(decoder.failed());
  for (std::string_view part : why) {
    CAPTURE(part);
    CHECK_MESSAGE(contains(decoder.error(), part), decoder.error());
  }
}

}  // namespace

TEST_CASE("bad magic is rejected") {
  FrameDecoder decoder;
  Bytes stream = header_bytes('C', 'Y', 1, 4, 0);
  check_rejected(decoder, stream, {"magic"});
  FrameDecoder http;
  check_rejected(http, bytes_of("GET / HTTP/1.1\r\n"), {"magic"});
}

TEST_CASE("bad protocol version is rejected: a version-1 peer speaks after the relay") {
  FrameDecoder decoder;
  check_rejected(decoder, header_bytes('C', 'X', 1, 4, 0), {"version 1", "expected 2"});
}

TEST_CASE("unknown frame types 0 and 18 are rejected") {
  FrameDecoder zero;
  check_rejected(zero, header_bytes('C', 'X', kProtocolVersion, 0, 0), {"unknown frame type 0"});
  FrameDecoder eighteen;
  check_rejected(eighteen, header_bytes('C', 'X', kProtocolVersion, 18, 0),
                 {"unknown frame type 18"});
}

TEST_CASE("a control frame longer than 4096 bytes is rejected before its payload arrives") {
  CHECK(max_payload_bytes(FrameType::kRequestChunk, 1000) == kMaxControlPayloadBytes);
  FrameDecoder at_limit;
  std::vector<Frame> frames;
  CHECK(at_limit.feed(header_bytes('C', 'X', kProtocolVersion, 10, 4096), frames));
  CHECK(at_limit.mid_frame());

  FrameDecoder decoder;
  check_rejected(decoder, header_bytes('C', 'X', kProtocolVersion, 10, 4097),
                 {"oversized", "ERROR", "4097", "4096"});
  FrameDecoder huge;
  check_rejected(huge, header_bytes('C', 'X', kProtocolVersion, 3, 0xFFFFFFFF),
                 {"oversized", "ROSTER"});
}

TEST_CASE("a chunk frame longer than header plus chunk_bytes_max is rejected") {
  const uint32_t chunk_max = 1000;
  const auto limit = static_cast<uint32_t>(kChunkHeaderBytes + chunk_max);
  CHECK(max_payload_bytes(FrameType::kChunkData, chunk_max) == limit);
  CHECK(max_payload_bytes(FrameType::kSendChunk, chunk_max) == limit);

  Frame largest = make_chunk_frame(FrameType::kChunkData, ChunkHeader{}, chunk_max);
  Bytes data = test::pseudo_random_bytes(chunk_max, 3);
  std::copy(data.begin(), data.end(), chunk_data_area(largest));
  FrameDecoder at_limit(chunk_max);
  std::vector<Frame> frames;
  CHECK(at_limit.feed(encode_frame(largest), frames));
  CHECK(frames.size() == 1);

  FrameDecoder decoder(chunk_max);
  check_rejected(decoder, header_bytes('C', 'X', kProtocolVersion, 6, limit + 1),
                 {"oversized", "CHUNK_DATA", std::to_string(limit + 1), std::to_string(limit)});
  FrameDecoder send(chunk_max);
  check_rejected(send, header_bytes('C', 'X', kProtocolVersion, 7, limit + 1),
                 {"oversized", "SEND_CHUNK"});
}

TEST_CASE("set_chunk_bytes_max changes the chunk frame limit") {
  FrameDecoder decoder(10);
  decoder.set_chunk_bytes_max(20);
  std::vector<Frame> frames;
  CHECK(decoder.feed(header_bytes('C', 'X', kProtocolVersion, 7, kChunkHeaderBytes + 20), frames));
  FrameDecoder smaller(20);
  smaller.set_chunk_bytes_max(10);
  check_rejected(smaller, header_bytes('C', 'X', kProtocolVersion, 7, kChunkHeaderBytes + 20),
                 {"oversized"});
}

TEST_CASE("frames before a malformed header are kept, nothing after it") {
  Bytes stream = encode_frame(encode(IdleMessage{3}));
  Bytes bad = header_bytes('C', 'X', kProtocolVersion, 18, 0);
  stream.insert(stream.end(), bad.begin(), bad.end());
  Bytes more = encode_frame(encode(IdleMessage{4}));
  stream.insert(stream.end(), more.begin(), more.end());

  FrameDecoder decoder;
  std::vector<Frame> frames;
  CHECK_FALSE(decoder.feed(stream, frames));
  REQUIRE(frames.size() == 1);
  CHECK(describe(frames[0]) == describe(encode(IdleMessage{3})));
}

TEST_CASE("a truncated stream stays mid-frame and yields no frame") {
  Bytes stream = encode_frame(encode(RequestMessage{1, 2, 3, 4}));
  for (size_t cut :
       {size_t{1}, size_t{3}, kFrameHeaderBytes - 1, kFrameHeaderBytes, stream.size() - 1}) {
    CAPTURE(cut);
    FrameDecoder decoder;
    std::vector<Frame> frames;
    CHECK(decoder.feed(ByteView(stream).first(cut), frames));
    CHECK(frames.empty());
    CHECK(decoder.mid_frame());
    CHECK_FALSE(decoder.failed());
  }
  FrameDecoder fresh;
  CHECK_FALSE(fresh.mid_frame());
}

TEST_CASE("after a failure feed keeps returning false and the error stays") {
  FrameDecoder decoder;
  std::vector<Frame> frames;
  CHECK_FALSE(decoder.feed(header_bytes('C', 'X', 9, 4, 0), frames));
  const std::string first_error = decoder.error();
  REQUIRE_FALSE(first_error.empty());
  for (int attempt = 0; attempt < 3; ++attempt) {
    CHECK_FALSE(decoder.feed(encode_frame(encode(IdleMessage{1})), frames));
    CHECK_FALSE(decoder.feed(ByteView{}, frames));
  }
  CHECK(frames.empty());
  CHECK(decoder.failed());
  CHECK(decoder.error() == first_error);
}

}  // namespace chunkex
