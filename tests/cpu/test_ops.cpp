// Op twins, llama.cpp test-backend-ops style: every kernel of every ISA this CPU supports against
// the scalar reference in ops_ref.h, on random inputs, with a normalised error and a NaN check.
// Also: tile invariance of the matmul (batched == one-by-one, bit for bit), conversions, threads.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "common/error.h"
#include "engines/cpu/ops.h"
#include "engines/cpu/ops_ref.h"
#include "engines/cpu/thread_pool.h"

using namespace adabench;

namespace {

std::vector<CpuIsa> available_isas() {
    std::vector<CpuIsa> out;
    for (int i = CPU_ISA_SCALAR; i <= cpu_isa_detect(); ++i) out.push_back(CpuIsa(i));
    return out;
}

std::vector<float> random_vec(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

// Weights stored as `dtype`, plus their exact fp32 values.
struct StoredMatrix {
    std::vector<float> f32;
    std::vector<uint16_t> half;
    CpuMatrix m;
};

StoredMatrix make_matrix(DType dtype, int64_t n_out, int64_t n_in, uint32_t seed) {
    StoredMatrix s;
    s.f32 = random_vec(static_cast<size_t>(n_out * n_in), seed);
    if (dtype == DTYPE_BF16) {
        for (auto f : s.f32) s.half.push_back(ref_f32_to_bf16(f));
    } else if (dtype == DTYPE_F16) {
        for (auto f : s.f32) {  // values in [-1, 1): exact enough via float -> half by truncation
            uint32_t b;
            std::memcpy(&b, &f, 4);
            int e = int((b >> 23) & 0xff) - 127 + 15;
            s.half.push_back(e <= 0 ? uint16_t((b >> 16) & 0x8000u)
                                    : uint16_t(((b >> 16) & 0x8000u) | uint32_t(e) << 10 | ((b >> 13) & 0x3ffu)));
        }
    }
    s.m = CpuMatrix{dtype, dtype == DTYPE_F32 ? static_cast<const void*>(s.f32.data()) : s.half.data(), n_out, n_in};
    return s;
}

// max over elements of |y - ref| / (tol_floor + scale_i), NaN counts as infinite error
double normalised_error(const std::vector<float>& y, const std::vector<float>& ref, const std::vector<float>& scale) {
    double worst = 0.0;
    for (size_t i = 0; i < y.size(); ++i) {
        if (std::isnan(y[i]) != std::isnan(ref[i])) return INFINITY;
        double e = std::fabs(double(y[i]) - double(ref[i])) / (1e-30 + double(scale[i]));
        worst = std::max(worst, e);
    }
    return worst;
}

}  // namespace

TEST(CpuOps, IsaNamesRoundTrip) {
    for (CpuIsa isa : {CPU_ISA_SCALAR, CPU_ISA_AVX2, CPU_ISA_AVX512, CPU_ISA_AVX512_BF16})
        EXPECT_EQ(cpu_isa_parse(cpu_isa_name(isa)), isa);
    EXPECT_THROW(cpu_isa_parse("sse9"), Error);
    EXPECT_GE(cpu_isa_detect(), CPU_ISA_SCALAR);
}

TEST(CpuOps, Bf16RoundingAndNaN) {
    EXPECT_EQ(ref_f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(ref_bf16_to_f32(0x3f80), 1.0f);
    // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0)
    EXPECT_EQ(ref_f32_to_bf16(1.00390625f), 0x3f80);
    EXPECT_EQ(ref_f32_to_bf16(1.01171875f), 0x3f82);  // 1 + 3*2^-8: tie, rounds to even 1 + 4*2^-8
    EXPECT_TRUE(std::isnan(ref_bf16_to_f32(ref_f32_to_bf16(NAN))));
    std::vector<float> x = random_vec(1000, 7, -100.0f, 100.0f);
    x[3] = NAN;
    x[5] = INFINITY;
    x[8] = -0.0f;
    std::vector<uint16_t> fast(x.size());
    cpu_convert_bf16(x.data(), int64_t(x.size()), fast.data());
    for (size_t i = 0; i < x.size(); ++i) {
        if (std::isnan(x[i])) {
            EXPECT_TRUE(std::isnan(ref_bf16_to_f32(fast[i])));
        } else {
            EXPECT_EQ(fast[i], ref_f32_to_bf16(x[i])) << "element " << i;
        }
    }
}

TEST(CpuOps, F16Conversion) {
    EXPECT_EQ(ref_f16_to_f32(0x3c00), 1.0f);
    EXPECT_EQ(ref_f16_to_f32(0xc000), -2.0f);
    EXPECT_EQ(ref_f16_to_f32(0x7bff), 65504.0f);
    EXPECT_EQ(ref_f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
    EXPECT_TRUE(std::isinf(ref_f16_to_f32(0x7c00)));
    EXPECT_TRUE(std::isnan(ref_f16_to_f32(0x7e00)));
}

// Every ISA x dtype x mode x shape against the scalar twin.
TEST(CpuOps, MatmulMatchesReference) {
    const int64_t n_ins[] = {1, 7, 16, 33, 64, 100, 257};
    const int n_toks[] = {1, 3, 4, 9};
    for (CpuIsa isa : available_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (DType dt : {DTYPE_F32, DTYPE_BF16, DTYPE_F16}) {
            for (CpuMatmulMode mode : {CPU_MATMUL_EXACT, CPU_MATMUL_BF16_DOT}) {
                for (int64_t n_in : n_ins) {
                    for (int n_tok : n_toks) {
                        const int64_t n_out = 21;  // not a multiple of the 4/8-row tiles
                        StoredMatrix w = make_matrix(dt, n_out, n_in, uint32_t(n_in * 31 + n_tok));
                        std::vector<float> x =
                            random_vec(static_cast<size_t>(n_tok * n_in), uint32_t(n_in + 1000 * n_tok));
                        std::vector<uint16_t> xb(x.size());
                        cpu_convert_bf16(x.data(), int64_t(x.size()), xb.data());
                        std::vector<float> y(static_cast<size_t>(n_tok * n_out), NAN), ref(y.size()), scale(y.size());
                        // rows [2, n_out): a row range that does not start at 0
                        k.matmul_rows(x.data(), xb.data(), n_tok, w.m, 2, n_out, y.data(), n_out, mode);
                        k.matmul_rows(x.data(), xb.data(), n_tok, w.m, 0, 2, y.data(), n_out, mode);
                        bool round_x = mode == CPU_MATMUL_BF16_DOT && dt == DTYPE_BF16;
                        ref_matmul_rows(x.data(), n_tok, n_in, dt, w.m.data, 0, n_out, ref.data(), n_out, round_x);
                        for (int t = 0; t < n_tok; ++t)
                            for (int64_t o = 0; o < n_out; ++o) {
                                double s = 0;
                                for (int64_t i = 0; i < n_in; ++i)
                                    s += std::fabs(x[size_t(t * n_in + i)] * ref_load_f32(dt, w.m.data, o * n_in + i));
                                scale[size_t(t * n_out + o)] = float(s);
                            }
                        double err = normalised_error(y, ref, scale);
                        EXPECT_LE(err, 1e-5) << cpu_isa_name(isa) << " " << dtype_name(dt) << " mode " << mode
                                             << " n_in " << n_in << " n_tok " << n_tok;
                    }
                }
            }
        }
    }
}

// The BF16 fast path is an approximation of the exact product: within bf16 rounding of activations.
TEST(CpuOps, Bf16DotCloseToExact) {
    const int64_t n_in = 896, n_out = 64;
    const int n_tok = 5;
    StoredMatrix w = make_matrix(DTYPE_BF16, n_out, n_in, 3);
    std::vector<float> x = random_vec(static_cast<size_t>(n_tok * n_in), 4);
    std::vector<uint16_t> xb(x.size());
    cpu_convert_bf16(x.data(), int64_t(x.size()), xb.data());
    const CpuKernels& k = cpu_kernels(cpu_isa_detect());
    std::vector<float> exact(static_cast<size_t>(n_tok * n_out)), fast(exact.size());
    k.matmul_rows(x.data(), xb.data(), n_tok, w.m, 0, n_out, exact.data(), n_out, CPU_MATMUL_EXACT);
    k.matmul_rows(x.data(), xb.data(), n_tok, w.m, 0, n_out, fast.data(), n_out, CPU_MATMUL_BF16_DOT);
    for (size_t i = 0; i < exact.size(); ++i) EXPECT_NEAR(fast[i], exact[i], 0.05) << i;
}

// An output element must not depend on which tile or how many tokens computed it.
TEST(CpuOps, MatmulBatchedEqualsOneByOneBitwise) {
    const int64_t n_in = 200, n_out = 37;
    const int n_tok = 11;
    for (CpuIsa isa : available_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (DType dt : {DTYPE_F32, DTYPE_BF16}) {
            for (CpuMatmulMode mode : {CPU_MATMUL_EXACT, CPU_MATMUL_BF16_DOT}) {
                StoredMatrix w = make_matrix(dt, n_out, n_in, 9);
                std::vector<float> x = random_vec(static_cast<size_t>(n_tok * n_in), 10);
                std::vector<uint16_t> xb(x.size());
                cpu_convert_bf16(x.data(), int64_t(x.size()), xb.data());
                std::vector<float> batched(static_cast<size_t>(n_tok * n_out));
                k.matmul_rows(x.data(), xb.data(), n_tok, w.m, 0, n_out, batched.data(), n_out, mode);
                for (int t = 0; t < n_tok; ++t) {
                    std::vector<float> one(static_cast<size_t>(n_out));
                    k.matmul_rows(x.data() + t * n_in, xb.data() + t * n_in, 1, w.m, 0, n_out, one.data(), n_out, mode);
                    for (int64_t o = 0; o < n_out; ++o)
                        ASSERT_EQ(one[size_t(o)], batched[size_t(t * n_out + o)])
                            << cpu_isa_name(isa) << " t " << t << " o " << o;
                }
            }
        }
    }
}

// ---- panel layout (AVX-512 kernels on BF16 weights) ----

std::vector<CpuIsa> panel_isas() {
    std::vector<CpuIsa> out;
    for (CpuIsa isa : available_isas())
        if (cpu_kernels(isa).uses_panels) out.push_back(isa);
    return out;
}

struct PackedMatrix {
    StoredMatrix s;
    std::vector<uint16_t> panels;
};

PackedMatrix make_packed(int64_t n_out, int64_t n_in, uint32_t seed) {
    PackedMatrix p;
    p.s = make_matrix(DTYPE_BF16, n_out, n_in, seed);
    p.panels.assign(size_t(cpu_panels_size(n_out, n_in)), 0xdead);
    cpu_pack_panels(p.s.m, 0, (n_out + kCpuPanelRows - 1) / kCpuPanelRows, p.panels.data());
    p.s.m.panels = p.panels.data();
    return p;
}

TEST(CpuOps, PanelLayout) {
    for (int64_t n_in : {1, 2, 7, 32}) {
        const int64_t n_out = 21, n_pairs = (n_in + 1) / 2;
        PackedMatrix p = make_packed(n_out, n_in, 5);
        ASSERT_EQ(int64_t(p.panels.size()), 2 * n_pairs * 32);
        const uint16_t* w = static_cast<const uint16_t*>(p.s.m.data);
        for (int64_t row = 0; row < 32; ++row)
            for (int64_t k = 0; k < 2 * n_pairs; ++k) {
                uint16_t want = row < n_out && k < n_in ? w[row * n_in + k] : 0;  // zero padded
                uint16_t got = p.panels[size_t((row / 16) * n_pairs * 32 + (k / 2) * 32 + (row % 16) * 2 + k % 2)];
                ASSERT_EQ(got, want) << "n_in " << n_in << " row " << row << " k " << k;
            }
    }
    StoredMatrix f = make_matrix(DTYPE_F32, 4, 4, 1);
    uint16_t out[64];
    EXPECT_THROW(cpu_pack_panels(f.m, 0, 1, out), Error);
}

// Panel kernels against the scalar twin (which reads the row-major view), for row ranges that cut
// panels and token counts around the 16-token pass.
TEST(CpuOps, PanelMatmulMatchesReference) {
    if (panel_isas().empty()) GTEST_SKIP() << "no AVX-512 on this CPU";
    for (CpuIsa isa : panel_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (CpuMatmulMode mode : {CPU_MATMUL_EXACT, CPU_MATMUL_BF16_DOT}) {
            for (int64_t n_in : {1, 7, 16, 33, 100, 257}) {
                for (int n_tok : {1, 2, 9, 16, 17, 35}) {
                    const int64_t n_out = 37;
                    PackedMatrix w = make_packed(n_out, n_in, uint32_t(n_in * 31 + n_tok));
                    std::vector<float> x = random_vec(static_cast<size_t>(n_tok * n_in), uint32_t(n_in + 1000 * n_tok));
                    std::vector<uint16_t> xb(x.size());
                    cpu_convert_bf16(x.data(), int64_t(x.size()), xb.data());
                    std::vector<float> y(static_cast<size_t>(n_tok * n_out), NAN), ref(y.size()), scale(y.size());
                    for (auto [rb, re] : {std::pair<int64_t, int64_t>{2, 19}, {19, 32}, {32, n_out}, {0, 2}})
                        k.matmul_rows(x.data(), xb.data(), n_tok, w.s.m, rb, re, y.data(), n_out, mode);
                    ref_matmul_rows(x.data(), n_tok, n_in, DTYPE_BF16, w.s.m.data, 0, n_out, ref.data(), n_out,
                                    mode == CPU_MATMUL_BF16_DOT);
                    for (int t = 0; t < n_tok; ++t)
                        for (int64_t o = 0; o < n_out; ++o) {
                            double sc = 0;
                            for (int64_t i = 0; i < n_in; ++i)
                                sc += std::fabs(x[size_t(t * n_in + i)] *
                                                ref_load_f32(DTYPE_BF16, w.s.m.data, o * n_in + i));
                            scale[size_t(t * n_out + o)] = float(sc);
                        }
                    EXPECT_LE(normalised_error(y, ref, scale), 1e-5)
                        << cpu_isa_name(isa) << " mode " << mode << " n_in " << n_in << " n_tok " << n_tok;
                }
            }
        }
    }
}

// Batch invariance of the panel kernels: any token count, token offset or row split gives the same
// bits as one token at a time over the whole matrix.
TEST(CpuOps, PanelMatmulBatchedEqualsOneByOneBitwise) {
    if (panel_isas().empty()) GTEST_SKIP() << "no AVX-512 on this CPU";
    const int64_t n_in = 201, n_out = 53;
    const int n_tok = 37;
    for (CpuIsa isa : panel_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (CpuMatmulMode mode : {CPU_MATMUL_EXACT, CPU_MATMUL_BF16_DOT}) {
            PackedMatrix w = make_packed(n_out, n_in, 9);
            std::vector<float> x = random_vec(static_cast<size_t>(n_tok * n_in), 10);
            std::vector<uint16_t> xb(x.size());
            cpu_convert_bf16(x.data(), int64_t(x.size()), xb.data());
            std::vector<float> batched(static_cast<size_t>(n_tok * n_out)), split(batched.size());
            k.matmul_rows(x.data(), xb.data(), n_tok, w.s.m, 0, n_out, batched.data(), n_out, mode);
            // tokens [0, 5) and [5, n_tok), rows cut inside a panel
            for (auto [t0, t1] : {std::pair<int, int>{0, 5}, {5, n_tok}})
                for (auto [rb, re] : {std::pair<int64_t, int64_t>{0, 7}, {7, 40}, {40, n_out}})
                    k.matmul_rows(x.data() + t0 * n_in, xb.data() + t0 * n_in, t1 - t0, w.s.m, rb, re,
                                  split.data() + t0 * n_out, n_out, mode);
            for (int t = 0; t < n_tok; ++t) {
                std::vector<float> one(static_cast<size_t>(n_out));
                k.matmul_rows(x.data() + t * n_in, xb.data() + t * n_in, 1, w.s.m, 0, n_out, one.data(), n_out, mode);
                for (int64_t o = 0; o < n_out; ++o) {
                    ASSERT_EQ(one[size_t(o)], batched[size_t(t * n_out + o)])
                        << cpu_isa_name(isa) << " mode " << mode << " t " << t << " o " << o;
                    ASSERT_EQ(one[size_t(o)], split[size_t(t * n_out + o)])
                        << cpu_isa_name(isa) << " mode " << mode << " t " << t << " o " << o;
                }
            }
        }
    }
}

TEST(CpuOps, ElementwiseMatchReference) {
    for (CpuIsa isa : available_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (int64_t n : {1, 5, 16, 37, 896, 4864}) {
            std::vector<float> x = random_vec(static_cast<size_t>(n), uint32_t(n), -3.0f, 3.0f);
            std::vector<float> w = random_vec(static_cast<size_t>(n), uint32_t(n + 1), 0.5f, 1.5f);
            std::vector<float> y(static_cast<size_t>(n)), ref(static_cast<size_t>(n));
            k.rms_norm(x.data(), w.data(), n, 1e-6f, y.data());
            ref_rms_norm(x.data(), w.data(), n, 1e-6f, ref.data());
            for (int64_t i = 0; i < n; ++i)
                EXPECT_NEAR(y[size_t(i)], ref[size_t(i)], 1e-5 * (1 + std::fabs(ref[size_t(i)])));

            std::vector<float> g = random_vec(static_cast<size_t>(n), uint32_t(n + 2), -30.0f, 30.0f);
            std::vector<float> u = random_vec(static_cast<size_t>(n), uint32_t(n + 3), -2.0f, 2.0f);
            k.silu_mul(g.data(), u.data(), n, y.data());
            ref_silu_mul(g.data(), u.data(), n, ref.data());
            for (int64_t i = 0; i < n; ++i) {
                ASSERT_FALSE(std::isnan(y[size_t(i)]));
                EXPECT_NEAR(y[size_t(i)], ref[size_t(i)], 1e-5 * (1 + std::fabs(ref[size_t(i)])))
                    << cpu_isa_name(isa) << " g=" << g[size_t(i)];
            }

            std::vector<float> acc = x;
            k.add(acc.data(), w.data(), n);
            for (int64_t i = 0; i < n; ++i) EXPECT_EQ(acc[size_t(i)], x[size_t(i)] + w[size_t(i)]);
        }
    }
}

TEST(CpuOps, AttentionRowMatchesReference) {
    for (CpuIsa isa : available_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (int hd : {8, 16, 24, 64, 136, 264}) {  // 136, 264: more than one group of 8 vectors, with a tail
            for (int n_ctx : {1, 2, 15, 17, 100}) {
                const int64_t stride = hd * 3;  // rows interleaved with other heads, as in the cache
                std::vector<float> q = random_vec(static_cast<size_t>(hd), uint32_t(hd), -2.0f, 2.0f);
                std::vector<float> kk = random_vec(static_cast<size_t>(n_ctx * stride), uint32_t(n_ctx), -2.0f, 2.0f);
                std::vector<float> vv = random_vec(static_cast<size_t>(n_ctx * stride), uint32_t(n_ctx + 5));
                std::vector<float> out(static_cast<size_t>(hd)), ref(static_cast<size_t>(hd)),
                    s1(static_cast<size_t>(n_ctx)), s2(static_cast<size_t>(n_ctx));
                float scale = 1.0f / std::sqrt(float(hd));
                k.attention_row(q.data(), kk.data(), vv.data(), stride, n_ctx, hd, scale, out.data(), s1.data());
                ref_attention_row(q.data(), kk.data(), vv.data(), stride, n_ctx, hd, scale, ref.data(), s2.data());
                for (int d = 0; d < hd; ++d)
                    EXPECT_NEAR(out[size_t(d)], ref[size_t(d)], 1e-5)
                        << cpu_isa_name(isa) << " hd " << hd << " ctx " << n_ctx;
            }
        }
    }
    // Large scores do not overflow the softmax (the max is subtracted first).
    const int hd = 16;
    std::vector<float> q(hd, 30.0f), kk(static_cast<size_t>(3 * hd), 30.0f), vv(static_cast<size_t>(3 * hd), 1.0f),
        out(hd), s(3);
    cpu_kernels(cpu_isa_detect()).attention_row(q.data(), kk.data(), vv.data(), hd, 3, hd, 1.0f, out.data(), s.data());
    for (float o : out) EXPECT_NEAR(o, 1.0f, 1e-6);
}

TEST(CpuOps, RopeRotatesHalves) {
    // position 0 is the identity; norms are preserved at any position
    const int hd = 8;
    std::vector<float> c(hd / 2), s(hd / 2);
    ref_rope_table(0, hd, 10000.0f, c.data(), s.data());
    std::vector<float> x = random_vec(hd, 1), y = x;
    ref_rope(y.data(), 1, hd, c.data(), s.data());
    for (int i = 0; i < hd; ++i) EXPECT_EQ(x[size_t(i)], y[size_t(i)]);
    ref_rope_table(37, hd, 10000.0f, c.data(), s.data());
    ref_rope(y.data(), 1, hd, c.data(), s.data());
    for (int i = 0; i < hd / 2; ++i) {
        float n0 = x[size_t(i)] * x[size_t(i)] + x[size_t(i + hd / 2)] * x[size_t(i + hd / 2)];
        float n1 = y[size_t(i)] * y[size_t(i)] + y[size_t(i + hd / 2)] * y[size_t(i + hd / 2)];
        EXPECT_NEAR(n0, n1, 1e-5);
    }
    // pair 0 rotates by angle pos * 1: x1' = x1 cos37 - x2 sin37
    EXPECT_NEAR(y[0], x[0] * std::cos(37.0f) - x[hd / 2] * std::sin(37.0f), 1e-5);
}

TEST(CpuThreadPool, RunsEveryChunkOnce) {
    for (int threads : {1, 2, 3}) {
        CpuThreadPool pool(threads);
        EXPECT_EQ(pool.size(), threads);
        for (int rep = 0; rep < 2000; ++rep) {
            int n = rep % 17;
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n) + 1);
            pool.run(n, [&](int i) { hits[size_t(i)].fetch_add(1); });
            for (int i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 1) << "rep " << rep;
        }
    }
}

TEST(CpuThreadPool, PropagatesExceptions) {
    CpuThreadPool pool(2);
    std::atomic<int> ran{0};
    EXPECT_THROW(pool.run(8,
                          [&](int i) {
                              ran.fetch_add(1);
                              if (i == 3) throw std::runtime_error("chunk 3 failed");
                          }),
                 std::runtime_error);
    EXPECT_EQ(ran.load(), 8);
    // still usable afterwards
    std::atomic<int> sum{0};
    pool.run(10, [&](int i) { sum.fetch_add(i); });
    EXPECT_EQ(sum.load(), 45);
}
