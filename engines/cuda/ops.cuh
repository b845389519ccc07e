// CUDA kernels of the decoder forward pass, one launcher each (llama.cpp naming: kernel
// `rms_norm_f32`, launcher `rms_norm_f32_cuda(..., stream)`). Every op computes the same function
// as its scalar CPU twin in engines/cpu/ops_ref.h (tests/cuda/test_cuda_ops.cpp checks them):
// fp32 activations, bf16 only in the embedding table. All pointers are device pointers; launchers
// only enqueue work on `stream` (no allocation, no synchronisation) and throw adabench::Error for
// arguments they can check on the host (negative sizes, unsupported head_dim).
//
// Not here: matrix products (cuBLAS in the backend), KV-cache slot bookkeeping, LoRA, sampling.
// The plain header types keep it includable from host-only .cpp files (tests).
#pragma once
#ifndef ADABENCH_BLOCK_EMULATION  // tests/emulation provides the few CUDA types used here
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#include <cstdint>

namespace adabench {

// out[t*C + i] = bf16_to_f32(table[ids[t]*C + i]) for t in [0, n_tok). An id outside
// [0, n_vocab) gives a row of NaN (the backend checks ids on the host before launching).
void get_rows_bf16_f32_cuda(const uint16_t* table, const int32_t* ids, int n_tok, int C, int n_vocab, float* out,
                            cudaStream_t stream);

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for each of n_rows rows of n (twin: ref_rms_norm).
void rms_norm_f32_cuda(const float* x, const float* w, float* y, int n_rows, int n, float eps, cudaStream_t stream);

// The same norm over selected rows, fused with the bf16 rounding of the next product's input:
// output row r is the norm of row rows[r] of x (of row r when rows is null); it goes to y (fp32)
// and/or to y_bf16 (bf16 bits, rounded as convert_f32_bf16_cuda), whichever is not null; both
// null throws. Bit-identical to rms_norm_f32_cuda (+ gather_rows_f32_cuda, convert_f32_bf16_cuda).
void rms_norm_rows_cuda(const float* x, const int32_t* rows, const float* w, float* y, uint16_t* y_bf16, int n_rows,
                        int n, float eps, cudaStream_t stream);

// In-place RoPE, Hugging Face rotate_half, on x (n_tok, n_heads, head_dim): token t is at absolute
// position pos[t]; angles as ref_rope_table computes them (inv_freq in double rounded to fp32,
// angle in fp32, cos/sin in double). head_dim must be even.
void rope_f32_cuda(float* x, const int32_t* pos, int n_tok, int n_heads, int head_dim, float theta,
                   cudaStream_t stream);

// y[i] = silu(g[i]) * u[i] (SwiGLU; twin: ref_silu_mul). y may alias g or u.
void silu_mul_f32_cuda(const float* g, const float* u, float* y, int64_t n, cudaStream_t stream);

// y[i] += x[i] (residual add; twin: ref_add).
void add_f32_cuda(float* y, const float* x, int64_t n, cudaStream_t stream);

// y[r*n_cols + c] += bias[c] for n_rows rows (q/k/v bias; twin: ref_add per row).
void add_bias_f32_cuda(float* y, const float* bias, int n_rows, int n_cols, cudaStream_t stream);

// The fused q/k/v projection's output qkv (n_tok, q_dim + 2 kv_dim), columns [q | k | v], split
// into contiguous q (n_tok, q_dim), k, v (n_tok, kv_dim), each plus its bias when the bias pointer
// is not null (twin: the column blocks plus ref_add per row). n_tok <= 65535.
void split_qkv_f32_cuda(const float* qkv, const float* bq, const float* bk, const float* bv, int n_tok, int q_dim,
                        int kv_dim, float* q, float* k, float* v, cudaStream_t stream);

// SwiGLU over the fused gate/up projection gu (n_tok, 2 n_ff), columns [gate | up]:
// y[t, i] = silu(gu[t, i]) * gu[t, n_ff + i], y (n_tok, n_ff) (twin: ref_silu_mul on the halves).
// y_bf16, when not null, receives the same values rounded to bf16 (the down projection's input,
// bit-identical to convert_f32_bf16_cuda of y); y may then be null. n_tok <= 65535.
void swiglu_f32_cuda(const float* gu, int n_tok, int n_ff, float* y, cudaStream_t stream, uint16_t* y_bf16 = nullptr);

// Largest head_dim attention_decode_f32_cuda accepts.
constexpr int kCudaAttentionMaxHeadDim = 256;

// Dynamic shared memory (bytes) of one block of the attention kernels below for head_dim (K and V
// of 64 positions staged in fp32: 66.6 KB at head_dim 128, 132.6 KB at 256, under sm_80's 163 KB);
// 0 outside [1, kCudaAttentionMaxHeadDim].
int attention_rows_smem_bytes(int head_dim);

// Decode attention, one query row per sequence over a contiguous fp32 KV cache, GQA:
//   q     (n_seq, n_heads, head_dim)
//   k, v  sequence s's position j, kv head g at k[s*seq_stride + j*n_kv_heads*head_dim + g*head_dim]
//   n_ctx device array (n_seq): positions to attend to (the new token's K/V already appended); >= 1
//   out   (n_seq, n_heads, head_dim) = softmax(q . K^T * scale) V, query head h reads kv head
//         h / (n_heads / n_kv_heads). fp32 scores and softmax (online, chunked). n_ctx[s] == 0
//         gives a zero row.
// Twin: ref_attention_row. n_heads must be a multiple of n_kv_heads; head_dim <= 256.
void attention_decode_f32_cuda(const float* q, const float* k, const float* v, int64_t seq_stride, const int32_t* n_ctx,
                               int n_seq, int n_heads, int n_kv_heads, int head_dim, float scale, float* out,
                               cudaStream_t stream);

// The general form (prefill and decode, any slot): query row r reads the cache of slot row_slot[r]
// (base k + row_slot[r]*slot_stride, same per-position layout as above) over its first
// row_n_ctx[r] positions. For causal prefill, row_n_ctx[r] = pos[r] + 1 after kv_append_f32_cuda
// has stored the step's K/V. q, out are (n_rows, n_heads, head_dim). Twin: ref_attention_row.
void attention_f32_cuda(const float* q, const float* k, const float* v, int64_t slot_stride, const int32_t* row_slot,
                        const int32_t* row_n_ctx, int n_rows, int n_heads, int n_kv_heads, int head_dim, float scale,
                        float* out, cudaStream_t stream);

// attention_f32_cuda generalised (the backend's entry, through attention_rows_cuda): the cache
// holds fp32 values, or bf16 bits when kv_bf16 (converted to fp32 on load; twin: ref_attention_row
// over the bf16-rounded K/V), slot_stride in elements; and when row_index is not null, the n_rows
// blocks compute query rows row_index[0..n_rows) (q, out, row_slot, row_n_ctx indexed by those row
// numbers) and leave the other rows of out alone. out_bf16, when not null, receives out rounded
// to bf16 (as convert_f32_bf16_cuda), same layout.
void attention_f32_rows_cuda(bool kv_bf16, const float* q, const void* k, const void* v, int64_t slot_stride,
                             const int32_t* row_index, const int32_t* row_slot, const int32_t* row_n_ctx, int n_rows,
                             int n_heads, int n_kv_heads, int head_dim, float scale, float* out, cudaStream_t stream,
                             uint16_t* out_bf16 = nullptr);

// KV cache append: k_new, v_new (n_tok, kv_dim) rows go to position pos[t] of slot slot[t]:
// k_cache[slot[t]*slot_stride + pos[t]*kv_dim + i]. Slots and positions are checked by the caller.
void kv_append_f32_cuda(const float* k_new, const float* v_new, const int32_t* slot, const int32_t* pos, int n_tok,
                        int kv_dim, int64_t slot_stride, float* k_cache, float* v_cache, cudaStream_t stream);

// out[i] = bf16(x[i]), round to nearest even (twin: ref_f32_to_bf16), as raw bf16 bits.
void convert_f32_bf16_cuda(const float* x, int64_t n, uint16_t* out, cudaStream_t stream);

// y[t*ldy + o] = beta * y[t*ldy + o] + sum_k x[t*n_in + k] * W[o*n_in + k] for t < n_tok, o < n_out:
// the projection over all tokens of a step. W (n_out, n_in) row-major bf16, x (n_tok, n_in) bf16
// (convert_f32_bf16_cuda), y fp32; cublasGemmEx with CUBLAS_COMPUTE_32F on `handle`'s stream.
// beta = 1 accumulates (LoRA's B product). Twin: ref_matmul_rows with round_x_bf16.
void matmul_bf16_f32_cuda(cublasHandle_t handle, const uint16_t* w, const uint16_t* x, int n_tok, int n_in, int n_out,
                          float* y, int ldy, float beta);

// y[t*ldy + o] = beta * y[t*ldy + o] + alpha * sum_k x[t*n_in + k] * W[o*n_in + k], everything fp32
// (cublasSgemm, no TF32): the unmerged LoRA products, which the CPU backend also does in fp32.
// Twin: ref_matmul_rows without bf16 rounding.
void matmul_f32_cuda(cublasHandle_t handle, const float* w, const float* x, int n_tok, int n_in, int n_out, float* y,
                     int ldy, float alpha, float beta);

// out[r*n_cols + c] = x[rows[r]*n_cols + c] for r < n_rows: gathers the last position of each
// sequence before the final norm and lm_head. Row indices are checked by the caller.
void gather_rows_f32_cuda(const float* x, const int32_t* rows, int n_rows, int n_cols, float* out, cudaStream_t stream);

// x[r*n_cols + c] *= scale[r]: the per-token LoRA coefficient (coef * alpha / r) applied to u = x A^T
// between the two low-rank GEMMs.
void scale_rows_f32_cuda(float* x, const float* scale, int n_rows, int n_cols, cudaStream_t stream);

// out[r] = argmax of row r of x (n_rows, n_cols), ties to the lowest index; -1 when the row holds a
// NaN (the caller reports it). Twin: sampling_greedy (engines/generation/sampling.h), which throws on NaN.
void argmax_rows_f32_cuda(const float* x, int n_rows, int n_cols, int32_t* out, cudaStream_t stream);

}  // namespace adabench
