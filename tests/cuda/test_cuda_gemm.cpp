// The batch-invariant product and the small-batch matvec (engines/cuda/gemm.cuh) against their twin
// ref_matmul_rows, and their contract: a row's result is bit-identical whatever the number of
// tokens in the launch and wherever the row sits. Label gpu in test-cuda; compiled into tests/emulation too (every
// machine).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/cpu/ops_ref.h"
#include "engines/cuda/gemm.cuh"
#include "tests/cuda/cuda_test_util.h"

namespace adabench {
namespace {

using namespace cuda_test;

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
    std::vector<uint16_t> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = ref_f32_to_bf16(v[i]);
    return out;
}

std::vector<float> bf16_values(const std::vector<uint16_t>& v) {
    std::vector<float> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = ref_bf16_to_f32(v[i]);
    return out;
}

TEST(CudaGemmArgs, RejectsBadShapes) {
    EXPECT_THROW(matmul_invariant_bf16_cuda(nullptr, nullptr, -1, 8, 8, nullptr, 8, 1.0f, 0.0f, nullptr), Error);
    EXPECT_THROW(matmul_invariant_f32_cuda(nullptr, nullptr, 1, 8, 8, nullptr, 4, 1.0f, 0.0f, nullptr), Error);
    EXPECT_NO_THROW(matmul_invariant_f32_cuda(nullptr, nullptr, 0, 8, 8, nullptr, 8, 1.0f, 0.0f, nullptr));
    EXPECT_THROW(matvec_bf16_f32_cuda(nullptr, nullptr, kMatvecMaxTokens + 1, 8, 8, nullptr, 8, 0.0f, nullptr), Error);
    EXPECT_THROW(matvec_bf16_f32_cuda(nullptr, nullptr, 1, -8, 8, nullptr, 8, 0.0f, nullptr), Error);
    EXPECT_THROW(matvec_bf16_f32_cuda(nullptr, nullptr, 1, 8, 8, nullptr, 7, 0.0f, nullptr), Error);
    EXPECT_NO_THROW(matvec_bf16_f32_cuda(nullptr, nullptr, 0, 8, 8, nullptr, 8, 0.0f, nullptr));
}

// bf16 weights and activations (the projections), strided output, beta 0 and 1 with alpha.
TEST(CudaGemm, Bf16MatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    struct Case {
        int n_tok, n_in, n_out, ldy;
    };
    for (const Case& c : {Case{1, 64, 8, 8}, Case{7, 100, 70, 80}, Case{33, 896, 130, 130}, Case{70, 257, 64, 100}}) {
        const std::vector<uint16_t> w = to_bf16(random_floats(size_t(c.n_out) * c.n_in, -0.1f, 0.1f, 31));
        const std::vector<uint16_t> xb = to_bf16(random_floats(size_t(c.n_tok) * c.n_in, -2.0f, 2.0f, 32));
        const std::vector<float> x = bf16_values(xb);
        const std::vector<float> y0 = random_floats(size_t(c.n_tok) * c.ldy, -1.0f, 1.0f, 33);
        std::vector<float> prod = y0;
        ref_matmul_rows(x.data(), c.n_tok, c.n_in, DTYPE_BF16, w.data(), 0, c.n_out, prod.data(), c.ldy, false);
        std::vector<float> ref_acc = y0;
        for (size_t i = 0; i < y0.size(); ++i)
            if (int(i % size_t(c.ldy)) < c.n_out) ref_acc[i] = y0[i] + 0.75f * prod[i];
        const std::string what = "matmul_invariant_bf16 " + std::to_string(c.n_tok) + "x" + std::to_string(c.n_in) +
                                 "x" + std::to_string(c.n_out);
        DeviceArray<uint16_t> d_w(w), d_x(xb);
        DeviceArray<float> d_y(y0);
        matmul_invariant_bf16_cuda(d_w.get(), d_x.get(), c.n_tok, c.n_in, c.n_out, d_y.get(), c.ldy, 1.0f, 0.0f,
                                   nullptr);
        expect_close(what, d_y.download(), prod, 1e-5f, 1e-4f);
        d_y.upload(y0);
        matmul_invariant_bf16_cuda(d_w.get(), d_x.get(), c.n_tok, c.n_in, c.n_out, d_y.get(), c.ldy, 0.75f, 1.0f,
                                   nullptr);
        expect_close(what + " beta=1", d_y.download(), ref_acc, 1e-5f, 1e-4f);
    }
}

// fp32 (the unmerged LoRA products).
TEST(CudaGemm, F32MatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    const int n_tok = 9, n_in = 200, n_out = 16;
    const std::vector<float> w = random_floats(size_t(n_out) * n_in, -0.1f, 0.1f, 34);
    const std::vector<float> x = random_floats(size_t(n_tok) * n_in, -2.0f, 2.0f, 35);
    std::vector<float> ref(size_t(n_tok) * n_out, 0.0f);
    ref_matmul_rows(x.data(), n_tok, n_in, DTYPE_F32, w.data(), 0, n_out, ref.data(), n_out, false);
    DeviceArray<float> d_w(w), d_x(x), d_y(ref.size());
    matmul_invariant_f32_cuda(d_w.get(), d_x.get(), n_tok, n_in, n_out, d_y.get(), n_out, 1.0f, 0.0f, nullptr);
    expect_close("matmul_invariant_f32", d_y.download(), ref, 1e-5f, 1e-4f);
}

// The contract: every row of a 70-token product equals, bit for bit, the same row computed alone
// and inside a 16-token slice starting at an odd offset.
TEST(CudaGemm, RowsAreBitIdenticalWhateverTheBatch) {
    REQUIRE_CUDA_DEVICE();
    const int T = 70, n_in = 300, n_out = 150;
    const std::vector<uint16_t> w = to_bf16(random_floats(size_t(n_out) * n_in, -0.1f, 0.1f, 36));
    const std::vector<uint16_t> x = to_bf16(random_floats(size_t(T) * n_in, -2.0f, 2.0f, 37));
    DeviceArray<uint16_t> d_w(w), d_x(x);
    DeviceArray<float> d_all(size_t(T) * n_out);
    matmul_invariant_bf16_cuda(d_w.get(), d_x.get(), T, n_in, n_out, d_all.get(), n_out, 1.0f, 0.0f, nullptr);
    const std::vector<float> all = d_all.download();
    auto same_bits = [&](const std::vector<float>& part, int row0, int n) {
        return std::memcmp(part.data(), all.data() + size_t(row0) * n_out, size_t(n) * n_out * sizeof(float)) == 0;
    };
    for (int t : {0, 31, 32, 69}) {
        DeviceArray<uint16_t> d_row(
            std::vector<uint16_t>(x.begin() + ptrdiff_t(t) * n_in, x.begin() + ptrdiff_t(t + 1) * n_in));
        DeviceArray<float> d_out(static_cast<size_t>(n_out));
        matmul_invariant_bf16_cuda(d_w.get(), d_row.get(), 1, n_in, n_out, d_out.get(), n_out, 1.0f, 0.0f, nullptr);
        EXPECT_TRUE(same_bits(d_out.download(), t, 1)) << "row " << t << " alone";
    }
    const int off = 27, n = 16;
    DeviceArray<uint16_t> d_slice(
        std::vector<uint16_t>(x.begin() + ptrdiff_t(off) * n_in, x.begin() + ptrdiff_t(off + n) * n_in));
    DeviceArray<float> d_out(size_t(n) * n_out);
    matmul_invariant_bf16_cuda(d_w.get(), d_slice.get(), n, n_in, n_out, d_out.get(), n_out, 1.0f, 0.0f, nullptr);
    EXPECT_TRUE(same_bits(d_out.download(), off, n)) << "rows " << off << ".." << off + n - 1;
}

// ---- the small-batch product ----

// Against the twin for 1..8 tokens: the Qwen2.5-1.5B o and down shapes (16-byte loads), odd n_in
// and an x at an odd element offset (one value per lane), a strided output, beta 0 and 1.
TEST(CudaMatvec, MatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    struct Case {
        int n_in, n_out, ldy, x_offset;
    };
#ifdef ADABENCH_BLOCK_EMULATION
    const Case cases[] = {{1536, 40, 40, 0}, {8960, 9, 12, 0}, {100, 70, 80, 0}, {64, 33, 33, 1}};
#else
    const Case cases[] = {{1536, 1536, 1536, 0}, {8960, 1536, 1600, 0}, {100, 70, 80, 0}, {64, 33, 33, 1}};
#endif
    uint32_t seed = 60;
    for (const Case& c : cases)
        for (int T : {1, 3, 8}) {
            const std::vector<uint16_t> w = to_bf16(random_floats(size_t(c.n_out) * c.n_in, -0.1f, 0.1f, ++seed));
            const std::vector<uint16_t> xb =
                to_bf16(random_floats(size_t(c.x_offset) + size_t(T) * c.n_in, -2.0f, 2.0f, ++seed));
            const std::vector<float> x = bf16_values(xb);
            const std::vector<float> y0 = random_floats(size_t(T) * c.ldy, -1.0f, 1.0f, ++seed);
            std::vector<float> prod = y0;
            ref_matmul_rows(x.data() + c.x_offset, T, c.n_in, DTYPE_BF16, w.data(), 0, c.n_out, prod.data(), c.ldy,
                            false);
            std::vector<float> ref_acc = y0;
            for (size_t i = 0; i < y0.size(); ++i)
                if (int(i % size_t(c.ldy)) < c.n_out) ref_acc[i] = y0[i] + prod[i];
            const std::string what = "matvec_bf16_f32 " + std::to_string(T) + "x" + std::to_string(c.n_in) + "x" +
                                     std::to_string(c.n_out) + (c.x_offset ? " (x unaligned)" : "");
            DeviceArray<uint16_t> d_w(w), d_x(xb);
            DeviceArray<float> d_y(y0);
            matvec_bf16_f32_cuda(d_w.get(), d_x.get() + c.x_offset, T, c.n_in, c.n_out, d_y.get(), c.ldy, 0.0f,
                                 nullptr);
            expect_close(what, d_y.download(), prod, 1e-5f, 1e-4f);
            d_y.upload(y0);
            matvec_bf16_f32_cuda(d_w.get(), d_x.get() + c.x_offset, T, c.n_in, c.n_out, d_y.get(), c.ldy, 1.0f,
                                 nullptr);
            expect_close(what + " beta=1", d_y.download(), ref_acc, 1e-5f, 1e-4f);
        }
}

// A token's result is the same bits whether it is alone or one of 8 (at any place), so batch-1
// to batch-8 decode gives each sequence the same logits.
TEST(CudaMatvec, RowsAreBitIdenticalWhateverTheBatch) {
    REQUIRE_CUDA_DEVICE();
    const int T = kMatvecMaxTokens, n_out = 50;
    for (int n_in : {1536, 296, 37}) {  // 16-byte loads (n_in a multiple of 8), then one value per lane
        const std::vector<uint16_t> w = to_bf16(random_floats(size_t(n_out) * n_in, -0.1f, 0.1f, 70));
        const std::vector<uint16_t> x = to_bf16(random_floats(size_t(T) * n_in, -2.0f, 2.0f, 71));
        DeviceArray<uint16_t> d_w(w), d_x(x);
        DeviceArray<float> d_all(size_t(T) * n_out);
        matvec_bf16_f32_cuda(d_w.get(), d_x.get(), T, n_in, n_out, d_all.get(), n_out, 0.0f, nullptr);
        const std::vector<float> all = d_all.download();
        for (int t : {0, 3, T - 1})
            for (int n : {1, 2}) {
                if (t + n > T) continue;
                DeviceArray<uint16_t> d_part(
                    std::vector<uint16_t>(x.begin() + ptrdiff_t(t) * n_in, x.begin() + ptrdiff_t(t + n) * n_in));
                DeviceArray<float> d_out(size_t(n) * n_out);
                matvec_bf16_f32_cuda(d_w.get(), d_part.get(), n, n_in, n_out, d_out.get(), n_out, 0.0f, nullptr);
                EXPECT_EQ(std::memcmp(d_out.download().data(), all.data() + size_t(t) * n_out,
                                      size_t(n) * n_out * sizeof(float)),
                          0)
                    << "n_in " << n_in << ": rows " << t << ".." << t + n - 1 << " of " << T;
            }
    }
}

}  // namespace
}  // namespace adabench
