// chunkex-client: one peer. Connects to the relay, gets its ID, serves its own
// file and assembles every other peer's file, verified by SHA-256. The
// protocol and its policies live in common/ (PeerHost over the Asio link).
#include <optional>
#include <stdexcept>
#include <string>

#include <asio.hpp>

#include "common/io/cli.h"
#include "common/io/console.h"
#include "common/io/file_chunk_store.h"
#include "common/io/file_records.h"
#include "common/io/log_file.h"
#include "common/net/asio_links.h"

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
    // Found out before connecting, a directory that cannot be written costs
    // nobody else their exchange.
    for (const std::string& dir : {config.out_dir, config.log_dir}) {
      if (auto problem = chunkex::check_writable_directory(dir)) {
        throw std::runtime_error(*problem + "; nothing was sent to the server");
      }
    }
    chunkex::FileChunkStore store(own_file, config.data_dir, config.out_dir);
    chunkex::Console console("[client] ");
    chunkex::FilePeerRecords records(config.log_dir);
    asio::io_context io;
    chunkex::AsioPeerLink link(io, config, store);
    chunkex::PeerHost host(config, store, link, records, console);
    link.attach(host);
    link.start();
    io.run();
    return host.exit_code();
  });
}
