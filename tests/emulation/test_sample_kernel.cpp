// The CUDA sampling kernel (engines/cuda/sample_kernel.cuh) run on the CPU through emulated thread
// blocks (block_emulation.h), against the host SamplerChain: the kernel's logic (radix
// select, ties, bitonic sort, the top-p and dist walks, the cases it hands back to the host) is
// checked on every machine, not only where a GPU is. tests/cuda/test_cuda_sample.cpp runs the same
// comparison on the device.
#include "block_emulation.h"
// after the emulation
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>

#include "engines/cuda/sample_kernel.cuh"
#include "engines/generation/sampling.h"
#include "tests/cuda/sample_test_rows.h"

namespace adabench {
namespace {

// Runs the kernel with blocks of kThreads (= its window) over every row (one emulated block each);
// returns tokens then NaN ids.
template <int kThreads>
std::vector<int32_t> run_kernel(const std::vector<float>& logits, int V, const std::vector<CudaSampleRow>& rows) {
    const int n = static_cast<int>(rows.size());
    std::vector<int32_t> out(2 * rows.size(), -7);
    block_emulation::launch(
        dim3(static_cast<unsigned>(n)), dim3(kThreads),
        [&] { sample_kernel::sample_rows_f32<kThreads>(logits.data(), V, rows.data(), out.data(), out.data() + n); }, 0,
        "sample_rows_f32", {{out.data(), out.size() * sizeof(int32_t)}});
    return out;
}

using sample_test::Case;
using sample_test::make_row;
using sample_test::nucleus_size;

// Every case on `n_rows` rows of vocabulary V; returns how many rows the kernel decided itself.
template <int kThreads>
int check(int V, int n_rows, const std::vector<Case>& cases, uint32_t seed) {
    const sample_test::SampleRows made =
        sample_test::make_rows(V, n_rows, cases, seed, 77, [](int) { return uint64_t(5); });
    const std::vector<float>& logits = made.logits;
    const std::vector<SamplingParams>& params = made.params;
    const std::vector<CudaSampleRow>& rows = made.rows;
    const std::vector<int32_t> out = run_kernel<kThreads>(logits, V, rows);
    int decided = 0;
    for (int r = 0; r < n_rows; ++r) {
        const SamplingParams& p = params[static_cast<size_t>(r)];
        SCOPED_TRACE("V " + std::to_string(V) + " row " + std::to_string(r) + " kind " + std::to_string(r % 5) + " t " +
                     std::to_string(p.temperature) + " top_p " + std::to_string(p.top_p) + " top_k " +
                     std::to_string(p.top_k));
        const float* row = logits.data() + static_cast<size_t>(r) * static_cast<size_t>(V);
        EXPECT_EQ(out[static_cast<size_t>(n_rows + r)], -1);
        const int32_t got = out[static_cast<size_t>(r)];
        if (cuda_sample_needs_host(rows[static_cast<size_t>(r)], V, kThreads)) {
            EXPECT_EQ(got, -1);
            continue;
        }
        if (got == -1) {  // only a top-p nucleus wider than the window may come back
            EXPECT_TRUE(p.top_p < 1.0f && !(p.top_k > 0 && p.top_k < V) &&
                        nucleus_size(row, V, p.temperature, p.top_p) > static_cast<size_t>(kThreads));
            continue;
        }
        ++decided;
        EXPECT_EQ(got, sampling_make_chain(p, static_cast<uint64_t>(r))->sample(row, V, 5));
    }
    return decided;
}

// top_k values around a 64-wide window: inside, at, beyond it, and beyond the vocabulary.
const std::vector<Case> kCases = {
    {0.0f, 1.0f, 0},       {0.7f, 1.0f, 0},       {1.0f, 0.9f, 0},   {0.6f, 0.95f, 0},   {1.0f, 1.0f, 40},
    {0.8f, 0.8f, 40},      {1.3f, 0.5f, 1},       {1.0f, 1.0f, 64},  {1.0f, 0.99f, 63},  {1.0f, 1.0f, 65},
    {1.0f, 1.0f, 1 << 30}, {2.0f, 0.3f, 1 << 30}, {1.0f, 0.999f, 0}, {0.5f, 0.7f, 1000},
};

// Blocks of 64 threads: a window of 64 candidates, so vocabularies of 50 to 300 cross it.
TEST(SampleKernelEmulated, BelowTheWindowEveryRowIsDecidedAsTheHostChain) {
    EXPECT_EQ(check<64>(50, 70, kCases, 1), 70);
    EXPECT_EQ(check<64>(64, 70, kCases, 2), 70);
}

TEST(SampleKernelEmulated, AboveTheWindowRowsAreDecidedAsTheHostChainOrComeBack) {
    EXPECT_GT(check<64>(65, 70, kCases, 3), 35);
    EXPECT_GT(check<64>(300, 140, kCases, 4), 60);
}

// The device's block size, on a few rows (1024 emulated threads are slow).
TEST(SampleKernelEmulated, DeviceBlockSize) {
    const std::vector<Case> cases = {{0.6f, 0.95f, 0}, {1.0f, 1.0f, 40}, {0.7f, 1.0f, 0}, {1.0f, 0.5f, 1 << 30}};
    EXPECT_GT(check<1024>(1500, 4, cases, 5), 2);
}

TEST(SampleKernelEmulated, NanAndAllMinusInfinity) {
    const int V = 300;
    std::vector<float> logits(3 * V, 0.5f);
    logits[200] = NAN;
    logits[17] = NAN;
    for (int i = 0; i < V; ++i) logits[static_cast<size_t>(V + i)] = -INFINITY;
    logits[static_cast<size_t>(2 * V + 299)] = NAN;
    std::vector<CudaSampleRow> rows(3);
    rows[0].temperature = 0.8f;
    rows[2].temperature = 1.0f;
    rows[2].top_k = 5;
    const std::vector<int32_t> out = run_kernel<64>(logits, V, rows);
    EXPECT_EQ(out[0], -1);
    EXPECT_EQ(out[3], 17);
    EXPECT_EQ(out[1], 0);  // greedy over all -inf keeps id 0, as sampling_greedy
    EXPECT_EQ(out[4], -1);
    EXPECT_EQ(out[2], -1);
    EXPECT_EQ(out[5], 299);
}

}  // namespace
}  // namespace adabench
