// CUDA kernels of the weight composition on the device (CudaBackend::compose): the model merges of
// engines/model/merge.h as elementwise fp32 arithmetic over bf16 (matrices) or fp32 (norms, biases)
// sources, and the merged-LoRA delta W += s * B A as one fp32 cuBLAS SGEMM. Each has a scalar CPU
// twin in tests/cuda/test_cuda_compose.cpp; the formulas are merge.cpp's, term for term:
//   COMPOSE_OP_COPY    out = s0
//   COMPOSE_OP_LINEAR  out = c0 * s0 + c1 * s1                        (c0 = lambda, c1 = 1 - lambda)
//   COMPOSE_OP_TASK    out = s0; out += c_k * (s_k - s0) for k = 1..   (s0 = the base)
// computed in fp32 without contraction into FMAs (the twin is then exact), rounded to bf16 (nearest
// even, as convert_f32_bf16_cuda) or written as fp32.
//
// All pointers are device pointers; launchers only enqueue on `stream` (or on `handle`'s stream)
// and throw adabench::Error for arguments they can check on the host. Not here: which tensor gets
// which lambda (the backend, with merge_lambda_at / merge_layer_t), memory management.
#pragma once
#ifndef ADABENCH_BLOCK_EMULATION  // tests/emulation provides these
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#include <cstdint>

namespace adabench {

enum ComposeOp { COMPOSE_OP_COPY, COMPOSE_OP_LINEAR, COMPOSE_OP_TASK };

constexpr int kComposeMaxSources = 4;

// The sources and coefficients of one elementwise merge (passed by value to the kernel).
struct ComposeTerms {
    ComposeOp op = COMPOSE_OP_COPY;
    int n_src = 0;                             // COPY 1, LINEAR 2, TASK 2..kComposeMaxSources
    const void* src[kComposeMaxSources] = {};  // uint16_t* (bf16 bits) or float*, by launcher
    float coef[kComposeMaxSources] = {};       // LINEAR c0, c1; TASK c1.. (c0 unused)
};

// out = terms over n bf16 elements; exactly one of out_bf16 (rounded) and out_f32 is non-null.
void compose_merge_bf16_cuda(const ComposeTerms& terms, int64_t n, uint16_t* out_bf16, float* out_f32,
                             cudaStream_t stream);

// out = terms over n fp32 elements (norms and biases).
void compose_merge_f32_cuda(const ComposeTerms& terms, int64_t n, float* out, cudaStream_t stream);

// w (n_out, n_in) fp32 row-major += scale * B A with A (r, n_in), B (n_out, r) fp32 row-major:
// one cublasSgemm (no TF32: the handle's math mode is CUBLAS_DEFAULT_MATH) with beta 1.
void compose_lora_delta_f32_cuda(cublasHandle_t handle, const float* a, const float* b, int r, int n_in, int n_out,
                                 float scale, float* w);

}  // namespace adabench
