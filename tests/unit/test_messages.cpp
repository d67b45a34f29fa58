// Payload layouts of every message (messages.h): round trips, exact
// big-endian bytes, and refusal of anything that is not exactly the layout.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/messages.h"
#include "common/sha256.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::bytes_of;

Sha256Digest digest_of(std::string_view text) {
  return sha256_of(bytes_of(text));
}

Bytes data_of(const Frame& frame) {
  ByteView data = chunk_data(frame);
  return Bytes(data.begin(), data.end());
}

struct Case {
  const char* name;
  Frame frame;
  std::function<bool(const Frame&)> decodes;
};

// One valid frame of every control message, with a decoder that reports
// whether it accepts a frame.
std::vector<Case> valid_cases() {
  RosterMessage roster;
  roster.files = {{100, digest_of("a")}, {0, digest_of("")}};
  roster.costs = {{6000, 600}, {7000, 700}};
  return {
      {"FLAG", encode(FlagMessage{2, 4, 131072}),
       [](const Frame& f) { return decode_flag(f).has_value(); }},
      {"ANNOUNCE", encode_announce(FileAnnouncement{5, digest_of("x")}),
       [](const Frame& f) { return decode_announce(f).has_value(); }},
      {"ROSTER", encode(roster), [](const Frame& f) { return decode_roster(f).has_value(); }},
      {"REQUEST_CHUNK", encode(RequestMessage{1, 2, 3, 4}),
       [](const Frame& f) { return decode_request(f).has_value(); }},
      {"IDLE", encode(IdleMessage{9}), [](const Frame& f) { return decode_idle(f).has_value(); }},
      {"DONE", encode(DoneMessage{{0, 1, 3}}),
       [](const Frame& f) { return decode_done(f).has_value(); }},
      {"FINAL", encode(FinalMessage{{16800, 17800}}),
       [](const Frame& f) { return decode_final(f).has_value(); }},
  };
}

}  // namespace

TEST_CASE("FLAG round-trips") {
  auto decoded = decode_flag(encode(FlagMessage{3, 4, 131072}));
  REQUIRE(decoded);
  CHECK(decoded->peer == 3);
  CHECK(decoded->peer_count == 4);
  CHECK(decoded->chunk_bytes == 131072);
  CHECK(encode(FlagMessage{3, 4, 131072}).payload == Bytes{3, 4, 0, 2, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("FLAG carries the slots that wait for their peer; none beyond the peer count") {
  auto decoded = decode_flag(encode(FlagMessage{1, 4, 1000, 0b1010}));
  REQUIRE(decoded);
  CHECK(decoded->returning_slots == 0b1010);
  CHECK_FALSE(decode_flag(encode(FlagMessage{1, 4, 1000, 0b10000})));
}

TEST_CASE("ANNOUNCE round-trips") {
  FileAnnouncement file{0x0102030405060708ULL, digest_of("own file")};
  Frame frame = encode_announce(file);
  CHECK(frame.type == FrameType::kAnnounce);
  CHECK(frame.payload.size() == 8 + 32 + 1 + 32 + 8);
  auto decoded = decode_announce(frame);
  REQUIRE(decoded);
  CHECK(decoded->file == file);
  CHECK(decoded->resume == ResumeClaim{});
}

TEST_CASE("ANNOUNCE carries a resume claim; a claimed slot past the last peer is malformed") {
  ResumeClaim claim{2, digest_of("exchange"), 1234};
  FileAnnouncement file{77, digest_of("own file")};
  auto decoded = decode_announce(encode(AnnounceMessage{file, claim}));
  REQUIRE(decoded);
  CHECK(decoded->file == file);
  CHECK(decoded->resume == claim);
  claim.peer = kMaxPeers;
  CHECK_FALSE(decode_announce(encode(AnnounceMessage{file, claim})));
}

TEST_CASE("PEER_STATUS and REFETCH round-trip") {
  auto status = decode_peer_status(encode(PeerStatusMessage{2, false, 60}));
  REQUIRE(status);
  CHECK(status->peer == 2);
  CHECK_FALSE(status->present);
  CHECK(status->grace_s == 60);
  ChunkHeader header{7, 1, 42, 0};
  Frame refetch = encode_refetch(header);
  CHECK(refetch.type == FrameType::kRefetch);
  CHECK(decode_refetch(refetch) == header);
  CHECK_FALSE(decode_request(refetch));
}

TEST_CASE("the exchange digest changes with the chunk size, any file and any cost") {
  RosterMessage roster;
  for (int i = 0; i < 4; ++i) {
    roster.files.push_back({static_cast<uint64_t>(100 + i), digest_of(std::to_string(i))});
    roster.costs.push_back(PeerCosts{6000, 600});
  }
  Sha256Digest base = exchange_digest(roster, 1000);
  CHECK(exchange_digest(roster, 1000) == base);
  CHECK(exchange_digest(roster, 1001) != base);
  RosterMessage other = roster;
  other.files[3].size_bytes += 1;
  CHECK(exchange_digest(other, 1000) != base);
  other = roster;
  other.costs[0].other_us += 1;
  CHECK(exchange_digest(other, 1000) != base);
  other = roster;
  other.resume = ResumePoint{1, 2, 3};  // where one peer starts is not part of it
  CHECK(exchange_digest(other, 1000) == base);
}

TEST_CASE("ROSTER round-trips every file and every cost in peer order") {
  RosterMessage roster;
  for (int i = 0; i < 5; ++i) {
    roster.files.push_back({static_cast<uint64_t>(1000 * i), digest_of(std::to_string(i))});
  }
  roster.costs = test::default_costs(5);
  Frame frame = encode(roster);
  CHECK(frame.payload.size() == 1 + 5 * (8 + 32 + 4 + 4) + 3 * 8);
  auto decoded = decode_roster(frame);
  REQUIRE(decoded);
  CHECK(decoded->files == roster.files);
  CHECK(decoded->costs == roster.costs);
}

TEST_CASE("REQUEST_CHUNK, IDLE, DONE, FINAL round-trip") {
  RequestMessage request{0xFFFFFFFFFFULL, 25, 0xFFFFFFFF, -1};
  CHECK(decode_request(encode(request)) == request);

  auto idle = decode_idle(encode(IdleMessage{11721}));
  REQUIRE(idle);
  CHECK(idle->round == 11721);

  auto done = decode_done(encode(DoneMessage{{0, 2, 3}}));
  REQUIRE(done);
  CHECK(done->verified_owners == std::vector<PeerIndex>{0, 2, 3});
  auto no_owners = decode_done(encode(DoneMessage{}));
  REQUIRE(no_owners);
  CHECK(no_owners->verified_owners.empty());

  std::vector<ClockUs> clocks{232072800, 232073800, 232074800, 232075800};
  auto final_message = decode_final(encode(FinalMessage{clocks}));
  REQUIRE(final_message);
  CHECK(final_message->clocks_us == clocks);
}

TEST_CASE("ERROR carries its text, cut at kMaxErrorTextBytes") {
  Frame frame = encode_error("server full: all 4 client slots are taken");
  CHECK(frame.type == FrameType::kError);
  CHECK(decode_error(frame) == "server full: all 4 client slots are taken");
  std::string long_text(kMaxErrorTextBytes + 100, 'x');
  CHECK(decode_error(encode_error(long_text)).size() == kMaxErrorTextBytes);
}

TEST_CASE("ERROR text from a peer cannot forge a log line or drive a terminal") {
  std::string forged = "oops\n999.9 [Server] final clocks A=1.0\r\x1b[2J\\x41 \xff";
  std::string text = decode_error(encode_error(forged));
  CHECK(text == "oops\\x0a999.9 [Server] final clocks A=1.0\\x0d\\x1b[2J\\x5cx41 \\xff");
  CHECK(text.find('\n') == std::string::npos);
  CHECK(text.find('\x1b') == std::string::npos);
}

TEST_CASE("REQUEST_CHUNK payload is big-endian u64 round, u8 peer, u32 chunk, i64 clock") {
  Frame frame =
      encode(RequestMessage{0x0102030405060708ULL, 0x09, 0x0A0B0C0D, 0x0E0F101112131415LL});
  const Bytes expected{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B,
                       0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15};
  CHECK(frame.type == FrameType::kRequestChunk);
  CHECK(to_hex(frame.payload) == to_hex(expected));
  CHECK(to_hex(encode(RequestMessage{0, 0, 0, -2}).payload) ==
        std::string(26, '0') + "fffffffffffffffe");
}

TEST_CASE("a chunk header has the REQUEST_CHUNK layout") {
  ChunkHeader header{0x0102030405060708ULL, 0x09, 0x0A0B0C0D, 0x0E0F101112131415LL};
  Frame chunk = make_chunk_frame(FrameType::kChunkData, header, 3);
  Bytes request =
      encode(RequestMessage{header.round, header.peer, header.chunk_index, header.clock_us})
          .payload;
  REQUIRE(chunk.payload.size() == kChunkHeaderBytes + 3);
  CHECK(Bytes(chunk.payload.begin(), chunk.payload.begin() + kChunkHeaderBytes) == request);
}

TEST_CASE("decoders refuse a payload one byte short") {
  for (Case& c : valid_cases()) {
    CAPTURE(c.name);
    REQUIRE(c.decodes(c.frame));
    c.frame.payload.pop_back();
    CHECK_FALSE(c.decodes(c.frame));
  }
  CHECK_FALSE(decode_flag(Frame{FrameType::kFlag, {}}).has_value());
  CHECK_FALSE(decode_roster(Frame{FrameType::kRoster, {}}).has_value());
}

TEST_CASE("decoders refuse trailing bytes") {
  for (Case& c : valid_cases()) {
    CAPTURE(c.name);
    c.frame.payload.push_back(0);
    CHECK_FALSE(c.decodes(c.frame));
  }
}

TEST_CASE("decoders refuse a frame of another type") {
  for (Case& c : valid_cases()) {
    CAPTURE(c.name);
    for (FrameType other : {FrameType::kFlag, FrameType::kAnnounce, FrameType::kRoster,
                            FrameType::kRequestChunk, FrameType::kIdle, FrameType::kChunkData,
                            FrameType::kDone, FrameType::kFinal, FrameType::kError}) {
      if (other == c.frame.type) continue;
      CAPTURE(frame_type_name(other));
      CHECK_FALSE(c.decodes(Frame{other, c.frame.payload}));
    }
  }
}

TEST_CASE("FLAG is refused when the peer is out of range or chunk_bytes is invalid") {
  CHECK_FALSE(decode_flag(encode(FlagMessage{4, 4, 131072})).has_value());
  CHECK_FALSE(decode_flag(encode(FlagMessage{5, 4, 131072})).has_value());
  CHECK_FALSE(decode_flag(encode(FlagMessage{0, 0, 131072})).has_value());
  CHECK_FALSE(decode_flag(encode(FlagMessage{0, kMaxPeers + 1, 131072})).has_value());
  CHECK_FALSE(decode_flag(encode(FlagMessage{1, 4, 0})).has_value());
  CHECK_FALSE(decode_flag(encode(FlagMessage{1, 4, kMaxChunkBytes + 1})).has_value());
  CHECK(decode_flag(encode(FlagMessage{3, 4, 1})).has_value());
  CHECK(decode_flag(encode(FlagMessage{0, 2, kMaxChunkBytes})).has_value());
}

TEST_CASE("counted messages are refused when the count does not match the payload") {
  Frame empty_roster{FrameType::kRoster, Bytes{0}};
  CHECK_FALSE(decode_roster(empty_roster).has_value());
  CHECK_FALSE(decode_done(Frame{FrameType::kDone, Bytes{2, 0}}).has_value());
  CHECK_FALSE(decode_done(Frame{FrameType::kDone, Bytes{1, 0, 1}}).has_value());
  CHECK_FALSE(decode_final(Frame{FrameType::kFinal, Bytes{1, 0, 0, 0}}).has_value());
}

TEST_CASE("make_chunk_frame leaves a data area that decodes back intact") {
  Bytes data = bytes_of(std::string("\0\xff<END>\0<EoH>", 13));
  ChunkHeader header{42, 1, 7, 19800};
  Frame frame = make_chunk_frame(FrameType::kChunkData, header, data.size());
  std::copy(data.begin(), data.end(), chunk_data_area(frame));
  CHECK(frame.type == FrameType::kChunkData);
  CHECK(frame.payload.size() == kChunkHeaderBytes + data.size());
  CHECK(decode_chunk_header(frame) == header);
  CHECK(data_of(frame) == data);
}

TEST_CASE("rewrite_chunk_frame turns CHUNK_DATA into SEND_CHUNK without touching data") {
  Bytes data = test::pseudo_random_bytes(1000, 7);
  Frame frame = make_chunk_frame(FrameType::kChunkData, ChunkHeader{3, 0, 5, 8600}, data.size());
  std::copy(data.begin(), data.end(), chunk_data_area(frame));
  ChunkHeader relayed{3, 1, 5, 16800};
  rewrite_chunk_frame(frame, FrameType::kSendChunk, relayed);
  CHECK(frame.type == FrameType::kSendChunk);
  CHECK(frame.payload.size() == kChunkHeaderBytes + data.size());
  CHECK(decode_chunk_header(frame) == relayed);
  CHECK(data_of(frame) == data);
}

TEST_CASE("an empty chunk has no data bytes") {
  Frame frame = make_chunk_frame(FrameType::kSendChunk, ChunkHeader{1, 2, 3, 4}, 0);
  CHECK(frame.payload.size() == kChunkHeaderBytes);
  CHECK(chunk_data(frame).empty());
  CHECK(decode_chunk_header(frame) == ChunkHeader{1, 2, 3, 4});
}

TEST_CASE("decode_chunk_header refuses short payloads and non-chunk frames") {
  Frame frame = make_chunk_frame(FrameType::kChunkData, ChunkHeader{1, 2, 3, 4}, 0);
  frame.payload.pop_back();
  CHECK_FALSE(decode_chunk_header(frame).has_value());
  Frame request = encode(RequestMessage{1, 2, 3, 4});
  REQUIRE(request.payload.size() == kChunkHeaderBytes);
  CHECK_FALSE(decode_chunk_header(request).has_value());
}

}  // namespace chunkex

namespace chunkex {

TEST_CASE("FLAG and ROSTER for fewer than two peers are refused (the rotation needs two)") {
  CHECK_FALSE(decode_flag(encode(FlagMessage{0, 1, 4})));
  CHECK(decode_flag(encode(FlagMessage{1, 2, 4})));
  RosterMessage one;
  one.files.push_back(FileAnnouncement{});
  one.costs.push_back(PeerCosts{});
  CHECK_FALSE(decode_roster(encode(one)));
}

TEST_CASE("digests read back from hex; anything but 64 hex digits is refused") {
  Sha256Digest digest = digest_of("x");
  CHECK(digest_from_hex(to_hex(digest)) == digest);
  CHECK_FALSE(digest_from_hex(to_hex(digest).substr(1)));
  CHECK_FALSE(digest_from_hex(std::string(64, 'g')));
  CHECK_FALSE(digest_from_hex(""));
}

}  // namespace chunkex
