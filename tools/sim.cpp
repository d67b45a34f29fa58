// chunkex-sim: the whole exchange in one process. The relay and every peer
// run the same hosts as chunkex-server and chunkex-client, over an in-memory
// network with a virtual clock, so the logs are byte for byte those of a live
// run on the same files and configuration. With --explore N it runs N seeded
// exchanges with faults and checks each. See docs/DESIGN.md §8.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/io/cli.h"
#include "common/io/log_file.h"
#include "common/sim/explore.h"
#include "common/sim/simulation.h"
#include "common/sim/sources.h"

namespace {

using namespace chunkex;
using Clock = std::chrono::steady_clock;

struct SimFlags {
  ConfigFlags config;
  std::optional<std::string> data_dir;
  std::optional<uint64_t> chunks;
  std::vector<uint64_t> sizes;
  uint64_t seed = 1;
  std::string log_dir = "sim-logs";
  std::optional<std::string> out_dir;
  double latency_ms = 0;
  std::string bandwidth;
  std::optional<uint64_t> explore;
  double time_limit_s = 0;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "1gbit", "100mbit", "500kbit", "12.5MB" (bytes) or a plain bytes/s number.
uint64_t parse_bandwidth(const std::string& text) {
  std::string lower;
  for (char c : text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t end = 0;
  double value = std::stod(lower, &end);
  std::string unit = lower.substr(end);
  if (unit.ends_with("/s")) unit.resize(unit.size() - 2);
  double scale = 1;
  if (unit == "gbit") scale = 1e9 / 8;
  else if (unit == "mbit") scale = 1e6 / 8;
  else if (unit == "kbit") scale = 1e3 / 8;
  else if (unit == "gb") scale = 1e9;
  else if (unit == "mb") scale = 1e6;
  else if (unit == "kb") scale = 1e3;
  else if (!unit.empty() && unit != "b") throw std::runtime_error("unknown bandwidth unit in '" + text + "'");
  if (value <= 0) throw std::runtime_error("the bandwidth must be positive");
  return static_cast<uint64_t>(value * scale);
}

std::vector<std::unique_ptr<sim::HashedSource>> make_sources(const SimFlags& flags,
                                                             const Config& config) {
  std::vector<std::unique_ptr<sim::HashedSource>> sources;
  if (flags.data_dir) {
    for (int i = 0; i < config.max_clients; ++i) {
      auto peer = static_cast<PeerIndex>(i);
      auto path = std::filesystem::path(*flags.data_dir) / (peer_name(peer) + ".file");
      sources.push_back(std::make_unique<sim::FileSource>(path.string()));
    }
    return sources;
  }
  std::vector<uint64_t> sizes = flags.sizes;
  if (flags.chunks) sizes.assign(static_cast<size_t>(config.max_clients), *flags.chunks * config.chunk_bytes);
  for (size_t i = 0; i < sizes.size(); ++i) {
    sources.push_back(std::make_unique<sim::GeneratedSource>(flags.seed, i, sizes[i]));
  }
  return sources;
}

nlohmann::json sim_summary(const sim::SimResult& result, const SimFlags& flags, bool link_model) {
  nlohmann::json summary = result.summary;
  summary.erase("wall_seconds");
  summary.erase("goodput_bytes_per_second");
  const sim::TrafficStats& traffic = result.traffic;
  summary["messages"] = {{"to_relay", traffic.frames_to_relay},
                         {"from_relay", traffic.frames_from_relay}};
  if (link_model) {
    summary["predicted_wall_seconds"] = result.summary.value("wall_seconds", 0.0);
    summary["link_model"] = {{"latency_ms", flags.latency_ms},
                             {"bandwidth_bytes_per_second",
                              flags.bandwidth.empty() ? 0 : parse_bandwidth(flags.bandwidth)}};
  }
  return summary;
}

int run_one(const SimFlags& flags, Config config) {
  auto t0 = Clock::now();
  auto sources = make_sources(flags, config);
  std::vector<sim::HashedSource*> to_hash;
  std::vector<const ContentSource*> views;
  for (const auto& source : sources) {
    to_hash.push_back(source.get());
    views.push_back(source.get());
  }
  config.max_clients = static_cast<int>(sources.size());
  validate_config(config, "chunkex-sim");
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  sim::hash_sources(to_hash, threads);
  double hashing_s = seconds_since(t0);

  sim::SimOptions options;
  options.config = config;
  sim::LinkModel link;
  link.latency_us = static_cast<sim::TimeUs>(flags.latency_ms * 1000);
  if (!flags.bandwidth.empty()) link.bandwidth_bytes_per_s = parse_bandwidth(flags.bandwidth);
  options.links.assign(sources.size(), link);
  options.order_seed = flags.seed;
  options.out_dir = flags.out_dir;
  options.log_dir = flags.log_dir;
  auto t1 = Clock::now();
  sim::SimResult result = sim::Simulation(options, views).run();
  double exchange_s = seconds_since(t1);
  bool link_model = flags.latency_ms > 0 || !flags.bandwidth.empty();
  nlohmann::json summary = sim_summary(result, flags, link_model);
  double content_cpu_s = 0, hashing_cpu_s = 0;
  for (const auto& source : sources) {
    content_cpu_s += source->content_seconds();
    hashing_cpu_s += source->hashing_seconds();
  }
  summary["simulator_seconds"] = {{"content_and_hashing", hashing_s},
                                  {"content_thread_seconds", content_cpu_s},
                                  {"hashing_thread_seconds", hashing_cpu_s},
                                  {"exchange_and_logs", exchange_s}};
  summary["simulator_seconds"]["total"] = seconds_since(t0);
  write_file_atomically((std::filesystem::path(flags.log_dir) / "summary.json").string(),
                        summary.dump(2) + "\n");

  bool success = result.relay && result.relay->success;
  fmt::print("[sim] {}: {} rounds, final clocks {}\n", success ? "exchange complete" : "exchange failed",
             result.relay ? result.relay->rounds : 0,
             result.relay ? format_clocks(result.relay->final_clocks_us) : "-");
  if (!success && result.relay) fmt::print("[sim] failure: {}\n", result.relay->failure);
  if (link_model) {
    fmt::print("[sim] predicted wall time over the link model: {:.3f} s\n",
               summary.value("predicted_wall_seconds", 0.0));
  }
  fmt::print("[sim] {} messages and {} bytes would cross the relay\n",
             result.traffic.frames_to_relay + result.traffic.frames_from_relay,
             result.traffic.bytes_to_relay + result.traffic.bytes_from_relay);
  fmt::print("[sim] content+hashing {:.2f} s on {} threads (thread time: content {:.2f} s, hashing "
             "{:.2f} s); exchange, logs written as it runs, {:.2f} s; logs in {}\n",
             hashing_s, threads, content_cpu_s, hashing_cpu_s, exchange_s, flags.log_dir);
  return success ? 0 : 1;
}

int run_exploration(const SimFlags& flags) {
  fmt::print("[explore] seed {}: {} runs{}\n", flags.seed, *flags.explore,
             flags.time_limit_s > 0 ? fmt::format(" (at most {:.0f} s)", flags.time_limit_s) : "");
  std::fflush(stdout);
  auto start = Clock::now();
  uint64_t done = 0, faults = 0;
  for (uint64_t k = 0; k < *flags.explore; ++k) {
    if (flags.time_limit_s > 0 && seconds_since(start) > flags.time_limit_s) break;
    sim::ExplorePlan plan = sim::plan_exploration(flags.seed + k);
    sim::ExploreVerdict verdict = sim::explore_one(plan);
    ++done;
    if (plan.options.fault.kind != sim::Fault::Kind::kNone) ++faults;
    if (!verdict.passed) {
      fmt::print("[explore] FAILED run {} (seed {}): {}\n", k, plan.seed, plan.describe());
      for (const std::string& problem : verdict.problems) fmt::print("[explore]   {}\n", problem);
      fmt::print("[explore] replay: build/chunkex-sim --explore 1 --seed {}\n", plan.seed);
      return 1;
    }
  }
  fmt::print("[explore] {} runs ({} with a fault) passed in {:.1f} s: {} passed, 0 failed\n", done,
             faults, seconds_since(start), done);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chunkex simulator: the relay and every peer in one process, over an in-memory "
               "network; the same logs as a live run",
               "chunkex-sim"};
  SimFlags flags;
  app.add_option("--config", flags.config.config_path, "JSON config file (default: built-in)")
      ->check(CLI::ExistingFile);
  app.add_option("--window", flags.config.window, "rounds of requests a client keeps in flight")
      ->check(CLI::Range(1u, kMaxWindowRounds));
  auto* data_opt = app.add_option("--data-dir", flags.data_dir,
                                  "real input files <ID>.file (as chunkex-client reads them)");
  auto* chunks_opt = app.add_option("--chunks", flags.chunks,
                                    "every file K full chunks of chunkex-gen's content");
  auto* bytes_opt = app.add_option("--bytes", flags.sizes,
                                   "exact size of each file A B C ... (chunkex-gen's content)");
  chunks_opt->excludes(bytes_opt)->excludes(data_opt);
  bytes_opt->excludes(data_opt);
  app.add_option("--seed", flags.seed,
                 "seed of the generated content (as chunkex-gen --seed), of the delivery order, "
                 "and of the first explored run")
      ->capture_default_str();
  app.add_option("--log-dir", flags.log_dir, "where Server.txt, ClientX.txt, summary.json go")
      ->capture_default_str();
  app.add_option("--out-dir", flags.out_dir, "also write the received files there");
  app.add_option("--latency-ms", flags.latency_ms, "one-way latency of every peer's link")
      ->check(CLI::Range(0.0, 10000.0));
  app.add_option("--bandwidth", flags.bandwidth,
                 "rate cap of every link, each way: 1gbit, 100mbit, 50MB, or bytes per second");
  app.add_option("--explore", flags.explore,
                 "run N seeded exchanges with faults, seeds --seed, --seed+1, ...; check each");
  app.add_option("--time-limit-s", flags.time_limit_s,
                 "with --explore: start no new run after this many seconds");
  return run_main(app, argc, argv, [&] {
    if (flags.explore) return run_exploration(flags);
    if (!flags.data_dir && !flags.chunks && flags.sizes.empty()) {
      throw std::runtime_error("give --data-dir DIR, --chunks K or --bytes A B C D ...");
    }
    Config config = resolve_config(flags.config);
    return run_one(flags, config);
  });
}
