// Test data shared by the unit tests and the fuzz targets: bytes from the
// project's one seeded generator (common/random.h). No doctest here: the
// fuzz targets run without it.
#pragma once

#include "common/random.h"

namespace chunkex::test {

using chunkex::pseudo_random_bytes;

}  // namespace chunkex::test
