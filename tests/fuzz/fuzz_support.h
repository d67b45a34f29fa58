// Helpers shared by the libFuzzer targets in this directory.
//
// The unit tests' helpers (tests/unit/test_support.h) are not reused here on
// purpose: they include doctest, whose CHECK macros need a running doctest
// context, and their MemoryChunkStore allocates every announced file size up
// front, which a fuzzer turns into a multi-gigabyte allocation. These fakes
// report a broken invariant with __builtin_trap() (libFuzzer records the
// input as a crash) and never allocate more than a small cap.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/chunk_store.h"
#include "common/frame.h"
#include "common/messages.h"
#include "common/peer_core.h"
#include "common/sha256.h"
#include "tests/test_data.h"

// An invariant of the code under test. On failure: say which, then trap.
#define FUZZ_CHECK(condition)                                                                  \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #condition); \
      __builtin_trap();                                                                        \
    }                                                                                          \
  } while (0)

namespace chunkex::fuzz {

using test::pseudo_random_bytes;

// Reads the fuzzer's input front to back; past the end it yields zeros and
// empty views, so a harness never has to check lengths.
class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  size_t remaining() const { return size_ - pos_; }
  uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
  uint16_t u16() {
    uint16_t high = u8();
    return static_cast<uint16_t>((high << 8) | u8());
  }
  ByteView bytes(size_t count) {
    count = std::min(count, remaining());
    ByteView view(data_ + pos_, count);
    pos_ += count;
    return view;
  }
  ByteView rest() { return bytes(remaining()); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

inline bool same_frame(const Frame& a, const Frame& b) {
  return a.type == b.type && a.payload.size() == b.payload.size() &&
         std::equal(a.payload.begin(), a.payload.end(), b.payload.begin());
}

inline bool same_bytes(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// A peer's files in memory. Received files are kept (to check what gets
// committed) only up to kKeepBytes; larger announced sizes are tracked by
// length alone, so a hostile ROSTER cannot make the harness allocate.
class FuzzChunkStore : public ChunkStore {
 public:
  static constexpr uint64_t kKeepBytes = 1 << 20;

  struct Received {
    uint64_t size_bytes = 0;
    bool kept = false;
    Bytes data;
    uint64_t bytes_written = 0;
    bool committed = false;
  };

  explicit FuzzChunkStore(Bytes own) : own_(std::move(own)) {}

  FileAnnouncement open_own_file(PeerIndex self) override {
    FUZZ_CHECK(!opened_as);  // FLAG is accepted once
    opened_as = self;
    return FileAnnouncement{own_.size(), sha256_of(own_)};
  }
  void begin_file(PeerIndex owner, uint64_t size_bytes) override {
    FUZZ_CHECK(opened_as && owner != *opened_as);
    FUZZ_CHECK(received.count(owner) == 0);  // once per owner
    Received& file = received[owner];
    file.size_bytes = size_bytes;
    file.kept = size_bytes <= kKeepBytes;
    if (file.kept) file.data.assign(size_bytes, 0);
  }
  void write_chunk(PeerIndex owner, uint64_t offset, ByteView data) override {
    auto found = received.find(owner);
    FUZZ_CHECK(found != received.end());
    Received& file = found->second;
    FUZZ_CHECK(!file.committed);
    FUZZ_CHECK(offset <= file.size_bytes && data.size() <= file.size_bytes - offset);
    if (file.kept)
      std::copy(data.begin(), data.end(), file.data.begin() + static_cast<ptrdiff_t>(offset));
    file.bytes_written += data.size();
    FUZZ_CHECK(file.bytes_written <= file.size_bytes);
  }
  void commit_file(PeerIndex owner) override {
    auto found = received.find(owner);
    FUZZ_CHECK(found != received.end());
    Received& file = found->second;
    FUZZ_CHECK(!file.committed);
    FUZZ_CHECK(file.bytes_written == file.size_bytes);  // every byte, once
    file.committed = true;
  }

  const Bytes& own() const { return own_; }

  std::optional<PeerIndex> opened_as;
  std::map<PeerIndex, Received> received;

 private:
  Bytes own_;
};

// One peer's side of its connection: what it sends waits in `to_server`.
class FuzzPeerOutbox : public PeerOutbox {
 public:
  explicit FuzzPeerOutbox(const FuzzChunkStore& store) : store_(store) {}

  void send(Frame frame) override {
    FUZZ_CHECK(!outcome);  // nothing after finished()
    to_server.push_back(std::move(frame));
  }
  void send_own_chunk(const ChunkHeader& header, uint64_t offset, uint32_t length) override {
    FUZZ_CHECK(!outcome);
    const Bytes& own = store_.own();
    FUZZ_CHECK(offset <= own.size() && length <= own.size() - offset);
    Frame frame = make_chunk_frame(FrameType::kChunkData, header, length);
    std::copy_n(own.begin() + static_cast<ptrdiff_t>(offset), length, chunk_data_area(frame));
    to_server.push_back(std::move(frame));
  }
  void log(std::string line) override { log_lines.push_back(std::move(line)); }
  void notice(std::string) override {}
  void finished(const PeerOutcome& result) override {
    FUZZ_CHECK(!outcome);  // called once
    outcome = result;
  }

  std::deque<Frame> to_server;
  std::vector<std::string> log_lines;
  std::optional<PeerOutcome> outcome;

 private:
  const FuzzChunkStore& store_;
};

}  // namespace chunkex::fuzz
