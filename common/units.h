// Human-readable quantities for the console (never for the logs).
#pragma once

#include <string>

namespace chunkex {

// 1536 -> "1.5 KB" (powers of 1000: MB/s figures compare with network rates).
std::string format_bytes(double bytes);

}  // namespace chunkex
