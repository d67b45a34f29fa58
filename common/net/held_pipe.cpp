#include "common/net/held_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <tuple>

namespace chunkex {
namespace {

// Chunks above this are read into memory: their pipes would pass the
// largest pipe an unprivileged process may make (/proc/sys/fs/pipe-max-size,
// 1 MiB by default) at four slots' worth of bytes per page.
constexpr uint32_t kHeldChunkBytesMax = 256 * 1024;
constexpr uint32_t kPipeBytesMax = 1024 * 1024;

void close_pipe(int read_fd, int write_fd) {
  ::close(read_fd);
  ::close(write_fd);
}

}  // namespace

uint32_t held_pipe_bytes(uint32_t chunk_bytes) {
  if (chunk_bytes == 0 || chunk_bytes > kHeldChunkBytesMax) return 0;
  // A page of a pipe holds one socket buffer however small: four times the
  // chunk leaves room for buffers of a quarter page and more.
  return std::min(kPipeBytesMax, std::bit_ceil(4 * chunk_bytes));
}

HeldPipe::HeldPipe(std::weak_ptr<PipePool> pool, int read_fd, int write_fd)
    : pool_(std::move(pool)), read_fd_(read_fd), write_fd_(write_fd) {}

HeldPipe::~HeldPipe() {
  std::shared_ptr<PipePool> pool = pool_.lock();
  if (pool && unsent_bytes() == 0) {
    pool->give_back(read_fd_, write_fd_);
    return;
  }
  if (pool) pool->forget_one();
  close_pipe(read_fd_, write_fd_);
}

bool HeldPipe::put(ByteView bytes) {
  while (!bytes.empty()) {
    ssize_t put = ::write(write_fd_, bytes.data(), bytes.size());
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    length_bytes_ += static_cast<uint32_t>(put);
    bytes = bytes.subspan(static_cast<size_t>(put));
  }
  return true;
}

ssize_t HeldPipe::fill_from(int socket_fd, size_t bytes) {
  ssize_t moved =
      ::splice(socket_fd, nullptr, write_fd_, nullptr, bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (moved > 0) length_bytes_ += static_cast<uint32_t>(moved);
  return moved;
}

ssize_t HeldPipe::send_to(int socket_fd) {
  ssize_t moved = ::splice(read_fd_, nullptr, socket_fd, nullptr, unsent_bytes(),
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (moved > 0) sent_bytes_ += static_cast<uint32_t>(moved);
  return moved;
}

Bytes HeldPipe::take_back() {
  Bytes bytes(unsent_bytes());
  size_t filled = 0;
  while (filled < bytes.size()) {
    ssize_t got = ::read(read_fd_, bytes.data() + filled, bytes.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // cannot happen: the bytes are in the pipe
    filled += static_cast<size_t>(got);
  }
  bytes.resize(filled);
  sent_bytes_ += static_cast<uint32_t>(filled);
  return bytes;
}

std::shared_ptr<PipePool> PipePool::create(uint32_t pipe_bytes, size_t pipes_max) {
  return std::shared_ptr<PipePool>(new PipePool(pipe_bytes, pipes_max));
}

PipePool::~PipePool() {
  for (auto [read_fd, write_fd] : idle_) close_pipe(read_fd, write_fd);
}

std::shared_ptr<HeldPipe> PipePool::acquire() {
  int fds[2];
  if (!idle_.empty()) {
    std::tie(fds[0], fds[1]) = idle_.back();
    idle_.pop_back();
  } else if (pipes_open_ >= std::min(pipes_max_, refused_at_open_) || !open_pipe(fds)) {
    return nullptr;
  }
  return std::make_shared<HeldPipe>(weak_from_this(), fds[0], fds[1]);
}

bool PipePool::open_pipe(int (&fds)[2]) {
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    refused_at_open_ = pipes_open_;
    return false;
  }
  if (::fcntl(fds[0], F_SETPIPE_SZ, static_cast<int>(pipe_bytes_)) < 0) {
    close_pipe(fds[0], fds[1]);
    refused_at_open_ = pipes_open_;
    return false;
  }
  ++pipes_open_;
  return true;
}

void PipePool::give_back(int read_fd, int write_fd) {
  idle_.emplace_back(read_fd, write_fd);
}

void PipePool::forget_one() {
  --pipes_open_;
  refused_at_open_ = SIZE_MAX;  // the system may let one be opened again
}

}  // namespace chunkex
