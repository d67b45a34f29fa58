#include "common/sim/sources.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "common/io/file_chunk_store.h"
#include "common/random.h"
#include "common/sha256.h"

namespace chunkex::sim {
namespace {

constexpr size_t kHashBlockBytes = 1 << 20;

class GeneratedReader : public ContentReader {
 public:
  explicit GeneratedReader(uint64_t seed) : seed_(seed), stream_(seed) {}
  void read(uint64_t offset, std::span<uint8_t> dest) override {
    if (offset < stream_.position()) stream_ = GeneratedByteStream(seed_);
    stream_.skip(offset - stream_.position());
    stream_.read(dest);
  }

 private:
  uint64_t seed_;
  GeneratedByteStream stream_;
};

class FileReader : public ContentReader {
 public:
  FileReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void read(uint64_t offset, std::span<uint8_t> dest) override {
    size_t done = 0;
    while (done < dest.size()) {
      ssize_t got = ::pread(fd_, dest.data() + done, dest.size() - done,
                            static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        throw std::runtime_error(fmt::format("cannot read {} at offset {}: {}", path_,
                                             offset + done,
                                             got == 0 ? "file shrank" : std::strerror(errno)));
      }
      done += static_cast<size_t>(got);
    }
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

GeneratedSource::GeneratedSource(uint64_t seed, size_t index, uint64_t size_bytes)
    : file_seed_(generated_file_seed(seed, index)) {
  announcement_.size_bytes = size_bytes;
}

void GeneratedSource::hash() {
  GeneratedByteStream stream(file_seed_);
  Sha256 hasher;
  Bytes block(kHashBlockBytes);
  using Clock = std::chrono::steady_clock;
  Clock::duration generating{}, hashing{};
  for (uint64_t done = 0; done < announcement_.size_bytes;) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(block.size(), announcement_.size_bytes - done));
    std::span<uint8_t> part(block.data(), take);
    auto t0 = Clock::now();
    stream.read(part);
    auto t1 = Clock::now();
    hasher.update(part);
    hashing += Clock::now() - t1;
    generating += t1 - t0;
    done += take;
  }
  content_seconds_ = std::chrono::duration<double>(generating).count();
  hashing_seconds_ = std::chrono::duration<double>(hashing).count();
  announcement_.sha256 = hasher.finish();
}

std::unique_ptr<ContentReader> GeneratedSource::open_reader() const {
  return std::make_unique<GeneratedReader>(file_seed_);
}

FileSource::FileSource(std::string path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw std::runtime_error(fmt::format("cannot open {}: {}", path_, std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd_, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd_);
    throw std::runtime_error(path_ + " is not a regular file");
  }
  announcement_.size_bytes = static_cast<uint64_t>(info.st_size);
}

FileSource::~FileSource() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSource::hash() {
  auto start = std::chrono::steady_clock::now();
  announcement_ = describe_file(fd_, path_);
  hashing_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::unique_ptr<ContentReader> FileSource::open_reader() const {
  return std::make_unique<FileReader>(fd_, path_);
}

void hash_sources(const std::vector<HashedSource*>& sources, unsigned threads) {
  std::vector<HashedSource*> order = sources;
  std::stable_sort(order.begin(), order.end(), [](HashedSource* a, HashedSource* b) {
    return a->announcement().size_bytes > b->announcement().size_bytes;
  });
  std::atomic<size_t> next{0};
  std::mutex error_mutex;
  std::exception_ptr error;
  auto work = [&] {
    for (size_t i = next++; i < order.size(); i = next++) {
      try {
        order[i]->hash();
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace chunkex::sim
