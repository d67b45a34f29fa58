// docs/DESIGN.md §5.8: the relay's connections pass chunk data from socket
// to socket through pipes (splice(2)). Over loopback sockets in this process:
// an owner's frames go through two relay connections that share a pipe pool
// to a requester, which must get every byte as sent, whether the data was
// held in a pipe, handed back by a pipe too small for it, or read into
// memory for want of a pipe.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <vector>

#include <asio.hpp>

#include "common/frame.h"
#include "common/messages.h"
#include "common/net/frame_connection.h"
#include "common/net/held_pipe.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::describe;

constexpr uint32_t kChunkBytes = 64 * 1024;
constexpr auto kStall = std::chrono::seconds(10);

Frame chunk_frame(uint32_t index, size_t data_bytes) {
  Frame frame =
      make_chunk_frame(FrameType::kChunkData, ChunkHeader{index, 1, index, 1000}, data_bytes);
  uint8_t* data = chunk_data_area(frame);
  for (size_t i = 0; i < data_bytes; ++i) data[i] = static_cast<uint8_t>(i * 7 + index);
  return frame;
}

// Chunk frames of several sizes (one below the holding threshold) between
// control frames.
std::vector<Frame> owner_frames() {
  std::vector<Frame> frames;
  for (uint32_t i = 0; i < 12; ++i) {
    frames.push_back(encode(RequestMessage{i, 1, i, 500}));
    frames.push_back(chunk_frame(i, i % 4 == 3 ? 1000 : kChunkBytes - i * 100));
  }
  frames.push_back(Frame{FrameType::kDone, {}});
  return frames;
}

std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket> connected_pair(asio::io_context& io) {
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::address_v4::loopback(), 0});
  asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  return {std::move(client), acceptor.accept()};
}

struct Relayed {
  std::vector<Frame> received;  // by the requester
  size_t held_count = 0;        // chunk frames the relay held in a pipe
};

// owner -> relay_in ==(frames)==> relay_out -> requester. The relay's two
// connections hold chunk data in `pipes` (nullptr: none).
Relayed relay_through(std::shared_ptr<PipePool> pipes, const std::vector<Frame>& sent) {
  asio::io_context io;
  auto [owner_socket, relay_in_socket] = connected_pair(io);
  auto [requester_socket, relay_out_socket] = connected_pair(io);
  auto owner = std::make_shared<FrameConnection>(std::move(owner_socket), kChunkBytes, kStall);
  auto relay_in =
      std::make_shared<FrameConnection>(std::move(relay_in_socket), kChunkBytes, kStall);
  auto relay_out =
      std::make_shared<FrameConnection>(std::move(relay_out_socket), kChunkBytes, kStall);
  auto requester =
      std::make_shared<FrameConnection>(std::move(requester_socket), kChunkBytes, kStall);
  relay_in->hold_chunk_data(pipes, 4096);
  relay_out->hold_chunk_data(pipes, 4096);
  Relayed relayed;
  auto ignore = [](const std::string&) {};
  relay_in->start({[&](Frame frame) {
                     if (frame.held) ++relayed.held_count;
                     relay_out->send(std::move(frame));
                   },
                   ignore, nullptr, ignore});
  relay_out->start({[](Frame) {}, ignore, nullptr, ignore});
  requester->start({[&](Frame frame) {
                      relayed.received.push_back(std::move(frame));
                      if (relayed.received.size() == sent.size()) io.stop();
                    },
                    ignore, nullptr, ignore});
  owner->start({[](Frame) {}, ignore, nullptr, ignore});
  for (const Frame& frame : sent) owner->send(frame);
  io.run_for(std::chrono::seconds(20));
  return relayed;
}

// The frames that carry chunk data, or the others, in their order.
std::vector<std::string> described(const std::vector<Frame>& frames, bool chunks) {
  std::vector<std::string> out;
  for (const Frame& frame : frames) {
    if (carries_chunk_data(frame.type) == chunks) out.push_back(describe(frame));
  }
  return out;
}

// A connection lets control frames overtake chunk frames: each kind keeps
// its order.
void check_same(const std::vector<Frame>& got, const std::vector<Frame>& want) {
  REQUIRE(got.size() == want.size());
  for (const Frame& frame : got) CHECK(frame.held == nullptr);
  CHECK(described(got, false) == described(want, false));
  std::vector<std::string> got_chunks = described(got, true);
  std::vector<std::string> want_chunks = described(want, true);
  REQUIRE(got_chunks.size() == want_chunks.size());
  for (size_t i = 0; i < want_chunks.size(); ++i) {
    CAPTURE(i);
    CHECK_MESSAGE(got_chunks[i] == want_chunks[i], "chunk frame ", i, " differs");
  }
}

}  // namespace

TEST_CASE("the relay passes chunk data from socket to socket through pipes") {
  const std::vector<Frame> sent = owner_frames();
  auto pipes = PipePool::create(held_pipe_bytes(kChunkBytes), 8);
  Relayed relayed = relay_through(pipes, sent);
  check_same(relayed.received, sent);
  // The 9 chunks of at least 4096 bytes (a read takes at most 2 KiB of one).
  CHECK(relayed.held_count == 9);
  CHECK(pipes->pipes_open() >= 1);
  CHECK(pipes->pipes_open() <= 8);
}

TEST_CASE("without a pipe to be had, or with one too small, chunks are read into memory") {
  const std::vector<Frame> sent = owner_frames();
  SUBCASE("no pipes at all") {
    check_same(relay_through(nullptr, sent).received, sent);
  }
  SUBCASE("a pool of none") {
    auto pipes = PipePool::create(held_pipe_bytes(kChunkBytes), 0);
    Relayed relayed = relay_through(pipes, sent);
    check_same(relayed.received, sent);
    CHECK(relayed.held_count == 0);
  }
  SUBCASE("pipes of one page: each fills up and gives its bytes back") {
    auto pipes = PipePool::create(4096, 8);
    Relayed relayed = relay_through(pipes, sent);
    check_same(relayed.received, sent);
    CHECK(relayed.held_count == 0);
  }
}

TEST_CASE("a pipe comes back to its pool once sent on, and is closed if dropped full") {
  auto pipes = PipePool::create(held_pipe_bytes(kChunkBytes), 2);
  std::shared_ptr<HeldPipe> first = pipes->acquire();
  std::shared_ptr<HeldPipe> second = pipes->acquire();
  REQUIRE(first);
  REQUIRE(second);
  CHECK_FALSE(pipes->acquire());  // the pool's limit
  CHECK(pipes->pipes_open() == 2);
  Bytes data(5000, 0xab);
  REQUIRE(first->put(data));
  CHECK(first->length_bytes() == 5000);
  first.reset();  // dropped with its data: closed
  CHECK(pipes->pipes_open() == 1);
  REQUIRE(second->put(data));
  CHECK(second->take_back() == data);
  CHECK(second->unsent_bytes() == 0);
  second.reset();  // emptied: back in the pool, still open
  CHECK(pipes->pipes_open() == 1);
  CHECK(pipes->acquire());
}

TEST_CASE("held_pipe_bytes: four times the chunk, none above 256 KiB chunks") {
  CHECK(held_pipe_bytes(128 * 1024) == 512 * 1024);
  CHECK(held_pipe_bytes(100'000) == 512 * 1024);
  CHECK(held_pipe_bytes(256 * 1024) == 1024 * 1024);
  CHECK(held_pipe_bytes(256 * 1024 + 1) == 0);
  CHECK(held_pipe_bytes(4096) == 16 * 1024);
  CHECK(held_pipe_bytes(0) == 0);
}

}  // namespace chunkex
