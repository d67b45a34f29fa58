#include "common/io/log_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

namespace chunkex {

void make_directories(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    throw std::runtime_error(fmt::format("cannot create directory {}: {}", dir, error.message()));
  }
}

LogFile::~LogFile() {
  close();
}

void LogFile::open(const std::string& dir, const std::string& name) {
  make_directories(dir);
  path_ = (std::filesystem::path(dir) / name).string();
  file_ = std::fopen(path_.c_str(), "w");
  if (!file_) {
    throw std::runtime_error(fmt::format("cannot open log {}: {}", path_, std::strerror(errno)));
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

void LogFile::write_line(const std::string& line) {
  if (!file_) return;
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
}

void LogFile::close() {
  if (!file_) return;
  std::fclose(file_);
  file_ = nullptr;
}

void write_file_atomically(const std::string& path, const std::string& text) {
  std::string temporary = path + ".part";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error(fmt::format("cannot write {}", temporary));
  }
  std::filesystem::rename(temporary, path);
}

}  // namespace chunkex
