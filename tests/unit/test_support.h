// Helpers shared by the unit tests: byte builders, seeded pseudo-random data,
// the default cost table, a model run to the end, a RelayOutbox that records
// everything the relay core does, and an in-memory ChunkStore and PeerOutbox.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/chunk_store.h"
#include "common/chunking.h"
#include "common/clock.h"
#include "common/exchange_model.h"
#include "common/frame.h"
#include "common/peer_core.h"
#include "common/relay_core.h"
#include "common/sha256.h"
#include "tests/test_data.h"

namespace chunkex::test {

inline Bytes bytes_of(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

inline bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// docs/DESIGN.md §1 for A..D (6/0.6 ms ... 9/0.9 ms), continued in the same
// pattern for E and beyond (10/1.0 ms, ...).
inline std::vector<PeerCosts> default_costs(size_t peer_count = 4) {
  std::vector<PeerCosts> costs;
  for (size_t i = 0; i < peer_count; ++i) {
    auto ms = static_cast<ClockUs>(6 + i);
    costs.push_back(PeerCosts{ms * 1000, ms * 100});
  }
  return costs;
}

inline std::vector<uint32_t> chunk_counts_of(const std::vector<uint64_t>& sizes,
                                             uint32_t chunk_bytes) {
  std::vector<uint32_t> counts;
  for (uint64_t size : sizes) {
    counts.push_back(static_cast<uint32_t>(FileLayout{size, chunk_bytes}.chunk_count()));
  }
  return counts;
}

// Clocks of an independently stepped model after its final (all-IDLE) round.
inline std::vector<ClockUs> model_final_clocks(const std::vector<uint32_t>& chunk_counts,
                                               const std::vector<PeerCosts>& costs) {
  ExchangeModel model(chunk_counts, costs);
  while (!model.finished()) model.plan_next_round();
  return model.clocks_us();
}

// "REQUEST_CHUNK 0001..." : readable in a failed CHECK, equal iff the frames are.
inline std::string describe(const Frame& frame) {
  return std::string(frame_type_name(frame.type)) + " " + to_hex(frame.payload);
}

// A connection that speaks the protocol: it connects and says HELLO, as a
// PeerCore does (a silent one never gets a slot).
inline void connect(RelayCore& relay, ConnId conn) {
  relay.on_connect(conn);
  relay.on_frame(conn, encode_hello());
}

struct SentFrame {
  ConnId conn = 0;
  Frame frame;
};

// Records every call the relay core makes. `events` keeps sends and closes in
// the order they happened (a close applies after the frames queued before it).
class RecordingRelayOutbox : public RelayOutbox {
 public:
  struct Event {
    ConnId conn = 0;
    bool close = false;
    Frame frame{FrameType::kError, {}};
  };

  void send(ConnId conn, Frame frame) override {
    events.push_back(Event{conn, false, std::move(frame)});
  }
  void close(ConnId conn) override { events.push_back(Event{conn, true, {}}); }
  void log(std::string line) override { log_lines.push_back(std::move(line)); }
  void notice(std::string text) override { notices.push_back(std::move(text)); }
  void persist(const SavedExchange& exchange) override {
    ++persist_calls;
    saved = exchange;
  }
  void finished(const RelayOutcome& result) override {
    ++finished_calls;
    outcome = result;
  }

  // Frames sent to `conn`, oldest first.
  std::vector<Frame> frames_to(ConnId conn) const {
    std::vector<Frame> frames;
    for (const Event& event : events) {
      if (event.conn == conn && !event.close) frames.push_back(event.frame);
    }
    return frames;
  }
  std::vector<Frame> frames_of_type(ConnId conn, FrameType type) const {
    std::vector<Frame> frames;
    for (Frame& frame : frames_to(conn)) {
      if (frame.type == type) frames.push_back(std::move(frame));
    }
    return frames;
  }
  // Every frame of `type`, to any connection, in sending order.
  std::vector<SentFrame> sent_of_type(FrameType type) const {
    std::vector<SentFrame> sent;
    for (const Event& event : events) {
      if (!event.close && event.frame.type == type) sent.push_back({event.conn, event.frame});
    }
    return sent;
  }
  bool closed(ConnId conn) const {
    for (const Event& event : events) {
      if (event.conn == conn && event.close) return true;
    }
    return false;
  }
  // Index of the first log line containing `part`, or nullopt.
  std::optional<size_t> log_index(std::string_view part) const {
    for (size_t i = 0; i < log_lines.size(); ++i) {
      if (contains(log_lines[i], part)) return i;
    }
    return std::nullopt;
  }

  std::vector<Event> events;
  std::vector<std::string> log_lines;
  std::vector<std::string> notices;
  int persist_calls = 0;
  std::optional<SavedExchange> saved;
  int finished_calls = 0;
  std::optional<RelayOutcome> outcome;
};

// Own file in a vector; received files in vectors, with every write and
// commit recorded.
class MemoryChunkStore : public ChunkStore {
 public:
  explicit MemoryChunkStore(Bytes own) : own_(std::move(own)) {}

  FileAnnouncement open_own_file(PeerIndex self) override {
    opened_as = self;
    if (open_error) throw std::runtime_error(*open_error);
    return FileAnnouncement{own_.size(), sha256_of(own_)};
  }
  // What a transport's PeerOutbox::send_own_chunk reads.
  void read_own_chunk(uint64_t offset, std::span<uint8_t> dest) const {
    CHECK(offset + dest.size() <= own_.size());
    if (offset + dest.size() > own_.size()) throw std::runtime_error("read past the end");
    std::copy_n(own_.begin() + static_cast<ptrdiff_t>(offset), dest.size(), dest.begin());
  }
  std::optional<std::string> own_file_problem() override { return own_problem; }
  void begin_file(PeerIndex owner, uint64_t size_bytes) override {
    ++begins[owner];
    received[owner] = Bytes(size_bytes, 0);
    digests[owner] = ReceivedDigest{};
    bytes_written[owner] = 0;
  }
  void write_chunk(PeerIndex owner, uint64_t offset, const ChunkBytes& chunk) override {
    CHECK(begins_of(owner) + resumes_of(owner) >= 1);
    CHECK(commits_of(owner) == 0);
    REQUIRE_FALSE(chunk.ref);
    ByteView data = chunk.data;
    Bytes& file = received[owner];
    CHECK(offset + data.size() <= file.size());
    if (offset + data.size() > file.size()) throw std::runtime_error("write past the end");
    std::copy(data.begin(), data.end(), file.begin() + static_cast<ptrdiff_t>(offset));
    bytes_written[owner] += data.size();
    digests[owner].add(offset, chunk);
  }
  Sha256Digest received_digest(PeerIndex owner) override {
    return digests[owner].finish(received[owner].size());
  }
  void commit_file(PeerIndex owner) override { ++commits[owner]; }

  // Saved progress lives in the store, so a new PeerCore over the same store
  // is a restarted client.
  std::vector<PeerIndex> slots_with_saved_progress() override {
    if (!progress) return {};
    return {progress->self};
  }
  std::optional<SavedProgress> saved_progress(PeerIndex self) override {
    if (progress && progress->self == self) return progress;
    return std::nullopt;
  }
  void begin_progress(const SavedProgress& saved) override { progress = saved; }
  void record_progress(uint64_t rounds_completed) override {
    REQUIRE(progress);
    progress->rounds_completed = rounds_completed;
  }
  void clear_progress() override { progress.reset(); }
  void resume_file(PeerIndex owner, uint64_t size_bytes, uint64_t bytes_kept) override {
    ++resumes[owner];
    Bytes& file = received[owner];
    if (file.size() < bytes_kept) throw std::runtime_error("resume_file: bytes missing");
    file.resize(size_bytes);
    digests[owner] = ReceivedDigest{};
    digests[owner].add_kept(ByteView(file.data(), bytes_kept));
  }
  bool has_committed_file(PeerIndex owner) override { return commits_of(owner) > 0; }

  int begins_of(PeerIndex owner) const { return begins.count(owner) ? begins.at(owner) : 0; }
  int resumes_of(PeerIndex owner) const { return resumes.count(owner) ? resumes.at(owner) : 0; }
  int commits_of(PeerIndex owner) const { return commits.count(owner) ? commits.at(owner) : 0; }

  std::optional<std::string> open_error;   // set to make open_own_file throw
  std::optional<std::string> own_problem;  // what own_file_problem() says
  std::optional<PeerIndex> opened_as;
  std::map<PeerIndex, Bytes> received;
  std::map<PeerIndex, int> begins;
  std::map<PeerIndex, int> commits;
  std::map<PeerIndex, int> resumes;
  std::map<PeerIndex, uint64_t> bytes_written;
  std::map<PeerIndex, ReceivedDigest> digests;
  std::optional<SavedProgress> progress;

 private:
  Bytes own_;
};

// One peer's side of its connection: what it sends waits in `to_server`.
class QueuePeerOutbox : public PeerOutbox {
 public:
  // `own_file` serves send_own_chunk and must outlive the outbox.
  explicit QueuePeerOutbox(const MemoryChunkStore& own_file) : own_file_(own_file) {}

  void send(Frame frame) override { to_server.push_back(std::move(frame)); }
  void send_own_chunk(FrameType type, const ChunkHeader& header, uint64_t offset,
                      uint32_t length) override {
    Frame frame = make_chunk_frame(type, header, length);
    own_file_.read_own_chunk(offset, std::span<uint8_t>(chunk_data_area(frame), length));
    to_server.push_back(std::move(frame));
  }
  void log(std::string line) override { log_lines.push_back(std::move(line)); }
  void notice(std::string text) override { notices.push_back(std::move(text)); }
  void finished(const PeerOutcome& result) override {
    ++finished_calls;
    outcome = result;
  }

  std::deque<Frame> to_server;
  std::vector<std::string> log_lines;
  std::vector<std::string> notices;
  int finished_calls = 0;
  std::optional<PeerOutcome> outcome;

 private:
  const MemoryChunkStore& own_file_;
};

}  // namespace chunkex::test
