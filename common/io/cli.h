// Command-line flags shared by chunkex-server and chunkex-client: a config
// file, then flags that override it. Parsing the numbers and validating the
// result happen here once for both programs.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/config.h"

namespace chunkex {

struct ConfigFlags {
  std::string config_path;
  std::optional<std::string> host;
  std::optional<int> port;
  std::optional<std::string> log_dir;
  std::optional<uint32_t> window;
  std::optional<std::string> token;
};

// `host_help` and `port_help` say what the address means to this program.
void add_config_flags(CLI::App& app, ConfigFlags& flags, const std::string& host_help,
                      const std::string& port_help);

// The config file (or the built-in defaults, which equal configs/default.json)
// with the flags applied; the token comes from --token, else CHUNKEX_TOKEN,
// else the file. Throws ConfigError.
Config resolve_config(const ConfigFlags& flags);

// Runs `body` and turns the errors a user can cause into a message on stderr
// and exit code 1 (2 for bad flags, as CLI11 does).
int run_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body);

}  // namespace chunkex
