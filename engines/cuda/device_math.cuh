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

// Eight consecutive bf16 values from a 16-byte aligned address, as fp32: one 16-byte load.
__device__ __forceinline__ void load_bf16x8(const uint16_t* p, float out[8]) {
    uint32_t u[4];
#ifdef ADABENCH_BLOCK_EMULATION
    std::memcpy(u, p, sizeof(u));
#else
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    u[0] = v.x, u[1] = v.y, u[2] = v.z, u[3] = v.w;
#endif
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        out[2 * i] = __uint_as_float(u[i] << 16);  // little-endian: the lower half is the earlier value
        out[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
    }
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
