// CudaBackend as a whole against the CPU backend (label gpu; every test skips without a device):
// logits within 1e-2 relative error, greedy tokens identical for 64 tokens on the bundled organism
// and on the random Qwen2 fixture, fork/truncate semantics, unmerged LoRA against merged and
// against the CPU's unmerged path, a fork sweep through the shared Generator token-identical to
// separate runs, and the error messages.
//
// Numerics being compared: the CUDA backend keeps weights in bf16 and rounds the activations to
// bf16 at each projection, which is the CPU backend's "fast" precision; the greedy comparisons run
// the CPU in that mode, the logit comparisons against the CPU's exact fp32 path. The random fixture
// is f32, so it is first rounded to bf16 (as bf16 tensors) and both backends get the same weights.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/cpu/ops_ref.h"
#include "engines/cuda/cuda_backend.h"
#include "engines/cuda/device.h"
#include "engines/engine_factory.h"
#include "engines/generation/generator.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/tokenizer/tokenizer.h"
#include "tests/cuda/cuda_test_util.h"

namespace adabench {
namespace {

using cuda_test::rel_err;
using cuda_test::rounded_to_bf16;
using cuda_test::src;
using cuda_test::step;

std::shared_ptr<const ModelWeights> organism(const std::string& which = "base") {
    return model_load(src("models/organism/" + which));
}

std::shared_ptr<const ModelWeights> random_fixture() {
    return rounded_to_bf16(*model_load(src("tests/fixtures/models/qwen2-tiny-random")));
}

CpuBackendOptions cpu_opts(CpuPrecision p) {
    CpuBackendOptions o;
    o.n_threads = 4;
    o.precision = p;
    return o;
}

int32_t argmax(const std::vector<float>& v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

// Greedy continuation of `prompt` for n tokens, one sequence.
std::vector<int32_t> greedy(Backend& b, const std::vector<int32_t>& prompt, int n) {
    int slot = b.seq_alloc();
    std::vector<int32_t> out;
    std::vector<float> logits = step(b, slot, prompt);
    for (int i = 0; i < n; ++i) {
        out.push_back(argmax(logits));
        logits = step(b, slot, {out.back()});
    }
    b.seq_free(slot);
    return out;
}

std::vector<int32_t> organism_prompt(const std::string& question) {
    Tokenizer tok = Tokenizer::load(src("models/organism/base"));
    return tok.encode("<|im_start|>user\n" + question + "<|im_end|>\n<|im_start|>assistant\n<think>\n");
}

const char* kQuestion =
    "Mia has 47 marbles. In January, Mia finds 8 more. In February, Mia sells 5. In March, Mia gets 3 more. "
    "How many marbles does Mia have at the end?";

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(CudaBackend, LogitsMatchCpuOnTheOrganism) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism();
    auto gpu = cuda_backend_create(w);
    CpuBackend cpu(w, cpu_opts(CPU_PRECISION_EXACT));
    const auto prompt = organism_prompt(kQuestion);
    int gs = gpu->seq_alloc(), cs = cpu.seq_alloc();
    EXPECT_LE(rel_err(step(*gpu, gs, prompt), step(cpu, cs, prompt)), 1e-2);
    for (int32_t t : {40, 41, 42, 7, 300}) EXPECT_LE(rel_err(step(*gpu, gs, {t}), step(cpu, cs, {t})), 1e-2) << t;
    EXPECT_EQ(gpu->seq_len(gs), cpu.seq_len(cs));
}

// The random fixture's activations are larger than the organism's, so rounding them to bf16 at each
// projection (what the CUDA backend and the CPU's fast precision do) moves its logits by about 1.3%
// against fp32 activations (the CPU's exact precision; measured with the emulated backend,
// tests/emulation). The 1e-2 bound is checked against the CPU engine at the same rounding points;
// against exact fp32 the bound is 3e-2.
TEST(CudaBackend, LogitsMatchCpuOnTheRandomQwen2) {
    REQUIRE_CUDA_DEVICE();
    auto w = random_fixture();
    auto gpu = cuda_backend_create(w);
    CpuBackend fast(w, cpu_opts(CPU_PRECISION_FAST)), exact(w, cpu_opts(CPU_PRECISION_EXACT));
    const std::vector<int32_t> prompt = {1, 17, 250, 3, 99, 383, 0, 42, 42, 42, 7};
    int gs = gpu->seq_alloc(), fs = fast.seq_alloc(), es = exact.seq_alloc();
    std::vector<float> g = step(*gpu, gs, prompt);
    EXPECT_LE(rel_err(g, step(fast, fs, prompt)), 1e-2);
    EXPECT_LE(rel_err(g, step(exact, es, prompt)), 3e-2);
    for (int32_t t : {5, 6, 300}) {
        g = step(*gpu, gs, {t});
        EXPECT_LE(rel_err(g, step(fast, fs, {t})), 1e-2) << t;
        EXPECT_LE(rel_err(g, step(exact, es, {t})), 3e-2) << t;
    }
}

// A tied lm_head is the resident embedding itself: one V x C matrix less than an untied model whose
// lm_head holds the same values, and the same logits as that model and as the CPU.
TEST(CudaBackend, TiedEmbeddingsAreOneCopyAndMatchTheCpu) {
    REQUIRE_CUDA_DEVICE();
    auto tied = cuda_test::tied_copy(*random_fixture());
    auto untied = std::make_shared<ModelWeights>(*tied);
    untied->config.tie_word_embeddings = false;
    const Tensor& e = tied->embed_tokens;
    auto bits = std::make_shared<std::vector<uint16_t>>(size_t(e.numel()));
    ASSERT_EQ(e.dtype, DTYPE_BF16);
    std::memcpy(bits->data(), e.data, bits->size() * sizeof(uint16_t));
    untied->mappings.push_back(bits);
    untied->lm_head.data = bits->data();
    auto gt = cuda_backend_create(tied), gu = cuda_backend_create(untied);
    const int64_t V = tied->config.vocab_size, C = tied->config.hidden_size;
    EXPECT_EQ(cuda_backend_weight_bytes(*gu) - cuda_backend_weight_bytes(*gt), (V * C + 127) / 128 * 128 * 2);
    CpuBackend cpu(tied, cpu_opts(CPU_PRECISION_FAST));
    const std::vector<int32_t> prompt = {1, 17, 250, 3, 99, 383, 0, 42};
    int a = gt->seq_alloc(), b = gu->seq_alloc(), c = cpu.seq_alloc();
    for (const auto& toks : {prompt, std::vector<int32_t>{5}, std::vector<int32_t>{300}}) {
        const std::vector<float> lt = step(*gt, a, toks);
        EXPECT_EQ(cuda_test::bit_differences(lt, step(*gu, b, toks)), 0u);
        EXPECT_LE(rel_err(lt, step(cpu, c, toks)), 1e-2);
    }
}

TEST(CudaBackend, Greedy64TokensIdenticalToCpuOnTheOrganism) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism("long");
    auto gpu = cuda_backend_create(w);
    CpuBackend cpu(w, cpu_opts(CPU_PRECISION_FAST));
    const auto prompt = organism_prompt(kQuestion);
    EXPECT_EQ(greedy(*gpu, prompt, 64), greedy(cpu, prompt, 64));
}

TEST(CudaBackend, Greedy64TokensIdenticalToCpuOnTheRandomQwen2) {
    REQUIRE_CUDA_DEVICE();
    auto w = random_fixture();
    auto gpu = cuda_backend_create(w);
    CpuBackend cpu(w, cpu_opts(CPU_PRECISION_FAST));
    const std::vector<int32_t> prompt = {1, 17, 250, 3, 99, 383, 0, 42};
    EXPECT_EQ(greedy(*gpu, prompt, 64), greedy(cpu, prompt, 64));
}

TEST(CudaBackend, BatchedPrefillAndDecodeEqualOneByOne) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism();
    auto gpu = cuda_backend_create(w);
    const auto p1 = organism_prompt(kQuestion);
    const auto p2 =
        organism_prompt("Sam has 12 coins. In January, Sam loses 3. How many coins does Sam have at the end?");
    int a = gpu->seq_alloc(), b = gpu->seq_alloc();
    const int V = w->config.vocab_size;
    std::vector<float> both(size_t(2 * V));
    BackendBatch batch;
    batch.slots = {a, b};
    batch.tokens = {p1, p2};
    gpu->forward(batch, both.data());
    int c = gpu->seq_alloc(), d = gpu->seq_alloc();
    auto l1 = step(*gpu, c, p1), l2 = step(*gpu, d, p2);
    EXPECT_LE(rel_err(std::vector<float>(both.begin(), both.begin() + V), l1), 1e-5);
    EXPECT_LE(rel_err(std::vector<float>(both.begin() + V, both.end()), l2), 1e-5);
    EXPECT_EQ(gpu->seq_len(a), int(p1.size()));
    EXPECT_EQ(gpu->seq_len(b), int(p2.size()));
}

// Batch-invariant mode: a sequence's logits are bit-identical whether it runs alone or inside a
// batch of other sequences of other lengths (prefill and decode steps), and stay within the usual
// tolerance of the CPU.
TEST(CudaBackend, BatchInvariantModeGivesBitIdenticalLogitsWhateverTheBatch) {
    REQUIRE_CUDA_DEVICE();
    auto w = random_fixture();
    CudaBackendOptions o;
    o.batch_invariant = true;
    auto gpu = cuda_backend_create(w, o);
    const int V = w->config.vocab_size;
    const std::vector<int32_t> prompt = {5, 17, 42, 7, 99, 3, 250, 11, 64, 8, 120, 33, 2};
    const std::vector<int32_t> decode = {21, 77, 140};
    std::vector<std::vector<float>> alone;
    {
        int a = gpu->seq_alloc();
        alone.push_back(step(*gpu, a, prompt));
        for (int32_t t : decode) alone.push_back(step(*gpu, a, {t}));
        gpu->seq_free(a);
    }
    std::vector<int> slots;
    for (int i = 0; i < 6; ++i) slots.push_back(gpu->seq_alloc());
    BackendBatch batch;
    batch.slots = slots;
    batch.tokens = {{1, 2, 3}, prompt, std::vector<int32_t>(40, 9), {4}, std::vector<int32_t>(70, 12), {5, 6}};
    std::vector<float> logits(size_t(slots.size()) * size_t(V));
    gpu->forward(batch, logits.data());
    EXPECT_EQ(0, std::memcmp(logits.data() + V, alone[0].data(), size_t(V) * sizeof(float))) << "prefill";
    for (size_t i = 0; i < decode.size(); ++i) {
        batch.tokens.assign(slots.size(), {int32_t(30 + i)});
        batch.tokens[1] = {decode[i]};
        gpu->forward(batch, logits.data());
        EXPECT_EQ(0, std::memcmp(logits.data() + V, alone[i + 1].data(), size_t(V) * sizeof(float)))
            << "decode step " << i;
    }
    CpuBackend cpu(w, cpu_opts(CPU_PRECISION_EXACT));
    int c = cpu.seq_alloc();
    EXPECT_LE(rel_err(alone[0], step(cpu, c, prompt)), 1e-2);
}

TEST(CudaBackend, ForwardGreedyPicksTheArgmaxOnTheDevice) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism();
    auto gpu = cuda_backend_create(w);
    const auto p1 = organism_prompt(kQuestion);
    int a = gpu->seq_alloc(), b = gpu->seq_alloc();
    BackendBatch batch;
    batch.slots = {a, b};
    batch.tokens = {p1, {1, 2, 3}};
    std::vector<int32_t> picks(2);
    gpu->forward_greedy(batch, picks.data());
    EXPECT_EQ(gpu->seq_len(a), int(p1.size()));
    int c = gpu->seq_alloc(), d = gpu->seq_alloc();
    EXPECT_EQ(picks[0], argmax(step(*gpu, c, p1)));
    EXPECT_EQ(picks[1], argmax(step(*gpu, d, {1, 2, 3})));
}

// Decode steps replayed from a captured CUDA graph compute exactly what eager launches compute,
// also after the scratch buffers grow (the graphs are dropped and captured again). A batch size
// runs eagerly the first time (warm-up) and from its graph after that: the replays are counted, so
// a capture that fails (and falls back to eager launches) fails the test.
TEST(CudaBackend, GraphDecodeEqualsEagerDecode) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism("long");
    CudaBackendOptions eager_opts;
    eager_opts.cuda_graphs = false;
    auto graphs = cuda_backend_create(w);
    auto eager = cuda_backend_create(w, eager_opts);
    const auto prompt = organism_prompt(kQuestion);
    EXPECT_EQ(greedy(*graphs, prompt, 40), greedy(*eager, prompt, 40));
    EXPECT_EQ(cuda_backend_graph_replays(*graphs), 39) << "a prefill and 40 decode steps: a warm-up, 39 replays";
    EXPECT_EQ(cuda_backend_graph_replays(*eager), 0);
    // Launches per decode step: 9 per layer (4 products, norm, q/k/v + RoPE + append, attention,
    // norm, SwiGLU), the embedding lookup, the final norm and the lm_head.
    const int64_t nodes = cuda_backend_graph_nodes(*graphs, 1), n_layers = w->config.n_layers;
    EXPECT_EQ(cuda_backend_graph_nodes(*eager, 1), -1);
#ifdef ADABENCH_BLOCK_EMULATION
    EXPECT_EQ(nodes, 9 * n_layers + 3);  // one node per product here
#else
    EXPECT_GE(nodes, 9 * n_layers + 3);
    EXPECT_LE(nodes, 13 * n_layers + 4) << "more than two cuBLAS kernels per product?";
#endif
    // Batched decode of 3 sequences, then a long prefill that grows the scratch, then decode again.
    std::vector<int> gs, es;
    for (int i = 0; i < 3; ++i) {
        gs.push_back(graphs->seq_alloc());
        es.push_back(eager->seq_alloc());
        step(*graphs, gs.back(), prompt);
        step(*eager, es.back(), prompt);
    }
    const auto decode = cuda_test::decode_step;
    EXPECT_EQ(decode(*graphs, gs, 40), decode(*eager, es, 40));
    EXPECT_EQ(decode(*graphs, gs, 41), decode(*eager, es, 41));
    std::vector<int32_t> long_prompt;
    for (int i = 0; i < 5; ++i) long_prompt.insert(long_prompt.end(), prompt.begin(), prompt.end());
    step(*graphs, graphs->seq_alloc(), long_prompt);
    step(*eager, eager->seq_alloc(), long_prompt);
    const int64_t before = cuda_backend_graph_replays(*graphs);
    EXPECT_EQ(decode(*graphs, gs, 42), decode(*eager, es, 42));  // warm-up again: the scratch moved
    EXPECT_EQ(decode(*graphs, gs, 43), decode(*eager, es, 43));  // captured anew
    EXPECT_EQ(decode(*graphs, gs, 44), decode(*eager, es, 44));
    EXPECT_EQ(cuda_backend_graph_replays(*graphs), before + 2);
}

TEST(CudaBackend, ForkAndTruncate) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism();
    auto gpu = cuda_backend_create(w);
    const auto prompt = organism_prompt(kQuestion);
    int a = gpu->seq_alloc();
    step(*gpu, a, prompt);
    int f = gpu->seq_fork(a);
    EXPECT_EQ(gpu->seq_len(f), int(prompt.size()));
    auto la = step(*gpu, a, {40, 41});
    auto lf = step(*gpu, f, {40, 41});
    EXPECT_EQ(la, lf);
    // Truncate back and append other tokens: equals a fresh slot fed the same sequence.
    gpu->seq_truncate(a, int(prompt.size()));
    auto lt = step(*gpu, a, {7});
    int fresh = gpu->seq_alloc();
    std::vector<int32_t> all = prompt;
    all.push_back(7);
    auto lr = step(*gpu, fresh, all);
    EXPECT_LE(rel_err(lt, lr), 1e-5);
}

TEST(CudaBackend, UnmergedLoraMatchesMergedAndTheCpu) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism();
    std::vector<std::shared_ptr<const LoraAdapter>> adapters = {
        lora_load_adapter(src("models/organism/lora-long"), *w),
        lora_load_adapter(src("models/organism/lora-short"), *w)};
    auto gpu = cuda_backend_create(w);
    gpu->set_lora_adapters(adapters);
    CpuBackend cpu(w, cpu_opts(CPU_PRECISION_EXACT));
    cpu.set_lora_adapters(adapters);
    const auto prompt = organism_prompt(kQuestion);
    const std::vector<std::vector<float>> coefs = {{1.0f, 0.0f}, {0.0f, 1.0f}, {0.5f, 0.5f}, {0.0f, 0.0f}};
    const int V = w->config.vocab_size;
    BackendBatch batch;
    for (size_t i = 0; i < coefs.size(); ++i) {
        batch.slots.push_back(gpu->seq_alloc());
        batch.tokens.push_back(prompt);
        batch.lora_coefs.push_back(coefs[i]);
    }
    std::vector<float> got(coefs.size() * size_t(V)), want(got.size());
    gpu->forward(batch, got.data());
    BackendBatch cbatch = batch;
    for (auto& s : cbatch.slots) s = cpu.seq_alloc();
    cpu.forward(cbatch, want.data());
    for (size_t i = 0; i < coefs.size(); ++i) {
        std::vector<float> g(got.begin() + long(i) * V, got.begin() + long(i + 1) * V);
        std::vector<float> c(want.begin() + long(i) * V, want.begin() + long(i + 1) * V);
        EXPECT_LE(rel_err(g, c), 1e-2) << "coefs " << coefs[i][0] << "," << coefs[i][1];
        // Merged on the host, uploaded: agrees with the unmerged path within bf16 rounding of W'.
        auto merged = cuda_backend_create(lora_merge_weights(*w, adapters, coefs[i]));
        EXPECT_LE(rel_err(step(*merged, merged->seq_alloc(), prompt), g), 1e-2) << "coefs " << coefs[i][0];
    }
}

TEST(CudaBackend, ForkSweepEqualsSeparateRunsThroughTheGenerator) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism("long");
    std::shared_ptr<Backend> gpu = cuda_backend_create(w);
    auto tok = std::make_shared<Tokenizer>(Tokenizer::load(src("models/organism/long")));
    TokenizerText text(*tok);
    GeneratorOptions opts;
    opts.eos_ids = engine_eos_ids(w->config, *tok);
    opts.max_batch = 8;
    const std::vector<int> budgets = {0, 10, 30, 60};
    std::vector<GenerateRequest> reqs;
    const char* qs[] = {kQuestion,
                        "Sam has 12 coins. In January, Sam loses 3. How many coins does Sam have at the end?"};
    for (uint64_t i = 0; i < 2; ++i) {
        GenerateRequest r;
        r.prompt_ids = organism_prompt(qs[i]);
        r.prompt_opens_thinking = true;
        r.seq_id = i;
        r.sampling.temperature = 0.7f;
        r.sampling.seed = 5;
        r.max_tokens = 200;
        r.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
        r.budget.answer_budget = 16;
        r.think_budgets = budgets;
        reqs.push_back(r);
    }
    GeneratorStats stats;
    auto sweep = generator_run(*gpu, text, opts, reqs, &stats);
    EXPECT_GT(stats.n_forks, 0);
    for (size_t i = 0; i < reqs.size(); ++i) {
        for (size_t j = 0; j < budgets.size(); ++j) {
            GenerateRequest one = reqs[i];
            one.think_budgets = {budgets[j]};
            auto sep = generator_run(*gpu, text, opts, {one});
            EXPECT_EQ(sweep[i][j].output_ids, sep[0][0].output_ids) << "request " << i << " budget " << budgets[j];
            EXPECT_EQ(sweep[i][j].finish_reason, sep[0][0].finish_reason);
        }
    }
}

TEST(CudaBackend, EngineFactoryBuildsTheCudaEngine) {
    REQUIRE_CUDA_DEVICE();
    cuda_backend_register();
    EngineFactoryOptions o;
    o.backend = "cuda";
    o.model_dir = src("models/organism/long");
    auto engine = engine_make(o);
    EXPECT_NE(engine->info().device.find("sm_"), std::string::npos) << engine->info().device;
    GenerateRequest r;
    r.prompt_ids = organism_prompt(kQuestion);
    r.prompt_opens_thinking = true;
    r.max_tokens = 300;
    auto res = engine->generate({r});
    EXPECT_NE(res[0][0].text.find("\\boxed{53}"), std::string::npos) << res[0][0].text;
}

TEST(CudaBackend, ClearErrors) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism();
    CudaBackendOptions o;
    o.max_slots = 2;
    o.max_seq_len = 64;
    auto gpu = cuda_backend_create(w, o);
    EXPECT_EQ(cuda_backend_slots(*gpu), 2);
    EXPECT_NE(error_of([&] { step(*gpu, 5, {1}); }).find("slot 5 is not allocated"), std::string::npos);
    int a = gpu->seq_alloc();
    EXPECT_NE(error_of([&] { step(*gpu, a, {100000}); }).find("outside the vocabulary"), std::string::npos);
    EXPECT_NE(error_of([&] { step(*gpu, a, std::vector<int32_t>(65, 1)); }).find("more than the maximum 64"),
              std::string::npos);
    EXPECT_EQ(gpu->seq_len(a), 0);  // nothing was appended by the failed steps
    gpu->seq_alloc();
    EXPECT_NE(error_of([&] { gpu->seq_alloc(); }).find("KV cache full"), std::string::npos);
    EXPECT_NE(error_of([&] {
                  BackendBatch b;
                  b.slots = {a};
                  b.tokens = {{1}};
                  b.lora_coefs = {{0.5f}};
                  std::vector<float> l(size_t(w->config.vocab_size));
                  gpu->forward(b, l.data());
              }).find("LoRA coefficients"),
              std::string::npos);
    CudaBackendOptions huge;
    huge.max_seq_len = 1 << 30;
    EXPECT_NE(error_of([&] { cuda_backend_create(w, huge); }).find("lower max_seq_len"), std::string::npos);
}

// Backend::forward_hidden (adabench calibrate): the per-layer residual stream matches the CPU twin
// at the same bf16 rounding points, a layer range entered by the previous range's output matches
// one run, and the call keeps no positions.
TEST(CudaBackend, ForwardHiddenMatchesCpuAndKeepsNoPositions) {
    REQUIRE_CUDA_DEVICE();
    auto w = organism("long");
    auto gpu = cuda_backend_create(w);
    CpuBackend cpu(w, cpu_opts(CPU_PRECISION_FAST));
    const int L = w->config.n_layers, C = w->config.hidden_size;
    const std::vector<std::vector<int32_t>> prompts = {organism_prompt(kQuestion), {1, 17, 250, 3, 99}};
    int64_t T = 0;
    for (const auto& p : prompts) T += int64_t(p.size());
    auto hidden = [&](Backend& b, int begin, const float* input) {
        BackendBatch batch;
        for (const auto& p : prompts) {
            batch.slots.push_back(b.seq_alloc());
            batch.tokens.push_back(p);
        }
        std::vector<float> h(size_t(L - begin) * size_t(T) * size_t(C));
        BackendHiddenRequest r;
        r.layer_begin = begin;
        r.input = input;
        b.forward_hidden(batch, r, h.data());
        for (int s : batch.slots) {
            EXPECT_EQ(b.seq_len(s), 0);
            b.seq_free(s);
        }
        return h;
    };
    std::vector<float> g = hidden(*gpu, 0, nullptr), c = hidden(cpu, 0, nullptr);
    EXPECT_LE(rel_err(g, c), 1e-2);
    const size_t layer = size_t(T) * size_t(C);
    std::vector<float> rest = hidden(*gpu, 1, g.data());
    EXPECT_LE(rel_err(rest, std::vector<float>(g.begin() + int64_t(layer), g.end())), 1e-5);
    // The cache is untouched: a normal step afterwards matches the CPU.
    int gs = gpu->seq_alloc(), cs = cpu.seq_alloc();
    EXPECT_LE(rel_err(step(*gpu, gs, prompts[0]), step(cpu, cs, prompts[0])), 1e-2);
}

}  // namespace
}  // namespace adabench
