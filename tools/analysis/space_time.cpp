#include "tools/analysis/space_time.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace chunkex {
namespace {

enum class Type : uint8_t {
  kAnnounce = 1,
  kRoster,
  kRequestChunk,
  kIdle,
  kForward,
  kChunkData,
  kSendChunk,
  kDone,
  kFinal,
};

std::string_view type_name(Type type) {
  constexpr std::string_view kNames[] = {"",     "ANNOUNCE", "ROSTER",     "REQUEST_CHUNK",
                                         "IDLE", "forward",  "CHUNK_DATA", "SEND_CHUNK",
                                         "DONE", "FINAL"};
  return kNames[static_cast<size_t>(type)];
}

// A broadcast (ROSTER, FINAL) has one send and a receive at every peer.
bool broadcast(Type type) {
  return type == Type::kRoster || type == Type::kFinal;
}

// Which end of which message a line is.
struct Role {
  Type type;
  bool send;
  int64_t round;
  PeerIndex peer;  // the peer the message is about (kNoPeer for a broadcast)
};

std::optional<Role> server_role(const CompactEvent& e) {
  using K = LogEventKind;
  switch (e.kind) {
    case K::kJoin:
      return Role{Type::kAnnounce, false, kNoRound, e.peer};
    case K::kStart:
      return Role{Type::kRoster, true, kNoRound, kNoPeer};
    case K::kRequest:
      return Role{Type::kRequestChunk, false, e.round, e.peer};
    case K::kIdle:
      return Role{Type::kIdle, false, e.round, e.peer};
    case K::kForward:
      return Role{Type::kForward, true, e.round, e.peer};
    case K::kChunkData:
      return Role{Type::kChunkData, false, e.round, e.peer};
    case K::kSendChunk:
      return Role{Type::kSendChunk, true, e.round, e.peer};
    case K::kDone:
      return Role{Type::kDone, false, kNoRound, e.peer};
    case K::kFinalClocks:
      return Role{Type::kFinal, true, kNoRound, kNoPeer};
    default:
      return std::nullopt;
  }
}

std::optional<Role> peer_role(const CompactEvent& e, std::optional<PeerIndex> self,
                              bool first_roster) {
  using K = LogEventKind;
  if (!self) return std::nullopt;
  switch (e.kind) {
    case K::kFlag:
      return Role{Type::kAnnounce, true, kNoRound, *self};
    case K::kRoster:
      if (!first_roster) return std::nullopt;
      return Role{Type::kRoster, false, kNoRound, kNoPeer};
    case K::kRequest:
      return Role{Type::kRequestChunk, true, e.round, e.peer};
    case K::kIdle:
      return Role{Type::kIdle, true, e.round, e.peer};
    case K::kForward:
      return Role{Type::kForward, false, e.round, e.peer};
    case K::kChunkData:
      return Role{Type::kChunkData, true, e.round, e.peer};
    case K::kSendChunk:
      return Role{Type::kSendChunk, false, e.round, e.peer};
    case K::kDone:
      return Role{Type::kDone, true, kNoRound, *self};
    case K::kFinalClocks:
      return Role{Type::kFinal, false, kNoRound, kNoPeer};
    default:
      return std::nullopt;
  }
}

uint64_t key_of(const Role& role) {
  auto round = static_cast<uint64_t>(role.round + 1) & ((uint64_t{1} << 48) - 1);
  return (static_cast<uint64_t>(role.type) << 56) | (round << 8) | role.peer;
}

uint64_t packed(EventRef ref) {
  return (static_cast<uint64_t>(ref.component) << 32) | ref.index;
}

struct Ends {
  Type type = Type::kAnnounce;
  std::vector<EventRef> sends;
  std::vector<EventRef> receives;
};

// The events of the sections taken, per component in log order, and the
// messages between them keyed by what they are.
struct Collected {
  std::vector<std::vector<uint32_t>> events;  // by component
  std::map<uint64_t, Ends> ends;              // ordered: the same messages on every run
};

Collected collect(const Run& run, const std::unordered_set<int64_t>& taken) {
  Collected collected;
  collected.events.resize(run.components.size());
  for (size_t c = 0; c < run.components.size(); ++c) {
    const ComponentLog& log = run.components[c];
    bool first_roster = true;
    std::optional<PeerIndex> self = peer_from_name(log.name());
    for (size_t i = 0; i < log.size(); ++i) {
      const CompactEvent& event = log.brief(i);
      bool is_first_roster = event.kind == LogEventKind::kRoster && first_roster;
      if (event.kind == LogEventKind::kRoster) first_roster = false;
      if (!taken.count(log.section(i))) continue;
      collected.events[c].push_back(static_cast<uint32_t>(i));
      auto role = log.is_server() ? server_role(event) : peer_role(event, self, is_first_roster);
      if (!role) continue;
      Ends& ends = collected.ends[key_of(*role)];
      ends.type = role->type;
      EventRef ref{static_cast<uint32_t>(c), static_cast<uint32_t>(i)};
      (role->send ? ends.sends : ends.receives).push_back(ref);
    }
  }
  return collected;
}

std::vector<Message> pair_up(const std::map<uint64_t, Ends>& all_ends) {
  std::vector<Message> messages;
  for (const auto& [key, ends] : all_ends) {
    if (ends.sends.empty()) continue;
    for (size_t i = 0; i < ends.receives.size(); ++i) {
      if (broadcast(ends.type)) {
        messages.push_back({type_name(ends.type), ends.sends.front(), ends.receives[i]});
      } else if (i < ends.sends.size()) {
        messages.push_back({type_name(ends.type), ends.sends[i], ends.receives[i]});
      }
    }
  }
  return messages;
}

// Merges the components' events into one order in which every receive comes
// after its send. Logs that contradict themselves (a cycle) lose the message
// that closes the cycle: its receive becomes a local event.
std::vector<EventRef> causal_order(const Collected& collected, std::vector<Message>& messages) {
  std::unordered_map<uint64_t, EventRef> sender_of;
  for (const Message& m : messages) sender_of[packed(m.receive)] = m.send;
  const auto& lists = collected.events;
  std::vector<size_t> next(lists.size(), 0);
  auto emitted = [&](EventRef ref) {
    return next[ref.component] >= lists[ref.component].size() ||
           lists[ref.component][next[ref.component]] > ref.index;
  };
  std::vector<EventRef> order;
  while (true) {
    bool moved = false;
    for (size_t c = 0; c < lists.size(); ++c) {
      while (next[c] < lists[c].size()) {
        EventRef ref{static_cast<uint32_t>(c), lists[c][next[c]]};
        auto sender = sender_of.find(packed(ref));
        if (sender != sender_of.end() && !emitted(sender->second)) break;
        order.push_back(ref);
        ++next[c];
        moved = true;
      }
    }
    if (moved) continue;
    size_t c = 0;
    while (c < lists.size() && next[c] >= lists[c].size()) ++c;
    if (c == lists.size()) break;
    EventRef blocked{static_cast<uint32_t>(c), lists[c][next[c]]};
    sender_of.erase(packed(blocked));
    std::erase_if(messages, [&](const Message& m) { return m.receive == blocked; });
  }
  return order;
}

// Events per section, over every component.
std::map<int64_t, size_t> section_sizes(const Run& run) {
  std::map<int64_t, size_t> sizes;
  for (const ComponentLog& log : run.components) {
    for (size_t i = 0; i < log.size(); ++i) ++sizes[log.section(i)];
  }
  return sizes;
}

std::optional<int64_t> parse_round(std::string_view text, int64_t last_round) {
  if (text == "last") return last_round;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

}  // namespace

OrError<RoundWindow> RoundWindow::parse(std::string_view text, uint64_t rounds_logged) {
  RoundWindow window;
  window.last_round_ = static_cast<int64_t>(rounds_logged) - 1;
  constexpr size_t kRangesMax = 64;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view part = text.substr(0, comma);
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
    size_t dash = part.find('-');
    auto from = parse_round(part.substr(0, dash), window.last_round_);
    auto to = dash == std::string_view::npos
                  ? from
                  : parse_round(part.substr(dash + 1), window.last_round_);
    if (!from || !to || *to < *from || window.ranges_.size() == kRangesMax) {
      return {std::nullopt, fmt::format("--rounds: '{}' is not FROM-TO[,FROM-TO...] (rounds 0 to "
                                        "{}, or 'last')",
                                        part, window.last_round_)};
    }
    window.ranges_.emplace_back(*from, std::min(*to, window.last_round_));
  }
  if (window.ranges_.empty()) return {std::nullopt, "--rounds: no rounds given"};
  std::sort(window.ranges_.begin(), window.ranges_.end());
  return {std::move(window), {}};
}

RoundWindow RoundWindow::of_rounds(std::vector<std::pair<int64_t, int64_t>> ranges,
                                   uint64_t rounds_logged) {
  RoundWindow window;
  window.last_round_ = static_cast<int64_t>(rounds_logged) - 1;
  window.ranges_ = std::move(ranges);
  std::sort(window.ranges_.begin(), window.ranges_.end());
  return window;
}

bool RoundWindow::holds(int64_t section) const {
  if (section == kSetupSection) return holds(0);
  if (section == kEndSection) return last_round_ >= 0 && holds(last_round_);
  return std::any_of(ranges_.begin(), ranges_.end(), [&](const auto& range) {
    return section >= range.first && section <= range.second;
  });
}

std::vector<int64_t> RoundWindow::sections() const {
  std::vector<int64_t> sections;
  if (holds(kSetupSection)) sections.push_back(kSetupSection);
  for (const auto& [from, to] : ranges_) {
    for (int64_t r = std::max<int64_t>(from, sections.empty() ? 0 : sections.back() + 1); r <= to;
         ++r) {
      sections.push_back(r);
    }
  }
  if (holds(kEndSection)) sections.push_back(kEndSection);
  return sections;
}

std::string RoundWindow::text() const {
  std::string text;
  for (const auto& [from, to] : ranges_) {
    if (!text.empty()) text += ',';
    text += from == to ? fmt::format("{}", from) : fmt::format("{}-{}", from, to);
  }
  return text;
}

SpaceTime space_time(const Run& run, const std::vector<int64_t>& sections, size_t events_max) {
  SpaceTime result;
  std::map<int64_t, size_t> sizes = section_sizes(run);
  size_t total = 0;
  for (int64_t section : sections) {
    auto found = sizes.find(section);
    size_t size = found == sizes.end() ? 0 : found->second;
    if (total + size > events_max) {
      result.capped = true;
      break;
    }
    total += size;
    result.sections.push_back(section);
  }
  std::unordered_set<int64_t> taken(result.sections.begin(), result.sections.end());
  Collected collected = collect(run, taken);
  result.messages = pair_up(collected.ends);
  result.events = causal_order(collected, result.messages);
  return result;
}

}  // namespace chunkex
