#include "common/config.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/frame.h"
#include "common/peer_id.h"

namespace chunkex {
namespace {

using nlohmann::json;

constexpr double kMaxCostMs = 1'000'000;

struct KeyContext {
  const std::string& source;
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw ConfigError(fmt::format("{}: key '{}': {}", source, key, problem));
  }
};

int64_t get_integer(const json& value, const std::string& key, int64_t low, int64_t high,
                    const KeyContext& ctx) {
  if (!value.is_number_integer()) ctx.fail(key, "must be a whole number");
  auto out_of_range = [&](auto got) {
    ctx.fail(key, fmt::format("must be between {} and {}, got {}", low, high, got));
  };
  // Above INT64_MAX the JSON value is unsigned: report it as written.
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(high)) {
    out_of_range(value.get<uint64_t>());
  }
  auto number = value.get<int64_t>();
  if (number < low || number > high) out_of_range(number);
  return number;
}

std::string get_text(const json& value, const std::string& key, const KeyContext& ctx) {
  if (!value.is_string() || value.get<std::string>().empty()) {
    ctx.fail(key, "must be a non-empty string");
  }
  return value.get<std::string>();
}

// Costs are written in milliseconds and held as whole microseconds; a value
// finer than 1 us would silently round, so it is refused.
ClockUs get_cost_us(const json& value, const std::string& key, const KeyContext& ctx) {
  if (!value.is_number()) ctx.fail(key, "must be a number of milliseconds");
  double ms = value.get<double>();
  if (!(ms >= 0)) ctx.fail(key, fmt::format("must not be negative, got {}", ms));
  if (ms > kMaxCostMs) ctx.fail(key, fmt::format("must be at most {} ms", kMaxCostMs));
  double us = ms * 1000;
  if (std::fabs(us - std::round(us)) > 1e-6) {
    ctx.fail(key, "must be a whole number of microseconds (at most 3 decimals)");
  }
  return static_cast<ClockUs>(std::llround(us));
}

std::vector<PeerCosts> get_costs(const json& value, const KeyContext& ctx) {
  if (!value.is_object()) ctx.fail("costs_ms", "must be an object keyed by client ID (\"A\", ...)");
  std::vector<PeerCosts> costs;
  for (int i = 0; i < kMaxPeers; ++i) {
    std::string id = peer_name(static_cast<PeerIndex>(i));
    if (!value.contains(id)) break;
    const json& entry = value.at(id);
    std::string prefix = "costs_ms." + id;
    if (!entry.is_object()) ctx.fail(prefix, "must be an object {\"chunk\": ms, \"other\": ms}");
    for (const auto& [key, _] : entry.items()) {
      if (key != "chunk" && key != "other") ctx.fail(prefix + "." + key, "unknown key");
    }
    if (!entry.contains("chunk")) ctx.fail(prefix + ".chunk", "missing");
    if (!entry.contains("other")) ctx.fail(prefix + ".other", "missing");
    costs.push_back(PeerCosts{get_cost_us(entry.at("chunk"), prefix + ".chunk", ctx),
                              get_cost_us(entry.at("other"), prefix + ".other", ctx)});
  }
  for (const auto& [key, _] : value.items()) {
    bool known = key.size() == 1 && key[0] >= 'A' && key[0] < 'A' + static_cast<int>(costs.size());
    if (!known) {
      ctx.fail("costs_ms." + key, "unexpected client ID (IDs run A, B, C, ... without gaps)");
    }
  }
  return costs;
}

void apply_key(Config& config, const std::string& key, const json& value, const KeyContext& ctx) {
  if (key == "host") {
    config.host = get_text(value, key, ctx);
  } else if (key == "port") {
    config.port = static_cast<uint16_t>(get_integer(value, key, 0, 65535, ctx));
  } else if (key == "max_clients") {
    config.max_clients = static_cast<int>(get_integer(value, key, 2, kMaxPeers, ctx));
  } else if (key == "chunk_bytes") {
    config.chunk_bytes = static_cast<uint32_t>(get_integer(value, key, 1, kMaxChunkBytes, ctx));
  } else if (key == "window") {
    config.window = static_cast<uint32_t>(get_integer(value, key, 1, kMaxWindowRounds, ctx));
  } else if (key == "token") {
    if (!value.is_string()) ctx.fail(key, "must be a string (empty: no token)");
    config.token = value.get<std::string>();
  } else if (key == "idle_timeout_s") {
    config.idle_timeout_s = static_cast<uint32_t>(get_integer(value, key, 1, 86400, ctx));
  } else if (key == "reconnect_grace_s") {
    config.reconnect_grace_s = static_cast<uint32_t>(get_integer(value, key, 0, 86400, ctx));
  } else if (key == "handshake_timeout_s") {
    config.handshake_timeout_s = static_cast<uint32_t>(get_integer(value, key, 1, 3600, ctx));
  } else if (key == "costs_ms") {
    config.costs = get_costs(value, ctx);
  } else if (key == "data_dir") {
    config.data_dir = get_text(value, key, ctx);
  } else if (key == "out_dir") {
    config.out_dir = get_text(value, key, ctx);
  } else if (key == "log_dir") {
    config.log_dir = get_text(value, key, ctx);
  } else {
    ctx.fail(key, "unknown key");
  }
}

}  // namespace

Config parse_config(const std::string& json_text, const std::string& source) {
  json document;
  try {
    document = json::parse(json_text);
  } catch (const json::parse_error& error) {
    throw ConfigError(fmt::format("{}: not valid JSON: {}", source, error.what()));
  }
  if (!document.is_object()) throw ConfigError(source + ": must be a JSON object");
  Config config;
  KeyContext ctx{source};
  for (const auto& [key, value] : document.items()) apply_key(config, key, value, ctx);
  validate_config(config, source);
  return config;
}

Config load_config_file(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw ConfigError(fmt::format("{}: cannot open config file", path));
  std::stringstream text;
  text << file.rdbuf();
  return parse_config(text.str(), path);
}

void validate_config(const Config& config, const std::string& source) {
  KeyContext ctx{source};
  if (config.max_clients < 2 || config.max_clients > kMaxPeers) {
    ctx.fail("max_clients", fmt::format("must be between 2 and {}", kMaxPeers));
  }
  if (static_cast<int>(config.costs.size()) < config.max_clients) {
    ctx.fail(fmt::format("costs_ms.{}", peer_letter(static_cast<PeerIndex>(config.costs.size()))),
             fmt::format("missing: max_clients is {}, so costs are needed for every client "
                         "A..{}",
                         config.max_clients,
                         peer_letter(static_cast<PeerIndex>(config.max_clients - 1))));
  }
  if (config.window < 1 || config.window > kMaxWindowRounds) {
    ctx.fail("window", fmt::format("must be between 1 and {}", kMaxWindowRounds));
  }
  if (config.chunk_bytes < 1 || config.chunk_bytes > kMaxChunkBytes) {
    ctx.fail("chunk_bytes", fmt::format("must be between 1 and {}", kMaxChunkBytes));
  }
}

}  // namespace chunkex
