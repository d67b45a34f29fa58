// Console output for the programs: progress on a terminal is one line
// rewritten in place; elsewhere (a pipe, a file) it is a plain line every few
// seconds. Nothing here goes to the deterministic logs.
#pragma once

#include <chrono>
#include <string>

#include "common/host/notices.h"
#include "common/units.h"

namespace chunkex {

class Console : public Notices {
 public:
  explicit Console(std::string prefix);

  // A message on its own line (clears a progress line first).
  void say(const std::string& text) override;
  void error(const std::string& text) override;
  void warn(const std::string& text) override;
  // Shows `text` as progress; on a non-terminal at most every few seconds.
  void progress(const std::string& text) override;
  void end_progress() override;
  int64_t progress_period_ms() const override;

 private:
  void to_stderr(const std::string& kind, const std::string& text);

  std::string prefix_;
  bool terminal_;
  bool progress_shown_ = false;
  std::chrono::steady_clock::time_point last_plain_progress_{};
};


}  // namespace chunkex
