#include "common/io/file_chunk_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "common/host/saved_exchange.h"
#include "common/io/counter_file.h"
#include "common/io/log_file.h"
#include "common/sha256.h"

namespace chunkex {
namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw std::runtime_error(fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

std::string temporary_path(const std::string& final_path) {
  return final_path + ".part";
}

}  // namespace

FileAnnouncement describe_file(int fd, const std::string& path) {
  struct stat info {};
  if (fstat(fd, &info) != 0) throw_errno("cannot stat", path);
  if (!S_ISREG(info.st_mode)) throw std::runtime_error(path + " is not a regular file");
  Sha256 hasher;
  std::vector<uint8_t> block(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t got = ::pread(fd, block.data(), block.size(), static_cast<off_t>(total));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_errno("cannot read", path);
    if (got == 0) break;
    hasher.update(ByteView(block.data(), static_cast<size_t>(got)));
    total += static_cast<uint64_t>(got);
  }
  if (total != static_cast<uint64_t>(info.st_size)) {
    throw std::runtime_error(fmt::format("{} changed size while it was being read", path));
  }
  return FileAnnouncement{total, hasher.finish()};
}

FileChunkStore::FileChunkStore(std::optional<std::string> own_file, std::string data_dir,
                               std::string out_dir)
    : own_file_override_(std::move(own_file)),
      data_dir_(std::move(data_dir)),
      out_dir_(std::move(out_dir)) {}

FileChunkStore::~FileChunkStore() {
  if (own_fd_ >= 0) ::close(own_fd_);
  for (Incoming& file : incoming_) {
    if (file.fd >= 0) ::close(file.fd);
  }
}

FileAnnouncement FileChunkStore::open_own_file(PeerIndex self) {
  self_ = self;
  own_path_ = own_file_override_
                  ? *own_file_override_
                  : (std::filesystem::path(data_dir_) / (peer_name(self) + ".file")).string();
  if (own_fd_ >= 0) ::close(own_fd_);  // a client that reconnects opens it again
  own_fd_ = ::open(own_path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (own_fd_ < 0) throw_errno("cannot open own file", own_path_);
  FileAnnouncement own = describe_file(own_fd_, own_path_);
  own_size_bytes_ = own.size_bytes;
  return own;
}

// One fstat per chunk served: a file cut short under a running exchange
// would otherwise end the chunk mid-frame, which looks like a lost connection.
std::optional<std::string> FileChunkStore::own_file_problem() {
  struct stat info {};
  if (::fstat(own_fd_, &info) != 0) {
    return fmt::format("cannot read own file {}: {}", own_path_, std::strerror(errno));
  }
  auto size_bytes = static_cast<uint64_t>(info.st_size);
  if (size_bytes >= own_size_bytes_) return std::nullopt;
  return fmt::format("own file {} shrank from {} to {} bytes during the exchange", own_path_,
                     own_size_bytes_, size_bytes);
}

std::string FileChunkStore::final_path(PeerIndex owner) const {
  return (std::filesystem::path(out_dir_) /
          fmt::format("{}_{}_complete.file", peer_letter(self_), peer_letter(owner)))
      .string();
}

FileChunkStore::Incoming& FileChunkStore::incoming(PeerIndex owner) {
  if (incoming_.size() <= owner) incoming_.resize(owner + 1);
  return incoming_[owner];
}

void FileChunkStore::begin_file(PeerIndex owner, uint64_t size_bytes) {
  make_directories(out_dir_);
  std::string path = temporary_path(final_path(owner));
  close_incoming(owner);
  int fd = create_replacing(path);  // an earlier exchange may have left one
  incoming(owner).fd = fd;
  incoming(owner).size_bytes = size_bytes;
  if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0) throw_errno("cannot size", path);
}

void FileChunkStore::resume_file(PeerIndex owner, uint64_t size_bytes, uint64_t bytes_kept) {
  std::string path = temporary_path(final_path(owner));
  close_incoming(owner);
  int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ELOOP) {
    throw std::runtime_error(fmt::format("cannot resume: {} is a symbolic link", path));
  }
  if (fd < 0) throw_errno("cannot resume: cannot open", path);
  incoming(owner).fd = fd;
  incoming(owner).size_bytes = size_bytes;
  struct stat info {};
  if (::fstat(fd, &info) != 0) throw_errno("cannot stat", path);
  if (static_cast<uint64_t>(info.st_size) < bytes_kept) {
    throw std::runtime_error(
        fmt::format("cannot resume: {} holds {} bytes, the saved progress "
                    "counts {}",
                    path, info.st_size, bytes_kept));
  }
  if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0) throw_errno("cannot size", path);
  std::vector<uint8_t> block(1 << 20);
  for (uint64_t done = 0; done < bytes_kept;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(block.size(), bytes_kept - done));
    ssize_t got = ::pread(fd, block.data(), want, static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw_errno("cannot read", path);
    incoming(owner).digest.add_kept(ByteView(block.data(), static_cast<size_t>(got)));
    done += static_cast<uint64_t>(got);
  }
}

void FileChunkStore::close_incoming(PeerIndex owner) {
  Incoming& file = incoming(owner);
  if (file.fd >= 0) ::close(file.fd);
  file = Incoming{};
}

bool FileChunkStore::has_committed_file(PeerIndex owner) {
  struct stat info {};
  return ::stat(final_path(owner).c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

std::string FileChunkStore::progress_path(PeerIndex self) const {
  return (std::filesystem::path(out_dir_) / (peer_name(self) + ".progress")).string();
}

namespace {

constexpr const char* kProgressMagic = "chunkex progress v1";
constexpr const char* kCounterKey = "rounds_completed";

std::optional<SavedProgress> parse_progress(const TextFields& fields) {
  auto self = peer_from_name(field_value(fields, "self").value_or(""));
  auto own_sha = digest_from_hex(field_value(fields, "own_sha256").value_or(""));
  auto exchange = digest_from_hex(field_value(fields, "exchange").value_or(""));
  auto own_size = field_value(fields, "own_size");
  auto rounds = field_value(fields, kCounterKey);
  if (!self || !own_sha || !exchange || !own_size || !rounds) return std::nullopt;
  auto own_size_bytes = parse_decimal_u64(*own_size);
  auto rounds_completed = parse_decimal_u64(*rounds);
  if (!own_size_bytes || !rounds_completed) return std::nullopt;
  return SavedProgress{*self, FileAnnouncement{*own_size_bytes, *own_sha}, *exchange,
                       *rounds_completed};
}

}  // namespace

std::vector<PeerIndex> FileChunkStore::slots_with_saved_progress() {
  std::vector<PeerIndex> slots;
  for (int peer = 0; peer < kMaxPeers; ++peer) {
    if (saved_progress(static_cast<PeerIndex>(peer))) slots.push_back(static_cast<PeerIndex>(peer));
  }
  return slots;
}

std::optional<SavedProgress> FileChunkStore::saved_progress(PeerIndex self) {
  auto fields = read_counter_file(progress_path(self), kProgressMagic);
  if (!fields) return std::nullopt;
  auto saved = parse_progress(*fields);
  if (!saved || saved->self != self) return std::nullopt;
  return saved;
}

void FileChunkStore::begin_progress(const SavedProgress& progress) {
  make_directories(out_dir_);
  TextFields fields{{"self", peer_name(progress.self)},
                    {"own_size", std::to_string(progress.own.size_bytes)},
                    {"own_sha256", to_hex(progress.own.sha256)},
                    {"exchange", to_hex(progress.exchange)}};
  progress_.create(progress_path(progress.self), kProgressMagic, fields, kCounterKey,
                   progress.rounds_completed);
}

void FileChunkStore::record_progress(uint64_t rounds_completed) {
  progress_.update(rounds_completed);
}

void FileChunkStore::clear_progress() {
  progress_.remove();
}

void FileChunkStore::write_chunk(PeerIndex owner, uint64_t offset, const ChunkBytes& chunk) {
  Incoming& file = incoming(owner);
  if (!chunk.ref) {
    write_bytes(owner, offset, chunk.data);
    file.digest.add(offset, chunk);
    return;
  }
  const ChunkRef& ref = *chunk.ref;
  if (!file.reader) file.reader = ref.source->open_reader();
  file.buffer.resize(ref.length_bytes);
  file.reader->read(ref.offset, file.buffer);
  write_bytes(owner, offset, file.buffer);
  file.digest.add(offset, ChunkBytes{file.buffer, std::nullopt});
}

Sha256Digest FileChunkStore::received_digest(PeerIndex owner) {
  Incoming& file = incoming(owner);
  return file.digest.finish(file.size_bytes);
}

void FileChunkStore::write_bytes(PeerIndex owner, uint64_t offset, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t put = ::pwrite(incoming(owner).fd, data.data() + done, data.size() - done,
                           static_cast<off_t>(offset + done));
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) throw_errno("cannot write", temporary_path(final_path(owner)));
    done += static_cast<size_t>(put);
  }
}

void FileChunkStore::commit_file(PeerIndex owner) {
  std::string final_name = final_path(owner);
  int fd = incoming(owner).fd;
  incoming(owner) = Incoming{};
  if (::close(fd) != 0) throw_errno("cannot close", temporary_path(final_name));
  if (std::rename(temporary_path(final_name).c_str(), final_name.c_str()) != 0) {
    throw_errno("cannot rename to", final_name);
  }
}

}  // namespace chunkex
