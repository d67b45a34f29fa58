// RelayCore driven through a recording outbox by scripted, honest peers (an
// ExchangeModel of their own) and by peers that break the protocol.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/chunking.h"
#include "common/config.h"
#include "common/messages.h"
#include "common/relay_core.h"
#include "common/sha256.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::contains;
using test::describe;

constexpr uint32_t kChunkBytes = 4;

// Connection IDs deliberately unlike peer indices.
ConnId conn_of(size_t peer) {
  return 100 + peer;
}

RelaySettings harness_settings(size_t peers, uint32_t in_flight, uint32_t grace_s) {
  RelaySettings settings{static_cast<int>(peers), kChunkBytes, test::default_costs(peers),
                         in_flight};
  settings.grace_s = grace_s;
  return settings;
}

// The relay plus four (or N) scripted peers that follow the schedule exactly.
// No grace period unless asked: a peer that leaves ends the exchange.
class Harness {
 public:
  explicit Harness(std::vector<uint64_t> sizes = {8, 8, 8, 8}, uint32_t in_flight = 8,
                   uint32_t grace_s = 0)
      : file_sizes(sizes),
        relay(harness_settings(sizes.size(), in_flight, grace_s), out),
        model(test::chunk_counts_of(sizes, kChunkBytes), test::default_costs(sizes.size())) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      files.push_back(test::pseudo_random_bytes(sizes[i], i));
    }
  }

  size_t peer_count() const { return file_sizes.size(); }

  void connect_all() {
    for (size_t i = 0; i < peer_count(); ++i) test::connect(relay, conn_of(i));
  }
  void announce(size_t peer) {
    relay.on_frame(conn_of(peer),
                   encode_announce(FileAnnouncement{file_sizes[peer], sha256_of(files[peer])}));
  }
  void join_all() {
    connect_all();
    for (size_t i = 0; i < peer_count(); ++i) announce(i);
  }

  Frame request_frame(const RoundPlan& plan, size_t q) const {
    const PlannedRequest& request = plan.requests[q];
    if (request.idle) return encode(IdleMessage{plan.round});
    return encode(
        RequestMessage{plan.round, request.target, request.chunk_index, plan.request_clock_us[q]});
  }
  void send_request(const RoundPlan& plan, size_t q) {
    relay.on_frame(conn_of(q), request_frame(plan, q));
  }
  void send_requests(const RoundPlan& plan) {
    for (size_t q = 0; q < peer_count(); ++q) send_request(plan, q);
  }

  // The CHUNK_DATA the target of requester q's request sends back.
  Frame answer_frame(const RoundPlan& plan, size_t q) const {
    const PlannedRequest& request = plan.requests[q];
    FileLayout layout{file_sizes[request.target], kChunkBytes};
    uint32_t length = layout.chunk_length(request.chunk_index);
    Frame frame = make_chunk_frame(FrameType::kChunkData,
                                   ChunkHeader{plan.round, static_cast<PeerIndex>(q),
                                               request.chunk_index, plan.answer_clock_us[q]},
                                   length);
    auto begin = files[request.target].begin() +
                 static_cast<ptrdiff_t>(layout.chunk_offset(request.chunk_index));
    std::copy(begin, begin + length, chunk_data_area(frame));
    return frame;
  }
  void send_answer(const RoundPlan& plan, size_t q) {
    relay.on_frame(conn_of(plan.requests[q].target), answer_frame(plan, q));
  }
  void send_answers(const RoundPlan& plan) {
    for (size_t q = 0; q < peer_count(); ++q) {
      if (!plan.requests[q].idle) send_answer(plan, q);
    }
  }

  RoundPlan play_round() {
    RoundPlan plan = model.plan_next_round();
    send_requests(plan);
    send_answers(plan);
    return plan;
  }
  void send_done(size_t peer) {
    DoneMessage done;
    for (size_t o = 0; o < peer_count(); ++o) {
      if (o != peer) done.verified_owners.push_back(static_cast<PeerIndex>(o));
    }
    relay.on_frame(conn_of(peer), encode(done));
  }
  void play_to_end() {
    while (!model.finished()) play_round();
    for (size_t i = 0; i < peer_count(); ++i) send_done(i);
  }

  // Expects the exchange to have failed because of `culprit`: every peer told
  // why, every connection closed, the outcome a failure that names it.
  void check_failed_naming(const std::string& culprit) {
    REQUIRE(out.finished_calls == 1);
    REQUIRE(out.outcome);
    CHECK_FALSE(out.outcome->success);
    CHECK_MESSAGE(contains(out.outcome->failure, culprit), out.outcome->failure);
    for (size_t i = 0; i < peer_count(); ++i) {
      CAPTURE(i);
      std::vector<Frame> frames = out.frames_to(conn_of(i));
      REQUIRE_FALSE(frames.empty());
      CHECK(frames.back().type == FrameType::kError);
      CHECK_MESSAGE(contains(decode_error(frames.back()), culprit), decode_error(frames.back()));
      CHECK(out.closed(conn_of(i)));
    }
    CHECK(relay.finished());
  }

  std::vector<uint64_t> file_sizes;
  std::vector<Bytes> files;
  test::RecordingRelayOutbox out;
  RelayCore relay;
  ExchangeModel model;  // the peers' view of the schedule
};

}  // namespace

TEST_CASE("four connections get FLAG with peers A to D") {
  Harness h;
  h.connect_all();
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    std::vector<Frame> frames = h.out.frames_to(conn_of(i));
    REQUIRE(frames.size() == 1);
    auto flag = decode_flag(frames[0]);
    REQUIRE(flag);
    CHECK(flag->peer == i);
    CHECK(flag->peer_count == 4);
    CHECK(flag->chunk_bytes == kChunkBytes);
    CHECK_FALSE(h.out.closed(conn_of(i)));
  }
  CHECK(h.out.finished_calls == 0);
}

TEST_CASE("a fifth connection is told 'server full' and closed; the exchange goes on") {
  Harness h;
  h.connect_all();
  const ConnId stranger = 555;
  test::connect(h.relay, stranger);
  std::vector<Frame> frames = h.out.frames_to(stranger);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == FrameType::kError);
  CHECK(contains(decode_error(frames[0]), "server full"));
  CHECK(h.out.closed(stranger));
  h.relay.on_frame(stranger, encode(IdleMessage{0}));  // ignored
  h.relay.on_disconnect(stranger);                     // ignored

  for (size_t i = 0; i < 4; ++i) h.announce(i);
  h.play_to_end();
  REQUIRE(h.out.outcome);
  CHECK(h.out.outcome->success);
  CHECK(h.out.outcome->rejected_connections == 1);
  const auto& log = h.out.log_lines;
  REQUIRE(log.size() >= 2);
  CHECK(contains(log[log.size() - 2], "rejected connection 1: server full"));
  CHECK(contains(log.back(), "final clocks"));
  CHECK(h.out.log_index("rejected connection") == log.size() - 2);
}

TEST_CASE("a connection after the exchange started is rejected too") {
  Harness h;
  h.join_all();
  test::connect(h.relay, 777);
  REQUIRE(h.out.frames_to(777).size() == 1);
  CHECK(contains(decode_error(h.out.frames_to(777)[0]), "server full"));
  CHECK(h.out.closed(777));
  h.play_to_end();
  REQUIRE(h.out.outcome);
  CHECK(h.out.outcome->success);
}

TEST_CASE("a rejection is logged before the end of an abandoned exchange too") {
  Harness h;
  h.join_all();
  test::connect(h.relay, 777);
  h.relay.on_disconnect(conn_of(2));
  const auto& log = h.out.log_lines;
  REQUIRE(log.size() >= 2);
  CHECK(contains(log[log.size() - 2], "rejected connection 1: server full"));
  CHECK(contains(log.back(), "exchange abandoned"));
}

TEST_CASE("ROSTER goes to everyone only once all four have announced") {
  Harness h({8, 6, 0, 5});
  h.connect_all();
  for (size_t i : {3, 0, 2}) h.announce(i);
  for (size_t i = 0; i < 4; ++i)
    CHECK(h.out.frames_of_type(conn_of(i), FrameType::kRoster).empty());
  CHECK_FALSE(h.out.log_index("start exchange"));
  h.announce(1);
  CHECK(h.relay.exchange_started());
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    std::vector<Frame> rosters = h.out.frames_of_type(conn_of(i), FrameType::kRoster);
    REQUIRE(rosters.size() == 1);
    auto roster = decode_roster(rosters[0]);
    REQUIRE(roster);
    REQUIRE(roster->files.size() == 4);
    for (size_t o = 0; o < 4; ++o) {
      CHECK(roster->files[o].size_bytes == h.file_sizes[o]);
      CHECK(roster->files[o].sha256 == sha256_of(h.files[o]));
    }
    CHECK(roster->costs == test::default_costs());
  }
  auto start = h.out.log_index("start exchange");
  REQUIRE(start);
  // 8, 6, 0, 5 bytes in 4-byte chunks: A lacks 2+0+2, B 2+0+2, C 2+2+2, D 2+2+0.
  CHECK(h.out.log_lines[*start] ==
        "0.0 [Server] start exchange: 4 clients, 4-byte chunks, at least 6 rounds");
  CHECK(contains(h.out.log_lines[0], "0.0 [Server] join A: 8 bytes, 2 chunks, sha256 " +
                                         to_hex(sha256_of(h.files[0]))));
  CHECK(contains(h.out.log_lines[2], "join C: 0 bytes, 0 chunks"));
}

TEST_CASE("no request is forwarded until every request of the round is in") {
  Harness h;
  h.join_all();
  RoundPlan plan = h.model.plan_next_round();
  for (size_t q = 0; q < 3; ++q) h.send_request(plan, q);
  CHECK(h.out.sent_of_type(FrameType::kRequestChunk).empty());
  h.send_request(plan, 3);
  std::vector<test::SentFrame> forwards = h.out.sent_of_type(FrameType::kRequestChunk);
  REQUIRE(forwards.size() == 4);
  // Requester-ID order: A's request goes to B, B's to C, C's to D, D's to A.
  const ConnId targets[] = {conn_of(1), conn_of(2), conn_of(3), conn_of(0)};
  const ClockUs clocks[] = {1600, 1700, 1800, 1500};
  for (size_t q = 0; q < 4; ++q) {
    CAPTURE(q);
    CHECK(forwards[q].conn == targets[q]);
    CHECK(decode_request(forwards[q].frame) ==
          RequestMessage{0, static_cast<PeerIndex>(q), 0, clocks[q]});
  }
}

TEST_CASE("no chunk is delivered until every answer of the round is in") {
  Harness h({8, 6, 4, 5});
  h.join_all();
  RoundPlan plan = h.model.plan_next_round();
  h.send_requests(plan);
  for (size_t q = 0; q < 3; ++q) h.send_answer(plan, q);
  CHECK(h.out.sent_of_type(FrameType::kSendChunk).empty());
  h.send_answer(plan, 3);
  std::vector<test::SentFrame> deliveries = h.out.sent_of_type(FrameType::kSendChunk);
  REQUIRE(deliveries.size() == 4);
  const ClockUs clocks[] = {16800, 17800, 18800, 19800};
  for (size_t q = 0; q < 4; ++q) {
    CAPTURE(q);
    CHECK(deliveries[q].conn == conn_of(q));
    const PlannedRequest& request = plan.requests[q];
    CHECK(decode_chunk_header(deliveries[q].frame) ==
          ChunkHeader{0, request.target, request.chunk_index, clocks[q]});
    Frame answer = h.answer_frame(plan, q);
    ByteView got = chunk_data(deliveries[q].frame);
    CHECK(Bytes(got.begin(), got.end()) ==
          Bytes(chunk_data(answer).begin(), chunk_data(answer).end()));
  }
}

TEST_CASE("round 0 is logged in canonical order with the worked-example clocks") {
  Harness h;
  h.join_all();
  const size_t before = h.out.log_lines.size();
  h.play_round();
  std::vector<std::string> lines(h.out.log_lines.begin() + static_cast<ptrdiff_t>(before),
                                 h.out.log_lines.end());
  const std::vector<std::string> expected = {
      "0.6 [Server] REQUEST_CHUNK A asks B for chunk 0 (round 0)",
      "0.7 [Server] REQUEST_CHUNK B asks C for chunk 0 (round 0)",
      "0.8 [Server] REQUEST_CHUNK C asks D for chunk 0 (round 0)",
      "0.9 [Server] REQUEST_CHUNK D asks A for chunk 0 (round 0)",
      "0.9 [Server] sync clocks to 0.9 (round 0)",
      "1.6 [Server] forward REQUEST_CHUNK A -> B: chunk 0 (round 0)",
      "1.7 [Server] forward REQUEST_CHUNK B -> C: chunk 0 (round 0)",
      "1.8 [Server] forward REQUEST_CHUNK C -> D: chunk 0 (round 0)",
      "1.5 [Server] forward REQUEST_CHUNK D -> A: chunk 0 (round 0)",
      "8.6 [Server] CHUNK_DATA B -> A: chunk 0 of B (round 0)",
      "9.7 [Server] CHUNK_DATA C -> B: chunk 0 of C (round 0)",
      "10.8 [Server] CHUNK_DATA D -> C: chunk 0 of D (round 0)",
      "7.5 [Server] CHUNK_DATA A -> D: chunk 0 of A (round 0)",
      "10.8 [Server] sync clocks to 10.8 (round 0)",
      "16.8 [Server] SEND_CHUNK B -> A: chunk 0 of B (round 0)",
      "17.8 [Server] SEND_CHUNK C -> B: chunk 0 of C (round 0)",
      "18.8 [Server] SEND_CHUNK D -> C: chunk 0 of D (round 0)",
      "19.8 [Server] SEND_CHUNK A -> D: chunk 0 of A (round 0)",
  };
  CHECK(lines == expected);
}

TEST_CASE("an honest exchange succeeds with the model's final clocks") {
  Harness h({8, 6, 0, 5});
  h.join_all();
  h.play_to_end();
  REQUIRE(h.out.finished_calls == 1);
  REQUIRE(h.out.outcome);
  const RelayOutcome& outcome = *h.out.outcome;
  CHECK(outcome.success);
  CHECK(outcome.failure.empty());
  CHECK(outcome.rounds == 6);
  const std::vector<ClockUs> final_clocks = test::model_final_clocks(
      test::chunk_counts_of(h.file_sizes, kChunkBytes), test::default_costs());
  CHECK(outcome.final_clocks_us == final_clocks);
  CHECK(outcome.rejected_connections == 0);
  REQUIRE(outcome.files.size() == 4);
  CHECK(outcome.files[2].size_bytes == 0);
  REQUIRE(outcome.verified_owners.size() == 4);
  CHECK(outcome.verified_owners[1] == std::vector<PeerIndex>{0, 2, 3});
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    std::vector<Frame> frames = h.out.frames_to(conn_of(i));
    REQUIRE_FALSE(frames.empty());
    auto final_message = decode_final(frames.back());
    REQUIRE(final_message);
    CHECK(final_message->clocks_us == final_clocks);
    CHECK(h.out.closed(conn_of(i)));
  }
  const ClockUs latest = *std::max_element(final_clocks.begin(), final_clocks.end());
  CHECK(h.out.log_lines.back() ==
        format_clock_ms(latest) + " [Server] final clocks " + format_clocks(final_clocks));
  CHECK(h.relay.finished());
  RelayProgress progress = h.relay.progress();
  CHECK(progress.rounds_total == 6);
  CHECK(progress.chunks_received == std::vector<uint64_t>{4, 4, 6, 4});
  CHECK(progress.chunks_needed == std::vector<uint64_t>{4, 4, 6, 4});
  h.relay.on_disconnect(conn_of(0));  // after the end: nothing happens
  CHECK(h.out.finished_calls == 1);
}

TEST_CASE("a connection after the end is told the exchange is over, not that the server is full") {
  Harness h;
  h.join_all();
  h.play_to_end();
  REQUIRE(h.relay.finished());
  test::connect(h.relay, 888);
  REQUIRE(h.out.frames_to(888).size() == 1);
  CHECK(decode_error(h.out.frames_to(888)[0]) == "the exchange is over");
  CHECK(h.out.closed(888));
  CHECK(h.out.finished_calls == 1);
}

TEST_CASE("pipelined rounds are forwarded no further than rounds_in_flight_max ahead") {
  Harness h({8, 8, 8, 8}, 1);
  h.join_all();
  RoundPlan r0 = h.model.plan_next_round();
  RoundPlan r1 = h.model.plan_next_round();
  h.send_requests(r0);
  h.send_requests(r1);
  CHECK(h.out.sent_of_type(FrameType::kRequestChunk).size() == 4);
  h.send_answers(r0);
  std::vector<test::SentFrame> forwards = h.out.sent_of_type(FrameType::kRequestChunk);
  REQUIRE(forwards.size() == 8);
  CHECK(decode_request(forwards[4].frame).value().round == 1);

  Harness wide({8, 8, 8, 8}, 8);
  wide.join_all();
  RoundPlan w0 = wide.model.plan_next_round();
  RoundPlan w1 = wide.model.plan_next_round();
  wide.send_requests(w1);  // a later round may arrive first; it waits its turn
  CHECK(wide.out.sent_of_type(FrameType::kRequestChunk).empty());
  wide.send_requests(w0);
  forwards = wide.out.sent_of_type(FrameType::kRequestChunk);
  REQUIRE(forwards.size() == 8);
  CHECK(decode_request(forwards[3].frame).value().round == 0);
  CHECK(decode_request(forwards[4].frame).value().round == 1);
}

TEST_CASE("a REQUEST_CHUNK that differs from the schedule stops the exchange") {
  Harness h;
  h.join_all();
  RoundPlan plan = h.model.plan_next_round();  // B asks C for chunk 0 at 0.7
  h.send_request(plan, 0);
  RequestMessage good = *decode_request(h.request_frame(plan, 1));
  REQUIRE(good == RequestMessage{0, 2, 0, 700});
  RequestMessage bad = good;

  SUBCASE("wrong target") {
    bad.peer = 3;
  }
  SUBCASE("own file as target") {
    bad.peer = 1;
  }
  SUBCASE("wrong chunk") {
    bad.chunk_index = 1;
  }
  SUBCASE("wrong clock") {
    bad.clock_us = 701;
  }
  SUBCASE("round past the end of the exchange") {
    bad.round = 7;
  }
  SUBCASE("duplicate") {
    h.relay.on_frame(conn_of(1), encode(good));
  }

  h.relay.on_frame(conn_of(1), encode(bad));
  h.check_failed_naming("client B");
  CHECK(h.out.sent_of_type(FrameType::kRequestChunk).empty());
  CHECK(h.out.log_index("error: protocol error from client B"));
}

TEST_CASE("a request up to 1023 rounds ahead is queued, 1024 ahead is refused") {
  Harness h({1400, 1400, 1400, 1400});  // 350 chunks each: 1050 rounds
  h.join_all();
  ExchangeModel model = h.model;
  RoundPlan far;
  while (model.next_round() < kMaxWindowRounds) far = model.plan_next_round();
  REQUIRE(far.round == kMaxWindowRounds - 1);
  h.send_request(far, 1);
  CHECK(h.out.finished_calls == 0);
  RoundPlan too_far = model.plan_next_round();
  h.send_request(too_far, 2);
  h.check_failed_naming("client C");
  CHECK(contains(h.out.outcome->failure, "round 1024"));
}

TEST_CASE("IDLE when a request was due is a protocol error") {
  Harness h;
  h.join_all();
  h.relay.on_frame(conn_of(2), encode(IdleMessage{0}));
  h.check_failed_naming("client C");
}

namespace {

// Before the exchange starts nothing depends on a peer yet: one that breaks
// the protocol is told why and closed, and its slot (and ID) goes to the next comer.
void check_slot_released(Harness& h, size_t peer, const std::string& why) {
  CHECK(h.out.finished_calls == 0);
  CHECK_FALSE(h.relay.finished());
  std::vector<Frame> frames = h.out.frames_to(conn_of(peer));
  REQUIRE_FALSE(frames.empty());
  CHECK(frames.back().type == FrameType::kError);
  CHECK_MESSAGE(contains(decode_error(frames.back()), why), decode_error(frames.back()));
  CHECK(h.out.closed(conn_of(peer)));
  for (size_t i = 0; i < h.peer_count(); ++i) {
    if (i != peer) CHECK_FALSE(h.out.closed(conn_of(i)));
  }
  CHECK(h.out.sent_of_type(FrameType::kRoster).empty());
}

// A newcomer on connection `conn` takes the freed slot `peer`, announces, and
// the exchange starts.
void check_newcomer_completes(Harness& h, size_t peer, ConnId conn) {
  test::connect(h.relay, conn);
  std::vector<Frame> frames = h.out.frames_to(conn);
  REQUIRE(frames.size() == 1);
  auto flag = decode_flag(frames[0]);
  REQUIRE(flag);
  CHECK(flag->peer == peer);
  h.relay.on_frame(conn,
                   encode_announce(FileAnnouncement{h.file_sizes[peer], sha256_of(h.files[peer])}));
  REQUIRE(h.out.frames_of_type(conn, FrameType::kRoster).size() == 1);
}

}  // namespace

TEST_CASE("requests before the exchange started free the sender's slot") {
  Harness h;
  h.connect_all();
  h.announce(0);
  h.announce(2);
  h.relay.on_frame(conn_of(0), encode(RequestMessage{0, 1, 0, 600}));
  check_slot_released(h, 0, "protocol error");
  h.relay.on_frame(conn_of(0), encode(IdleMessage{0}));  // a released connection is ignored
  h.relay.on_disconnect(conn_of(0));
  CHECK(h.out.finished_calls == 0);
  h.announce(1);
  h.announce(3);
  CHECK(h.out.sent_of_type(FrameType::kRoster).empty());  // A's slot is still empty
  check_newcomer_completes(h, 0, 900);
}

TEST_CASE("a peer that disconnects while others join frees its slot for the next comer") {
  Harness h;
  h.connect_all();
  h.announce(0);
  h.announce(3);
  h.relay.on_disconnect(conn_of(3));
  check_slot_released(h, 3, "disconnected");
  CHECK_FALSE(h.out.log_index("error"));
  h.announce(1);
  h.announce(2);
  check_newcomer_completes(h, 3, 901);
  // The exchange runs with the newcomer as D: its requests come from conn 901.
  while (!h.model.finished()) {
    RoundPlan plan = h.model.plan_next_round();
    for (size_t q = 0; q < 4; ++q)
      h.relay.on_frame(q == 3 ? 901 : conn_of(q), h.request_frame(plan, q));
    for (size_t q = 0; q < 4; ++q) {
      if (plan.requests[q].idle) continue;
      PeerIndex t = plan.requests[q].target;
      h.relay.on_frame(t == 3 ? 901 : conn_of(t), h.answer_frame(plan, q));
    }
  }
  for (size_t i = 0; i < 3; ++i) h.send_done(i);
  h.relay.on_frame(901, encode(DoneMessage{{0, 1, 2}}));
  REQUIRE(h.out.outcome);
  CHECK_MESSAGE(h.out.outcome->success, h.out.outcome->failure);
  REQUIRE_FALSE(h.out.frames_to(901).empty());
  CHECK(h.out.frames_to(901).back().type == FrameType::kFinal);
}

TEST_CASE("a CHUNK_DATA that was not asked for stops the exchange") {
  Harness h({8, 6, 8, 8});
  h.join_all();
  RoundPlan plan = h.model.plan_next_round();
  h.send_requests(plan);
  // A asked B for chunk 0: B answers it.
  Frame answer = h.answer_frame(plan, 0);
  ConnId sender = conn_of(1);
  std::string culprit = "client B";

  SUBCASE("data one byte short") {
    answer.payload.pop_back();
  }
  SUBCASE("data one byte long") {
    answer.payload.push_back(0);
  }
  SUBCASE("from a peer that was not asked") {
    sender = conn_of(2);
    culprit = "client C";
  }
  SUBCASE("for a requester that did not ask this target") {
    rewrite_chunk_frame(answer, FrameType::kChunkData,
                        ChunkHeader{0, 2, 0, plan.answer_clock_us[0]});
  }
  SUBCASE("wrong chunk") {
    rewrite_chunk_frame(answer, FrameType::kChunkData,
                        ChunkHeader{0, 0, 1, plan.answer_clock_us[0]});
  }
  SUBCASE("wrong clock") {
    rewrite_chunk_frame(answer, FrameType::kChunkData, ChunkHeader{0, 0, 0, 8601});
  }
  SUBCASE("a round not yet forwarded") {
    rewrite_chunk_frame(answer, FrameType::kChunkData,
                        ChunkHeader{1, 0, 0, plan.answer_clock_us[0]});
  }
  SUBCASE("a requester that does not exist") {
    rewrite_chunk_frame(answer, FrameType::kChunkData,
                        ChunkHeader{0, 9, 0, plan.answer_clock_us[0]});
  }
  SUBCASE("sent as SEND_CHUNK") {
    answer.type = FrameType::kSendChunk;
  }
  SUBCASE("twice") {
    h.relay.on_frame(sender, h.answer_frame(plan, 0));
  }

  h.relay.on_frame(sender, std::move(answer));
  h.check_failed_naming(culprit);
  CHECK(h.out.sent_of_type(FrameType::kSendChunk).empty());
}

TEST_CASE("the last, shorter chunk must carry exactly its length") {
  Harness h({8, 6, 8, 8});  // B's chunk 1 is 2 bytes
  h.join_all();
  for (int r = 0; r < 3; ++r) h.play_round();  // B has served chunk 0 to A, C and D
  RoundPlan plan = h.model.plan_next_round();  // round 3: A asks B for chunk 1
  REQUIRE(plan.requests[0] == PlannedRequest{false, 1, 1});
  h.send_requests(plan);
  Frame answer = h.answer_frame(plan, 0);
  REQUIRE(chunk_data(answer).size() == 2);
  answer.payload.push_back(0);
  h.relay.on_frame(conn_of(1), std::move(answer));
  h.check_failed_naming("client B");
}

TEST_CASE("a peer that disconnects mid-exchange is named to everyone") {
  Harness h;
  h.join_all();
  h.play_round();
  h.relay.on_disconnect(conn_of(1));
  REQUIRE(h.out.outcome);
  CHECK(h.out.outcome->failure == "client B disconnected");
  CHECK(h.out.outcome->rounds == 1);
  for (size_t i : {0, 2, 3}) {
    std::vector<Frame> frames = h.out.frames_to(conn_of(i));
    REQUIRE_FALSE(frames.empty());
    CHECK(frames.back().type == FrameType::kError);
    CHECK(contains(decode_error(frames.back()), "client B disconnected"));
    CHECK(h.out.closed(conn_of(i)));
  }
  CHECK(h.out.log_index("error: client B disconnected"));
  CHECK(contains(h.out.log_lines.back(), "exchange abandoned"));
  h.relay.on_disconnect(conn_of(2));
  CHECK(h.out.finished_calls == 1);
}

TEST_CASE("frames only the server may send are refused from a client") {
  for (FrameType type :
       {FrameType::kFlag, FrameType::kRoster, FrameType::kSendChunk, FrameType::kFinal}) {
    CAPTURE(frame_type_name(type));
    Harness h;
    h.join_all();
    h.relay.on_frame(conn_of(3), Frame{type, Bytes(30, 0)});
    h.check_failed_naming("client D");
    CHECK(contains(h.out.outcome->failure, "may not send"));
  }
}

TEST_CASE("ANNOUNCE twice or malformed while joining frees the slot") {
  Harness h;
  h.connect_all();
  SUBCASE("twice") {
    h.announce(1);
    h.announce(1);
  }
  SUBCASE("malformed") {
    h.relay.on_frame(conn_of(1), Frame{FrameType::kAnnounce, Bytes(39, 0)});
  }
  check_slot_released(h, 1, "ANNOUNCE");
  for (size_t i : {0, 2, 3}) h.announce(i);
  check_newcomer_completes(h, 1, 902);
}

TEST_CASE("a connection silent past the handshake deadline gives its slot back") {
  Harness h;
  h.connect_all();
  h.announce(0);
  h.announce(2);
  h.announce(3);
  h.relay.on_time(9'999);
  CHECK(h.out.events.size() == 4);  // the four FLAGs, nothing else
  CHECK(h.relay.next_deadline_ms() == 10'000);
  h.relay.on_time(10'000);  // B never announced; the others did
  check_slot_released(h, 1, "handshake deadline");
  check_newcomer_completes(h, 1, 903);
}

TEST_CASE("a handshake deadline after the exchange started changes nothing") {
  Harness h;
  h.join_all();
  const size_t events = h.out.events.size();
  h.relay.on_time(10'000);
  CHECK(h.out.events.size() == events);
  h.play_to_end();
  REQUIRE(h.out.outcome);
  CHECK(h.out.outcome->success);
}

TEST_CASE("ANNOUNCE after the exchange started is a protocol error") {
  Harness h;
  h.join_all();
  h.announce(1);
  h.check_failed_naming("client B");
}

TEST_CASE("an ERROR from a joining client frees its slot") {
  Harness h;
  h.connect_all();
  h.relay.on_frame(conn_of(2), encode_error("cannot open own file"));
  check_slot_released(h, 2, "cannot open own file");
}

TEST_CASE("DONE before every file is verified is a protocol error") {
  Harness h;
  h.join_all();
  h.relay.on_frame(conn_of(0), encode(DoneMessage{{1, 2}}));
  h.check_failed_naming("client A");
}

TEST_CASE("a REQUEST_CHUNK for a round already delivered is a protocol error") {
  Harness h;
  h.join_all();
  RoundPlan r0 = h.play_round();
  h.send_request(r0, 1);
  h.check_failed_naming("client B");
}

TEST_CASE("DONE right after the peer's own final IDLE is accepted") {
  Harness h;
  h.join_all();
  RoundPlan last = h.play_round();
  while (!last.all_idle()) {
    last = h.model.plan_next_round();
    if (last.all_idle()) break;
    h.send_requests(last);
    h.send_answers(last);
  }
  h.send_request(last, 0);
  h.send_done(0);  // B, C and D have not sent their final IDLE yet
  CHECK(h.out.finished_calls == 0);
  for (size_t q = 1; q < 4; ++q) h.send_request(last, q);
  for (size_t q = 1; q < 4; ++q) h.send_done(q);
  REQUIRE(h.out.outcome);
  CHECK_MESSAGE(h.out.outcome->success, h.out.outcome->failure);
}

TEST_CASE("DONE while chunks are still owed to the peer is a protocol error") {
  Harness h;
  h.join_all();
  h.play_round();
  h.send_done(0);  // A has 1 of its 6 chunks
  REQUIRE(h.out.outcome);
  h.check_failed_naming("client A");
}

TEST_CASE("DONE that lists the peer itself or an owner twice is a protocol error") {
  Harness h;
  h.join_all();
  while (!h.model.finished()) h.play_round();
  h.relay.on_frame(conn_of(0), encode(DoneMessage{{0, 0, 0}}));
  for (size_t i = 1; i < 4; ++i) h.send_done(i);
  REQUIRE(h.out.outcome);
  h.check_failed_naming("client A");
}

TEST_CASE("an undecodable stream from a client is a protocol error naming it") {
  Harness h;
  h.join_all();
  h.relay.on_stream_error(conn_of(2), "unknown frame type 11");
  h.check_failed_naming("client C");
  CHECK(contains(h.out.outcome->failure, "unknown frame type 11"));
}

TEST_CASE("an ERROR from a client ends the exchange for everyone") {
  Harness h;
  h.join_all();
  h.relay.on_frame(conn_of(2), encode_error("disk full"));
  h.check_failed_naming("client C");
  CHECK(contains(h.out.outcome->failure, "disk full"));
}

TEST_CASE("shutdown tells every peer and closes every connection") {
  Harness h;
  h.join_all();
  h.play_round();
  h.relay.on_shutdown("SIGTERM");
  h.check_failed_naming("server stopped: SIGTERM");
  CHECK(h.out.outcome->final_clocks_us == std::vector<ClockUs>{16800, 17800, 18800, 19800});
  h.relay.on_shutdown("again");
  CHECK(h.out.finished_calls == 1);
}

}  // namespace chunkex

namespace chunkex {

TEST_CASE("a stall names the peers the oldest open round waits for") {
  Harness h;
  h.join_all();
  h.play_round();
  RoundPlan plan = h.model.plan_next_round();
  SUBCASE("a missing request") {
    for (size_t q : {0, 1, 3}) h.send_request(plan, q);
    h.relay.on_time(59'999);
    CHECK(h.out.finished_calls == 0);
    h.relay.on_time(60'000);
    h.check_failed_naming("client C");
    CHECK(contains(h.out.outcome->failure, "stalled the exchange"));
    CHECK(contains(h.out.outcome->failure, "round 1"));
  }
  SUBCASE("a missing answer blames the target that owes it") {
    h.send_requests(plan);
    for (size_t q = 0; q < h.peer_count(); ++q) {
      if (plan.requests[q].target != 2) h.send_answer(plan, q);
    }
    h.relay.on_time(60'000);
    h.check_failed_naming("client C");
  }
  SUBCASE("no request at all for the next round names everyone") {
    h.send_requests(plan);
    h.send_answers(plan);
    h.relay.on_time(60'000);
    h.check_failed_naming("client A, B, C, D stalled");
  }
}

TEST_CASE("a peer that disconnects with a grace period pauses the exchange for its return") {
  Harness h({8, 8, 8, 8}, 8, 30);
  h.join_all();
  h.play_round();
  h.relay.on_disconnect(conn_of(1));
  CHECK(h.out.finished_calls == 0);
  CHECK(h.relay.progress().paused);
  CHECK(h.out.log_index("client B disconnected: exchange paused at round 1; waiting up to 30 s"));
  for (size_t i : {0, 2, 3}) {
    auto status = h.out.frames_of_type(conn_of(i), FrameType::kPeerStatus);
    REQUIRE(status.size() == 1);
    CHECK(decode_peer_status(status[0])->peer == 1);
    CHECK_FALSE(decode_peer_status(status[0])->present);
  }
  // The others' requests of the next round go nowhere while B is away.
  RoundPlan next = h.model.plan_next_round();
  for (size_t q : {0, 2, 3}) h.send_request(next, q);
  CHECK(h.out.sent_of_type(FrameType::kRequestChunk).size() == 4);  // round 0's forwards only

  SUBCASE("a newcomer is offered B's slot, and FLAG says which slots wait") {
    test::connect(h.relay, 500);
    auto flag = h.out.frames_of_type(500, FrameType::kFlag);
    REQUIRE(flag.size() == 1);
    CHECK(decode_flag(flag[0])->peer == 1);
    CHECK(decode_flag(flag[0])->returning_slots == 0b0010);
    SUBCASE("another file is turned away, the slot keeps waiting") {
      h.relay.on_frame(500, encode_announce(FileAnnouncement{8, sha256_of(h.files[0])}));
      CHECK(h.out.closed(500));
      CHECK(contains(decode_error(h.out.frames_to(500).back()),
                     "client B must come back with its own file"));
      CHECK(h.relay.progress().paused);
    }
    SUBCASE("silence past the handshake deadline gives the offer back") {
      h.relay.on_time(10'000);
      CHECK(h.out.closed(500));
      test::connect(h.relay, 501);
      CHECK(h.out.frames_of_type(501, FrameType::kFlag).size() == 1);
    }
    SUBCASE("B's file takes the slot back; with no saved progress it catches up from round 0") {
      h.relay.on_frame(500, encode_announce(FileAnnouncement{8, sha256_of(h.files[1])}));
      CHECK_FALSE(h.relay.progress().paused);
      auto roster = h.out.frames_of_type(500, FrameType::kRoster);
      REQUIRE(roster.size() == 1);
      CHECK(decode_roster(roster[0])->resume == ResumePoint{0, 1, 1});
      // Its catch-up request for round 0 becomes a REFETCH to its target.
      ExchangeModel replay(test::chunk_counts_of(h.file_sizes, kChunkBytes), test::default_costs());
      RoundPlan round0 = replay.plan_next_round();
      h.relay.on_frame(500, h.request_frame(round0, 1));
      PeerIndex target = round0.requests[1].target;
      auto refetch = h.out.frames_of_type(conn_of(target), FrameType::kRefetch);
      REQUIRE(refetch.size() == 1);
      CHECK(*decode_refetch(refetch[0]) == ChunkHeader{0, 1, round0.requests[1].chunk_index, 0});
    }
  }
  SUBCASE("a peer back before the others hears nothing but its ROSTER (fuzz finding)") {
    h.relay.on_disconnect(conn_of(0));  // A leaves too
    test::connect(h.relay, 500);        // offered A, claims B
    h.relay.on_frame(500, encode(AnnounceMessage{FileAnnouncement{8, sha256_of(h.files[1])},
                                                 ResumeClaim{1, {}, 0}}));
    CHECK(h.relay.progress().paused);   // A is still away
    h.relay.on_disconnect(conn_of(2));  // and now C
    CHECK(h.out.frames_of_type(500, FrameType::kPeerStatus).empty());
    test::connect(h.relay, 501);
    h.relay.on_frame(501, encode_announce(FileAnnouncement{8, sha256_of(h.files[0])}));
    test::connect(h.relay, 502);
    h.relay.on_frame(502, encode_announce(FileAnnouncement{8, sha256_of(h.files[2])}));
    CHECK_FALSE(h.relay.progress().paused);
    std::vector<Frame> to_b = h.out.frames_to(500);
    REQUIRE(to_b.size() == 2);
    CHECK(to_b[0].type == FrameType::kFlag);
    CHECK(to_b[1].type == FrameType::kRoster);
    CHECK(h.out.finished_calls == 0);
  }
  SUBCASE("a fifth newcomer while one is being offered the slot is told the server is full") {
    test::connect(h.relay, 500);
    test::connect(h.relay, 501);
    CHECK(h.out.closed(501));
    CHECK(contains(decode_error(h.out.frames_to(501).back()), "server full"));
  }
  SUBCASE("the grace period ends it, naming B") {
    h.relay.on_time(29'999);
    CHECK_FALSE(h.out.outcome);
    h.relay.on_time(30'000);
    REQUIRE(h.out.outcome);
    CHECK(h.out.outcome->failure == "client B did not come back within 30 s");
    for (size_t i : {0, 2, 3}) {
      CHECK(
          contains(decode_error(h.out.frames_to(conn_of(i)).back()), "client B did not come back"));
      CHECK(h.out.closed(conn_of(i)));
    }
  }
}

// Issue 10, point 8: silent connections took client slots before the
// exchange started, so real peers were told "server full".
TEST_CASE("silent connections never take a slot: real peers that say HELLO get all four") {
  test::RecordingRelayOutbox out;
  RelayCore relay(harness_settings(4, 8, 0), out);
  for (ConnId silent = 1; silent <= 10; ++silent) relay.on_connect(silent);
  for (ConnId real = 101; real <= 104; ++real) test::connect(relay, real);
  for (ConnId real = 101; real <= 104; ++real) {
    auto flag = out.frames_of_type(real, FrameType::kFlag);
    REQUIRE(flag.size() == 1);
    CHECK(decode_flag(flag[0])->peer == real - 101);
  }
  for (ConnId silent = 1; silent <= 10; ++silent) {
    CHECK(out.frames_to(silent).empty());
    CHECK_FALSE(out.closed(silent));
  }
  SUBCASE("at the handshake deadline they are dropped, naming why") {
    relay.on_time(10'000);
    CHECK(out.closed(1));
    CHECK(
        contains(decode_error(out.frames_to(1).back()), "no HELLO before the handshake deadline"));
  }
  SUBCASE("a fifth peer that speaks is told the server is full") {
    test::connect(relay, 105);
    CHECK(contains(decode_error(out.frames_to(105).back()), "server full: all 4 client slots"));
  }
}

TEST_CASE("the pre-handshake pool is bounded: the oldest silent connection makes room") {
  test::RecordingRelayOutbox out;
  RelayCore relay(harness_settings(4, 8, 0), out);
  for (ConnId silent = 1; silent <= Admission::kPendingMax + 1; ++silent) relay.on_connect(silent);
  CHECK(out.closed(1));
  CHECK(contains(decode_error(out.frames_to(1).back()), "the oldest was dropped"));
  CHECK_FALSE(out.closed(2));
  test::connect(relay, 500);
  CHECK(out.frames_of_type(500, FrameType::kFlag).size() == 1);
}

TEST_CASE("garbage before HELLO is turned away without a slot") {
  test::RecordingRelayOutbox out;
  RelayCore relay(harness_settings(4, 8, 0), out);
  relay.on_connect(1);
  relay.on_frame(1, encode_announce(FileAnnouncement{}));
  CHECK(out.closed(1));
  CHECK(contains(decode_error(out.frames_to(1).back()), "expected HELLO first, got ANNOUNCE"));
  relay.on_connect(2);
  relay.on_stream_error(2, "not a chunkex frame (bad magic bytes)");
  CHECK(out.closed(2));
  CHECK(relay.conn_state(2) == ConnState::kClosed);
}

TEST_CASE("each connection's state follows the table") {
  Harness h;
  test::connect(h.relay, conn_of(0));
  CHECK(h.relay.conn_state(conn_of(0)) == ConnState::kJoined);
  h.relay.on_connect(conn_of(1));
  CHECK(h.relay.conn_state(conn_of(1)) == ConnState::kSilent);
  h.relay.on_frame(conn_of(1), encode_hello());
  h.announce(0);
  CHECK(h.relay.conn_state(conn_of(0)) == ConnState::kAnnounced);
  CHECK(h.relay.exchange_state() == ExchangeState::kJoining);
  for (size_t i : {2, 3}) test::connect(h.relay, conn_of(i));
  for (size_t i : {1, 2, 3}) h.announce(i);
  CHECK(h.relay.exchange_state() == ExchangeState::kRunning);
  CHECK(h.relay.conn_state(conn_of(2)) == ConnState::kExchanging);
  while (!h.model.finished()) h.play_round();
  CHECK(h.relay.exchange_state() == ExchangeState::kClosing);
  h.send_done(0);
  CHECK(h.relay.conn_state(conn_of(0)) == ConnState::kDone);
  SUBCASE("a frame the table does not allow ends it, naming the client and its state") {
    h.send_done(0);
    h.check_failed_naming("protocol error from client A: a client that is done may not send DONE");
  }
  SUBCASE("the last DONE finishes it") {
    for (size_t i : {1, 2, 3}) h.send_done(i);
    CHECK(h.relay.exchange_state() == ExchangeState::kFinished);
  }
}

TEST_CASE("the state tables") {
  CHECK(frame_allowed(ConnState::kSilent, FrameType::kHello));
  CHECK_FALSE(frame_allowed(ConnState::kSilent, FrameType::kAnnounce));
  CHECK_FALSE(frame_allowed(ConnState::kBack, FrameType::kRequestChunk));
  CHECK(frame_allowed(ConnState::kCatchingUp, FrameType::kRequestChunk));
  CHECK_FALSE(frame_allowed(ConnState::kCatchingUp, FrameType::kDone));
  CHECK(frame_allowed(ConnState::kDone, FrameType::kRefetchData));
  CHECK(frame_allowed(ConnState::kExchanging, FrameType::kError));
  CHECK_FALSE(frame_allowed(ConnState::kClosed, FrameType::kError));
  CHECK(conn_change_allowed(ConnState::kBack, ConnState::kCatchingUp));
  CHECK_FALSE(conn_change_allowed(ConnState::kDone, ConnState::kExchanging));
  CHECK(conn_change_allowed(ConnState::kDone, ConnState::kClosed));
  CHECK(exchange_change_allowed(ExchangeState::kClosing, ExchangeState::kPaused));
  CHECK_FALSE(exchange_change_allowed(ExchangeState::kRunning, ExchangeState::kJoining));
  CHECK_FALSE(exchange_change_allowed(ExchangeState::kFinished, ExchangeState::kRunning));
}

SavedExchange saved_exchange_of(const Harness& h, uint64_t delivered_rounds) {
  RosterMessage roster;
  for (size_t i = 0; i < h.peer_count(); ++i) {
    roster.files.push_back(FileAnnouncement{h.file_sizes[i], sha256_of(h.files[i])});
  }
  roster.costs = test::default_costs(h.peer_count());
  return SavedExchange{roster, delivered_rounds};
}

// A relay restarted after one delivered round of the harness's exchange.
RelaySettings restarted_settings(uint32_t grace_s) {
  RelaySettings settings = harness_settings(4, 8, grace_s);
  settings.resume_from = saved_exchange_of(Harness{}, 1);
  return settings;
}

// tests/fuzz/README.md's finding: with grace 0 a restored server waited for
// its peers forever (nobody comes back without a grace period).
TEST_CASE("a restarted server with no grace period does not resume: a new exchange starts") {
  test::RecordingRelayOutbox out;
  RelayCore relay(restarted_settings(0), out);
  CHECK(relay.exchange_state() == ExchangeState::kJoining);
  CHECK_FALSE(relay.exchange_started());
  CHECK(relay.next_deadline_ms() == kNoDeadline);
  REQUIRE(out.notices.size() == 1);
  CHECK(contains(out.notices[0], "reconnect_grace_s is 0"));
}

TEST_CASE("a restarted server waits for its peers for the grace period, then names them") {
  test::RecordingRelayOutbox out;
  RelayCore relay(restarted_settings(30), out);
  CHECK(relay.exchange_state() == ExchangeState::kRestoredWaiting);
  relay.on_time(5'000);
  CHECK(relay.next_deadline_ms() == 35'000);
  relay.on_time(35'000);
  REQUIRE(out.outcome);
  CHECK(out.outcome->failure == "client A, B, C, D did not come back within 30 s");
}

}  // namespace chunkex
