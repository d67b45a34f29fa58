// libFuzzer target: the frame decoder (common/frame.h) and every payload
// decoder (common/messages.h).
//
// Input layout (tests/fuzz/make_corpus.py writes seeds in it):
//   byte 0     mode: bits 0-2 choose the decoder's chunk limit (kLimits);
//              bit 3 reads payloads in place through payload_space() /
//              payload_received() as the Asio transport does; bits 4-5 choose
//              how large payload_space() must be for that (kDirectMin)
//   bytes 1-3  piece lengths, used in turn to split the stream (0: the rest)
//   rest       the byte stream
//
// The authentication messages (common/auth.h) and those of reconnecting
// (ANNOUNCE's resume claim, ROSTER's resume point, REFETCH, REFETCH_DATA,
// PEER_STATUS) are decoded the same way.
//
// Checked: the split does not matter (the same frames, error and mid-frame
// state as one feed of the whole stream); every frame respects its type's
// limit; a failed decoder stays failed and yields nothing; every frame
// survives encode_frame -> decode; every payload decoder accepts only its own
// type and re-encodes what it accepted to the same payload (ERROR's text is
// escaped for logs: printable ASCII that reads back to the payload); a decoded frame
// never carries its chunk by reference (frame.h ChunkRef), and a chunk frame's
// data is what received_chunk() hands a store (content.h).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/auth.h"
#include "common/bytes.h"
#include "common/content.h"
#include "common/frame.h"
#include "common/messages.h"
#include "fuzz_support.h"

namespace chunkex::fuzz {
namespace {

constexpr uint32_t kLimits[8] = {1, 21, 64, 1000, 4096, 131072, kMaxChunkBytes, 0};
constexpr size_t kDirectMin[4] = {1, 16, 4096, 0};

// The bytes behind decode_error()'s text; traps on anything it may not
// contain (a byte outside printable ASCII, a lone or malformed escape).
Bytes unescape_error_text(const std::string& text) {
  auto hex = [](char digit) -> int {
    if (digit >= '0' && digit <= '9') return digit - '0';
    if (digit >= 'a' && digit <= 'f') return digit - 'a' + 10;
    FUZZ_CHECK(false && "an escape's digits are lowercase hex");
    return 0;
  };
  Bytes bytes;
  for (size_t i = 0; i < text.size(); ++i) {
    auto byte = static_cast<uint8_t>(text[i]);
    FUZZ_CHECK(byte >= 0x20 && byte < 0x7f);
    if (byte != '\\') {
      bytes.push_back(byte);
      continue;
    }
    FUZZ_CHECK(i + 3 < text.size() && text[i + 1] == 'x');  // "\xNN"
    bytes.push_back(static_cast<uint8_t>(hex(text[i + 2]) * 16 + hex(text[i + 3])));
    i += 3;
  }
  return bytes;
}

template <typename Message>
void check_round_trip(const Frame& frame, FrameType own_type,
                      const std::optional<Message>& decoded) {
  if (frame.type != own_type) {
    FUZZ_CHECK(!decoded);  // a decoder accepts only its own frame type
    return;
  }
  if (!decoded) return;
  FUZZ_CHECK(same_frame(encode(*decoded), frame));
}

void check_messages(const Frame& frame) {
  auto flag = decode_flag(frame);
  check_round_trip(frame, FrameType::kFlag, flag);
  if (flag) {
    FUZZ_CHECK(flag->peer < flag->peer_count && flag->peer_count >= 2 &&
               flag->peer_count <= kMaxPeers);
    FUZZ_CHECK(flag->chunk_bytes > 0 && flag->chunk_bytes <= kMaxChunkBytes);
    FUZZ_CHECK((flag->returning_slots >> flag->peer_count) == 0);  // only slots that exist
  }

  auto announce = decode_announce(frame);
  check_round_trip(frame, FrameType::kAnnounce, announce);
  if (announce) {
    FUZZ_CHECK(announce->resume.peer < kMaxPeers || announce->resume.peer == kNoClaim);
    if (announce->resume == ResumeClaim{}) {
      FUZZ_CHECK(same_frame(encode_announce(announce->file), frame));
    }
  }

  auto roster = decode_roster(frame);
  check_round_trip(frame, FrameType::kRoster, roster);
  if (roster) {
    FUZZ_CHECK(roster->files.size() >= 2 && roster->files.size() <= kMaxPeers);
    FUZZ_CHECK(roster->files.size() == roster->costs.size());
    const ResumePoint& resume = roster->resume;
    FUZZ_CHECK(resume.resume_round <= resume.delivered_rounds &&
               resume.delivered_rounds <= resume.forwarded_rounds);
  }

  auto status = decode_peer_status(frame);
  check_round_trip(frame, FrameType::kPeerStatus, status);
  if (status) FUZZ_CHECK(status->peer < kMaxPeers);

  // REFETCH has the REQUEST_CHUNK layout under its own type.
  auto refetch = decode_refetch(frame);
  if (frame.type != FrameType::kRefetch) {
    FUZZ_CHECK(!refetch);
  } else {
    Frame as_request{FrameType::kRequestChunk, frame.payload};
    FUZZ_CHECK(refetch.has_value() == decode_request(as_request).has_value());
    if (refetch) FUZZ_CHECK(same_frame(encode_refetch(*refetch), frame));
  }

  check_round_trip(frame, FrameType::kRequestChunk, decode_request(frame));
  check_round_trip(frame, FrameType::kIdle, decode_idle(frame));

  auto done = decode_done(frame);
  check_round_trip(frame, FrameType::kDone, done);
  if (done) FUZZ_CHECK(done->verified_owners.size() <= kMaxPeers);

  auto final_message = decode_final(frame);
  check_round_trip(frame, FrameType::kFinal, final_message);
  if (final_message) FUZZ_CHECK(final_message->clocks_us.size() <= kMaxPeers);

  auto challenge = decode_challenge(frame);
  if (frame.type != FrameType::kChallenge) {
    FUZZ_CHECK(!challenge);
  } else if (challenge) {
    FUZZ_CHECK(same_frame(encode_challenge(*challenge), frame));
  }
  check_round_trip(frame, FrameType::kAuth, decode_auth(frame));
  auto auth_ok = decode_auth_ok(frame);
  if (frame.type != FrameType::kAuthOk) {
    FUZZ_CHECK(!auth_ok);
  } else if (auth_ok) {
    FUZZ_CHECK(same_frame(encode_auth_ok(*auth_ok), frame));
  }

  // ERROR text as it reaches a log: printable ASCII, every other byte (and
  // the backslash) as \xNN, so it reads back to exactly the payload.
  std::string text = decode_error(frame);
  FUZZ_CHECK(unescape_error_text(text) == frame.payload);
  bool plain = std::all_of(frame.payload.begin(), frame.payload.end(), [](uint8_t byte) {
    return byte >= 0x20 && byte < 0x7f && byte != '\\';
  });
  FUZZ_CHECK(plain == (text.size() == frame.payload.size()));
  if (frame.type == FrameType::kError && plain && text.size() <= kMaxErrorTextBytes) {
    FUZZ_CHECK(same_frame(encode_error(text), frame));
  }
  FUZZ_CHECK(encode_error(text).payload.size() <= kMaxErrorTextBytes);

  auto header = decode_chunk_header(frame);
  bool chunk_frame = carries_chunk_data(frame.type) && frame.payload.size() >= kChunkHeaderBytes;
  FUZZ_CHECK(header.has_value() == chunk_frame);
  if (header) {
    ByteView data = chunk_data(frame);
    FUZZ_CHECK(data.size() == frame.payload.size() - kChunkHeaderBytes);
    FUZZ_CHECK(same_bytes(data, ByteView(frame.payload).subspan(kChunkHeaderBytes)));
    FUZZ_CHECK(chunk_data_bytes(frame) == data.size());
    ChunkBytes received = received_chunk(frame);  // what a peer hands its store
    FUZZ_CHECK(!received.ref && received.size() == data.size() && same_bytes(received.data, data));
    Frame rebuilt = make_chunk_frame(frame.type, *header, data.size());
    if (!data.empty()) std::memcpy(chunk_data_area(rebuilt), data.data(), data.size());
    FUZZ_CHECK(same_frame(rebuilt, frame));
    // The relay turns CHUNK_DATA into SEND_CHUNK in place: 21 bytes change.
    FrameType other =
        frame.type == FrameType::kChunkData ? FrameType::kSendChunk : FrameType::kChunkData;
    rewrite_chunk_frame(rebuilt, other, *header);
    FUZZ_CHECK(rebuilt.type == other);
    FUZZ_CHECK(same_bytes(rebuilt.payload, frame.payload));
    auto reread = decode_chunk_header(rebuilt);
    FUZZ_CHECK(reread && *reread == *header);
  }
}

void check_frame(const Frame& frame, uint32_t limit) {
  auto type_byte = static_cast<uint8_t>(frame.type);
  auto type = frame_type_from_byte(type_byte);
  FUZZ_CHECK(type && *type == frame.type);
  FUZZ_CHECK(frame_type_name(frame.type) != "UNKNOWN");
  // A decoder yields bytes, never a chunk by reference (only the simulator's
  // in-memory link makes those): what crossed the wire is the payload.
  FUZZ_CHECK(!frame.data_ref && wire_payload_bytes(frame) == frame.payload.size());
  FUZZ_CHECK(frame.payload.size() <= max_payload_bytes(frame.type, limit));
  FUZZ_CHECK(frame.payload.size() <= kMaxControlPayloadBytes ||
             (carries_chunk_data(frame.type) &&
              frame.payload.size() <= kChunkHeaderBytes + uint64_t{kMaxChunkBytes}));

  // encode_frame -> a fresh decoder gives back exactly this frame.
  Bytes encoded = encode_frame(frame);
  FUZZ_CHECK(encoded.size() == kFrameHeaderBytes + frame.payload.size());
  auto header = encode_frame_header(frame.type, static_cast<uint32_t>(frame.payload.size()));
  FUZZ_CHECK(std::equal(header.begin(), header.end(), encoded.begin()));
  FrameDecoder again(limit);
  std::vector<Frame> frames;
  FUZZ_CHECK(again.feed(encoded, frames));
  FUZZ_CHECK(frames.size() == 1 && same_frame(frames[0], frame));
  FUZZ_CHECK(!again.failed() && !again.mid_frame());

  check_messages(frame);
}

}  // namespace
}  // namespace chunkex::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chunkex;
  using namespace chunkex::fuzz;
  if (size < 4) return 0;
  FuzzInput input(data, size);
  const uint8_t mode = input.u8();
  const uint32_t limit = kLimits[mode & 7];
  const bool direct_reads = (mode & 8) != 0;
  const size_t direct_min = kDirectMin[(mode >> 4) & 3];
  const uint8_t pieces[3] = {input.u8(), input.u8(), input.u8()};
  const ByteView stream = input.rest();

  // The stream in pieces, the way a transport would see it.
  FrameDecoder decoder(limit);
  std::vector<Frame> frames;
  size_t offset = 0;
  for (size_t turn = 0; offset < stream.size(); ++turn) {
    size_t length = pieces[turn % 3] == 0 ? stream.size() - offset : pieces[turn % 3];
    ByteView piece = stream.subspan(offset, std::min(length, stream.size() - offset));
    offset += piece.size();
    const bool failed_before = decoder.failed();
    const size_t frames_before = frames.size();
    std::span<uint8_t> space = decoder.payload_space();
    if (decoder.failed()) FUZZ_CHECK(space.empty());
    if (direct_reads && !space.empty() && space.size() >= direct_min) {
      // A read straight into the payload: never more than the space offered.
      size_t take = std::min(space.size(), piece.size());
      std::memcpy(space.data(), piece.data(), take);
      decoder.payload_received(take, frames);
      FUZZ_CHECK(frames.size() - frames_before <= 1);
      FUZZ_CHECK(!decoder.failed());
      // A transport reads the rest of the piece next time round.
      offset -= piece.size() - take;
    } else {
      bool ok = decoder.feed(piece, frames);
      FUZZ_CHECK(ok == !decoder.failed());
    }
    if (failed_before) {
      // The first malformed header stops the decoder for good.
      FUZZ_CHECK(decoder.failed() && frames.size() == frames_before);
      FUZZ_CHECK(decoder.payload_space().empty());
    }
    FUZZ_CHECK(decoder.failed() == !decoder.error().empty());
  }

  // The split must not matter: one feed of the whole stream agrees.
  FrameDecoder whole(limit);
  std::vector<Frame> whole_frames;
  bool whole_ok = whole.feed(stream, whole_frames);
  FUZZ_CHECK(whole_ok == !whole.failed());
  FUZZ_CHECK(whole.failed() == decoder.failed());
  FUZZ_CHECK(whole.error() == decoder.error());
  FUZZ_CHECK(whole.mid_frame() == decoder.mid_frame());
  FUZZ_CHECK(whole_frames.size() == frames.size());
  for (size_t i = 0; i < frames.size(); ++i) FUZZ_CHECK(same_frame(whole_frames[i], frames[i]));

  for (const Frame& frame : frames) check_frame(frame, limit);

  // A failed decoder takes nothing more, whatever comes.
  if (decoder.failed()) {
    std::vector<Frame> more;
    const uint8_t valid_flag[] = {'C', 'X', kProtocolVersion, 1, 0, 0, 0, 0};
    FUZZ_CHECK(!decoder.feed(ByteView(valid_flag, sizeof valid_flag), more));
    FUZZ_CHECK(!decoder.feed(stream, more));
    FUZZ_CHECK(more.empty());
    FUZZ_CHECK(decoder.payload_space().empty());
  }
  return 0;
}
