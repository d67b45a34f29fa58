// Chunk data the relay holds in pipes between two sockets: the data of a
// CHUNK_DATA goes from the owner's socket into a pipe and from the pipe into
// the requester's socket with splice(2), so its bytes never pass through user
// space (the relay copied each chunk twice before: 2.5 of the exchange's
// 22 CPU seconds). See docs/DESIGN.md §5.8.
//
// Every failure to get a pipe (the pool's limit, the process's file limit, a
// pipe size the system refuses) only means the chunk is read into memory as
// before.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/frame.h"

namespace chunkex {

class PipePool;

// One pipe holding the data of one chunk.
class HeldPipe final : public HeldChunk {
 public:
  HeldPipe(std::weak_ptr<PipePool> pool, int read_fd, int write_fd);
  ~HeldPipe() override;
  HeldPipe(const HeldPipe&) = delete;
  HeldPipe& operator=(const HeldPipe&) = delete;

  // Bytes put in so far (the chunk's length once it is complete).
  uint32_t length_bytes() const override { return length_bytes_; }
  // Bytes put in and not yet sent on.
  uint32_t unsent_bytes() const { return length_bytes_ - sent_bytes_; }

  // Copies `bytes` in (the part of the chunk a read had already taken).
  bool put(ByteView bytes);
  // splice(2) of up to `bytes` bytes from `socket_fd`, without blocking:
  // what it returns (-1 with errno set on failure, EAGAIN included).
  ssize_t fill_from(int socket_fd, size_t bytes);
  // splice(2) of the unsent bytes into `socket_fd`, without blocking.
  ssize_t send_to(int socket_fd);
  // Reads everything held back into memory (the pipe is then empty).
  Bytes take_back();

 private:
  std::weak_ptr<PipePool> pool_;
  int read_fd_;
  int write_fd_;
  uint32_t length_bytes_ = 0;
  uint32_t sent_bytes_ = 0;
};

class PipePool : public std::enable_shared_from_this<PipePool> {
 public:
  // Pipes of `pipe_bytes` capacity each; at most `pipes_max` exist at once.
  static std::shared_ptr<PipePool> create(uint32_t pipe_bytes, size_t pipes_max);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // An empty pipe, or nullptr when none can be had now.
  std::shared_ptr<HeldPipe> acquire();
  // An emptied pipe comes back for the next chunk.
  void give_back(int read_fd, int write_fd);
  // A pipe that still held data is closed instead.
  void forget_one();

  size_t pipes_open() const { return pipes_open_; }

 private:
  PipePool(uint32_t pipe_bytes, size_t pipes_max)
      : pipe_bytes_(pipe_bytes), pipes_max_(pipes_max) {}
  bool open_pipe(int (&fds)[2]);

  uint32_t pipe_bytes_;
  size_t pipes_max_;
  size_t pipes_open_ = 0;  // idle ones included
  // After the system refused a pipe, none is opened again until the count
  // falls below this (else every chunk would pay for four failing syscalls).
  size_t refused_at_open_ = SIZE_MAX;
  std::vector<std::pair<int, int>> idle_;
};

// The pipe size that holds a chunk of `chunk_bytes` whatever the sizes of
// the socket buffers it comes in (a pipe counts slots, one per buffer, not
// bytes), or 0 when chunks that large are better read into memory.
uint32_t held_pipe_bytes(uint32_t chunk_bytes);

}  // namespace chunkex
