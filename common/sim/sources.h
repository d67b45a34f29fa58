// The files a simulation exchanges, as ContentSources: the exact bytes
// chunkex-gen writes for a seed (never written anywhere), or real files
// (read with pread). Their sizes are known at once; their SHA-256 is worked
// out by hash_sources(), on every core.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/content.h"

namespace chunkex::sim {

class HashedSource : public ContentSource {
 public:
  const FileAnnouncement& announcement() const override { return announcement_; }
  // Reads (or generates) every byte once and records size and SHA-256.
  virtual void hash() = 0;
  // Thread time spent producing the bytes and hashing them (benchmarks).
  double content_seconds() const { return content_seconds_; }
  double hashing_seconds() const { return hashing_seconds_; }

 protected:
  FileAnnouncement announcement_;
  double content_seconds_ = 0;
  double hashing_seconds_ = 0;
};

// chunkex-gen's file `index` of the workload drawn from `seed`.
class GeneratedSource : public HashedSource {
 public:
  GeneratedSource(uint64_t seed, size_t index, uint64_t size_bytes);
  void hash() override;
  std::unique_ptr<ContentReader> open_reader() const override;

 private:
  uint64_t file_seed_;
};

// A real file, read with pread.
class FileSource : public HashedSource {
 public:
  // Throws std::runtime_error naming the path when it cannot be opened.
  explicit FileSource(std::string path);
  ~FileSource() override;
  void hash() override;
  std::unique_ptr<ContentReader> open_reader() const override;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

// Hashes every source, spreading them over `threads` threads (largest
// first). Rethrows the first error.
void hash_sources(const std::vector<HashedSource*>& sources, unsigned threads);

}  // namespace chunkex::sim
