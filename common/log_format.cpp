#include "common/log_format.h"

#include <fmt/format.h>

namespace chunkex {
namespace {

// A template is literal text with fields in braces. The fields, and where a
// parsed value goes:
//   {peer} {target}   a peer's letter -> LogEvent::peer / target (a field
//                     named twice must hold the same letter both times)
//   {chunk}           a chunk index -> chunk
//   {n0} {n1} {n2}    counts -> numbers[0..2]
//   {ms}              a clock in ms -> value_us
//   {sha}             64 hex digits -> detail
//   {clocks}, {text}  the rest of the line (clocks: "A=.. B=..") -> detail
//   {round}           -> round
enum class Field : uint8_t {
  kLiteral,
  kPeer,
  kTarget,
  kChunk,
  kN0,
  kN1,
  kN2,
  kMs,
  kSha,
  kClocks,
  kText,
  kRound,
};

struct LineTemplate {
  LogEventKind kind;
  bool server;  // a line of Server.txt (else of a peer's log)
  std::string_view text;
};

using K = LogEventKind;

// Every kind of line, as common/relay_core.cpp and common/peer_core.cpp
// write it; tests/unit/test_log_format.cpp checks that each line those write
// reads back here and is written again unchanged. The most frequent kinds
// come first: a line takes the first template it matches.
constexpr LineTemplate kTemplates[] = {
    // Server.txt, the lines of a round.
    {K::kRequest, true, "REQUEST_CHUNK {peer} asks {target} for chunk {chunk} (round {round})"},
    {K::kForward, true, "forward REQUEST_CHUNK {peer} -> {target}: chunk {chunk} (round {round})"},
    {K::kChunkData, true,
     "CHUNK_DATA {target} -> {peer}: chunk {chunk} of {target} (round {round})"},
    {K::kSendChunk, true,
     "SEND_CHUNK {target} -> {peer}: chunk {chunk} of {target} (round {round})"},
    {K::kSync, true, "sync clocks to {ms} (round {round})"},
    {K::kIdle, true, "IDLE {peer} (round {round})"},
    // n0: rounds that moved data.
    {K::kAllIdle, true, "every request IDLE: exchange complete after {n0} rounds (round {round})"},
    // Server.txt, before the first round: n0 bytes, n1 chunks.
    {K::kJoin, true, "join {peer}: {n0} bytes, {n1} chunks, sha256 {sha}"},
    // n0 clients, n1 bytes a chunk, n2 rounds at least.
    {K::kStart, true, "start exchange: {n0} clients, {n1}-byte chunks, at least {n2} rounds"},
    // Server.txt, the end: n0 files.
    {K::kDone, true, "DONE {peer}: {n0} files verified"},
    {K::kFinalClocks, true, "final clocks {clocks}"},
    {K::kRejected, true, "rejected connection {n0}: {text}"},
    {K::kRejectedMore, true, "rejected {n0} more connections"},
    {K::kError, true, "error: {text}"},
    {K::kAbandoned, true, "exchange abandoned"},
    // Server.txt, going away and coming back: n0 a round, n1 seconds.
    {K::kDisconnected, true,
     "client {peer} disconnected: exchange paused at round {n0}; waiting up to {n1} s for it to "
     "come back"},
    {K::kReconnected, true, "client {peer} reconnected: it has completed {n0} rounds"},
    {K::kResumed, true, "exchange resumed at round {n0}"},
    {K::kServerRestarted, true,
     "server restarted: resuming after round {n0}; waiting for every client to come back"},
    // A peer's log, the lines of a round (the peer itself is filled in).
    {K::kRequest, false, "REQUEST_CHUNK chunk {chunk} of {target} (round {round})"},
    {K::kForward, false, "forwarded REQUEST_CHUNK from {peer}: chunk {chunk} (round {round})"},
    {K::kChunkData, false, "CHUNK_DATA chunk {chunk} to {peer} (round {round})"},
    {K::kSendChunk, false, "recv chunk {chunk} of {target} (round {round})"},
    {K::kIdle, false, "IDLE (round {round})"},
    {K::kAllIdle, false, "every request IDLE: exchange complete (round {round})"},
    // n0 chunks.
    {K::kFileComplete, false, "file of {target} complete: {n0} chunks, sha256 verified"},
    // Before the first round: n0 peers, n1 bytes, n2 chunks; the roster's
    // owner is the target, n0 bytes, n1 chunks.
    {K::kFlag, false,
     "FLAG: joined as {peer} of {n0}; own file {n1} bytes, {n2} chunks, sha256 {sha}"},
    {K::kRoster, false, "ROSTER: {target} has {n0} bytes, {n1} chunks, sha256 {sha}"},
    // The end: n0 files.
    {K::kDone, false, "DONE: {n0} files received and verified"},
    {K::kFinalClocks, false, "final clocks {clocks}"},
    {K::kError, false, "error: {text}"},
    // n0 a round, n1 of n2 chunks.
    {K::kPeerResumed, false, "resumed after round {n0}: {n1} of {n2} chunks already received"},
};

constexpr std::string_view kKindNames[kLogEventKindCount] = {
    "other",         "join",         "start",        "flag",     "roster",           "request",
    "idle",          "all_idle",     "sync",         "forward",  "chunk_data",       "send_chunk",
    "file_complete", "done",         "final_clocks", "rejected", "rejected_more",    "error",
    "abandoned",     "disconnected", "reconnected",  "resumed",  "server_restarted", "peer_resumed",
};

struct Piece {
  Field field = Field::kLiteral;
  std::string_view literal;
};

struct CompiledTemplate {
  LogEventKind kind;
  bool server;
  std::vector<Piece> pieces;  // the first is always a literal
};

Field field_named(std::string_view name) {
  constexpr std::pair<std::string_view, Field> kFields[] = {
      {"peer", Field::kPeer}, {"target", Field::kTarget}, {"chunk", Field::kChunk},
      {"n0", Field::kN0},     {"n1", Field::kN1},         {"n2", Field::kN2},
      {"ms", Field::kMs},     {"sha", Field::kSha},       {"clocks", Field::kClocks},
      {"text", Field::kText}, {"round", Field::kRound}};
  for (const auto& [field_name, field] : kFields) {
    if (field_name == name) return field;
  }
  throw std::logic_error(fmt::format("log_format: unknown field {{{}}}", name));
}

std::vector<Piece> compile(std::string_view text) {
  std::vector<Piece> pieces;
  while (!text.empty()) {
    size_t open = text.find('{');
    if (open != 0) {
      pieces.push_back(Piece{Field::kLiteral, text.substr(0, open)});
      if (open == std::string_view::npos) break;
    }
    size_t close = text.find('}', open);
    pieces.push_back(Piece{field_named(text.substr(open + 1, close - open - 1)), {}});
    text.remove_prefix(close + 1);
  }
  return pieces;
}

const std::vector<CompiledTemplate>& templates() {
  static const std::vector<CompiledTemplate> compiled = [] {
    std::vector<CompiledTemplate> all;
    for (const LineTemplate& t : kTemplates) all.push_back({t.kind, t.server, compile(t.text)});
    return all;
  }();
  return compiled;
}

const CompiledTemplate* template_of(LogEventKind kind, bool server) {
  for (const CompiledTemplate& t : templates()) {
    if (t.kind == kind && t.server == server) return &t;
  }
  return nullptr;
}

// Reads an unsigned decimal from the front of `text` (at most `max`).
std::optional<uint64_t> take_number(std::string_view& text, uint64_t max) {
  size_t digits = 0;
  uint64_t value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    if (digits == 19) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0 || value > max) return std::nullopt;
  text.remove_prefix(digits);
  return value;
}

bool take_letter(std::string_view& text, PeerIndex& slot) {
  if (text.empty() || text[0] < 'A' || text[0] >= 'A' + kMaxPeers) return false;
  auto peer = static_cast<PeerIndex>(text[0] - 'A');
  if (slot != kNoPeer && slot != peer) return false;
  slot = peer;
  text.remove_prefix(1);
  return true;
}

bool take_sha(std::string_view& text, std::string_view& slot) {
  constexpr size_t kHexDigits = 64;
  if (text.size() < kHexDigits) return false;
  for (size_t i = 0; i < kHexDigits; ++i) {
    char c = text[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  slot = text.substr(0, kHexDigits);
  text.remove_prefix(kHexDigits);
  return true;
}

bool take_ms(std::string_view& text, ClockUs& slot) {
  size_t end = 0;
  while (end < text.size() &&
         (text[end] == '-' || text[end] == '.' || (text[end] >= '0' && text[end] <= '9'))) {
    ++end;
  }
  auto value = parse_clock_ms(text.substr(0, end));
  if (!value) return false;
  slot = *value;
  text.remove_prefix(end);
  return true;
}

bool take_field(Field field, std::string_view& rest, LogEvent& event) {
  std::optional<uint64_t> number;
  switch (field) {
    case Field::kLiteral:
      return false;
    case Field::kPeer:
      return take_letter(rest, event.peer);
    case Field::kTarget:
      return take_letter(rest, event.target);
    case Field::kChunk:
      if (!(number = take_number(rest, UINT32_MAX))) return false;
      event.chunk = static_cast<uint32_t>(*number);
      return true;
    case Field::kN0:
    case Field::kN1:
    case Field::kN2:
      if (!(number = take_number(rest, UINT64_MAX))) return false;
      event.numbers[static_cast<size_t>(field) - static_cast<size_t>(Field::kN0)] = *number;
      return true;
    case Field::kRound:
      if (!(number = take_number(rest, INT64_MAX))) return false;
      event.round = static_cast<int64_t>(*number);
      return true;
    case Field::kMs:
      return take_ms(rest, event.value_us);
    case Field::kSha:
      return take_sha(rest, event.detail);
    case Field::kClocks:
      if (!parse_clocks(rest)) return false;
      [[fallthrough]];
    case Field::kText:
      event.detail = rest;
      rest = {};
      return true;
  }
  return false;
}

bool match(const CompiledTemplate& t, std::string_view text, LogEvent& event) {
  LogEvent candidate = event;
  for (const Piece& piece : t.pieces) {
    if (piece.field == Field::kLiteral) {
      if (!text.starts_with(piece.literal)) return false;
      text.remove_prefix(piece.literal.size());
    } else if (!take_field(piece.field, text, candidate)) {
      return false;
    }
  }
  if (!text.empty()) return false;
  candidate.kind = t.kind;
  event = candidate;
  return true;
}

// On a peer's lines the peer itself is one end of the message: the
// requester of its own request and delivery, the target of the forwards it
// serves, the receiver of a ROSTER line, the sender of DONE.
void fill_in_self(LogEvent& event) {
  const std::string_view name = event.component;
  if (name.size() != 1 || name[0] < 'A' || name[0] >= 'A' + kMaxPeers) return;
  auto self = static_cast<PeerIndex>(name[0] - 'A');
  switch (event.kind) {
    case K::kForward:
    case K::kChunkData:
      event.target = self;
      break;
    case K::kRequest:
    case K::kIdle:
    case K::kSendChunk:
    case K::kAllIdle:
    case K::kFileComplete:
    case K::kRoster:
    case K::kDone:
    case K::kPeerResumed:
      event.peer = self;
      break;
    default:
      break;
  }
}

bool known_component(std::string_view component) {
  if (component == kServerComponent || component == "?") return true;
  return component.size() == 1 && component[0] >= 'A' && component[0] < 'A' + kMaxPeers;
}

void write_field(const Piece& piece, const LogEvent& event, std::string& out) {
  switch (piece.field) {
    case Field::kLiteral:
      out += piece.literal;
      return;
    case Field::kPeer:
      out += peer_letter(event.peer);
      return;
    case Field::kTarget:
      out += peer_letter(event.target);
      return;
    case Field::kChunk:
      out += fmt::format("{}", event.chunk);
      return;
    case Field::kN0:
    case Field::kN1:
    case Field::kN2:
      out += fmt::format(
          "{}", event.numbers[static_cast<size_t>(piece.field) - static_cast<size_t>(Field::kN0)]);
      return;
    case Field::kRound:
      out += fmt::format("{}", event.round);
      return;
    case Field::kMs:
      out += format_clock_ms(event.value_us);
      return;
    case Field::kSha:
    case Field::kClocks:
    case Field::kText:
      out += event.detail;
      return;
  }
}

}  // namespace

std::string format_log_line(ClockUs clock_us, std::string_view component, std::string_view event) {
  return fmt::format("{} [{}] {}", format_clock_ms(clock_us), component, event);
}

std::string_view log_event_kind_name(LogEventKind kind) {
  auto index = static_cast<size_t>(kind);
  return index < std::size(kKindNames) ? kKindNames[index] : "other";
}

std::optional<LogEvent> parse_log_line(std::string_view line) {
  size_t space = line.find(' ');
  if (space == std::string_view::npos || space + 1 >= line.size() || line[space + 1] != '[') {
    return std::nullopt;
  }
  size_t close = line.find("] ", space + 2);
  if (close == std::string_view::npos) return std::nullopt;
  LogEvent event;
  auto clock = parse_clock_ms(line.substr(0, space));
  event.component = line.substr(space + 2, close - space - 2);
  if (!clock || !known_component(event.component)) return std::nullopt;
  event.clock_us = *clock;
  event.text = line.substr(close + 2);
  bool server = event.from_server();
  for (const CompiledTemplate& t : templates()) {
    if (t.server != server || !event.text.starts_with(t.pieces.front().literal)) continue;
    if (match(t, event.text, event)) break;
  }
  if (!server) fill_in_self(event);
  return event;
}

std::string format_log_event(const LogEvent& event) {
  const CompiledTemplate* t =
      event.kind == K::kOther ? nullptr : template_of(event.kind, event.from_server());
  if (t == nullptr) return std::string(event.text);
  std::string out;
  for (const Piece& piece : t->pieces) write_field(piece, event, out);
  return out;
}

std::optional<ClockUs> parse_clock_ms(std::string_view text) {
  bool negative = text.starts_with('-');
  if (negative) text.remove_prefix(1);
  size_t dot = text.find('.');
  // 15 digits of milliseconds keep the microseconds inside int64_t.
  if (dot == std::string_view::npos || dot == 0 || dot > 15) return std::nullopt;
  std::string_view fraction = text.substr(dot + 1);
  if (fraction.empty() || fraction.size() > 3) return std::nullopt;
  ClockUs ms = 0;
  for (char c : text.substr(0, dot)) {
    if (c < '0' || c > '9') return std::nullopt;
    ms = ms * 10 + (c - '0');
  }
  ClockUs us = 0;
  ClockUs scale = 100;
  for (char c : fraction) {
    if (c < '0' || c > '9') return std::nullopt;
    us += (c - '0') * scale;
    scale /= 10;
  }
  ClockUs value = ms * 1000 + us;
  return negative ? -value : value;
}

std::optional<std::vector<ClockUs>> parse_clocks(std::string_view text) {
  std::vector<ClockUs> clocks;
  while (!text.empty()) {
    if (clocks.size() >= kMaxPeers || text.size() < 3 ||
        text[0] != peer_letter(static_cast<PeerIndex>(clocks.size())) || text[1] != '=') {
      return std::nullopt;
    }
    size_t end = text.find(' ');
    auto clock = parse_clock_ms(text.substr(2, end == std::string_view::npos ? end : end - 2));
    if (!clock) return std::nullopt;
    clocks.push_back(*clock);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (end != std::string_view::npos && text.empty()) return std::nullopt;
  }
  if (clocks.empty()) return std::nullopt;
  return clocks;
}

}  // namespace chunkex
