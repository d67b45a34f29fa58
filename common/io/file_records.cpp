#include "common/io/file_records.h"

#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "common/host/saved_exchange.h"

namespace chunkex {

FileRelayRecords::FileRelayRecords(const Config& config) : config_(config) {
  log_.open(config.log_dir, "Server.txt");
}

// The head is written once per exchange; every delivered round after that
// rewrites the counter alone.
// A failure is kept, not thrown: the host ends the exchange with it.
void FileRelayRecords::save_exchange(const SavedExchange& exchange) {
  if (failure_) return;
  bool same_exchange = saved_.is_open() && saved_roster_ &&
                       saved_roster_->files == exchange.roster.files &&
                       saved_roster_->costs == exchange.roster.costs;
  try {
    if (same_exchange) return saved_.update(exchange.delivered_rounds);
    saved_.create(saved_exchange_path(config_), kSavedExchangeMagic,
                  saved_exchange_head(exchange.roster, config_.chunk_bytes),
                  kSavedExchangeCounterKey, exchange.delivered_rounds);
    saved_roster_ = exchange.roster;
  } catch (const std::runtime_error& error) {
    failure_ = error.what();
  }
}

void FileRelayRecords::write_summary(const nlohmann::json& summary) {
  std::string path = (std::filesystem::path(config_.log_dir) / "summary.json").string();
  try {
    write_file_atomically(path, summary.dump(2) + "\n");
    summary_path_ = path;
  } catch (const std::runtime_error& error) {
    if (!failure_) failure_ = error.what();
  }
}

std::optional<std::string> FileRelayRecords::write_failure() const {
  return log_.error() ? log_.error() : failure_;
}

void FilePeerRecords::open_log(PeerIndex self) {
  open_failure_.reset();
  try {
    log_.open(log_dir_, fmt::format("Client{}.txt", peer_letter(self)));
  } catch (const std::runtime_error& error) {
    open_failure_ = error.what();
  }
}

std::optional<std::string> FilePeerRecords::write_failure() const {
  return open_failure_ ? open_failure_ : log_.error();
}

std::string saved_exchange_path(const Config& config) {
  return (std::filesystem::path(config.log_dir) / "exchange.state").string();
}

std::optional<SavedExchange> load_saved_exchange(const Config& config) {
  std::string path = saved_exchange_path(config);
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto unusable = [&](const std::string& why) {
    return std::runtime_error(fmt::format(
        "{} holds an unfinished exchange, but {}; run with --fresh to start a new one", path, why));
  };
  auto fields = read_counter_file(path, kSavedExchangeMagic);
  if (!fields) throw unusable("it is not a saved exchange");
  auto parsed = parse_saved_exchange(*fields, config);
  if (auto* why = std::get_if<std::string>(&parsed)) throw unusable(*why);
  return std::get<SavedExchange>(parsed);
}

}  // namespace chunkex
