// Console output for the programs: progress on a terminal is one line
// rewritten in place; elsewhere (a pipe, a file) it is a plain line every few
// seconds. Nothing here goes to the deterministic logs.
#pragma once

#include <chrono>
#include <string>

namespace chunkex {

class Console {
 public:
  explicit Console(std::string prefix);

  // A message on its own line (clears a progress line first).
  void say(const std::string& text);
  void error(const std::string& text);
  void warn(const std::string& text);
  // Shows `text` as progress; on a non-terminal at most every few seconds.
  void progress(const std::string& text);
  void end_progress();
  std::chrono::milliseconds progress_period() const;

 private:
  void to_stderr(const std::string& kind, const std::string& text);

  std::string prefix_;
  bool terminal_;
  bool progress_shown_ = false;
  std::chrono::steady_clock::time_point last_plain_progress_{};
};

// 1536 -> "1.5 KB" (powers of 1000: MB/s figures compare with network rates).
std::string format_bytes(double bytes);

}  // namespace chunkex
