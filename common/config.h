// Configuration shared by the server and the clients: one JSON file (see
// configs/default.json), overridden by command-line flags. Loading validates
// every key and names the offending one in its error, before anything starts.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"

namespace chunkex {

inline constexpr uint32_t kMaxWindowRounds = 1024;

struct Config {
  std::string host = "127.0.0.1";
  uint16_t port = 9999;
  int max_clients = 4;
  uint32_t chunk_bytes = 131072;
  uint32_t window = 128;  // rounds of requests a client keeps in flight
  // A connection that has not announced its file by then gives its slot back.
  uint32_t handshake_timeout_s = 10;
  // During the exchange: peers that hold up a round this long are taken for
  // dead (a client gives up on a silent server after twice this), and so is
  // a socket that accepts no data for this long.
  uint32_t idle_timeout_s = 60;
  // A peer that leaves mid-exchange may come back (restarted on the same
  // file) for this long while the others wait; 0: the exchange fails at once.
  uint32_t reconnect_grace_s = 60;
  // Shared secret proved by HMAC challenge-response (auth.h); empty: none.
  std::string token;
  std::vector<PeerCosts> costs = {{6000, 600}, {7000, 700}, {8000, 800}, {9000, 900}};
  std::string data_dir = "data";
  std::string out_dir = "out";
  std::string log_dir = "logs";
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses JSON text; `source` names it in error messages. Keys that are absent
// keep their defaults; unknown keys are errors.
Config parse_config(const std::string& json_text, const std::string& source);
Config load_config_file(const std::string& path);

// Checks cross-key rules (a cost entry for every client, ...). Call again
// after command-line overrides.
void validate_config(const Config& config, const std::string& source);

}  // namespace chunkex
