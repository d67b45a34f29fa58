// A component's event log (Server.txt, ClientA.txt, ...): one line per event,
// buffered, flushed on close. Lines arrive already in canonical order.
//
// A write that fails (a full disk, a file too large) is kept as an error
// value naming the file and the reason: the first one sticks, nothing more is
// written, and the file is cut back to its last whole line, so the log is
// never a mix of lines with holes between them, nor ends in half a line.
// The host asks error() after each step and ends the run with it.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

namespace chunkex {

class LogFile {
 public:
  LogFile() = default;
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Creates `dir` if needed and truncates `<dir>/<name>`; never through a
  // symbolic link. Throws std::runtime_error naming the path when it cannot.
  void open(const std::string& dir, const std::string& name);
  bool is_open() const { return file_ != nullptr; }
  void write_line(const std::string& line);
  // Flushes and closes; a failed flush is kept in error().
  void close();
  // The first failed write since open(), e.g. "cannot write log
  // logs/Server.txt: No space left on device".
  const std::optional<std::string>& error() const { return error_; }

 private:
  void fail(int error_number);

  std::FILE* file_ = nullptr;
  std::string path_;
  std::optional<std::string> error_;
};

// mkdir -p; throws std::runtime_error naming the path on failure.
void make_directories(const std::string& dir);

// Opens `path` for writing, creating it (`exclusive`: it must not exist) or
// truncating it, and never through a symbolic link: a link planted where a
// file is written is refused with a message saying so. Returns the fd; throws
// std::runtime_error naming the path.
int open_for_writing(const std::string& path, bool exclusive);
// A new file at `path`: whatever is there (a stale file, a planted link) is
// removed, not followed, and the file is created exclusively. Returns the fd.
int create_replacing(const std::string& path);

// Writes `text` to `path` through a temporary name (`path`.part, created
// exclusively) and a rename, so a reader never sees half a file. On failure
// the temporary file is removed and std::runtime_error names the file and the
// reason.
void write_file_atomically(const std::string& path, const std::string& text);

// Proves that `dir` can hold a new file without creating anything: a probe
// file is written and removed in `dir`, or in the deepest part of it that
// exists. nullopt when it can; else what went wrong, naming the directory.
std::optional<std::string> check_writable_directory(const std::string& dir);

}  // namespace chunkex
