// CPU kernels: AVX-512 (+BF16), AVX2/FMA and scalar implementations of the ops in ops.h, and the
// run-time choice between them. SIMD code sits in `#pragma GCC target` regions so the rest of the
// binary is plain x86-64; cpu_kernels() hands out only what cpu_isa_detect() found.
//
// Matmul layout: weights (n_out, n_in) row-major, activations (n_tok, n_in). Every output element is
// one dot product over n_in accumulated in its own vector register (k ascending, same tail masking)
// and reduced with the same fixed tree, whatever tile computed it: batched equals one-by-one
// bit for bit. Register tiles reuse each loaded weight vector across several tokens (prefill,
// batched decode) and keep several weight rows in flight (decode, memory-bound).
//
// BF16 matrices with a panel copy (ops.h) take the outer-product kernels instead (AVX-512 only):
// one 64-byte panel vector holds a k pair for 16 output rows, each token's activations are broadcast
// from memory, and register tiles of 1 panel x 16 tokens (fp32) or 2 panels x 8 tokens (vdpbf16ps)
// accumulate, so a batched decode step reads each weight from DRAM once, does 16 FMAs (or
// vdpbf16ps) per 64 bytes, and never reduces across lanes.
// Each output element is one fp32 chain over k (pairs in the dot form), identical for any tile.
#include "engines/cpu/ops.h"

#include <cpuid.h>
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"
#include "engines/cpu/ops_ref.h"

// GCC 12's AVX-512 headers build some intrinsics on _mm512_undefined_*(), which -Wuninitialized
// reports inside the headers (a known false positive); nothing of ours is uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace adabench {

// ---------------------------------------------------------------------------------------------
// ISA detection
// ---------------------------------------------------------------------------------------------

const char* cpu_isa_name(CpuIsa isa) {
    switch (isa) {
        case CPU_ISA_SCALAR:
            return "scalar";
        case CPU_ISA_AVX2:
            return "avx2";
        case CPU_ISA_AVX512:
            return "avx512";
        case CPU_ISA_AVX512_BF16:
            return "avx512_bf16";
    }
    return "unknown";
}

CpuIsa cpu_isa_parse(const char* name) {
    std::string s = name ? name : "";
    if (s == "scalar") return CPU_ISA_SCALAR;
    if (s == "avx2") return CPU_ISA_AVX2;
    if (s == "avx512") return CPU_ISA_AVX512;
    if (s == "avx512_bf16") return CPU_ISA_AVX512_BF16;
    throw Error("unknown CPU ISA '" + s + "'", "use scalar, avx2, avx512 or avx512_bf16");
}

static CpuIsa cpu_isa_hardware() {
    __builtin_cpu_init();
#if defined(__clang__)  // clang 14's __builtin_cpu_supports knows neither f16c nor avx512bf16: ask CPUID
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    bool bf16 = __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5)) != 0;  // AVX512_BF16
#else
    bool f16c = __builtin_cpu_supports("f16c");
    bool bf16 = __builtin_cpu_supports("avx512bf16");
#endif
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    if (avx512 && bf16) return CPU_ISA_AVX512_BF16;
    if (avx512) return CPU_ISA_AVX512;
    if (avx2) return CPU_ISA_AVX2;
    return CPU_ISA_SCALAR;
}

CpuIsa cpu_isa_detect() {
    static const CpuIsa isa = [] {
        CpuIsa hw = cpu_isa_hardware();
        // A cap for testing the fallbacks on a machine that has more (never raises above hardware).
        if (const char* cap = std::getenv("ADABENCH_CPU_ISA"); cap && *cap) {
            CpuIsa want = cpu_isa_parse(cap);
            if (want < hw) hw = want;
        }
        return hw;
    }();
    return isa;
}

// ---------------------------------------------------------------------------------------------
// Tile driver shared by the SIMD matmuls. K::run<NT, NR>(t0, r0) computes outputs for tokens
// [t0, t0+NT) and rows [r0, r0+NR). Tile shapes change only speed, never results (see top).
// ---------------------------------------------------------------------------------------------

template <int NT_MAIN, int NR_MAIN, int NR_DECODE, class K>
static inline void matmul_drive(const K& k, int n_tok, int64_t row_begin, int64_t row_end) {
    int64_t r = row_begin;
    if (n_tok >= NT_MAIN) {
        for (; r + NR_MAIN <= row_end; r += NR_MAIN) {
            int t = 0;
            for (; t + NT_MAIN <= n_tok; t += NT_MAIN) k.template run<NT_MAIN, NR_MAIN>(t, r);
            for (; t < n_tok; ++t) k.template run<1, NR_MAIN>(t, r);
        }
    } else {
        for (; r + NR_DECODE <= row_end; r += NR_DECODE)
            for (int t = 0; t < n_tok; ++t) k.template run<1, NR_DECODE>(t, r);
    }
    for (; r < row_end; ++r)
        for (int t = 0; t < n_tok; ++t) k.template run<1, 1>(t, r);
}

// Panel driver: K::run<NP, NT>(p0, t0) computes panels [p0, p0+NP) for tokens [t0, t0+NT).
// One token (decode) streams two panels at a time; batches go through NP_B panels x NT_B tokens
// register tiles (measured on one core, weights in L2, 16 tokens: vdpbf16ps 2 x 8 = 97% of peak
// against 84% for 1 x 16, which has to broadcast once per instruction; fp32 FMA 1 x 16 = 95%).
template <int NP, int NT, class K>
static inline void panel_run_tokens(const K& k, int64_t p, int t0, int nt) {  // nt in [1, NT]
    if constexpr (NT > 1) {
        if (nt < NT) return panel_run_tokens<NP, NT - 1>(k, p, t0, nt);
    }
    k.template run<NP, NT>(p, t0);
}

template <int NP_B, int NT_B, class K>
static inline void panel_drive(const K& k, int n_tok, int64_t p_begin, int64_t p_end) {
    int64_t p = p_begin;
    if (n_tok == 1) {
        for (; p + 2 <= p_end; p += 2) k.template run<2, 1>(p, 0);
        for (; p < p_end; ++p) k.template run<1, 1>(p, 0);
        return;
    }
    for (; p + NP_B <= p_end; p += NP_B)
        for (int t = 0; t < n_tok; t += NT_B) panel_run_tokens<NP_B, NT_B>(k, p, t, std::min(NT_B, n_tok - t));
    for (; p < p_end; ++p)
        for (int t = 0; t < n_tok; t += NT_B) panel_run_tokens<1, NT_B>(k, p, t, std::min(NT_B, n_tok - t));
}

int64_t cpu_panels_size(int64_t n_out, int64_t n_in) {
    return (n_out + kCpuPanelRows - 1) / kCpuPanelRows * ((n_in + 1) / 2) * 2 * kCpuPanelRows;
}

void cpu_pack_panels(const CpuMatrix& w, int64_t panel_begin, int64_t panel_end, uint16_t* out) {
    if (w.dtype != DTYPE_BF16) throw Error("cpu_pack_panels: only BF16 matrices have a panel layout");
    const int64_t n_pairs = (w.n_in + 1) / 2, n_full = w.n_in / 2, panel_len = n_pairs * 2 * kCpuPanelRows;
    const uint16_t* src = static_cast<const uint16_t*>(w.data);
    static const uint16_t kZeros[2] = {0, 0};
    for (int64_t p = panel_begin; p < panel_end; ++p) {
        // Pair j of the 16 rows is one 64-byte vector: read the rows side by side, write sequentially.
        const uint16_t* rows[kCpuPanelRows];
        int64_t step[kCpuPanelRows];  // padding rows read the same zero pair over and over
        for (int i = 0; i < kCpuPanelRows; ++i) {
            const int64_t row = p * kCpuPanelRows + i;
            rows[i] = row < w.n_out ? src + row * w.n_in : kZeros;
            step[i] = row < w.n_out ? 2 : 0;
        }
        uint16_t* dst = out + p * panel_len;
        for (int64_t j = 0; j < n_full; ++j, dst += 2 * kCpuPanelRows)
            for (int i = 0; i < kCpuPanelRows; ++i) std::memcpy(dst + 2 * i, rows[i] + j * step[i], 4);
        if (n_full < n_pairs)  // odd n_in: the last element, paired with zero
            for (int i = 0; i < kCpuPanelRows; ++i) {
                dst[2 * i] = step[i] ? rows[i][w.n_in - 1] : 0;
                dst[2 * i + 1] = 0;
            }
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar (the twins themselves)
// ---------------------------------------------------------------------------------------------

static void matmul_rows_scalar(const float* x, const uint16_t* x_bf16, int n_tok, const CpuMatrix& w, int64_t row_begin,
                               int64_t row_end, float* y, int64_t ldy, CpuMatmulMode mode) {
    bool round_x = mode == CPU_MATMUL_BF16_DOT && w.dtype == DTYPE_BF16;
    ref_matmul_rows(x, n_tok, w.n_in, w.dtype, w.data, row_begin, row_end, y, ldy, round_x);
}

static const CpuKernels kScalar = {CPU_ISA_SCALAR, false,   matmul_rows_scalar, ref_rms_norm,
                                   ref_silu_mul,   ref_add, ref_attention_row};

// ---------------------------------------------------------------------------------------------
// AVX2 + FMA + F16C
// ---------------------------------------------------------------------------------------------

#if defined(__clang__)  // clang has no GCC target pragma; its attribute region does the same
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif

namespace avx2 {

inline float hsum(__m256 v) {
    __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 sh = _mm_movehdup_ps(lo);
    __m128 s = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, s);
    return _mm_cvtss_f32(_mm_add_ss(s, sh));
}

inline __m256 bf16x8(const uint16_t* p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

template <DType WT>
inline __m256 load_w8(const void* w, int64_t i) {
    if constexpr (WT == DTYPE_F32) return _mm256_loadu_ps(static_cast<const float*>(w) + i);
    if constexpr (WT == DTYPE_BF16) return bf16x8(static_cast<const uint16_t*>(w) + i);
    if constexpr (WT == DTYPE_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i)));
    return _mm256_setzero_ps();
}

// fp32 math over widened weights; ROUND_X reads the bf16-rounded activations instead of x.
template <DType WT, bool ROUND_X>
struct MatmulExact {
    const float* x;
    const uint16_t* xb;
    int64_t n_in;
    const void* w;
    float* y;
    int64_t ldy;

    template <int NT, int NR>
    void run(int t0, int64_t r0) const {
        __m256 acc[NT][NR];
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t)
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_setzero_ps();
        const int64_t n_full = n_in & ~int64_t(7);
        for (int64_t k = 0; k < n_full; k += 8) {
            __m256 wv[NR];
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) wv[r] = load_w8<WT>(w, (r0 + r) * n_in + k);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m256 xv = ROUND_X ? bf16x8(xb + (t0 + t) * n_in + k) : _mm256_loadu_ps(x + (t0 + t) * n_in + k);
#pragma GCC unroll 16
                for (int r = 0; r < NR; ++r) acc[t][r] = _mm256_fmadd_ps(xv, wv[r], acc[t][r]);
            }
        }
        for (int t = 0; t < NT; ++t) {
            for (int r = 0; r < NR; ++r) {
                float s = hsum(acc[t][r]);
                for (int64_t k = n_full; k < n_in; ++k) {
                    float xv = ROUND_X ? ref_bf16_to_f32(xb[(t0 + t) * n_in + k]) : x[(t0 + t) * n_in + k];
                    s += xv * ref_load_f32(WT, w, (r0 + r) * n_in + k);
                }
                y[(t0 + t) * ldy + r0 + r] = s;
            }
        }
    }
};

template <DType WT, bool ROUND_X>
void matmul_exact(const float* x, const uint16_t* xb, int n_tok, const CpuMatrix& w, int64_t rb, int64_t re, float* y,
                  int64_t ldy) {
    MatmulExact<WT, ROUND_X> k{x, xb, w.n_in, w.data, y, ldy};
    matmul_drive<2, 4, 4>(k, n_tok, rb, re);
}

void matmul_rows(const float* x, const uint16_t* xb, int n_tok, const CpuMatrix& w, int64_t rb, int64_t re, float* y,
                 int64_t ldy, CpuMatmulMode mode) {
    switch (w.dtype) {
        case DTYPE_F32:
            return matmul_exact<DTYPE_F32, false>(x, xb, n_tok, w, rb, re, y, ldy);
        case DTYPE_F16:
            return matmul_exact<DTYPE_F16, false>(x, xb, n_tok, w, rb, re, y, ldy);
        case DTYPE_BF16:
            if (mode == CPU_MATMUL_BF16_DOT) return matmul_exact<DTYPE_BF16, true>(x, xb, n_tok, w, rb, re, y, ldy);
            return matmul_exact<DTYPE_BF16, false>(x, xb, n_tok, w, rb, re, y, ldy);
    }
}

// exp, Cephes polynomial, ~2 ulp on [-87, 88]; matches std::exp at the edges: NaN stays NaN,
// x > 88.72 (and +inf) gives +inf, x < -87 (and -inf) gives 0 (the true value is below 1.7e-38).
// max/min return their second operand when either is NaN, so x goes second to keep a NaN: with x
// first a NaN became exp(-87) and NaN weights gave plausible output on this path only (#20 D6).
inline __m256 exp8(__m256 x) {
    const __m256 over = _mm256_cmp_ps(x, _mm256_set1_ps(88.72283935546875f), _CMP_GT_OQ);
    const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500E-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
    __m256 e = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i pow2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    e = _mm256_mul_ps(e, _mm256_castsi256_ps(pow2));
    e = _mm256_blendv_ps(e, _mm256_set1_ps(INFINITY), over);
    return _mm256_andnot_ps(under, e);
}

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* y) {
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        acc = _mm256_fmadd_ps(v, v, acc);
    }
    float ss = hsum(acc);
    for (; i < n; ++i) ss += x[i] * x[i];
    float inv = 1.0f / std::sqrt(ss / float(n) + eps);
    __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vi), _mm256_loadu_ps(w + i)));
    for (; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void silu_mul(const float* g, const float* u, int64_t n, float* y) {
    int64_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        __m256 s = _mm256_div_ps(gv, _mm256_add_ps(one, e));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

void add(float* y, const float* x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    for (; i < n; ++i) y[i] += x[i];
}

void attention_row(const float* q, const float* k, const float* v, int64_t kv_stride, int n_ctx, int hd, float scale,
                   float* out, float* scores) {
    const int d_full = hd & ~7;
    float m = -INFINITY;
    for (int j = 0; j < n_ctx; ++j) {
        const float* kj = k + int64_t(j) * kv_stride;
        __m256 acc = _mm256_setzero_ps();
        for (int d = 0; d < d_full; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), acc);
        float s = hsum(acc);
        for (int d = d_full; d < hd; ++d) s += q[d] * kj[d];
        s *= scale;
        scores[j] = s;
        m = s > m ? s : m;
    }
    float sum = 0.0f;
    int j = 0;
    __m256 vm = _mm256_set1_ps(m), vsum = _mm256_setzero_ps();
    for (; j + 8 <= n_ctx; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(scores + j), vm));
        _mm256_storeu_ps(scores + j, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    sum = hsum(vsum);
    for (; j < n_ctx; ++j) {
        scores[j] = std::exp(scores[j] - m);
        sum += scores[j];
    }
    for (int d = 0; d < hd; ++d) out[d] = 0.0f;
    for (int jj = 0; jj < n_ctx; ++jj) {
        const float* vj = v + int64_t(jj) * kv_stride;
        __m256 p = _mm256_set1_ps(scores[jj]);
        for (int d = 0; d < d_full; d += 8)
            _mm256_storeu_ps(out + d, _mm256_fmadd_ps(p, _mm256_loadu_ps(vj + d), _mm256_loadu_ps(out + d)));
        for (int d = d_full; d < hd; ++d) out[d] += scores[jj] * vj[d];
    }
    float inv = 1.0f / sum;
    for (int d = 0; d < hd; ++d) out[d] *= inv;
}

}  // namespace avx2

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const CpuKernels kAvx2 = {CPU_ISA_AVX2,   false,     avx2::matmul_rows,  avx2::rms_norm,
                                 avx2::silu_mul, avx2::add, avx2::attention_row};

// ---------------------------------------------------------------------------------------------
// AVX-512 F/BW/VL/DQ
// ---------------------------------------------------------------------------------------------

#if defined(__clang__)  // clang has no GCC target pragma; its attribute region does the same
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")
#endif

namespace avx512 {

inline __mmask16 tail16(int64_t n) { return __mmask16((1u << n) - 1u); }

inline __m512 bf16x16(const uint16_t* p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}
inline __m512 bf16x16_mask(const uint16_t* p, __mmask16 m) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

template <DType WT>
inline __m512 load_w16(const void* w, int64_t i) {
    if constexpr (WT == DTYPE_F32) return _mm512_loadu_ps(static_cast<const float*>(w) + i);
    if constexpr (WT == DTYPE_BF16) return bf16x16(static_cast<const uint16_t*>(w) + i);
    if constexpr (WT == DTYPE_F16)
        return _mm512_cvtph_ps(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(w) + i)));
    return _mm512_setzero_ps();
}
template <DType WT>
inline __m512 load_w16_mask(const void* w, int64_t i, __mmask16 m) {
    if constexpr (WT == DTYPE_F32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + i);
    if constexpr (WT == DTYPE_BF16) return bf16x16_mask(static_cast<const uint16_t*>(w) + i, m);
    if constexpr (WT == DTYPE_F16)
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i));
    return _mm512_setzero_ps();
}

// Decode (one token) is a stream through the weights. Measured here (EPYC, bf16 lm_head from DRAM):
// one row at a time streams ~1.7x faster than 8 interleaved rows, and prefetching the next tile's
// columns adds a few percent. Hence NR_DECODE = 1 in the AVX-512 drivers.
template <DType WT, int NR>
inline void prefetch_next_tile(const void* w, int64_t r0, int64_t n_in, int64_t k) {
    const char* base = static_cast<const char*>(w);
    const int64_t es = WT == DTYPE_F32 ? 4 : 2;
    if (((k * es) & 63) != 0 && es == 2) return;  // one prefetch per 64-byte line
#pragma GCC unroll 16
    for (int r = 0; r < NR; ++r) _mm_prefetch(base + ((r0 + NR + r) * n_in + k) * es, _MM_HINT_T0);
}

template <DType WT, bool ROUND_X>
struct MatmulExact {
    const float* x;
    const uint16_t* xb;
    int64_t n_in;
    const void* w;
    float* y;
    int64_t ldy;

    template <int NT, int NR>
    void run(int t0, int64_t r0) const {
        __m512 acc[NT][NR];
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t)
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_setzero_ps();
        const int64_t n_full = n_in & ~int64_t(15);
        for (int64_t k = 0; k < n_full; k += 16) {
            __m512 wv[NR];
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) wv[r] = load_w16<WT>(w, (r0 + r) * n_in + k);
            if constexpr (NT == 1) prefetch_next_tile<WT, NR>(w, r0, n_in, k);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m512 xv = ROUND_X ? bf16x16(xb + (t0 + t) * n_in + k) : _mm512_loadu_ps(x + (t0 + t) * n_in + k);
#pragma GCC unroll 16
                for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_fmadd_ps(xv, wv[r], acc[t][r]);
            }
        }
        if (n_full < n_in) {
            __mmask16 m = tail16(n_in - n_full);
            __m512 wv[NR];
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) wv[r] = load_w16_mask<WT>(w, (r0 + r) * n_in + n_full, m);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m512 xv = ROUND_X ? bf16x16_mask(xb + (t0 + t) * n_in + n_full, m)
                                    : _mm512_maskz_loadu_ps(m, x + (t0 + t) * n_in + n_full);
#pragma GCC unroll 16
                for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_fmadd_ps(xv, wv[r], acc[t][r]);
            }
        }
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t)
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) y[(t0 + t) * ldy + r0 + r] = _mm512_reduce_add_ps(acc[t][r]);
    }
};

template <DType WT, bool ROUND_X>
void matmul_exact(const float* x, const uint16_t* xb, int n_tok, const CpuMatrix& w, int64_t rb, int64_t re, float* y,
                  int64_t ldy) {
    MatmulExact<WT, ROUND_X> k{x, xb, w.n_in, w.data, y, ldy};
    matmul_drive<4, 4, 1>(k, n_tok, rb, re);
}

// State shared by the panel kernels: where the panels, activations and outputs are, and which
// output rows of the panels to store.
struct PanelArgs {
    const float* x;
    const uint16_t* xb;
    int64_t n_in;
    const uint16_t* panels;
    int64_t n_pairs;
    float* y;
    int64_t ldy;
    int64_t row_begin, row_end;
    const uint16_t* pf_end;  // end of the last panel of this call: prefetches stop there

    const uint16_t* panel(int64_t p) const { return panels + p * n_pairs * 2 * kCpuPanelRows; }
    __mmask16 store_mask(int64_t p) const {
        int64_t r0 = p * kCpuPanelRows;
        int64_t lo = std::max<int64_t>(row_begin - r0, 0), hi = std::min<int64_t>(row_end - r0, kCpuPanelRows);
        return __mmask16(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    }
    // Zeroed accumulators and the first weight pair of the NP panels from p0.
    template <int NP, int NT>
    void start(int64_t p0, __m512 (&acc)[NP][NT], const uint16_t* (&w)[NP]) const {
#pragma GCC unroll 16
        for (int p = 0; p < NP; ++p) {
            w[p] = panel(p0 + p);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) acc[p][t] = _mm512_setzero_ps();
        }
    }
    template <int NP, int NT>
    void store(int64_t p0, int t0, const __m512 (&acc)[NP][NT]) const {
#pragma GCC unroll 16
        for (int p = 0; p < NP; ++p) {
            __mmask16 m = store_mask(p0 + p);
            float* out = y + int64_t(t0) * ldy + (p0 + p) * kCpuPanelRows;
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + int64_t(t) * ldy, m, acc[p][t]);
        }
    }
};

// Batched panel passes consume the weights slower than the hardware prefetcher runs ahead on its
// own, and DRAM latency then stalls the FMAs. Fetching 128 vectors (8 KiB) ahead per panel into L2
// in software hides it (measured on the 0.5B lm_head, 16 tokens, 2 threads: +35% over no prefetch,
// +25% over prefetching into L1), never past the rows of this call (`end`: the next rows are
// another thread's). One token streams faster without it.
// A call streams NP panels side by side; past the end of its panels the prefetch of slot p moves on
// to panel p + NP, which the same slot of the next call (the next NP panels) reads first.
template <int NP, int NT>
inline void prefetch_panel(const uint16_t* wp, int64_t j, int64_t n_pairs, const uint16_t* end) {
    constexpr int64_t kAhead = 128;  // panel vectors of 64 bytes
    if constexpr (NT > 1) {
        int64_t v = j + kAhead;
        if (v >= n_pairs) v += (NP - 1) * n_pairs;
        // integer addresses: the target may lie past the buffer, where pointer arithmetic is undefined
        const uintptr_t a = reinterpret_cast<uintptr_t>(wp) + uintptr_t(v) * 64;
        if (a < reinterpret_cast<uintptr_t>(end)) _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T1);
    }
}

inline __m512i broadcast_pair(const uint16_t* p) {  // the 32 bits at p (two bf16) in every lane
    uint32_t u;
    std::memcpy(&u, p, 4);
    return _mm512_set1_epi32(int(u));
}

// fp32 outer products over panels: per k, lane i of acc[p][t] += W[row i][k] * x[t][k]. The even
// element of a pair is the low half of the lane (shifted up), the odd one the high half (masked).
template <bool ROUND_X>
struct PanelExact : PanelArgs {
    float xval(int t, int64_t k) const { return ROUND_X ? ref_bf16_to_f32(xb[t * n_in + k]) : x[t * n_in + k]; }

    template <int NP, int NT>
    void run(int64_t p0, int t0) const {
        __m512 acc[NP][NT];
        const uint16_t* w[NP];
        start<NP, NT>(p0, acc, w);
        const __m512i hi_mask = _mm512_set1_epi32(int(0xffff0000u));
        const int64_t n_full = n_in / 2;
        for (int64_t j = 0; j < n_full; ++j) {
            __m512 we[NP], wo[NP];
#pragma GCC unroll 16
            for (int p = 0; p < NP; ++p) {
                __m512i v = _mm512_loadu_si512(w[p] + j * 2 * kCpuPanelRows);
                prefetch_panel<NP, NT>(w[p], j, n_pairs, pf_end);
                we[p] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
                wo[p] = _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask));
            }
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m512 xe = _mm512_set1_ps(xval(t0 + t, 2 * j));
#pragma GCC unroll 16
                for (int p = 0; p < NP; ++p) acc[p][t] = _mm512_fmadd_ps(we[p], xe, acc[p][t]);
                __m512 xo = _mm512_set1_ps(xval(t0 + t, 2 * j + 1));
#pragma GCC unroll 16
                for (int p = 0; p < NP; ++p) acc[p][t] = _mm512_fmadd_ps(wo[p], xo, acc[p][t]);
            }
        }
        if (n_in % 2) {
            __m512 we[NP];
#pragma GCC unroll 16
            for (int p = 0; p < NP; ++p)
                we[p] =
                    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(w[p] + n_full * 2 * kCpuPanelRows), 16));
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m512 xe = _mm512_set1_ps(xval(t0 + t, n_in - 1));
#pragma GCC unroll 16
                for (int p = 0; p < NP; ++p) acc[p][t] = _mm512_fmadd_ps(we[p], xe, acc[p][t]);
            }
        }
        store<NP, NT>(p0, t0, acc);
    }
};

inline PanelArgs panel_args(const float* x, const uint16_t* xb, const CpuMatrix& w, int64_t rb, int64_t re, float* y,
                            int64_t ldy) {
    const int64_t n_pairs = (w.n_in + 1) / 2, pe = (re + kCpuPanelRows - 1) / kCpuPanelRows;
    return PanelArgs{x, xb, w.n_in, w.panels, n_pairs, y, ldy, rb, re, w.panels + pe * n_pairs * 2 * kCpuPanelRows};
}

void matmul_panels_exact(const float* x, const uint16_t* xb, int n_tok, const CpuMatrix& w, int64_t rb, int64_t re,
                         float* y, int64_t ldy, bool round_x) {
    int64_t pb = rb / kCpuPanelRows, pe = (re + kCpuPanelRows - 1) / kCpuPanelRows;
    if (round_x) {
        panel_drive<1, 16>(PanelExact<true>{panel_args(x, xb, w, rb, re, y, ldy)}, n_tok, pb, pe);
    } else {
        panel_drive<1, 16>(PanelExact<false>{panel_args(x, xb, w, rb, re, y, ldy)}, n_tok, pb, pe);
    }
}

void matmul_rows(const float* x, const uint16_t* xb, int n_tok, const CpuMatrix& w, int64_t rb, int64_t re, float* y,
                 int64_t ldy, CpuMatmulMode mode) {
    if (rb >= re) return;
    if (w.panels && w.dtype == DTYPE_BF16)
        return matmul_panels_exact(x, xb, n_tok, w, rb, re, y, ldy, mode == CPU_MATMUL_BF16_DOT);
    switch (w.dtype) {
        case DTYPE_F32:
            return matmul_exact<DTYPE_F32, false>(x, xb, n_tok, w, rb, re, y, ldy);
        case DTYPE_F16:
            return matmul_exact<DTYPE_F16, false>(x, xb, n_tok, w, rb, re, y, ldy);
        case DTYPE_BF16:
            if (mode == CPU_MATMUL_BF16_DOT) return matmul_exact<DTYPE_BF16, true>(x, xb, n_tok, w, rb, re, y, ldy);
            return matmul_exact<DTYPE_BF16, false>(x, xb, n_tok, w, rb, re, y, ldy);
    }
}

// exp with exp8's edge behaviour (NaN stays NaN, overflow gives +inf, x < -87 gives 0; see there).
inline __m512 exp16(__m512 x) {
    const __mmask16 over = _mm512_cmp_ps_mask(x, _mm512_set1_ps(88.72283935546875f), _CMP_GT_OQ);
    const __mmask16 under = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm512_min_ps(_mm512_set1_ps(88.0f), _mm512_max_ps(_mm512_set1_ps(-87.0f), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    __m512 e = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    e = _mm512_scalef_ps(e, n);
    e = _mm512_mask_mov_ps(e, over, _mm512_set1_ps(INFINITY));
    return _mm512_mask_mov_ps(e, under, _mm512_setzero_ps());
}

void rms_norm(const float* x, const float* w, int64_t n, float eps, float* y) {
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    if (i < n) {
        __m512 v = _mm512_maskz_loadu_ps(tail16(n - i), x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    float ss = _mm512_reduce_add_ps(acc);
    float inv = 1.0f / std::sqrt(ss / float(n) + eps);
    __m512 vi = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vi), _mm512_loadu_ps(w + i)));
    if (i < n) {
        __mmask16 m = tail16(n - i);
        _mm512_mask_storeu_ps(
            y + i, m,
            _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vi), _mm512_maskz_loadu_ps(m, w + i)));
    }
}

void silu_mul(const float* g, const float* u, int64_t n, float* y) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail16(n - i);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), gv));
        __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

void add(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : tail16(n - i);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

// out[d0 .. d0 + 16 NV) = inv * sum_j scores[j] v_j, up to NV vectors of 16 dims side by side so the
// chains over j (one per vector, j ascending) run in parallel instead of one after another.
constexpr int kAttnVectors = 8;
template <int NV>
inline void attention_v(const float* scores, const float* v, int64_t kv_stride, int n_ctx, int d0, int hd, float inv,
                        float* out) {
    const int n_vec = (std::min(hd - d0, 16 * NV) + 15) / 16;
    if constexpr (NV > 1) {
        if (n_vec < NV) return attention_v<NV - 1>(scores, v, kv_stride, n_ctx, d0, hd, inv, out);
    }
    __mmask16 mk[NV];
    __m512 acc[NV];
#pragma GCC unroll 8
    for (int i = 0; i < NV; ++i) {
        int left = hd - d0 - 16 * i;
        mk[i] = left >= 16 ? __mmask16(0xffff) : tail16(left);
        acc[i] = _mm512_setzero_ps();
    }
    for (int j = 0; j < n_ctx; ++j) {
        const __m512 s = _mm512_set1_ps(scores[j]);
        const float* vj = v + int64_t(j) * kv_stride + d0;
#pragma GCC unroll 8
        for (int i = 0; i < NV; ++i) acc[i] = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(mk[i], vj + 16 * i), acc[i]);
    }
#pragma GCC unroll 8
    for (int i = 0; i < NV; ++i)
        _mm512_mask_storeu_ps(out + d0 + 16 * i, mk[i], _mm512_mul_ps(acc[i], _mm512_set1_ps(inv)));
}

void attention_row(const float* q, const float* k, const float* v, int64_t kv_stride, int n_ctx, int hd, float scale,
                   float* out, float* scores) {
    float m = -INFINITY;
    for (int j = 0; j < n_ctx; ++j) {
        const float* kj = k + int64_t(j) * kv_stride;
        __m512 acc = _mm512_setzero_ps();
        for (int d = 0; d < hd; d += 16) {
            __mmask16 mk = hd - d >= 16 ? __mmask16(0xffff) : tail16(hd - d);
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, q + d), _mm512_maskz_loadu_ps(mk, kj + d), acc);
        }
        float s = _mm512_reduce_add_ps(acc) * scale;
        scores[j] = s;
        m = s > m ? s : m;
    }
    __m512 vm = _mm512_set1_ps(m), vsum = _mm512_setzero_ps();
    for (int j = 0; j < n_ctx; j += 16) {
        __mmask16 mk = n_ctx - j >= 16 ? __mmask16(0xffff) : tail16(n_ctx - j);
        __m512 e = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, scores + j), vm));
        e = _mm512_maskz_mov_ps(mk, e);
        _mm512_mask_storeu_ps(scores + j, mk, e);
        vsum = _mm512_add_ps(vsum, e);
    }
    float inv = 1.0f / _mm512_reduce_add_ps(vsum);
    for (int d = 0; d < hd; d += 16 * kAttnVectors)
        attention_v<kAttnVectors>(scores, v, kv_stride, n_ctx, d, hd, inv, out);
}

void convert_bf16(const float* x, int64_t n, uint16_t* out) {
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 mk = n - i >= 16 ? __mmask16(0xffff) : tail16(n - i);
        __m512 f = _mm512_maskz_loadu_ps(mk, x + i);
        __m512i b = _mm512_castps_si512(f);
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(b, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
        __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
        _mm256_mask_storeu_epi16(out + i, mk, _mm512_cvtepi32_epi16(r));
    }
}

}  // namespace avx512

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const CpuKernels kAvx512 = {CPU_ISA_AVX512,   true,        avx512::matmul_rows,  avx512::rms_norm,
                                   avx512::silu_mul, avx512::add, avx512::attention_row};

// ---------------------------------------------------------------------------------------------
// AVX-512 BF16: vdpbf16ps multiplies bf16 pairs and accumulates in fp32, 32 products per
// instruction. Only the BF16_DOT matmul on BF16 weights differs from plain AVX-512.
// ---------------------------------------------------------------------------------------------

#if defined(__clang__)  // clang has no GCC target pragma; its attribute region does the same
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
#endif

namespace avx512bf16 {

struct MatmulDot {
    const uint16_t* xb;
    int64_t n_in;
    const uint16_t* w;
    float* y;
    int64_t ldy;

    template <int NT, int NR>
    void run(int t0, int64_t r0) const {
        __m512 acc[NT][NR];
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t)
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_setzero_ps();
        const int64_t n_full = n_in & ~int64_t(31);
        for (int64_t k = 0; k < n_full; k += 32) {
            __m512bh wv[NR];
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) wv[r] = (__m512bh)_mm512_loadu_si512(w + (r0 + r) * n_in + k);
            if constexpr (NT == 1) avx512::prefetch_next_tile<DTYPE_BF16, NR>(w, r0, n_in, k);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m512bh xv = (__m512bh)_mm512_loadu_si512(xb + (t0 + t) * n_in + k);
#pragma GCC unroll 16
                for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_dpbf16_ps(acc[t][r], xv, wv[r]);
            }
        }
        if (n_full < n_in) {
            __mmask32 m = __mmask32((uint64_t(1) << (n_in - n_full)) - 1u);
            __m512bh wv[NR];
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) wv[r] = (__m512bh)_mm512_maskz_loadu_epi16(m, w + (r0 + r) * n_in + n_full);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, xb + (t0 + t) * n_in + n_full);
#pragma GCC unroll 16
                for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_dpbf16_ps(acc[t][r], xv, wv[r]);
            }
        }
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t)
#pragma GCC unroll 16
            for (int r = 0; r < NR; ++r) y[(t0 + t) * ldy + r0 + r] = _mm512_reduce_add_ps(acc[t][r]);
    }
};

// vdpbf16ps outer products over panels: lane i of acc[p][t] += W[i][2j] x[t][2j] + W[i][2j+1] x[t][2j+1],
// with the activation pair broadcast from memory. An odd n_in ends with the pair (x[n_in-1], 0)
// against the zero-padded panel.
struct PanelDot : avx512::PanelArgs {
    // Pairs [j0, j1) of panels w[0..NP) into acc, tokens xt + t * n_in. PF: issue the prefetches.
    template <int NP, int NT, bool PF>
    void steps(__m512 (&acc)[NP][NT], const uint16_t* const (&w)[NP], const uint16_t* xt, int64_t j0,
               int64_t j1) const {
        for (int64_t j = j0; j < j1; ++j) {
            __m512bh wv[NP];
#pragma GCC unroll 16
            for (int p = 0; p < NP; ++p) {
                wv[p] = (__m512bh)_mm512_loadu_si512(w[p] + j * 2 * kCpuPanelRows);
                if constexpr (PF) avx512::prefetch_panel<NP, NT>(w[p], j, n_pairs, pf_end);
            }
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                __m512bh xv = (__m512bh)avx512::broadcast_pair(xt + t * n_in + 2 * j);
#pragma GCC unroll 16
                for (int p = 0; p < NP; ++p) acc[p][t] = _mm512_dpbf16_ps(acc[p][t], wv[p], xv);
            }
        }
    }
    // The last pair (x[n_in-1], 0) of an odd n_in.
    template <int NP, int NT>
    void odd_tail(__m512 (&acc)[NP][NT], const uint16_t* const (&w)[NP], const uint16_t* xt) const {
        if (n_in % 2 == 0) return;
        __m512bh wv[NP];
#pragma GCC unroll 16
        for (int p = 0; p < NP; ++p) wv[p] = (__m512bh)_mm512_loadu_si512(w[p] + (n_in / 2) * 2 * kCpuPanelRows);
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            __m512bh xv = (__m512bh)_mm512_set1_epi32(int(xt[t * n_in + n_in - 1]));
#pragma GCC unroll 16
            for (int p = 0; p < NP; ++p) acc[p][t] = _mm512_dpbf16_ps(acc[p][t], wv[p], xv);
        }
    }

    template <int NP, int NT>
    void run(int64_t p0, int t0) const {
        __m512 acc[NP][NT];
        const uint16_t* w[NP];
        start<NP, NT>(p0, acc, w);
        const uint16_t* xt = xb + int64_t(t0) * n_in;
        steps<NP, NT, true>(acc, w, xt, 0, n_in / 2);
        odd_tail<NP, NT>(acc, w, xt);
        store<NP, NT>(p0, t0, acc);
    }

    // Two panels for NA + NB tokens (more than one register tile holds), in blocks of kBlock pairs:
    // tokens [t0, t0+NA) then [t0+NA, t0+NA+NB) over the same block, the accumulators parked in
    // memory in between (exact: each output is still one chain over k). The weights are then read
    // from DRAM at an even rate across the whole pass, which overlaps the FMAs better than a
    // second pass over the panels, and the second group reads them from L1.
    template <int NA, int NB>
    void run_split(int64_t p0, int t0) const {
        constexpr int64_t kBlock = 64;  // 2 panels x 64 pairs = 8 KiB
        __m512 sa[2][NA], sb[2][NB];
#pragma GCC unroll 16
        for (int p = 0; p < 2; ++p) {
#pragma GCC unroll 16
            for (int t = 0; t < NA; ++t) sa[p][t] = _mm512_setzero_ps();
#pragma GCC unroll 16
            for (int t = 0; t < NB; ++t) sb[p][t] = _mm512_setzero_ps();
        }
        const uint16_t* const w[2] = {panel(p0), panel(p0 + 1)};
        const uint16_t* xa = xb + int64_t(t0) * n_in;
        const uint16_t* xbb = xa + int64_t(NA) * n_in;
        const int64_t n_full = n_in / 2;
        for (int64_t j0 = 0; j0 < n_full; j0 += kBlock) {
            const int64_t j1 = std::min(j0 + kBlock, n_full);
            {
                __m512 acc[2][NA];
#pragma GCC unroll 16
                for (int p = 0; p < 2; ++p)
#pragma GCC unroll 16
                    for (int t = 0; t < NA; ++t) acc[p][t] = sa[p][t];
                steps<2, NA, true>(acc, w, xa, j0, j1);
#pragma GCC unroll 16
                for (int p = 0; p < 2; ++p)
#pragma GCC unroll 16
                    for (int t = 0; t < NA; ++t) sa[p][t] = acc[p][t];
            }
            {
                __m512 acc[2][NB];
#pragma GCC unroll 16
                for (int p = 0; p < 2; ++p)
#pragma GCC unroll 16
                    for (int t = 0; t < NB; ++t) acc[p][t] = sb[p][t];
                steps<2, NB, false>(acc, w, xbb, j0, j1);
#pragma GCC unroll 16
                for (int p = 0; p < 2; ++p)
#pragma GCC unroll 16
                    for (int t = 0; t < NB; ++t) sb[p][t] = acc[p][t];
            }
        }
        odd_tail<2, NA>(sa, w, xa);
        odd_tail<2, NB>(sb, w, xbb);
        store<2, NA>(p0, t0, sa);
        store<2, NB>(p0, t0 + NA, sb);
    }
};

// Two panels x nb tokens after a first group of 8 (nb in [1, 8]).
template <int NB>
static inline void panel_dot_split(const PanelDot& k, int64_t p, int t0, int nb) {
    if constexpr (NB > 1) {
        if (nb < NB) return panel_dot_split<NB - 1>(k, p, t0, nb);
    }
    k.run_split<8, NB>(p, t0);
}

// vdpbf16ps driver: pairs of panels take up to 16 tokens per pass (run_split); one token, a last
// odd panel and token groups of at most 8 use the plain register tiles.
static void panel_dot_drive(const PanelDot& k, int n_tok, int64_t p_begin, int64_t p_end) {
    if (n_tok == 1) return panel_drive<2, 8>(k, n_tok, p_begin, p_end);
    int64_t p = p_begin;
    for (; p + 2 <= p_end; p += 2) {
        for (int t = 0; t < n_tok; t += 16) {
            int nt = std::min(16, n_tok - t);
            if (nt > 8) {
                panel_dot_split<8>(k, p, t, nt - 8);
            } else {
                panel_run_tokens<2, 8>(k, p, t, nt);
            }
        }
    }
    if (p < p_end) panel_drive<2, 8>(k, n_tok, p, p_end);
}

void matmul_rows(const float* x, const uint16_t* xb, int n_tok, const CpuMatrix& w, int64_t rb, int64_t re, float* y,
                 int64_t ldy, CpuMatmulMode mode) {
    if (mode != CPU_MATMUL_BF16_DOT || w.dtype != DTYPE_BF16)
        return avx512::matmul_rows(x, xb, n_tok, w, rb, re, y, ldy, mode);
    if (rb >= re) return;
    if (w.panels) {
        PanelDot k{avx512::panel_args(x, xb, w, rb, re, y, ldy)};
        return panel_dot_drive(k, n_tok, rb / kCpuPanelRows, (re + kCpuPanelRows - 1) / kCpuPanelRows);
    }
    MatmulDot k{xb, w.n_in, static_cast<const uint16_t*>(w.data), y, ldy};
    matmul_drive<4, 4, 1>(k, n_tok, rb, re);
}

}  // namespace avx512bf16

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const CpuKernels kAvx512Bf16 = {CPU_ISA_AVX512_BF16, true,        avx512bf16::matmul_rows, avx512::rms_norm,
                                       avx512::silu_mul,    avx512::add, avx512::attention_row};

// ---------------------------------------------------------------------------------------------

const CpuKernels& cpu_kernels(CpuIsa isa) {
    CpuIsa hw = cpu_isa_hardware();
    if (isa > hw)
        throw Error(std::string("CPU ISA ") + cpu_isa_name(isa) + " requested but this CPU supports at most " +
                        cpu_isa_name(hw),
                    "leave the ISA unset to use the best available");
    switch (isa) {
        case CPU_ISA_SCALAR:
            return kScalar;
        case CPU_ISA_AVX2:
            return kAvx2;
        case CPU_ISA_AVX512:
            return kAvx512;
        case CPU_ISA_AVX512_BF16:
            return kAvx512Bf16;
    }
    return kScalar;
}

void cpu_convert_bf16(const float* x, int64_t n, uint16_t* out) {
    if (cpu_isa_detect() >= CPU_ISA_AVX512) return avx512::convert_bf16(x, n, out);
    for (int64_t i = 0; i < n; ++i) out[i] = ref_f32_to_bf16(x[i]);
}

void cpu_convert_f32(DType dtype, const void* src, int64_t n, float* out) {
    if (dtype == DTYPE_F32) {
        std::memcpy(out, src, size_t(n) * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; ++i) out[i] = ref_load_f32(dtype, src, i);
}

}  // namespace adabench
