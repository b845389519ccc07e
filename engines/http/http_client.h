// The asynchronous HTTP/1.1 client under the http engine (Boost.Asio/Beast, HTTP and HTTPS): a
// fixed set of server URLs (replicas), keep-alive connections, a bound on requests in flight per
// URL with a FIFO queue in front, least-outstanding routing, per-request total timeouts, and
// retries with full-jitter exponential backoff for what a retry can fix: connection errors,
// timeouts, 408, 429 and 5xx (Retry-After honoured, in seconds or as an HTTP date, capped). Any
// other status (400, 401, 404, 422, ...) comes back at once: those are configuration errors and
// a retry would only hide them.
//
// Threading: everything runs on the client's own io_context, driven by run() on the calling
// thread; callbacks run there too and may submit more requests. Nothing here is thread-safe
// except stop().
//
// Not here: what the bodies mean (engines/http/flavour.h), budgets (engines/http/http_engine.h).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace adabench {

struct HttpRetryPolicy {
    int max_attempts = 6;    // attempts in all, the first included
    double base_s = 1.0;     // backoff before retry k (1-based): uniform(0, min(cap_s, base_s * factor^(k-1)))
    double factor = 2.0;
    double cap_s = 60.0;     // also the cap on a Retry-After the server asks for
};

struct HttpClientOptions {
    std::vector<std::string> urls;  // "http://host:port" or "https://host:port", optional path prefix
    int concurrency_per_url = 64;   // requests in flight per URL; more wait in the queue
    std::string bearer_token;       // "" = no Authorization header (never logged)
    double connect_timeout_s = 10.0;
    bool tls_verify = true;         // verify the server certificate (HTTPS) against the system store
    std::string tls_ca_file;        // extra CA bundle (PEM) to trust, e.g. a self-signed test CA
    HttpRetryPolicy retry;
    uint64_t jitter_seed = 0;       // the backoff jitter's random stream (tests fix it)
    // A URL whose connections failed this many times in a row is drained: new requests go to the
    // others (requests already routed there move on retry) until a health check (GET health_path)
    // answers 200; checks run every health_interval_s while it is drained.
    int unhealthy_after = 3;
    std::string health_path = "/health";
    double health_interval_s = 5.0;
};

struct HttpRequest {
    std::string method = "POST";
    std::string target;                                       // "/v1/completions" (after the URL's path prefix)
    std::string body;                                         // sent as application/json when non-empty
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers
    double timeout_s = 300.0;  // total, per attempt: connect + send + the whole response
    // Preferred URL index (sticky rounds of one sample); -1 = least outstanding. A drained URL is
    // never used; a retry after a connection error or timeout may move to another URL.
    int url_index = -1;
};

struct HttpResponse {
    int status = 0;  // HTTP status; 0 = no response (error says why)
    std::string body;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string error;                           // transport error ("connection refused", "timeout after 300 s", ...)
    bool retries_exhausted = false;              // every attempt failed with a retryable error
    int attempts = 0;
    int url_index = -1;                          // the URL that gave this response (the last attempt's)
    bool url_changed = false;                    // a retry moved the request off its preferred URL
    double latency_s = 0.0;                      // first attempt's start to the final response
};

using HttpCallback = std::function<void(HttpResponse)>;

struct HttpClientStats {
    int64_t n_requests = 0;  // submitted
    int64_t n_attempts = 0;  // sent on the wire (retries included)
    int64_t n_retries = 0;
    int64_t n_connections = 0;  // connections opened
    std::vector<int> in_flight_peak;  // per URL
};

class HttpClient {
public:
    explicit HttpClient(HttpClientOptions options);  // throws adabench::Error on a malformed URL
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // Queues a request; `done` runs exactly once, on the run() thread.
    void submit(HttpRequest request, HttpCallback done);
    // Runs until no request is queued, in flight or waiting for a retry (or stop()).
    void run();
    // From any thread: ends run() soon; requests not finished get status 0, error "stopped".
    void stop();

    // Least-outstanding healthy URL (ties: lowest index); what submit() uses for url_index -1.
    int pick_url() const;
    int n_urls() const;
    const std::string& url(int index) const;
    int outstanding(int index) const;  // queued for it + in flight there
    bool healthy(int index) const;
    const HttpClientStats& stats() const;

    // Blocking one-shot helper for probes and admin calls (runs the loop until this one is done;
    // must not be called from a callback).
    HttpResponse send(HttpRequest request);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Parses a Retry-After value (delta-seconds or an IMF-fixdate) into seconds from now; -1 when absent
// or malformed. `now_unix` is the current time in seconds since the epoch (tests fix it).
double http_parse_retry_after(const std::string& value, int64_t now_unix);
// True for the statuses a retry may fix: 408, 429, 500, 502, 503, 504.
bool http_status_retryable(int status);

}  // namespace adabench
