// Matrix products the CUDA backend runs itself instead of through cuBLAS.
//
// A batch-invariant matrix product for the CUDA backend's opt-in exact mode: each output
// y[t, o] = beta * y[t, o] + alpha * sum_k x[t, k] * W[o, k] is one fp32 fused multiply-add chain
// over k in increasing order, computed the same way whatever the number of tokens in the step and
// wherever the row sits in the batch. cuBLAS picks its kernel (tile shape, split-K) by problem
// size, so with it a sequence's logits can change in the last bits with the batch around it; with
// this product they cannot, and a budget-fork sweep on the GPU is token-identical to separate runs.
//
// The price: CUDA cores, not tensor cores. Decode steps stay close to memory-bound up to a few
// dozen tokens; prefill is several times slower than cuBLAS. Hence opt-in
// (CudaBackendOptions::batch_invariant, ADABENCH_CUDA_BATCH_INVARIANT=1).
//
// W is (n_out, n_in) row-major, bf16 bits or fp32; x is (n_tok, n_in), bf16 bits or fp32; y fp32
// with row stride ldy. Twin: ref_matmul_rows (engines/cpu/ops_ref.h), which sums in the same order
// with separate multiply and add (results agree to rounding, not bit for bit).
#pragma once
#ifndef ADABENCH_BLOCK_EMULATION
#include <cuda_runtime.h>
#endif

#include <cstdint>

namespace adabench {

// ---- the exact mode's batch-invariant product ----

void matmul_invariant_bf16_cuda(const uint16_t* w, const uint16_t* x, int n_tok, int n_in, int n_out, float* y, int ldy,
                                float alpha, float beta, cudaStream_t stream);
void matmul_invariant_f32_cuda(const float* w, const float* x, int n_tok, int n_in, int n_out, float* y, int ldy,
                               float alpha, float beta, cudaStream_t stream);

// ---- the small-batch product (decode of up to kMatvecMaxTokens sequences) ----
//
// y[t, o] = beta * y[t, o] + sum_k x[t, k] * W[o, k] for n_tok <= kMatvecMaxTokens tokens, bf16 W
// and x, fp32 accumulation: a matrix-vector product that reads each weight once, one warp per
// output row, 16-byte loads of W and x when both are 16-byte aligned and n_in % 8 == 0 (otherwise
// one value per lane). Each lane sums its strided part of k in increasing order, then one thread
// adds the 32 lane sums in lane order: a token's result does not depend on n_tok or its place in
// the step.
// What cuBLAS runs for n_tok = 1 is its choice; this is the llama.cpp mul_mat_vec approach, meant
// to keep batch-1 decode at the memory bandwidth (bench-cuda-engine compares the two).
// Twin: ref_matmul_rows with bf16-rounded x (summation order differs: rounding only).
constexpr int kMatvecMaxTokens = 8;
void matvec_bf16_f32_cuda(const uint16_t* w, const uint16_t* x, int n_tok, int n_in, int n_out, float* y, int ldy,
                          float beta, cudaStream_t stream);

}  // namespace adabench
