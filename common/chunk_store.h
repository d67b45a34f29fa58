// Where a peer's chunks live. The peer core writes received chunks only
// through this interface, so the same core runs over real files
// (FileChunkStore) and over memory in tests. Serving its own chunks is the
// transport's job (PeerOutbox::send_own_chunk), so that a real transport can
// hand file bytes to the socket without copying them through user space.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/content.h"
#include "common/messages.h"
#include "common/sha256.h"

namespace chunkex {

// What a peer keeps beside its partial files so that, after a crash, it can
// come back to the same exchange: the chunks of rounds < rounds_completed are
// written. Everything else (which chunks those are, the log of those rounds)
// follows from the roster through the model.
struct SavedProgress {
  PeerIndex self = 0;
  FileAnnouncement own;
  Sha256Digest exchange{};
  uint64_t rounds_completed = 0;
  bool operator==(const SavedProgress&) const = default;
};

class ChunkStore {
 public:
  virtual ~ChunkStore() = default;
  // Size and SHA-256 of this peer's own file. Throws std::runtime_error with
  // a message for the user when the file is missing or unreadable.
  virtual FileAnnouncement open_own_file(PeerIndex self) = 0;
  // Why the own file can no longer be served as announced (it shrank, it
  // cannot be read), naming the file; nullopt when it can. Asked before each
  // own chunk is handed to the transport. A store whose own file cannot
  // change has no problem to report.
  virtual std::optional<std::string> own_file_problem() { return std::nullopt; }
  // Prepares the (temporary) file that will receive `owner`'s chunks.
  virtual void begin_file(PeerIndex owner, uint64_t size_bytes) = 0;
  // Chunks of one owner come in order, lowest offset first; the store hashes
  // them as they come (ReceivedDigest).
  virtual void write_chunk(PeerIndex owner, uint64_t offset, const ChunkBytes& chunk) = 0;
  // The SHA-256 of everything written for `owner` (once, after its last chunk).
  virtual Sha256Digest received_digest(PeerIndex owner) = 0;
  // The file verified: give it its final name.
  virtual void commit_file(PeerIndex owner) = 0;

  // Resuming. Slots this peer saved progress for (it prefers to come back as
  // one of them), and what it saved for one.
  virtual std::vector<PeerIndex> slots_with_saved_progress() = 0;
  virtual std::optional<SavedProgress> saved_progress(PeerIndex self) = 0;
  // Replaces whatever progress was saved with `progress`.
  virtual void begin_progress(const SavedProgress& progress) = 0;
  // Called after the chunks of rounds < `rounds_completed` were written, so a
  // crash can never record a chunk that is not in the file.
  virtual void record_progress(uint64_t rounds_completed) = 0;
  // The exchange is over: nothing to resume.
  virtual void clear_progress() = 0;
  // Like begin_file, but keeps the first `bytes_kept` bytes already received
  // (they count towards received_digest). Throws when they are not there.
  virtual void resume_file(PeerIndex owner, uint64_t size_bytes, uint64_t bytes_kept) = 0;
  // True when `owner`'s file was verified and committed in an earlier run.
  virtual bool has_committed_file(PeerIndex owner) = 0;
};

}  // namespace chunkex
