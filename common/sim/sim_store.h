// The simulator's ChunkStore: a peer's own file is a ContentSource (a
// generated workload or a real file) that it serves by reference; received
// chunks are not kept, only checked: each must be a reference to its owner's
// content at its own offset, in order (content.h ReceivedDigest). Saved
// progress lives in memory, so a peer host started again over the same store
// is a restarted client. With an output directory the received files are
// written out for real (bytes read from their sources, hashed, renamed once
// verified) by a FileChunkStore. See docs/DESIGN.md §7.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/chunk_store.h"
#include "common/content.h"
#include "common/io/file_chunk_store.h"

namespace chunkex::sim {

class SimChunkStore : public ChunkStore {
 public:
  // `sources[i]` is the file of the peer the relay names i; each must outlive
  // the store. `out_dir`: write received files there.
  SimChunkStore(std::vector<const ContentSource*> sources, std::optional<std::string> out_dir,
                bool keep_received = false);

  FileAnnouncement open_own_file(PeerIndex self) override;
  void begin_file(PeerIndex owner, uint64_t size_bytes) override;
  void write_chunk(PeerIndex owner, uint64_t offset, const ChunkBytes& chunk) override;
  Sha256Digest received_digest(PeerIndex owner) override;
  void commit_file(PeerIndex owner) override;
  std::vector<PeerIndex> slots_with_saved_progress() override;
  std::optional<SavedProgress> saved_progress(PeerIndex self) override;
  void begin_progress(const SavedProgress& progress) override;
  void record_progress(uint64_t rounds_completed) override;
  void clear_progress() override { progress_.reset(); }
  void resume_file(PeerIndex owner, uint64_t size_bytes, uint64_t bytes_kept) override;
  bool has_committed_file(PeerIndex owner) override { return committed_.count(owner) > 0; }

  // The own file's source, once opened.
  const ContentSource* own_source() const { return own_; }
  // Owners whose files this peer verified and committed.
  const std::set<PeerIndex>& committed() const { return committed_; }
  // With keep_received: the bytes that came inline, by owner (tests).
  const std::map<PeerIndex, Bytes>& received() const { return received_; }

 private:
  struct Incoming {
    uint64_t size_bytes = 0;
    ReceivedDigest digest;
  };

  std::vector<const ContentSource*> sources_;
  std::optional<FileChunkStore> files_;
  const ContentSource* own_ = nullptr;
  std::map<PeerIndex, Incoming> incoming_;
  std::set<PeerIndex> committed_;
  std::optional<SavedProgress> progress_;
  bool keep_received_;
  std::map<PeerIndex, Bytes> received_;
};

}  // namespace chunkex::sim
