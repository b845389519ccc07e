// The report server: a small Boost.Beast/Asio HTTP/1.1 server over a store, read-only. Pages: the
// index of runs (/), a run's report (/runs/ID), a point's samples (/runs/ID/samples?point=P), the
// comparison of two runs (/compare?base=A&new=B); JSON API: /api/runs, /api/runs/ID,
// /api/runs/ID/points, /api/runs/ID/samples?point=&limit=&offset=, /api/compare?base=&new=.
//
// Safety: loopback by default; GET and HEAD only (405 otherwise); header and body limits (431,
// 413); malformed requests (400); no file system access at all — targets are routes, and a
// target with "..", a backslash or a NUL is refused (400) before routing; a connection cap and a
// per-request timeout.
//
// Threads: `threads` I/O threads only accept, read, time out and write (and answer 4xx for abuse);
// `workers` other threads run the store queries and render pages, and post each reply back to its
// connection's strand. So a slow page never delays an accept, a timeout or a 431. At most
// `workers + max_queued` requests are being handled or waiting; beyond that a request is answered
// at once with 503 and `Retry-After: 1` (load shedding, instead of a queue without bound).
//
// Every request opens the store read-only (SQLITE_OPEN_READONLY), so a sweep can keep writing (WAL)
// while readers look.
//
// Not here: page content (reports/html.h), metrics (reports/analysis.h).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace adabench {

struct ServerOptions {
    std::string db_path;
    std::string bind = "127.0.0.1";
    uint16_t port = 8080;    // 0 = an ephemeral port (tests); see ReportServer::port()
    int threads = 4;         // I/O threads (accept, read, write, timeouts)
    int workers = 4;         // threads that query the store and render pages
    size_t max_queued = 64;  // requests waiting for a worker at most; more are answered 503
    size_t max_connections = 64;
    size_t max_header_bytes = 8 * 1024;
    size_t max_body_bytes = 16 * 1024;
    double request_timeout_s = 10.0;
    int64_t max_samples_per_page = 1000;
    // Tests only: called on a worker thread before each routed request (e.g. to block or delay it).
    std::function<void(const std::string& target)> before_handle = nullptr;
};

struct ServerResponse {
    int status = 200;
    std::string content_type = "text/html; charset=utf-8";
    std::string body;
    std::map<std::string, std::string> headers;
};

// Routes one request without any network (the server calls this; tests may too).
ServerResponse server_handle_request(const ServerOptions& options, const std::string& method,
                                     const std::string& target);

// Percent-decodes a URL component; false on a malformed escape.
bool server_url_decode(const std::string& in, std::string* out, bool plus_is_space);

class ReportServer {
public:
    explicit ReportServer(ServerOptions options);
    ~ReportServer();  // stops
    ReportServer(const ReportServer&) = delete;
    ReportServer& operator=(const ReportServer&) = delete;

    // Checks the store opens read-only, binds and starts the worker threads. Throws adabench::Error
    // (bad address, port in use, unreadable store).
    void start();
    uint16_t port() const;  // the bound port (after start)
    void stop();            // closes the listener and connections, joins the threads; idempotent

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace adabench
