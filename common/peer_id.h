// Peers are numbered 0..N-1 in connection order and named A, B, C, ... in logs
// and file names. Everything iterates peers by index, never by pointer or hash,
// so output order is the same on every run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace chunkex {

using PeerIndex = uint8_t;
inline constexpr int kMaxPeers = 26;

inline char peer_letter(PeerIndex index) {
  return static_cast<char>('A' + index);
}
inline std::string peer_name(PeerIndex index) {
  return std::string(1, peer_letter(index));
}

// "C" -> 2; nullopt for anything else.
inline std::optional<PeerIndex> peer_from_name(const std::string& name) {
  if (name.size() != 1 || name[0] < 'A' || name[0] >= 'A' + kMaxPeers) return std::nullopt;
  return static_cast<PeerIndex>(name[0] - 'A');
}

}  // namespace chunkex
