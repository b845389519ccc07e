// A bounded load and abuse generator for adabench's HTTP servers (`serve`, `serve-engine`), loopback
// only. For T seconds it runs N well-behaved keep-alive clients (round-robin over the given
// requests), K slow clients (slowloris: headers a byte at a time, or a body that never finishes;
// each reconnects when cut off), and one abuser cycling through malformed and oversized requests;
// then a connection flood (idle sockets opened at once, to probe the connection cap) and a final
// probe that the server still answers. It measures requests/s, latency percentiles, errors by
// kind, how long slow clients were held, what each abuse got, and the server's memory (VmRSS at
// the start, VmHWM at the end, from /proc/PID/status) when given its pid.
//
// Plain POSIX sockets with poll() deadlines, one thread per client: every wait is bounded, so a
// server that hangs makes the run report timeouts, never hang it.
//
// Not here: TLS, HTTP/2, chunked responses (our servers always send Content-Length), any target
// that is not a loopback address (refused).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace adabench {

struct LoadRequest {
    std::string method = "GET";
    std::string path = "/";
    std::string body;  // sent with Content-Type: application/json when not empty
};

struct LoadTestOptions {
    std::string url;                    // http://127.0.0.1:PORT (or localhost, [::1]); loopback only
    std::vector<LoadRequest> requests;  // what the well-behaved clients send, round-robin
    int clients = 8;
    double seconds = 5.0;
    int slow_clients = 0;             // half send headers a byte at a time, half a body that never ends
    double slow_interval_s = 0.2;     // one byte per interval
    bool abuse = false;               // one extra connection cycling through the abuse cases
    int flood_connections = 0;        // idle connections opened at once after the load
    double flood_wait_s = 0.3;        // how long the server may take to close the flood's excess
    int big_body_clients = 0;         // clients sending bodies just under max_body_bytes, back to back
    std::string big_body_path = "/";  // where they POST ({"prompt": "x", "padding": "aaa..."})
    std::string probe_path = "/";     // GET target for the pipelining case and the final probe
    size_t max_header_bytes = 16384;  // the server's limits: the abuse cases go well past them
    size_t max_body_bytes = 8 << 20;
    double io_timeout_s = 30.0;  // client side: longest wait for one response
    std::string authorization;   // sent as Authorization when not empty
    int pid = 0;                 // the server's pid, for its memory; 0 = not measured
};

// What one abuse case got, counted over its repetitions.
struct AbuseOutcome {
    std::string name;
    std::string expected;                // e.g. "431 or closed"
    std::map<std::string, int64_t> got;  // "431", "closed", "reset", "timeout", "200+400", ...
    int64_t n_unexpected = 0;
};

struct LoadTestResult {
    std::string target;
    double elapsed_s = 0;
    int64_t n_requests = 0;  // responses received by well-behaved clients
    int64_t n_ok = 0;        // of those, status < 400
    double requests_per_s = 0;
    double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
    std::map<std::string, int64_t> errors;  // well-behaved clients: "status 503", "refused", "closed", ...

    int64_t n_slow_connections = 0;  // slowloris connections made (each reconnect counts)
    int64_t n_slow_cut = 0;          // closed by the server (or answered with an error)
    double slow_cut_min_s = 0, slow_cut_max_s = 0;
    double slow_max_held_s = 0;                   // longest any slow connection stayed open, cut or not
    std::map<std::string, int64_t> slow_answers;  // what the server said when cutting: "closed", "408", ...

    int64_t n_big_bodies = 0;                    // full-size bodies sent and answered
    std::map<std::string, int64_t> big_answers;  // "400", "405", "reset", ...

    std::vector<AbuseOutcome> abuse;
    int64_t n_abuse_unexpected = 0;

    int64_t n_flood = 0, n_flood_refused = 0;  // idle connections opened; closed by the server at once
    bool flood_recovered = true;               // a request succeeded after the flood's sockets closed

    bool server_alive = false;  // the final probe answered (and the pid, if given, still exists)
    int64_t rss_start_kb = -1, rss_peak_kb = -1, hwm_end_kb = -1, rss_end_kb = -1;
};

// Splits a loopback http URL into host and port. False (with *error) for anything else.
bool loadtest_parse_url(const std::string& url, std::string* host, uint16_t* port, std::string* error);

// Runs the whole test (load + slow + abuse for opt.seconds, then the flood and the probe). Throws
// adabench::UsageError for a non-loopback URL or an empty request list.
LoadTestResult loadtest_run(const LoadTestOptions& opt);

// A few aligned lines for people.
std::string loadtest_format(const LoadTestResult& r);
// The same as one JSON object.
std::string loadtest_json(const LoadTestResult& r);

}  // namespace adabench
