// Sweeps with "engine": "http" through the real engine provider and store (issue 16 item 4): a
// server that dies mid-sweep loses no stored sample; the samples whose retries ran out are stored
// failed_infra, never graded; after the server comes back, the same command resumes and ends with
// exactly the samples of an uninterrupted run — none lost, none duplicated. The run records the
// probe's manifest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "common/error.h"
#include "engines/http/serve_engine.h"
#include "harness/engine_provider.h"
#include "harness/sweep.h"
#include "harness/sweep_config.h"
#include "store/store.h"
#include "tests/http/fake_llm.h"

namespace adabench {
namespace {

using namespace http_testing;
namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
    fs::path p = fs::temp_directory_path() / ("adabench-test-http-" + std::to_string(getpid()) + "-" + name);
    fs::remove_all(p);
    fs::create_directories(p);
    return p.string();
}

SweepConfig config_for(const std::string& url) {
    json j = {{"engine", "http"},
              {"model", kModelDir},
              {"http",
               {{"urls", {url}},
                {"retry", {{"max_attempts", 2}, {"base_s", 0.01}, {"cap_s", 0.05}}},
                {"timeout", {{"connect_s", 1}, {"base_s", 10}, {"per_token_ms", 10}}}}},
              {"tasks", {{{"name", "arith"}, {"limit", 12}}}},
              {"budgets",
               {{"mechanism", "hard_cut"}, {"think_budgets", {4, 16, 64}}, {"answer_budget", 8}, {"max_tokens", 128}}},
              {"sampling", {{"temperature", 0.7}, {"top_p", 0.95}, {"seed", 3}}},
              {"batch_size", 4}};
    SweepConfig c = sweep_config_parse(j, "test.json");
    sweep_config_validate(c, "test.json");
    return c;
}

SweepOptions quiet() {
    SweepOptions o;
    o.progress = PROGRESS_MODE_NONE;
    return o;
}

// (point, problem, sample) -> what was stored
std::map<std::tuple<int64_t, std::string, int64_t>, SampleRecord> rows(const Store& st, int64_t run) {
    SampleFilter f;
    f.run_id = run;
    std::map<std::tuple<int64_t, std::string, int64_t>, SampleRecord> out;
    for (auto& s : st.list_samples(f)) out[{s.point_id, s.problem_id, s.sample_index}] = s;
    return out;
}

TEST(HttpSweep, AServerThatDiesMidSweepLosesNothingAndResumeCompletesTheRun) {
    std::string dir = temp_dir("dies");
    auto tasks = sweep_load_tasks(config_for("http://127.0.0.1:1"), ADABENCH_SOURCE_DIR);

    // The reference: an uninterrupted run.
    FakeLlm good(FakeLlm::ADABENCH);
    SweepConfig cg = config_for(good.url());
    Store ref(dir + "/ref.db");
    auto pg = sweep_make_engine_provider(cg);
    auto sg = sweep_run(cg, tasks, *pg, ref, quiet());
    ASSERT_EQ(sg.status, "finished");
    auto want = rows(ref, sg.run_id);
    ASSERT_EQ(static_cast<int64_t>(want.size()), sg.n_planned);
    auto run = ref.get_run(sg.run_id);
    ASSERT_TRUE(run.has_value());
    EXPECT_NE(run->engine, "");
    EXPECT_NE(run->engine_json.find("\"flavour\":\"adabench\""), std::string::npos) << run->engine_json;

    // A server that stops answering after 12 generation requests (then refuses connections).
    FakeLlm srv(FakeLlm::ADABENCH);
    std::atomic<int> completions{0};
    std::atomic<bool> dead{false};
    srv.fault = [&](const FakeRequest& r, const json& b) -> std::optional<FakeAction> {
        // The probe's prompts are 16 ids at most; the sweep's are whole arith problems.
        if (r.target == "/v1/completions" && b.contains("prompt") && b["prompt"].size() > 24 && ++completions > 12)
            dead = true;
        if (!dead) return std::nullopt;
        FakeAction a;
        a.kind = FakeAction::CLOSE_BEFORE_RESPONSE;
        return a;
    };
    SweepConfig c = config_for(srv.url());
    Store st(dir + "/r.db");
    auto p1 = sweep_make_engine_provider(c);
    auto s1 = sweep_run(c, tasks, *p1, st, quiet());
    EXPECT_EQ(s1.status, "partial");
    EXPECT_GT(s1.n_failed, 0);
    int64_t ok1 = st.count_samples(s1.run_id), failed1 = st.count_failed_samples(s1.run_id);
    EXPECT_GT(failed1, 0);
    EXPECT_EQ(ok1 + failed1, s1.n_planned) << "every planned sample is stored, ok or failed";
    for (const auto& [k, s] : rows(st, s1.run_id)) {
        if (s.status == "ok") {
            EXPECT_EQ(s.response_text, want.at(k).response_text) << "an ok sample equals the uninterrupted run's";
        } else {
            EXPECT_EQ(s.status, "failed_infra");
            EXPECT_FALSE(s.correct_strict);
            EXPECT_NE(s.error, "");
        }
    }

    // The server restarts: the same sweep resumes, re-issues only the failed samples, and ends complete.
    srv.server().stop();
    dead = false;
    completions = -1000000;
    srv.server().restart();
    auto p2 = sweep_make_engine_provider(c);
    auto s2 = sweep_run(c, tasks, *p2, st, quiet());
    EXPECT_EQ(s2.run_id, s1.run_id);
    EXPECT_EQ(s2.status, "finished");
    EXPECT_EQ(st.count_failed_samples(s1.run_id), 0);
    auto got = rows(st, s1.run_id);
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [k, w] : want) {
        const SampleRecord& g = got.at(k);
        EXPECT_EQ(g.status, "ok");
        EXPECT_EQ(g.response_text, w.response_text);
        EXPECT_EQ(g.n_tokens_think, w.n_tokens_think);
        EXPECT_EQ(g.n_tokens_answer, w.n_tokens_answer);
        EXPECT_EQ(g.finish_reason, w.finish_reason);
        EXPECT_EQ(g.forced, w.forced);
        EXPECT_EQ(g.correct_strict, w.correct_strict);
        EXPECT_EQ(g.extracted_strict, w.extracted_strict);
        EXPECT_TRUE(g.token_exact);
    }
}

TEST(HttpSweep, ConfigRefusesWhatAServerCannotDo) {
    json base = {
        {"engine", "http"}, {"model", kModelDir}, {"http", {{"urls", {"http://127.0.0.1:1"}}}}, {"tasks", {"arith"}}};
    auto refused = [&](json extra, const std::string& needle) {
        json j = base;
        j.update(extra);
        try {
            SweepConfig c = sweep_config_parse(j, "t.json");
            sweep_config_validate(c, "t.json");
            ADD_FAILURE() << "accepted " << extra.dump();
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    refused({{"merge", {{"with", kModelDir}, {"lambdas", "0:1:0.5"}}}}, "merges");
    refused({{"adapters", {{{"path", kModelDir}, {"coefs", "0,1"}}}}, {"lora_mode", "merged"}}, "merged");
    refused({{"http", {{"urls", json::array()}}}}, "http.urls");
    refused({{"http", {{"urls", {"http://x"}}, {"bogus", 1}}}}, "unknown key 'http.bogus'");
    refused({{"http", {{"urls", {"http://x"}}, {"lora", {{"realisation", "magic"}}}}}}, "realisation");
    refused({{"budgets", {{"mechanism", "server"}, {"think_budgets", {8}}, {"min_think", 4}}}}, "Waits");
    json cpu = {{"engine", "cpu"},
                {"model", kModelDir},
                {"tasks", {"arith"}},
                {"budgets", {{"mechanism", "server"}, {"think_budgets", {8}}}}};
    EXPECT_THROW(
        {
            SweepConfig c = sweep_config_parse(cpu, "t.json");
            sweep_config_validate(c, "t.json");
        },
        Error);
    // URLs, timeouts and concurrency are not part of the identity; the flavour and served model are.
    auto hash = [&](json extra) {
        json j = base;
        j.update(extra);
        SweepConfig c = sweep_config_parse(j, "t.json");
        sweep_config_validate(c, "t.json");
        return sweep_config_hash(c);
    };
    EXPECT_EQ(hash(json::object()),
              hash({{"http", {{"urls", {"http://other:9", "http://b:1"}}, {"concurrency_per_url", 8}}}}));
    EXPECT_NE(hash(json::object()), hash({{"http", {{"urls", {"http://x"}}, {"model", "other"}}}}));
    // The same file with --engine cpu runs in process: the http block is then ignored.
    json cpu_with_block = base;
    cpu_with_block["engine"] = "cpu";
    SweepConfig cc = sweep_config_parse(cpu_with_block, "t.json");
    EXPECT_NO_THROW(sweep_config_validate(cc, "t.json"));
    EXPECT_EQ(sweep_config_canonical(cc).count("http"), 0u);
}

}  // namespace
}  // namespace adabench

namespace adabench {
namespace {

// The acceptance check: the organism swept through `serve-engine` over HTTP stores, sample
// for sample, what the in-process engine stores — greedy and sampled, a fork sweep over budgets,
// Waits, and LoRA coefficient vectors (native per-request scales; and, greedy, materialised
// rank-concatenated adapters loaded through the vLLM-style load/unload endpoints).
struct ServeFixture {
    std::unique_ptr<EngineServer> server;
    std::string url;
    ServeFixture() {
        ServeEngineOptions o;
        o.engine.backend = "cpu";
        o.engine.model_dir = std::string(ADABENCH_SOURCE_DIR) + "/models/organism/base";
        o.engine.adapters = {{std::string(ADABENCH_SOURCE_DIR) + "/models/organism/lora-long", 0.0f},
                             {std::string(ADABENCH_SOURCE_DIR) + "/models/organism/lora-short", 0.0f}};
        o.engine.n_threads = 1;
        o.engine.max_batch = 64;
        o.port = 0;
        server = std::make_unique<EngineServer>(o);
        server->start();
        url = "http://127.0.0.1:" + std::to_string(server->port());
    }
};

json organism_sweep(const std::string& engine, double temperature) {
    std::string root = ADABENCH_SOURCE_DIR;
    return {{"engine", engine},
            {"model", root + "/models/organism/base"},
            {"adapters",
             {{{"path", root + "/models/organism/lora-long"}, {"name", "long"}},
              {{"path", root + "/models/organism/lora-short"}, {"name", "short"}}}},
            {"adapter_grid", "vectors"},
            {"coef_vectors", {{1, 0}, {0.5, 0.5}, {0, 1}}},
            {"tasks", {{{"name", "arith"}, {"limit", 6}}}},
            {"budgets",
             {{{"mechanism", "hard_cut"}, {"think_budgets", {16, 48, 128}}, {"answer_budget", 24}, {"max_tokens", 256}},
              {{"mechanism", "hard_cut"},
               {"think_budgets", {96}},
               {"min_think", 60},
               {"max_waits", 2},
               {"answer_budget", 24},
               {"max_tokens", 256}}}},
            {"sampling", {{"temperature", temperature}, {"top_p", 0.95}, {"n", temperature > 0 ? 2 : 1}, {"seed", 5}}},
            {"threads", 1},
            {"batch_size", 16}};
}

void expect_same_store(const std::string& dir, const std::string& name, json a, json b) {
    auto run = [&](json j, const std::string& db) {
        SweepConfig c = sweep_config_parse(j, name);
        sweep_config_validate(c, name);
        auto tasks = sweep_load_tasks(c, ADABENCH_SOURCE_DIR);
        auto prov = sweep_make_engine_provider(c);
        auto st = std::make_unique<Store>(dir + "/" + db);
        auto sum = sweep_run(c, tasks, *prov, *st, quiet());
        EXPECT_EQ(sum.status, "finished") << name;
        return std::make_pair(std::move(st), sum.run_id);
    };
    auto [sa, ra] = run(a, name + "-a.db");
    auto [sb, rb] = run(b, name + "-b.db");
    auto want = rows(*sa, ra), got = rows(*sb, rb);
    ASSERT_EQ(got.size(), want.size()) << name;
    ASSERT_GT(want.size(), 50u);
    int forced = 0, waits = 0, correct = 0;
    std::set<std::string> finishes;
    for (const auto& [k, w] : want) {
        const SampleRecord& g = got.at(k);
        std::string at = name + " point " + std::to_string(std::get<0>(k)) + " " + std::get<1>(k);
        EXPECT_EQ(g.status, "ok") << at << ": " << g.error;
        EXPECT_EQ(g.response_text, w.response_text) << at;
        EXPECT_EQ(g.n_tokens_prompt, w.n_tokens_prompt) << at;
        EXPECT_EQ(g.n_tokens_think, w.n_tokens_think) << at;
        EXPECT_EQ(g.n_tokens_answer, w.n_tokens_answer) << at;
        EXPECT_EQ(g.finish_reason, w.finish_reason) << at;
        EXPECT_EQ(g.forced, w.forced) << at;
        EXPECT_EQ(g.n_wait, w.n_wait) << at;
        EXPECT_EQ(g.censored, w.censored) << at;
        EXPECT_EQ(g.extracted_strict, w.extracted_strict) << at;
        EXPECT_EQ(g.correct_strict, w.correct_strict) << at;
        EXPECT_EQ(g.correct_flexible, w.correct_flexible) << at;
        EXPECT_EQ(g.seed, w.seed) << at;
        forced += w.forced;
        waits += w.n_wait > 0;
        correct += w.correct_strict;
        finishes.insert(w.finish_reason);
    }
    // The comparison covers forced answers, Waits, right and wrong answers.
    EXPECT_GT(forced, 5) << name;
    EXPECT_GT(waits, 2) << name;
    EXPECT_GT(correct, 2) << name;
    EXPECT_LT(correct, static_cast<int>(want.size())) << name;
    EXPECT_GE(finishes.size(), 2u) << name;
}

TEST(HttpSweep, ServeEngineOverHttpStoresWhatTheInProcessEngineStores) {
    ServeFixture f;
    std::string dir = temp_dir("serve");
    for (double t : {0.0, 0.8}) {
        json http = organism_sweep("http", t);
        http["http"] = {{"urls", {f.url}}, {"flavour", "auto"}};
        expect_same_store(dir, "T" + std::to_string(t), organism_sweep("cpu", t), http);
    }
}

TEST(HttpSweep, MaterialisedLoraAdaptersMatchTheInProcessEngineGreedy) {
    ServeFixture f;
    std::string dir = temp_dir("materialise");
    json http = organism_sweep("http", 0.0);
    http["budgets"] = {
        {{"mechanism", "hard_cut"}, {"think_budgets", {16, 48, 128}}, {"answer_budget", 24}, {"max_tokens", 256}},
        {{"mechanism", "hard_cut"},
         {"think_budgets", {96}},
         {"min_think", 60},
         {"max_waits", 2},
         {"answer_budget", 24},
         {"max_tokens", 256}}};
    // vLLM's way: one rank-concatenated adapter per coefficient vector, loaded by name.
    http["http"] = {
        {"urls", {f.url}}, {"flavour", "vllm"}, {"lora", {{"realisation", "materialise"}, {"dir", dir + "/lora"}}}};
    expect_same_store(dir, "materialise", organism_sweep("cpu", 0.0), http);
    // One combined adapter per non-zero vector was written.
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir + "/lora"))
        if (e.is_directory()) ++n;
    EXPECT_EQ(n, 3);
}

}  // namespace
}  // namespace adabench
