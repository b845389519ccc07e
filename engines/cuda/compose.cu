// Weight-composition kernels (see compose.cuh): one grid-stride elementwise kernel per source and
// output type, and the LoRA delta as one SGEMM.
//
// Not here: tuned variants (vectorised loads); the merge reads each source once and writes once, so
// it runs at memory bandwidth already for the model sizes this serves.
#include "engines/cuda/compose.cuh"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "engines/cuda/cuda_check.cuh"
#include "engines/cuda/device_math.cuh"
#include "engines/cuda/launch.cuh"

namespace adabench {

namespace {

constexpr int kBlock = 256;

void check_launch(const char* op) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        throw Error(std::string("CUDA kernel launch failed in ") + op + ": " + cudaGetErrorString(err));
}

void check_terms(const char* op, const ComposeTerms& t, int64_t n) {
    if (n < 0) throw Error(std::string(op) + ": n is negative (" + std::to_string(n) + ")");
    int want_min = t.op == COMPOSE_OP_COPY ? 1 : 2;
    int want_max = t.op == COMPOSE_OP_TASK ? kComposeMaxSources : want_min;
    if (t.op != COMPOSE_OP_COPY && t.op != COMPOSE_OP_LINEAR && t.op != COMPOSE_OP_TASK)
        throw Error(std::string(op) + ": unknown op " + std::to_string(int(t.op)));
    if (t.n_src < want_min || t.n_src > want_max)
        throw Error(std::string(op) + ": op " + std::to_string(int(t.op)) + " with " + std::to_string(t.n_src) +
                    " sources (wants " + std::to_string(want_min) + ".." + std::to_string(want_max) + ")");
    for (int k = 0; k < t.n_src; ++k)
        if (!t.src[k] && n > 0) throw Error(std::string(op) + ": source " + std::to_string(k) + " is null");
}

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>((n + kBlock - 1) / kBlock, 65535)); }

__device__ __forceinline__ float load_f32(const void* p, int64_t i, uint16_t) {
    return cuda_dev::bf16_bits_to_f32(static_cast<const uint16_t*>(p)[i]);
}
__device__ __forceinline__ float load_f32(const void* p, int64_t i, float) { return static_cast<const float*>(p)[i]; }


// The merge of element i: merge.cpp's formulas with explicit rounding (no FMA contraction).
template <class Tin>
__device__ __forceinline__ float merge_at(const ComposeTerms& t, int64_t i) {
    const Tin tag{};
    if (t.op == COMPOSE_OP_COPY) return load_f32(t.src[0], i, tag);
    if (t.op == COMPOSE_OP_LINEAR)
        return __fadd_rn(__fmul_rn(t.coef[0], load_f32(t.src[0], i, tag)),
                         __fmul_rn(t.coef[1], load_f32(t.src[1], i, tag)));
    const float base = load_f32(t.src[0], i, tag);
    float v = base;
    // A fixed trip count keeps t.src[k] / t.coef[k] constant-indexed in parameter space (a loop to
    // t.n_src would copy the struct to local memory).
#pragma unroll
    for (int k = 1; k < kComposeMaxSources; ++k)
        if (k < t.n_src) v = __fadd_rn(v, __fmul_rn(t.coef[k], __fsub_rn(load_f32(t.src[k], i, tag), base)));
    return v;
}

template <class Tin>
__global__ void compose_merge(ComposeTerms t, int64_t n, uint16_t* out_bf16, float* out_f32) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const float v = merge_at<Tin>(t, i);
        if (out_bf16) {
            out_bf16[i] = cuda_dev::f32_to_bf16_bits(v);
        } else {
            out_f32[i] = v;
        }
    }
}

}  // namespace

void compose_merge_bf16_cuda(const ComposeTerms& terms, int64_t n, uint16_t* out_bf16, float* out_f32,
                             cudaStream_t stream) {
    check_terms("compose_merge_bf16", terms, n);
    if ((out_bf16 == nullptr) == (out_f32 == nullptr))
        throw Error("compose_merge_bf16: give exactly one of out_bf16 and out_f32");
    if (n == 0) return;
    ADABENCH_LAUNCH(compose_merge<uint16_t>, grid_for(n), kBlock, stream, terms, n, out_bf16, out_f32);
    check_launch("compose_merge_bf16");
}

void compose_merge_f32_cuda(const ComposeTerms& terms, int64_t n, float* out, cudaStream_t stream) {
    check_terms("compose_merge_f32", terms, n);
    if (!out && n > 0) throw Error("compose_merge_f32: out is null");
    if (n == 0) return;
    ADABENCH_LAUNCH(compose_merge<float>, grid_for(n), kBlock, stream, terms, n, nullptr, out);
    check_launch("compose_merge_f32");
}

void compose_lora_delta_f32_cuda(cublasHandle_t handle, const float* a, const float* b, int r, int n_in, int n_out,
                                 float scale, float* w) {
    if (r <= 0 || n_in < 0 || n_out < 0)
        throw Error("compose_lora_delta_f32: bad shape r " + std::to_string(r) + ", n_in " + std::to_string(n_in) +
                    ", n_out " + std::to_string(n_out));
    if (n_in == 0 || n_out == 0) return;
    // Column-major view: w^T (n_in, n_out) = A^T (n_in, r) B^T (r, n_out), where the row-major A is
    // the column-major A^T with ld n_in and the row-major B is B^T with ld r.
    const float beta = 1.0f;
    CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n_in, n_out, r, &scale, a, n_in, b, r, &beta, w, n_in));
}

}  // namespace adabench
