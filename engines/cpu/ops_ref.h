// Plain scalar twins of every CPU op: the reference each fast path (AVX2, AVX-512, AVX-512 BF16 and,
// later, CUDA) is checked against, and the fallback on CPUs without SIMD. Header-only on purpose so
// any test program can use them. Written for clarity, not speed: straight loops, fp32 accumulation
// in index order. They do not thread, dispatch or allocate.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "engines/model/model.h"

namespace adabench {

// ---- element conversions (exact, except f32 -> bf16 which rounds to nearest even) ----

inline float ref_bf16_to_f32(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t ref_f32_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
    bits += 0x7fffu + ((bits >> 16) & 1u);                                         // round to nearest even
    return uint16_t(bits >> 16);
}

inline float ref_f16_to_f32(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal half: normalise
            int e = -1;
            do {
                mant <<= 1;
                ++e;
            } while ((mant & 0x400u) == 0);
            bits = sign | uint32_t(127 - 15 - e) << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Element i of a tensor stored as `dtype`, as fp32.
inline float ref_load_f32(DType dtype, const void* data, int64_t i) {
    switch (dtype) {
        case DTYPE_F32:
            return static_cast<const float*>(data)[i];
        case DTYPE_BF16:
            return ref_bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
        case DTYPE_F16:
            return ref_f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    }
    return 0.0f;
}

// ---- ops ----

// y[t*ldy + o] = sum_k x[t*n_in + k] * W[o*n_in + k] for o in [row_begin, row_end), t in [0, n_tok).
// W is (n_out, n_in) row-major in `w_dtype`. When round_x_bf16 is set the activations are first
// rounded to bf16 (the semantics of the AVX-512 BF16 fast path).
inline void ref_matmul_rows(const float* x, int n_tok, int64_t n_in, DType w_dtype, const void* w, int64_t row_begin,
                            int64_t row_end, float* y, int64_t ldy, bool round_x_bf16) {
    for (int t = 0; t < n_tok; ++t) {
        const float* xt = x + int64_t(t) * n_in;
        for (int64_t o = row_begin; o < row_end; ++o) {
            float acc = 0.0f;
            for (int64_t k = 0; k < n_in; ++k) {
                float xv = round_x_bf16 ? ref_bf16_to_f32(ref_f32_to_bf16(xt[k])) : xt[k];
                acc += xv * ref_load_f32(w_dtype, w, o * n_in + k);
            }
            y[int64_t(t) * ldy + o] = acc;
        }
    }
}

// y = x / sqrt(mean(x^2) + eps) * w  (one row of n)
inline void ref_rms_norm(const float* x, const float* w, int64_t n, float eps, float* y) {
    float ss = 0.0f;
    for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
    float inv = 1.0f / std::sqrt(ss / float(n) + eps);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

// y = silu(g) * u, silu(v) = v / (1 + exp(-v))   (SwiGLU)
inline void ref_silu_mul(const float* g, const float* u, int64_t n, float* y) {
    for (int64_t i = 0; i < n; ++i) y[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

// y += x
inline void ref_add(float* y, const float* x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

// RoPE table for one position, Hugging Face convention: inv_freq[i] = theta^(-2i/hd) in fp32,
// angle = float(pos) * inv_freq[i] in fp32 (as PyTorch computes it), cos/sin of that angle.
inline void ref_rope_table(int pos, int head_dim, float theta, float* cos_out, float* sin_out) {
    int half = head_dim / 2;
    for (int i = 0; i < half; ++i) {
        float inv_freq = float(1.0 / std::pow(double(theta), double(2 * i) / double(head_dim)));
        float angle = float(pos) * inv_freq;
        cos_out[i] = float(std::cos(double(angle)));
        sin_out[i] = float(std::sin(double(angle)));
    }
}

// Rotates n_heads heads of one token in place (rotate_half: pairs i and i + hd/2).
inline void ref_rope(float* x, int n_heads, int head_dim, const float* cos_t, const float* sin_t) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; ++h) {
        float* v = x + int64_t(h) * head_dim;
        for (int i = 0; i < half; ++i) {
            float x1 = v[i], x2 = v[i + half];
            v[i] = x1 * cos_t[i] - x2 * sin_t[i];
            v[i + half] = x2 * cos_t[i] + x1 * sin_t[i];
        }
    }
}

// One query row of causal attention over n_ctx cached positions:
// out = softmax(q . K^T * scale) V, with K, V rows at k + j*kv_stride, v + j*kv_stride.
// `scores` is scratch of n_ctx floats. Numerically stable (max subtracted before exp).
inline void ref_attention_row(const float* q, const float* k, const float* v, int64_t kv_stride, int n_ctx,
                              int head_dim, float scale, float* out, float* scores) {
    float m = -INFINITY;
    for (int j = 0; j < n_ctx; ++j) {
        float s = 0.0f;
        for (int d = 0; d < head_dim; ++d) s += q[d] * k[int64_t(j) * kv_stride + d];
        scores[j] = s * scale;
        if (scores[j] > m) m = scores[j];
    }
    float sum = 0.0f;
    for (int j = 0; j < n_ctx; ++j) {
        scores[j] = std::exp(scores[j] - m);
        sum += scores[j];
    }
    for (int d = 0; d < head_dim; ++d) out[d] = 0.0f;
    for (int j = 0; j < n_ctx; ++j) {
        float p = scores[j] / sum;
        for (int d = 0; d < head_dim; ++d) out[d] += p * v[int64_t(j) * kv_stride + d];
    }
}

}  // namespace adabench
