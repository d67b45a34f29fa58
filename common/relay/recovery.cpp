#include "common/relay/recovery.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/config.h"
#include "common/relay/round_pipeline.h"

namespace chunkex {

Recovery::Recovery(size_t peer_count, std::vector<FileLayout> layouts)
    : layouts_(std::move(layouts)), catch_ups_(peer_count), fetches_(peer_count) {}

void Recovery::begin_catch_up(PeerIndex peer, const ExchangeModel& fresh_model,
                              uint64_t resume_round, uint64_t end_round) {
  CatchUp catch_up{fresh_model, end_round};
  while (catch_up.model.next_round() < resume_round) catch_up.model.plan_next_round();
  catch_ups_[peer] = std::move(catch_up);
}

bool Recovery::any_catching_up() const {
  return std::any_of(catch_ups_.begin(), catch_ups_.end(),
                     [](const std::optional<CatchUp>& catch_up) { return catch_up.has_value(); });
}

bool Recovery::covers(PeerIndex peer, uint64_t round) const {
  return catch_ups_[peer] && round < catch_ups_[peer]->end_round;
}

ProtocolFault Recovery::on_catch_up_request(PeerIndex peer, uint64_t round,
                                            const PlannedRequest& sent, ClockUs clock_us) {
  CatchUp& catch_up = *catch_ups_[peer];
  if (round != catch_up.model.next_round()) {
    return fmt::format("catching up: request for round {}, expected round {}", round,
                       catch_up.model.next_round());
  }
  if (catch_up.fetches_owed >= kMaxWindowRounds) {
    return fmt::format("catching up: more than {} chunks asked for ahead of those received",
                       kMaxWindowRounds);
  }
  RoundPlan plan = catch_up.model.plan_next_round();
  const PlannedRequest& planned = plan.requests[peer];
  if (!(sent == planned) || (!sent.idle && clock_us != plan.request_clock_us[peer])) {
    return fmt::format("catching up: round {}: sent {}, the schedule says {}", round,
                       describe_request(sent), describe_request(planned));
  }
  if (!planned.idle) {
    fetches_[planned.target].push_back(
        Fetch{ChunkHeader{round, peer, planned.chunk_index, plan.delivery_clock_us[peer]}});
    ++catch_up.fetches_owed;
  }
  return std::nullopt;
}

ProtocolFault Recovery::on_refetch_data(PeerIndex owner, Frame frame,
                                        std::optional<RefetchedChunk>& relay) {
  auto header = decode_chunk_header(frame);
  std::deque<Fetch>& queue = fetches_[owner];
  bool expected = header && !queue.empty() && queue.front().sent &&
                  queue.front().header.round == header->round &&
                  queue.front().header.peer == header->peer &&
                  queue.front().header.chunk_index == header->chunk_index;
  if (!expected) return "REFETCH_DATA that was not asked for";
  if (ProtocolFault length =
          check_chunk_length(layouts_[owner], header->chunk_index, chunk_data_bytes(frame))) {
    return "REFETCH_DATA " + *length;
  }
  Fetch fetch = queue.front();
  queue.pop_front();
  if (fetch.stale) return std::nullopt;  // its requester left again
  const ChunkHeader& asked = fetch.header;
  rewrite_chunk_frame(frame, FrameType::kSendChunk,
                      ChunkHeader{asked.round, owner, asked.chunk_index, asked.clock_us});
  ++chunks_refetched_;
  refetched_bytes_ += chunk_data_bytes(frame);
  --catch_ups_[asked.peer]->fetches_owed;
  relay = RefetchedChunk{asked.peer, std::move(frame)};
  return std::nullopt;
}

std::vector<PeerIndex> Recovery::finish_catch_ups() {
  std::vector<PeerIndex> finished;
  for (size_t p = 0; p < catch_ups_.size(); ++p) {
    if (catch_ups_[p] && catch_ups_[p]->done()) {
      catch_ups_[p].reset();
      finished.push_back(static_cast<PeerIndex>(p));
    }
  }
  return finished;
}

std::vector<Frame> Recovery::take_unsent_refetches(PeerIndex owner) {
  std::vector<Frame> refetches;
  for (Fetch& fetch : fetches_[owner]) {
    if (fetch.sent) continue;
    const ChunkHeader& asked = fetch.header;
    refetches.push_back(encode_refetch(ChunkHeader{asked.round, asked.peer, asked.chunk_index, 0}));
    fetch.sent = true;
  }
  return refetches;
}

void Recovery::forget(PeerIndex peer) {
  catch_ups_[peer].reset();
  for (std::deque<Fetch>& queue : fetches_) {
    std::erase_if(queue, [&](const Fetch& f) { return f.header.peer == peer && !f.sent; });
    for (Fetch& fetch : queue) fetch.stale = fetch.stale || fetch.header.peer == peer;
  }
  // Chunks it was asked to send again are asked again when it is back.
  std::erase_if(fetches_[peer], [](const Fetch& f) { return f.stale; });
  for (Fetch& fetch : fetches_[peer]) fetch.sent = false;
}

bool Recovery::owes_chunks(PeerIndex owner) const {
  return std::any_of(fetches_[owner].begin(), fetches_[owner].end(),
                     [](const Fetch& fetch) { return fetch.sent; });
}

bool Recovery::owes_requests(PeerIndex peer) const {
  return catch_ups_[peer] && catch_ups_[peer]->fetches_owed == 0;
}

}  // namespace chunkex
