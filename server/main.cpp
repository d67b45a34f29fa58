// chunkex-server: the relay. Accepts max_clients peers, runs the lock-step
// exchange and exits 0 once every peer has verified every file.
#include <asio.hpp>

#include "common/io/cli.h"
#include "server/relay_server.h"

int main(int argc, char** argv) {
  CLI::App app{"chunkex relay server: accepts the peers and runs the lock-step chunk exchange",
               "chunkex-server"};
  chunkex::ConfigFlags flags;
  chunkex::add_config_flags(app, flags);
  return chunkex::run_main(app, argc, argv, [&] {
    chunkex::Config config = chunkex::resolve_config(flags);
    asio::io_context io;
    chunkex::RelayServer server(io, config);
    server.listen();
    io.run();
    return server.exit_code();
  });
}
