// generator_serve (continuous batching fed while it runs) and stop_token_ids through the
// Generator: requests that arrive while others decode give exactly the results of generator_run on
// each alone (mock backend with history-hashed logits, then the organism model through
// engine_make), invalid requests and backend failures reach only their own callbacks, the queue's
// pause / close / abort, and slots are always given back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <thread>

#include "common/error.h"
#include "engines/engine_factory.h"
#include "engines/generation/generator.h"
#include "engines/tokenizer/tokenizer.h"
#include "tests/generator/mock_backend.h"

namespace adabench {
namespace {

using testing::MockBackend;
using testing::MockText;

constexpr int V = 16;
enum : int32_t { EOS = 0, BEGIN = 1, END = 2, NL = 3, SP = 4, A = 5, B = 6, C = 7, D = 8, X = 14 };


GeneratorOptions options(int max_batch) {
    GeneratorOptions o;
    o.max_batch = max_batch;
    o.eos_ids = {EOS};
    return o;
}

std::vector<float> bias() {
    std::vector<float> b(V, 0.0f);
    b[EOS] = -3.0f;
    b[END] = 0.8f;
    return b;
}

MockBackend make_backend() { return MockBackend(V, testing::mock_hash_logits(V, 4.0f, bias())); }

// A mixed bag of requests: sampled and greedy, fork sweeps, stop strings, stop ids, lengths.
std::vector<GenerateRequest> mixed_requests(size_t n) {
    std::vector<GenerateRequest> out;
    for (size_t i = 0; i < n; ++i) {
        GenerateRequest r;
        r.prompt_ids = {static_cast<int32_t>(A + i % 3), static_cast<int32_t>(B + i % 5)};
        r.seq_id = i % 4;  // several requests share a seq_id: they still differ by prompt
        r.prompt_opens_thinking = true;
        r.max_tokens = static_cast<int>(10 + 7 * (i % 5));
        r.sampling.temperature = i % 3 == 0 ? 0.0f : 0.9f;
        r.sampling.seed = 11 + i % 2;
        r.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
        r.budget.answer_budget = 6;
        if (i % 4 == 1) r.think_budgets = {2, 5, 9};
        if (i % 5 == 2) r.stop = {"cd"};
        if (i % 3 == 1) r.stop_token_ids = {X};
        out.push_back(r);
    }
    return out;
}

void expect_same(const GenerateResult& a, const GenerateResult& b, const std::string& what) {
    EXPECT_EQ(a.output_ids, b.output_ids) << what;
    EXPECT_EQ(a.text, b.text) << what;
    EXPECT_EQ(a.n_tokens_prompt, b.n_tokens_prompt) << what;
    EXPECT_EQ(a.n_tokens_think, b.n_tokens_think) << what;
    EXPECT_EQ(a.n_tokens_answer, b.n_tokens_answer) << what;
    EXPECT_EQ(a.finish_reason, b.finish_reason) << what;
    EXPECT_EQ(a.forced, b.forced) << what;
    EXPECT_EQ(a.censored, b.censored) << what;
    EXPECT_EQ(a.think_budget, b.think_budget) << what;
    EXPECT_EQ(a.matched_stop_id, b.matched_stop_id) << what;
}

struct Outcome {
    bool called = false;
    int n_calls = 0;
    std::vector<GenerateResult> results;
    std::string error;
};

// Hands out request i once the backend has run arrival[i] steps (or at once when the loop would
// otherwise wait), so requests arrive while others are decoding, deterministically.
class ScriptedSource : public GeneratorSource {
public:
    ScriptedSource(const MockBackend& be, std::vector<GenerateRequest> reqs, std::vector<int> arrival)
        : be_(be), reqs_(std::move(reqs)), arrival_(std::move(arrival)), out_(reqs_.size()) {}

    std::vector<GeneratorJob> poll(size_t max_jobs, bool wait) override {
        ++n_polls;
        if (wait) ++n_waits;
        std::vector<GeneratorJob> jobs;
        while (next_ < reqs_.size() && jobs.size() < max_jobs && (arrival_[next_] <= be_.n_steps || wait)) {
            size_t i = next_++;
            GeneratorJob j;
            j.request = reqs_[i];
            j.on_done = [this, i](std::vector<GenerateResult> r, std::string e) {
                out_[i].called = true;
                ++out_[i].n_calls;
                out_[i].results = std::move(r);
                out_[i].error = std::move(e);
            };
            admitted_at.push_back(be_.n_steps);
            jobs.push_back(std::move(j));
            wait = false;  // one job answers a wait; the rest only when due
        }
        return jobs;
    }

    const std::vector<Outcome>& out() const { return out_; }
    int n_polls = 0;
    int n_waits = 0;
    std::vector<int> admitted_at;

private:
    const MockBackend& be_;
    std::vector<GenerateRequest> reqs_;
    std::vector<int> arrival_;
    size_t next_ = 0;
    std::vector<Outcome> out_;
};

TEST(GeneratorServe, RequestsArrivingWhileOthersRunMatchSeparateRuns) {
    MockText text(testing::mock_think_table());
    auto reqs = mixed_requests(24);
    std::vector<int> arrival;
    for (size_t i = 0; i < reqs.size(); ++i) arrival.push_back(static_cast<int>(3 * i));  // a new one every 3 steps
    MockBackend be = make_backend();
    ScriptedSource src(be, reqs, arrival);
    GeneratorStats st;
    generator_serve(be, text, options(6), src, &st);
    EXPECT_EQ(be.live_slots(), 0);
    // It really was continuous: requests joined a running batch, and the batch filled up.
    int joined_running = 0;
    for (size_t i = 1; i < src.admitted_at.size(); ++i) joined_running += src.admitted_at[i] > 0;
    EXPECT_GT(joined_running, 15);
    EXPECT_GE(st.max_active, 6);
    EXPECT_GT(st.n_forks, 0);
    std::map<std::string, int> kinds;
    for (size_t i = 0; i < reqs.size(); ++i) {
        const Outcome& o = src.out()[i];
        ASSERT_TRUE(o.called) << i;
        EXPECT_EQ(o.n_calls, 1) << i;
        EXPECT_EQ(o.error, "") << i;
        MockBackend alone_be = make_backend();
        auto alone = generator_run(alone_be, text, options(1), {reqs[i]});
        ASSERT_EQ(o.results.size(), alone[0].size()) << i;
        for (size_t j = 0; j < alone[0].size(); ++j) {
            expect_same(o.results[j], alone[0][j], "request " + std::to_string(i) + " result " + std::to_string(j));
            kinds[finish_reason_name(o.results[j].finish_reason)]++;
            if (o.results[j].matched_stop_id == X) kinds["stop_id"]++;
        }
    }
    // The comparison covers every way a sequence can end.
    EXPECT_GT(kinds["eos"], 0);
    EXPECT_GT(kinds["stop"], 0);
    EXPECT_GT(kinds["stop_id"], 0);
    EXPECT_GT(kinds["max_tokens"] + kinds["answer_budget"] + kinds["think_budget"], 0);
}

TEST(GeneratorServe, InvalidRequestsGetTheirOwnErrorAndTheLoopKeepsServing) {
    MockText text(testing::mock_think_table());
    auto reqs = mixed_requests(6);
    reqs[1].max_tokens = 0;
    reqs[3].stop_token_ids = {A, V + 4};
    reqs[4].prompt_ids = {};
    MockBackend be = make_backend();
    ScriptedSource src(be, reqs, {0, 0, 2, 4, 4, 5});
    generator_serve(be, text, options(4), src);
    EXPECT_EQ(be.live_slots(), 0);
    const auto& out = src.out();
    EXPECT_NE(out[1].error.find("max_tokens 0 must be positive"), std::string::npos) << out[1].error;
    EXPECT_NE(out[3].error.find("stop token id 20 is outside the vocabulary [0, 16)"), std::string::npos)
        << out[3].error;
    EXPECT_NE(out[4].error.find("the prompt is empty"), std::string::npos) << out[4].error;
    for (size_t i : {1u, 3u, 4u}) EXPECT_TRUE(out[i].results.empty());
    for (size_t i : {0u, 2u, 5u}) {
        ASSERT_EQ(out[i].error, "") << i;
        MockBackend alone_be = make_backend();
        auto alone = generator_run(alone_be, text, options(1), {reqs[i]});
        expect_same(out[i].results[0], alone[0][0], "request " + std::to_string(i));
    }
}

// Fails one forward call (the mock's own fail_at_step fails every call from then on).
class FailOnceBackend : public MockBackend {
public:
    explicit FailOnceBackend(int fail_step) : MockBackend(make_backend()), fail_step_(fail_step) {}
    void forward(const BackendBatch& batch, float* logits) override {
        if (n_steps == fail_step_ && !failed_) {
            failed_ = true;
            throw Error("mock: injected failure");
        }
        MockBackend::forward(batch, logits);
    }

private:
    int fail_step_;
    bool failed_ = false;
};

// prepare runs on the loop's thread right before admission: it may complete the request, or
// refuse it with an error that only this job sees.
class PreparedSource : public GeneratorSource {
public:
    std::vector<GeneratorJob> jobs;
    std::vector<Outcome> out;
    std::vector<GeneratorJob> poll(size_t max_jobs, bool wait) override {
        std::vector<GeneratorJob> give;
        while (!jobs.empty() && give.size() < max_jobs) {
            give.push_back(std::move(jobs.front()));
            jobs.erase(jobs.begin());
        }
        return give;
    }
};

TEST(GeneratorServe, PrepareCompletesOrRefusesARequestAtAdmission) {
    MockText text(testing::mock_think_table());
    auto reqs = mixed_requests(3);
    PreparedSource src;
    src.out.resize(3);
    int n_prepared = 0;
    for (size_t i = 0; i < 3; ++i) {
        GeneratorJob j;
        j.request = reqs[i];
        j.request.max_tokens = 0;  // invalid until prepare fixes it
        j.prepare = [&, i](GenerateRequest& r) -> std::string {
            ++n_prepared;
            if (i == 1) return "model `x` does not exist";
            r.max_tokens = reqs[i].max_tokens;
            return "";
        };
        j.on_done = [&, i](std::vector<GenerateResult> r, std::string e) {
            src.out[i] = Outcome{true, 1, std::move(r), std::move(e)};
        };
        src.jobs.push_back(std::move(j));
    }
    MockBackend be = make_backend();
    generator_serve(be, text, options(2), src);
    EXPECT_EQ(n_prepared, 3);
    EXPECT_EQ(src.out[1].error, "model `x` does not exist");
    EXPECT_TRUE(src.out[1].results.empty());
    for (size_t i : {0u, 2u}) {
        ASSERT_EQ(src.out[i].error, "") << i;
        MockBackend alone_be = make_backend();
        auto alone = generator_run(alone_be, text, options(1), {reqs[i]});
        ASSERT_EQ(src.out[i].results.size(), alone[0].size());
        for (size_t j = 0; j < alone[0].size(); ++j) expect_same(src.out[i].results[j], alone[0][j], std::to_string(i));
    }
    EXPECT_EQ(be.live_slots(), 0);
}

TEST(GeneratorServe, BackendFailureFailsTheActiveJobsOnly) {
    MockText text(testing::mock_think_table());
    auto reqs = mixed_requests(5);
    for (auto& r : reqs) {
        r.max_tokens = 30;
        r.stop_token_ids.clear();
        r.sampling.temperature = 0.9f;
        r.prompt_opens_thinking = false;  // long runs: no EOS bias matters here
    }
    FailOnceBackend be(4);
    // Requests 0-2 are running when step 4 fails; 3 and 4 arrive later and must be served.
    ScriptedSource src(be, reqs, {0, 0, 1, 1000, 1000});
    generator_serve(be, text, options(8), src);
    EXPECT_EQ(be.live_slots(), 0);
    const auto& out = src.out();
    for (size_t i = 0; i < 5; ++i) ASSERT_TRUE(out[i].called) << i;
    int failed = 0;
    for (size_t i = 0; i < 3; ++i) {
        if (!out[i].error.empty()) {
            ++failed;
            EXPECT_NE(out[i].error.find("mock: injected failure"), std::string::npos) << out[i].error;
        }
    }
    EXPECT_GT(failed, 0);
    for (size_t i = 3; i < 5; ++i) {
        ASSERT_EQ(out[i].error, "") << i;
        MockBackend alone_be = make_backend();
        auto alone = generator_run(alone_be, text, options(1), {reqs[i]});
        expect_same(out[i].results[0], alone[0][0], "request " + std::to_string(i));
    }
}

TEST(GeneratorServe, AFullCacheFailsTheRequestThatCannotStart) {
    MockText text(testing::mock_think_table());
    auto reqs = mixed_requests(3);
    for (auto& r : reqs) {
        r.think_budgets.clear();
        r.max_tokens = 12;
    }
    MockBackend be = make_backend();
    be.max_slots = 2;
    ScriptedSource src(be, reqs, {0, 0, 0});
    generator_serve(be, text, options(8), src);
    EXPECT_EQ(be.live_slots(), 0);
    EXPECT_EQ(src.out()[0].error, "");
    EXPECT_EQ(src.out()[1].error, "");
    EXPECT_NE(src.out()[2].error.find("mock: KV cache full"), std::string::npos) << src.out()[2].error;
}

TEST(GeneratorServe, StopTokenIdsThroughGenerateRun) {
    MockText text(testing::mock_think_table());
    // Greedy script a, b, x, c, ...: x (a stop id) ends it after three tokens.
    auto next = [](const std::vector<int32_t>& h) -> int32_t {
        static const int32_t script[] = {A, B, X, C, C, C, C, C};
        return script[std::min<size_t>(h.size() - 1, 7)];
    };
    GenerateRequest r;
    r.prompt_ids = {D};
    r.max_tokens = 8;
    r.budget.think_begin = "";
    r.budget.think_end = "";
    r.stop_token_ids = {X};
    MockBackend be(V, testing::mock_script_logits(V, next));
    auto res = generator_run(be, text, options(4), {r});
    EXPECT_EQ(res[0][0].output_ids, (std::vector<int32_t>{A, B, X}));
    EXPECT_EQ(res[0][0].text, "ab");
    EXPECT_EQ(res[0][0].finish_reason, FINISH_REASON_STOP);
    EXPECT_EQ(res[0][0].matched_stop_id, X);
    EXPECT_EQ(res[0][0].n_tokens_think, 0);
    EXPECT_EQ(res[0][0].n_tokens_answer, 3);
    // Out of the vocabulary: an error naming the request, before any work.
    GenerateRequest bad = r;
    bad.stop_token_ids = {X, 16};
    MockBackend be2(V, testing::mock_script_logits(V, next));
    try {
        generator_run(be2, text, options(4), {r, bad});
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("request 1: stop token id 16 is outside the vocabulary"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(be2.n_steps, 0);
}

// The thread-safe queue: jobs pushed from other threads while the loop runs; pause lets the loop
// return once idle; close hands back what never started.
TEST(GeneratorServe, QueueFromOtherThreadsPauseAndClose) {
    MockText text(testing::mock_think_table());
    auto reqs = mixed_requests(16);
    MockBackend be = make_backend();
    GeneratorQueue q;
    std::vector<std::promise<Outcome>> done(reqs.size());
    std::atomic<int> n_done{0};
    std::thread loop([&] { generator_serve(be, text, options(5), q); });
    std::vector<std::thread> pushers;
    for (int t = 0; t < 4; ++t) {
        pushers.emplace_back([&, t] {
            for (size_t i = static_cast<size_t>(t); i < reqs.size(); i += 4) {
                GeneratorJob j;
                j.request = reqs[i];
                j.on_done = [&, i](std::vector<GenerateResult> r, std::string e) {
                    done[i].set_value(Outcome{true, 1, std::move(r), std::move(e)});
                    ++n_done;
                };
                EXPECT_TRUE(q.push(std::move(j)));
                std::this_thread::sleep_for(std::chrono::microseconds(300));
            }
        });
    }
    for (auto& p : pushers) p.join();
    for (size_t i = 0; i < reqs.size(); ++i) {
        auto f = done[i].get_future();
        ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready) << i;
        Outcome o = f.get();
        ASSERT_EQ(o.error, "") << i;
        MockBackend alone_be = make_backend();
        auto alone = generator_run(alone_be, text, options(1), {reqs[i]});
        ASSERT_EQ(o.results.size(), alone[0].size());
        for (size_t j = 0; j < alone[0].size(); ++j) expect_same(o.results[j], alone[0][j], std::to_string(i));
    }
    // Paused and idle: the loop returns; a job pushed meanwhile waits for the next loop.
    q.pause();
    loop.join();
    EXPECT_EQ(be.live_slots(), 0);
    std::promise<std::string> later;
    GeneratorJob j;
    j.request = reqs[0];
    j.on_done = [&](std::vector<GenerateResult>, std::string e) { later.set_value(e); };
    ASSERT_TRUE(q.push(std::move(j)));
    EXPECT_EQ(q.size(), 1u);
    q.resume();
    std::thread loop2([&] { generator_serve(be, text, options(5), q); });
    auto lf = later.get_future();
    ASSERT_EQ(lf.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_EQ(lf.get(), "");
    auto left = q.close(false);
    loop2.join();
    EXPECT_TRUE(left.empty());
    GeneratorJob refused;
    refused.request = reqs[0];
    EXPECT_FALSE(q.push(std::move(refused)));
    EXPECT_EQ(n_done.load(), static_cast<int>(reqs.size()));
}

TEST(GeneratorServe, AbortFailsWhatIsRunning) {
    MockText text(testing::mock_think_table());
    GenerateRequest r;
    r.prompt_ids = {A};
    r.max_tokens = 1000000;  // would run for a long time
    r.budget.think_begin = "";
    r.budget.think_end = "";
    MockBackend be(V, testing::mock_script_logits(V, [](const std::vector<int32_t>&) { return A; }));
    GeneratorQueue q;
    std::promise<std::string> err;
    std::promise<void> started;
    std::atomic<bool> once{false};
    GeneratorOptions o = options(2);
    o.on_logits = [&](const GenerateLogitsEvent&) {
        if (!once.exchange(true)) started.set_value();
    };
    GeneratorJob j;
    j.request = r;
    j.on_done = [&](std::vector<GenerateResult> res, std::string e) {
        EXPECT_TRUE(res.empty());
        err.set_value(e);
    };
    ASSERT_TRUE(q.push(std::move(j)));
    std::thread loop([&] { generator_serve(be, text, o, q); });
    ASSERT_EQ(started.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
    GeneratorJob never;
    never.request = r;
    ASSERT_TRUE(q.push(std::move(never)));  // max_batch 2: admitted at once or left in the queue
    auto left = q.close(true);
    loop.join();
    auto f = err.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(1)), std::future_status::ready);
    EXPECT_NE(f.get().find("aborted"), std::string::npos);
    EXPECT_LE(left.size(), 1u);
    EXPECT_EQ(be.live_slots(), 0);
}

std::string src_path(const std::string& rel) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return std::string(env ? env : ADABENCH_SOURCE_DIR) + "/" + rel;
}

// The organism model through engine_make: a queue fed from another thread while the loop decodes,
// against generate() of each request alone on a second engine.
TEST(GeneratorServe, OrganismRequestsArrivingMidRunMatchGenerateAlone) {
    EngineFactoryOptions fo;
    fo.model_dir = src_path("models/organism/long");
    fo.n_threads = 1;
    fo.max_batch = 4;
    auto served = engine_make(fo);
    auto alone = engine_make(fo);
    const Tokenizer& tok = served->tokenizer();
    std::vector<GenerateRequest> reqs;
    const char* qs[] = {"What is 3+4?", "Tom has 5 apples and buys 7 more. How many?", "12-5?",
                        "2*6+1?",       "Ann had 9 pens, gave 4 away. How many left?", "7+8?"};
    for (size_t i = 0; i < 6; ++i) {
        GenerateRequest r;
        r.prompt_ids = tok.encode(std::string("<|im_start|>user\n") + qs[i] + "<|im_end|>\n<|im_start|>assistant\n");
        r.budget.think_begin = "";
        r.budget.think_end = "";
        r.max_tokens = 24 + 8 * static_cast<int>(i % 3);
        r.sampling.temperature = i % 2 ? 0.8f : 0.0f;
        r.sampling.seed = 5;
        if (i == 3) r.stop_token_ids = {tok.special_token_id("</think>")};
        reqs.push_back(r);
    }
    GeneratorQueue q;
    std::vector<std::promise<Outcome>> done(reqs.size());
    std::thread loop;
    for (size_t i = 0; i < reqs.size(); ++i) {
        GeneratorJob j;
        j.request = reqs[i];
        j.on_done = [&, i](std::vector<GenerateResult> r, std::string e) {
            done[i].set_value(Outcome{true, 1, std::move(r), std::move(e)});
        };
        ASSERT_TRUE(q.push(std::move(j)));
        // The first two start together; the others arrive while those decode.
        if (i == 1) loop = std::thread([&] { served->serve(q); });
        if (i >= 1) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::map<std::string, int> kinds;
    for (size_t i = 0; i < reqs.size(); ++i) {
        auto f = done[i].get_future();
        ASSERT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready) << i;
        Outcome o = f.get();
        ASSERT_EQ(o.error, "") << i;
        auto ref = alone->generate({reqs[i]});
        expect_same(o.results[0], ref[0][0], "organism request " + std::to_string(i));
        kinds[finish_reason_name(o.results[0].finish_reason)]++;
    }
    q.close(false);
    loop.join();
    EXPECT_GT(served->last_stats().max_active, 1);
    EXPECT_GT(kinds["stop"] + kinds["eos"], 0);
}

}  // namespace
}  // namespace adabench
