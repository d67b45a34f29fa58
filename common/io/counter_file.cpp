#include "common/io/counter_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "common/io/log_file.h"

namespace chunkex {
namespace {

constexpr int kCounterDigits = 20;

std::string counter_text(uint64_t value) {
  return fmt::format("{:0{}}", value, kCounterDigits);
}

}  // namespace

CounterFile::~CounterFile() {
  close_fd();
}

void CounterFile::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void CounterFile::create(const std::string& path, const std::string& magic,
                         const TextFields& fields, const std::string& counter_key, uint64_t value) {
  std::string head = magic + "\n";
  for (const auto& [key, text] : fields) head += key + " " + text + "\n";
  head += counter_key + " ";
  write_file_atomically(path, head + counter_text(value) + "\n");
  close_fd();
  path_ = path;
  fd_ = ::open(path.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd_ < 0) {
    throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  }
  counter_offset_ = head.size();
}

void CounterFile::update(uint64_t value) {
  if (fd_ < 0) return;
  std::string digits = counter_text(value);
  ssize_t put;
  do {
    put = ::pwrite(fd_, digits.data(), digits.size(), static_cast<off_t>(counter_offset_));
  } while (put < 0 && errno == EINTR);
  if (put != static_cast<ssize_t>(digits.size())) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", path_, std::strerror(errno)));
  }
}

void CounterFile::remove() {
  close_fd();
  if (!path_.empty()) std::filesystem::remove(path_);
}

std::optional<TextFields> read_counter_file(const std::string& path, const std::string& magic) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line) || line != magic) return std::nullopt;
  TextFields fields;
  while (std::getline(in, line)) {
    size_t space = line.find(' ');
    if (space == std::string::npos) return std::nullopt;
    fields.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  if (fields.empty()) return std::nullopt;
  return fields;
}

}  // namespace chunkex
