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

std::chrono::milliseconds Console::progress_period() const {
  return std::chrono::milliseconds(terminal_ ? 250 : 1000);
}

std::string format_bytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KB", "MB", "GB", "TB"};
  size_t unit = 0;
  while (bytes >= 1000 && unit + 1 < std::size(kUnits)) {
    bytes /= 1000;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

}  // namespace chunkex
