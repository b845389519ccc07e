// Non-finite values through the SIMD kernels (#20 D6): every ISA this CPU supports must give the
// scalar reference's NaN / inf pattern, so a NaN weight fails the same way on every machine instead
// of being clamped into plausible output on AVX-512 only.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engines/cpu/ops.h"
#include "engines/cpu/ops_ref.h"

using namespace adabench;

namespace {

std::vector<CpuIsa> available_isas() {
    std::vector<CpuIsa> out;
    for (int i = CPU_ISA_SCALAR; i <= cpu_isa_detect(); ++i) out.push_back(CpuIsa(i));
    return out;
}

const float k_nan = std::numeric_limits<float>::quiet_NaN();
const float k_inf = std::numeric_limits<float>::infinity();

// Same class (NaN, +inf, -inf) or both finite and close.
::testing::AssertionResult same_value(float got, float want) {
    if (std::isnan(want) || std::isnan(got)) {
        if (std::isnan(want) && std::isnan(got)) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "got " << got << ", scalar reference " << want;
    }
    if (std::isinf(want) || std::isinf(got)) {
        if (got == want) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << "got " << got << ", scalar reference " << want;
    }
    if (std::fabs(got - want) <= 1e-5f * (1.0f + std::fabs(want))) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "got " << got << ", scalar reference " << want;
}

}  // namespace

TEST(CpuNonFinite, SiluMulMatchesScalarOnNanAndInf) {
    // Specials in the vector body (indices < 32) and in the tail (n = 37); -inf is the case where
    // a clamped exp gave -inf / 1.6e38 = -inf instead of the reference's -inf / (1 + inf) = NaN.
    std::vector<float> g = {k_nan, k_inf, -k_inf, 200.0f, -200.0f, 88.5f, -88.5f, 1.0f, -90.0f, 100.0f,
                            0.5f,  k_nan, -k_inf, k_inf,  -1.0f,   2.0f,  3.0f,   4.0f, 5.0f,   6.0f,
                            7.0f,  8.0f,  9.0f,   10.0f,  11.0f,   12.0f, 13.0f,  k_nan};
    while (g.size() < 37) g.push_back(g.size() % 2 ? k_nan : -k_inf);
    const int64_t n = static_cast<int64_t>(g.size());
    std::vector<float> u(g.size(), 1.5f), ref(g.size());
    ref_silu_mul(g.data(), u.data(), n, ref.data());
    for (CpuIsa isa : available_isas()) {
        std::vector<float> y(g.size());
        cpu_kernels(isa).silu_mul(g.data(), u.data(), n, y.data());
        for (int64_t i = 0; i < n; ++i)
            EXPECT_TRUE(same_value(y[size_t(i)], ref[size_t(i)])) << cpu_isa_name(isa) << " g=" << g[size_t(i)];
    }
}

TEST(CpuNonFinite, AttentionRowPropagatesNanScore) {
    // One cached key holding a NaN makes its score NaN: the reference's softmax is then NaN
    // everywhere. A clamped exp turned that score into weight exp(-87) and hid it.
    const int hd = 16;
    for (int n_ctx : {3, 17, 40}) {
        for (int bad : {0, n_ctx / 2, n_ctx - 1}) {
            std::vector<float> q(hd, 0.25f), k(size_t(n_ctx) * hd, 0.5f), v(size_t(n_ctx) * hd, 1.0f);
            k[size_t(bad) * hd + 3] = k_nan;
            std::vector<float> ref(hd), s_ref(static_cast<size_t>(n_ctx));
            ref_attention_row(q.data(), k.data(), v.data(), hd, n_ctx, hd, 0.25f, ref.data(), s_ref.data());
            ASSERT_TRUE(std::isnan(ref[0]));
            for (CpuIsa isa : available_isas()) {
                std::vector<float> out(hd), s(static_cast<size_t>(n_ctx));
                cpu_kernels(isa).attention_row(q.data(), k.data(), v.data(), hd, n_ctx, hd, 0.25f, out.data(),
                                               s.data());
                for (int d = 0; d < hd; ++d)
                    EXPECT_TRUE(same_value(out[size_t(d)], ref[size_t(d)]))
                        << cpu_isa_name(isa) << " n_ctx " << n_ctx << " NaN key " << bad;
            }
        }
    }
}

TEST(CpuNonFinite, AttentionRowNegativeInfinityScoreIsZeroWeight) {
    // A -inf score (a -inf key entry against a positive query) is weight 0 on every path.
    const int hd = 16, n_ctx = 20;
    std::vector<float> q(hd, 0.25f), k(size_t(n_ctx) * hd, 0.5f), v(size_t(n_ctx) * hd, 1.0f);
    k[5 * hd + 2] = -k_inf;
    for (int d = 0; d < hd; ++d) v[5 * hd + size_t(d)] = 1000.0f;
    std::vector<float> ref(hd), s_ref(static_cast<size_t>(n_ctx));
    ref_attention_row(q.data(), k.data(), v.data(), hd, n_ctx, hd, 0.25f, ref.data(), s_ref.data());
    for (CpuIsa isa : available_isas()) {
        std::vector<float> out(hd), s(static_cast<size_t>(n_ctx));
        cpu_kernels(isa).attention_row(q.data(), k.data(), v.data(), hd, n_ctx, hd, 0.25f, out.data(), s.data());
        for (int d = 0; d < hd; ++d) {
            EXPECT_TRUE(same_value(out[size_t(d)], ref[size_t(d)])) << cpu_isa_name(isa);
            EXPECT_NEAR(out[size_t(d)], 1.0f, 1e-6) << cpu_isa_name(isa);
        }
    }
}
