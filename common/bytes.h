// Big-endian integer coding over byte buffers, in the spirit of LevelDB's
// util/coding.h. Writers append to a std::vector; ByteReader never reads past
// the end of its view and reports a short buffer by returning false.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace chunkex {

// Leaves new elements uninitialised: chunk buffers are always filled by a
// read right after they are sized, and zeroing 128 KiB per chunk first showed
// up in profiles.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* place) noexcept {
    ::new (static_cast<void*>(place)) U;
  }
  template <typename U, typename... Args>
  void construct(U* place, Args&&... args) {
    ::new (static_cast<void*>(place)) U(std::forward<Args>(args)...);
  }
};

using Bytes = std::vector<uint8_t, DefaultInitAllocator<uint8_t>>;
using ByteView = std::span<const uint8_t>;

template <typename Int>
void put_big_endian(Bytes& out, Int value) {
  for (int shift = 8 * (static_cast<int>(sizeof(Int)) - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(value) >> shift));
  }
}

template <typename Int>
void store_big_endian(uint8_t* dest, Int value) {
  for (size_t i = 0; i < sizeof(Int); ++i) {
    dest[i] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (8 * (sizeof(Int) - 1 - i)));
  }
}

template <typename Int>
Int load_big_endian(const uint8_t* src) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(Int); ++i) value = (value << 8) | src[i];
  return static_cast<Int>(value);
}

// Sequential reader over a byte view. Every get_* checks the remaining length
// first; after a failed get the reader is left unchanged.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}

  template <typename Int>
  bool get(Int& value) {
    if (remaining() < sizeof(Int)) return false;
    value = load_big_endian<Int>(data_.data() + offset_);
    offset_ += sizeof(Int);
    return true;
  }

  bool get_bytes(size_t length, ByteView& out) {
    if (remaining() < length) return false;
    out = data_.subspan(offset_, length);
    offset_ += length;
    return true;
  }

  size_t remaining() const { return data_.size() - offset_; }
  ByteView rest() const { return data_.subspan(offset_); }

 private:
  ByteView data_;
  size_t offset_ = 0;
};

std::string to_hex(ByteView data);

}  // namespace chunkex
