#include "common/content.h"

#include <algorithm>
#include <stdexcept>

namespace chunkex {

namespace {

class BytesReader : public ContentReader {
 public:
  explicit BytesReader(const Bytes& bytes) : bytes_(bytes) {}
  void read(uint64_t offset, std::span<uint8_t> dest) override {
    if (offset + dest.size() > bytes_.size()) throw std::runtime_error("read past the end");
    std::copy_n(bytes_.begin() + static_cast<ptrdiff_t>(offset), dest.size(), dest.begin());
  }

 private:
  const Bytes& bytes_;
};

}  // namespace

BytesSource::BytesSource(Bytes bytes)
    : bytes_(std::move(bytes)), announcement_{bytes_.size(), sha256_of(bytes_)} {}

std::unique_ptr<ContentReader> BytesSource::open_reader() const {
  return std::make_unique<BytesReader>(bytes_);
}

ChunkBytes received_chunk(const Frame& frame) {
  return ChunkBytes{chunk_data(frame), frame.data_ref};
}

void ReceivedDigest::add(uint64_t offset, const ChunkBytes& chunk) {
  consistent_ = consistent_ && offset == next_offset_;
  if (chunk.ref) {
    const ChunkRef& ref = *chunk.ref;
    if (!source_) source_ = ref.source;
    consistent_ = consistent_ && ref.source == source_ && ref.offset == offset;
  } else {
    hashed_inline_ = true;
    hasher_.update(chunk.data);
  }
  next_offset_ = offset + chunk.size();
}

bool ReceivedDigest::rewind_references(uint64_t bytes_kept) {
  if (hashed_inline_ || bytes_kept > next_offset_) return false;
  next_offset_ = bytes_kept;
  return true;
}

Sha256Digest ReceivedDigest::finish(uint64_t size_bytes) {
  Sha256Digest inline_digest = hasher_.finish();
  if (!source_) return inline_digest;
  bool whole_source = consistent_ && !hashed_inline_ && next_offset_ == size_bytes &&
                      source_->announcement().size_bytes == size_bytes;
  return whole_source ? source_->announcement().sha256 : Sha256Digest{};
}

}  // namespace chunkex
