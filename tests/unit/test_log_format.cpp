// The log format read back: every kind of line the relay and peer cores write
// parses into its fields and is written again from them byte for byte. The
// lines come from whole exchanges through the simulator's wiring (unequal
// files; a peer that dies and comes back; a server restart; a cut
// connection; a peer that never comes back) and from cores driven directly (a stranger turned away,
// a peer that fails before it knows its ID), so a line kind added to a core without a template in
// common/log_format.cpp fails this test.
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/content.h"
#include "common/log_format.h"
#include "common/messages.h"
#include "common/peer_core.h"
#include "common/relay_core.h"
#include "common/sim/simulation.h"
#include "test_support.h"

namespace chunkex {
namespace {

using sim::Fault;

// Every line of one simulated exchange, every peer process's included.
std::vector<std::string> simulated_lines(const std::vector<uint64_t>& sizes, Fault fault) {
  std::vector<std::unique_ptr<BytesSource>> sources;
  std::vector<const ContentSource*> views;
  for (size_t i = 0; i < sizes.size(); ++i) {
    sources.push_back(std::make_unique<BytesSource>(test::pseudo_random_bytes(sizes[i], 7 + i)));
    views.push_back(sources.back().get());
  }
  sim::SimOptions options;
  options.config.max_clients = static_cast<int>(sizes.size());
  options.config.chunk_bytes = 1000;
  options.config.window = 8;
  options.config.costs = test::default_costs(sizes.size());
  options.fault = fault;
  sim::SimResult result = sim::Simulation(options, views).run();
  REQUIRE_FALSE(result.step_limit_reached);
  CHECK(result.fault_injected == (fault.kind != Fault::Kind::kNone));
  std::vector<std::string> lines = result.server_log;
  for (const sim::PeerResult& peer : result.peers) {
    lines.insert(lines.end(), peer.log.begin(), peer.log.end());
  }
  return lines;
}

// Strangers turned away while two peers join (more than the log lists one
// by one), then the server stopped: an error, the rejections, the exchange
// abandoned.
std::vector<std::string> rejection_lines() {
  test::RecordingRelayOutbox out;
  RelayCore relay(RelaySettings{2, 1000, test::default_costs(2), 8}, out);
  for (ConnId conn = 1; conn <= 2 + 102; ++conn) test::connect(relay, conn);
  relay.on_shutdown("interrupted");
  return out.log_lines;
}

// A peer sent a ROSTER before its FLAG fails before it knows its ID ("?").
std::vector<std::string> early_peer_error_lines() {
  test::MemoryChunkStore store(test::pseudo_random_bytes(10, 1));
  test::QueuePeerOutbox out(store);
  PeerCore early(PeerSettings{8}, store, out);
  early.on_frame(Frame{FrameType::kRoster, {}});
  return out.log_lines;
}

std::vector<std::string> written_lines() {
  std::vector<std::vector<std::string>> parts = {
      // IDLE requests, a peer serving two requesters, an empty file.
      simulated_lines({2500, 1200, 0, 3100}, Fault{}),
      simulated_lines({3000, 3000, 3000, 3000}, Fault{Fault::Kind::kPeerCrash, 1, 4, 100}),
      simulated_lines({3000, 3000, 3000, 3000}, Fault{Fault::Kind::kServerCrash, 0, 3, 100}),
      simulated_lines({3000, 3000, 3000, 3000}, Fault{Fault::Kind::kCut, 2, 5, 0}),
      simulated_lines({3000, 3000, 3000}, Fault{Fault::Kind::kPeerGone, 2, 2, 0}),
      rejection_lines(),
      early_peer_error_lines(),
  };
  std::vector<std::string> all;
  for (const auto& part : parts) {
    REQUIRE_FALSE(part.empty());
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

LogEvent parsed(std::string_view line) {
  auto event = parse_log_line(line);
  REQUIRE_MESSAGE(event, line);
  return *event;
}

TEST_CASE("every line the cores write reads back and is written again unchanged") {
  std::vector<std::string> lines = written_lines();
  std::set<std::pair<LogEventKind, bool>> seen;
  for (const std::string& line : lines) {
    CAPTURE(line);
    LogEvent event = parsed(line);
    CHECK(event.kind != LogEventKind::kOther);
    CHECK(format_log_line(event.clock_us, event.component, format_log_event(event)) == line);
    seen.insert({event.kind, event.from_server()});
  }
  // Every kind each side can write, once at least.
  using K = LogEventKind;
  for (K kind : {K::kJoin, K::kStart, K::kRequest, K::kIdle, K::kAllIdle, K::kSync, K::kForward,
                 K::kChunkData, K::kSendChunk, K::kDone, K::kFinalClocks, K::kRejected,
                 K::kRejectedMore, K::kError, K::kAbandoned, K::kDisconnected, K::kReconnected,
                 K::kResumed, K::kServerRestarted}) {
    CAPTURE(log_event_kind_name(kind));
    CHECK(seen.count({kind, true}) == 1);
  }
  for (K kind :
       {K::kFlag, K::kRoster, K::kRequest, K::kIdle, K::kAllIdle, K::kForward, K::kChunkData,
        K::kSendChunk, K::kFileComplete, K::kDone, K::kFinalClocks, K::kError, K::kPeerResumed}) {
    CAPTURE(log_event_kind_name(kind));
    CHECK(seen.count({kind, false}) == 1);
  }
}

TEST_CASE("the fields of a round's lines, on the server and on a peer") {
  LogEvent request = parsed("0.6 [Server] REQUEST_CHUNK A asks B for chunk 0 (round 0)");
  CHECK(request.kind == LogEventKind::kRequest);
  CHECK(request.clock_us == 600);
  CHECK(request.peer == 0);
  CHECK(request.target == 1);
  CHECK(request.round == 0);

  LogEvent sync = parsed("0.9 [Server] sync clocks to 0.9 (round 0)");
  CHECK(sync.kind == LogEventKind::kSync);
  CHECK(sync.value_us == 900);

  LogEvent delivery = parsed("10.8 [Server] SEND_CHUNK B -> A: chunk 3 of B (round 12)");
  CHECK(delivery.kind == LogEventKind::kSendChunk);
  CHECK(delivery.peer == 0);
  CHECK(delivery.target == 1);
  CHECK(delivery.chunk == 3);
  CHECK(delivery.round == 12);
  CHECK_FALSE(parse_log_line("10.8 [Server] SEND_CHUNK B -> A: chunk 3 of C (round 12)")->kind ==
              LogEventKind::kSendChunk);

  LogEvent recv = parsed("16.8 [A] recv chunk 0 of B (round 0)");
  CHECK(recv.kind == LogEventKind::kSendChunk);
  CHECK(recv.peer == 0);
  CHECK(recv.target == 1);
  CHECK(recv.clock_us == 16800);

  LogEvent forwarded = parsed("1.5 [A] forwarded REQUEST_CHUNK from D: chunk 0 (round 0)");
  CHECK(forwarded.kind == LogEventKind::kForward);
  CHECK(forwarded.peer == 3);
  CHECK(forwarded.target == 0);

  LogEvent final_clocks = parsed("1188.0 [Server] final clocks A=1185.0 B=1186.0 C=1187.0");
  CHECK(final_clocks.kind == LogEventKind::kFinalClocks);
  CHECK(parse_clocks(final_clocks.detail) == std::vector<ClockUs>{1185000, 1186000, 1187000});
}

TEST_CASE("clocks read back exactly") {
  CHECK(parse_clock_ms("0.0") == 0);
  CHECK(parse_clock_ms("16.8") == 16800);
  CHECK(parse_clock_ms("0.65") == 650);
  CHECK(parse_clock_ms("232075.8") == 232075800);
  CHECK(parse_clock_ms("-1.005") == -1005);
  for (ClockUs us : {0LL, 1LL, 10LL, 999LL, 16800LL, 232075800LL, -650LL}) {
    CHECK(parse_clock_ms(format_clock_ms(us)) == us);
  }
  for (const char* bad : {"", "1", ".5", "1.", "1.2345", "a.1", "1.a", "--1.0", "1e3.0"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_clock_ms(bad));
  }
  CHECK(parse_clocks("A=1.0 B=2.5") == std::vector<ClockUs>{1000, 2500});
  CHECK_FALSE(parse_clocks("B=1.0"));
  CHECK_FALSE(parse_clocks("A=1.0 "));
  CHECK_FALSE(parse_clocks(""));
}

TEST_CASE("lines that are not a chunkex log's") {
  for (const char* bad : {"", "hello world", "16.8 A recv", "16.8 [A recv", "x [A] recv",
                          "16.8 [Mallory] recv chunk 0 of B (round 0)", "16.8 [A]"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_log_line(bad));
  }
  // A well-formed line with an event of no known kind: kept, as kOther.
  LogEvent other = parsed("1.0 [Server] something new");
  CHECK(other.kind == LogEventKind::kOther);
  CHECK(format_log_event(other) == "something new");
}

}  // namespace
}  // namespace chunkex
