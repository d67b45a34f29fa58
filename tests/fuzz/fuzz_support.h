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
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/chunk_store.h"
#include "common/content.h"
#include "common/frame.h"
#include "common/messages.h"
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

// Same type and payload, and neither or both carry their chunk by reference.
inline bool same_frame(const Frame& a, const Frame& b) {
  return a.type == b.type && a.data_ref.has_value() == b.data_ref.has_value() &&
         a.payload.size() == b.payload.size() &&
         std::equal(a.payload.begin(), a.payload.end(), b.payload.begin());
}

inline bool same_bytes(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// A peer's files in memory, and its saved progress. Received files are kept
// (to check what gets committed) only up to kKeepBytes; larger announced sizes
// are tracked by length alone, so a hostile ROSTER cannot make the harness
// allocate. Like FileChunkStore, received files and progress are named by the
// slot the peer held (`<SELF>_<OWNER>`, `<SELF>.progress`) and outlive the
// PeerCore, and the store hashes what it receives (ReceivedDigest). Every
// PeerCore over it is one run: a PeerHost's next session over the same store
// (a reconnect) or a restarted client's (call new_run() before each).
class FuzzChunkStore : public ChunkStore {
 public:
  static constexpr uint64_t kKeepBytes = 1 << 20;

  struct Received {
    uint64_t size_bytes = 0;
    bool kept = false;
    Bytes data;
    uint64_t bytes_written = 0;  // chunks of one owner come lowest first: a prefix
    ReceivedDigest digest;
    bool digest_taken = false;  // received_digest() was asked, in this run
    bool committed = false;
    int committed_in_run = -1;
  };

  explicit FuzzChunkStore(Bytes own) : own_(std::move(own)) {}

  void new_run() {
    ++run;
    opened_as.reset();
    progress_self_.reset();
  }

  FileAnnouncement open_own_file(PeerIndex self) override {
    FUZZ_CHECK(!opened_as);  // FLAG is accepted once per run
    opened_as = self;
    return FileAnnouncement{own_.size(), sha256_of(own_)};
  }
  void begin_file(PeerIndex owner, uint64_t size_bytes) override {
    FUZZ_CHECK(opened_as && owner != *opened_as);
    FUZZ_CHECK(begun_.insert(std::make_pair(run, owner)).second);  // once per owner and run
    // As FileChunkStore: the .part file is created anew (a committed file of
    // an earlier run is replaced when this one commits).
    Received& file = received[{*opened_as, owner}];
    file = Received{};
    file.size_bytes = size_bytes;
    file.kept = size_bytes <= kKeepBytes;
    if (file.kept) file.data.assign(size_bytes, 0);
  }
  void write_chunk(PeerIndex owner, uint64_t offset, const ChunkBytes& chunk) override {
    Received& file = current(owner);
    FUZZ_CHECK(!chunk.ref);  // frames that crossed a decoder carry their bytes
    ByteView data = chunk.data;
    FUZZ_CHECK(!file.committed && !file.digest_taken);
    FUZZ_CHECK(offset <= file.size_bytes && data.size() <= file.size_bytes - offset);
    FUZZ_CHECK(offset == file.bytes_written);  // in order, each byte once
    if (file.kept)
      std::copy(data.begin(), data.end(), file.data.begin() + static_cast<ptrdiff_t>(offset));
    file.bytes_written += data.size();
    file.digest.add(offset, chunk);
  }
  Sha256Digest received_digest(PeerIndex owner) override {
    Received& file = current(owner);
    FUZZ_CHECK(!file.digest_taken && !file.committed);  // once, after the last chunk
    FUZZ_CHECK(file.bytes_written == file.size_bytes);
    file.digest_taken = true;
    return file.digest.finish(file.size_bytes);
  }
  void commit_file(PeerIndex owner) override {
    Received& file = current(owner);
    FUZZ_CHECK(!file.committed);
    FUZZ_CHECK(file.digest_taken);                      // only a file whose digest was checked
    FUZZ_CHECK(file.bytes_written == file.size_bytes);  // every byte, once
    file.committed = true;
    file.committed_in_run = run;
  }

  std::vector<PeerIndex> slots_with_saved_progress() override {
    std::vector<PeerIndex> slots;
    for (const auto& [self, saved] : progress) slots.push_back(self);
    return slots;
  }
  std::optional<SavedProgress> saved_progress(PeerIndex self) override {
    auto found = progress.find(self);
    if (found == progress.end()) return std::nullopt;
    return found->second;
  }
  void begin_progress(const SavedProgress& saved) override {
    FUZZ_CHECK(opened_as && saved.self == *opened_as);
    progress[saved.self] = saved;
    progress_self_ = saved.self;
  }
  void record_progress(uint64_t rounds_completed) override {
    FUZZ_CHECK(progress_self_ && progress.count(*progress_self_));
    SavedProgress& saved = progress[*progress_self_];
    FUZZ_CHECK(rounds_completed == saved.rounds_completed + 1);  // one round at a time
    saved.rounds_completed = rounds_completed;
  }
  void clear_progress() override {
    FUZZ_CHECK(progress_self_);
    progress.erase(*progress_self_);
  }
  // The saved progress must never count a chunk that is not in the file.
  void resume_file(PeerIndex owner, uint64_t size_bytes, uint64_t bytes_kept) override {
    FUZZ_CHECK(opened_as && owner != *opened_as);
    FUZZ_CHECK(begun_.insert(std::make_pair(run, owner)).second);
    auto found = received.find({*opened_as, owner});
    FUZZ_CHECK(found != received.end());
    Received& file = found->second;
    FUZZ_CHECK(!file.committed);
    FUZZ_CHECK(file.size_bytes == size_bytes);
    FUZZ_CHECK(bytes_kept <= file.bytes_written);
    file.digest = ReceivedDigest{};
    file.digest_taken = false;
    if (file.kept) {
      file.digest.add_kept(ByteView(file.data.data(), bytes_kept));
    } else {
      // Not kept: zeros stand in (the digest fails, as for a damaged file).
      Bytes zeros(4096, 0);
      for (uint64_t done = 0; done < bytes_kept;) {
        size_t take = static_cast<size_t>(std::min<uint64_t>(zeros.size(), bytes_kept - done));
        file.digest.add_kept(ByteView(zeros.data(), take));
        done += take;
      }
    }
    file.bytes_written = bytes_kept;
  }
  bool has_committed_file(PeerIndex owner) override {
    FUZZ_CHECK(opened_as);
    auto found = received.find({*opened_as, owner});
    return found != received.end() && found->second.committed;
  }

  const Bytes& own() const { return own_; }

  int run = 0;
  std::optional<PeerIndex> opened_as;                            // in this run
  std::map<std::pair<PeerIndex, PeerIndex>, Received> received;  // by (self, owner)
  std::map<PeerIndex, SavedProgress> progress;                   // by self
  std::map<int, RosterMessage> rosters;  // by run: the first well-formed ROSTER it was given

 private:
  Received& current(PeerIndex owner) {
    FUZZ_CHECK(opened_as);
    auto found = received.find({*opened_as, owner});
    FUZZ_CHECK(found != received.end());
    FUZZ_CHECK(begun_.count(std::make_pair(run, owner)));  // begun or resumed in this run
    return found->second;
  }

  Bytes own_;
  std::optional<PeerIndex> progress_self_;     // begin_progress of this run
  std::set<std::pair<int, PeerIndex>> begun_;  // (run, owner)
};

}  // namespace chunkex::fuzz
