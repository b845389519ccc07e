// adabench serve: the read-only report server over a store (reports/server.h) until SIGINT or
// SIGTERM. Loopback by default; binding elsewhere prints a warning (there is no authentication).
#include <signal.h>

#include <cstdio>
#include <string>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "harness/cli/stop_signals.h"
#include "reports/server.h"

namespace adabench {

int cmd_serve(int argc, char** argv) {
    ArgParser args("serve", "Serve reports, comparisons, samples and a JSON API over a store (read-only HTTP).");
    args.option("db", "FILE", "the SQLite store (required; opened read-only per request)")
        .option("bind", "ADDR", "address to listen on (default 127.0.0.1; anything else is reachable by others)")
        .option("port", "PORT", "TCP port (default 8080; 0 = any free port)")
        .option("threads", "N", "I/O threads: accept, read, time out, write (default 4)")
        .option("workers", "N", "threads that query the store and render pages, apart from the I/O (default 4)")
        .option("max-queue", "N",
                "requests waiting for a worker at most; more are answered 503 with Retry-After: 1 at once "
                "(default 64)")
        .option("timeout", "SECONDS",
                "to receive one whole request (headers and body) and to write one reply; a slow or idle "
                "connection is closed after it (default 10)")
        .option("max-connections", "N", "open connections at most; more are closed at once (default 64)")
        .option("max-header-bytes", "N", "request line and headers at most, else 431 (default 8192)")
        .epilog(
            "Pages: / (runs), /runs/ID, /runs/ID/samples?point=P, /compare?base=A&new=B\n"
            "API:   /api/runs, /api/runs/ID, /api/runs/ID/points, /api/runs/ID/samples?point=P&limit=N&offset=M,\n"
            "       /api/compare?base=A&new=B\n"
            "Example:\n  adabench serve --db runs.db --port 8080   # then open http://127.0.0.1:8080/");
    if (!args.parse(argc, argv)) return 0;
    if (!args.has("db")) throw UsageError("adabench serve: --db FILE is required");
    ServerOptions o;
    o.db_path = args.get("db");
    if (!io_file_exists(o.db_path)) throw Error(o.db_path + ": no such store", "check the --db path");
    o.bind = args.get("bind", "127.0.0.1");
    long port = args.get_int("port", 8080);
    if (port < 0 || port > 65535) throw UsageError("adabench serve: --port must be in [0, 65535]");
    o.port = static_cast<uint16_t>(port);
    o.threads = static_cast<int>(args.get_int("threads", 4));
    if (o.threads < 1 || o.threads > 64) throw UsageError("adabench serve: --threads must be in [1, 64]");
    o.workers = static_cast<int>(args.get_int("workers", 4));
    if (o.workers < 1 || o.workers > 64) throw UsageError("adabench serve: --workers must be in [1, 64]");
    long max_queue = args.get_int("max-queue", 64);
    if (max_queue < 0 || max_queue > 100000) throw UsageError("adabench serve: --max-queue must be in [0, 100000]");
    o.max_queued = static_cast<size_t>(max_queue);
    o.request_timeout_s = args.get_double("timeout", 10.0);
    if (!(o.request_timeout_s > 0 && o.request_timeout_s <= 3600))
        throw UsageError("adabench serve: --timeout must be in (0, 3600]");
    long max_conn = args.get_int("max-connections", 64);
    if (max_conn < 1 || max_conn > 100000) throw UsageError("adabench serve: --max-connections must be in [1, 100000]");
    o.max_connections = static_cast<size_t>(max_conn);
    long max_header = args.get_int("max-header-bytes", 8192);
    if (max_header < 1024 || max_header > (1 << 20))
        throw UsageError("adabench serve: --max-header-bytes must be in [1024, 1048576]");
    o.max_header_bytes = static_cast<size_t>(max_header);
    if (o.bind != "127.0.0.1" && o.bind != "::1" && o.bind != "localhost")
        std::fprintf(stderr,
                     "warning: listening on %s: anyone who can reach it can read every run (no authentication)\n",
                     o.bind.c_str());
    if (o.bind == "localhost") o.bind = "127.0.0.1";

    const sigset_t set = cli_block_stop_signals();  // before any server thread starts
    ReportServer server(o);
    server.start();
    std::printf("serving %s on http://%s:%u/ (read-only; Ctrl-C stops)\n", o.db_path.c_str(),
                o.bind.find(':') != std::string::npos ? ("[" + o.bind + "]").c_str() : o.bind.c_str(), server.port());
    std::fflush(stdout);
    int sig = cli_wait_stop_signal(set);
    server.stop();
    std::printf("stopped (signal %d)\n", sig);
    return 0;
}

}  // namespace adabench
