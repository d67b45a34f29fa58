// The codec of `<log_dir>/exchange.state`, the exchange a relay saves so that
// a restarted server resumes it (docs/DESIGN.md §6): its head names the chunk
// size and every slot's file and costs, its counter the rounds delivered.
// Pure functions over text fields; the file itself is io/counter_file.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "common/config.h"
#include "common/io_types.h"
#include "common/relay_core.h"

namespace chunkex {

inline constexpr const char* kSavedExchangeMagic = "chunkex exchange v1";
inline constexpr const char* kSavedExchangeCounterKey = "rounds_delivered";

// Every field but the counter.
TextFields saved_exchange_head(const RosterMessage& roster, uint32_t chunk_bytes);

// The saved exchange in `fields`, or why it cannot be resumed with `config`
// (another chunk size, other costs, a malformed line).
std::variant<SavedExchange, std::string> parse_saved_exchange(const TextFields& fields,
                                                              const Config& config);

// A whole decimal number that fits in 64 bits, nothing else ("12abc", "-5",
// "" and "99999999999999999999" are not).
std::optional<uint64_t> parse_decimal_u64(const std::string& text);

}  // namespace chunkex
