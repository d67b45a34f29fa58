#include "common/host/peer_host.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/host/imposed_settings.h"
#include "common/units.h"

namespace chunkex {

PeerHost::PeerHost(const Config& config, ChunkStore& store, PeerLink& link, PeerRecords& records,
                   Notices& notices)
    : config_(config), store_(store), link_(link), records_(records), notices_(notices) {}

void PeerHost::start(TimeMs now_ms) {
  now_ms_ = started_ms_ = now_ms;
  connecting_ = true;
  connect_deadline_ms_ = now_ms + kConnectTimeoutMs;
  link_.connect();
}

// A fresh PeerCore per connection: a returning one finds its saved progress
// through the store, exactly as a restarted process would.
// The core's time leaves out what the process spent frozen (HostClock).
void PeerHost::tell_core_time(TimeMs now_ms) {
  core_->on_time(clock_.core_time(now_ms));
}

void PeerHost::on_connected(const std::string& address, TimeMs now_ms) {
  now_ms_ = now_ms;
  connecting_ = false;
  connect_deadline_ms_ = kNoDeadline;
  ++sessions_;
  notices_.say("connected to " + address);
  PeerSettings settings{config_.window, config_.idle_timeout_s, PeerAuth{config_.token}};
  settings.handshake_timeout_s = config_.handshake_timeout_s;
  core_.emplace(settings, store_, static_cast<PeerOutbox&>(*this));
  tell_core_time(now_ms);
  core_->on_connected();
  last_progress_ms_ = now_ms;
  if (notices_.progress_period_ms() > 0) next_progress_ms_ = now_ms + notices_.progress_period_ms();
}

void PeerHost::on_connect_failed(bool refused, const std::string& why, TimeMs now_ms) {
  now_ms_ = now_ms;
  if (!connecting_) return;
  connecting_ = false;
  connect_deadline_ms_ = kNoDeadline;
  std::string where = fmt::format("{}:{}", config_.host, config_.port);
  PeerOutcome gone;
  if (sessions_ == 0) {
    gone.failure = fmt::format("cannot connect to the server at {}: {}", where, why);
    return end(gone);
  }
  gone.resumable = true;
  if (refused) {
    gone.failure = fmt::format(
        "lost the connection to the server, and it refuses new ones ({}: {}): it stopped or "
        "crashed",
        where, why);
    return end(gone);
  }
  if (now_ms >= reconnect_until_ms_) {
    gone.failure =
        fmt::format("lost the connection to the server and could not connect again within {} s: {}",
                    config_.reconnect_grace_s, why);
    return end(gone);
  }
  next_attempt_ms_ = now_ms + kReconnectPeriodMs;
}

void PeerHost::on_frame(Frame frame, TimeMs now_ms) {
  if (!core_ || core_->finished()) return;
  now_ms_ = now_ms;
  tell_core_time(now_ms);
  bool is_flag = frame.type == FrameType::kFlag;
  tell_imposed_settings(frame);
  core_->on_frame(std::move(frame));
  // Until FLAG names the chunk size, the decoder allows the protocol maximum.
  if (is_flag && core_ && !core_->finished()) link_.set_chunk_bytes_max(core_->chunk_bytes());
  check_records();
}

// Once per process: a reconnection hears the same values again.
void PeerHost::tell_imposed_settings(const Frame& frame) {
  std::vector<std::string> differences;
  if (auto flag = frame.type == FrameType::kFlag ? decode_flag(frame) : std::nullopt;
      flag && !flag_settings_told_) {
    flag_settings_told_ = true;
    differences = settings_imposed_by_flag(config_, *flag);
  }
  if (auto roster = frame.type == FrameType::kRoster ? decode_roster(frame) : std::nullopt;
      roster && !roster_settings_told_) {
    roster_settings_told_ = true;
    differences = settings_imposed_by_roster(config_, *roster);
  }
  if (!differences.empty()) notices_.say(imposed_settings_notice(differences));
}

void PeerHost::on_stream_error(const std::string& what, TimeMs now_ms) {
  if (!core_ || core_->finished()) return;
  now_ms_ = now_ms;
  tell_core_time(now_ms);
  core_->on_stream_error(what);
}

// The transport ends a connection whose own chunk it could not read to the
// end: if the own file is the cause, say so rather than reconnect.
void PeerHost::on_closed(TimeMs now_ms) {
  if (!core_ || core_->finished()) return;
  now_ms_ = now_ms;
  tell_core_time(now_ms);
  std::optional<std::string> problem =
      core_->exchanging() ? store_.own_file_problem() : std::nullopt;
  if (problem) return core_->on_local_failure(*problem);
  core_->on_disconnect();
}

void PeerHost::on_shutdown(const std::string& why, int exit_code, TimeMs now_ms) {
  now_ms_ = now_ms;
  shutdown_exit_code_ = exit_code;
  if (core_ && !core_->finished()) {
    tell_core_time(now_ms);
    return core_->on_shutdown(why);
  }
  if (ended_) return;
  // Stopped while waiting to connect again.
  if (connecting_) link_.abort_connect();
  connecting_ = false;
  PeerOutcome stopped;
  stopped.resumable = sessions_ > 0;
  stopped.failure = sessions_ > 0 ? "stopped while connecting again to the server"
                                  : "stopped while connecting to the server";
  end(stopped);
}

void PeerHost::on_time(TimeMs now_ms) {
  now_ms_ = now_ms;
  if (core_ && !core_->finished()) tell_core_time(now_ms);
  check_records();
  if (now_ms >= next_progress_ms_) show_progress(now_ms);
  if (connecting_ && now_ms >= connect_deadline_ms_) {
    link_.abort_connect();
    on_connect_failed(false, fmt::format("no answer within {} s", kConnectTimeoutMs / 1000),
                      now_ms);
  }
  if (!ended_ && !connecting_ && now_ms >= next_attempt_ms_) {
    next_attempt_ms_ = kNoDeadline;
    connecting_ = true;
    connect_deadline_ms_ = now_ms + kConnectTimeoutMs;
    link_.connect();
  }
}

TimeMs PeerHost::next_deadline_ms() const {
  if (ended_) return kNoDeadline;
  TimeMs next = std::min({next_progress_ms_, connect_deadline_ms_, next_attempt_ms_});
  if (core_ && !core_->finished())
    next = std::min(next, clock_.link_time(core_->next_deadline_ms()));
  clock_.set_due(next);
  return next;
}

void PeerHost::send_own_chunk(FrameType type, const ChunkHeader& header, uint64_t offset,
                              uint32_t length) {
  link_.send_own_chunk(make_chunk_frame(type, header, 0), offset, length);
}

// ClientX.txt is written anew by every session: a returning core replays
// the rounds completed before, so the file ends up as one run would write it.
// Lines before the server named this peer have no file to go to.
void PeerHost::log(std::string line) {
  if (!log_open_) {
    if (!core_ || !core_->self()) return;
    records_.open_log(*core_->self());
    log_open_ = true;
  }
  records_.log_line(line);
}

void PeerHost::show_progress(TimeMs now_ms) {
  next_progress_ms_ = now_ms + notices_.progress_period_ms();
  if (!core_ || !core_->self()) return;
  PeerProgress progress = core_->progress();
  if (progress.chunks_needed == 0) return;
  double seconds = static_cast<double>(now_ms - last_progress_ms_) / 1000.0;
  double rate = seconds > 0
                    ? static_cast<double>(progress.bytes_received - last_progress_bytes_) / seconds
                    : 0;
  last_progress_ms_ = now_ms;
  last_progress_bytes_ = progress.bytes_received;
  notices_.progress(fmt::format("{}: {}/{} chunks received, {}/s", peer_letter(*core_->self()),
                                progress.chunks_received, progress.chunks_needed,
                                format_bytes(rate)));
}

void PeerHost::finished(const PeerOutcome& outcome) {
  if (log_open_) records_.close_log();
  log_open_ = false;
  notices_.end_progress();
  next_progress_ms_ = kNoDeadline;
  link_.close_after_flush();
  PeerOutcome result = outcome;
  // The log failed as it was closed (or just before): the run failed, and
  // connecting again would not mend the disk.
  if (auto failure = records_.write_failure(); failure && !write_failure_reported_) {
    write_failure_reported_ = true;
    result.success = false;
    result.connection_lost = false;
    result.failure = result.failure.empty() ? *failure : result.failure + "; " + *failure;
  }
  if (!try_reconnect(result, now_ms_)) end(result);
}

void PeerHost::check_records() {
  std::optional<std::string> failure = records_.write_failure();
  if (!failure || write_failure_reported_ || !core_ || core_->finished()) return;
  write_failure_reported_ = true;
  core_->on_local_failure(*failure);
}

// Only a dropped connection mid-exchange is worth another try; the server
// keeps the slot for reconnect_grace_s, so that is how long to keep trying.
bool PeerHost::try_reconnect(const PeerOutcome& outcome, TimeMs now_ms) {
  if (outcome.success || !outcome.connection_lost || !outcome.resumable ||
      config_.reconnect_grace_s == 0 || shutdown_exit_code_ != 0) {
    return false;
  }
  // Each drop opens a pause of its own on the server, so a window of its own.
  reconnect_until_ms_ = now_ms + seconds_to_ms(config_.reconnect_grace_s);
  notices_.warn(fmt::format("{}; connecting again (for up to {} s)", outcome.failure,
                            config_.reconnect_grace_s));
  next_attempt_ms_ = now_ms + kReconnectPeriodMs;
  return true;
}

void PeerHost::end(const PeerOutcome& outcome) {
  ended_ = outcome;
  next_attempt_ms_ = connect_deadline_ms_ = next_progress_ms_ = kNoDeadline;
  exit_code_ = outcome.success ? 0 : (shutdown_exit_code_ ? shutdown_exit_code_ : 1);
  if (outcome.success) {
    double seconds = static_cast<double>(now_ms_ - started_ms_) / 1000.0;
    notices_.say(fmt::format("{}: done in {:.2f} s: {} files verified; final clocks {}",
                             peer_letter(*outcome.self), seconds, outcome.verified_owners.size(),
                             format_clocks(outcome.final_clocks_us)));
    return;
  }
  notices_.error(outcome.failure);
  if (outcome.resumable) {
    notices_.say(
        fmt::format("partial files and progress are kept in {}: start this client "
                    "again (with the server) to resume",
                    config_.out_dir));
  }
}

}  // namespace chunkex
