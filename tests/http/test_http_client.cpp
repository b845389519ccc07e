// Tests of the asynchronous HTTP client (engines/http/http_client.h) against the scripted fake
// server on 127.0.0.1: success and keep-alive, the in-flight bound and its FIFO queue, routing,
// retries (which statuses, Retry-After, exhaustion), transport failures (refused, reset, garbage,
// truncated, oversized, hangs), a server restart mid-run, draining and health checks, HTTPS,
// stop() from another thread, and the pure helpers. Backoffs are tiny so the binary runs in seconds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "engines/http/http_client.h"
#include "tests/http/fake_server.h"

namespace adabench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

HttpClientOptions options_for(std::vector<std::string> urls) {
    HttpClientOptions o;
    o.urls = std::move(urls);
    o.retry.max_attempts = 3;
    o.retry.base_s = 0.01;
    o.retry.cap_s = 0.1;
    o.connect_timeout_s = 2;
    o.jitter_seed = 7;
    o.health_interval_s = 0.05;
    return o;
}

HttpRequest post(const std::string& body, int url_index = -1) {
    HttpRequest r;
    r.target = "/v1/completions";
    r.body = body;
    r.timeout_s = 5;
    r.url_index = url_index;
    return r;
}

FakeAction ok(std::string body = "{\"ok\":true}") {
    FakeAction a;
    a.body = std::move(body);
    return a;
}

FakeAction kind(FakeAction::Kind k) {
    FakeAction a;
    a.kind = k;
    return a;
}

TEST(HttpClient, PostSucceedsWithHeadersBodyAndLowerCasedResponseHeaders) {
    FakeServer server([](const FakeRequest& r) {
        FakeAction a = ok("{\"echo\":" + r.body + "}");
        a.headers = {{"X-Custom-Header", "Yes"}};
        return a;
    });
    HttpClient client(options_for({server.url()}));
    HttpRequest req = post("{\"x\":1}");
    req.headers = {{"X-Extra", "e"}};
    HttpResponse r = client.send(req);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "{\"echo\":{\"x\":1}}");
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.attempts, 1);
    EXPECT_EQ(r.url_index, 0);
    EXPECT_FALSE(r.url_changed);
    EXPECT_FALSE(r.retries_exhausted);
    EXPECT_GT(r.latency_s, 0.0);
    ASSERT_TRUE(r.headers.count("x-custom-header"));
    EXPECT_EQ(r.headers.at("x-custom-header"), "Yes");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_FALSE(r.headers.count("X-Custom-Header"));

    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "POST");
    EXPECT_EQ(seen[0].target, "/v1/completions");
    EXPECT_EQ(seen[0].body, "{\"x\":1}");
    EXPECT_EQ(seen[0].headers.at("content-type"), "application/json");
    EXPECT_EQ(seen[0].headers.at("x-extra"), "e");
    EXPECT_EQ(seen[0].headers.at("host"), "127.0.0.1:" + std::to_string(server.port()));
    EXPECT_FALSE(seen[0].headers.count("authorization"));
}

TEST(HttpClient, PathPrefixAndGetWithoutBody) {
    FakeServer server([](const FakeRequest&) { return ok(); });
    HttpClient client(options_for({server.url() + "/prefix/"}));
    HttpRequest req;
    req.method = "GET";
    req.target = "/v1/models";
    EXPECT_EQ(client.send(req).status, 200);
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].method, "GET");
    EXPECT_EQ(seen[0].target, "/prefix/v1/models");
    EXPECT_FALSE(seen[0].headers.count("content-type"));
}

TEST(HttpClient, BearerTokenIsSent) {
    FakeServer server([](const FakeRequest&) { return ok(); });
    auto o = options_for({server.url()});
    o.bearer_token = "sekrit-123";
    HttpClient client(o);
    EXPECT_EQ(client.send(post("{}")).status, 200);
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].headers.at("authorization"), "Bearer sekrit-123");
}

TEST(HttpClient, KeepAliveReusesConnections) {
    FakeServer server([](const FakeRequest&) { return ok(); });
    auto o = options_for({server.url()});
    o.concurrency_per_url = 4;
    HttpClient client(o);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(client.send(post("{}")).status, 200);
    EXPECT_EQ(server.n_connections(), 1);

    int n_ok = 0;
    for (int i = 0; i < 200; ++i)
        client.submit(post("{\"i\":" + std::to_string(i) + "}"), [&](HttpResponse r) { n_ok += r.status == 200; });
    client.run();
    EXPECT_EQ(n_ok, 200);
    EXPECT_LE(server.n_connections(), 4);
    EXPECT_EQ(client.stats().n_connections, server.n_connections());
    EXPECT_EQ(client.stats().n_requests, 220);
    EXPECT_EQ(client.stats().n_attempts, 220);
    EXPECT_EQ(client.stats().n_retries, 0);
}

TEST(HttpClient, ConcurrencyBoundWithFifoQueue) {
    FakeServer server([](const FakeRequest&) {
        FakeAction a = ok();
        a.delay_s = 0.02;
        return a;
    });
    auto o = options_for({server.url()});
    o.concurrency_per_url = 3;
    HttpClient client(o);
    std::vector<int> done;
    for (int i = 0; i < 30; ++i)
        client.submit(post(std::to_string(i)), [&, i](HttpResponse r) {
            EXPECT_EQ(r.status, 200);
            done.push_back(i);
        });
    EXPECT_EQ(client.outstanding(0), 30);
    client.run();
    EXPECT_EQ(done.size(), 30u);
    EXPECT_EQ(client.outstanding(0), 0);
    EXPECT_EQ(server.max_in_flight(), 3);
    EXPECT_EQ(client.stats().in_flight_peak.at(0), 3);
    // FIFO: the requests reached the server in submission order, up to the 3 that race in parallel.
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 30u);
    for (const auto& r : seen) EXPECT_LE(std::abs(std::stoi(r.body) - static_cast<int>(r.index)), 2) << r.body;
}

TEST(HttpClient, ManyConcurrentConnections) {
    FakeServer server([](const FakeRequest&) {
        FakeAction a = ok();
        a.delay_s = 0.2;
        return a;
    });
    auto o = options_for({server.url()});
    o.concurrency_per_url = 256;
    HttpClient client(o);
    int n_ok = 0;
    for (int i = 0; i < 300; ++i) client.submit(post("{}"), [&](HttpResponse r) { n_ok += r.status == 200; });
    client.run();
    EXPECT_EQ(n_ok, 300);
    EXPECT_EQ(server.max_in_flight(), 256);
    EXPECT_EQ(client.stats().in_flight_peak.at(0), 256);
    EXPECT_EQ(server.n_connections(), 256);
}

TEST(HttpClient, LeastOutstandingRoutingAcrossTwoServers) {
    auto handler_for = [](std::string name) {
        return [name](const FakeRequest&) {
            FakeAction a = ok(name);
            a.delay_s = 0.01;
            return a;
        };
    };
    FakeServer a(handler_for("a")), b(handler_for("b"));
    HttpClient client(options_for({a.url(), b.url()}));
    EXPECT_EQ(client.n_urls(), 2);
    EXPECT_EQ(client.pick_url(), 0);  // tie: lowest index
    int mismatched = 0;
    for (int i = 0; i < 10; ++i)
        client.submit(post("{}"), [&](HttpResponse r) {
            EXPECT_EQ(r.status, 200);
            mismatched += r.body != (r.url_index == 0 ? "a" : "b");
        });
    EXPECT_EQ(client.outstanding(0), 5);
    EXPECT_EQ(client.outstanding(1), 5);
    // Three sticky requests load URL 0; least-outstanding ones then fill URL 1 until the tie.
    for (int i = 0; i < 3; ++i) client.submit(post("{}", 0), [&](HttpResponse r) { EXPECT_EQ(r.url_index, 0); });
    EXPECT_EQ(client.pick_url(), 1);
    for (int i = 0; i < 4; ++i) client.submit(post("{}"), [](HttpResponse r) { EXPECT_EQ(r.status, 200); });
    EXPECT_EQ(client.outstanding(0), 9);
    EXPECT_EQ(client.outstanding(1), 8);
    client.run();
    EXPECT_EQ(mismatched, 0);
    EXPECT_EQ(a.n_requests(), 9);
    EXPECT_EQ(b.n_requests(), 8);
}

TEST(HttpClient, StickyUrlIndex) {
    FakeServer a([](const FakeRequest&) { return ok("a"); }), b([](const FakeRequest&) { return ok("b"); });
    HttpClient client(options_for({a.url(), b.url()}));
    int n = 0;
    for (int i = 0; i < 6; ++i)
        client.submit(post("{}", 1), [&](HttpResponse r) {
            EXPECT_EQ(r.status, 200);
            EXPECT_EQ(r.body, "b");
            EXPECT_EQ(r.url_index, 1);
            EXPECT_FALSE(r.url_changed);
            ++n;
        });
    client.run();
    EXPECT_EQ(n, 6);
    EXPECT_EQ(a.n_requests(), 0);
    EXPECT_EQ(b.n_requests(), 6);
}

TEST(HttpClient, Status503ThenSuccessIsRetriedWithTheSameBody) {
    FakeServer server([](const FakeRequest& r) {
        if (r.index == 0) {
            FakeAction a = ok("loading");
            a.status = 503;
            return a;
        }
        return ok("done");
    });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{\"seed\":5}"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "done");
    EXPECT_EQ(r.attempts, 2);
    EXPECT_FALSE(r.retries_exhausted);
    EXPECT_EQ(client.stats().n_retries, 1);
    EXPECT_EQ(client.stats().n_attempts, 2);
    auto seen = server.requests();
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].body, seen[0].body);
    EXPECT_EQ(seen[1].target, seen[0].target);
}

TEST(HttpClient, Status429HonoursRetryAfter) {
    FakeServer server([](const FakeRequest& r) {
        if (r.index == 0) {
            FakeAction a = ok("slow down");
            a.status = 429;
            a.headers = {{"Retry-After", "1"}};
            return a;
        }
        return ok();
    });
    auto o = options_for({server.url()});
    o.retry.cap_s = 5;  // Retry-After is capped at cap_s; jitter alone would wait < 10 ms
    HttpClient client(o);
    auto t0 = Clock::now();
    HttpResponse r = client.send(post("{}"));
    double elapsed = seconds_since(t0);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.attempts, 2);
    EXPECT_GE(elapsed, 0.95);
    EXPECT_LT(elapsed, 3.0);
}

TEST(HttpClient, RetryAfterIsCappedAtCapS) {
    FakeServer server([](const FakeRequest& r) {
        if (r.index == 0) {
            FakeAction a = ok();
            a.status = 503;
            a.headers = {{"Retry-After", "100"}};
            return a;
        }
        return ok();
    });
    auto o = options_for({server.url()});
    o.retry.cap_s = 0.3;
    HttpClient client(o);
    auto t0 = Clock::now();
    HttpResponse r = client.send(post("{}"));
    double elapsed = seconds_since(t0);
    EXPECT_EQ(r.status, 200);
    EXPECT_GE(elapsed, 0.28);
    EXPECT_LT(elapsed, 2.0);
}

TEST(HttpClient, Status400IsNotRetried) {
    FakeServer server([](const FakeRequest&) {
        FakeAction a = ok("{\"error\":\"unknown field top_kk\"}");
        a.status = 400;
        return a;
    });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, "{\"error\":\"unknown field top_kk\"}");
    EXPECT_EQ(r.attempts, 1);
    EXPECT_FALSE(r.retries_exhausted);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(server.n_requests(), 1);
}

TEST(HttpClient, RetriesExhaustedOnPersistent500) {
    FakeServer server([](const FakeRequest&) {
        FakeAction a = ok("boom");
        a.status = 500;
        return a;
    });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 500);
    EXPECT_EQ(r.body, "boom");
    EXPECT_EQ(r.attempts, 3);
    EXPECT_TRUE(r.retries_exhausted);
    EXPECT_EQ(server.n_requests(), 3);
    EXPECT_EQ(client.stats().n_retries, 2);
}

TEST(HttpClient, ConnectionRefused) {
    int port = 0;
    {
        FakeServer gone([](const FakeRequest&) { return ok(); });
        port = gone.port();
    }
    HttpClient client(options_for({"http://127.0.0.1:" + std::to_string(port)}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.error.find("refused"), std::string::npos) << r.error;
    EXPECT_EQ(r.attempts, 3);
    EXPECT_TRUE(r.retries_exhausted);
}

TEST(HttpClient, ResetMidBodyIsRetried) {
    FakeServer server([](const FakeRequest& r) {
        if (r.index == 0) return kind(FakeAction::RESET_MID_BODY);
        return ok();
    });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.attempts, 2);

    FakeServer always([](const FakeRequest&) { return kind(FakeAction::RESET_MID_BODY); });
    HttpClient client2(options_for({always.url()}));
    HttpResponse r2 = client2.send(post("{}"));
    EXPECT_EQ(r2.status, 0);
    EXPECT_FALSE(r2.error.empty());
    EXPECT_TRUE(r2.retries_exhausted);
    EXPECT_EQ(r2.attempts, 3);
}

TEST(HttpClient, CloseBeforeResponseIsRetried) {
    FakeServer server([](const FakeRequest& r) {
        if (r.index == 0) return kind(FakeAction::CLOSE_BEFORE_RESPONSE);
        return ok();
    });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.attempts, 2);
}

TEST(HttpClient, GarbageAndTruncatedResponsesAreTransportErrors) {
    FakeServer server([](const FakeRequest& r) {
        if (r.index == 0) return kind(FakeAction::GARBAGE);
        if (r.index == 1) {
            FakeAction a = kind(FakeAction::RAW);
            a.body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc";
            return a;
        }
        return ok("fine");
    });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "fine");
    EXPECT_EQ(r.attempts, 3);

    FakeServer garbage([](const FakeRequest&) { return kind(FakeAction::GARBAGE); });
    HttpClient client2(options_for({garbage.url()}));
    HttpResponse r2 = client2.send(post("{}"));
    EXPECT_EQ(r2.status, 0);
    EXPECT_NE(r2.error.find("malformed"), std::string::npos) << r2.error;
    EXPECT_TRUE(r2.retries_exhausted);

    FakeServer truncated([](const FakeRequest&) {
        FakeAction a = kind(FakeAction::RAW);
        a.body = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc";
        return a;
    });
    HttpClient client3(options_for({truncated.url()}));
    HttpResponse r3 = client3.send(post("{}"));
    EXPECT_EQ(r3.status, 0);
    EXPECT_NE(r3.error.find("mid-response"), std::string::npos) << r3.error;
}

TEST(HttpClient, OversizedBodyIsAnErrorNotACrash) {
    FakeServer server([](const FakeRequest&) {
        FakeAction a = kind(FakeAction::RAW);
        a.body = "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\nabc";
        return a;
    });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.error.find("64 MiB"), std::string::npos) << r.error;
    EXPECT_EQ(r.attempts, 1);  // a retry would get the same runaway answer
}

TEST(HttpClient, HangTimesOutAndIsRetried) {
    FakeServer server([](const FakeRequest& r) {
        if (r.index == 0) return kind(FakeAction::HANG);
        return ok();
    });
    HttpClient client(options_for({server.url()}));
    HttpRequest req = post("{}");
    req.timeout_s = 0.3;
    HttpResponse r = client.send(req);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.attempts, 2);

    FakeServer hang([](const FakeRequest&) { return kind(FakeAction::HANG); });
    auto o = options_for({hang.url()});
    o.retry.max_attempts = 2;
    HttpClient client2(o);
    auto t0 = Clock::now();
    HttpResponse r2 = client2.send(req);
    double elapsed = seconds_since(t0);
    EXPECT_EQ(r2.status, 0);
    EXPECT_EQ(r2.error, "timeout after 0.3 s");
    EXPECT_EQ(r2.attempts, 2);
    EXPECT_TRUE(r2.retries_exhausted);
    EXPECT_GE(elapsed, 0.58);
    EXPECT_LT(elapsed, 3.0);
}

TEST(HttpClient, ServerRestartMidRunRequestsStillSucceed) {
    FakeServer server([](const FakeRequest&) {
        FakeAction a = ok();
        a.delay_s = 0.002;
        return a;
    });
    auto o = options_for({server.url()});
    o.concurrency_per_url = 4;
    o.retry.max_attempts = 12;
    o.retry.base_s = 0.05;
    o.retry.cap_s = 0.3;
    HttpClient client(o);
    std::thread bouncer;
    int n_done = 0, n_ok = 0;
    std::atomic<bool> restarted{false};
    for (int i = 0; i < 60; ++i)
        client.submit(post("{}"), [&](HttpResponse r) {
            n_ok += r.status == 200;
            EXPECT_EQ(r.status, 200) << r.error;
            if (++n_done == 10)
                bouncer = std::thread([&] {
                    server.stop();
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                    server.restart();
                    restarted = true;
                });
        });
    client.run();
    if (bouncer.joinable()) bouncer.join();
    EXPECT_TRUE(restarted.load());
    EXPECT_EQ(n_ok, 60);
    EXPECT_GT(client.stats().n_retries, 0);
}

TEST(HttpClient, DrainedUrlMovesRequestsAndRecoversAfterHealthCheck) {
    FakeServer a([](const FakeRequest& r) { return ok(r.target == "/health" ? "healthy" : "a"); });
    FakeServer b([](const FakeRequest&) { return ok("b"); });
    a.stop();
    auto o = options_for({a.url(), b.url()});
    o.unhealthy_after = 2;
    o.retry.max_attempts = 4;
    HttpClient client(o);
    HttpResponse r = client.send(post("{}", 0));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "b");
    EXPECT_EQ(r.url_index, 1);
    EXPECT_TRUE(r.url_changed);
    EXPECT_EQ(r.attempts, 3);
    EXPECT_FALSE(client.healthy(0));
    EXPECT_TRUE(client.healthy(1));
    EXPECT_EQ(client.pick_url(), 1);

    // Drained: a sticky request for it goes to the other URL at once.
    HttpResponse r2 = client.send(post("{}", 0));
    EXPECT_EQ(r2.body, "b");
    EXPECT_EQ(r2.attempts, 1);
    EXPECT_EQ(r2.url_index, 1);
    EXPECT_TRUE(r2.url_changed);

    a.restart();
    auto t0 = Clock::now();
    while (!client.healthy(0) && seconds_since(t0) < 5) {
        EXPECT_EQ(client.send(post("{}", 1)).status, 200);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(client.healthy(0));
    auto seen = a.requests();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().method, "GET");
    EXPECT_EQ(seen.back().target, "/health");
    HttpResponse r3 = client.send(post("{}", 0));
    EXPECT_EQ(r3.body, "a");
    EXPECT_FALSE(r3.url_changed);
}

TEST(HttpClient, QueuedRequestsLeaveADrainedUrl) {
    FakeServer a([](const FakeRequest&) { return kind(FakeAction::CLOSE_BEFORE_RESPONSE); });
    FakeServer b([](const FakeRequest&) { return ok("b"); });
    auto o = options_for({a.url(), b.url()});
    o.concurrency_per_url = 1;
    o.unhealthy_after = 1;
    HttpClient client(o);
    int n_b = 0;
    for (int i = 0; i < 5; ++i)
        client.submit(post("{}", 0), [&](HttpResponse r) {
            EXPECT_EQ(r.status, 200) << r.error;
            EXPECT_TRUE(r.url_changed);
            n_b += r.body == "b";
        });
    EXPECT_EQ(client.outstanding(0), 5);
    client.run();
    EXPECT_EQ(n_b, 5);
    EXPECT_EQ(a.n_requests(), 1);  // the first failure drained it; the queue moved to b
}

TEST(HttpClient, HttpsWithTestCa) {
    FakeServer server([](const FakeRequest& r) { return ok("secure " + r.body); }, /*tls=*/true);
    ASSERT_EQ(server.url().rfind("https://", 0), 0u);
    auto o = options_for({server.url()});
    o.tls_ca_file = FakeServer::ca_file();
    HttpClient client(o);
    for (int i = 0; i < 5; ++i) {
        HttpResponse r = client.send(post("x"));
        ASSERT_EQ(r.status, 200) << r.error;
        EXPECT_EQ(r.body, "secure x");
    }
    EXPECT_EQ(server.n_connections(), 1);

    // By host name: resolution, SNI and name verification against the certificate's DNS name.
    auto o2 = options_for({"https://localhost:" + std::to_string(server.port())});
    o2.tls_ca_file = FakeServer::ca_file();
    HttpClient client2(o2);
    HttpResponse r2 = client2.send(post("y"));
    EXPECT_EQ(r2.status, 200) << r2.error;
    auto seen = server.requests();
    EXPECT_EQ(seen.back().headers.at("host"), "localhost:" + std::to_string(server.port()));
}

TEST(HttpClient, HttpsWithoutTheCaFailsClearlyAndIsNotRetried) {
    FakeServer server([](const FakeRequest&) { return ok(); }, /*tls=*/true);
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}"));
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.error.find("certificate verification failed"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("tls_ca_file"), std::string::npos) << r.error;
    EXPECT_EQ(r.attempts, 1);
    EXPECT_EQ(server.n_requests(), 0);

    auto o = options_for({server.url()});
    o.tls_verify = false;
    HttpClient trusting(o);
    EXPECT_EQ(trusting.send(post("{}")).status, 200);
}

TEST(HttpClient, StopFromAnotherThreadEndsRun) {
    FakeServer server([](const FakeRequest&) { return kind(FakeAction::HANG); });
    HttpClient client(options_for({server.url()}));
    std::vector<HttpResponse> got;
    for (int i = 0; i < 3; ++i) {
        HttpRequest req = post("{}");
        req.timeout_s = 60;
        client.submit(req, [&](HttpResponse r) { got.push_back(std::move(r)); });
    }
    std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        client.stop();
    });
    auto t0 = Clock::now();
    client.run();
    double elapsed = seconds_since(t0);
    stopper.join();
    EXPECT_LT(elapsed, 2.0);
    ASSERT_EQ(got.size(), 3u);
    for (const auto& r : got) {
        EXPECT_EQ(r.status, 0);
        EXPECT_EQ(r.error, "stopped");
    }
    EXPECT_EQ(client.outstanding(0), 0);
}

TEST(HttpClient, CallbacksMaySubmitMore) {
    FakeServer server([](const FakeRequest&) { return ok(); });
    HttpClient client(options_for({server.url()}));
    int n = 0;
    std::function<void(HttpResponse)> chain = [&](HttpResponse r) {
        EXPECT_EQ(r.status, 200);
        if (++n < 25) client.submit(post("{}"), chain);
    };
    client.submit(post("{}"), chain);
    client.run();
    EXPECT_EQ(n, 25);
    EXPECT_EQ(server.n_connections(), 1);
}

TEST(HttpClient, SendOrRunFromACallbackThrows) {
    FakeServer server([](const FakeRequest&) { return ok(); });
    HttpClient client(options_for({server.url()}));
    int n = 0;
    client.submit(post("{}"), [&](HttpResponse r) {
        EXPECT_EQ(r.status, 200);
        EXPECT_THROW(client.send(post("{}")), Error);
        EXPECT_THROW(client.run(), Error);
        ++n;
    });
    client.run();
    EXPECT_EQ(n, 1);
    EXPECT_EQ(server.n_requests(), 1);
    EXPECT_EQ(client.send(post("{}")).status, 200);
}

TEST(HttpClient, MalformedUrlsAndOptionsThrow) {
    for (const char* bad : {"ftp://h:1", "http://", "http://h:0", "http://h:99999", "http://h:80?x=1", "http://[::1",
                            "localhost:8000", "http://user@h:1", "http://h:8a", "http://h h:80"}) {
        auto o = options_for({bad});
        EXPECT_THROW(HttpClient client(o), Error) << bad;
    }
    EXPECT_THROW(HttpClient client(options_for({})), Error);
    auto o = options_for({"http://127.0.0.1:1"});
    o.concurrency_per_url = 0;
    EXPECT_THROW(HttpClient client(o), Error);
    auto o2 = options_for({"https://127.0.0.1:1"});
    o2.tls_ca_file = "/nonexistent/ca.pem";
    EXPECT_THROW(HttpClient client(o2), Error);
    HttpClient fine(options_for({"http://example.com", "https://[::1]:8443/v1"}));
    EXPECT_EQ(fine.url(1), "https://[::1]:8443/v1");
    EXPECT_THROW(fine.url(2), Error);
}

TEST(HttpClient, InvalidRequestsAreErrorResponsesNotSent) {
    FakeServer server([](const FakeRequest&) { return ok(); });
    HttpClient client(options_for({server.url()}));
    HttpResponse r = client.send(post("{}", 3));
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.error.find("out of range"), std::string::npos);
    HttpRequest bad_target = post("{}");
    bad_target.target = "/v1 HTTP/1.1\r\nX-Injected: 1";
    EXPECT_NE(client.send(bad_target).error.find("invalid request target"), std::string::npos);
    HttpRequest bad_header = post("{}");
    bad_header.headers = {{"X-A", "v\r\nX-Injected: 1"}};
    EXPECT_NE(client.send(bad_header).error.find("invalid request header"), std::string::npos);
    EXPECT_EQ(server.n_requests(), 0);
    EXPECT_EQ(client.send(post("{}")).status, 200);
}

TEST(HttpClient, ParseRetryAfter) {
    const int64_t now = 1445412450;  // Wed, 21 Oct 2015 07:27:30 GMT
    struct Case {
        const char* value;
        double expected;
    } cases[] = {
        {"1", 1},
        {" 120 ", 120},
        {"0", 0},
        {"", -1},
        {"   ", -1},
        {"abc", -1},
        {"-5", -1},
        {"1.5", -1},
        {"Wed, 21 Oct 2015 07:28:00 GMT", 30},
        {"Wed, 21 Oct 2015 07:00:00 GMT", 0},  // in the past: retry now
        {"Thu, 22 Oct 2015 07:27:30 GMT", 86400},
        {"Wed, 32 Oct 2015 07:28:00 GMT", -1},
        {"Wed, 21 Foo 2015 07:28:00 GMT", -1},
        {"Wed, 21 Oct 2015 07:28:00 UTC", -1},
        {"Wednesday, 21-Oct-15 07:28:00 GMT", -1},
        {"Sun, 29 Feb 2015 00:00:00 GMT", -1},
    };
    for (const auto& c : cases) EXPECT_EQ(http_parse_retry_after(c.value, now), c.expected) << "'" << c.value << "'";
    EXPECT_EQ(http_parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 0), 10);
    EXPECT_EQ(http_parse_retry_after("Sat, 29 Feb 2020 00:00:00 GMT", 1582934400 - 5), 5);
}

TEST(HttpClient, RetryableStatuses) {
    for (int s : {408, 429, 500, 502, 503, 504}) EXPECT_TRUE(http_status_retryable(s)) << s;
    for (int s : {200, 201, 301, 400, 401, 403, 404, 413, 422, 501, 505}) EXPECT_FALSE(http_status_retryable(s)) << s;
}

}  // namespace
}  // namespace adabench
