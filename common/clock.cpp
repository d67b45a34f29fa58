#include "common/clock.h"

#include <fmt/format.h>

#include "common/peer_id.h"

namespace chunkex {

std::string format_clock_ms(ClockUs clock_us) {
  std::string sign = clock_us < 0 ? "-" : "";
  uint64_t magnitude = clock_us < 0 ? -static_cast<uint64_t>(clock_us) : clock_us;
  std::string fraction = fmt::format("{:03}", magnitude % 1000);
  while (fraction.size() > 1 && fraction.back() == '0') fraction.pop_back();
  return fmt::format("{}{}.{}", sign, magnitude / 1000, fraction);
}

std::string format_clocks(const std::vector<ClockUs>& clocks_us) {
  std::string text;
  for (size_t i = 0; i < clocks_us.size(); ++i) {
    if (i > 0) text += ' ';
    text +=
        fmt::format("{}={}", peer_letter(static_cast<PeerIndex>(i)), format_clock_ms(clocks_us[i]));
  }
  return text;
}

}  // namespace chunkex
