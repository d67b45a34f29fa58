#include "common/host/imposed_settings.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/clock.h"
#include "common/peer_id.h"

namespace chunkex {
namespace {

std::string costs_text(const PeerCosts& costs) {
  return format_clock_ms(costs.chunk_us) + "/" + format_clock_ms(costs.other_us);
}

}  // namespace

std::vector<std::string> settings_imposed_by_flag(const Config& config, const FlagMessage& flag) {
  std::vector<std::string> differences;
  if (flag.chunk_bytes != config.chunk_bytes) {
    differences.push_back(fmt::format("chunk_bytes {} (this client's config: {})", flag.chunk_bytes,
                                      config.chunk_bytes));
  }
  if (flag.peer_count != config.max_clients) {
    differences.push_back(fmt::format("max_clients {} (this client's config: {})", flag.peer_count,
                                      config.max_clients));
  }
  return differences;
}

std::vector<std::string> settings_imposed_by_roster(const Config& config,
                                                    const RosterMessage& roster) {
  std::vector<std::string> differences;
  for (size_t i = 0; i < roster.costs.size(); ++i) {
    std::string mine = i < config.costs.size() ? costs_text(config.costs[i]) : "none";
    if (i < config.costs.size() && config.costs[i] == roster.costs[i]) continue;
    differences.push_back(fmt::format("costs_ms.{} {} (this client's config: {})",
                                      peer_letter(static_cast<PeerIndex>(i)),
                                      costs_text(roster.costs[i]), mine));
  }
  return differences;
}

std::string imposed_settings_notice(const std::vector<std::string>& differences) {
  if (differences.empty()) return "";
  return fmt::format("the server's settings win over this client's config: {}",
                     fmt::join(differences, ", "));
}

}  // namespace chunkex
