// Generator on the real CPU backend: a random tiny Qwen2 (tests/fixtures/models/qwen2-tiny-random,
// vocab 384) with the organism's mini tokenizer (tests/fixtures/tokenizer/organism_mini, 381 tokens
// incl. <think> / </think>). Checks the properties that must hold with real numerics: fork sweeps
// token-identical to separate runs, results independent of batch composition, and the engine
// factory (adapters, merges) wiring.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "common/error.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/engine_factory.h"
#include "engines/generation/generator.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {
namespace {

namespace fs = std::filesystem;

std::string src(const std::string& rel) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return std::string(env ? env : ADABENCH_SOURCE_DIR) + "/" + rel;
}

// A model directory = the random Qwen2 weights + the mini organism tokenizer, assembled in a
// temporary directory (no duplicate fixture in the repository).
std::string tiny_model_dir() {
    static std::string dir = [] {
        fs::path d = fs::temp_directory_path() / ("adabench-gen-tiny-" + std::to_string(::getpid()));
        fs::create_directories(d);
        for (const char* f : {"config.json", "model.safetensors"}) {
            fs::copy_file(src("tests/fixtures/models/qwen2-tiny-random/") + f, d / f,
                          fs::copy_options::overwrite_existing);
        }
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
            fs::copy_file(src("tests/fixtures/tokenizer/organism_mini/") + f, d / f,
                          fs::copy_options::overwrite_existing);
        }
        return d.string();
    }();
    return dir;
}

struct Tiny {
    std::shared_ptr<Tokenizer> tok;
    std::shared_ptr<CpuBackend> backend;
    std::unique_ptr<TokenizerText> text;
    GeneratorOptions opts;
    Tiny() {
        tok = std::make_shared<Tokenizer>(Tokenizer::load(tiny_model_dir()));
        auto w = model_load(tiny_model_dir());
        CpuBackendOptions bo;
        bo.n_threads = 1;
        backend = std::make_shared<CpuBackend>(w, bo);
        text = std::make_unique<TokenizerText>(*tok);
        opts.eos_ids = engine_eos_ids(w->config, *tok);
        opts.max_batch = 8;
    }
};

GenerateRequest chat_request(const Tokenizer& tok, const std::string& q, uint64_t seq_id) {
    GenerateRequest r;
    r.prompt_ids = tok.encode("<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n<think>\n");
    r.prompt_opens_thinking = true;
    r.seq_id = seq_id;
    r.sampling.temperature = 1.0f;
    r.sampling.top_p = 0.9f;
    r.sampling.seed = 99;
    r.max_tokens = 48;
    r.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    r.budget.answer_budget = 6;
    return r;
}

TEST(GeneratorCpu, MarkersAreSingleTokensInTheOrganismVocabulary) {
    Tiny t;
    GenerateRequest r = chat_request(*t.tok, "1+1?", 0);
    BudgetSpec s = budget_make_spec(r, 4, *t.text, t.opts.eos_ids);
    EXPECT_EQ(s.think_end.id, t.tok->special_token_id("</think>"));
    EXPECT_GE(s.think_end.id, 0);
    EXPECT_FALSE(s.forced_ids.empty());
}

TEST(GeneratorCpu, ForkSweepEqualsSeparateRunsOnARealModel) {
    Tiny t;
    const std::vector<int> budgets = {0, 3, 8, 20};
    std::vector<GenerateRequest> reqs;
    const char* qs[] = {"What is 3+4?", "Tom has 5 apples.", "Compute 12*3.", "Is 7 prime?"};
    for (uint64_t i = 0; i < 4; ++i) {
        GenerateRequest r = chat_request(*t.tok, qs[i], i);
        r.think_budgets = budgets;
        reqs.push_back(r);
    }
    GeneratorStats sweep_stats;
    auto sweep = generator_run(*t.backend, *t.text, t.opts, reqs, &sweep_stats);
    int64_t separate = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
        for (size_t j = 0; j < budgets.size(); ++j) {
            GenerateRequest one = reqs[i];
            one.think_budgets = {budgets[j]};
            GeneratorStats st;
            auto sep = generator_run(*t.backend, *t.text, t.opts, {one}, &st);
            separate += st.n_tokens_sampled;
            const auto& a = sweep[i][j];
            const auto& b = sep[0][0];
            EXPECT_EQ(a.output_ids, b.output_ids) << "request " << i << " budget " << budgets[j];
            EXPECT_EQ(a.text, b.text);
            EXPECT_EQ(a.n_tokens_think, b.n_tokens_think);
            EXPECT_EQ(a.finish_reason, b.finish_reason);
            EXPECT_EQ(a.forced, b.forced);
        }
    }
    EXPECT_LT(sweep_stats.n_tokens_sampled, separate);
    EXPECT_GT(sweep_stats.n_forks, 0);
    // Budget 0 forces right after the prompt: nothing inside thinking.
    EXPECT_EQ(sweep[0][0].n_tokens_think, 0);
    EXPECT_TRUE(sweep[0][0].forced);
}

TEST(GeneratorCpu, ResultsDoNotDependOnBatchComposition) {
    Tiny t;
    std::vector<GenerateRequest> reqs;
    for (uint64_t i = 0; i < 5; ++i) {
        GenerateRequest r = chat_request(*t.tok, "question number " + std::to_string(i), i);
        r.think_budgets = {6};
        reqs.push_back(r);
    }
    auto together = generator_run(*t.backend, *t.text, t.opts, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
        auto alone = generator_run(*t.backend, *t.text, t.opts, {reqs[i]});
        EXPECT_EQ(together[i][0].output_ids, alone[0][0].output_ids) << "request " << i;
    }
}

TEST(GeneratorCpu, EngineFactoryBuildsWithAdaptersAndMerges) {
    EngineFactoryOptions o;
    o.model_dir = tiny_model_dir();
    o.n_threads = 1;
    auto plain = engine_make(o);
    GenerateRequest r = chat_request(plain->tokenizer(), "2+2?", 0);
    r.sampling.temperature = 0.0f;
    r.think_budgets = {5};
    auto base = plain->generate({r});
    EXPECT_EQ(plain->info().backend, "cpu");

    // A coefficient-0 adapter changes nothing; merged and unmerged LoRA agree on greedy tokens.
    o.adapters = {{src("tests/fixtures/models/qwen2-tiny-lora-a"), 0.0f}};
    auto zero = engine_make(o)->generate({r});
    EXPECT_EQ(zero[0][0].output_ids, base[0][0].output_ids);
    o.adapters = {{src("tests/fixtures/models/qwen2-tiny-lora-a"), 2.0f}};
    auto unmerged = engine_make(o)->generate({r});
    o.lora_merged = true;
    auto merged = engine_make(o)->generate({r});
    EXPECT_EQ(unmerged[0][0].output_ids, merged[0][0].output_ids);

    // A linear merge with lambda 1 is the model itself.
    EngineFactoryOptions m;
    m.model_dir = tiny_model_dir();
    m.n_threads = 1;
    m.merge_with = src("tests/fixtures/models/qwen2-tiny-random-b");
    m.lambda = {1.0f};
    auto same = engine_make(m)->generate({r});
    EXPECT_EQ(same[0][0].output_ids, base[0][0].output_ids);
    m.lambda = {0.0f, 0.5f, 1.0f};  // per-layer list
    EXPECT_NO_THROW(engine_make(m)->generate({r}));
    m.lambda.clear();
    EXPECT_THROW(engine_make(m), Error);
    EngineFactoryOptions bad;
    bad.model_dir = tiny_model_dir();
    bad.backend = "tpu";
    EXPECT_THROW(engine_make(bad), Error);
}

// All-greedy steps go through Backend::forward_greedy (the backend picks the argmax, on the device
// for CUDA); asking for the logits forces the logits path. Both give the same tokens.
TEST(GeneratorCpu, GreedyStepsUseForwardGreedyWithTheSameTokens) {
    Tiny t;
    std::vector<GenerateRequest> reqs;
    for (uint64_t i = 0; i < 3; ++i) {
        GenerateRequest r = chat_request(*t.tok, i == 0 ? "What is 3+4?" : "Tom has 5 apples.", i);
        r.sampling.temperature = 0.0f;
        r.think_budgets = {0, 4, 12};
        reqs.push_back(r);
    }
    GeneratorStats fast;
    auto a = generator_run(*t.backend, *t.text, t.opts, reqs, &fast);
    EXPECT_EQ(fast.n_steps_greedy, fast.n_steps);
    GeneratorOptions with_logits = t.opts;
    int64_t rows = 0;
    with_logits.on_logits = [&](const GenerateLogitsEvent&) { ++rows; };
    GeneratorStats slow;
    auto b = generator_run(*t.backend, *t.text, with_logits, reqs, &slow);
    EXPECT_EQ(slow.n_steps_greedy, 0);
    EXPECT_EQ(rows, slow.n_tokens_sampled);
    for (size_t i = 0; i < reqs.size(); ++i)
        for (size_t j = 0; j < 3; ++j) EXPECT_EQ(a[i][j].output_ids, b[i][j].output_ids) << i << " " << j;
    // A sampled request in the batch switches the whole step to the logits path.
    reqs[1].sampling.temperature = 0.8f;
    GeneratorStats mixed;
    generator_run(*t.backend, *t.text, t.opts, reqs, &mixed);
    EXPECT_LT(mixed.n_steps_greedy, mixed.n_steps);
}

// The CPU backend presented as one that samples on the device: forward_sample is Backend's host
// default, so the Generator's device-sampling path (rows of (params, seq_id, position) instead of
// logits) runs against the chain path on the same numbers.
class DeviceSamplingCpu : public Backend {
public:
    explicit DeviceSamplingCpu(std::shared_ptr<Backend> inner) : inner_(std::move(inner)) {}
    const ModelConfig& config() const override { return inner_->config(); }
    std::string device() const override { return inner_->device(); }
    int seq_alloc() override { return inner_->seq_alloc(); }
    void seq_free(int slot) override { inner_->seq_free(slot); }
    int seq_fork(int slot) override { return inner_->seq_fork(slot); }
    int seq_len(int slot) const override { return inner_->seq_len(slot); }
    void seq_truncate(int slot, int n) override { inner_->seq_truncate(slot, n); }
    void forward(const BackendBatch& batch, float* logits) override { inner_->forward(batch, logits); }
    void set_lora_adapters(std::vector<std::shared_ptr<const LoraAdapter>> a) override {
        inner_->set_lora_adapters(std::move(a));
    }
    void set_weights(std::shared_ptr<const ModelWeights> w) override { inner_->set_weights(std::move(w)); }
    bool samples_on_device() const override { return true; }
    void forward_sample(const BackendBatch& batch, const std::vector<SampleRow>& rows, int32_t* tokens) override {
        ++calls;
        Backend::forward_sample(batch, rows, tokens);
    }
    int calls = 0;

private:
    std::shared_ptr<Backend> inner_;
};

TEST(GeneratorCpu, DeviceSamplingPathGivesTheChainsTokens) {
    Tiny t;
    std::vector<GenerateRequest> reqs;
    const char* qs[] = {"What is 3+4?", "Tom has 5 apples.", "Mia sells 2.", "How many are left?"};
    for (uint64_t i = 0; i < 4; ++i) {
        GenerateRequest r = chat_request(*t.tok, qs[i], 10 + i);
        r.think_budgets = {0, 5, 13};
        if (i == 1) r.sampling.top_p = 1.0f;  // temperature only: dist over ids in order
        if (i == 2) r.sampling.top_k = 7;
        if (i == 3) r.sampling.temperature = 0.0f;  // greedy rows mixed into sampled steps
        if (i == 0) {                               // s1 waits: truncation and re-feeding between device-sampled steps
            r.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
            r.budget.min_think = 8;
            r.budget.max_waits = 2;
        }
        reqs.push_back(r);
    }
    GeneratorStats host;
    auto a = generator_run(*t.backend, *t.text, t.opts, reqs, &host);
    EXPECT_EQ(host.n_steps_sampled, 0);
    DeviceSamplingCpu dev(t.backend);
    GeneratorStats device;
    auto b = generator_run(dev, *t.text, t.opts, reqs, &device);
    EXPECT_GT(device.n_steps_sampled, 0);
    EXPECT_EQ(dev.calls, device.n_steps_sampled);
    EXPECT_EQ(device.n_steps, host.n_steps);
    for (size_t i = 0; i < reqs.size(); ++i)
        for (size_t j = 0; j < 3; ++j) EXPECT_EQ(a[i][j].output_ids, b[i][j].output_ids) << i << " " << j;
    // Asking for the logits keeps the host path even on such a backend.
    GeneratorOptions with_logits = t.opts;
    with_logits.on_logits = [](const GenerateLogitsEvent&) {};
    dev.calls = 0;
    GeneratorStats observed;
    auto c = generator_run(dev, *t.text, with_logits, reqs, &observed);
    EXPECT_EQ(dev.calls, 0);
    EXPECT_EQ(observed.n_steps_sampled, 0);
    for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(a[i][2].output_ids, c[i][2].output_ids) << i;
}

// Prefix sharing: requests with one prompt prefill its prefix once and fork it. The tokens are those
// of prefilling each prompt whole; the counters say exactly what was saved, and the per-result
// prefill counts add up to the engine's.
TEST(GeneratorCpu, PrefixSharingIsTokenIdenticalAndCounted) {
    Tiny t;
    std::vector<GenerateRequest> reqs;
    for (uint64_t i = 0; i < 4; ++i) {  // one prompt, four samples
        GenerateRequest r = chat_request(*t.tok, "What is 3+4?", i);
        r.think_budgets = {2, 6};
        reqs.push_back(r);
    }
    reqs.push_back(chat_request(*t.tok, "Another question", 7));  // alone: prefilled whole
    for (uint64_t i = 0; i < 2; ++i) reqs.push_back(chat_request(*t.tok, "Third one?", 10 + i));
    GeneratorStats shared_stats, whole_stats;
    auto shared = generator_run(*t.backend, *t.text, t.opts, reqs, &shared_stats);
    GeneratorOptions no_share = t.opts;
    no_share.share_prompts = false;
    auto whole = generator_run(*t.backend, *t.text, no_share, reqs, &whole_stats);
    ASSERT_EQ(shared.size(), whole.size());
    for (size_t i = 0; i < reqs.size(); ++i)
        for (size_t j = 0; j < shared[i].size(); ++j) {
            EXPECT_EQ(shared[i][j].output_ids, whole[i][j].output_ids) << "request " << i << " result " << j;
            EXPECT_EQ(shared[i][j].finish_reason, whole[i][j].finish_reason);
        }
    const int64_t l1 = static_cast<int64_t>(reqs[0].prompt_ids.size());
    const int64_t l3 = static_cast<int64_t>(reqs[5].prompt_ids.size());
    EXPECT_EQ(whole_stats.n_tokens_prefill, whole_stats.n_tokens_prompt);
    EXPECT_EQ(shared_stats.n_tokens_prompt, whole_stats.n_tokens_prompt);
    // Group 1 saves 3 (l1 - 1) tokens, group 3 saves (l3 - 1); the lone prompt saves nothing.
    EXPECT_EQ(shared_stats.n_tokens_prefill, whole_stats.n_tokens_prefill - 3 * (l1 - 1) - (l3 - 1));
    EXPECT_EQ(shared_stats.n_prompts_shared, 4);
    EXPECT_EQ(whole_stats.n_prompts_shared, 0);
    auto sum_prefilled = [](const std::vector<std::vector<GenerateResult>>& rs) {
        int64_t n = 0;
        for (const auto& r : rs)
            for (const auto& x : r) n += x.n_tokens_prefilled;
        return n;
    };
    EXPECT_EQ(sum_prefilled(shared), shared_stats.n_tokens_prefill);
    EXPECT_EQ(sum_prefilled(whole), whole_stats.n_tokens_prefill);
    // The prompt counts with the largest budget's result; the fork at budget 2 computed none.
    EXPECT_EQ(shared[0][0].n_tokens_prefilled, 0);
    EXPECT_EQ(shared[0][1].n_tokens_prefilled, l1);
    EXPECT_EQ(shared[1][1].n_tokens_prefilled, 1);
    EXPECT_EQ(whole[1][1].n_tokens_prefilled, l1);
    // Every slot (prefix slots included) was given back: the backend serves a fresh batch.
    EXPECT_NO_THROW(generator_run(*t.backend, *t.text, t.opts, reqs));
}

// The answer confidence against an independent computation from the logits observer: per fork,
// the mean over its sampled tokens of the max softmax probability (a closing EOS left out).
TEST(GeneratorCpu, AnswerConfidenceMatchesTheLogitsRows) {
    Tiny t;
    std::vector<GenerateRequest> reqs;
    const char* qs[] = {"What is 3+4?", "Tom has 5 apples.", "Is 7 prime?"};
    for (uint64_t i = 0; i < 3; ++i) {
        GenerateRequest r = chat_request(*t.tok, qs[i], i);
        r.sampling.temperature = 0.0f;
        r.think_budgets = {1, 4};
        reqs.push_back(r);
    }
    auto plain = generator_run(*t.backend, *t.text, t.opts, reqs);
    for (auto& r : reqs) r.measure_answer_conf = true;
    // Observer: (request, fork budget) -> (max-prob sum, log-prob sum, count, last token).
    struct Acc {
        double conf = 0, logp = 0, last_conf = 0, last_logp = 0;
        int n = 0;
        int32_t last = -1;
    };
    std::map<std::pair<size_t, int>, Acc> seen;
    GeneratorOptions o = t.opts;
    o.on_logits = [&](const GenerateLogitsEvent& e) {
        if (e.fork_budget < 0) return;  // the main sequences never end thinking here (checked below)
        double m = e.logits[0];
        for (int v = 1; v < e.n_vocab; ++v) m = std::max(m, double(e.logits[v]));
        double z = 0;
        for (int v = 0; v < e.n_vocab; ++v) z += std::exp(double(e.logits[v]) - m);
        Acc& a = seen[{e.request, e.fork_budget}];
        a.last_conf = 1.0 / z;
        a.last_logp = double(e.logits[e.token]) - m - std::log(z);
        a.conf += a.last_conf;
        a.logp += a.last_logp;
        a.last = e.token;
        ++a.n;
    };
    auto measured = generator_run(*t.backend, *t.text, o, reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
        // Measuring changes no token.
        for (size_t j = 0; j < 2; ++j) EXPECT_EQ(measured[i][j].output_ids, plain[i][j].output_ids);
        const GenerateResult& fork = measured[i][0];
        ASSERT_TRUE(fork.forced) << i;
        Acc a = seen[{i, 1}];
        ASSERT_GT(a.n, 0);
        const auto& eos = t.opts.eos_ids;
        if (fork.finish_reason == FINISH_REASON_THINK_BUDGET &&
            std::find(eos.begin(), eos.end(), a.last) != eos.end()) {
            a.conf -= a.last_conf;
            a.logp -= a.last_logp;
            --a.n;
        }
        if (a.n == 0) {
            EXPECT_EQ(fork.answer_conf, -1.0);
            continue;
        }
        EXPECT_NEAR(fork.answer_conf, a.conf / a.n, 1e-9) << i;
        EXPECT_NEAR(fork.answer_ppl, std::exp(-a.logp / a.n), 1e-6 * fork.answer_ppl) << i;
        EXPECT_GT(fork.answer_conf, 0.0);
        EXPECT_LE(fork.answer_conf, 1.0);
        // Unmeasured results say so.
        EXPECT_EQ(plain[i][0].answer_conf, -1.0);
        EXPECT_EQ(plain[i][0].answer_ppl, 0.0);
    }
}

// Prompt perplexity against an independent computation: each prefix x_<t+1 prefilled whole in a
// fresh slot, log p(x_t+1) read from its last row.
TEST(GeneratorCpu, PromptPerplexityMatchesWholePrefixPrefills) {
    Tiny t;
    std::vector<GenerateRequest> reqs;
    for (uint64_t i = 0; i < 3; ++i) {
        GenerateRequest r = chat_request(*t.tok, i == 2 ? "What is 3+4?" : "q " + std::to_string(i), i);
        r.measure_prompt_ppl = true;
        r.max_tokens = 4;
        reqs.push_back(r);
    }
    GeneratorStats st;
    auto res = generator_run(*t.backend, *t.text, t.opts, reqs, &st);
    const int n_vocab = t.backend->config().vocab_size;
    for (size_t i = 0; i < reqs.size(); ++i) {
        const auto& ids = reqs[i].prompt_ids;
        double sum = 0;
        std::vector<float> logits(static_cast<size_t>(n_vocab));
        for (size_t k = 1; k < ids.size(); ++k) {
            int slot = t.backend->seq_alloc();
            BackendBatch b;
            b.slots = {slot};
            b.tokens = {std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<long>(k))};
            t.backend->forward(b, logits.data());
            t.backend->seq_free(slot);
            double m = logits[0];
            for (float x : logits) m = std::max(m, double(x));
            double z = 0;
            for (float x : logits) z += std::exp(double(x) - m);
            sum += double(logits[static_cast<size_t>(ids[k])]) - m - std::log(z);
        }
        const double want = std::exp(-sum / double(ids.size() - 1));
        EXPECT_NEAR(res[i][0].prompt_ppl, want, 1e-4 * want) << i;
        EXPECT_GT(res[i][0].prompt_ppl, 1.0);
    }
    EXPECT_GT(st.n_tokens_scored, 0);
    // Not asked: not measured.
    reqs[0].measure_prompt_ppl = false;
    EXPECT_EQ(generator_run(*t.backend, *t.text, t.opts, {reqs[0]})[0][0].prompt_ppl, 0.0);
}

// prefill_base: the prompt's prefix is encoded with every adapter coefficient 0 and the rest with
// the request's own; one prefix serves every coefficient vector.
TEST(GeneratorCpu, PrefillBaseEncodesThePromptWithoutTheAdapters) {
    Tiny t;
    auto w = model_load(tiny_model_dir());
    auto lora = lora_load_adapter(src("tests/fixtures/models/qwen2-tiny-lora-a"), *w);
    t.backend->set_lora_adapters({lora});
    GeneratorOptions o = t.opts;
    o.n_lora_adapters = 1;
    o.default_lora_coefs = {0.0f};
    std::vector<GenerateRequest> reqs;
    for (float c : {4.0f, 8.0f}) {
        GenerateRequest r = chat_request(*t.tok, "What is 3+4?", 0);
        r.sampling.temperature = 0.0f;
        r.max_tokens = 6;
        r.lora_coefs = {c};
        r.prefill_base = true;
        reqs.push_back(r);
    }
    GeneratorStats st;
    auto res = generator_run(*t.backend, *t.text, o, reqs, &st);
    EXPECT_EQ(st.n_prompts_shared, 1);  // both vectors share one base-weights prefix
    // The first token by hand: prefix with coefficient 0, the last prompt token with c.
    const auto& ids = reqs[0].prompt_ids;
    const int n_vocab = t.backend->config().vocab_size;
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    for (size_t i = 0; i < reqs.size(); ++i) {
        int slot = t.backend->seq_alloc();
        BackendBatch b;
        b.slots = {slot};
        b.tokens = {std::vector<int32_t>(ids.begin(), ids.end() - 1)};
        b.lora_coefs = {{0.0f}};
        t.backend->forward(b, logits.data());
        b.tokens = {{ids.back()}};
        b.lora_coefs = {reqs[i].lora_coefs};
        t.backend->forward(b, logits.data());
        t.backend->seq_free(slot);
        int32_t best = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
        ASSERT_FALSE(res[i][0].output_ids.empty());
        EXPECT_EQ(res[i][0].output_ids[0], best) << i;
    }
    // Without adapters it is an error naming the request.
    GenerateRequest bad = chat_request(*t.tok, "x", 0);
    bad.prefill_base = true;
    EXPECT_THROW(generator_run(*t.backend, *t.text, t.opts, {bad}), Error);
}

TEST(GeneratorCpu, ForwardSampleChecksItsRows) {
    Tiny t;
    int slot = t.backend->seq_alloc();
    BackendBatch batch;
    batch.slots = {slot};
    batch.tokens = {{1, 2, 3}};
    int32_t tok = -1;
    EXPECT_THROW(t.backend->forward_sample(batch, {}, &tok), Error);
    SampleRow bad;
    bad.params.temperature = 1.0f;
    bad.params.top_p = 1.5f;
    EXPECT_THROW(t.backend->forward_sample(batch, {bad}, &tok), Error);
    EXPECT_EQ(t.backend->seq_len(slot), 0);  // nothing appended on a bad call
    t.backend->seq_free(slot);
}

TEST(GeneratorCpu, BackendRegistry) {
    // This test binary does not link the CUDA library, so "cuda" is not registered here.
    EXPECT_EQ(engine_backend_names(), (std::vector<std::string>{"cpu"}));
    EngineFactoryOptions o;
    o.model_dir = tiny_model_dir();
    auto message = [&](const std::string& backend) {
        o.backend = backend;
        try {
            engine_make(o);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    EXPECT_NE(message("tpu").find("unknown backend 'tpu' (hint: this build knows: cpu)"), std::string::npos);
    EXPECT_NE(message("cuda").find("no CUDA engine"), std::string::npos);
    // A registered backend is what engine_make builds.
    int calls = 0;
    engine_register_backend("counting-cpu", [&](std::shared_ptr<const ModelWeights> w, const EngineFactoryOptions&) {
        ++calls;
        CpuBackendOptions bo;
        bo.n_threads = 1;
        return std::shared_ptr<Backend>(std::make_shared<CpuBackend>(std::move(w), bo));
    });
    o.backend = "counting-cpu";
    auto engine = engine_make(o);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(engine->info().backend, "counting-cpu");
}

TEST(GeneratorCpu, ArgumentParsers) {
    EXPECT_EQ(engine_parse_adapter_arg("a/b=0.5"), (std::pair<std::string, float>{"a/b", 0.5f}));
    EXPECT_EQ(engine_parse_adapter_arg("dir"), (std::pair<std::string, float>{"dir", 1.0f}));
    EXPECT_EQ(engine_parse_adapter_arg("d=x=-2"), (std::pair<std::string, float>{"d=x", -2.0f}));
    EXPECT_THROW(engine_parse_adapter_arg("dir=abc"), UsageError);
    EXPECT_THROW(engine_parse_adapter_arg("=1"), UsageError);
    EXPECT_EQ(engine_parse_float_list("0.1,0.5,1", "--lambda"), (std::vector<float>{0.1f, 0.5f, 1.0f}));
    EXPECT_THROW(engine_parse_float_list("0.1,,1", "--lambda"), UsageError);
    EXPECT_THROW(engine_parse_float_list("", "--lambda"), UsageError);
    EXPECT_THROW(engine_parse_float_list("nan", "--lambda"), UsageError);
}

}  // namespace
}  // namespace adabench
