// Sampling on the device (engines/cuda/sample.cuh, CudaBackend::forward_sample) against the host
// SamplerChain (engines/generation/sampling.h), label gpu; every test skips without a device.
//
// The kernel's twin is the chain itself: for each logits row and parameter set the device token
// must be the chain's token with the same (seed, sequence, position) uniform, or -1 exactly where
// the row is wider than the device's window. Rows cover peaked and flat distributions, exact ties
// (quantised logits), -inf entries, vocabularies below, near and far above the window, and NaN.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/cpu/random_model.h"
#include "engines/cuda/cuda_backend.h"
#include "engines/cuda/cuda_check.cuh"
#include "engines/cuda/device.h"
#include "engines/cuda/sample.cuh"
#include "engines/generation/generator.h"
#include "engines/generation/sampling.h"
#include "tests/cuda/sample_test_rows.h"

namespace adabench {
namespace {

#define REQUIRE_CUDA_DEVICE() \
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA device visible"

template <class T>
struct Dev {
    T* p = nullptr;
    explicit Dev(size_t n) { CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(T))); }
    ~Dev() { cudaFree(p); }
};

using sample_test::Case;
using sample_test::make_row;
using sample_test::nucleus_size;

void check_rows(int V, int n_rows, const std::vector<Case>& cases, uint32_t seed) {
    const sample_test::SampleRows made =
        sample_test::make_rows(V, n_rows, cases, seed, 1234, [](int r) { return uint64_t(r) * 3; });
    const std::vector<float>& logits = made.logits;
    const std::vector<SamplingParams>& params = made.params;
    const std::vector<CudaSampleRow>& rows = made.rows;
    Dev<float> d_logits(logits.size());
    Dev<CudaSampleRow> d_rows(rows.size());
    Dev<int32_t> d_out(2 * rows.size());
    CUDA_CHECK(cudaMemcpy(d_logits.p, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_rows.p, rows.data(), rows.size() * sizeof(CudaSampleRow), cudaMemcpyHostToDevice));
    sample_rows_f32_cuda(d_logits.p, n_rows, V, d_rows.p, d_out.p, d_out.p + n_rows, nullptr);
    std::vector<int32_t> out(2 * rows.size());
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(out.data(), d_out.p, out.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
    int on_device = 0;
    for (int r = 0; r < n_rows; ++r) {
        const float* row = logits.data() + size_t(r) * size_t(V);
        const SamplingParams& p = params[size_t(r)];
        SCOPED_TRACE("V " + std::to_string(V) + " row " + std::to_string(r) + " t " + std::to_string(p.temperature) +
                     " top_p " + std::to_string(p.top_p) + " top_k " + std::to_string(p.top_k));
        EXPECT_EQ(out[size_t(n_rows + r)], -1);  // no NaN here
        const int32_t want = sampling_make_chain(p, uint64_t(r))->sample(row, V, uint64_t(r) * 3);
        const int32_t got = out[size_t(r)];
        if (cuda_sample_needs_host(rows[size_t(r)], V)) {
            EXPECT_EQ(got, -1);
            continue;
        }
        if (got == -1) {  // only a nucleus wider than the window may come back
            const bool k_eff = p.top_k > 0 && p.top_k < V;
            EXPECT_TRUE(!k_eff && p.top_p < 1.0f && nucleus_size(row, V, p.temperature, p.top_p) > kCudaSampleWindow);
            continue;
        }
        ++on_device;
        EXPECT_EQ(got, want);
    }
    EXPECT_GT(on_device, n_rows / 2);
}

const std::vector<Case> kCases = {
    {0.0f, 1.0f, 0},       {0.7f, 1.0f, 0},       {1.0f, 0.9f, 0},    {0.6f, 0.95f, 0},    {1.0f, 1.0f, 40},
    {0.8f, 0.8f, 40},      {1.3f, 0.5f, 1},       {1.0f, 1.0f, 1024}, {1.0f, 0.99f, 1000}, {1.0f, 1.0f, 2000},
    {1.0f, 1.0f, 1 << 30}, {2.0f, 0.3f, 1 << 30}, {1.0f, 0.999f, 0},
};

TEST(CudaSample, MatchesTheHostChainBelowTheWindow) {
    REQUIRE_CUDA_DEVICE();
    check_rows(533, 260, kCases, 1);  // the organism's vocabulary: everything on the device
    check_rows(97, 65, kCases, 2);
}

TEST(CudaSample, MatchesTheHostChainAboveTheWindow) {
    REQUIRE_CUDA_DEVICE();
    check_rows(1024, 130, kCases, 3);  // exactly the window
    check_rows(1025, 130, kCases, 4);
    check_rows(5000, 130, kCases, 5);
    check_rows(151936, 65, kCases, 6);  // Qwen2's vocabulary
}

TEST(CudaSample, NanRowsNameTheLowestNanAndGreedyAllMinusInfIsZero) {
    REQUIRE_CUDA_DEVICE();
    const int V = 3000;
    std::vector<float> logits(size_t(3 * V), 0.5f);
    logits[size_t(2000)] = NAN;
    logits[size_t(17)] = NAN;
    for (int i = 0; i < V; ++i) logits[size_t(V + i)] = -INFINITY;  // row 1: greedy over all -inf
    logits[size_t(2 * V + 2999)] = NAN;
    std::vector<CudaSampleRow> rows(3);
    rows[0].temperature = 0.8f;
    rows[2].temperature = 1.0f;
    rows[2].top_k = 5;
    Dev<float> d_logits(logits.size());
    Dev<CudaSampleRow> d_rows(rows.size());
    Dev<int32_t> d_out(6);
    CUDA_CHECK(cudaMemcpy(d_logits.p, logits.data(), logits.size() * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(d_rows.p, rows.data(), rows.size() * sizeof(CudaSampleRow), cudaMemcpyHostToDevice));
    sample_rows_f32_cuda(d_logits.p, 3, V, d_rows.p, d_out.p, d_out.p + 3, nullptr);
    std::vector<int32_t> out(6);
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(out.data(), d_out.p, out.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
    EXPECT_EQ(out[3], 17);
    EXPECT_EQ(out[0], -1);
    EXPECT_EQ(out[4], -1);
    EXPECT_EQ(out[1], sampling_greedy(logits.data() + V, V));
    EXPECT_EQ(out[5], 2999);
}

// Through the backend and the Generator: tokens sampled on the device are the tokens the host
// chains pick from the same backend's logits (the on_logits observer forces the host path), for
// chains on the device and ones it hands back (top_k beyond the window, a flat nucleus).
TEST(CudaSample, GeneratorDeviceSamplingEqualsHostChainsOnTheSameLogits) {
    REQUIRE_CUDA_DEVICE();
    ModelConfig c = cpu_config_tiny(true, 2);
    c.vocab_size = 5000;
    auto backend = cuda_backend_create(cpu_random_model(c, DTYPE_BF16, 7));
    ASSERT_TRUE(backend->samples_on_device());
    struct NoText : TokenText {
        std::string token_bytes(int32_t) const override { return "x"; }
        std::vector<int32_t> encode_text(const std::string&) const override { return {}; }
    } text;
    std::vector<GenerateRequest> reqs;
    const Case cases[] = {{0.8f, 0.95f, 0},   {1.0f, 1.0f, 0},  {1.0f, 1.0f, 20},
                          {1.0f, 1.0f, 2000}, {3.0f, 0.99f, 0}, {0.0f, 1.0f, 0}};
    for (size_t i = 0; i < std::size(cases); ++i) {
        GenerateRequest r;
        r.prompt_ids = {int32_t(10 + i), 42, int32_t(100 * i)};
        r.seq_id = 50 + i;
        r.sampling.temperature = cases[i].temperature;
        r.sampling.top_p = cases[i].top_p;
        r.sampling.top_k = cases[i].top_k;
        r.sampling.seed = 7;
        r.max_tokens = 40;
        reqs.push_back(r);
    }
    GeneratorOptions opts;
    opts.max_batch = 8;
    GeneratorStats dev;
    auto a = generator_run(*backend, text, opts, reqs, &dev);
    EXPECT_GT(dev.n_steps_sampled, 0);
    GeneratorOptions host = opts;
    host.on_logits = [](const GenerateLogitsEvent&) {};
    GeneratorStats hs;
    auto b = generator_run(*backend, text, host, reqs, &hs);
    EXPECT_EQ(hs.n_steps_sampled, 0);
    for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(a[i][0].output_ids, b[i][0].output_ids) << "request " << i;
}

TEST(CudaSampleArgs, LauncherRejectsBadSizes) {
    EXPECT_THROW(sample_rows_f32_cuda(nullptr, -1, 10, nullptr, nullptr, nullptr, nullptr), Error);
    EXPECT_THROW(sample_rows_f32_cuda(nullptr, 1, 0, nullptr, nullptr, nullptr, nullptr), Error);
    CudaSampleRow r;
    r.temperature = 1.0f;
    r.top_k = 2000;
    EXPECT_TRUE(cuda_sample_needs_host(r, 5000));
    EXPECT_TRUE(cuda_sample_needs_host(r, 1500));  // top_k >= V: a full sort of 1500 tokens
    r.top_k = 1 << 30;
    EXPECT_FALSE(cuda_sample_needs_host(r, 1000));  // a full sort of a small vocabulary
    EXPECT_TRUE(cuda_sample_needs_host(r, 5000));
    r.top_p = 0.9f;
    EXPECT_FALSE(cuda_sample_needs_host(r, 5000));  // decided on the device (nucleus width)
    r.temperature = 0.0f;
    EXPECT_FALSE(cuda_sample_needs_host(r, 5000));
}

}  // namespace
}  // namespace adabench
