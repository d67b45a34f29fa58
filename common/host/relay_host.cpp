#include "common/host/relay_host.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/sha256.h"
#include "common/units.h"

namespace chunkex {
namespace {

// Memory budgets. Answers of forwarded rounds wait in the relay until their
// round is complete, so the rounds forwarded ahead of delivery are capped by
// bytes (32 rounds for 4 peers of 128 KiB chunks); and no new round is
// forwarded while more than kMaxQueuedOutputBytes wait for slow sockets.
constexpr uint64_t kMaxBufferedAnswerBytes = 16u << 20;
constexpr uint64_t kMaxQueuedOutputBytes = 8u << 20;

double ms_of(ClockUs clock_us) {
  return static_cast<double>(clock_us) / 1000.0;
}

}  // namespace

RelaySettings relay_settings_of(const Config& config, std::optional<SavedExchange> resume_from) {
  uint64_t round_bytes = static_cast<uint64_t>(config.max_clients) * config.chunk_bytes;
  auto rounds_by_memory =
      static_cast<uint32_t>(std::max<uint64_t>(1, kMaxBufferedAnswerBytes / round_bytes));
  RelaySettings settings;
  settings.max_clients = config.max_clients;
  settings.chunk_bytes = config.chunk_bytes;
  settings.costs = config.costs;
  settings.rounds_in_flight_max = std::min(config.window, rounds_by_memory);
  settings.token = config.token;
  settings.grace_s = config.reconnect_grace_s;
  settings.handshake_timeout_s = config.handshake_timeout_s;
  settings.stall_timeout_s = config.idle_timeout_s;
  settings.queued_output_bytes_max = kMaxQueuedOutputBytes;
  settings.resume_from = std::move(resume_from);
  return settings;
}

RelayHost::RelayHost(const Config& config, std::optional<SavedExchange> resume_from,
                     RelayLink& link, RelayRecords& records, Notices& notices, TimeMs now_ms)
    : config_(config),
      link_(link),
      records_(records),
      notices_(notices),
      core_(relay_settings_of(config, std::move(resume_from)), *this),
      now_ms_(now_ms) {
  core_.on_time(now_ms);
}

void RelayHost::on_listening(const std::string& address, bool loopback, TimeMs now_ms) {
  if (!loopback && config_.token.empty()) {
    notices_.warn(fmt::format(
        "listening on {} without a token: anyone who can reach this port can take a client "
        "slot; set --token or CHUNKEX_TOKEN on the server and every client",
        address));
  }
  if (core_.exchange_started()) {
    notices_.say(
        fmt::format("resuming the exchange saved in {} after {} rounds (--fresh starts "
                    "a new one); waiting for every client to come back",
                    records_.saved_exchange_location(), core_.rounds_delivered()));
  }
  notices_.say(fmt::format("waiting for {} clients{}", config_.max_clients,
                           config_.token.empty() ? "" : " (token required)"));
  after_event(now_ms);
}

// The core's time leaves out what the process spent frozen (HostClock).
void RelayHost::tell_core_time(TimeMs now_ms) {
  core_.on_time(clock_.core_time(now_ms));
}

void RelayHost::on_connect(ConnId conn, TimeMs now_ms) {
  tell_core_time(now_ms);
  core_.on_connect(conn);
  after_event(now_ms);
}

void RelayHost::on_frame(ConnId conn, Frame frame, TimeMs now_ms) {
  tell_core_time(now_ms);
  core_.on_frame(conn, std::move(frame));
  after_event(now_ms);
}

void RelayHost::on_stream_error(ConnId conn, const std::string& what, TimeMs now_ms) {
  tell_core_time(now_ms);
  core_.on_stream_error(conn, what);
  after_event(now_ms);
}

void RelayHost::on_closed(ConnId conn, TimeMs now_ms) {
  tell_core_time(now_ms);
  core_.on_disconnect(conn);
  after_event(now_ms);
}

void RelayHost::on_output_written(TimeMs now_ms) {
  tell_core_time(now_ms);
  core_.on_output_queued(link_.queued_bytes());
  after_event(now_ms);
}

void RelayHost::on_shutdown(const std::string& why, int exit_code, TimeMs now_ms) {
  shutdown_exit_code_ = exit_code;
  tell_core_time(now_ms);
  core_.on_shutdown(why);
  after_event(now_ms);
}

void RelayHost::on_time(TimeMs now_ms) {
  tell_core_time(now_ms);
  if (now_ms >= next_progress_ms_) show_progress(now_ms);
  if (finished_ && now_ms >= flush_deadline_ms_ && !flushed_) {
    flushed_ = true;
    link_.close_all_now();
  }
  after_event(now_ms);
}

TimeMs RelayHost::next_deadline_ms() const {
  TimeMs next = finished_ ? (flushed_ ? kNoDeadline : flush_deadline_ms_)
                          : std::min(clock_.link_time(core_.next_deadline_ms()), next_progress_ms_);
  clock_.set_due(next);
  return next;
}

void RelayHost::after_event(TimeMs now_ms) {
  now_ms_ = now_ms;
  check_records();
  if (!started_at_ms_ && core_.exchange_started() && !finished_) {
    started_at_ms_ = last_progress_ms_ = now_ms;
    if (notices_.progress_period_ms() > 0)
      next_progress_ms_ = now_ms + notices_.progress_period_ms();
  }
}

void RelayHost::show_progress(TimeMs now_ms) {
  next_progress_ms_ = now_ms + notices_.progress_period_ms();
  RelayProgress progress = core_.progress();
  double seconds = static_cast<double>(now_ms - last_progress_ms_) / 1000.0;
  last_progress_ms_ = now_ms;
  last_progress_bytes_.resize(progress.bytes_received.size(), 0);
  std::string text = fmt::format("round {}/{}", progress.rounds_delivered, progress.rounds_total);
  for (size_t i = 0; i < progress.chunks_received.size(); ++i) {
    uint64_t delta = progress.bytes_received[i] - last_progress_bytes_[i];
    last_progress_bytes_[i] = progress.bytes_received[i];
    text += fmt::format(" | {} {}/{} {}/s", peer_letter(static_cast<PeerIndex>(i)),
                        progress.chunks_received[i], progress.chunks_needed[i],
                        format_bytes(seconds > 0 ? static_cast<double>(delta) / seconds : 0));
  }
  if (progress.paused) text += " | paused: waiting for a client to come back";
  notices_.progress(text);
}

void RelayHost::finished(const RelayOutcome& outcome) {
  double wall_seconds =
      started_at_ms_ ? static_cast<double>(now_ms_ - *started_at_ms_) / 1000.0 : 0.0;
  finished_ = true;
  outcome_ = outcome;
  next_progress_ms_ = kNoDeadline;
  records_.close_log();
  // A failed exchange stays saved, for a restarted server to resume.
  if (outcome.success) records_.clear_saved_exchange();
  exit_code_ = outcome.success ? 0 : (shutdown_exit_code_ ? shutdown_exit_code_ : 1);
  print_summary(outcome, wall_seconds);
  nlohmann::json summary = summary_json(outcome, wall_seconds);
  if (auto failure = records_.write_failure(); failure && outcome.success) {
    summary["success"] = false;
    summary["failure"] = *failure;
  }
  records_.write_summary(summary);
  link_.stop_accepting();
  flush_deadline_ms_ = now_ms_ + kFlushDeadlineMs;
  check_records();
}

void RelayHost::check_records() {
  std::optional<std::string> failure = records_.write_failure();
  if (!failure || write_failure_reported_) return;
  write_failure_reported_ = true;
  if (!finished_) {
    shutdown_exit_code_ = 1;
    return core_.on_shutdown(*failure);
  }
  exit_code_ = 1;
  notices_.error(*failure);
}

void RelayHost::print_summary(const RelayOutcome& outcome, double wall_seconds) {
  notices_.end_progress();
  if (!outcome.success) {
    notices_.error(
        fmt::format("exchange failed after {} rounds: {}", outcome.rounds, outcome.failure));
    return;
  }
  uint64_t in = link_.bytes_received(), out = link_.bytes_sent();
  double relayed = static_cast<double>(in + out);
  size_t verified = 0;
  for (const auto& owners : outcome.verified_owners) verified += owners.size();
  notices_.say(
      fmt::format("exchange complete: {} rounds in {:.2f} s", outcome.rounds, wall_seconds));
  notices_.say("final clocks " + format_clocks(outcome.final_clocks_us));
  notices_.say(fmt::format("relayed {} ({} in, {} out), {}/s", format_bytes(relayed),
                           format_bytes(double(in)), format_bytes(double(out)),
                           format_bytes(wall_seconds > 0 ? relayed / wall_seconds : 0)));
  for (size_t i = 0; i < outcome.verified_owners.size(); ++i) {
    std::string owners;
    for (PeerIndex owner : outcome.verified_owners[i])
      owners += fmt::format(" {}", peer_letter(owner));
    notices_.say(fmt::format("client {} verified the files of{}",
                             peer_letter(static_cast<PeerIndex>(i)), owners));
  }
  notices_.say(fmt::format("files verified: {} of {}", verified,
                           outcome.files.size() * (outcome.files.size() - 1)));
  if (outcome.rejected_connections > 0) {
    notices_.say(fmt::format("connections rejected: {}", outcome.rejected_connections));
  }
  if (outcome.disconnects > 0) {
    notices_.say(fmt::format("clients lost: {}, came back: {}; chunk data sent again: {}",
                             outcome.disconnects, outcome.reconnects,
                             format_bytes(double(outcome.refetched_bytes))));
  }
}

nlohmann::json RelayHost::summary_json(const RelayOutcome& outcome, double wall_seconds) const {
  return relay_summary_json(outcome, wall_seconds, link_.bytes_received(), link_.bytes_sent());
}

nlohmann::json relay_summary_json(const RelayOutcome& outcome, double wall_seconds,
                                  uint64_t received, uint64_t sent) {
  using nlohmann::json;
  json summary = {
      {"success", outcome.success},
      {"rounds", outcome.rounds},
      {"wall_seconds", wall_seconds},
      {"bytes_relayed", {{"received", received}, {"sent", sent}, {"total", received + sent}}},
      {"goodput_bytes_per_second",
       wall_seconds > 0 ? static_cast<double>(received + sent) / wall_seconds : 0.0},
      {"rejected_connections", outcome.rejected_connections},
      {"disconnects", outcome.disconnects},
      {"reconnects", outcome.reconnects},
      {"refetched_bytes", outcome.refetched_bytes},
  };
  if (!outcome.success) summary["failure"] = outcome.failure;
  for (size_t i = 0; i < outcome.final_clocks_us.size(); ++i) {
    std::string id = peer_name(static_cast<PeerIndex>(i));
    summary["final_clocks_ms"][id] = ms_of(outcome.final_clocks_us[i]);
    summary["final_clocks_us"][id] = outcome.final_clocks_us[i];
  }
  for (size_t i = 0; i < outcome.files.size(); ++i) {
    std::string id = peer_name(static_cast<PeerIndex>(i));
    summary["files"][id] = {{"size_bytes", outcome.files[i].size_bytes},
                            {"sha256", to_hex(outcome.files[i].sha256)}};
    for (PeerIndex owner = 0; owner < outcome.files.size(); ++owner) {
      if (owner == i) continue;
      const auto& verified = outcome.verified_owners[i];
      summary["received"][id][peer_name(owner)] =
          std::find(verified.begin(), verified.end(), owner) != verified.end() ? "verified"
                                                                               : "missing";
    }
  }
  return summary;
}

}  // namespace chunkex
