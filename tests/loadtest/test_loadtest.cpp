// Bounded load and abuse (tools/loadtest/loadtest.h) against both servers, in-process on 127.0.0.1
// with short timeouts: a report server over a small store, and serve-engine over the organism.
// Each run is 2 s of keep-alive clients plus slow clients and an abuser, then a connection flood.
// The bounds are generous (a 2-core machine shared with other builds, maybe under ASan): this
// checks the servers' behaviour, not their speed; tools/loadtest.sh measures speed.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "../reports/report_test_util.h"
#include "common/error.h"
#include "engines/http/serve_engine.h"
#include "reports/server.h"
#include "tools/loadtest/loadtest.h"

namespace adabench {
namespace {

std::string src(const std::string& rel) { return std::string(ADABENCH_SOURCE_DIR) + "/" + rel; }

std::string describe(const LoadTestResult& r) { return "\n" + loadtest_format(r); }

// What every run must show, whatever the server.
void expect_well_behaved(const LoadTestResult& r, double timeout_s, double p99_bound_ms, int flood, int cap,
                         const std::string& big_answer) {
    SCOPED_TRACE(describe(r));
    std::printf("%s", loadtest_format(r).c_str());
    EXPECT_GT(r.n_requests, 20);
    EXPECT_EQ(r.n_ok, r.n_requests);  // every well-behaved request answered with success
    EXPECT_TRUE(r.errors.empty());
    EXPECT_LT(r.p99_ms, p99_bound_ms);
    // Slow clients: each connection is cut off by the server's timeout, not before, not much after.
    EXPECT_GE(r.n_slow_cut, 4);
    EXPECT_GE(r.slow_cut_min_s, 0.8 * timeout_s);
    EXPECT_LT(r.slow_max_held_s, timeout_s + 3.0);
    // A cut connection reads as closed, or as reset when the server closed it with the client's
    // unread bytes in its receive buffer (TCP then sends RST): both are a cut.
    for (const auto& [answer, n] : r.slow_answers)
        EXPECT_TRUE(answer == "closed" || answer == "reset") << answer << " x" << n;
    // Bodies just under the limit are read whole and answered (a 4xx: they are padding).
    EXPECT_GT(r.n_big_bodies, 0);
    for (const auto& [answer, n] : r.big_answers) EXPECT_EQ(answer, big_answer) << n;
    // Every abuse request got the right 4xx (or, for the oversized ones, a reset).
    EXPECT_FALSE(r.abuse.empty());
    EXPECT_EQ(r.n_abuse_unexpected, 0);
    // The flood: at most `cap` connections are held, the rest closed at once; then it serves again.
    EXPECT_GE(r.n_flood_refused, flood - cap);
    EXPECT_TRUE(r.flood_recovered);
    EXPECT_TRUE(r.server_alive);
}

TEST(LoadTest, RefusesNonLoopbackTargets) {
    std::string host, error;
    uint16_t port = 0;
    EXPECT_TRUE(loadtest_parse_url("http://127.0.0.1:8080", &host, &port, &error));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 8080);
    EXPECT_TRUE(loadtest_parse_url("http://localhost:1/x", &host, &port, &error));
    EXPECT_TRUE(loadtest_parse_url("http://[::1]:9000", &host, &port, &error));
    EXPECT_EQ(host, "::1");
    EXPECT_TRUE(loadtest_parse_url("http://127.1.2.3:80/", &host, &port, &error));
    for (const char* bad :
         {"http://10.0.0.1:80", "http://example.com:80", "https://127.0.0.1:443", "http://[2001:db8::1]:80",
          "http://0.0.0.0:80", "http://127.0.0.1:0", "http://127.0.0.1:x"}) {
        error.clear();
        EXPECT_FALSE(loadtest_parse_url(bad, &host, &port, &error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    LoadTestOptions o;
    o.url = "http://192.168.1.1:80";
    o.requests.push_back(LoadRequest{});
    EXPECT_THROW(loadtest_run(o), UsageError);
}

TEST(LoadTest, ReportServerHoldsUnderLoadAndAbuse) {
    std::string db = testing::report_temp_db("loadtest.db");
    {
        Store s(db);
        int64_t run = testing::report_add_run(s, "a");
        s.insert_points({testing::report_point(run, 0, "arith", 16, "[0]")});
        std::vector<SampleRecord> v;
        for (int i = 0; i < 8; ++i)
            v.push_back(testing::report_sample(run, 0, "q" + std::to_string(i), 0, i < 4, 14, 2));
        s.insert_samples(v);
    }
    ServerOptions so;
    so.db_path = db;
    so.port = 0;
    so.threads = 2;
    so.request_timeout_s = 1.0;
    so.max_connections = 24;
    ReportServer server(so);
    server.start();

    LoadTestOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(server.port());
    for (const char* p : {"/", "/api/runs", "/api/runs/1", "/api/runs/1/samples?limit=4", "/healthz"}) {
        LoadRequest r;
        r.path = p;
        o.requests.push_back(r);
    }
    o.clients = 6;
    o.seconds = 2.0;
    o.slow_clients = 4;
    o.slow_interval_s = 0.1;
    o.abuse = true;
    o.flood_connections = 40;
    o.big_body_clients = 2;
    o.big_body_path = "/healthz";
    o.probe_path = "/healthz";
    o.max_header_bytes = so.max_header_bytes;
    o.max_body_bytes = so.max_body_bytes;
    o.io_timeout_s = 10;
    o.flood_wait_s = 0.8;  // under the 1 s request timeout: closures before it are the cap's
    LoadTestResult r = loadtest_run(o);
    expect_well_behaved(r, so.request_timeout_s, 3000, o.flood_connections, static_cast<int>(so.max_connections),
                        "405");
    server.stop();
}

TEST(LoadTest, EngineServerHoldsUnderLoadAndAbuse) {
    ServeEngineOptions so;
    so.engine.model_dir = src("models/organism/long");
    so.engine.n_threads = 1;
    so.engine.max_batch = 16;
    so.port = 0;
    so.http_threads = 2;
    so.read_timeout_s = 1.0;
    so.max_connections = 24;
    so.max_body_bytes = 1 << 20;
    EngineServer server(so);
    server.start();

    LoadTestOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(server.port());
    o.requests.push_back(
        LoadRequest{"POST", "/v1/completions", R"({"prompt": "1+1=", "max_tokens": 8, "temperature": 0})"});
    o.requests.push_back(LoadRequest{"GET", "/v1/models", ""});
    o.requests.push_back(LoadRequest{"POST", "/tokenize", R"({"prompt": "what is 2+3?"})"});
    o.clients = 6;
    o.seconds = 2.0;
    o.slow_clients = 4;
    o.slow_interval_s = 0.1;
    o.abuse = true;
    o.flood_connections = 40;
    o.big_body_clients = 2;
    o.big_body_path = "/tokenize";
    o.probe_path = "/health";
    o.max_header_bytes = so.max_header_bytes;
    o.max_body_bytes = so.max_body_bytes;
    o.io_timeout_s = 10;
    o.flood_wait_s = 0.8;  // under the 1 s request timeout: closures before it are the cap's
    LoadTestResult r = loadtest_run(o);
    expect_well_behaved(r, so.read_timeout_s, 5000, o.flood_connections, static_cast<int>(so.max_connections), "400");
    server.stop();
}

}  // namespace
}  // namespace adabench
