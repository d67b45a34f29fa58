// The file edges under faults (issue 10): a log write that fails is kept as
// an error naming the file, never dropped; files chunkex writes are never
// written through a symbolic link planted in their place; saved counters are
// read strictly.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "common/host/saved_exchange.h"
#include "common/io/file_chunk_store.h"
#include "common/io/log_file.h"
#include "test_support.h"

namespace chunkex {
namespace {

using test::contains;
namespace fs = std::filesystem;

// A fresh directory under the system's temporary directory, removed after.
struct ScratchDir {
  ScratchDir() {
    path = fs::temp_directory_path() / fmt::format("chunkex-unit-{}", ::getpid());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  fs::path path;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A target outside chunkex's files, and a link to it where chunkex writes.
std::string plant_link(const ScratchDir& dir, const std::string& link_name) {
  std::string target = dir.file("precious.txt");
  std::ofstream(target) << "keep me\n";
  fs::create_symlink(target, dir.file(link_name));
  return target;
}

}  // namespace

TEST_CASE("log write fails on a full disk: the error names the file and the reason") {
  LogFile log;
  log.open("/dev", "full");  // every write to /dev/full fails with ENOSPC
  for (int i = 0; i < 100; ++i) log.write_line("0.0 [Server] a line");
  log.close();
  REQUIRE(log.error());
  CHECK(*log.error() == "cannot write log /dev/full: No space left on device");
}

TEST_CASE("a log is never written through a symbolic link") {
  ScratchDir dir;
  std::string target = plant_link(dir, "ClientA.txt");
  LogFile log;
  CHECK_THROWS_WITH(log.open(dir.path.string(), "ClientA.txt"),
                    doctest::Contains("it is a symbolic link"));
  CHECK(read_text(target) == "keep me\n");
}

TEST_CASE("summary.json.part as a symbolic link is replaced, its target untouched") {
  ScratchDir dir;
  std::string target = plant_link(dir, "summary.json.part");
  write_file_atomically(dir.file("summary.json"), "{}\n");
  CHECK(read_text(target) == "keep me\n");
  CHECK(read_text(dir.file("summary.json")) == "{}\n");
  CHECK_FALSE(fs::exists(fs::symlink_status(dir.file("summary.json.part"))));
}

TEST_CASE("a received file's .part as a symbolic link is replaced, its target untouched") {
  ScratchDir dir;
  std::string target = plant_link(dir, "A_B_complete.file.part");
  FileChunkStore store(std::nullopt, dir.path.string(), dir.path.string());
  store.name_files_for(0);
  store.begin_file(1, 10);
  CHECK(read_text(target) == "keep me\n");
  CHECK(fs::is_regular_file(fs::symlink_status(dir.file("A_B_complete.file.part"))));
  CHECK(fs::file_size(dir.file("A_B_complete.file.part")) == 10);
}

TEST_CASE("resuming through a .part that is a symbolic link is refused") {
  ScratchDir dir;
  plant_link(dir, "A_B_complete.file.part");
  FileChunkStore store(std::nullopt, dir.path.string(), dir.path.string());
  store.name_files_for(0);
  CHECK_THROWS_WITH(store.resume_file(1, 10, 0), doctest::Contains("is a symbolic link"));
}

TEST_CASE("own file shrinks: the store names the file and both sizes") {
  ScratchDir dir;
  std::ofstream(dir.file("A.file")) << std::string(3000, 'x');
  FileChunkStore store(std::nullopt, dir.path.string(), dir.path.string());
  store.open_own_file(0);
  CHECK_FALSE(store.own_file_problem());
  fs::resize_file(dir.file("A.file"), 1200);
  REQUIRE(store.own_file_problem());
  CHECK(*store.own_file_problem() ==
        "own file " + dir.file("A.file") + " shrank from 3000 to 1200 bytes during the exchange");
}

TEST_CASE("an unwritable directory is found out before anything is sent") {
  ScratchDir dir;
  std::ofstream(dir.file("not-a-dir")) << "x";
  auto problem = check_writable_directory(dir.file("not-a-dir") + "/out");
  REQUIRE(problem);
  CHECK(contains(*problem, "not-a-dir/out cannot be written"));
  CHECK_FALSE(check_writable_directory(dir.file("fresh/out")));
  CHECK_FALSE(fs::exists(dir.file("fresh")));  // nothing is created
  CHECK_FALSE(check_writable_directory(dir.path.string()));
  CHECK(std::distance(fs::directory_iterator(dir.path), {}) == 1);  // the probe is gone
}

TEST_CASE("saved counters are strict: 12abc, -5 and 2^64 are not numbers") {
  CHECK(parse_decimal_u64("12") == 12u);
  CHECK(parse_decimal_u64("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"12abc", "-5", "", " 1", "18446744073709551616", "+3"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_decimal_u64(bad));
  }
}

TEST_CASE("a progress file with a lenient counter is not saved progress") {
  ScratchDir dir;
  FileChunkStore store(std::nullopt, dir.path.string(), dir.path.string());
  SavedProgress saved{0, FileAnnouncement{3000, {}}, {}, 12};
  store.begin_progress(saved);
  REQUIRE(store.saved_progress(0) == saved);
  std::string text = read_text(store.progress_path(0));
  std::string counter = "00000000000000000012";
  text.replace(text.find(counter), counter.size(), "000000000000000012ab");
  std::ofstream(store.progress_path(0), std::ios::trunc) << text;
  CHECK_FALSE(store.saved_progress(0));
}

}  // namespace chunkex
