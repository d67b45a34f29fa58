// chunkex-client: one peer. Connects to the relay, gets its ID, serves its own
// file and assembles every other peer's file, verified by SHA-256.
#include <optional>

#include <asio.hpp>

#include "client/peer_client.h"
#include "common/io/cli.h"

int main(int argc, char** argv) {
  CLI::App app{"chunkex peer: joins the relay, serves its file and receives all the others",
               "chunkex-client"};
  chunkex::ConfigFlags flags;
  std::optional<std::string> data_dir, out_dir, own_file;
  chunkex::add_config_flags(app, flags, "server address", "server TCP port");
  app.add_option("--data-dir", data_dir, "directory holding the own file <ID>.file");
  app.add_option("--file", own_file, "own file to share (overrides <data-dir>/<ID>.file)");
  app.add_option("--out-dir", out_dir,
                 "directory for received files, named <ID>_<PEER>_complete.file");
  return chunkex::run_main(app, argc, argv, [&] {
    chunkex::Config config = chunkex::resolve_config(flags);
    if (data_dir) config.data_dir = *data_dir;
    if (out_dir) config.out_dir = *out_dir;
    chunkex::FileChunkStore store(own_file, config.data_dir, config.out_dir);
    asio::io_context io;
    chunkex::PeerClient client(io, config, store);
    client.start();
    io.run();
    return client.exit_code();
  });
}
