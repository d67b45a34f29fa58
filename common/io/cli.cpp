#include "common/io/cli.h"

#include <malloc.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

namespace chunkex {

void add_config_flags(CLI::App& app, ConfigFlags& flags, const std::string& host_help,
                      const std::string& port_help) {
  app.add_option("--config", flags.config_path,
                 "JSON config file (default: built-in values, the same as configs/default.json)")
      ->check(CLI::ExistingFile);
  app.add_option("--host", flags.host, host_help);
  app.add_option("--port", flags.port, port_help)->check(CLI::Range(0, 65535));
  app.add_option("--log-dir", flags.log_dir, "directory for the event logs");
  app.add_option("--window", flags.window, "rounds of requests a client keeps in flight")
      ->check(CLI::Range(1u, kMaxWindowRounds));
  app.add_option("--token", flags.token,
                 "shared secret the server and clients prove to each other (HMAC-SHA256); "
                 "prefer the CHUNKEX_TOKEN environment variable, which ps does not show");
}

Config resolve_config(const ConfigFlags& flags) {
  Config config = flags.config_path.empty() ? Config{} : load_config_file(flags.config_path);
  if (flags.host) config.host = *flags.host;
  if (flags.port) config.port = static_cast<uint16_t>(*flags.port);
  if (flags.log_dir) config.log_dir = *flags.log_dir;
  if (flags.window) config.window = *flags.window;
  if (flags.token) {
    config.token = *flags.token;
  } else if (const char* token = std::getenv("CHUNKEX_TOKEN"); token && *token) {
    config.token = token;
  }
  validate_config(config, flags.config_path.empty() ? "built-in config" : flags.config_path);
  return config;
}

int run_main(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  // Chunk buffers (128 KiB + header) sit just above glibc's default mmap
  // threshold, so every chunk cost an mmap/munmap pair and fresh page faults.
  // Keeping them on the heap lets freed buffers be reused.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // sendfile(2) to a socket the other side closed raises SIGPIPE, which would
  // kill the process before it could say why; the error return is enough.
  std::signal(SIGPIPE, SIG_IGN);
  // Past a file size limit (RLIMIT_FSIZE) SIGXFSZ would kill the process
  // with its log cut; ignored, the write fails with EFBIG and is reported.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    return body();
  } catch (const ConfigError& error) {
    std::cerr << app.get_name() << ": invalid configuration: " << error.what() << "\n";
  } catch (const std::exception& error) {
    std::cerr << app.get_name() << ": error: " << error.what() << "\n";
  }
  return 1;
}

}  // namespace chunkex
