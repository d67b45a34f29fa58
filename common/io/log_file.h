// A component's event log (Server.txt, ClientA.txt, ...): one line per event,
// buffered, flushed on close. Lines arrive already in canonical order.
#pragma once

#include <cstdio>
#include <string>

namespace chunkex {

class LogFile {
 public:
  LogFile() = default;
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Creates `dir` if needed and truncates `<dir>/<name>`. Throws
  // std::runtime_error naming the path when it cannot.
  void open(const std::string& dir, const std::string& name);
  bool is_open() const { return file_ != nullptr; }
  void write_line(const std::string& line);
  void close();

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
};

// mkdir -p; throws std::runtime_error naming the path on failure.
void make_directories(const std::string& dir);

// Writes `text` to `path` through a temporary name and a rename, so a reader
// never sees half a file.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace chunkex
