// Device functions several kernel files share, each computing exactly what its CPU twin in
// engines/cpu/ops_ref.h computes: bf16 <-> fp32 (ref_bf16_to_f32, ref_f32_to_bf16) and RoPE's
// angle and rotation (ref_rope_table, ref_rope). Fused kernels call the same functions as the
// separate ones, so fusing changes no bit of the result.
#pragma once

#include <cstdint>
#ifdef ADABENCH_BLOCK_EMULATION
#include <cstring>
#endif

namespace adabench {
namespace cuda_dev {

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t h) { return __uint_as_float(uint32_t(h) << 16); }

// Round to nearest even; a NaN stays a (quiet) NaN, as ref_f32_to_bf16.
__device__ __forceinline__ uint16_t f32_to_bf16_bits(float f) {
    uint32_t bits = __float_as_uint(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return uint16_t(bits >> 16);
}

// 16 bytes from a 16-byte aligned address in one load.
struct Bits16 {
    uint32_t w[4];
};
__device__ __forceinline__ Bits16 load16(const void* p) {
    Bits16 b;
#ifdef ADABENCH_BLOCK_EMULATION
    std::memcpy(b.w, p, sizeof(b.w));
#else
    const uint4 v = *static_cast<const uint4*>(p);
    b.w[0] = v.x, b.w[1] = v.y, b.w[2] = v.z, b.w[3] = v.w;
#endif
    return b;
}

// The values of 16 loaded bytes as fp32: 4 floats, or 8 bf16 (little-endian: the lower half of
// each word is the earlier value).
__device__ __forceinline__ void unpack16(const Bits16& b, float out[4], float) {
#pragma unroll
    for (int i = 0; i < 4; ++i) out[i] = __uint_as_float(b.w[i]);
}
__device__ __forceinline__ void unpack16(const Bits16& b, float out[8], uint16_t) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        out[2 * i] = __uint_as_float(b.w[i] << 16);
        out[2 * i + 1] = __uint_as_float(b.w[i] & 0xffff0000u);
    }
}

// Eight consecutive bf16 values from a 16-byte aligned address, as fp32: one 16-byte load.
__device__ __forceinline__ void load_bf16x8(const uint16_t* p, float out[8]) { unpack16(load16(p), out, uint16_t{}); }

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(uint16_t h) { return bf16_bits_to_f32(h); }

// Rows 0..cn-1 of K and V (D values each, row stride `stride` elements of fp32 or bf16 bits) into
// shared memory as fp32: k_s with row stride D + 1 (conflict-free reads of a row per thread), v_s
// with row stride D. A block of THREADS threads; VEC: 16-byte loads, LOADS of K and LOADS of V per
// thread in flight before any store (D * sizeof(KV) and both addresses 16-byte aligned), so the
// chunk costs one round trip to memory per THREADS * LOADS * 16 bytes of each, not one per row.
template <int THREADS, int LOADS, bool VEC, typename KV>
__device__ __forceinline__ void stage_kv(float* k_s, float* v_s, const KV* kb, const KV* vb, int64_t stride, int cn,
                                         int D) {
    if (VEC) {
        constexpr int E = 16 / int(sizeof(KV));  // values per load
        const int per_row = D / E, total = cn * per_row;
        for (int base = 0; base < total; base += LOADS * THREADS) {
            Bits16 kbuf[LOADS], vbuf[LOADS];
#pragma unroll
            for (int b = 0; b < LOADS; ++b) {
                const int i = base + b * THREADS + int(threadIdx.x);
                if (i < total) {
                    const int64_t off = int64_t(i / per_row) * stride + (i % per_row) * E;
                    kbuf[b] = load16(kb + off);
                    vbuf[b] = load16(vb + off);
                } else {
                    kbuf[b] = vbuf[b] = Bits16{};
                }
            }
#pragma unroll
            for (int b = 0; b < LOADS; ++b) {
                const int i = base + b * THREADS + int(threadIdx.x);
                if (i >= total) break;
                const int row = i / per_row, col = (i % per_row) * E;
                float kv[E], vv[E];
                unpack16(kbuf[b], kv, KV{});
                unpack16(vbuf[b], vv, KV{});
#pragma unroll
                for (int e = 0; e < E; ++e) {
                    k_s[row * (D + 1) + col + e] = kv[e];
                    v_s[row * D + col + e] = vv[e];
                }
            }
        }
    } else {
        for (int i = threadIdx.x; i < cn * D; i += THREADS) {
            const int row = i / D, col = i % D;
            const int64_t off = int64_t(row) * stride + col;
            k_s[row * (D + 1) + col] = to_f32(kb[off]);
            v_s[row * D + col] = to_f32(vb[off]);
        }
    }
}

// Whether 16-byte staging applies to a cache of element size `elem` bytes: every row start of
// every slot 16-byte aligned.
inline bool stage_kv_aligned(const void* k, const void* v, int64_t head_dim, int64_t slot_stride, int64_t elem) {
    return (head_dim * elem) % 16 == 0 && (slot_stride * elem) % 16 == 0 && reinterpret_cast<uintptr_t>(k) % 16 == 0 &&
           reinterpret_cast<uintptr_t>(v) % 16 == 0;
}

// cos and sin of the angle of pair i (< head_dim / 2) at position pos, with ref_rope_table's
// arithmetic: inv_freq in double rounded to fp32, the angle in fp32, cos and sin in double.
__device__ __forceinline__ void rope_cos_sin(int32_t pos, int i, int head_dim, float theta, float& c, float& s) {
    const float inv_freq = float(1.0 / pow(double(theta), double(2 * i) / double(head_dim)));
    const float angle = float(pos) * inv_freq;
    c = float(cos(double(angle)));
    s = float(sin(double(angle)));
}

// rotate_half on one pair (x1 = v[i], x2 = v[i + head_dim / 2]).
__device__ __forceinline__ void rope_rotate(float& x1, float& x2, float c, float s) {
    const float a = x1, b = x2;
    x1 = a * c - b * s;
    x2 = b * c + a * s;
}

}  // namespace cuda_dev
}  // namespace adabench
