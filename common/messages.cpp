#include "common/messages.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/sha256.h"

namespace chunkex {
namespace {

void put_digest(Bytes& out, const Sha256Digest& digest) {
  out.insert(out.end(), digest.begin(), digest.end());
}

bool get_digest(ByteReader& reader, Sha256Digest& digest) {
  ByteView view;
  if (!reader.get_bytes(digest.size(), view)) return false;
  std::copy(view.begin(), view.end(), digest.begin());
  return true;
}

// Wraps a payload decoder: the frame must be of `type` and the decoder must
// consume the payload exactly.
template <typename Message, typename Parse>
std::optional<Message> decode_exact(const Frame& frame, FrameType type, Parse parse) {
  if (frame.type != type) return std::nullopt;
  ByteReader reader(frame.payload);
  Message message{};
  if (!parse(reader, message) || reader.remaining() != 0) return std::nullopt;
  return message;
}

bool get_chunk_header(ByteReader& reader, ChunkHeader& header) {
  return reader.get(header.round) && reader.get(header.peer) && reader.get(header.chunk_index) &&
         reader.get(header.clock_us);
}

void put_chunk_header(uint8_t* dest, const ChunkHeader& header) {
  store_big_endian<uint64_t>(dest, header.round);
  dest[8] = header.peer;
  store_big_endian<uint32_t>(dest + 9, header.chunk_index);
  store_big_endian<int64_t>(dest + 13, header.clock_us);
}

}  // namespace

Frame encode(const FlagMessage& message) {
  Frame frame{FrameType::kFlag, {}};
  put_big_endian<uint8_t>(frame.payload, message.peer);
  put_big_endian<uint8_t>(frame.payload, message.peer_count);
  put_big_endian<uint32_t>(frame.payload, message.chunk_bytes);
  put_big_endian<uint32_t>(frame.payload, message.returning_slots);
  return frame;
}

Frame encode(const AnnounceMessage& message) {
  Frame frame{FrameType::kAnnounce, {}};
  put_big_endian<uint64_t>(frame.payload, message.file.size_bytes);
  put_digest(frame.payload, message.file.sha256);
  put_big_endian<uint8_t>(frame.payload, message.resume.peer);
  put_digest(frame.payload, message.resume.exchange);
  put_big_endian<uint64_t>(frame.payload, message.resume.rounds_completed);
  return frame;
}

Frame encode_announce(const FileAnnouncement& file) {
  return encode(AnnounceMessage{file, ResumeClaim{}});
}

namespace {

// The part of ROSTER that is the same for every peer.
void put_roster_files(Bytes& out, const RosterMessage& message) {
  put_big_endian<uint8_t>(out, static_cast<uint8_t>(message.files.size()));
  for (size_t i = 0; i < message.files.size(); ++i) {
    put_big_endian<uint64_t>(out, message.files[i].size_bytes);
    put_digest(out, message.files[i].sha256);
    put_big_endian<uint32_t>(out, static_cast<uint32_t>(message.costs[i].chunk_us));
    put_big_endian<uint32_t>(out, static_cast<uint32_t>(message.costs[i].other_us));
  }
}

}  // namespace

Frame encode(const RosterMessage& message) {
  Frame frame{FrameType::kRoster, {}};
  put_roster_files(frame.payload, message);
  put_big_endian<uint64_t>(frame.payload, message.resume.resume_round);
  put_big_endian<uint64_t>(frame.payload, message.resume.delivered_rounds);
  put_big_endian<uint64_t>(frame.payload, message.resume.forwarded_rounds);
  return frame;
}

Sha256Digest exchange_digest(const RosterMessage& roster, uint32_t chunk_bytes) {
  Bytes named;
  put_big_endian<uint32_t>(named, chunk_bytes);
  put_roster_files(named, roster);
  return sha256_of(named);
}

Frame encode(const PeerStatusMessage& message) {
  Frame frame{FrameType::kPeerStatus, {}};
  put_big_endian<uint8_t>(frame.payload, message.peer);
  put_big_endian<uint8_t>(frame.payload, message.present ? 1 : 0);
  put_big_endian<uint32_t>(frame.payload, message.grace_s);
  return frame;
}

Frame encode_refetch(const ChunkHeader& header) {
  Frame frame = encode(header);
  frame.type = FrameType::kRefetch;
  return frame;
}

Frame encode(const RequestMessage& message) {
  Frame frame{FrameType::kRequestChunk, Bytes(kChunkHeaderBytes)};
  put_chunk_header(frame.payload.data(), message);
  return frame;
}

Frame encode(const IdleMessage& message) {
  Frame frame{FrameType::kIdle, {}};
  put_big_endian<uint64_t>(frame.payload, message.round);
  return frame;
}

Frame encode(const DoneMessage& message) {
  Frame frame{FrameType::kDone, {}};
  put_big_endian<uint8_t>(frame.payload, static_cast<uint8_t>(message.verified_owners.size()));
  for (PeerIndex owner : message.verified_owners) put_big_endian<uint8_t>(frame.payload, owner);
  return frame;
}

Frame encode(const FinalMessage& message) {
  Frame frame{FrameType::kFinal, {}};
  put_big_endian<uint8_t>(frame.payload, static_cast<uint8_t>(message.clocks_us.size()));
  for (ClockUs clock : message.clocks_us) put_big_endian<int64_t>(frame.payload, clock);
  return frame;
}

Frame encode_hello() {
  return Frame{FrameType::kHello, {}};
}

bool is_hello(const Frame& frame) {
  return frame.type == FrameType::kHello && frame.payload.empty();
}

Frame encode_error(std::string_view text) {
  text = text.substr(0, kMaxErrorTextBytes);
  return Frame{FrameType::kError, Bytes(text.begin(), text.end())};
}

std::optional<FlagMessage> decode_flag(const Frame& frame) {
  return decode_exact<FlagMessage>(frame, FrameType::kFlag, [](ByteReader& r, FlagMessage& m) {
    // The rotation needs at least two peers (offsets run over 1..N-1).
    return r.get(m.peer) && r.get(m.peer_count) && r.get(m.chunk_bytes) &&
           r.get(m.returning_slots) && m.peer_count >= 2 && m.peer_count <= kMaxPeers &&
           m.peer < m.peer_count && m.chunk_bytes > 0 && m.chunk_bytes <= kMaxChunkBytes &&
           (m.returning_slots >> m.peer_count) == 0;
  });
}

std::optional<AnnounceMessage> decode_announce(const Frame& frame) {
  return decode_exact<AnnounceMessage>(
      frame, FrameType::kAnnounce, [](ByteReader& r, AnnounceMessage& m) {
        return r.get(m.file.size_bytes) && get_digest(r, m.file.sha256) && r.get(m.resume.peer) &&
               get_digest(r, m.resume.exchange) && r.get(m.resume.rounds_completed) &&
               (m.resume.peer < kMaxPeers || m.resume.peer == kNoClaim);
      });
}

std::optional<RosterMessage> decode_roster(const Frame& frame) {
  return decode_exact<RosterMessage>(
      frame, FrameType::kRoster, [](ByteReader& r, RosterMessage& m) {
        uint8_t count = 0;
        if (!r.get(count) || count < 2 || count > kMaxPeers) return false;
        for (uint8_t i = 0; i < count; ++i) {
          FileAnnouncement file;
          uint32_t chunk_us = 0, other_us = 0;
          if (!r.get(file.size_bytes) || !get_digest(r, file.sha256) || !r.get(chunk_us) ||
              !r.get(other_us)) {
            return false;
          }
          m.files.push_back(file);
          m.costs.push_back(PeerCosts{chunk_us, other_us});
        }
        ResumePoint& resume = m.resume;
        return r.get(resume.resume_round) && r.get(resume.delivered_rounds) &&
               r.get(resume.forwarded_rounds) && resume.resume_round <= resume.delivered_rounds &&
               resume.delivered_rounds <= resume.forwarded_rounds;
      });
}

std::optional<RequestMessage> decode_request(const Frame& frame) {
  return decode_exact<RequestMessage>(frame, FrameType::kRequestChunk, get_chunk_header);
}

std::optional<IdleMessage> decode_idle(const Frame& frame) {
  return decode_exact<IdleMessage>(frame, FrameType::kIdle,
                                   [](ByteReader& r, IdleMessage& m) { return r.get(m.round); });
}

std::optional<DoneMessage> decode_done(const Frame& frame) {
  return decode_exact<DoneMessage>(frame, FrameType::kDone, [](ByteReader& r, DoneMessage& m) {
    uint8_t count = 0;
    if (!r.get(count) || count > kMaxPeers) return false;
    m.verified_owners.resize(count);
    for (auto& owner : m.verified_owners) {
      if (!r.get(owner)) return false;
    }
    return true;
  });
}

std::optional<FinalMessage> decode_final(const Frame& frame) {
  return decode_exact<FinalMessage>(frame, FrameType::kFinal, [](ByteReader& r, FinalMessage& m) {
    uint8_t count = 0;
    if (!r.get(count) || count > kMaxPeers) return false;
    m.clocks_us.resize(count);
    for (auto& clock : m.clocks_us) {
      if (!r.get(clock)) return false;
    }
    return true;
  });
}

// The text goes into logs and onto terminals: a newline in it could forge a
// log line, an escape sequence could drive a terminal. Printable ASCII is
// kept; every other byte (and the backslash) is written as \xNN.
std::string decode_error(const Frame& frame) {
  std::string text;
  text.reserve(frame.payload.size());
  for (uint8_t byte : frame.payload) {
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      text += static_cast<char>(byte);
    } else {
      text += fmt::format("\\x{:02x}", byte);
    }
  }
  return text;
}

std::optional<PeerStatusMessage> decode_peer_status(const Frame& frame) {
  return decode_exact<PeerStatusMessage>(
      frame, FrameType::kPeerStatus, [](ByteReader& r, PeerStatusMessage& m) {
        uint8_t present = 0;
        bool ok = r.get(m.peer) && r.get(present) && r.get(m.grace_s) && present <= 1 &&
                  m.peer < kMaxPeers;
        m.present = present == 1;
        return ok;
      });
}

std::optional<ChunkHeader> decode_refetch(const Frame& frame) {
  return decode_exact<ChunkHeader>(frame, FrameType::kRefetch, get_chunk_header);
}

Frame make_chunk_frame(FrameType type, const ChunkHeader& header, size_t data_bytes) {
  Frame frame{type, Bytes(kChunkHeaderBytes + data_bytes)};
  put_chunk_header(frame.payload.data(), header);
  return frame;
}

std::optional<ChunkHeader> decode_chunk_header(const Frame& frame) {
  if (!carries_chunk_data(frame.type) || frame.payload.size() < kChunkHeaderBytes) {
    return std::nullopt;
  }
  ByteReader reader(frame.payload);
  ChunkHeader header;
  get_chunk_header(reader, header);
  return header;
}

void rewrite_chunk_frame(Frame& frame, FrameType type, const ChunkHeader& header) {
  frame.type = type;
  put_chunk_header(frame.payload.data(), header);
}

ByteView chunk_data(const Frame& frame) {
  return ByteView(frame.payload).subspan(kChunkHeaderBytes);
}

uint64_t chunk_data_bytes(const Frame& frame) {
  return frame.data_ref ? frame.data_ref->length_bytes : chunk_data(frame).size();
}

uint8_t* chunk_data_area(Frame& frame) {
  return frame.payload.data() + kChunkHeaderBytes;
}

}  // namespace chunkex
