// ChunkStore over real files. The own file stays open for the transport to
// send from (sendfile); each
// received file is written with pwrite into `<out>/<SELF>_<OWNER>_complete.file.part`
// and renamed to its final name only after it verified, so a final name never
// holds a partial or corrupt file. Memory use does not grow with file size.
//
// Progress is saved in `<out>/<SELF>.progress` (a CounterFile): its
// rounds_completed is rewritten after the chunks it counts were written, and
// the kernel keeps both writes in order when the process dies, so it never
// counts a chunk that is not in the .part file.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/chunk_store.h"
#include "common/io/counter_file.h"

namespace chunkex {

class FileChunkStore : public ChunkStore {
 public:
  // `own_file` overrides the default `<data_dir>/<ID>.file`.
  FileChunkStore(std::optional<std::string> own_file, std::string data_dir, std::string out_dir);
  ~FileChunkStore() override;

  FileAnnouncement open_own_file(PeerIndex self) override;
  std::optional<std::string> own_file_problem() override;
  void begin_file(PeerIndex owner, uint64_t size_bytes) override;
  void write_chunk(PeerIndex owner, uint64_t offset, const ChunkBytes& chunk) override;
  Sha256Digest received_digest(PeerIndex owner) override;
  void commit_file(PeerIndex owner) override;
  std::vector<PeerIndex> slots_with_saved_progress() override;
  std::optional<SavedProgress> saved_progress(PeerIndex self) override;
  void begin_progress(const SavedProgress& progress) override;
  void record_progress(uint64_t rounds_completed) override;
  void clear_progress() override;
  void resume_file(PeerIndex owner, uint64_t size_bytes, uint64_t bytes_kept) override;
  bool has_committed_file(PeerIndex owner) override;

  // Names received files for `self` without opening an own file (the
  // simulator serves its own files from elsewhere).
  void name_files_for(PeerIndex self) { self_ = self; }
  std::string final_path(PeerIndex owner) const;
  std::string progress_path(PeerIndex self) const;
  std::string own_path() const { return own_path_; }
  // Open after open_own_file(); the transport sends chunks straight from it.
  int own_fd() const { return own_fd_; }

 private:
  struct Incoming {
    int fd = -1;
    uint64_t size_bytes = 0;
    ReceivedDigest digest;
    // Chunks that came by reference (the simulator writing files out) are
    // read from their source here and written and hashed as bytes.
    std::unique_ptr<ContentReader> reader;
    Bytes buffer;
  };

  void close_incoming(PeerIndex owner);
  Incoming& incoming(PeerIndex owner);
  void write_bytes(PeerIndex owner, uint64_t offset, ByteView data);

  std::optional<std::string> own_file_override_;
  std::string data_dir_;
  std::string out_dir_;
  std::string own_path_;
  PeerIndex self_ = 0;
  int own_fd_ = -1;
  uint64_t own_size_bytes_ = 0;     // as announced
  std::vector<Incoming> incoming_;  // by owner; fd -1 when not open
  CounterFile progress_;
};

// SHA-256 and size of a whole file, read in blocks. Throws std::runtime_error.
FileAnnouncement describe_file(int fd, const std::string& path);

}  // namespace chunkex
