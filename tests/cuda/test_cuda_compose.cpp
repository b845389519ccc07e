// Weight composition on the device (label gpu; tests needing a device skip without one): each
// compose kernel (engines/cuda/compose.cuh) against its scalar CPU twin on random inputs, then
// CudaBackend::compose against the host composition uploaded with set_weights on the organism —
// logits within 1e-2 relative error and 64 greedy tokens identical for a linear merge (scalar and
// per-layer lambda), task arithmetic, merged LoRA and both together; composing twice gives the
// second result; the engine factory's compose_in_backend path on "cuda".
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/model/compose.h"
#include "engines/cpu/ops_ref.h"
#include "engines/cuda/compose.cuh"
#include "engines/cuda/cuda_backend.h"
#include "engines/cuda/device.h"
#include "engines/engine_factory.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/tokenizer/tokenizer.h"
#include "tests/cuda/cuda_test_util.h"

namespace adabench {
namespace {

using cuda_test::rel_err;
using cuda_test::src;
using cuda_test::step;

#define CHECK_CUDA(expr) ASSERT_EQ((expr), cudaSuccess) << #expr

// ---- kernels against their twins ----

float bf16_to_f32(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    return f;
}

// The scalar twin of compose_merge_*: merge.cpp's formulas, one rounding per operation.
float twin_merge(const ComposeTerms& t, const std::vector<std::vector<float>>& s, size_t i) {
    if (t.op == COMPOSE_OP_COPY) return s[0][i];
    if (t.op == COMPOSE_OP_LINEAR) {
        volatile float x = t.coef[0] * s[0][i];
        volatile float y = t.coef[1] * s[1][i];
        return x + y;
    }
    float v = s[0][i];
    for (int k = 1; k < t.n_src; ++k) {
        volatile float d = s[size_t(k)][i] - s[0][i];
        volatile float p = t.coef[k] * d;
        v = v + p;
    }
    return v;
}

template <class T>
T* to_device(const std::vector<T>& h) {
    T* d = nullptr;
    if (cudaMalloc(&d, h.size() * sizeof(T)) != cudaSuccess) return nullptr;
    cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice);
    return d;
}

template <class T>
std::vector<T> to_host(const T* d, size_t n) {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
}

// Normalised error check (tol + |ref| * eps) with a NaN check; returns the failures' description.
std::string compare(const std::vector<float>& got, const std::vector<float>& ref, double tol, double eps) {
    for (size_t i = 0; i < ref.size(); ++i) {
        if (std::isnan(got[i]) || std::fabs(double(got[i]) - double(ref[i])) > tol + std::fabs(double(ref[i])) * eps)
            return "element " + std::to_string(i) + ": got " + std::to_string(got[i]) + ", want " +
                   std::to_string(ref[i]);
    }
    return "";
}

TEST(CudaCompose, MergeKernelsMatchTheirTwins) {
    REQUIRE_CUDA_DEVICE();
    const size_t n = 100003;  // not a multiple of the block
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<std::vector<uint16_t>> bf(3, std::vector<uint16_t>(n));
    std::vector<std::vector<float>> bf_vals(3, std::vector<float>(n)), f32(3, std::vector<float>(n));
    for (size_t k = 0; k < 3; ++k)
        for (size_t i = 0; i < n; ++i) {
            bf[k][i] = ref_f32_to_bf16(dist(rng));
            bf_vals[k][i] = bf16_to_f32(bf[k][i]);
            f32[k][i] = 1.0f + dist(rng);
        }
    std::vector<uint16_t*> d_bf;
    std::vector<float*> d_f32;
    for (size_t k = 0; k < 3; ++k) {
        d_bf.push_back(to_device(bf[k]));
        d_f32.push_back(to_device(f32[k]));
        ASSERT_TRUE(d_bf.back() && d_f32.back());
    }
    uint16_t* out_bf = nullptr;
    float* out_f = nullptr;
    CHECK_CUDA(cudaMalloc(&out_bf, n * sizeof(uint16_t)));
    CHECK_CUDA(cudaMalloc(&out_f, n * sizeof(float)));

    std::vector<ComposeTerms> cases(4);
    cases[0].op = COMPOSE_OP_COPY;
    cases[0].n_src = 1;
    cases[1].op = COMPOSE_OP_LINEAR;
    cases[1].n_src = 2;
    cases[1].coef[0] = 0.65f;
    cases[1].coef[1] = 1.0f - 0.65f;
    cases[2].op = COMPOSE_OP_TASK;
    cases[2].n_src = 2;
    cases[2].coef[1] = 0.3f;
    cases[3].op = COMPOSE_OP_TASK;
    cases[3].n_src = 3;
    cases[3].coef[1] = 1.0f;
    cases[3].coef[2] = -0.7f;
    for (size_t c = 0; c < cases.size(); ++c) {
        ComposeTerms tb = cases[c], tf = cases[c];
        for (int k = 0; k < tb.n_src; ++k) {
            tb.src[k] = d_bf[size_t(k)];
            tf.src[k] = d_f32[size_t(k)];
        }
        std::vector<float> ref_bf(n), ref_f(n), ref_rounded(n);
        for (size_t i = 0; i < n; ++i) {
            ref_bf[i] = twin_merge(cases[c], bf_vals, i);
            ref_rounded[i] = bf16_to_f32(ref_f32_to_bf16(ref_bf[i]));
            ref_f[i] = twin_merge(cases[c], f32, i);
        }
        // bf16 sources -> fp32 (exact twin), -> bf16 (the twin rounded once), fp32 -> fp32.
        compose_merge_bf16_cuda(tb, int64_t(n), nullptr, out_f, nullptr);
        CHECK_CUDA(cudaDeviceSynchronize());
        EXPECT_EQ(compare(to_host(out_f, n), ref_bf, 0.0, 1e-7), "") << "case " << c << " bf16 -> f32";
        compose_merge_bf16_cuda(tb, int64_t(n), out_bf, nullptr, nullptr);
        CHECK_CUDA(cudaDeviceSynchronize());
        std::vector<float> got_bf(n);
        const auto bits = to_host(out_bf, n);
        for (size_t i = 0; i < n; ++i) got_bf[i] = bf16_to_f32(bits[i]);
        EXPECT_EQ(compare(got_bf, ref_rounded, 0.0, 1.0 / 256), "") << "case " << c << " bf16 -> bf16";
        compose_merge_f32_cuda(tf, int64_t(n), out_f, nullptr);
        CHECK_CUDA(cudaDeviceSynchronize());
        EXPECT_EQ(compare(to_host(out_f, n), ref_f, 0.0, 1e-7), "") << "case " << c << " f32 -> f32";
    }
    for (size_t k = 0; k < 3; ++k) {
        cudaFree(d_bf[k]);
        cudaFree(d_f32[k]);
    }
    cudaFree(out_bf);
    cudaFree(out_f);
}

TEST(CudaCompose, LoraDeltaMatchesItsTwin) {
    REQUIRE_CUDA_DEVICE();
    const int r = 8, n_in = 300, n_out = 200;
    const float scale = 0.37f;
    std::mt19937 rng(11);
    std::normal_distribution<float> dist(0.0f, 0.1f);
    std::vector<float> a(size_t(r) * n_in), b(size_t(n_out) * r), w(size_t(n_out) * n_in);
    for (auto* v : {&a, &b, &w})
        for (float& x : *v) x = dist(rng);
    std::vector<float> ref(w.size());
    for (int o = 0; o < n_out; ++o)
        for (int j = 0; j < n_in; ++j) {
            double acc = 0.0;
            for (int k = 0; k < r; ++k) acc += double(b[size_t(o) * r + k]) * double(a[size_t(k) * n_in + j]);
            ref[size_t(o) * n_in + j] = float(double(w[size_t(o) * n_in + j]) + double(scale) * acc);
        }
    float *da = to_device(a), *db = to_device(b), *dw = to_device(w);
    ASSERT_TRUE(da && db && dw);
    cublasHandle_t h = nullptr;
    ASSERT_EQ(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    ASSERT_EQ(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), CUBLAS_STATUS_SUCCESS);
    compose_lora_delta_f32_cuda(h, da, db, r, n_in, n_out, scale, dw);
    CHECK_CUDA(cudaDeviceSynchronize());
    EXPECT_EQ(compare(to_host(dw, w.size()), ref, 1e-6, 1e-5), "");
    cublasDestroy(h);
    cudaFree(da);
    cudaFree(db);
    cudaFree(dw);
}

// Runs everywhere: the launchers check their arguments before touching the device.
TEST(CudaComposeArgs, LaunchersRejectBadArguments) {
    ComposeTerms t;
    t.op = COMPOSE_OP_LINEAR;
    t.n_src = 1;
    uint16_t dummy_bf = 0;
    float dummy_f = 0.0f;
    t.src[0] = &dummy_bf;
    EXPECT_THROW(compose_merge_bf16_cuda(t, 4, &dummy_bf, nullptr, nullptr), Error);  // too few sources
    t.n_src = 2;
    EXPECT_THROW(compose_merge_bf16_cuda(t, 4, &dummy_bf, nullptr, nullptr), Error);  // null source
    t.src[1] = &dummy_bf;
    EXPECT_THROW(compose_merge_bf16_cuda(t, 4, &dummy_bf, &dummy_f, nullptr), Error);  // two outputs
    EXPECT_THROW(compose_merge_bf16_cuda(t, -1, &dummy_bf, nullptr, nullptr), Error);
    t.op = COMPOSE_OP_TASK;
    t.n_src = kComposeMaxSources + 1;
    EXPECT_THROW(compose_merge_f32_cuda(t, 4, &dummy_f, nullptr), Error);
    EXPECT_THROW(compose_lora_delta_f32_cuda(nullptr, nullptr, nullptr, 0, 4, 4, 1.0f, nullptr), Error);
}

// ---- CudaBackend::compose against the host composition ----

std::vector<int32_t> organism_prompt() {
    Tokenizer tok = Tokenizer::load(src("models/organism/base"));
    return tok.encode(
        "<|im_start|>user\nMia has 47 marbles. In January, Mia finds 8 more. In February, Mia sells 5. In March, "
        "Mia gets 3 more. How many marbles does Mia have at the end?<|im_end|>\n<|im_start|>assistant\n<think>\n");
}

std::vector<int32_t> greedy(Backend& b, const std::vector<int32_t>& prompt, int n) {
    int slot = b.seq_alloc();
    std::vector<int32_t> out;
    std::vector<float> logits = step(b, slot, prompt);
    for (int i = 0; i < n; ++i) {
        out.push_back(int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin()));
        logits = step(b, slot, {out.back()});
    }
    b.seq_free(slot);
    return out;
}

struct Organism {
    std::shared_ptr<const ModelWeights> longm = model_load(src("models/organism/long"));
    std::shared_ptr<const ModelWeights> shortm = model_load(src("models/organism/short"));
    std::shared_ptr<const ModelWeights> base = model_load(src("models/organism/base"));
    std::shared_ptr<const LoraAdapter> lora_short = lora_load_adapter(src("models/organism/lora-short"), *base);
};

// `composed` (after compose) against a backend given the host composition with set_weights.
void expect_same_as_host(Backend& composed, const ComposeSources& s, const ComposeParams& p, const std::string& what) {
    auto host = cuda_backend_create(s.model);
    host->set_weights(compose_weights_host(s, p));
    const auto prompt = organism_prompt();
    int a = composed.seq_alloc(), b = host->seq_alloc();
    EXPECT_LE(rel_err(step(composed, a, prompt), step(*host, b, prompt)), 1e-2) << what;
    for (int32_t t : {40, 41, 7}) EXPECT_LE(rel_err(step(composed, a, {t}), step(*host, b, {t})), 1e-2) << what;
    composed.seq_free(a);
    EXPECT_EQ(greedy(composed, prompt, 64), greedy(*host, prompt, 64)) << what;
}

TEST(CudaComposeBackend, LinearMergeScalarAndPerLayer) {
    REQUIRE_CUDA_DEVICE();
    Organism o;
    ComposeSources s{o.longm, o.shortm, nullptr, {}};
    auto gpu = cuda_backend_create(o.longm);
    gpu->set_compose_sources(s);
    EXPECT_GT(cuda_backend_compose_source_bytes(*gpu), 0);
    EXPECT_GE(cuda_backend_slots(*gpu), 1);
    // The second lambda runs after the first one's decode steps captured a CUDA graph: the graph
    // reads the live store in place, so it must see the recomposed weights.
    for (const auto& lambda : {std::vector<float>{0.65f}, std::vector<float>{0.9f, 0.2f, 0.5f}}) {
        ComposeParams p{COMPOSE_MERGE_LINEAR, lambda, {}};
        gpu->compose(p);
        expect_same_as_host(*gpu, s, p, compose_params_describe(p));
    }
}

// Tied embeddings: the merged embedding is the lm_head (there is no lm_head of its own to compose).
TEST(CudaComposeBackend, TiedEmbeddingsMerge) {
    REQUIRE_CUDA_DEVICE();
    // bf16 sources (the fixtures are f32): the device composes from bf16 copies, the host from these
    auto a =
        cuda_test::tied_copy(*cuda_test::rounded_to_bf16(*model_load(src("tests/fixtures/models/qwen2-tiny-random"))));
    auto b = cuda_test::tied_copy(
        *cuda_test::rounded_to_bf16(*model_load(src("tests/fixtures/models/qwen2-tiny-random-b"))));
    ComposeSources s{a, b, nullptr, {}};
    auto gpu = cuda_backend_create(a);
    gpu->set_compose_sources(s);
    ComposeParams p{COMPOSE_MERGE_LINEAR, {0.3f}, {}};
    gpu->compose(p);
    auto host = cuda_backend_create(a);
    host->set_weights(compose_weights_host(s, p));
    const std::vector<int32_t> prompt = {1, 17, 250, 3, 99};
    int x = gpu->seq_alloc(), y = host->seq_alloc();
    EXPECT_LE(rel_err(step(*gpu, x, prompt), step(*host, y, prompt)), 1e-2);
    for (int32_t t : {5, 300}) EXPECT_LE(rel_err(step(*gpu, x, {t}), step(*host, y, {t})), 1e-2) << t;
}

TEST(CudaComposeBackend, TaskArithmetic) {
    REQUIRE_CUDA_DEVICE();
    Organism o;
    ComposeSources s{o.longm, o.shortm, o.base, {}};
    auto gpu = cuda_backend_create(o.longm);
    gpu->set_compose_sources(s);
    ComposeParams p{COMPOSE_MERGE_TASK_ARITHMETIC, {0.4f}, {}};
    gpu->compose(p);
    expect_same_as_host(*gpu, s, p, "task arithmetic");
}

TEST(CudaComposeBackend, MergedLoraAloneAndOnAMerge) {
    REQUIRE_CUDA_DEVICE();
    Organism o;
    {
        ComposeSources s{o.base, nullptr, nullptr, {o.lora_short}};
        auto gpu = cuda_backend_create(o.base);
        gpu->set_compose_sources(s);
        ComposeParams p{COMPOSE_MERGE_NONE, {}, {0.5f}};
        gpu->compose(p);
        expect_same_as_host(*gpu, s, p, "lora-short 0.5");
    }
    ComposeSources s{o.longm, o.shortm, nullptr, {o.lora_short}};
    auto gpu = cuda_backend_create(o.longm);
    gpu->set_compose_sources(s);
    ComposeParams p{COMPOSE_MERGE_LINEAR, {0.65f}, {0.5f}};
    gpu->compose(p);
    expect_same_as_host(*gpu, s, p, "linear 0.65 + lora-short 0.5");
}

TEST(CudaComposeBackend, ComposingTwiceGivesTheSecondResult) {
    REQUIRE_CUDA_DEVICE();
    Organism o;
    ComposeSources s{o.longm, o.shortm, nullptr, {o.lora_short}};
    auto gpu = cuda_backend_create(o.longm);
    gpu->set_compose_sources(s);
    gpu->compose({COMPOSE_MERGE_LINEAR, {0.1f}, {1.0f}});
    const auto prompt = organism_prompt();
    int stale = gpu->seq_alloc();
    step(*gpu, stale, prompt);
    ComposeParams p{COMPOSE_MERGE_LINEAR, {0.65f}, {0.5f}};
    gpu->compose(p);
    EXPECT_THROW(gpu->seq_len(stale), Error);  // the cache was cleared
    expect_same_as_host(*gpu, s, p, "second composition");
    // Back to the model alone is a plain copy of the source.
    gpu->compose({COMPOSE_MERGE_NONE, {}, {0.0f}});
    auto plain = cuda_backend_create(o.longm);
    int a = gpu->seq_alloc(), b = plain->seq_alloc();
    EXPECT_EQ(step(*gpu, a, prompt), step(*plain, b, prompt));
}

TEST(CudaComposeBackend, EngineFactoryComposesOnTheDevice) {
    REQUIRE_CUDA_DEVICE();
    cuda_backend_register();
    EngineFactoryOptions o;
    o.backend = "cuda";
    o.model_dir = src("models/organism/long");
    o.merge_with = src("models/organism/short");
    o.lambda = {0.65f};
    o.compose_in_backend = true;
    o.max_batch = 2;
    o.max_seq_len = 512;
    auto engine = engine_make(o);
    EXPECT_GT(cuda_backend_compose_source_bytes(engine->backend()), 0);
    GenerateRequest r;
    r.prompt_ids = organism_prompt();
    r.max_tokens = 64;
    auto on_device = engine->generate({r}).at(0).at(0).output_ids;
    o.compose_in_backend = false;
    auto on_host = engine_make(o)->generate({r}).at(0).at(0).output_ids;
    EXPECT_EQ(on_device, on_host);
    // Errors keep naming the files.
    o.merge_with = src("tests/fixtures/models/qwen2-tiny-random");
    o.compose_in_backend = true;
    try {
        engine_make(o);
        FAIL() << "merged an incompatible model";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("qwen2-tiny-random"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace adabench
