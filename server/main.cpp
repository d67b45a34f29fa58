// chunkex-server: the relay. Accepts max_clients peers, runs the lock-step
// exchange and exits 0 once every peer has verified every file.
#include <asio.hpp>

#include "common/io/cli.h"
#include "server/relay_server.h"

int main(int argc, char** argv) {
  CLI::App app{"chunkex relay server: accepts the peers and runs the lock-step chunk exchange",
               "chunkex-server"};
  chunkex::ConfigFlags flags;
  std::string port_file;
  chunkex::add_config_flags(app, flags, "address to listen on (0.0.0.0: every interface)",
                            "TCP port to listen on (0 picks a free port)");
  app.add_option("--port-file", port_file,
                 "also write the bound port to this file (for scripts using --port 0)");
  return chunkex::run_main(app, argc, argv, [&] {
    chunkex::Config config = chunkex::resolve_config(flags);
    asio::io_context io;
    chunkex::RelayServer server(io, config);
    server.listen(port_file);
    io.run();
    return server.exit_code();
  });
}
