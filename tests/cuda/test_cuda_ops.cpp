// cuda ops: every kernel of engines/cuda/ops.cuh against its scalar CPU twin (engines/cpu/ops_ref.h)
// on random inputs, llama.cpp test-backend-ops style: |x - ref| <= tol + |ref| * eps element-wise,
// and no NaN where the twin has none. CUDA is touched only inside test bodies, so the binary lists
// its tests on machines without a GPU; there the tests that need a device skip (CudaDevice.IsVisible
// is the one that fails). The argument checks of the launchers run everywhere.
// The same file is compiled into tests/emulation (ADABENCH_BLOCK_EMULATION): there the kernels and
// their launchers run on emulated thread blocks on the CPU, and cuBLAS is an emulated column-major
// product (which checks our calls' transposes and leading dimensions, not cuBLAS).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/cpu/ops_ref.h"
#include "engines/cuda/ops.cuh"
#include "engines/generation/sampling.h"
#include "tests/cuda/cuda_test_util.h"

namespace adabench {
namespace {

using namespace cuda_test;

// ---- argument checks (no device needed: the launchers throw before any CUDA call) ----

TEST(CudaOpsArgs, LaunchersRejectBadShapes) {
    EXPECT_THROW(rope_f32_cuda(nullptr, nullptr, 1, 1, 63, 10000.0f, nullptr), Error);
    EXPECT_THROW(rms_norm_f32_cuda(nullptr, nullptr, nullptr, -1, 8, 1e-6f, nullptr), Error);
    EXPECT_THROW(attention_decode_f32_cuda(nullptr, nullptr, nullptr, 0, nullptr, 1, 14, 3, 64, 1.0f, nullptr, nullptr),
                 Error);
    EXPECT_THROW(attention_decode_f32_cuda(nullptr, nullptr, nullptr, 0, nullptr, 1, 4, 2, kCudaAttentionMaxHeadDim + 2,
                                           1.0f, nullptr, nullptr),
                 Error);
    // Empty work is a no-op, not an error.
    EXPECT_NO_THROW(silu_mul_f32_cuda(nullptr, nullptr, nullptr, 0, nullptr));
    EXPECT_NO_THROW(add_f32_cuda(nullptr, nullptr, 0, nullptr));
    EXPECT_THROW(
        split_qkv_f32_cuda(nullptr, nullptr, nullptr, nullptr, 70000, 64, 64, nullptr, nullptr, nullptr, nullptr),
        Error);
    EXPECT_THROW(swiglu_f32_cuda(nullptr, -1, 8, nullptr, nullptr), Error);
    EXPECT_THROW(swiglu_f32_cuda(nullptr, 2, 8, nullptr, nullptr, nullptr), Error);  // no output
    EXPECT_THROW(rms_norm_rows_cuda(nullptr, nullptr, nullptr, nullptr, nullptr, 2, 8, 1e-6f, nullptr), Error);
    EXPECT_NO_THROW(swiglu_f32_cuda(nullptr, 0, 8, nullptr, nullptr));
}

// ---- ops against their twins ----

// Twin: ref_bf16_to_f32 of the table row (what cpu_convert_f32 does for the CPU embedding lookup).
TEST(CudaOps, GetRowsBf16MatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    const int V = 97, C = 300;
    std::vector<float> table_f = random_floats(size_t(V) * C, -2.0f, 2.0f, 1);
    std::vector<uint16_t> table(table_f.size());
    for (size_t i = 0; i < table.size(); ++i) table[i] = ref_f32_to_bf16(table_f[i]);
    const std::vector<int32_t> ids = {0, 96, 5, 5, 42, 97, -1};  // the last two are out of range
    std::vector<float> ref(ids.size() * C);
    for (size_t t = 0; t < ids.size(); ++t)
        for (int i = 0; i < C; ++i)
            ref[t * C + size_t(i)] = (ids[t] < 0 || ids[t] >= V) ? NAN : ref_bf16_to_f32(table[size_t(ids[t]) * C + i]);

    DeviceArray<uint16_t> d_table(table);
    DeviceArray<int32_t> d_ids(ids);
    DeviceArray<float> d_out(ref.size());
    get_rows_bf16_f32_cuda(d_table.get(), d_ids.get(), int(ids.size()), C, V, d_out.get(), nullptr);
    expect_close("get_rows_bf16_f32", d_out.download(), ref, 0.0f, 0.0f);
}

TEST(CudaOps, RmsNormMatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    for (int n : {64, 896, 1000, 1536}) {
        const int rows = 5;
        const float eps = 1e-6f;
        std::vector<float> x = random_floats(size_t(rows) * n, -3.0f, 3.0f, uint32_t(n));
        std::vector<float> w = random_floats(size_t(n), 0.5f, 1.5f, uint32_t(n) + 1);
        std::vector<float> ref(x.size());
        for (int r = 0; r < rows; ++r) ref_rms_norm(&x[size_t(r) * n], w.data(), n, eps, &ref[size_t(r) * n]);

        DeviceArray<float> d_x(x), d_w(w), d_y(x.size());
        rms_norm_f32_cuda(d_x.get(), d_w.get(), d_y.get(), rows, n, eps, nullptr);
        expect_close("rms_norm_f32 n=" + std::to_string(n), d_y.download(), ref, 1e-6f, 1e-5f);
    }
}

// The fused norm (row selection, bf16 output) against the separate launches it replaces in the
// backend: gather_rows_f32, rms_norm_f32, convert_f32_bf16. Bit for bit.
TEST(CudaOps, RmsNormRowsIsBitIdenticalToGatherNormConvert) {
    REQUIRE_CUDA_DEVICE();
    const int n = 1536, n_x = 7;
    const float eps = 1e-6f;
    std::vector<float> x = random_floats(size_t(n_x) * n, -3.0f, 3.0f, 41);
    x[5] = NAN;  // row 0 is NaN throughout, in both paths
    const std::vector<float> w = random_floats(size_t(n), 0.5f, 1.5f, 42);
    const std::vector<int32_t> rows = {6, 0, 3, 3};
    const int R = int(rows.size());
    DeviceArray<float> d_x(x), d_w(w), d_g(size_t(R) * n), d_y(size_t(R) * n), d_yf(size_t(R) * n), d_all(x.size()),
        d_allf(x.size());
    DeviceArray<int32_t> d_rows(rows);
    DeviceArray<uint16_t> d_b(size_t(R) * n), d_bf(size_t(R) * n), d_bonly(size_t(R) * n), d_allb(x.size()),
        d_allbf(x.size());
    // separate: gather, norm, convert
    gather_rows_f32_cuda(d_x.get(), d_rows.get(), R, n, d_g.get(), nullptr);
    rms_norm_f32_cuda(d_g.get(), d_w.get(), d_y.get(), R, n, eps, nullptr);
    convert_f32_bf16_cuda(d_y.get(), int64_t(R) * n, d_b.get(), nullptr);
    // fused: both outputs, then the bf16 one alone
    rms_norm_rows_cuda(d_x.get(), d_rows.get(), d_w.get(), d_yf.get(), d_bf.get(), R, n, eps, nullptr);
    rms_norm_rows_cuda(d_x.get(), d_rows.get(), d_w.get(), nullptr, d_bonly.get(), R, n, eps, nullptr);
    EXPECT_EQ(bit_differences(d_yf.download(), d_y.download()), 0u) << "fp32 output";
    EXPECT_EQ(bit_differences(d_bf.download(), d_b.download()), 0u) << "bf16 output";
    EXPECT_EQ(bit_differences(d_bonly.download(), d_b.download()), 0u) << "bf16 output alone";
    // every row (rows null)
    rms_norm_f32_cuda(d_x.get(), d_w.get(), d_all.get(), n_x, n, eps, nullptr);
    convert_f32_bf16_cuda(d_all.get(), int64_t(n_x) * n, d_allb.get(), nullptr);
    rms_norm_rows_cuda(d_x.get(), nullptr, d_w.get(), d_allf.get(), d_allbf.get(), n_x, n, eps, nullptr);
    EXPECT_EQ(bit_differences(d_allf.download(), d_all.download()), 0u) << "fp32 output, all rows";
    EXPECT_EQ(bit_differences(d_allbf.download(), d_allb.download()), 0u) << "bf16 output, all rows";
}

TEST(CudaOps, RopeMatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    const std::vector<int32_t> pos = {0, 1, 7, 100, 4095, 32000};
    struct Case {
        int n_heads, head_dim;
        float theta;
    };
    for (const Case& c : {Case{3, 64, 10000.0f}, Case{2, 128, 1000000.0f}, Case{14, 16, 10000.0f}}) {
        const int T = int(pos.size());
        std::vector<float> x = random_floats(size_t(T) * c.n_heads * c.head_dim, -2.0f, 2.0f, uint32_t(c.head_dim));
        std::vector<float> ref = x;
        std::vector<float> cs(size_t(c.head_dim / 2)), sn(size_t(c.head_dim / 2));
        for (int t = 0; t < T; ++t) {
            ref_rope_table(pos[size_t(t)], c.head_dim, c.theta, cs.data(), sn.data());
            ref_rope(&ref[size_t(t) * c.n_heads * c.head_dim], c.n_heads, c.head_dim, cs.data(), sn.data());
        }
        DeviceArray<float> d_x(x);
        DeviceArray<int32_t> d_pos(pos);
        rope_f32_cuda(d_x.get(), d_pos.get(), T, c.n_heads, c.head_dim, c.theta, nullptr);
        expect_close("rope_f32 head_dim=" + std::to_string(c.head_dim), d_x.download(), ref, 1e-5f, 1e-5f);
    }
}

TEST(CudaOps, SiluMulMatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    const int64_t n = 10007;
    std::vector<float> g = random_floats(size_t(n), -12.0f, 12.0f, 3);
    std::vector<float> u = random_floats(size_t(n), -3.0f, 3.0f, 4);
    std::vector<float> ref(static_cast<size_t>(n));
    ref_silu_mul(g.data(), u.data(), n, ref.data());

    DeviceArray<float> d_g(g), d_u(u), d_y(static_cast<size_t>(n));
    silu_mul_f32_cuda(d_g.get(), d_u.get(), d_y.get(), n, nullptr);
    expect_close("silu_mul_f32", d_y.download(), ref, 1e-6f, 1e-5f);
    silu_mul_f32_cuda(d_g.get(), d_u.get(), d_g.get(), n, nullptr);  // in place (y aliases g)
    expect_close("silu_mul_f32 in place", d_g.download(), ref, 1e-6f, 1e-5f);
}

// Twin: the column blocks of the fused output, each plus its bias (ref_add per row); exact.
TEST(CudaOps, SplitQkvMatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    const int T = 37, q_dim = 896, kv_dim = 128, width = q_dim + 2 * kv_dim;
    std::vector<float> qkv = random_floats(size_t(T) * width, -4.0f, 4.0f, 21);
    std::vector<float> bq = random_floats(size_t(q_dim), -1.0f, 1.0f, 22);
    std::vector<float> bk = random_floats(size_t(kv_dim), -1.0f, 1.0f, 23);
    std::vector<float> bv = random_floats(size_t(kv_dim), -1.0f, 1.0f, 24);
    for (bool bias : {true, false}) {
        std::vector<float> rq(size_t(T) * q_dim), rk(size_t(T) * kv_dim), rv(size_t(T) * kv_dim);
        for (int t = 0; t < T; ++t) {
            const float* row = qkv.data() + size_t(t) * width;
            std::copy(row, row + q_dim, rq.begin() + ptrdiff_t(t) * q_dim);
            std::copy(row + q_dim, row + q_dim + kv_dim, rk.begin() + ptrdiff_t(t) * kv_dim);
            std::copy(row + q_dim + kv_dim, row + width, rv.begin() + ptrdiff_t(t) * kv_dim);
            if (bias) {
                ref_add(rq.data() + size_t(t) * q_dim, bq.data(), q_dim);
                ref_add(rk.data() + size_t(t) * kv_dim, bk.data(), kv_dim);
                ref_add(rv.data() + size_t(t) * kv_dim, bv.data(), kv_dim);
            }
        }
        DeviceArray<float> d_qkv(qkv), d_bq(bq), d_bk(bk), d_bv(bv), d_q(rq.size()), d_k(rk.size()), d_v(rv.size());
        split_qkv_f32_cuda(d_qkv.get(), bias ? d_bq.get() : nullptr, bias ? d_bk.get() : nullptr,
                           bias ? d_bv.get() : nullptr, T, q_dim, kv_dim, d_q.get(), d_k.get(), d_v.get(), nullptr);
        expect_close(std::string("split_qkv_f32 q bias=") + (bias ? "1" : "0"), d_q.download(), rq, 0.0f, 0.0f);
        expect_close("split_qkv_f32 k", d_k.download(), rk, 0.0f, 0.0f);
        expect_close("split_qkv_f32 v", d_v.download(), rv, 0.0f, 0.0f);
    }
}

// Twin: ref_silu_mul on the gate and up halves of each row.
TEST(CudaOps, SwigluOverFusedGateUpMatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    const int T = 5, I = 4864;
    std::vector<float> gu = random_floats(size_t(T) * 2 * I, -12.0f, 12.0f, 25);
    std::vector<float> ref(size_t(T) * I);
    for (int t = 0; t < T; ++t) {
        const float* row = gu.data() + size_t(t) * 2 * I;
        ref_silu_mul(row, row + I, I, ref.data() + size_t(t) * I);
    }
    DeviceArray<float> d_gu(gu), d_y(ref.size()), d_y2(ref.size());
    swiglu_f32_cuda(d_gu.get(), T, I, d_y.get(), nullptr);
    expect_close("swiglu_f32", d_y.download(), ref, 1e-6f, 1e-5f);

    // The bf16 output (the down product's input) is convert_f32_bf16 of the fp32 one, bit for bit,
    // written alone or beside the fp32 output.
    DeviceArray<uint16_t> d_b(ref.size()), d_fused(ref.size()), d_alone(ref.size());
    convert_f32_bf16_cuda(d_y.get(), int64_t(ref.size()), d_b.get(), nullptr);
    swiglu_f32_cuda(d_gu.get(), T, I, d_y2.get(), nullptr, d_fused.get());
    swiglu_f32_cuda(d_gu.get(), T, I, nullptr, nullptr, d_alone.get());
    EXPECT_EQ(bit_differences(d_y2.download(), d_y.download()), 0u) << "fp32 output beside the bf16 one";
    EXPECT_EQ(bit_differences(d_fused.download(), d_b.download()), 0u) << "bf16 output beside the fp32 one";
    EXPECT_EQ(bit_differences(d_alone.download(), d_b.download()), 0u) << "bf16 output alone";
}

TEST(CudaOps, AddAndBiasMatchTwin) {
    REQUIRE_CUDA_DEVICE();
    const int rows = 9, cols = 1000;
    std::vector<float> y = random_floats(size_t(rows) * cols, -4.0f, 4.0f, 5);
    std::vector<float> x = random_floats(y.size(), -4.0f, 4.0f, 6);
    std::vector<float> bias = random_floats(size_t(cols), -1.0f, 1.0f, 7);

    std::vector<float> ref_sum = y;
    ref_add(ref_sum.data(), x.data(), int64_t(y.size()));
    DeviceArray<float> d_y(y), d_x(x), d_b(bias);
    add_f32_cuda(d_y.get(), d_x.get(), int64_t(y.size()), nullptr);
    expect_close("add_f32", d_y.download(), ref_sum, 0.0f, 0.0f);

    std::vector<float> ref_bias = ref_sum;
    for (int r = 0; r < rows; ++r) ref_add(&ref_bias[size_t(r) * cols], bias.data(), cols);
    add_bias_f32_cuda(d_y.get(), d_b.get(), rows, cols, nullptr);
    expect_close("add_bias_f32", d_y.download(), ref_bias, 0.0f, 0.0f);
}

// Decode attention over a contiguous cache with per-sequence lengths that cross the kernel's chunk
// size (128), GQA groups of 7, 1 and 2, and head dims that are not multiples of 32.
TEST(CudaOps, AttentionDecodeMatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    struct Case {
        int n_heads, n_kv_heads, head_dim;
        float q_scale;  // large values stress the softmax's max subtraction
    };
    const std::vector<int32_t> n_ctx = {1, 127, 129, 300, 0};
    const int max_ctx = 300, S = int(n_ctx.size());
    // head_dim 6 and 42: rows not 16-byte aligned, so K and V are staged one value per thread
    for (const Case& c : {Case{14, 2, 64, 1.0f}, Case{4, 4, 128, 8.0f}, Case{4, 2, 80, 1.0f}, Case{2, 1, 256, 3.0f},
                          Case{3, 1, 6, 2.0f}, Case{2, 2, 42, 1.0f}}) {
        const int kv_dim = c.n_kv_heads * c.head_dim;
        const int64_t seq_stride = int64_t(max_ctx) * kv_dim;
        const float scale = 1.0f / std::sqrt(float(c.head_dim));
        std::vector<float> q = random_floats(size_t(S) * c.n_heads * c.head_dim, -c.q_scale, c.q_scale, 8);
        std::vector<float> k = random_floats(size_t(S * seq_stride), -1.0f, 1.0f, 9);
        std::vector<float> v = random_floats(size_t(S * seq_stride), -1.0f, 1.0f, 10);
        std::vector<int32_t> seqs(static_cast<size_t>(S));  // sequence s in slot s; an empty context is a zero row
        for (int s = 0; s < S; ++s) seqs[size_t(s)] = s;
        const std::vector<float> ref =
            cuda_test::ref_attention_rows(q, k, v, seqs, n_ctx, c.n_heads, c.n_kv_heads, c.head_dim, seq_stride, scale);
        DeviceArray<float> d_q(q), d_k(k), d_v(v), d_out(q.size());
        DeviceArray<int32_t> d_n(n_ctx);
        attention_decode_f32_cuda(d_q.get(), d_k.get(), d_v.get(), seq_stride, d_n.get(), S, c.n_heads, c.n_kv_heads,
                                  c.head_dim, scale, d_out.get(), nullptr);
        expect_close("attention_decode_f32 H=" + std::to_string(c.n_heads) + " Hkv=" + std::to_string(c.n_kv_heads) +
                         " D=" + std::to_string(c.head_dim),
                     d_out.download(), ref, 1e-5f, 1e-4f);
    }
}

// Causal prefill mixed with continuation, through the general kernel and the KV append: sequence A
// (slot 3) has 100 cached positions and appends 5 tokens, sequence B (slot 1) prefills 150 tokens
// from empty. Every query row attends to its own slot's positions 0..pos.
TEST(CudaOps, KvAppendAndPrefillAttentionMatchTwin) {
    REQUIRE_CUDA_DEVICE();
    const int H = 12, Hkv = 2, D = 128, kv_dim = Hkv * D, n_slots = 4, max_len = 200;
    const int64_t slot_stride = int64_t(max_len) * kv_dim;
    const float scale = 1.0f / std::sqrt(float(D));
    std::vector<int32_t> row_slot, row_pos;
    for (int i = 0; i < 5; ++i) {
        row_slot.push_back(3);
        row_pos.push_back(100 + i);
    }
    for (int i = 0; i < 150; ++i) {
        row_slot.push_back(1);
        row_pos.push_back(i);
    }
    const int T = int(row_slot.size());
    std::vector<float> k_cache = random_floats(size_t(n_slots * slot_stride), -1.0f, 1.0f, 11);
    std::vector<float> v_cache = random_floats(size_t(n_slots * slot_stride), -1.0f, 1.0f, 12);
    std::vector<float> k_new = random_floats(size_t(T) * kv_dim, -1.0f, 1.0f, 13);
    std::vector<float> v_new = random_floats(size_t(T) * kv_dim, -1.0f, 1.0f, 14);
    std::vector<float> q = random_floats(size_t(T) * H * D, -2.0f, 2.0f, 15);

    DeviceArray<float> d_kc(k_cache), d_vc(v_cache), d_kn(k_new), d_vn(v_new), d_q(q), d_out(q.size());
    DeviceArray<int32_t> d_slot(row_slot), d_pos(row_pos);
    std::vector<int32_t> n_ctx(static_cast<size_t>(T));
    for (int t = 0; t < T; ++t) n_ctx[size_t(t)] = row_pos[size_t(t)] + 1;
    DeviceArray<int32_t> d_n(n_ctx);

    // Reference cache after the append.
    for (int t = 0; t < T; ++t) {
        const int64_t dst = row_slot[size_t(t)] * slot_stride + int64_t(row_pos[size_t(t)]) * kv_dim;
        for (int i = 0; i < kv_dim; ++i) {
            k_cache[size_t(dst + i)] = k_new[size_t(t) * kv_dim + size_t(i)];
            v_cache[size_t(dst + i)] = v_new[size_t(t) * kv_dim + size_t(i)];
        }
    }
    kv_append_f32_cuda(d_kn.get(), d_vn.get(), d_slot.get(), d_pos.get(), T, kv_dim, slot_stride, d_kc.get(),
                       d_vc.get(), nullptr);
    expect_close("kv_append_f32 k", d_kc.download(), k_cache, 0.0f, 0.0f);
    expect_close("kv_append_f32 v", d_vc.download(), v_cache, 0.0f, 0.0f);

    const std::vector<float> ref =
        cuda_test::ref_attention_rows(q, k_cache, v_cache, row_slot, n_ctx, H, Hkv, D, slot_stride, scale);
    attention_f32_cuda(d_q.get(), d_kc.get(), d_vc.get(), slot_stride, d_slot.get(), d_n.get(), T, H, Hkv, D, scale,
                       d_out.get(), nullptr);
    expect_close("attention_f32 prefill", d_out.download(), ref, 1e-5f, 1e-4f);
}

TEST(CudaOps, ConvertBf16MatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    std::vector<float> x = random_floats(5000, -100.0f, 100.0f, 16);
    x[0] = NAN, x[1] = INFINITY, x[2] = -0.0f, x[3] = 1e-40f;  // NaN, inf, signed zero, subnormal
    std::vector<uint16_t> ref(x.size());
    for (size_t i = 0; i < x.size(); ++i) ref[i] = ref_f32_to_bf16(x[i]);
    DeviceArray<float> d_x(x);
    DeviceArray<uint16_t> d_out(x.size());
    convert_f32_bf16_cuda(d_x.get(), int64_t(x.size()), d_out.get(), nullptr);
    std::vector<uint16_t> got = d_out.download();
    size_t bad = 0;
    for (size_t i = 0; i < x.size(); ++i) bad += got[i] != ref[i];
    EXPECT_EQ(bad, 0u) << "convert_f32_bf16: bits differ from ref_f32_to_bf16";
}

// The projection through cuBLAS against ref_matmul_rows with bf16-rounded activations, including a
// strided output (ldy > n_out, as when q/k/v share one buffer) and beta = 1 accumulation.
TEST(CudaOps, MatmulBf16MatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    cublasHandle_t handle = nullptr;
    CUBLAS_CHECK(cublasCreate(&handle));
    for (int n_tok : {1, 7, 64}) {
        const int n_in = 896, n_out = 320, ldy = 400;
        std::vector<float> wf = random_floats(size_t(n_out) * n_in, -0.05f, 0.05f, 17);
        std::vector<uint16_t> w(wf.size());
        for (size_t i = 0; i < w.size(); ++i) w[i] = ref_f32_to_bf16(wf[i]);
        std::vector<float> x = random_floats(size_t(n_tok) * n_in, -2.0f, 2.0f, 18);
        std::vector<float> y0 = random_floats(size_t(n_tok) * ldy, -1.0f, 1.0f, 19);
        std::vector<float> ref = y0;
        ref_matmul_rows(x.data(), n_tok, n_in, DTYPE_BF16, w.data(), 0, n_out, ref.data(), ldy, true);
        std::vector<float> ref_acc = y0;
        for (size_t i = 0; i < ref_acc.size(); ++i)
            if (int(i % size_t(ldy)) < n_out) ref_acc[i] = y0[i] + ref[i];

        DeviceArray<uint16_t> d_w(w), d_xb(x.size());
        DeviceArray<float> d_x(x), d_y(y0);
        convert_f32_bf16_cuda(d_x.get(), int64_t(x.size()), d_xb.get(), nullptr);
        matmul_bf16_f32_cuda(handle, d_w.get(), d_xb.get(), n_tok, n_in, n_out, d_y.get(), ldy, 0.0f);
        expect_close("matmul_bf16_f32 n_tok=" + std::to_string(n_tok), d_y.download(), ref, 1e-4f, 1e-3f);
        d_y.upload(y0);
        matmul_bf16_f32_cuda(handle, d_w.get(), d_xb.get(), n_tok, n_in, n_out, d_y.get(), ldy, 1.0f);
        expect_close("matmul_bf16_f32 beta=1 n_tok=" + std::to_string(n_tok), d_y.download(), ref_acc, 1e-4f, 1e-3f);
    }
    cublasDestroy(handle);
}

// The fp32 product of the unmerged LoRA path (cublasSgemm, no TF32) against ref_matmul_rows
// without rounding, with alpha and accumulation (beta = 1) as the backend uses them.
TEST(CudaOps, MatmulF32MatchesTwin) {
    REQUIRE_CUDA_DEVICE();
    cublasHandle_t handle = nullptr;
    CUBLAS_CHECK(cublasCreate(&handle));
    for (int n_tok : {1, 5, 33}) {
        const int n_in = 256, n_out = 8, ldy = 8;  // a rank-8 A (r, n_in)
        std::vector<float> w = random_floats(size_t(n_out) * n_in, -0.1f, 0.1f, 21);
        std::vector<float> x = random_floats(size_t(n_tok) * n_in, -2.0f, 2.0f, 22);
        std::vector<float> y0 = random_floats(size_t(n_tok) * ldy, -1.0f, 1.0f, 23);
        std::vector<float> prod(y0.size(), 0.0f);
        ref_matmul_rows(x.data(), n_tok, n_in, DTYPE_F32, w.data(), 0, n_out, prod.data(), ldy, false);
        std::vector<float> ref(y0.size());
        for (size_t i = 0; i < ref.size(); ++i) ref[i] = y0[i] + 0.75f * prod[i];
        DeviceArray<float> d_w(w), d_x(x), d_y(y0);
        matmul_f32_cuda(handle, d_w.get(), d_x.get(), n_tok, n_in, n_out, d_y.get(), ldy, 0.75f, 1.0f);
        expect_close("matmul_f32 n_tok=" + std::to_string(n_tok), d_y.download(), ref, 1e-5f, 1e-5f);
    }
    cublasDestroy(handle);
}

// The device greedy pick against sampling_greedy: ties to the lowest index, -inf rows, NaN rows.
TEST(CudaOps, ArgmaxRowsMatchesSamplingGreedy) {
    REQUIRE_CUDA_DEVICE();
    const int n_cols = 151936;
    std::vector<float> x = random_floats(size_t(5) * n_cols, -10.0f, 10.0f, 24);
    x[size_t(1) * n_cols + 70000] = 50.0f;  // row 1: a tie between 70000 and 90000 -> 70000
    x[size_t(1) * n_cols + 90000] = 50.0f;
    x[size_t(2) * n_cols + n_cols - 1] = 99.0f;                                      // row 2: the last column
    for (int c = 0; c < n_cols; ++c) x[size_t(3) * n_cols + size_t(c)] = -INFINITY;  // row 3: all -inf -> 0
    x[size_t(4) * n_cols + 12] = NAN;                                                // row 4: NaN -> -1
    DeviceArray<float> d_x(x);
    DeviceArray<int32_t> d_out(5);
    argmax_rows_f32_cuda(d_x.get(), 5, n_cols, d_out.get(), nullptr);
    std::vector<int32_t> got = d_out.download();
    for (int r = 0; r < 4; ++r) EXPECT_EQ(got[size_t(r)], sampling_greedy(&x[size_t(r) * n_cols], n_cols)) << r;
    EXPECT_EQ(got[1], 70000);
    EXPECT_EQ(got[3], 0);
    EXPECT_EQ(got[4], -1);

    // Rows of 533 (the organism's vocabulary) and 1001 columns: every row but the first starts off
    // 16-byte alignment, and the tail past the last group of 4 is read one value at a time. Ties
    // inside a group of 4, across threads, and with the tail.
    for (int cols : {533, 1001}) {
        const int R = 6;
        std::vector<float> y = random_floats(size_t(R) * cols, -10.0f, 10.0f, uint32_t(cols));
        auto at = [&](int r, int c) -> float& { return y[size_t(r) * cols + size_t(c)]; };
        at(0, 5) = at(0, 6) = 40.0f;                // inside one group of 4 -> 5
        at(1, 7) = at(1, cols - 5) = 40.0f;         // across threads -> 7
        at(2, cols - 1) = at(2, 2) = 40.0f;         // the tail and the head -> 2
        at(3, cols - 1) = 45.0f;                    // the last column alone
        at(4, 0) = NAN;                             // NaN -> -1
        at(5, cols - 2) = 45.0f, at(5, 1) = 45.0f;  // -> 1
        DeviceArray<float> d_y(y);
        DeviceArray<int32_t> d_o(static_cast<size_t>(R));
        argmax_rows_f32_cuda(d_y.get(), R, cols, d_o.get(), nullptr);
        const std::vector<int32_t> o = d_o.download();
        for (int r = 0; r < R; ++r)
            if (r != 4) {
                EXPECT_EQ(o[size_t(r)], sampling_greedy(&y[size_t(r) * cols], cols)) << cols << " row " << r;
            }
        EXPECT_EQ(o[0], 5);
        EXPECT_EQ(o[1], 7);
        EXPECT_EQ(o[2], 2);
        EXPECT_EQ(o[3], cols - 1);
        EXPECT_EQ(o[4], -1);
        EXPECT_EQ(o[5], 1);
    }
}

// No CPU twin exists for these two (forward.cpp does them inline); the reference loops are here.
TEST(CudaOps, GatherAndScaleRowsMatchReference) {
    REQUIRE_CUDA_DEVICE();
    const int n_src = 40, n_cols = 700;
    std::vector<float> x = random_floats(size_t(n_src) * n_cols, -3.0f, 3.0f, 20);
    const std::vector<int32_t> rows = {39, 0, 17, 17};
    const std::vector<float> scale = {0.5f, -2.0f, 0.0f, 1.25f};
    std::vector<float> ref(rows.size() * n_cols);
    for (size_t r = 0; r < rows.size(); ++r)
        for (int c = 0; c < n_cols; ++c) ref[r * n_cols + size_t(c)] = x[size_t(rows[r]) * n_cols + size_t(c)];

    DeviceArray<float> d_x(x), d_out(ref.size()), d_scale(scale);
    DeviceArray<int32_t> d_rows(rows);
    gather_rows_f32_cuda(d_x.get(), d_rows.get(), int(rows.size()), n_cols, d_out.get(), nullptr);
    expect_close("gather_rows_f32", d_out.download(), ref, 0.0f, 0.0f);

    for (size_t r = 0; r < rows.size(); ++r)
        for (int c = 0; c < n_cols; ++c) ref[r * n_cols + size_t(c)] *= scale[r];
    scale_rows_f32_cuda(d_out.get(), d_scale.get(), int(rows.size()), n_cols, nullptr);
    expect_close("scale_rows_f32", d_out.download(), ref, 0.0f, 0.0f);
}

}  // namespace
}  // namespace adabench
