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
