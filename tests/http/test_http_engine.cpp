// The http engine against scripted fake servers on loopback (EXTERNAL_ENGINES.md S9).
//
// The fake servers run a "model" that is a fixed function of the whole token history (thinks for a
// prompt-dependent number of tokens, closes thinking, answers a few tokens, then EOS; every other
// token gets a small hashed logit so sampling can pick anything). The reference is the in-process
// Generator over a mock backend with the same function: the http engine, driving the server with
// continuation rounds, must reproduce it token for token — greedy and sampled, fork sweeps over
// budgets, Waits, stop strings, max_tokens. Then the failure modes: double BOS, ignored fields,
// 429 with Retry-After, 503 while loading, resets mid-response, slow long generations, retry
// exhaustion (failed_infra), a 400, replicas with sticky rounds.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "engines/http/http_engine.h"
#include "tests/http/fake_llm.h"

namespace adabench {
namespace {

using namespace http_testing;

void expect_same(const std::vector<std::vector<GenerateResult>>& got,
                 const std::vector<std::vector<GenerateResult>>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].size(), want[i].size()) << what;
        for (size_t j = 0; j < got[i].size(); ++j) {
            const GenerateResult &a = got[i][j], &b = want[i][j];
            std::string at = what + " request " + std::to_string(i) + " budget " + std::to_string(b.think_budget);
            EXPECT_EQ(a.status, SAMPLE_STATUS_OK) << at << ": " << a.error;
            EXPECT_EQ(a.output_ids, b.output_ids) << at;
            EXPECT_EQ(a.text, b.text) << at;
            EXPECT_EQ(a.n_tokens_prompt, b.n_tokens_prompt) << at;
            EXPECT_EQ(a.n_tokens_think, b.n_tokens_think) << at;
            EXPECT_EQ(a.n_tokens_answer, b.n_tokens_answer) << at;
            EXPECT_EQ(finish_reason_name(a.finish_reason), std::string(finish_reason_name(b.finish_reason))) << at;
            EXPECT_EQ(a.forced, b.forced) << at;
            EXPECT_EQ(a.n_wait, b.n_wait) << at;
            EXPECT_EQ(a.censored, b.censored) << at;
            EXPECT_EQ(a.think_budget, b.think_budget) << at;
            EXPECT_TRUE(a.token_exact) << at;
        }
    }
}

// What a result set exercised (so the exactness checks above cannot pass vacuously).
struct Coverage {
    int forced = 0, waits = 0, censored = 0;
    std::set<std::string> finishes;
    void add(const std::vector<std::vector<GenerateResult>>& rs) {
        for (const auto& r : rs)
            for (const auto& x : r) {
                forced += x.forced;
                waits += x.n_wait > 0;
                censored += x.censored;
                finishes.insert(finish_reason_name(x.finish_reason));
            }
    }
};

HttpEngineOptions options_for(const std::vector<std::string>& urls, const std::string& flavour = "auto") {
    HttpEngineOptions o;
    o.urls = urls;
    o.flavour = flavour;
    o.tokenizer_dir = kModelDir;
    o.retry.base_s = 0.01;
    o.retry.cap_s = 2.0;
    o.retry.max_attempts = 4;
    o.base_timeout_s = 20.0;
    o.connect_timeout_s = 2.0;
    return o;
}

// Every round's prompt is an earlier round's prompt + its output + inserted ids: never re-encoded text.
// Rounds before `from` (the probe's) are not checked.
void expect_seams_are_concatenations(const std::vector<Recorded>& rec, const std::vector<GenerateRequest>& reqs,
                                     size_t from) {
    std::set<std::vector<int32_t>> originals;
    for (const auto& r : reqs) originals.insert(r.prompt_ids);
    size_t n_checked = 0;
    for (size_t k = from; k < rec.size(); ++k) {
        ++n_checked;
        if (originals.count(rec[k].prompt)) continue;
        bool found = false;
        for (size_t j = 0; j < rec.size() && !found; ++j) {
            if (j == k) continue;
            std::vector<int32_t> prefix = rec[j].prompt;
            prefix.insert(prefix.end(), rec[j].out.begin(), rec[j].out.end());
            // A Wait replaces the end-of-thinking token: the continuation keeps all but that one.
            size_t keep = prefix.size();
            if (!rec[j].out.empty() && rec[j].out.back() == model().think_end) keep = std::min(keep, prefix.size() - 1);
            if (rec[k].prompt.size() >= keep &&
                std::equal(prefix.begin(), prefix.begin() + static_cast<long>(keep), rec[k].prompt.begin()))
                found = true;
        }
        EXPECT_TRUE(found) << "round " << k << " (" << rec[k].prompt.size() << " ids) continues no earlier round";
    }
    EXPECT_GT(n_checked, 0u);
}

// ---- exactness ----

TEST(HttpEngine, ServeEngineFlavourReproducesTheGeneratorGreedyAndSampled) {
    FakeLlm srv(FakeLlm::ADABENCH);
    HttpEngine engine(options_for({srv.url()}));
    const size_t probe_rounds = srv.recorded().size();
    EXPECT_EQ(engine.flavour(), HTTP_FLAVOUR_ADABENCH);
    Coverage cov;
    for (float t : {0.0f, 0.9f}) {
        auto reqs = requests_for(kQuestions, {}, t);
        expect_same(engine.generate(reqs), reference(reqs), "no budget T=" + std::to_string(t));
        auto sweep = requests_for(kQuestions, {2, 5, 9, 40}, t);
        auto ref = reference(sweep);
        expect_same(engine.generate(sweep), ref, "fork sweep T=" + std::to_string(t));
        cov.add(ref);
        auto waits = requests_for(kQuestions, {4, 12, 60}, t, 30);
        ref = reference(waits);
        expect_same(engine.generate(waits), ref, "waits T=" + std::to_string(t));
        cov.add(ref);
        auto capped = requests_for(kQuestions, {12}, t, 0, 9);
        ref = reference(capped);
        expect_same(engine.generate(capped), ref, "max_tokens T=" + std::to_string(t));
        cov.add(ref);
    }
    EXPECT_GT(cov.forced, 5);
    EXPECT_GT(cov.waits, 2);
    EXPECT_GE(cov.finishes.size(), 3u);
    expect_seams_are_concatenations(srv.recorded(), requests_for(kQuestions, {}, 0.0f), probe_rounds);
    json m = engine.manifest();
    EXPECT_EQ(m["urls"][0]["checks"]["prompt_echo"], "ok");
    EXPECT_EQ(m["urls"][0]["checks"]["stop_ids"], "ok");
    EXPECT_EQ(m["urls"][0]["checks"]["tokenizer"], "ok");
    EXPECT_EQ(m["seed_per_round"], false);
}

TEST(HttpEngine, EveryTokenFlavourReproducesTheGeneratorGreedy) {
    for (auto kind : {FakeLlm::VLLM, FakeLlm::SGLANG, FakeLlm::LLAMACPP}) {
        FakeLlm srv(kind);
        HttpEngine engine(options_for({srv.url()}));
        auto sweep = requests_for(kQuestions, {3, 7, 50}, 0.0f, 10);
        expect_same(engine.generate(sweep), reference(sweep), http_flavour_name(engine.flavour()));
        for (const auto& b : srv.bodies()) {
            if (kind == FakeLlm::LLAMACPP) {
                EXPECT_EQ(b["samplers"].size(), 4u);
            } else {
                EXPECT_TRUE(b.contains("repetition_penalty") && b.contains("min_p") && b.contains("top_k"));
            }
        }
    }
}

TEST(HttpEngine, OtherServersGetAFreshSeedPerRoundAndRecordIt) {
    FakeLlm srv(FakeLlm::VLLM);
    HttpEngine engine(options_for({srv.url()}));
    EXPECT_EQ(engine.manifest()["seed_per_round"], true);
    auto reqs = requests_for({kQuestions[0]}, {3, 40}, 0.9f);
    auto res = engine.generate(reqs);
    std::set<uint64_t> seeds;
    for (const auto& b : srv.bodies()) seeds.insert(b["seed"].get<uint64_t>());
    EXPECT_GT(seeds.size(), 2u) << "rounds after the first must not restart the server's stream";
    EXPECT_EQ(res[0][0].status, SAMPLE_STATUS_OK);
}

TEST(HttpEngine, ForkSweepRequestsFewerTokensThanSeparateRuns) {
    FakeLlm srv(FakeLlm::ADABENCH);
    HttpEngine engine(options_for({srv.url()}));
    std::vector<int> budgets = {2, 4, 8, 16};
    auto sweep = requests_for(kQuestions, budgets, 0.0f);
    int64_t before = engine.n_tokens_requested();
    engine.generate(sweep);
    int64_t fork = engine.n_tokens_requested() - before;
    int64_t separate = 0, largest = 0;
    for (int b : budgets) {
        auto one = requests_for(kQuestions, {b}, 0.0f);
        int64_t s = engine.n_tokens_requested();
        engine.generate(one);
        separate += engine.n_tokens_requested() - s;
        if (b == budgets.back()) largest = engine.n_tokens_requested() - s;
    }
    EXPECT_LT(fork, separate);
    std::printf("tokens requested: fork sweep %lld, separate runs %lld (%.2fx), largest budget alone %lld (%.2fx)\n",
                static_cast<long long>(fork), static_cast<long long>(separate),
                static_cast<double>(separate) / static_cast<double>(fork), static_cast<long long>(largest),
                static_cast<double>(fork) / static_cast<double>(largest));
    EXPECT_LE(static_cast<double>(fork), 1.3 * static_cast<double>(largest) + 4 * 6 * 5)
        << "fork " << fork << " largest alone " << largest;
}

// ---- the probe ----

TEST(HttpEngine, ProbeRefusesADoubleBos) {
    FakeLlm srv(FakeLlm::VLLM);
    srv.extra_bos = true;
    try {
        HttpEngine e(options_for({srv.url()}));
        FAIL() << "accepted a server that adds a BOS";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("added BOS"), std::string::npos) << e.what();
    }
}

TEST(HttpEngine, ProbeDetectsIgnoredFields) {
    {
        FakeLlm srv(FakeLlm::VLLM);
        srv.ignore_stop_ids = true;
        EXPECT_THROW({ HttpEngine e(options_for({srv.url()})); }, Error);
    }
    {
        FakeLlm srv(FakeLlm::VLLM);
        srv.ignore_top_k = true;
        try {
            HttpEngine e(options_for({srv.url()}));
            FAIL() << "accepted a server that ignores top_k";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("top_k"), std::string::npos) << e.what();
        }
    }
    {
        FakeLlm srv(FakeLlm::VLLM);
        srv.drop_token_ids = true;
        try {
            HttpEngine e(options_for({srv.url()}));
            FAIL() << "accepted a server that returns no token ids";
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("return_token_ids"), std::string::npos) << e.what();
        }
    }
}

TEST(HttpEngine, ProbeNamesAnUnknownModelAndAnUnreachableServer) {
    FakeLlm srv(FakeLlm::VLLM);
    HttpEngineOptions o = options_for({srv.url()});
    o.model = "no-such-model";
    try {
        HttpEngine e(o);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no-such-model"), std::string::npos) << e.what();
    }
    HttpEngineOptions dead = options_for({"http://127.0.0.1:1"});
    dead.retry.max_attempts = 2;
    EXPECT_THROW({ HttpEngine e(dead); }, Error);
}

// ---- faults ----

TEST(HttpEngine, RetriesThrough429With503AndResets) {
    // Faults a retry can fix: 503 while the server loads, then, for the first attempt of every
    // third generation request a 429 with Retry-After, and of every fifth a reset mid-body. Which
    // requests fail depends on their bodies only (not on arrival order), and a retry of the same
    // body always succeeds, so the test does not depend on timing.
    FakeLlm srv(FakeLlm::ADABENCH);
    std::atomic<int> n{0};
    std::mutex mu;
    std::set<std::string> seen;
    int n_429 = 0, n_reset = 0;
    srv.fault = [&](const FakeRequest& r, const json&) -> std::optional<FakeAction> {
        if (n++ < 3) {  // loading
            FakeAction a;
            a.status = 503;
            a.body = R"({"message":"loading"})";
            return a;
        }
        if (r.target != "/v1/completions") return std::nullopt;
        std::lock_guard<std::mutex> l(mu);
        if (!seen.insert(r.body).second) return std::nullopt;  // a retry: served
        size_t h = std::hash<std::string>{}(r.body);
        if (h % 3 == 0) {
            ++n_429;
            FakeAction a;
            a.status = 429;
            a.body = R"({"message":"queue full"})";
            a.headers = {{"Retry-After", "0"}};
            return a;
        }
        if (h % 5 == 0) {
            ++n_reset;
            FakeAction a;
            a.kind = FakeAction::RESET_MID_BODY;
            a.body = std::string(200, 'x');
            return a;
        }
        return std::nullopt;
    };
    HttpEngine engine(options_for({srv.url()}));
    auto reqs = requests_for(kQuestions, {3, 9, 40}, 0.9f, 12);
    auto got = engine.generate(reqs);
    expect_same(got, reference(reqs), "with faults");
    EXPECT_GT(n_429, 0);
    EXPECT_GT(n_reset, 0);
    EXPECT_GE(engine.client_stats().n_retries, n_429 + n_reset);
}

TEST(HttpEngine, ExhaustedRetriesFailOnlyThatSample) {
    FakeLlm srv(FakeLlm::ADABENCH);
    HttpEngine engine(options_for({srv.url()}));
    auto reqs = requests_for(kQuestions, {4, 30}, 0.0f);
    const std::vector<int32_t> poisoned = reqs[1].prompt_ids;
    srv.fault = [&](const FakeRequest& r, const json& b) -> std::optional<FakeAction> {
        if (r.target != "/v1/completions" || !b.contains("prompt")) return std::nullopt;
        auto p = b["prompt"].get<std::vector<int32_t>>();
        if (p.size() >= poisoned.size() && std::equal(poisoned.begin(), poisoned.end(), p.begin())) {
            FakeAction a;
            a.status = 502;
            a.body = "bad gateway";
            return a;
        }
        return std::nullopt;
    };
    auto got = engine.generate(reqs);
    auto want = reference(reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
        for (size_t j = 0; j < got[i].size(); ++j) {
            if (i == 1) {
                EXPECT_EQ(got[i][j].status, SAMPLE_STATUS_FAILED_INFRA);
                EXPECT_NE(got[i][j].error.find("502"), std::string::npos) << got[i][j].error;
                EXPECT_EQ(got[i][j].think_budget, want[i][j].think_budget);
            } else {
                EXPECT_EQ(got[i][j].status, SAMPLE_STATUS_OK);
                EXPECT_EQ(got[i][j].output_ids, want[i][j].output_ids);
            }
        }
    }
}

TEST(HttpEngine, AClientErrorFailsAtOnceWithTheServersMessage) {
    FakeLlm srv(FakeLlm::VLLM);
    HttpEngine engine(options_for({srv.url()}));
    srv.fault = [&](const FakeRequest& r, const json&) -> std::optional<FakeAction> {
        if (r.target != "/v1/completions") return std::nullopt;
        FakeAction a;
        a.status = 400;
        a.body = R"({"object":"error","message":"This model's maximum context length is 2048 tokens","code":400})";
        return a;
    };
    try {
        engine.generate(requests_for(kQuestions, {4}, 0.0f));
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("maximum context length"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("400"), std::string::npos) << e.what();
    }
    size_t n = srv.server().n_requests();
    EXPECT_LT(n, 40u) << "a 400 must not be retried";
}

TEST(HttpEngine, SlowLongGenerationsGetTimeToFinish) {
    // A server that takes 1.5 s a round: a fixed 1 s timeout fails every attempt (the sample ends as
    // failed_infra, never as a wrong answer); 1 s + 100 ms per token asked lets it finish.
    FakeLlm srv(FakeLlm::ADABENCH);
    auto reqs = requests_for({kQuestions[0]}, {}, 0.0f, 0, 60);
    HttpEngineOptions so = options_for({srv.url()});
    so.base_timeout_s = 1.0;
    so.per_token_timeout_ms = 100.0;
    so.retry.max_attempts = 2;
    HttpEngine scaled(so);
    srv.completion_delay_s = 1.5;
    auto got = scaled.generate(reqs);
    EXPECT_EQ(got[0][0].status, SAMPLE_STATUS_OK) << got[0][0].error;
    expect_same(got, reference(reqs), "slow server");

    srv.completion_delay_s = 0.0;
    so.per_token_timeout_ms = 0.0;
    HttpEngine fixed(so);
    srv.completion_delay_s = 1.5;
    auto failed = fixed.generate(reqs);
    EXPECT_EQ(failed[0][0].status, SAMPLE_STATUS_FAILED_INFRA);
    EXPECT_NE(failed[0][0].error.find("attempts"), std::string::npos) << failed[0][0].error;
}

TEST(HttpEngine, ReplicasKeepEverySampleOnOneUrl) {
    FakeLlm a(FakeLlm::ADABENCH), b(FakeLlm::ADABENCH);
    HttpEngine engine(options_for({a.url(), b.url()}));
    const size_t probe_a = a.recorded().size(), probe_b = b.recorded().size();
    auto reqs = requests_for(kQuestions, {3, 9, 40}, 0.0f, 10);
    expect_same(engine.generate(reqs), reference(reqs), "two replicas");
    auto ra = a.recorded(), rb = b.recorded();
    EXPECT_GT(ra.size(), 3u);
    EXPECT_GT(rb.size(), 3u);
    // Each server's rounds continue its own earlier rounds: no sample moved.
    expect_seams_are_concatenations(ra, reqs, probe_a);
    expect_seams_are_concatenations(rb, reqs, probe_b);
}

TEST(HttpEngine, NativeLoraScalesGoWithEveryRound) {
    FakeLlm srv(FakeLlm::ADABENCH);
    srv.n_lora = 2;
    HttpEngineOptions o = options_for({srv.url()});
    o.adapter_paths = {"a", "b"};
    HttpEngine engine(o);
    auto reqs = requests_for({kQuestions[0]}, {3, 30}, 0.0f);
    reqs[0].lora_coefs = {0.5f, 0.25f};
    auto got = engine.generate(reqs);
    EXPECT_EQ(got[0][0].status, SAMPLE_STATUS_OK);
    int with_lora = 0;
    for (const auto& b : srv.bodies()) {
        if (b.contains("lora")) {
            ++with_lora;
            EXPECT_EQ(b["lora"], json::parse(R"([{"id":0,"scale":0.5},{"id":1,"scale":0.25}])"));
        }
    }
    EXPECT_GE(with_lora, 2);
    EXPECT_NE(got[0][0].engine_json.find("\"lora\":\"native\""), std::string::npos) << got[0][0].engine_json;
    // A server with fewer adapters than the config is refused up front.
    FakeLlm one(FakeLlm::ADABENCH);
    one.n_lora = 1;
    HttpEngineOptions o1 = options_for({one.url()});
    o1.adapter_paths = {"a", "b"};
    EXPECT_THROW({ HttpEngine e(o1); }, Error);
}

TEST(HttpEngine, AFullContextEndsWhereTheInProcessEngineEnds) {
    // A server with a small max_model_len: every sequence that fills it ends with finish reason
    // context at the same token as the in-process engine with that context (issue 20 D2).
    FakeLlm srv(FakeLlm::ADABENCH);
    srv.max_model_len = 40;
    HttpEngine engine(options_for({srv.url()}));
    int context = 0;
    for (float t : {0.0f, 0.9f}) {
        for (auto reqs : {requests_for(kQuestions, {}, t, 0, 500), requests_for(kQuestions, {3, 9, 30}, t, 0, 500),
                          requests_for(kQuestions, {4, 60}, t, 12, 500)}) {
            auto want = reference(reqs, 40);
            expect_same(engine.generate(reqs), want, "context 40");
            for (const auto& r : want)
                for (const auto& x : r) context += x.finish_reason == FINISH_REASON_CONTEXT;
        }
    }
    EXPECT_GE(context, 8);
}

TEST(HttpEngine, ServerSideBudgetIsItsOwnLabelledMechanism) {
    FakeLlm srv(FakeLlm::VLLM);
    HttpEngine engine(options_for({srv.url()}));
    int forced = 0;
    for (int b : {3, 6, 40}) {
        auto reqs = requests_for(kQuestions, {b}, 0.0f);
        for (auto& r : reqs) r.budget.mechanism = BUDGET_MECHANISM_SERVER;
        auto got = engine.generate(reqs);
        for (const auto& r : got) {
            ASSERT_EQ(r[0].status, SAMPLE_STATUS_OK) << r[0].error;
            EXPECT_EQ(r[0].think_budget, b);
            // The prompt's "<think>\n" counts on the server's side; adabench sends b + 1, so the
            // generated thinking is capped at exactly b, as with its own budgets.
            EXPECT_LE(r[0].n_tokens_think, b);
            EXPECT_EQ(r[0].forced, r[0].n_tokens_think == b);
            forced += r[0].forced;
            EXPECT_NE(r[0].engine_json.find("server_vllm"), std::string::npos);
        }
    }
    EXPECT_GT(forced, 3);
    EXPECT_EQ(engine.manifest()["server_budget"]["check"], "ok");
    // A server that drops the field is caught; other flavours refuse the mechanism.
    FakeLlm deaf(FakeLlm::VLLM);
    deaf.honour_server_budget = false;
    HttpEngine e2(options_for({deaf.url()}));
    auto reqs = requests_for({kQuestions[0]}, {2}, 0.0f);
    reqs[0].budget.mechanism = BUDGET_MECHANISM_SERVER;
    EXPECT_THROW(e2.generate(reqs), Error);
    FakeLlm ours(FakeLlm::ADABENCH);
    HttpEngine e3(options_for({ours.url()}));
    EXPECT_THROW(e3.generate(reqs), Error);
}

TEST(HttpEngine, TextOnlyFlavourRefusesBudgetsUnlessAllowed) {
    FakeLlm srv(FakeLlm::VLLM);
    HttpEngine engine(options_for({srv.url()}, "openai"));
    try {
        engine.generate(requests_for({kQuestions[0]}, {4}, 0.0f));
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("re-tokenized"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace adabench
