// adabench-loadtest: a bounded load and abuse test of one of adabench's HTTP servers on loopback
// (see loadtest.h). Prints the figures, or JSON with --json; exits 1 when the server died, an abuse
// request got an unexpected answer, a slow client was held past --max-hold, or the p99 latency is
// over --max-p99-ms (when given).
#include <cstdio>
#include <string>

#include "common/error.h"
#include "harness/cli/args.h"
#include "tools/loadtest/loadtest.h"

namespace {

int run(int argc, char** argv) {
    adabench::ArgParser args("adabench-loadtest",
                             "load and abuse test of an adabench HTTP server (serve, serve-engine) on loopback");
    args.option("url", "URL", "the server, e.g. http://127.0.0.1:8080 (loopback addresses only; required)")
        .option("get", "PATH", "a GET target for the well-behaved clients", true)
        .option("post", "PATH=JSON", "a POST target with its JSON body", true)
        .option("clients", "N", "well-behaved keep-alive clients (default 8)")
        .option("seconds", "T", "how long the load runs (default 5)")
        .option("slow", "K", "slow clients: half dribble headers, half a body, a byte per interval (default 0)")
        .option("slow-interval", "S", "seconds between a slow client's bytes (default 0.2)")
        .flag("abuse", "one more connection cycling through oversized and malformed requests")
        .option("flood", "N", "idle connections opened at once after the load, to probe the cap (default 0)")
        .option("big-bodies", "N", "clients sending bodies just under --max-body-bytes back to back (default 0)")
        .option("big-body-path", "PATH", "where the big bodies go (default /)")
        .option("probe", "PATH", "GET target of the pipelining cases, the slow clients and the final check (default /)")
        .option("max-header-bytes", "N", "the server's header limit; the abuse goes 4x past it (default 16384)")
        .option("max-body-bytes", "N", "the server's body limit; the abuse goes 4x past it (default 8388608)")
        .option("timeout", "S", "client-side wait for one response (default 30)")
        .option("pid", "PID", "the server's pid: report its VmRSS and VmHWM (/proc/PID/status)")
        .option("api-key-env", "VAR", "send 'Authorization: Bearer KEY' with KEY from this variable")
        .option("max-p99-ms", "MS", "fail when the p99 latency is above this")
        .option("max-hold", "S", "fail when a slow client stayed connected longer than this")
        .flag("json", "print JSON instead of text");
    if (!args.parse(argc, argv, 1)) return 0;
    if (!args.has("url")) throw adabench::UsageError("adabench-loadtest: --url is required");
    adabench::LoadTestOptions o;
    o.url = args.get("url");
    for (const auto& p : args.get_all("get")) {
        adabench::LoadRequest r;
        r.path = p;
        o.requests.push_back(r);
    }
    for (const auto& p : args.get_all("post")) {
        size_t eq = p.find('=');
        if (eq == std::string::npos || eq == 0) throw adabench::UsageError("--post '" + p + "' is not PATH=JSON");
        adabench::LoadRequest r;
        r.method = "POST";
        r.path = p.substr(0, eq);
        r.body = p.substr(eq + 1);
        o.requests.push_back(r);
    }
    if (o.requests.empty()) o.requests.push_back(adabench::LoadRequest{});
    o.clients = static_cast<int>(args.get_int("clients", 8));
    o.seconds = args.get_double("seconds", 5);
    o.slow_clients = static_cast<int>(args.get_int("slow", 0));
    o.slow_interval_s = args.get_double("slow-interval", 0.2);
    if (!(o.slow_interval_s > 0 && o.slow_interval_s <= 60))
        throw adabench::UsageError("adabench-loadtest: --slow-interval must be in (0, 60]");
    o.abuse = args.has("abuse");
    o.flood_connections = static_cast<int>(args.get_int("flood", 0));
    o.probe_path = args.get("probe", "/");
    o.big_body_clients = static_cast<int>(args.get_int("big-bodies", 0));
    o.big_body_path = args.get("big-body-path", "/");
    if (o.big_body_clients < 0 || o.big_body_clients > 4096)
        throw adabench::UsageError("adabench-loadtest: --big-bodies must be in [0, 4096]");
    o.max_header_bytes = static_cast<size_t>(args.get_int("max-header-bytes", 16384));
    o.max_body_bytes = static_cast<size_t>(args.get_int("max-body-bytes", 8 << 20));
    if (o.max_header_bytes < 1 || o.max_header_bytes > (64u << 20) || o.max_body_bytes < 1 ||
        o.max_body_bytes > (1u << 30))
        throw adabench::UsageError("adabench-loadtest: --max-header-bytes or --max-body-bytes out of range");
    o.io_timeout_s = args.get_double("timeout", 30);
    o.pid = static_cast<int>(args.get_int("pid", 0));
    if (args.has("api-key-env")) {
        const char* key = std::getenv(args.get("api-key-env").c_str());
        if (!key || !*key)
            throw adabench::UsageError("adabench-loadtest: --api-key-env: the variable is unset or empty");
        o.authorization = std::string("Bearer ") + key;
    }
    adabench::LoadTestResult r = adabench::loadtest_run(o);
    std::fputs(args.has("json") ? adabench::loadtest_json(r).c_str() : adabench::loadtest_format(r).c_str(), stdout);
    bool ok = r.server_alive && r.n_abuse_unexpected == 0 && r.flood_recovered;
    if (args.has("max-p99-ms") && r.p99_ms > args.get_double("max-p99-ms", 0)) {
        std::fprintf(stderr, "adabench-loadtest: p99 %.2f ms is over --max-p99-ms\n", r.p99_ms);
        ok = false;
    }
    if (args.has("max-hold") && r.slow_max_held_s > args.get_double("max-hold", 0)) {
        std::fprintf(stderr, "adabench-loadtest: a slow client was held %.2f s, over --max-hold\n", r.slow_max_held_s);
        ok = false;
    }
    if (!r.server_alive) std::fprintf(stderr, "adabench-loadtest: the server did not answer at the end\n");
    if (r.n_abuse_unexpected) std::fprintf(stderr, "adabench-loadtest: unexpected answers to abuse requests\n");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const adabench::UsageError& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
