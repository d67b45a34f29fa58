// chunkex-server: the relay. Accepts max_clients peers, runs the lock-step
// exchange and exits 0 once every peer has verified every file.
#include <optional>

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
  bool fresh = false;
  app.add_flag("--fresh", fresh,
               "start a new exchange even if <log-dir>/exchange.state holds an unfinished one "
               "(by default the server resumes it)");
  return chunkex::run_main(app, argc, argv, [&] {
    chunkex::Config config = chunkex::resolve_config(flags);
    std::optional<chunkex::SavedExchange> saved;
    if (!fresh) saved = chunkex::load_saved_exchange(config);
    asio::io_context io;
    chunkex::RelayServer server(io, config, std::move(saved));
    server.listen(port_file);
    io.run();
    return server.exit_code();
  });
}
