#include "common/sim/sim_store.h"

#include <stdexcept>

#include <fmt/format.h>

namespace chunkex::sim {

SimChunkStore::SimChunkStore(std::vector<const ContentSource*> sources,
                             std::optional<std::string> out_dir, bool keep_received)
    : sources_(std::move(sources)), keep_received_(keep_received) {
  if (out_dir) files_.emplace(std::nullopt, "", *out_dir);
}

FileAnnouncement SimChunkStore::open_own_file(PeerIndex self) {
  if (self >= sources_.size()) {
    throw std::runtime_error(fmt::format("no file for client {}", peer_letter(self)));
  }
  own_ = sources_[self];
  if (files_) files_->name_files_for(self);
  return own_->announcement();
}

void SimChunkStore::begin_file(PeerIndex owner, uint64_t size_bytes) {
  if (files_) return files_->begin_file(owner, size_bytes);
  incoming_[owner] = Incoming{size_bytes, ReceivedDigest{}};
  if (keep_received_) received_[owner] = Bytes(size_bytes, 0);
}

void SimChunkStore::write_chunk(PeerIndex owner, uint64_t offset, const ChunkBytes& chunk) {
  if (files_) return files_->write_chunk(owner, offset, chunk);
  incoming_.at(owner).digest.add(offset, chunk);
  if (keep_received_ && !chunk.ref) {
    Bytes& file = received_.at(owner);
    if (offset + chunk.data.size() > file.size()) throw std::runtime_error("write past the end");
    std::copy(chunk.data.begin(), chunk.data.end(), file.begin() + static_cast<ptrdiff_t>(offset));
  }
}

Sha256Digest SimChunkStore::received_digest(PeerIndex owner) {
  if (files_) return files_->received_digest(owner);
  Incoming& file = incoming_.at(owner);
  return file.digest.finish(file.size_bytes);
}

void SimChunkStore::commit_file(PeerIndex owner) {
  if (files_) files_->commit_file(owner);
  committed_.insert(owner);
}

std::vector<PeerIndex> SimChunkStore::slots_with_saved_progress() {
  if (!progress_) return {};
  return {progress_->self};
}

std::optional<SavedProgress> SimChunkStore::saved_progress(PeerIndex self) {
  if (progress_ && progress_->self == self) return progress_;
  return std::nullopt;
}

void SimChunkStore::begin_progress(const SavedProgress& progress) {
  progress_ = progress;
}

void SimChunkStore::record_progress(uint64_t rounds_completed) {
  if (progress_) progress_->rounds_completed = rounds_completed;
}

// Only the references up to `bytes_kept` count: a restarted client's file
// holds what its saved progress counts, never more.
void SimChunkStore::resume_file(PeerIndex owner, uint64_t size_bytes, uint64_t bytes_kept) {
  if (files_) return files_->resume_file(owner, size_bytes, bytes_kept);
  auto found = incoming_.find(owner);
  if (found != incoming_.end() && keep_received_) {
    Bytes& file = received_.at(owner);
    if (file.size() >= bytes_kept) {
      found->second.digest = ReceivedDigest{};
      found->second.digest.add_kept(ByteView(file.data(), bytes_kept));
      found->second.size_bytes = size_bytes;
      return;
    }
  }
  if (found == incoming_.end() || !found->second.digest.rewind_references(bytes_kept)) {
    throw std::runtime_error(fmt::format(
        "cannot resume: the file of {} does not hold the {} bytes the progress counts",
        peer_letter(owner), bytes_kept));
  }
  found->second.size_bytes = size_bytes;
}

}  // namespace chunkex::sim
