#include "common/io/file_chunk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "common/io/log_file.h"
#include "common/sha256.h"

namespace chunkex {
namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw std::runtime_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

std::string temporary_path(const std::string& final_path) {
  return final_path + ".part";
}

}  // namespace

FileAnnouncement describe_file(int fd, const std::string& path) {
  struct stat info {};
  if (fstat(fd, &info) != 0) throw_errno("cannot stat", path);
  if (!S_ISREG(info.st_mode)) throw std::runtime_error(path + " is not a regular file");
  Sha256 hasher;
  std::vector<uint8_t> block(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t got = ::pread(fd, block.data(), block.size(), static_cast<off_t>(total));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_errno("cannot read", path);
    if (got == 0) break;
    hasher.update(ByteView(block.data(), static_cast<size_t>(got)));
    total += static_cast<uint64_t>(got);
  }
  if (total != static_cast<uint64_t>(info.st_size)) {
    throw std::runtime_error(fmt::format("{} changed size while it was being read", path));
  }
  return FileAnnouncement{total, hasher.finish()};
}

FileChunkStore::FileChunkStore(std::optional<std::string> own_file, std::string data_dir,
                               std::string out_dir)
    : own_file_override_(std::move(own_file)),
      data_dir_(std::move(data_dir)),
      out_dir_(std::move(out_dir)) {}

FileChunkStore::~FileChunkStore() {
  if (own_fd_ >= 0) ::close(own_fd_);
  for (int fd : incoming_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

FileAnnouncement FileChunkStore::open_own_file(PeerIndex self) {
  self_ = self;
  own_path_ = own_file_override_
                  ? *own_file_override_
                  : (std::filesystem::path(data_dir_) / (peer_name(self) + ".file")).string();
  own_fd_ = ::open(own_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (own_fd_ < 0) throw_errno("cannot open own file", own_path_);
  return describe_file(own_fd_, own_path_);
}

std::string FileChunkStore::final_path(PeerIndex owner) const {
  return (std::filesystem::path(out_dir_) /
          fmt::format("{}_{}_complete.file", peer_letter(self_), peer_letter(owner)))
      .string();
}

void FileChunkStore::begin_file(PeerIndex owner, uint64_t size_bytes) {
  make_directories(out_dir_);
  if (incoming_fds_.size() <= owner) incoming_fds_.resize(owner + 1, -1);
  std::string path = temporary_path(final_path(owner));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno("cannot create", path);
  incoming_fds_[owner] = fd;
  if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0) throw_errno("cannot size", path);
}

void FileChunkStore::write_chunk(PeerIndex owner, uint64_t offset, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t put = ::pwrite(incoming_fds_[owner], data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) throw_errno("cannot write", temporary_path(final_path(owner)));
    done += static_cast<size_t>(put);
  }
}

void FileChunkStore::commit_file(PeerIndex owner) {
  std::string final_name = final_path(owner);
  if (::close(incoming_fds_[owner]) != 0) throw_errno("cannot close", temporary_path(final_name));
  incoming_fds_[owner] = -1;
  if (std::rename(temporary_path(final_name).c_str(), final_name.c_str()) != 0) {
    throw_errno("cannot rename to", final_name);
  }
}

}  // namespace chunkex
