// Where a host's console messages go: a terminal (io/console.h) in a live
// run, nowhere or a list in the simulator and the tests. Nothing here goes to
// the deterministic logs.
#pragma once

#include <string>
#include <vector>

namespace chunkex {

class Notices {
 public:
  virtual ~Notices() = default;
  virtual void say(const std::string& text) = 0;
  virtual void warn(const std::string& text) = 0;
  virtual void error(const std::string& text) = 0;
  // A progress line, replaced by the next one.
  virtual void progress(const std::string& text) = 0;
  virtual void end_progress() = 0;
  // How often a host shows progress; 0: never.
  virtual int64_t progress_period_ms() const = 0;
};

// Keeps every message (tests, the explorer's failure reports); shows no
// progress.
class RecordedNotices : public Notices {
 public:
  void say(const std::string& text) override { lines.push_back(text); }
  void warn(const std::string& text) override { lines.push_back("warning: " + text); }
  void error(const std::string& text) override { lines.push_back("error: " + text); }
  void progress(const std::string&) override {}
  void end_progress() override {}
  int64_t progress_period_ms() const override { return 0; }

  std::vector<std::string> lines;
};

}  // namespace chunkex
