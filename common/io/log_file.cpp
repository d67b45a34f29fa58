#include "common/io/log_file.h"

#include <fcntl.h>
#include <stdio_ext.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

namespace chunkex {
namespace {

std::string open_failure(const std::string& path, int error_number) {
  if (error_number == ELOOP) {
    return fmt::format("refusing to write {}: it is a symbolic link", path);
  }
  return fmt::format("cannot create {}: {}", path, std::strerror(error_number));
}

// Writes all of `text` to `fd`; the errno of the failure, or 0.
int write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t put = ::write(fd, text.data() + done, text.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) return errno;
    done += static_cast<size_t>(put);
  }
  return 0;
}

// Cuts the file back to its last whole line (a disk that filled up took
// part of one). Lines are far shorter than the tail looked at.
void cut_to_last_whole_line(int fd) {
  constexpr off_t kTailBytes = 64 << 10;
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) return;
  off_t from = std::max<off_t>(0, size - kTailBytes);
  std::string tail(static_cast<size_t>(size - from), '\0');
  if (::pread(fd, tail.data(), tail.size(), from) != static_cast<ssize_t>(tail.size())) return;
  size_t last_newline = tail.rfind('\n');
  off_t keep =
      last_newline == std::string::npos ? from : from + static_cast<off_t>(last_newline) + 1;
  if (keep < size) (void)::ftruncate(fd, keep);  // a device (/dev/full) cannot be cut
}

}  // namespace

void make_directories(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    throw std::runtime_error(fmt::format("cannot create directory {}: {}", dir, error.message()));
  }
}

int open_for_writing(const std::string& path, bool exclusive) {
  int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) throw std::runtime_error(open_failure(path, errno));
  return fd;
}

int create_replacing(const std::string& path) {
  ::unlink(path.c_str());
  return open_for_writing(path, true);
}

LogFile::~LogFile() {
  close();
}

void LogFile::open(const std::string& dir, const std::string& name) {
  close();
  error_.reset();
  make_directories(dir);
  path_ = (std::filesystem::path(dir) / name).string();
  int fd = open_for_writing(path_, false);
  file_ = ::fdopen(fd, "w");
  if (!file_) {
    int error_number = errno;
    ::close(fd);
    throw std::runtime_error(
        fmt::format("cannot open log {}: {}", path_, std::strerror(error_number)));
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

// What is still buffered would go out half when the file is closed (the
// failure may have freed nothing, or the disk may have room again): it is
// dropped, and the file is cut back to its last whole line.
void LogFile::fail(int error_number) {
  if (error_) return;
  error_ = fmt::format("cannot write log {}: {}", path_, std::strerror(error_number));
  __fpurge(file_);
  cut_to_last_whole_line(::fileno(file_));
}

void LogFile::write_line(const std::string& line) {
  if (!file_ || error_) return;
  bool written = std::fwrite(line.data(), 1, line.size(), file_) == line.size() &&
                 std::fputc('\n', file_) != EOF;
  if (!written) fail(errno);
}

void LogFile::close() {
  if (!file_) return;
  bool flushed = error_ || std::fflush(file_) == 0;
  if (!flushed) fail(errno);
  if (std::fclose(file_) != 0 && !error_) fail(errno);
  file_ = nullptr;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  std::string temporary = path + ".part";
  int fd = create_replacing(temporary);  // a run that died may have left one
  int error_number = write_all(fd, text);
  if (::close(fd) != 0 && error_number == 0) error_number = errno;
  if (error_number == 0 && std::rename(temporary.c_str(), path.c_str()) != 0) {
    error_number = errno;
  }
  if (error_number == 0) return;
  ::unlink(temporary.c_str());
  throw std::runtime_error(fmt::format("cannot write {}: {}", path, std::strerror(error_number)));
}

// Nothing is created: the probe goes into the deepest part of `dir` that
// exists (what is missing is made when the first file is written there).
std::optional<std::string> check_writable_directory(const std::string& dir) {
  std::error_code error;
  std::filesystem::path existing = std::filesystem::absolute(dir, error);
  while (existing.has_relative_path() && !std::filesystem::exists(existing, error)) {
    existing = existing.parent_path();
  }
  auto unwritable = [&dir](const std::string& why) {
    return fmt::format("directory {} cannot be written: {}", dir, why);
  };
  if (!std::filesystem::is_directory(existing, error)) {
    return unwritable(existing.string() + " is not a directory");
  }
  std::string probe =
      (existing / fmt::format(".chunkex-write-test-{}", static_cast<long>(::getpid()))).string();
  try {
    write_file_atomically(probe, "chunkex checks that this directory can be written\n");
  } catch (const std::runtime_error& failure) {
    return unwritable(failure.what());
  }
  ::unlink(probe.c_str());
  return std::nullopt;
}

}  // namespace chunkex
