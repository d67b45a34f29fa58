// chunkex-server: the relay. Accepts max_clients peers, runs the lock-step
// exchange and exits 0 once every peer has verified every file. The protocol
// and its policies live in common/ (RelayHost over the Asio link).
#include <cstdio>
#include <optional>

#include <fmt/format.h>
#include <asio.hpp>

#include "common/io/cli.h"
#include "common/io/console.h"
#include "common/io/file_records.h"
#include "common/io/log_file.h"
#include "common/net/asio_links.h"

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
    chunkex::AsioRelayLink link(io, config);
    std::string address = link.listen();
    chunkex::Console console("[server] ");
    chunkex::FileRelayRecords records(config);
    // A restored exchange rewrites its log first; scripts that wait for the
    // port then find a server that says at once what it resumes.
    chunkex::RelayHost host(config, std::move(saved), link, records, console,
                            chunkex::steady_now_ms());
    fmt::print("listening on {}\n", address);
    std::fflush(stdout);
    if (!port_file.empty()) {
      chunkex::write_file_atomically(port_file, address.substr(address.rfind(':') + 1) + "\n");
    }
    link.attach(host);
    link.start(address);
    io.run();
    if (!records.summary_path().empty())
      console.say("summary written to " + records.summary_path());
    return host.exit_code();
  });
}
