// PeerCore on its own: the server's frames are scripted, the peer's answers,
// log lines and storage calls are checked.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/messages.h"
#include "common/peer_core.h"
#include "common/sha256.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::contains;

constexpr uint32_t kChunkBytes = 1000;

// Peer A of four, every file 3000 bytes (3 chunks), default costs.
struct PeerHarness {
  explicit PeerHarness(uint32_t window)
      : files{test::pseudo_random_bytes(3000, 0), test::pseudo_random_bytes(3000, 1),
              test::pseudo_random_bytes(3000, 2), test::pseudo_random_bytes(3000, 3)},
        store(files[0]),
        out(store),
        core(PeerSettings{window}, store, out) {}

  void flag() { core.on_frame(encode(FlagMessage{0, 4, kChunkBytes})); }
  RosterMessage roster() const {
    RosterMessage message;
    for (const Bytes& file : files) message.files.push_back({file.size(), sha256_of(file)});
    message.costs = test::default_costs();
    return message;
  }
  void join() {
    flag();
    core.on_frame(encode(roster()));
  }

  // Takes everything the peer has sent so far.
  std::vector<Frame> take_sent() {
    std::vector<Frame> frames(std::make_move_iterator(out.to_server.begin()),
                              std::make_move_iterator(out.to_server.end()));
    out.to_server.clear();
    return frames;
  }

  Frame send_chunk(uint64_t round, PeerIndex owner, uint32_t chunk, ClockUs clock) const {
    Frame frame = make_chunk_frame(FrameType::kSendChunk, ChunkHeader{round, owner, chunk, clock},
                                   kChunkBytes);
    auto begin = files[owner].begin() + static_cast<ptrdiff_t>(chunk * kChunkBytes);
    std::copy(begin, begin + kChunkBytes, chunk_data_area(frame));
    return frame;
  }

  void check_failed(const std::string& why, bool told_server) {
    REQUIRE(out.finished_calls == 1);
    REQUIRE(out.outcome);
    CHECK_FALSE(out.outcome->success);
    CHECK_MESSAGE(contains(out.outcome->failure, why), out.outcome->failure);
    CHECK(core.finished());
    REQUIRE_FALSE(out.log_lines.empty());
    CHECK(contains(out.log_lines.back(), "error: "));
    bool sent_error = !out.to_server.empty() && out.to_server.back().type == FrameType::kError;
    CHECK(sent_error == told_server);
    if (sent_error) CHECK(contains(decode_error(out.to_server.back()), why));
  }

  std::vector<Bytes> files;
  test::MemoryChunkStore store;
  test::QueuePeerOutbox out;
  PeerCore core;
};

}  // namespace

TEST_CASE("FLAG makes the peer open its file and announce it") {
  PeerHarness h(8);
  h.flag();
  CHECK(h.core.self() == 0);
  CHECK(h.core.chunk_bytes() == kChunkBytes);
  CHECK(h.store.opened_as == 0);
  std::vector<Frame> sent = h.take_sent();
  REQUIRE(sent.size() == 1);
  auto announce = decode_announce(sent[0]);
  REQUIRE(announce);
  CHECK(announce->file == FileAnnouncement{3000, sha256_of(h.files[0])});
  CHECK(announce->resume == ResumeClaim{});
  // The log begins once the roster is known (a returning peer writes it again).
  CHECK(h.out.log_lines.empty());
  h.core.on_frame(encode(h.roster()));
  REQUIRE(!h.out.log_lines.empty());
  CHECK(h.out.log_lines[0] ==
        "0.0 [A] FLAG: joined as A of 4; own file 3000 bytes, 3 chunks, sha256 " +
            to_hex(sha256_of(h.files[0])));
}

TEST_CASE("after ROSTER the peer keeps `window` rounds of requests in flight") {
  PeerHarness h(4);
  h.join();
  std::vector<Frame> sent = h.take_sent();
  REQUIRE(sent.size() == 1 + 4);
  // A asks B, C, D, then B again; each request carries A's clock after sending it.
  CHECK(decode_request(sent[1]) == RequestMessage{0, 1, 0, 600});
  CHECK(decode_request(sent[2]) == RequestMessage{1, 2, 0, 17400});
  CHECK(decode_request(sent[3]) == RequestMessage{2, 3, 0, 37200});
  CHECK(decode_request(sent[4]) == RequestMessage{3, 1, 1, 57000});
  for (PeerIndex owner = 1; owner < 4; ++owner) CHECK(h.store.begins_of(owner) == 1);
  CHECK(h.store.begins_of(0) == 0);
  CHECK(h.core.progress().chunks_needed == 9);
}

TEST_CASE("requests are refilled in batches of a quarter window") {
  PeerHarness h(8);  // batches of 2 rounds
  h.join();
  REQUIRE(h.take_sent().size() == 1 + 8);  // ANNOUNCE, rounds 0..7
  h.core.on_frame(h.send_chunk(0, 1, 0, 16800));
  h.core.on_frame(encode(RequestMessage{0, 3, 0, 1500}));
  std::vector<Frame> sent = h.take_sent();
  REQUIRE(sent.size() == 1);  // the answer; 7 rounds still open
  CHECK(sent[0].type == FrameType::kChunkData);
  // Round 1: A asks C, C asks A (the clocks of the default costs).
  h.core.on_frame(h.send_chunk(1, 2, 0, 36600));
  h.core.on_frame(encode(RequestMessage{1, 2, 0, 21300}));
  sent = h.take_sent();
  REQUIRE(sent.size() == 3);  // the answer, then rounds 8 and 9 together
  CHECK(sent[0].type == FrameType::kChunkData);
  CHECK(sent[1].type == FrameType::kRequestChunk);
  CHECK(decode_request(sent[1])->round == 8);
  CHECK(sent[2].type == FrameType::kIdle);  // 9 rounds move the 9 chunks; round 9 is all IDLE
}

TEST_CASE("a window larger than the exchange sends every request and the final IDLE") {
  PeerHarness h(64);
  h.join();
  std::vector<Frame> sent = h.take_sent();
  REQUIRE(sent.size() == 1 + 10);  // 9 rounds that move chunks, then round 9 all IDLE
  for (size_t r = 0; r < 9; ++r) CHECK(sent[1 + r].type == FrameType::kRequestChunk);
  auto idle = decode_idle(sent.back());
  REQUIRE(idle);
  CHECK(idle->round == 9);
}

TEST_CASE("a forwarded request is answered with the chunk's bytes at the model's clock") {
  PeerHarness h(1);
  h.join();
  h.take_sent();
  // Round 0: D asks A for chunk 0; the forward carries A's clock 1.5.
  h.core.on_frame(encode(RequestMessage{0, 3, 0, 1500}));
  std::vector<Frame> sent = h.take_sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].type == FrameType::kChunkData);
  CHECK(decode_chunk_header(sent[0]) == ChunkHeader{0, 3, 0, 7500});
  ByteView data = chunk_data(sent[0]);
  CHECK(Bytes(data.begin(), data.end()) == Bytes(h.files[0].begin(), h.files[0].begin() + 1000));
}

TEST_CASE("a completed round is logged in canonical order and the next request goes out") {
  PeerHarness h(1);
  h.join();
  h.take_sent();
  const size_t before = h.out.log_lines.size();
  h.core.on_frame(h.send_chunk(0, 1, 0, 16800));  // the chunk may arrive before the forward
  CHECK(h.out.log_lines.size() == before);
  CHECK(h.take_sent().empty());
  h.core.on_frame(encode(RequestMessage{0, 3, 0, 1500}));
  std::vector<std::string> lines(h.out.log_lines.begin() + static_cast<ptrdiff_t>(before),
                                 h.out.log_lines.end());
  CHECK(lines == std::vector<std::string>{
                     "0.6 [A] REQUEST_CHUNK chunk 0 of B (round 0)",
                     "1.5 [A] forwarded REQUEST_CHUNK from D: chunk 0 (round 0)",
                     "7.5 [A] CHUNK_DATA chunk 0 to D (round 0)",
                     "16.8 [A] recv chunk 0 of B (round 0)",
                 });
  std::vector<Frame> sent = h.take_sent();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].type == FrameType::kChunkData);
  CHECK(decode_request(sent[1]) == RequestMessage{1, 2, 0, 17400});
  const Bytes& got = h.store.received.at(1);
  CHECK(std::equal(got.begin(), got.begin() + 1000, h.files[1].begin()));
  CHECK(h.core.progress().chunks_received == 1);
  CHECK(h.core.progress().bytes_received == 1000);
}

TEST_CASE("a forwarded request that does not match the schedule is refused") {
  PeerHarness h(1);
  h.join();
  h.take_sent();
  RequestMessage forward{0, 3, 0, 1500};
  SUBCASE("wrong clock") {
    forward.clock_us = 1501;
  }
  SUBCASE("wrong requester") {
    forward.peer = 2;
  }
  SUBCASE("wrong chunk") {
    forward.chunk_index = 1;
  }
  SUBCASE("round not open") {
    forward.round = 5;
  }
  h.core.on_frame(encode(forward));
  h.check_failed("protocol error from the server", true);
  for (const Frame& frame : h.out.to_server) CHECK(frame.type != FrameType::kChunkData);
}

TEST_CASE("a SEND_CHUNK that does not match the request is refused") {
  PeerHarness h(1);
  h.join();
  h.take_sent();
  Frame chunk = h.send_chunk(0, 1, 0, 16800);
  SUBCASE("one byte short") {
    chunk.payload.pop_back();
  }
  SUBCASE("wrong owner") {
    rewrite_chunk_frame(chunk, FrameType::kSendChunk, {0, 2, 0, 16800});
  }
  SUBCASE("wrong chunk") {
    rewrite_chunk_frame(chunk, FrameType::kSendChunk, {0, 1, 1, 16800});
  }
  SUBCASE("wrong clock") {
    rewrite_chunk_frame(chunk, FrameType::kSendChunk, {0, 1, 0, 16900});
  }
  SUBCASE("twice") {
    h.core.on_frame(h.send_chunk(0, 1, 0, 16800));
  }
  h.core.on_frame(std::move(chunk));
  h.check_failed("SEND_CHUNK", true);
}

TEST_CASE("an own file that cannot be opened is a clear error, told to the server") {
  PeerHarness h(8);
  h.store.open_error = "cannot open own file data/A.file: No such file or directory";
  h.flag();
  h.check_failed("cannot open own file data/A.file", true);
  CHECK(h.out.to_server.size() == 1);  // the ERROR, no ANNOUNCE
  // Said before the own file is opened and hashed, so a script that starts
  // clients in turn need not wait for the hash (DESIGN §5.3).
  REQUIRE_FALSE(h.out.notices.empty());
  CHECK(h.out.notices.front() == "joined as client A of 4");
}

TEST_CASE("frames out of order or not for a peer are protocol errors") {
  PeerHarness h(8);
  SUBCASE("ROSTER before FLAG") {
    h.core.on_frame(encode(h.roster()));
  }
  SUBCASE("FLAG twice") {
    h.flag();
    h.flag();
  }
  SUBCASE("ROSTER that misstates the peer's own file") {
    h.flag();
    RosterMessage roster = h.roster();
    roster.files[0].size_bytes = 2999;
    h.core.on_frame(encode(roster));
  }
  SUBCASE("ROSTER with the wrong peer count") {
    h.flag();
    RosterMessage roster = h.roster();
    roster.files.pop_back();
    roster.costs.pop_back();
    h.core.on_frame(encode(roster));
  }
  SUBCASE("FINAL before the exchange ends") {
    h.join();
    h.core.on_frame(encode(FinalMessage{{0, 0, 0, 0}}));
  }
  SUBCASE("a frame only peers send") {
    h.join();
    h.core.on_frame(encode(DoneMessage{{1, 2, 3}}));
  }
  h.check_failed("protocol error from the server", true);
}

TEST_CASE("the server closing the connection ends the peer without an ERROR back") {
  PeerHarness h(8);
  h.join();
  h.take_sent();
  h.core.on_disconnect();
  h.check_failed("lost the connection to the server", false);
  h.core.on_disconnect();
  CHECK(h.out.finished_calls == 1);
}

TEST_CASE("an ERROR from the server ends the peer with the server's reason") {
  PeerHarness h(8);
  h.join();
  h.take_sent();
  h.core.on_frame(encode_error("client C disconnected; the exchange cannot go on"));
  h.check_failed("server reported: client C disconnected", false);
}

TEST_CASE("shutdown tells the server why") {
  PeerHarness h(8);
  h.join();
  h.take_sent();
  h.core.on_shutdown("SIGINT");
  h.check_failed("stopped: SIGINT", true);
}

// Issue 10, point 1: an HTTP server, or anything that waits for the client to
// talk first, must not hold a client at "connected" for ever.
TEST_CASE("listener never speaks: the peer gives up after handshake_timeout_s") {
  PeerHarness h(8);
  h.core.on_time(1000);
  h.core.on_connected();
  CHECK(h.core.next_deadline_ms() == 1000 + 10'000);
  h.core.on_time(10'999);
  CHECK_FALSE(h.core.finished());
  h.core.on_time(11'000);
  REQUIRE(h.out.outcome);
  CHECK(contains(h.out.outcome->failure, "the server sent nothing within 10 s"));
  CHECK(contains(h.out.outcome->failure, "is a chunkex server listening there?"));
  CHECK_FALSE(h.out.outcome->connection_lost);  // not tried again
}

// Issue 10, point 5: the chunk would end mid-frame, which the others would
// take for a lost connection.
TEST_CASE("own file shrinks mid-exchange: the peer tells the server why instead of serving") {
  PeerHarness h(1);
  h.join();
  h.take_sent();
  const std::string why = "own file data/A.file shrank from 3000 to 1200 bytes during the exchange";
  h.store.own_problem = why;
  SUBCASE("a forwarded request") {
    h.core.on_frame(encode(RequestMessage{0, 3, 0, 1500}));
  }
  SUBCASE("a REFETCH") {
    h.core.on_frame(encode_refetch(ChunkHeader{0, 3, 0, 0}));
  }
  CHECK(h.out.to_server.size() == 1);  // the ERROR, no chunk
  h.check_failed(why, true);
}

TEST_CASE("a log that cannot be written ends the peer, telling the server") {
  PeerHarness h(1);
  h.join();
  h.take_sent();
  h.core.on_local_failure("cannot write log logs/ClientA.txt: No space left on device");
  h.check_failed("cannot write log logs/ClientA.txt: No space left on device", true);
}

}  // namespace chunkex
