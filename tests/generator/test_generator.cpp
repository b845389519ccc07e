// Generator on the mock backend: greedy scripts, fork sweeps token-identical to separate runs
// (with sampling, waits, text markers), batch-composition independence, continuous batching, slot
// hygiene and request validation.
#include <gtest/gtest.h>

#include <map>

#include "common/error.h"
#include "engines/generation/generator.h"
#include "tests/generator/mock_backend.h"

namespace adabench {
namespace {

using testing::MockBackend;
using testing::MockText;

constexpr int V = 16;
enum : int32_t { EOS = 0, BEGIN = 1, END = 2, NL = 3, SP = 4, A = 5, B = 6, C = 7, WAIT = 10, FINAL = 11 };

std::vector<std::string> split_table() {
    auto t = testing::mock_think_table();
    t[END] = "zz";
    return t;
}

GeneratorOptions options(int max_batch = 16) {
    GeneratorOptions o;
    o.max_batch = max_batch;
    o.eos_ids = {EOS};
    return o;
}

GenerateRequest base_request(uint64_t seq_id, std::vector<int32_t> prompt) {
    GenerateRequest r;
    r.prompt_ids = std::move(prompt);
    r.seq_id = seq_id;
    r.prompt_opens_thinking = true;
    r.max_tokens = 80;
    r.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    r.budget.answer_budget = 12;
    return r;
}

void expect_same(const GenerateResult& a, const GenerateResult& b, const std::string& what) {
    EXPECT_EQ(a.output_ids, b.output_ids) << what;
    EXPECT_EQ(a.text, b.text) << what;
    EXPECT_EQ(a.n_tokens_prompt, b.n_tokens_prompt) << what;
    EXPECT_EQ(a.n_tokens_think, b.n_tokens_think) << what;
    EXPECT_EQ(a.n_tokens_answer, b.n_tokens_answer) << what;
    EXPECT_EQ(a.finish_reason, b.finish_reason) << what;
    EXPECT_EQ(a.forced, b.forced) << what;
    EXPECT_EQ(a.n_wait, b.n_wait) << what;
    EXPECT_EQ(a.censored, b.censored) << what;
    EXPECT_EQ(a.think_budget, b.think_budget) << what;
}

TEST(Generator, GreedyScriptAndCounts) {
    // Script: think "a b" then close, answer "c", then EOS.
    auto next = [](const std::vector<int32_t>& h) -> int32_t {
        size_t gen = h.size() - 2;  // prompt is 2 tokens
        const int32_t seq[] = {A, B, END, C, EOS};
        return gen < 5 ? seq[gen] : EOS;
    };
    MockBackend be(V, testing::mock_script_logits(V, next));
    MockText text(testing::mock_think_table());
    GenerateRequest r = base_request(0, {A, A});
    auto res = generator_run(be, text, options(), {r});
    ASSERT_EQ(res.size(), 1u);
    ASSERT_EQ(res[0].size(), 1u);
    const auto& g = res[0][0];
    EXPECT_EQ(g.output_ids, (std::vector<int32_t>{A, B, END, C, EOS}));
    EXPECT_EQ(g.text, "ab</think>c");
    EXPECT_EQ(g.n_tokens_prompt, 2);
    EXPECT_EQ(g.n_tokens_think, 2);
    EXPECT_EQ(g.n_tokens_answer, 3);
    EXPECT_EQ(g.finish_reason, FINISH_REASON_EOS);
    EXPECT_EQ(g.think_budget, -1);
    EXPECT_EQ(be.live_slots(), 0);
    // EOS is sampled but never fed: prompt (2) + 4 decode feeds.
    EXPECT_EQ(be.n_tokens, 2 + 4);
}

TEST(Generator, RefusesTheServerBudgetMechanism) {
    // "server" means an external server enforces the budget: in process it would silently run
    // without one, so it is refused, naming the request.
    MockBackend be(V, testing::mock_script_logits(V, [](const std::vector<int32_t>&) -> int32_t { return A; }));
    MockText text(testing::mock_think_table());
    GenerateRequest r = base_request(0, {A, A});
    r.budget.mechanism = BUDGET_MECHANISM_SERVER;
    r.think_budgets = {4};
    try {
        generator_run(be, text, options(), {r});
        FAIL() << "accepted mechanism server";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("request 0: budget mechanism server"), std::string::npos) << e.what();
    }
    EXPECT_EQ(be.live_slots(), 0);
}

TEST(Generator, AFullContextEndsTheSequenceNotTheBatch) {
    // Issue 20 D2: a sequence that reaches the slot's capacity ends with finish reason context
    // (its text kept); a prompt over it gets an empty result; the other requests are untouched.
    auto next = [](const std::vector<int32_t>&) -> int32_t { return A; };  // thinks forever
    MockBackend be(V, testing::mock_script_logits(V, next));
    be.cap = 8;
    MockText text(testing::mock_think_table());
    GenerateRequest longer = base_request(0, {A, A});
    longer.max_tokens = 100;
    GenerateRequest too_long = base_request(0, std::vector<int32_t>(9, A));
    GenerateRequest fine = base_request(0, {A, A});
    fine.max_tokens = 3;
    GenerateRequest sweep = base_request(0, {A, A});
    sweep.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    sweep.think_budgets = {1, 50};
    sweep.max_tokens = 100;
    auto res = generator_run(be, text, options(), {longer, too_long, fine, sweep});
    // The context holds prompt + output (as a server's max_model_len does): 2 + 6.
    EXPECT_EQ(res[0][0].finish_reason, FINISH_REASON_CONTEXT);
    EXPECT_EQ(res[0][0].output_ids.size(), 6u);
    EXPECT_EQ(res[1][0].finish_reason, FINISH_REASON_CONTEXT);
    EXPECT_TRUE(res[1][0].output_ids.empty());
    EXPECT_EQ(res[2][0].finish_reason, FINISH_REASON_MAX_TOKENS);
    EXPECT_EQ(res[2][0].output_ids.size(), 3u);
    EXPECT_EQ(res[3][1].finish_reason, FINISH_REASON_CONTEXT);
    EXPECT_TRUE(res[3][0].forced);
    EXPECT_EQ(std::string(finish_reason_name(FINISH_REASON_CONTEXT)), "context");
    EXPECT_EQ(be.live_slots(), 0);
}

TEST(Generator, HardCutFeedsTheForcedTextAsOneBlock) {
    auto next = [](const std::vector<int32_t>&) -> int32_t { return A; };  // thinks forever
    MockBackend be(V, testing::mock_script_logits(V, next));
    MockText text(testing::mock_think_table());
    GenerateRequest r = base_request(0, {B});
    r.think_budgets = {3};
    r.budget.answer_budget = 2;
    GeneratorStats st;
    auto res = generator_run(be, text, options(), {r}, &st);
    const auto& g = res[0][0];
    EXPECT_EQ(g.output_ids, (std::vector<int32_t>{A, A, A, NL, END, NL, NL, FINAL, NL, NL, A, A}));
    EXPECT_EQ(g.finish_reason, FINISH_REASON_ANSWER_BUDGET);
    EXPECT_TRUE(g.forced);
    EXPECT_EQ(g.think_budget, 3);
    EXPECT_EQ(st.n_tokens_inserted, 7);
    EXPECT_EQ(st.n_tokens_sampled, 5);
    // Steps: prefill, 3 thinking decodes (the 3rd feeds the budget's last token), forced block, 1 answer.
    EXPECT_EQ(st.n_steps, 1 + 2 + 1 + 1 + 1);
}

struct SweepCase {
    std::string name;
    std::vector<std::string> table;
    int min_think = 0;
    int max_waits = 0;
    std::string wait_text = "Wait";
    float temperature = 0.9f;
    std::vector<float> bias;
};

void PrintTo(const SweepCase& c, std::ostream* os) { *os << c.name; }

class Sweep : public ::testing::TestWithParam<SweepCase> {};

// The core property: k budgets as one fork sweep == k separate runs, token for token.
TEST_P(Sweep, ForkSweepEqualsSeparateRuns) {
    const SweepCase& sc = GetParam();
    MockText text(sc.table);
    const std::vector<int> budgets = {0, 2, 5, 9, 14, 25};
    std::vector<GenerateRequest> sweep_reqs;
    for (uint64_t i = 0; i < 24; ++i) {
        GenerateRequest r = base_request(i, {static_cast<int32_t>(A + i % 3), static_cast<int32_t>(B + i % 5)});
        r.sampling.temperature = sc.temperature;
        r.sampling.top_p = 0.95f;
        r.sampling.seed = 1234;
        r.budget.min_think = sc.min_think;
        r.budget.max_waits = sc.max_waits;
        r.budget.wait_text = sc.wait_text;
        r.think_budgets = budgets;
        r.stop = {"STOP"};
        sweep_reqs.push_back(r);
    }
    MockBackend be(V, testing::mock_hash_logits(V, 4.0f, sc.bias));
    GeneratorStats sweep_stats;
    auto sweep = generator_run(be, text, options(8), sweep_reqs, &sweep_stats);
    EXPECT_EQ(be.live_slots(), 0);

    int64_t separate_sampled = 0;
    std::map<std::string, int> kinds;
    for (size_t i = 0; i < sweep_reqs.size(); ++i) {
        ASSERT_EQ(sweep[i].size(), budgets.size());
        for (size_t j = 0; j < budgets.size(); ++j) {
            GenerateRequest one = sweep_reqs[i];
            one.think_budgets = {budgets[j]};
            MockBackend be1(V, testing::mock_hash_logits(V, 4.0f, sc.bias));
            GeneratorStats st;
            auto sep = generator_run(be1, text, options(), {one}, &st);
            separate_sampled += st.n_tokens_sampled;
            expect_same(sweep[i][j], sep[0][0],
                        sc.name + " request " + std::to_string(i) + " budget " + std::to_string(budgets[j]));
            const auto& g = sweep[i][j];
            kinds[g.forced ? "forced" : "natural"]++;
            if (g.n_wait > 0) kinds["wait"]++;
            kinds[finish_reason_name(g.finish_reason)]++;
        }
    }
    // The test only means something if the sweep mixes forced and natural endings.
    EXPECT_GT(kinds["forced"], 10) << sc.name;
    EXPECT_GT(kinds["natural"], 10) << sc.name;
    if (sc.max_waits > 0) {
        EXPECT_GT(kinds["wait"], 5) << sc.name;
    }
    // And it decodes fewer tokens than the separate runs.
    EXPECT_LT(sweep_stats.n_tokens_sampled, separate_sampled) << sc.name;
    EXPECT_GT(sweep_stats.n_forks, 0);
}

// Biases: EOS rare, the end-of-thinking token a little more likely than the rest.
std::vector<float> bias_for(std::vector<int32_t> end_ids) {
    std::vector<float> b(V, 0.0f);
    b[EOS] = -3.0f;
    for (int32_t id : end_ids) b[static_cast<size_t>(id)] = 0.8f;
    return b;
}

INSTANTIATE_TEST_SUITE_P(
    Generator, Sweep,
    ::testing::Values(SweepCase{"sampled", testing::mock_think_table(), 0, 0, "Wait", 0.9f, bias_for({END})},
                      SweepCase{"greedy", testing::mock_think_table(), 0, 0, "Wait", 0.0f, bias_for({END})},
                      SweepCase{"waits", testing::mock_think_table(), 12, 2, "Wait", 0.9f, bias_for({END})},
                      SweepCase{"long_waits_cut_by_budgets", testing::mock_think_table(), 20, 3, "Wait a b c", 0.9f,
                                bias_for({END})},
                      SweepCase{"text_marker", split_table(), 0, 0, "Wait", 0.9f, bias_for({12, 13})},
                      SweepCase{"text_marker_waits", split_table(), 10, 2, "Wait ab", 0.9f, bias_for({12, 13})}),
    [](const ::testing::TestParamInfo<SweepCase>& info) { return info.param.name; });

TEST(Generator, ResultsDoNotDependOnBatchComposition) {
    MockText text(testing::mock_think_table());
    std::vector<GenerateRequest> reqs;
    for (uint64_t i = 0; i < 10; ++i) {
        GenerateRequest r = base_request(i, {static_cast<int32_t>(A + i % 4)});
        r.sampling.temperature = 1.0f;
        r.sampling.seed = 7;
        r.think_budgets = {4, 11};
        reqs.push_back(r);
    }
    MockBackend all(V, testing::mock_hash_logits(V, 4.0f, bias_for({END})));
    auto together = generator_run(all, text, options(16), reqs);
    MockBackend pairs(V, testing::mock_hash_logits(V, 4.0f, bias_for({END})));
    auto two_at_a_time = generator_run(pairs, text, options(2), reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
        MockBackend one(V, testing::mock_hash_logits(V, 4.0f, bias_for({END})));
        auto alone = generator_run(one, text, options(1), {reqs[i]});
        for (size_t j = 0; j < 2; ++j) {
            expect_same(together[i][j], alone[0][j], "together vs alone " + std::to_string(i));
            expect_same(two_at_a_time[i][j], alone[0][j], "pairs vs alone " + std::to_string(i));
        }
    }
}

TEST(Generator, ContinuousBatchingKeepsTheBatchFullAndFreesSlots) {
    MockText text(testing::mock_think_table());
    std::vector<GenerateRequest> reqs;
    for (uint64_t i = 0; i < 7; ++i) {
        GenerateRequest r = base_request(i, {A});
        r.budget.mechanism = BUDGET_MECHANISM_NONE;
        r.max_tokens = static_cast<int>(3 + 5 * i);  // different lengths: slots free at different steps
        reqs.push_back(r);
    }
    auto next = [](const std::vector<int32_t>&) -> int32_t { return A; };
    MockBackend be(V, testing::mock_script_logits(V, next));
    GeneratorStats st;
    auto res = generator_run(be, text, options(3), reqs, &st);
    EXPECT_EQ(be.max_batch_seen, 3);
    EXPECT_EQ(be.live_slots(), 0);
    for (size_t i = 0; i < reqs.size(); ++i) {
        EXPECT_EQ(static_cast<int>(res[i][0].output_ids.size()), reqs[i].max_tokens);
        EXPECT_EQ(res[i][0].finish_reason, FINISH_REASON_MAX_TOKENS);
        EXPECT_TRUE(res[i][0].censored);  // never closed thinking
    }
    // Fewer steps than running the 7 one after another (sum of lengths).
    int64_t serial = 0;
    for (const auto& r : reqs) serial += r.max_tokens;
    EXPECT_LT(st.n_steps, serial / 2);
}

TEST(Generator, BudgetsInAnyOrderAndDuplicates) {
    MockText text(testing::mock_think_table());
    GenerateRequest r = base_request(3, {A, B});
    r.sampling.temperature = 0.7f;
    r.think_budgets = {9, 2, 9, 5};
    MockBackend be(V, testing::mock_hash_logits(V, 4.0f, bias_for({END})));
    auto res = generator_run(be, text, options(), {r});
    ASSERT_EQ(res[0].size(), 4u);
    EXPECT_EQ(res[0][0].think_budget, 9);
    EXPECT_EQ(res[0][1].think_budget, 2);
    EXPECT_EQ(res[0][3].think_budget, 5);
    expect_same(res[0][0], res[0][2], "duplicate budget");
}

TEST(Generator, LogitsObserverSeesEverySampledToken) {
    MockText text(testing::mock_think_table());
    GenerateRequest r = base_request(0, {A});
    r.sampling.temperature = 0.0f;
    r.think_budgets = {4};
    MockBackend be(V, testing::mock_hash_logits(V, 4.0f, bias_for({END})));
    GeneratorOptions o = options();
    std::vector<int32_t> seen;
    o.on_logits = [&](const GenerateLogitsEvent& e) {
        EXPECT_EQ(e.n_vocab, V);
        int32_t best = 0;
        for (int v = 1; v < V; ++v) {
            if (e.logits[v] > e.logits[best]) best = v;
        }
        EXPECT_EQ(best, e.token);  // greedy: the token is the argmax of the row it came with
        seen.push_back(e.token);
    };
    GeneratorStats st;
    auto res = generator_run(be, text, o, {r}, &st);
    EXPECT_EQ(static_cast<int64_t>(seen.size()), st.n_tokens_sampled);
}

TEST(Generator, LoraCoefficientsReachTheBackend) {
    MockText text(testing::mock_think_table());
    GenerateRequest r = base_request(0, {A});
    r.max_tokens = 2;
    r.budget.mechanism = BUDGET_MECHANISM_NONE;
    GeneratorOptions o = options();
    o.n_lora_adapters = 2;
    o.default_lora_coefs = {0.5f, 0.25f};
    MockBackend be(V, testing::mock_hash_logits(V, 4.0f, {}));
    generator_run(be, text, o, {r});
    EXPECT_EQ(be.last_lora, (std::vector<float>{0.5f, 0.25f}));
    r.lora_coefs = {1.0f, -1.0f};
    generator_run(be, text, o, {r});
    EXPECT_EQ(be.last_lora, (std::vector<float>{1.0f, -1.0f}));
    r.lora_coefs = {1.0f};
    EXPECT_THROW(generator_run(be, text, o, {r}), Error);
    EXPECT_THROW(generator_run(be, text, options(), {r}), Error);  // no adapters loaded
}

TEST(Generator, InvalidRequestsAreErrorsBeforeAnyWork) {
    MockText text(testing::mock_think_table());
    MockBackend be(V, testing::mock_hash_logits(V, 4.0f, {}));
    GenerateRequest ok = base_request(0, {A});
    auto expect_error = [&](GenerateRequest r, const std::string& needle) {
        try {
            generator_run(be, text, options(), {ok, r});
            ADD_FAILURE() << "no error for " << needle;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("request 1"), std::string::npos) << e.what();
        }
    };
    GenerateRequest r = ok;
    r.prompt_ids = {};
    expect_error(r, "prompt is empty");
    r = ok;
    r.prompt_ids = {A, 99};
    expect_error(r, "outside the vocabulary");
    r = ok;
    r.think_budgets = {-3};
    expect_error(r, "negative");
    r = ok;
    r.sampling.top_p = 2.0f;
    expect_error(r, "top_p");
    r = ok;
    r.max_tokens = 0;
    expect_error(r, "max_tokens");
    EXPECT_EQ(be.n_steps, 0);
}

TEST(Generator, SlotsAreFreedWhenTheBackendFails) {
    MockText text(testing::mock_think_table());
    std::vector<GenerateRequest> reqs;
    for (uint64_t i = 0; i < 4; ++i) {
        GenerateRequest r = base_request(i, {A});
        r.sampling.temperature = 1.0f;
        r.think_budgets = {1, 2, 3};
        reqs.push_back(r);
    }
    MockBackend be(V, testing::mock_hash_logits(V, 4.0f, {}));
    be.fail_at_step = 3;
    EXPECT_THROW(generator_run(be, text, options(), reqs), Error);
    EXPECT_EQ(be.live_slots(), 0);
    // A full KV cache is the backend's error, passed through, also without leaking.
    MockBackend small(V, testing::mock_hash_logits(V, 4.0f, {}));
    small.max_slots = 2;
    EXPECT_THROW(generator_run(small, text, options(), reqs), Error);
    EXPECT_EQ(small.live_slots(), 0);
}

}  // namespace
}  // namespace adabench
