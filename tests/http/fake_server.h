// A scripted HTTP/1.1 server for tests and benchmarks, on 127.0.0.1 (any free port), on its own
// thread(s), optionally HTTPS with the test certificate in tests/fixtures/http/. A handler decides
// per request what happens: a normal response (after an optional delay), or one of the failures a
// client must survive (close before answering, reset mid-body, garbage bytes, raw bytes, hang).
//
// Keep-alive follows the request (and a "Connection: close" header in the action closes after
// the answer). Counters (requests, connections, requests in flight and their peak) are
// thread-safe; the handler may run on several server threads at once.
//
// Not here: HTTP/2, pipelining (requests on one connection are answered in order, one at a time),
// 100-continue, request bodies over 64 MiB (the connection is closed).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace adabench {

struct FakeRequest {
    std::string method, target, body;
    std::map<std::string, std::string> headers;  // names lower-cased
    int64_t index = 0;                           // 0-based arrival order over the server's life (restarts included)
};

struct FakeAction {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    double delay_s = 0;  // before answering (a timer: the thread stays free)
    enum Kind {
        RESPOND,                // status, headers, body
        CLOSE_BEFORE_RESPONSE,  // close the connection without a byte
        RESET_MID_BODY,         // headers promising the whole body, half of it, then a TCP reset
        GARBAGE,                // bytes that are not HTTP, then close
        HANG,                   // never answer; hold the connection until the client or stop() closes it
        RAW,                    // write `body` verbatim (e.g. a truncated chunked response), then close
    } kind = RESPOND;
};

class FakeServer {
public:
    using Handler = std::function<FakeAction(const FakeRequest&)>;
    // n_threads: server threads (1 pins the server to one thread, as the benchmark wants).
    explicit FakeServer(Handler handler, bool tls = false, int n_threads = 2);
    ~FakeServer();
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    std::string url() const;  // "http://127.0.0.1:PORT" or "https://..."
    int port() const;
    void stop();     // closes the listener and every connection; joins the threads
    void restart();  // listens again on the same port (after stop())

    int64_t n_requests() const;
    std::vector<FakeRequest> requests() const;  // every request, unless keep_log(false)
    void keep_log(bool keep);                   // benchmarks: count requests without storing them
    int64_t n_connections() const;  // accepted
    int in_flight() const;          // requests read and not answered yet (HANG ones included)
    int max_in_flight() const;
    double handling_s() const;      // total time from a request read to its response written (RESPOND only)
    int64_t n_responded() const;    // RESPOND actions whose response was written

    // The test CA (PEM) to pass as tls_ca_file.
    static std::string ca_file();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace adabench
