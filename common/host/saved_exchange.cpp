#include "common/host/saved_exchange.h"

#include <cstdio>

#include <fmt/format.h>

#include "common/sha256.h"

namespace chunkex {
namespace {

// "A <size> <sha256> <chunk_us> <other_us>"
std::optional<std::pair<FileAnnouncement, PeerCosts>> parse_file_field(const std::string& text) {
  char letter = 0;
  char size[21] = {}, hex[65] = {}, chunk[21] = {}, other[21] = {};
  int consumed = 0;
  if (std::sscanf(text.c_str(), " %c %20s %64s %20s %20s%n", &letter, size, hex, chunk, other,
                  &consumed) != 5 ||
      static_cast<size_t>(consumed) != text.size()) {
    return std::nullopt;
  }
  auto size_bytes = parse_decimal_u64(size);
  auto chunk_us = parse_decimal_u64(chunk);
  auto other_us = parse_decimal_u64(other);
  auto digest = digest_from_hex(hex);
  if (!size_bytes || !chunk_us || !other_us || !digest) return std::nullopt;
  return std::pair{FileAnnouncement{*size_bytes, *digest},
                   PeerCosts{static_cast<ClockUs>(*chunk_us), static_cast<ClockUs>(*other_us)}};
}

}  // namespace

std::optional<uint64_t> parse_decimal_u64(const std::string& text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (char digit : text) {
    if (digit < '0' || digit > '9') return std::nullopt;
    if (__builtin_mul_overflow(value, 10u, &value) ||
        __builtin_add_overflow(value, static_cast<uint64_t>(digit - '0'), &value)) {
      return std::nullopt;
    }
  }
  return value;
}

TextFields saved_exchange_head(const RosterMessage& roster, uint32_t chunk_bytes) {
  TextFields fields{{"chunk_bytes", std::to_string(chunk_bytes)},
                    {"peers", std::to_string(roster.files.size())}};
  for (size_t i = 0; i < roster.files.size(); ++i) {
    fields.emplace_back("file",
                        fmt::format("{} {} {} {} {}", peer_letter(static_cast<PeerIndex>(i)),
                                    roster.files[i].size_bytes, to_hex(roster.files[i].sha256),
                                    roster.costs[i].chunk_us, roster.costs[i].other_us));
  }
  return fields;
}

std::variant<SavedExchange, std::string> parse_saved_exchange(const TextFields& fields,
                                                              const Config& config) {
  SavedExchange saved;
  for (const auto& [key, value] : fields) {
    if (key != "file") continue;
    auto file = parse_file_field(value);
    if (!file) return std::string("a file line is malformed");
    saved.roster.files.push_back(file->first);
    saved.roster.costs.push_back(file->second);
  }
  if (field_value(fields, "chunk_bytes") != std::to_string(config.chunk_bytes)) {
    return fmt::format("it was saved with another chunk_bytes (now {})", config.chunk_bytes);
  }
  if (saved.roster.files.size() != static_cast<size_t>(config.max_clients)) {
    return fmt::format("it was saved for {} clients (max_clients is now {})",
                       saved.roster.files.size(), config.max_clients);
  }
  for (size_t i = 0; i < saved.roster.costs.size(); ++i) {
    if (!(saved.roster.costs[i] == config.costs[i])) return std::string("its costs_ms differ");
  }
  auto delivered = parse_decimal_u64(field_value(fields, kSavedExchangeCounterKey).value_or(""));
  if (!delivered) return std::string("its round counter is malformed");
  saved.delivered_rounds = *delivered;
  return saved;
}

}  // namespace chunkex
