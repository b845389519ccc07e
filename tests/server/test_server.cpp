// The report server over real HTTP on 127.0.0.1 (ephemeral port): pages, JSON API, status codes for
// bad methods, traversal, oversized headers and bodies, malformed requests, and reads while a writer
// adds samples. Raw sockets with timeouts, so a misbehaving server fails the test instead of hanging.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>

#include "../reports/report_test_util.h"
#include "common/error.h"
#include "reports/server.h"

namespace adabench {
namespace {

using testing::report_add_run;
using testing::report_point;
using testing::report_sample;
using testing::report_temp_db;

struct Reply {
    int status = 0;
    std::string head, body;
};

// One request on a fresh connection ("Connection: close"), read to EOF with a 5 s socket timeout.
Reply http_raw(uint16_t port, const std::string& request) {
    Reply r;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return r;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(fd);
        return r;
    }
    size_t sent = 0;
    while (sent < request.size()) {
        ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server may close early on an oversized request; read its answer
        sent += static_cast<size_t>(n);
    }
    std::string all;
    char buf[8192];
    for (int i = 0; i < 100000; ++i) {  // bounded
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        all.append(buf, static_cast<size_t>(n));
    }
    close(fd);
    size_t sep = all.find("\r\n\r\n");
    r.head = all.substr(0, sep);
    r.body = sep == std::string::npos ? "" : all.substr(sep + 4);
    std::smatch m;
    if (std::regex_search(r.head, m, std::regex(R"(^HTTP/1\.[01] (\d{3}))"))) r.status = std::stoi(m[1]);
    return r;
}

Reply get(uint16_t port, const std::string& target) {
    return http_raw(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

class ServerTest : public ::testing::Test {
protected:
    void SetUp() override {
        db_ = report_temp_db("server.db");
        Store s(db_);
        for (int k = 0; k < 2; ++k) {
            int64_t run = report_add_run(s, k == 0 ? "a" : "b");
            s.insert_points({report_point(run, 0, "arith", 16, "[0]"), report_point(run, 1, "arith", 64, "[1]")});
            std::vector<SampleRecord> v;
            for (int i = 0; i < 6; ++i) {
                v.push_back(report_sample(run, 0, "q" + std::to_string(i), 0, i < 3, 14, 2));
                v.push_back(report_sample(run, 1, "q" + std::to_string(i), 0, k == 0 || i < 1, 60, 4));
            }
            v[0].response_text = "<think>x</think><script>alert(1)</script>";
            s.insert_samples(v);
        }
        ServerOptions o;
        o.db_path = db_;
        o.port = 0;
        o.threads = 2;
        o.request_timeout_s = 2;
        server_ = std::make_unique<ReportServer>(o);
        server_->start();
        port_ = server_->port();
        ASSERT_GT(port_, 0);
    }
    void TearDown() override {
        if (server_) server_->stop();
    }
    std::string db_;
    std::unique_ptr<ReportServer> server_;
    uint16_t port_ = 0;
};

TEST_F(ServerTest, PagesAndApi) {
    Reply idx = get(port_, "/");
    EXPECT_EQ(idx.status, 200) << idx.head;
    EXPECT_NE(idx.body.find("href=\"/runs/2\""), std::string::npos);
    EXPECT_NE(idx.head.find("Content-Security-Policy"), std::string::npos);
    Reply rep = get(port_, "/runs/1");
    EXPECT_EQ(rep.status, 200);
    EXPECT_NE(rep.body.find("frontier-plot"), std::string::npos);
    EXPECT_EQ(rep.body.find("<script>alert"), std::string::npos);
    Reply runs = get(port_, "/api/runs");
    ASSERT_EQ(runs.status, 200);
    auto j = nlohmann::json::parse(runs.body);
    ASSERT_EQ(j.size(), 2u);
    EXPECT_EQ(j[0]["samples_stored"], 12);
    auto pts = nlohmann::json::parse(get(port_, "/api/runs/1/points").body);
    ASSERT_EQ(pts.size(), 2u);
    EXPECT_DOUBLE_EQ(pts[0]["accuracy"]["estimate"].get<double>(), 0.5);
    Reply sm = get(port_, "/api/runs/1/samples?point=0&limit=2&offset=1");
    ASSERT_EQ(sm.status, 200) << sm.body;
    auto sj = nlohmann::json::parse(sm.body);
    EXPECT_EQ(sj["total"], 6);
    EXPECT_EQ(sj["samples"].size(), 2u);
    EXPECT_EQ(sj["samples"][0]["problem_id"], "q1");
    Reply page = get(port_, "/runs/1/samples?point=0");
    EXPECT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("&lt;script&gt;alert(1)"), std::string::npos);
    Reply cmp = get(port_, "/compare?base=1&new=2");
    EXPECT_EQ(cmp.status, 200);
    EXPECT_NE(cmp.body.find("stroke-dasharray"), std::string::npos);
    auto cj = nlohmann::json::parse(get(port_, "/api/compare?base=1&new=2").body);
    EXPECT_EQ(cj["deltas"].size(), 2u);
    Reply head = http_raw(port_, "HEAD /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
}

TEST_F(ServerTest, RejectsBadRequests) {
    EXPECT_EQ(get(port_, "/runs/99").status, 404);
    EXPECT_EQ(get(port_, "/nope").status, 404);
    EXPECT_EQ(get(port_, "/runs/abc").status, 400);
    EXPECT_EQ(get(port_, "/api/runs/1/samples?limit=100000").status, 400);
    EXPECT_EQ(get(port_, "/api/runs/1/samples?point=%zz").status, 400);
    EXPECT_EQ(get(port_, "/../../etc/passwd").status, 400);
    EXPECT_EQ(get(port_, "/runs/%2e%2e/%2e%2e/etc/passwd").status, 400);
    EXPECT_EQ(get(port_, "/runs/1%5c..").status, 400);
    EXPECT_EQ(get(port_, "/compare?base=1").status, 400);
    Reply post = http_raw(
        port_, "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    EXPECT_EQ(post.status, 405);
    EXPECT_NE(post.head.find("Allow: GET, HEAD"), std::string::npos);
    EXPECT_EQ(http_raw(port_, "DELETE /runs/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").status, 405);
    std::string big(20000, 'a');
    EXPECT_EQ(
        http_raw(port_, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big + "\r\nConnection: close\r\n\r\n").status,
        431);
    EXPECT_EQ(
        http_raw(port_, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n")
            .status,
        413);
    // DNS rebinding (issue 20 D13): a page on evil.example re-pointed at 127.0.0.1 is refused;
    // IP literals, localhost and HTTP/1.0 without a Host are served.
    Reply rebound = http_raw(port_, "GET /api/runs HTTP/1.1\r\nHost: evil.example:" + std::to_string(port_) +
                                        "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(rebound.status, 403);
    EXPECT_NE(rebound.body.find("DNS rebinding"), std::string::npos) << rebound.body;
    EXPECT_EQ(http_raw(port_, "GET /api/runs HTTP/1.1\r\nConnection: close\r\n\r\n").status, 403);
    EXPECT_EQ(http_raw(port_, "GET /healthz HTTP/1.1\r\nHost: localhost:1\r\nConnection: close\r\n\r\n").status, 200);
    EXPECT_EQ(http_raw(port_, "GET /healthz HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n").status, 200);
    EXPECT_EQ(http_raw(port_, "GET /healthz HTTP/1.0\r\n\r\n").status, 200);
    EXPECT_EQ(http_raw(port_, "GARBAGE\r\n\r\n").status, 400);
    EXPECT_EQ(http_raw(port_, "GET /\x01 HTTP/1.1\r\n\r\n").status, 400);
    // Still serving after all of that.
    EXPECT_EQ(get(port_, "/healthz").status, 200);
}

TEST_F(ServerTest, IdleConnectionTimesOut) {
    // A client that sends half a request is cut off after the request timeout (2 s here).
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{6, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string partial = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    char buf[256];
    auto t0 = std::chrono::steady_clock::now();
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    close(fd);
    EXPECT_LE(n, 0);  // closed, nothing served
    EXPECT_LT(waited, 5.5);
}

TEST_F(ServerTest, ReadsWhileAWriterAddsSamples) {
    Store writer(db_);
    int64_t run = report_add_run(writer, "c");
    writer.insert_points({report_point(run, 0, "arith", 16, "[0]")});
    for (int i = 0; i < 5; ++i) {
        writer.insert_samples({report_sample(run, 0, "w" + std::to_string(i), 0, true, 10, 1)});
        Reply r = get(port_, "/api/runs/" + std::to_string(run) + "/points");
        ASSERT_EQ(r.status, 200) << r.body;
        EXPECT_EQ(nlohmann::json::parse(r.body)[0]["n_samples"], i + 1);
    }
}

// Seconds since t0.
double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Pages blocked in their handler (a huge store, a slow disk) must not hold up the I/O: with ONE I/O
// thread and one worker both busy/queued, a 431 is still answered at once, a half-sent request is
// still cut at the timeout, and a request past the queue gets 503 + Retry-After. Fails when
// handlers run on the I/O thread: the 431 and the cut then wait until the pages are released.
TEST(ServerWorkers, SlowPagesDoNotHoldUpIo) {
    std::string db = report_temp_db("server_workers.db");
    {
        Store s(db);
        int64_t run = report_add_run(s, "a");
        s.insert_points({report_point(run, 0, "arith", 16, "[0]")});
        s.insert_samples({report_sample(run, 0, "q0", 0, true, 14, 2)});
    }
    struct Gate {
        std::mutex mu;
        std::condition_variable cv;
        bool open = false;
        std::atomic<int> entered{0};
        void release() {
            std::lock_guard<std::mutex> lock(mu);
            open = true;
            cv.notify_all();
        }
    } gate;
    ServerOptions o;
    o.db_path = db;
    o.port = 0;
    o.threads = 1;
    o.workers = 1;
    o.max_queued = 1;
    o.request_timeout_s = 1.0;
    o.before_handle = [&gate](const std::string& target) {
        if (target.rfind("/api/runs", 0) != 0) return;
        ++gate.entered;
        std::unique_lock<std::mutex> lock(gate.mu);
        gate.cv.wait_for(lock, std::chrono::seconds(20), [&gate] { return gate.open; });
    };
    ReportServer server(o);
    server.start();
    uint16_t port = server.port();
    struct Opener {  // opens the gate however the test ends, before the server joins its workers
        Gate* g;
        ~Opener() { g->release(); }
    } opener{&gate};

    Reply first, second;
    std::jthread t1([&] { first = get(port, "/api/runs"); });
    for (int i = 0; i < 500 && gate.entered.load() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(gate.entered.load(), 1);  // the worker is busy
    std::jthread t2([&] { second = get(port, "/api/runs/1"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // now queued (the queue holds 1)

    auto t0 = std::chrono::steady_clock::now();
    Reply shed = get(port, "/api/runs");
    EXPECT_EQ(shed.status, 503) << shed.head;
    EXPECT_NE(shed.head.find("Retry-After: 1"), std::string::npos) << shed.head;
    EXPECT_LT(since(t0), 0.8);

    t0 = std::chrono::steady_clock::now();
    std::string big(20000, 'a');
    Reply r431 = http_raw(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + big + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(r431.status, 431);
    EXPECT_LT(since(t0), 0.8);

    // A half-sent request: cut at the 1 s timeout, not when the pages are done.
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{6, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string partial = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    t0 = std::chrono::steady_clock::now();
    char buf[256];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    double held = since(t0);
    close(fd);
    EXPECT_LE(n, 0);
    EXPECT_GE(held, 0.8);
    EXPECT_LT(held, 2.0);
    EXPECT_EQ(gate.entered.load(), 1);  // the pages were still blocked all along

    gate.release();
    t1.join();
    t2.join();
    EXPECT_EQ(first.status, 200) << first.head;
    EXPECT_EQ(second.status, 200) << second.head;
    EXPECT_EQ(get(port, "/api/runs").status, 200);  // the queue drained: serving again
    server.stop();
}

TEST(ServerRoutes, WithoutNetwork) {
    ServerOptions o;
    o.db_path = "/nonexistent.db";
    EXPECT_EQ(server_handle_request(o, "PUT", "/").status, 405);
    EXPECT_EQ(server_handle_request(o, "GET", "relative").status, 400);
    EXPECT_EQ(server_handle_request(o, "GET", "/a/../b").status, 400);
    EXPECT_EQ(server_handle_request(o, "GET", "/").status, 500);  // the store is missing
    std::string out;
    EXPECT_TRUE(server_url_decode("a%20b+c", &out, true));
    EXPECT_EQ(out, "a b c");
    EXPECT_FALSE(server_url_decode("%4", &out, false));
    ReportServer bad(ServerOptions{"/nonexistent.db"});
    EXPECT_THROW(bad.start(), Error);
}

}  // namespace
}  // namespace adabench
