// The settings a server imposes on its clients: FLAG fixes the chunk size and
// the number of peers, ROSTER every peer's costs. A client whose own
// configuration says otherwise follows the server; these functions say, for
// its console, which values differ (the deterministic log never mentions
// them). `window` is not on the wire: each side keeps its own (DESIGN §6.9).
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "common/messages.h"

namespace chunkex {

// "chunk_bytes 65536 (this client's config: 131072)", one per difference.
std::vector<std::string> settings_imposed_by_flag(const Config& config, const FlagMessage& flag);
// "costs_ms.B 7.5/0.75 (this client's config: 7.0/0.7)", one per peer whose
// costs differ.
std::vector<std::string> settings_imposed_by_roster(const Config& config,
                                                    const RosterMessage& roster);

// One console line for a list of differences, or "" when there are none.
std::string imposed_settings_notice(const std::vector<std::string>& differences);

}  // namespace chunkex
