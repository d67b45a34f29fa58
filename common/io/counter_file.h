// Small text files that say how far a run got (a peer's saved progress, the
// server's saved exchange). The head is written once, whole, through a
// rename; afterwards only the counter on the last line is rewritten in place,
// with one small pwrite: a process that dies leaves the old value or the new
// one, never a mix, and never a value ahead of the writes made before it.
//
//   <magic>
//   <key> <value...>
//   ...
//   <counter key> <20 digits>
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/io_types.h"

namespace chunkex {


class CounterFile {
 public:
  CounterFile() = default;
  ~CounterFile();
  CounterFile(const CounterFile&) = delete;
  CounterFile& operator=(const CounterFile&) = delete;

  // Replaces `path` with the magic line, `fields` and the counter. Throws
  // std::runtime_error naming the path.
  void create(const std::string& path, const std::string& magic, const TextFields& fields,
              const std::string& counter_key, uint64_t value);
  void update(uint64_t value);
  // Deletes the file (the run it described is over).
  void remove();
  bool is_open() const { return fd_ >= 0; }

 private:
  void close_fd();

  int fd_ = -1;
  std::string path_;
  uint64_t counter_offset_ = 0;
};

// The fields of a counter file whose first line is `magic` (the counter is
// the last field); nullopt when there is no such file or it is not one.
std::optional<TextFields> read_counter_file(const std::string& path, const std::string& magic);

}  // namespace chunkex
