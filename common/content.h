// Where a file's bytes come from when chunks travel by reference (the
// simulator's in-memory link, frame.h ChunkRef): a generated workload
// (the exact bytes chunkex-gen writes) or a real file. A source knows its
// size and SHA-256 once it is built; its bytes are produced only when a
// store must write a received file out. See docs/DESIGN.md §7.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "common/bytes.h"
#include "common/frame.h"
#include "common/messages.h"
#include "common/sha256.h"

namespace chunkex {

// Reads a source's bytes; fastest in order (a generated source cannot jump).
class ContentReader {
 public:
  virtual ~ContentReader() = default;
  virtual void read(uint64_t offset, std::span<uint8_t> dest) = 0;
};

class ContentSource {
 public:
  virtual ~ContentSource() = default;
  virtual const FileAnnouncement& announcement() const = 0;
  virtual std::unique_ptr<ContentReader> open_reader() const = 0;
};

// Bytes in memory (tests).
class BytesSource : public ContentSource {
 public:
  explicit BytesSource(Bytes bytes);
  const FileAnnouncement& announcement() const override { return announcement_; }
  std::unique_ptr<ContentReader> open_reader() const override;
  const Bytes& bytes() const { return bytes_; }

 private:
  Bytes bytes_;
  FileAnnouncement announcement_;
};

// A received chunk: its bytes, or a reference to them.
struct ChunkBytes {
  ByteView data;
  std::optional<ChunkRef> ref;
  uint64_t size() const { return ref ? ref->length_bytes : data.size(); }
};

ChunkBytes received_chunk(const Frame& frame);

// The SHA-256 of a file received in order, chunk by chunk. Inline bytes are
// hashed. Chunks that came by reference are not: when every chunk of the
// file was a reference to one source at its own offset, the file holds that
// source's content and its digest is the source's; any other mix yields a
// digest that no announced file has, so verification fails.
class ReceivedDigest {
 public:
  void add(uint64_t offset, const ChunkBytes& chunk);
  // Bytes already on disk from an earlier run (resume).
  void add_kept(ByteView data) { add(next_offset_, ChunkBytes{data, std::nullopt}); }
  // Drops what came after the first `bytes_kept` bytes; only possible when
  // nothing was hashed inline (a store that kept no bytes).
  bool rewind_references(uint64_t bytes_kept);
  Sha256Digest finish(uint64_t size_bytes);

 private:
  Sha256 hasher_;
  const ContentSource* source_ = nullptr;
  bool hashed_inline_ = false;
  bool consistent_ = true;
  uint64_t next_offset_ = 0;
};

}  // namespace chunkex
