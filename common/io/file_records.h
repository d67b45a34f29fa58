// The hosts' records as files: Server.txt, exchange.state and summary.json in
// the log directory for the relay; ClientX.txt for a peer.
#pragma once

#include <optional>
#include <string>

#include "common/config.h"
#include "common/host/peer_host.h"
#include "common/host/relay_host.h"
#include "common/io/counter_file.h"
#include "common/io/log_file.h"

namespace chunkex {

// `<log_dir>/exchange.state`: the exchange a server saves when it starts one.
std::string saved_exchange_path(const Config& config);

class FileRelayRecords : public RelayRecords {
 public:
  // Opens `<log_dir>/Server.txt` (throws std::runtime_error naming the path).
  explicit FileRelayRecords(const Config& config);

  void log_line(const std::string& line) override { log_.write_line(line); }
  void close_log() override { log_.close(); }
  void save_exchange(const SavedExchange& exchange) override;
  void clear_saved_exchange() override { saved_.remove(); }
  std::string saved_exchange_location() const override { return saved_exchange_path(config_); }
  void write_summary(const nlohmann::json& summary) override;
  std::optional<std::string> write_failure() const override;
  // Where the summary went, once written.
  const std::string& summary_path() const { return summary_path_; }

 private:
  Config config_;
  LogFile log_;
  CounterFile saved_;
  std::optional<RosterMessage> saved_roster_;
  std::string summary_path_;
  std::optional<std::string> failure_;  // of the saved exchange or the summary
};

class FilePeerRecords : public PeerRecords {
 public:
  explicit FilePeerRecords(std::string log_dir) : log_dir_(std::move(log_dir)) {}
  void open_log(PeerIndex self) override;
  void log_line(const std::string& line) override { log_.write_line(line); }
  void close_log() override { log_.close(); }
  std::optional<std::string> write_failure() const override;

 private:
  std::string log_dir_;
  LogFile log_;
  std::optional<std::string> open_failure_;
};

// The saved exchange, if any. Throws std::runtime_error when it cannot be
// resumed with this configuration (another chunk size or other costs).
std::optional<SavedExchange> load_saved_exchange(const Config& config);

}  // namespace chunkex
