// HTTP client speed (engines/http/http_client.h) against the scripted fake server on 127.0.0.1,
// the server on its own single thread, the client on the benchmark's thread (one io_context).
//
// Cases:
//   throughput/N         N requests kept in flight (1, 64, 256), the server answering a small JSON
//                        body at once: requests per second, client CPU per request.
//   latency/64/D         64 in flight, the server answering after a delay on a timer, uniform in
//                        [D/2, 3D/2] ms (D = 0 and 20; spread like generations that end at different
//                        times, not in lockstep waves): the latency the client sees minus the
//                        server's own handling time (request read to response written, delay
//                        included). With D = 20 the server thread is idle most of the time, so the
//                        difference is what the client (and loopback) adds; with D = 0 it also holds
//                        the wait in the server's read queue behind the other 63 requests.
// Counters: req_per_s; client_cpu_us (client thread CPU per request); latency_us (mean, client side);
// p99_latency_us; handling_us (mean, server side); added_latency_us = latency_us - handling_us.
//
//   fork_sweep/K         the bundled organism (models/organism/long) behind an in-process
//                        serve-engine, 40 arith problems, thinking budgets 16, 32, ... (K of them),
//                        greedy, through the http engine: one fork sweep against K separate runs and
//                        against the largest budget alone. Counters: tokens the server generated and
//                        prompt tokens sent (what a server without a prefix cache prefills), for the
//                        sweep, the separate runs and the largest alone, and the ratios
//                        separate/sweep and sweep/largest (target <= 1.3, TARGETS.md).
//
//   build-bench/bench/bench-http
//   build-bench/bench/bench-http --benchmark_filter=latency
#include <benchmark/benchmark.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <fstream>

#include <nlohmann/json.hpp>

#include "engines/http/http_client.h"
#include "engines/http/http_engine.h"
#include "engines/http/serve_engine.h"
#include "engines/tokenizer/chat_template.h"
#include "engines/tokenizer/tokenizer.h"
#include "tests/http/fake_server.h"

using namespace adabench;

namespace {

const char* kBody =
    "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" 42\","
    "\"token_ids\":[220,19,17],\"finish_reason\":\"stop\",\"stop_reason\":null}],"
    "\"usage\":{\"prompt_tokens\":16,\"completion_tokens\":3,\"total_tokens\":19}}";

double thread_cpu_s() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

HttpRequest request() {
    HttpRequest r;
    r.target = "/v1/completions";
    r.body = "{\"model\":\"m\",\"prompt\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16],\"max_tokens\":3,\"seed\":1}";
    r.timeout_s = 30;
    return r;
}

// Sends n requests keeping `in_flight` of them outstanding; returns the client latencies (s).
std::vector<double> run_batch(HttpClient& client, int n, int in_flight, int* n_failed) {
    std::vector<double> latencies;
    latencies.reserve(static_cast<size_t>(n));
    int submitted = 0;
    const HttpRequest req = request();
    std::function<void(HttpResponse)> on_done = [&](HttpResponse r) {
        if (r.status != 200) ++*n_failed;
        latencies.push_back(r.latency_s);
        if (submitted < n) {
            ++submitted;
            client.submit(req, on_done);
        }
    };
    for (; submitted < std::min(n, in_flight); ++submitted) client.submit(req, on_done);
    client.run();
    return latencies;
}

struct Setup {
    explicit Setup(double delay_s, int in_flight)
        : server(
              [delay_s](const FakeRequest& r) {
                  FakeAction a;
                  a.body = kBody;
                  // uniform in [delay_s/2, 3 delay_s/2], a fixed sequence (Weyl step over the index)
                  double u = static_cast<double>((static_cast<uint64_t>(r.index) * 40503u) % 65536u) / 65536.0;
                  a.delay_s = delay_s * (0.5 + u);
                  return a;
              },
              /*tls=*/false, /*n_threads=*/1),
          client([&] {
              HttpClientOptions o;
              o.urls = {server.url()};
              o.concurrency_per_url = in_flight;
              return o;
          }()) {}
    FakeServer server;
    HttpClient client;
};

void report(benchmark::State& state, Setup& s, int64_t n_total, int n_failed, double wall_s, double cpu_s,
            std::vector<double>& lat, double handling_s, int64_t n_handled) {
    if (n_failed > 0) state.SkipWithError("some requests failed");
    state.counters["req_per_s"] = static_cast<double>(n_total) / wall_s;
    state.counters["client_cpu_us"] = cpu_s / static_cast<double>(n_total) * 1e6;
    double mean = 0;
    for (double x : lat) mean += x;
    mean /= static_cast<double>(std::max<size_t>(1, lat.size()));
    std::sort(lat.begin(), lat.end());
    double p99 = lat.empty() ? 0 : lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
    double handling = n_handled > 0 ? handling_s / static_cast<double>(n_handled) : 0;
    state.counters["latency_us"] = mean * 1e6;
    state.counters["p99_latency_us"] = p99 * 1e6;
    state.counters["handling_us"] = handling * 1e6;
    state.counters["added_latency_us"] = (mean - handling) * 1e6;
    state.counters["connections"] = static_cast<double>(s.server.n_connections());
}

void measure(benchmark::State& state, double delay_s, int in_flight, int batch) {
    Setup s(delay_s, in_flight);
    s.server.keep_log(false);
    int n_failed = 0;
    run_batch(s.client, 2 * in_flight, in_flight, &n_failed);  // warm-up: connections opened
    double handling0 = s.server.handling_s();
    int64_t handled0 = s.server.n_responded();
    std::vector<double> all;
    int64_t n_total = 0;
    double wall = 0, cpu = 0;
    for (auto _ : state) {
        auto t0 = std::chrono::steady_clock::now();
        double c0 = thread_cpu_s();
        auto lat = run_batch(s.client, batch, in_flight, &n_failed);
        cpu += thread_cpu_s() - c0;
        wall += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        n_total += batch;
        all.insert(all.end(), lat.begin(), lat.end());
    }
    report(state, s, n_total, n_failed, wall, cpu, all, s.server.handling_s() - handling0,
           s.server.n_responded() - handled0);
    state.SetItemsProcessed(n_total);
}

void BM_http_throughput(benchmark::State& state) {
    measure(state, 0.0, static_cast<int>(state.range(0)), 2000);
}
BENCHMARK(BM_http_throughput)->Arg(1)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_http_latency(benchmark::State& state) {
    int in_flight = static_cast<int>(state.range(0));
    double delay_s = static_cast<double>(state.range(1)) * 1e-3;
    measure(state, delay_s, in_flight, delay_s > 0 ? 1280 : 2000);
}
BENCHMARK(BM_http_latency)->Args({64, 0})->Args({64, 20})->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_http_fork_sweep(benchmark::State& state) {
    const int k = static_cast<int>(state.range(0));
    const std::string root = ADABENCH_SOURCE_DIR;
    ServeEngineOptions so;
    so.engine.model_dir = root + "/models/organism/long";
    so.engine.n_threads = 1;
    so.engine.max_batch = 256;
    so.port = 0;
    EngineServer server(so);
    server.start();
    HttpEngineOptions ho;
    ho.urls = {"http://127.0.0.1:" + std::to_string(server.port())};
    ho.tokenizer_dir = so.engine.model_dir;
    HttpEngine engine(ho);
    ChatTemplate tpl = chat_template_from_model_dir(so.engine.model_dir);
    std::vector<int> budgets;
    for (int i = 0; i < k; ++i) budgets.push_back(16 << i);
    std::vector<GenerateRequest> base;
    std::ifstream in(root + "/datasets/data/arith_test.jsonl");
    std::string line;
    for (int n = 0; n < 400 && std::getline(in, line); ++n) {
        if (n % 10 != 0) continue;  // 40 problems over every level
        GenerateRequest r;
        r.prompt_ids = engine.tokenizer().encode(tpl.render(nlohmann::json::parse(line)["question"].get<std::string>()), true);
        r.prompt_opens_thinking = tpl.prompt_opens_thinking;
        r.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
        r.budget.think_begin = tpl.think_begin;
        r.budget.think_end = tpl.think_end;
        r.budget.forced_text = "\n" + tpl.think_end + "\n\n**Final Answer:**\n\n";
        r.budget.answer_budget = 32;
        r.max_tokens = 512;
        r.stop = tpl.stop_texts;
        base.push_back(r);
    }
    struct Cost {
        int64_t generated = 0, prompt = 0;
        double wall_s = 0;
    };
    auto run = [&](const std::vector<int>& bs) {
        std::vector<GenerateRequest> reqs = base;
        for (auto& r : reqs) r.think_budgets = bs;
        Cost c;
        int64_t g0 = engine.n_tokens_generated(), p0 = engine.n_tokens_prompt_sent();
        auto t0 = std::chrono::steady_clock::now();
        engine.generate(reqs);
        c.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        c.generated = engine.n_tokens_generated() - g0;
        c.prompt = engine.n_tokens_prompt_sent() - p0;
        return c;
    };
    Cost sweep, separate, largest;
    for (auto _ : state) {
        sweep = run(budgets);
        separate = Cost{};
        for (int b : budgets) {
            Cost c = run({b});
            separate.generated += c.generated;
            separate.prompt += c.prompt;
            separate.wall_s += c.wall_s;
            if (b == budgets.back()) largest = c;
        }
    }
    state.counters["sweep_generated"] = static_cast<double>(sweep.generated);
    state.counters["separate_generated"] = static_cast<double>(separate.generated);
    state.counters["largest_generated"] = static_cast<double>(largest.generated);
    state.counters["sweep_prompt"] = static_cast<double>(sweep.prompt);
    state.counters["separate_prompt"] = static_cast<double>(separate.prompt);
    state.counters["separate_over_sweep"] = static_cast<double>(separate.generated) / static_cast<double>(sweep.generated);
    state.counters["sweep_over_largest"] = static_cast<double>(sweep.generated) / static_cast<double>(largest.generated);
    state.counters["wall_sweep_over_largest"] = sweep.wall_s / largest.wall_s;
    state.counters["wall_separate_over_sweep"] = separate.wall_s / sweep.wall_s;
}
BENCHMARK(BM_http_fork_sweep)->Arg(4)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
