// Where a peer's chunks live. The peer core writes received chunks only
// through this interface, so the same core runs over real files
// (FileChunkStore) and over memory in tests. Serving its own chunks is the
// transport's job (PeerOutbox::send_own_chunk), so that a real transport can
// hand file bytes to the socket without copying them through user space.
#pragma once

#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "common/messages.h"

namespace chunkex {

class ChunkStore {
 public:
  virtual ~ChunkStore() = default;
  // Size and SHA-256 of this peer's own file. Throws std::runtime_error with
  // a message for the user when the file is missing or unreadable.
  virtual FileAnnouncement open_own_file(PeerIndex self) = 0;
  // Prepares the (temporary) file that will receive `owner`'s chunks.
  virtual void begin_file(PeerIndex owner, uint64_t size_bytes) = 0;
  virtual void write_chunk(PeerIndex owner, uint64_t offset, ByteView data) = 0;
  // The file verified: give it its final name.
  virtual void commit_file(PeerIndex owner) = 0;
};

}  // namespace chunkex
