// The peer's transport: connects to the relay, feeds frames to PeerCore and
// writes what it asks. Chunks are read and written in place through
// FileChunkStore; the log file ClientX.txt opens once the server assigns X.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include <asio.hpp>

#include "common/config.h"
#include "common/io/console.h"
#include "common/io/file_chunk_store.h"
#include "common/io/log_file.h"
#include "common/net/frame_connection.h"
#include "common/peer_core.h"

namespace chunkex {

class PeerClient : public PeerOutbox {
 public:
  // `store` must outlive the client.
  PeerClient(asio::io_context& io, Config config, FileChunkStore& store);

  // Connects (throws std::runtime_error when the server cannot be reached)
  // and starts the exchange. Should the connection drop mid-exchange, the
  // client connects again by itself for up to reconnect_grace_s and resumes
  // from its saved progress; a server that refuses the connection is gone.
  void start();
  int exit_code() const { return exit_code_; }

  // PeerOutbox
  void send(Frame frame) override;
  void send_own_chunk(FrameType type, const ChunkHeader& header, uint64_t offset,
                      uint32_t length) override;
  void log(std::string line) override;
  void notice(std::string text) override;
  void finished(const PeerOutcome& outcome) override;

 private:
  void start_session(asio::ip::tcp::socket socket);
  bool try_reconnect(const PeerOutcome& outcome);
  void reconnect_attempt();
  void connect_again();
  void reconnect_failed(const asio::error_code& ec);
  void end(const PeerOutcome& outcome);
  void on_frame(Frame frame);
  void watch_signals();
  void schedule_progress();
  void show_progress();

  asio::io_context& io_;
  Config config_;
  FileChunkStore& store_;
  asio::signal_set signals_;
  asio::steady_timer progress_timer_;
  asio::steady_timer reconnect_timer_;
  std::chrono::steady_clock::time_point reconnect_until_{};
  uint32_t sessions_ = 0;
  Console console_;
  LogFile log_;
  std::optional<PeerCore> core_;  // a new one for every connection
  std::shared_ptr<FrameConnection> connection_;
  std::chrono::steady_clock::time_point started_at_{};
  std::chrono::steady_clock::time_point last_progress_at_{};
  uint64_t last_progress_bytes_ = 0;
  int signal_exit_code_ = 0;
  int exit_code_ = 1;
};

}  // namespace chunkex
