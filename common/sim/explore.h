// Seeded exploration (after TigerBeetle's VOPR): each run draws from its seed
// a workload, a window, link latencies and rates, a delivery order and at
// most one fault, runs the exchange with and without the fault in the
// simulator, and checks what must hold whatever happened. A failing run is
// replayed exactly by its seed. See docs/DESIGN.md §8.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/sim/simulation.h"

namespace chunkex::sim {

// Everything one run drew from its seed.
struct ExplorePlan {
  uint64_t seed = 0;
  Config config;
  std::vector<uint64_t> sizes_bytes;  // by peer
  SimOptions options;
  std::string describe() const;
};

ExplorePlan plan_exploration(uint64_t seed);

struct ExploreVerdict {
  bool passed = true;
  std::vector<std::string> problems;  // empty when passed
  uint64_t rounds = 0;
  uint64_t missed_final = 0;  // peers cut after their DONE that missed FINAL
  uint64_t resent_chunk_bytes = 0;    // beyond the fault-free run, the most for one peer
};

// Runs the plan's exchange twice (without and with its fault) and checks:
// every file verified; every log equal to the fault-free run's once the
// lines that record the fault are removed (or, for a peer that never comes
// back, the grace-period failure everywhere); chunk bytes sent again at most
// 2 x window chunks for any one peer (what it lost in flight, and what it
// had in flight that others answered); no deadline fired without cause.
ExploreVerdict explore_one(const ExplorePlan& plan);

// The log lines that record a peer leaving and coming back, or a restart.
bool is_fault_line(const std::string& line);

}  // namespace chunkex::sim
