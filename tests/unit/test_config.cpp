// docs/DESIGN.md §9: configs/default.json reproduces the defaults; invalid
// configuration is an error that names the key.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/config.h"
#include "common/host/imposed_settings.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::contains;

const std::filesystem::path kDefaultConfig =
    std::filesystem::path(__FILE__).parent_path() / "../../configs/default.json";

std::string read_text(const std::filesystem::path& path) {
  std::ifstream file(path);
  REQUIRE_MESSAGE(file, "cannot open " << path.string());
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// The text of the ConfigError that parsing `json` throws ("" if none).
std::string config_error(const std::string& json) {
  try {
    parse_config(json, "test.json");
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

void check_equal(const Config& got, const Config& want) {
  CHECK(got.host == want.host);
  CHECK(got.port == want.port);
  CHECK(got.max_clients == want.max_clients);
  CHECK(got.chunk_bytes == want.chunk_bytes);
  CHECK(got.window == want.window);
  CHECK(got.handshake_timeout_s == want.handshake_timeout_s);
  CHECK(got.costs == want.costs);
  CHECK(got.data_dir == want.data_dir);
  CHECK(got.out_dir == want.out_dir);
  CHECK(got.log_dir == want.log_dir);
}

}  // namespace

TEST_CASE("the built-in defaults are the original design") {
  Config config;
  CHECK(config.port == 9999);
  CHECK(config.max_clients == 4);
  CHECK(config.chunk_bytes == 131072);
  CHECK(config.costs == test::default_costs());
}

TEST_CASE("configs/default.json equals the built-in defaults") {
  check_equal(parse_config(read_text(kDefaultConfig), "default.json"), Config{});
  check_equal(load_config_file(kDefaultConfig.string()), Config{});
}

TEST_CASE("absent keys keep their defaults") {
  Config config = parse_config(R"({"port": 1234, "host": "0.0.0.0"})", "test.json");
  CHECK(config.port == 1234);
  CHECK(config.host == "0.0.0.0");
  Config want;
  want.port = 1234;
  want.host = "0.0.0.0";
  check_equal(config, want);
  check_equal(parse_config("{}", "empty.json"), Config{});
}

TEST_CASE("costs in milliseconds become whole microseconds") {
  Config config = parse_config(
      R"({"max_clients": 2, "costs_ms": {"A": {"chunk": 0.125, "other": 0},
                                         "B": {"chunk": 12, "other": 1.5}}})",
      "test.json");
  CHECK(config.max_clients == 2);
  CHECK(config.costs == std::vector<PeerCosts>{{125, 0}, {12000, 1500}});
}

TEST_CASE("five clients with a cost for E") {
  Config config = parse_config(R"({"max_clients": 5, "costs_ms": {
      "A": {"chunk": 6, "other": 0.6}, "B": {"chunk": 7, "other": 0.7},
      "C": {"chunk": 8, "other": 0.8}, "D": {"chunk": 9, "other": 0.9},
      "E": {"chunk": 10, "other": 1}}})",
                               "test.json");
  CHECK(config.max_clients == 5);
  CHECK(config.costs == test::default_costs(5));
}

TEST_CASE("an unknown key is an error naming it") {
  std::string error = config_error(R"({"colour": "red"})");
  CHECK_MESSAGE(contains(error, "colour"), error);
  CHECK_MESSAGE(contains(error, "test.json"), error);
}

TEST_CASE("a negative cost is an error naming costs_ms.<ID>.<kind>") {
  std::string error = config_error(R"({"costs_ms": {
      "A": {"chunk": 6, "other": 0.6}, "B": {"chunk": -7, "other": 0.7},
      "C": {"chunk": 8, "other": 0.8}, "D": {"chunk": 9, "other": 0.9}}})");
  CHECK_MESSAGE(contains(error, "costs_ms.B.chunk"), error);
  CHECK_MESSAGE(contains(error, "negative"), error);
  std::string tiny = config_error(R"({"max_clients": 2, "costs_ms": {
      "A": {"chunk": 6, "other": 0.6}, "B": {"chunk": 7, "other": -0.001}}})");
  CHECK_MESSAGE(contains(tiny, "costs_ms.B.other"), tiny);
}

TEST_CASE("window and text keys are range-checked and named") {
  CHECK(contains(config_error(R"({"window": 0})"), "window"));
  CHECK(contains(config_error(R"({"window": 1025})"), "window"));
  CHECK(parse_config(R"({"window": 1024})", "test.json").window == 1024);
  CHECK(contains(config_error(R"({"handshake_timeout_s": 0})"), "handshake_timeout_s"));
  CHECK(parse_config(R"({"handshake_timeout_s": 30})", "test.json").handshake_timeout_s == 30);
  CHECK(contains(config_error(R"({"host": ""})"), "host"));
  CHECK(contains(config_error(R"({"log_dir": 7})"), "log_dir"));
}

TEST_CASE("a cost finer than a microsecond is an error") {
  std::string error = config_error(R"({"costs_ms": {
      "A": {"chunk": 6, "other": 0.6001}, "B": {"chunk": 7, "other": 0.7},
      "C": {"chunk": 8, "other": 0.8}, "D": {"chunk": 9, "other": 0.9}}})");
  CHECK_MESSAGE(contains(error, "costs_ms.A.other"), error);
}

TEST_CASE("a cost entry with a missing or unknown field is an error naming it") {
  std::string missing = config_error(R"({"max_clients": 2, "costs_ms": {
      "A": {"chunk": 6}, "B": {"chunk": 7, "other": 0.7}}})");
  CHECK_MESSAGE(contains(missing, "costs_ms.A.other"), missing);
  std::string unknown = config_error(R"({"max_clients": 2, "costs_ms": {
      "A": {"chunk": 6, "other": 1, "extra": 2}, "B": {"chunk": 7, "other": 0.7}}})");
  CHECK_MESSAGE(contains(unknown, "costs_ms.A.extra"), unknown);
}

TEST_CASE("chunk_bytes 0 is an error naming chunk_bytes") {
  std::string error = config_error(R"({"chunk_bytes": 0})");
  CHECK_MESSAGE(contains(error, "chunk_bytes"), error);
}

TEST_CASE("port 70000 is an error naming port") {
  std::string error = config_error(R"({"port": 70000})");
  CHECK_MESSAGE(contains(error, "port"), error);
  CHECK_FALSE(config_error(R"({"port": "9999"})").empty());
}

TEST_CASE("max_clients 5 without costs for E is an error naming costs_ms.E") {
  std::string error = config_error(R"({"max_clients": 5})");
  CHECK_MESSAGE(contains(error, "costs_ms.E"), error);
}

TEST_CASE("max_clients 1 is an error naming max_clients") {
  std::string error = config_error(R"({"max_clients": 1})");
  CHECK_MESSAGE(contains(error, "max_clients"), error);
}

TEST_CASE("text that is not a JSON object is an error") {
  CHECK_FALSE(config_error("port = 9999").empty());
  CHECK_FALSE(config_error(R"({"port": 9999)").empty());
  CHECK_FALSE(config_error("[1, 2]").empty());
  CHECK_FALSE(config_error("").empty());
}

TEST_CASE("a missing config file is an error naming the path") {
  try {
    load_config_file("/nonexistent/chunkex.json");
    FAIL("no error for a missing file");
  } catch (const ConfigError& error) {
    CHECK(contains(error.what(), "/nonexistent/chunkex.json"));
  }
}

TEST_CASE("validate_config catches overrides that break cross-key rules") {
  Config config;
  config.max_clients = 6;
  CHECK_THROWS_AS(validate_config(config, "flags"), ConfigError);
  config = Config{};
  config.window = 0;
  CHECK_THROWS_WITH_AS(validate_config(config, "flags"), doctest::Contains("window"), ConfigError);
  config = Config{};
  config.chunk_bytes = 0;
  CHECK_THROWS_WITH_AS(validate_config(config, "flags"), doctest::Contains("chunk_bytes"),
                       ConfigError);
  CHECK_NOTHROW(validate_config(Config{}, "flags"));
}

TEST_CASE("validate_config names max_clients when it is out of range") {
  Config config;
  config.max_clients = kMaxPeers + 1;
  CHECK_THROWS_WITH_AS(validate_config(config, "flags"), doctest::Contains("'max_clients'"),
                       ConfigError);
}

// Issue 10, point 10: the largest unsigned JSON number read as int64 was -1.
TEST_CASE("chunk_bytes 18446744073709551615 is reported as written, not as -1") {
  std::string error = config_error(R"({"chunk_bytes": 18446744073709551615})");
  CHECK(contains(error, "got 18446744073709551615"));
  CHECK_FALSE(contains(error, "-1"));
}

// Issue 10, point 9: the server's values win, and the client says which.
TEST_CASE("client config differs from the server's: each imposed value is named") {
  Config mine;  // 131072-byte chunks, 4 clients, the default costs
  CHECK(settings_imposed_by_flag(mine, FlagMessage{0, 4, 131072}).empty());
  auto flag = settings_imposed_by_flag(mine, FlagMessage{1, 3, 65536});
  CHECK(flag == std::vector<std::string>{"chunk_bytes 65536 (this client's config: 131072)",
                                         "max_clients 3 (this client's config: 4)"});
  RosterMessage roster;
  roster.costs = mine.costs;
  CHECK(settings_imposed_by_roster(mine, roster).empty());
  roster.costs[1] = PeerCosts{7500, 750};
  roster.costs.push_back(PeerCosts{1000, 100});
  auto costs = settings_imposed_by_roster(mine, roster);
  CHECK(costs == std::vector<std::string>{"costs_ms.B 7.5/0.75 (this client's config: 7.0/0.7)",
                                          "costs_ms.E 1.0/0.1 (this client's config: none)"});
  CHECK(imposed_settings_notice(flag) ==
        "the server's settings win over this client's config: chunk_bytes 65536 (this client's "
        "config: 131072), max_clients 3 (this client's config: 4)");
  CHECK(imposed_settings_notice({}).empty());
}

}  // namespace chunkex
