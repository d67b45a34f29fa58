// chunkex-gen: writes the peers' input files A.file, B.file, ... filled with
// seeded pseudo-random bytes (common/random.h), so the same seed always gives
// the same files (and therefore the same logs); chunkex-sim --chunks/--bytes
// draws exactly the same content without writing it.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/io/cli.h"
#include "common/io/log_file.h"
#include "common/peer_id.h"
#include "common/random.h"

namespace {

void write_random_file(const std::string& path, uint64_t size_bytes, uint64_t seed) {
  std::string temporary = path + ".part";
  std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot create " + temporary);
  chunkex::GeneratedByteStream content(seed);
  std::vector<uint8_t> block(1 << 20);
  for (uint64_t written = 0; written < size_bytes;) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(block.size(), size_bytes - written));
    content.read(std::span<uint8_t>(block.data(), take));
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(take));
    written += take;
  }
  out.close();
  if (!out) throw std::runtime_error("cannot write " + temporary + " (disk full?)");
  std::filesystem::rename(temporary, path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chunkex input generator: writes A.file, B.file, ... of seeded random bytes",
               "chunkex-gen"};
  std::string data_dir = "data";
  std::optional<uint64_t> chunks;
  std::vector<uint64_t> sizes;
  uint64_t seed = 1;
  uint32_t chunk_bytes = 131072;
  int count = 4;
  app.add_option("--data-dir", data_dir, "where to write the files")->capture_default_str();
  auto* chunks_opt = app.add_option("--chunks", chunks, "every file is K full chunks");
  auto* bytes_opt = app.add_option("--bytes", sizes, "exact size of each file: A B C D ...");
  chunks_opt->excludes(bytes_opt);
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--chunk-bytes", chunk_bytes, "chunk size used with --chunks")
      ->check(CLI::Range(1u, 16u << 20))
      ->capture_default_str();
  app.add_option("--count", count, "number of files with --chunks")
      ->check(CLI::Range(2, chunkex::kMaxPeers))
      ->capture_default_str();
  return chunkex::run_main(app, argc, argv, [&] {
    if (!chunks && sizes.empty()) throw std::runtime_error("give --chunks K or --bytes A B C D");
    if (chunks) sizes.assign(static_cast<size_t>(count), *chunks * chunk_bytes);
    if (sizes.size() > chunkex::kMaxPeers) throw std::runtime_error("too many files");
    chunkex::make_directories(data_dir);
    for (size_t i = 0; i < sizes.size(); ++i) {
      auto peer = static_cast<chunkex::PeerIndex>(i);
      std::string path =
          (std::filesystem::path(data_dir) / (chunkex::peer_name(peer) + ".file")).string();
      write_random_file(path, sizes[i], chunkex::generated_file_seed(seed, i));
      fmt::print("wrote {} ({} bytes)\n", path, sizes[i]);
    }
    return 0;
  });
}
