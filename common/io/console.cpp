#include "common/io/console.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace chunkex {
namespace {

constexpr auto kPlainProgressPeriod = std::chrono::seconds(5);

}  // namespace

Console::Console(std::string prefix)
    : prefix_(std::move(prefix)), terminal_(isatty(STDOUT_FILENO)) {}

void Console::end_progress() {
  if (progress_shown_) std::fputs("\n", stdout);
  progress_shown_ = false;
}

void Console::say(const std::string& text) {
  end_progress();
  fmt::print("{}{}\n", prefix_, text);
  std::fflush(stdout);
}

void Console::error(const std::string& text) {
  to_stderr("error", text);
}

void Console::warn(const std::string& text) {
  to_stderr("warning", text);
}

void Console::to_stderr(const std::string& kind, const std::string& text) {
  end_progress();
  std::fflush(stdout);
  fmt::print(stderr, "{}{}: {}\n", prefix_, kind, text);
}

void Console::progress(const std::string& text) {
  if (terminal_) {
    fmt::print("\r\033[K{}{}", prefix_, text);
    progress_shown_ = true;
  } else {
    auto now = std::chrono::steady_clock::now();
    if (now - last_plain_progress_ < kPlainProgressPeriod) return;
    last_plain_progress_ = now;
    fmt::print("{}{}\n", prefix_, text);
  }
  std::fflush(stdout);
}

int64_t Console::progress_period_ms() const {
  return terminal_ ? 250 : 1000;
}

}  // namespace chunkex
