// Kernels and launchers declared in ops.cuh: straightforward, correct-first versions (one thread
// per element, one block per row or per (sequence, head)). Each mirrors its twin in
// engines/cpu/ops_ref.h; the comments say where the order of fp32 operations differs.
// Not here: tuned variants (vectorised loads, bf16 KV cache, split-K attention), cuBLAS calls.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <string>

#include "common/error.h"
#include "engines/cuda/cuda_check.cuh"
#include "engines/cuda/device_math.cuh"
#include "engines/cuda/launch.cuh"
#include "engines/cuda/ops.cuh"

namespace adabench {

namespace {

constexpr int kBlock = 256;         // threads per block of the elementwise kernels
constexpr int kNormBlock = 256;     // threads per row of rms_norm
constexpr int kAttnBlock = 128;     // threads per (row, head) of attention
constexpr int kAttnChunk = 64;      // context positions staged and scored per step of the online softmax
constexpr int kAttnStageLoads = 8;  // 16-byte loads of K and of V each thread issues before storing any
constexpr int kAttnDimsPerThread = (kCudaAttentionMaxHeadDim + kAttnBlock - 1) / kAttnBlock;

// Shared memory of attention_f32 for head_dim D: q | K chunk (row stride D + 1) | V chunk | p |
// the two block reductions.
int attention_rows_smem_floats(int D) {
    return D + kAttnChunk * (D + 1) + kAttnChunk * D + kAttnChunk + 2 * (kAttnBlock / 32);
}

void check_launch(const char* op) {
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        throw Error(std::string("CUDA kernel launch failed in ") + op + ": " + cudaGetErrorString(err));
}

void check_size(const char* op, const char* what, int64_t v) {
    if (v < 0) throw Error(std::string(op) + ": " + what + " is negative (" + std::to_string(v) + ")");
}

unsigned grid_for(int64_t n, int block) { return unsigned((n + block - 1) / block); }

using cuda_dev::bf16_bits_to_f32;
using cuda_dev::f32_to_bf16_bits;

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

}  // namespace

// ---- embedding lookup ----

__global__ void get_rows_bf16_f32(const uint16_t* table, const int32_t* ids, int C, int n_vocab, float* out) {
    const int t = blockIdx.y;
    const int32_t id = ids[t];
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < C; i += gridDim.x * blockDim.x) {
        out[int64_t(t) * C + i] =
            (id < 0 || id >= n_vocab) ? __int_as_float(0x7fc00000) : bf16_bits_to_f32(table[int64_t(id) * C + i]);
    }
}

void get_rows_bf16_f32_cuda(const uint16_t* table, const int32_t* ids, int n_tok, int C, int n_vocab, float* out,
                            cudaStream_t stream) {
    check_size("get_rows_bf16_f32", "n_tok", n_tok);
    check_size("get_rows_bf16_f32", "C", C);
    if (n_tok == 0 || C == 0) return;
    if (n_tok > 65535) throw Error("get_rows_bf16_f32: n_tok " + std::to_string(n_tok) + " exceeds 65535 per launch");
    const dim3 grid{grid_for(C, kBlock), unsigned(n_tok), 1u};
    ADABENCH_LAUNCH(get_rows_bf16_f32, grid, kBlock, stream, table, ids, C, n_vocab, out);
    check_launch("get_rows_bf16_f32");
}

// ---- RMSNorm: one block per row; the sum of squares is a tree reduction (the twin sums in index
// order, so results differ by rounding only). Row r reads row rows[r] of x when rows is not null
// (the head's last positions) and writes y and/or its bf16 rounding yb (the next product's
// input), whichever is not null. ----

__global__ void rms_norm_f32(const float* x, const int32_t* rows, const float* w, float* y, uint16_t* yb, int n,
                             float eps) {
    __shared__ float partial[kNormBlock / 32];
    const int64_t row = blockIdx.x;
    const float* xr = x + (rows ? int64_t(rows[row]) : row) * n;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    ss = warp_sum(ss);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
    __syncthreads();
    float total = 0.0f;
    for (int i = 0; i < int(blockDim.x >> 5); ++i) total += partial[i];
    const float inv = 1.0f / sqrtf(total / float(n) + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = xr[i] * inv * w[i];
        if (y) y[row * n + i] = v;
        if (yb) yb[row * n + i] = f32_to_bf16_bits(v);
    }
}

static void rms_norm_launch(const float* x, const int32_t* rows, const float* w, float* y, uint16_t* yb, int n_rows,
                            int n, float eps, cudaStream_t stream) {
    check_size("rms_norm_f32", "n_rows", n_rows);
    check_size("rms_norm_f32", "n", n);
    if (n_rows == 0 || n == 0) return;
    ADABENCH_LAUNCH(rms_norm_f32, unsigned(n_rows), kNormBlock, stream, x, rows, w, y, yb, n, eps);
    check_launch("rms_norm_f32");
}

void rms_norm_f32_cuda(const float* x, const float* w, float* y, int n_rows, int n, float eps, cudaStream_t stream) {
    rms_norm_launch(x, nullptr, w, y, nullptr, n_rows, n, eps, stream);
}

void rms_norm_rows_cuda(const float* x, const int32_t* rows, const float* w, float* y, uint16_t* y_bf16, int n_rows,
                        int n, float eps, cudaStream_t stream) {
    if (!y && !y_bf16) throw Error("rms_norm_rows: no output (y and y_bf16 are both null)");
    rms_norm_launch(x, rows, w, y, y_bf16, n_rows, n, eps, stream);
}

// ---- RoPE (rotate_half): one thread per (token, head, i < head_dim/2) ----

__global__ void rope_f32(float* x, const int32_t* pos, int n_tok, int n_heads, int head_dim, float theta) {
    const int half = head_dim / 2;
    const int64_t total = int64_t(n_tok) * n_heads * half;
    for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
         idx += int64_t(gridDim.x) * blockDim.x) {
        const int i = int(idx % half);
        const int64_t th = idx / half;  // token * n_heads + head
        const int t = int(th / n_heads);
        float c, s;
        cuda_dev::rope_cos_sin(pos[t], i, head_dim, theta, c, s);
        float* v = x + th * head_dim;
        float x1 = v[i], x2 = v[i + half];
        cuda_dev::rope_rotate(x1, x2, c, s);
        v[i] = x1;
        v[i + half] = x2;
    }
}

void rope_f32_cuda(float* x, const int32_t* pos, int n_tok, int n_heads, int head_dim, float theta,
                   cudaStream_t stream) {
    check_size("rope_f32", "n_tok", n_tok);
    check_size("rope_f32", "n_heads", n_heads);
    check_size("rope_f32", "head_dim", head_dim);
    if (head_dim % 2 != 0) throw Error("rope_f32: head_dim " + std::to_string(head_dim) + " is odd");
    const int64_t total = int64_t(n_tok) * n_heads * (head_dim / 2);
    if (total == 0) return;
    const unsigned grid = unsigned(std::min<int64_t>(grid_for(total, kBlock), 65535));
    ADABENCH_LAUNCH(rope_f32, grid, kBlock, stream, x, pos, n_tok, n_heads, head_dim, theta);
    check_launch("rope_f32");
}

// ---- elementwise ----

__global__ void silu_mul_f32(const float* g, const float* u, float* y, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        const float gv = g[i];
        y[i] = gv / (1.0f + expf(-gv)) * u[i];
    }
}

void silu_mul_f32_cuda(const float* g, const float* u, float* y, int64_t n, cudaStream_t stream) {
    check_size("silu_mul_f32", "n", n);
    if (n == 0) return;
    const unsigned grid = unsigned(std::min<int64_t>(grid_for(n, kBlock), 65535));
    ADABENCH_LAUNCH(silu_mul_f32, grid, kBlock, stream, g, u, y, n);
    check_launch("silu_mul_f32");
}

__global__ void add_f32(float* y, const float* x, int64_t n) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        y[i] += x[i];
}

void add_f32_cuda(float* y, const float* x, int64_t n, cudaStream_t stream) {
    check_size("add_f32", "n", n);
    if (n == 0) return;
    const unsigned grid = unsigned(std::min<int64_t>(grid_for(n, kBlock), 65535));
    ADABENCH_LAUNCH(add_f32, grid, kBlock, stream, y, x, n);
    check_launch("add_f32");
}

__global__ void add_bias_f32(float* y, const float* bias, int64_t n, int n_cols) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        y[i] += bias[i % n_cols];
}

void add_bias_f32_cuda(float* y, const float* bias, int n_rows, int n_cols, cudaStream_t stream) {
    check_size("add_bias_f32", "n_rows", n_rows);
    check_size("add_bias_f32", "n_cols", n_cols);
    const int64_t n = int64_t(n_rows) * n_cols;
    if (n == 0) return;
    const unsigned grid = unsigned(std::min<int64_t>(grid_for(n, kBlock), 65535));
    ADABENCH_LAUNCH(add_bias_f32, grid, kBlock, stream, y, bias, n, n_cols);
    check_launch("add_bias_f32");
}

// ---- fused projections' outputs ----

__global__ void split_qkv_f32(const float* qkv, const float* bq, const float* bk, const float* bv, int q_dim,
                              int kv_dim, float* q, float* k, float* v) {
    const int64_t t = blockIdx.y;
    const int width = q_dim + 2 * kv_dim;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < width; c += gridDim.x * blockDim.x) {
        const float val = qkv[t * width + c];
        if (c < q_dim) {
            q[t * q_dim + c] = bq ? val + bq[c] : val;
        } else if (c < q_dim + kv_dim) {
            const int j = c - q_dim;
            k[t * kv_dim + j] = bk ? val + bk[j] : val;
        } else {
            const int j = c - q_dim - kv_dim;
            v[t * kv_dim + j] = bv ? val + bv[j] : val;
        }
    }
}

void split_qkv_f32_cuda(const float* qkv, const float* bq, const float* bk, const float* bv, int n_tok, int q_dim,
                        int kv_dim, float* q, float* k, float* v, cudaStream_t stream) {
    check_size("split_qkv_f32", "n_tok", n_tok);
    check_size("split_qkv_f32", "q_dim", q_dim);
    check_size("split_qkv_f32", "kv_dim", kv_dim);
    if (n_tok > 65535) throw Error("split_qkv_f32: " + std::to_string(n_tok) + " tokens (limit 65535)");
    const int width = q_dim + 2 * kv_dim;
    if (n_tok == 0 || width == 0) return;
    const dim3 grid(std::min<unsigned>(grid_for(width, kBlock), 64u), unsigned(n_tok));
    ADABENCH_LAUNCH(split_qkv_f32, grid, kBlock, stream, qkv, bq, bk, bv, q_dim, kv_dim, q, k, v);
    check_launch("split_qkv_f32");
}

__global__ void swiglu_f32(const float* gu, int n_ff, float* y, uint16_t* yb) {
    const int64_t t = blockIdx.y;
    const float* g = gu + t * 2 * n_ff;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n_ff; i += gridDim.x * blockDim.x) {
        const float gv = g[i];
        const float v = gv / (1.0f + expf(-gv)) * g[n_ff + i];  // as silu_mul_f32
        if (y) y[t * n_ff + i] = v;
        if (yb) yb[t * n_ff + i] = f32_to_bf16_bits(v);
    }
}

void swiglu_f32_cuda(const float* gu, int n_tok, int n_ff, float* y, cudaStream_t stream, uint16_t* y_bf16) {
    check_size("swiglu_f32", "n_tok", n_tok);
    check_size("swiglu_f32", "n_ff", n_ff);
    if (n_tok > 65535) throw Error("swiglu_f32: " + std::to_string(n_tok) + " tokens (limit 65535)");
    if (n_tok == 0 || n_ff == 0) return;
    if (!y && !y_bf16) throw Error("swiglu_f32: no output (y and y_bf16 are both null)");
    const dim3 grid(std::min<unsigned>(grid_for(n_ff, kBlock), 64u), unsigned(n_tok));
    ADABENCH_LAUNCH(swiglu_f32, grid, kBlock, stream, gu, n_ff, y, y_bf16);
    check_launch("swiglu_f32");
}

// ---- attention over the cache, one block per (head, query row). The context is taken a chunk of
// 64 positions at a time: K and V of the chunk are staged into shared memory with every thread's
// loads in flight together (16-byte loads where the layout allows), so a chunk costs a round trip
// or two to memory rather than one per position; then thread j scores position j, a block max and
// sum fold the chunk into the running max, sum and output (online softmax), and thread d owns
// output dims d, d + 128. The twin normalises each probability before the V sum; here the sum
// divides once at the end. ----

// KV is float (fp32 cache) or uint16_t (bf16 cache bits); scores and softmax are fp32 either way.
__device__ __forceinline__ float kv_to_f32(float x) { return x; }
__device__ __forceinline__ float kv_to_f32(uint16_t h) { return bf16_bits_to_f32(h); }

template <typename KV, bool VEC>
__global__ void __launch_bounds__(kAttnBlock)
    attention_f32(const float* q, const KV* k, const KV* v, int64_t seq_stride, const int32_t* row_index,
                  const int32_t* row_slot, const int32_t* n_ctx, int n_heads, int n_kv_heads, int head_dim, float scale,
                  float* out, uint16_t* out_b) {
    ADABENCH_DYNAMIC_SHARED(float, smem);
    const int D = head_dim;
    float* q_s = smem;
    float* k_s = q_s + D;
    float* v_s = k_s + kAttnChunk * (D + 1);
    float* p_s = v_s + kAttnChunk * D;
    float* red = p_s + kAttnChunk;  // [0, warps): chunk max; [warps, 2 warps): chunk sum
    const int h = blockIdx.x, s = row_index ? row_index[blockIdx.y] : int(blockIdx.y);  // s: query row
    const int64_t slot = row_slot ? row_slot[s] : s;
    const int kvh = h / (n_heads / n_kv_heads);
    const int64_t kv_stride = int64_t(n_kv_heads) * D;
    const float* qh = q + (int64_t(s) * n_heads + h) * D;
    const KV* kb = k + slot * seq_stride + int64_t(kvh) * D;
    const KV* vb = v + slot * seq_stride + int64_t(kvh) * D;
    const int64_t oh = (int64_t(s) * n_heads + h) * D;
    const int n = n_ctx[s];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    constexpr int kWarps = kAttnBlock / 32;

    for (int d = tid; d < D; d += kAttnBlock) q_s[d] = qh[d];

    float m = -INFINITY, l = 0.0f;
    float acc[kAttnDimsPerThread];
#pragma unroll
    for (int r = 0; r < kAttnDimsPerThread; ++r) acc[r] = 0.0f;

    for (int c0 = 0; c0 < n; c0 += kAttnChunk) {
        const int cn = min(kAttnChunk, n - c0);
        cuda_dev::stage_kv<kAttnBlock, kAttnStageLoads, VEC>(k_s, v_s, kb + int64_t(c0) * kv_stride,
                                                             vb + int64_t(c0) * kv_stride, kv_stride, cn, D);
        __syncthreads();
        // Thread j scores position c0 + j; the chunk's max over the block.
        float sc = -INFINITY;
        if (tid < cn) {
            const float* kr = k_s + tid * (D + 1);
            float dot = 0.0f;
            for (int d = 0; d < D; ++d) dot += q_s[d] * kr[d];
            sc = dot * scale;
        }
        float cm = sc;
        for (int o = 16; o > 0; o >>= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, o));
        if (lane == 0) red[warp] = cm;
        __syncthreads();
        cm = red[0];
        for (int w = 1; w < kWarps; ++w) cm = fmaxf(cm, red[w]);
        const float new_m = fmaxf(m, cm);
        const float corr = expf(m - new_m);  // 0 on the first chunk (m = -inf)
        const float p = tid < cn ? expf(sc - new_m) : 0.0f;
        if (tid < kAttnChunk) p_s[tid] = p;
        const float psum = warp_sum(p);
        if (lane == 0) red[kWarps + warp] = psum;
        __syncthreads();
        float chunk_sum = 0.0f;
        for (int w = 0; w < kWarps; ++w) chunk_sum += red[kWarps + w];
        l = l * corr + chunk_sum;
#pragma unroll
        for (int r = 0; r < kAttnDimsPerThread; ++r) {
            const int d = tid + r * kAttnBlock;
            if (d >= D) break;
            float a = acc[r] * corr;
            for (int jj = 0; jj < cn; ++jj) a += p_s[jj] * v_s[jj * D + d];
            acc[r] = a;
        }
        m = new_m;
        __syncthreads();  // k_s, v_s, p_s and red are rewritten by the next chunk
    }
#pragma unroll
    for (int r = 0; r < kAttnDimsPerThread; ++r) {
        const int d = tid + r * kAttnBlock;
        if (d >= D) break;
        const float val = n > 0 ? acc[r] / l : 0.0f;
        out[oh + d] = val;
        if (out_b) out_b[oh + d] = f32_to_bf16_bits(val);
    }
}

template <typename KV>
static void attention_launch(const char* op, const float* q, const KV* k, const KV* v, int64_t seq_stride,
                             const int32_t* row_index, const int32_t* row_slot, const int32_t* n_ctx, int n_rows,
                             int n_heads, int n_kv_heads, int head_dim, float scale, float* out, uint16_t* out_b,
                             cudaStream_t stream) {
    check_size(op, "n_rows", n_rows);
    if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0)
        throw Error(std::string(op) + ": n_heads " + std::to_string(n_heads) + " is not a positive multiple of " +
                    "n_kv_heads " + std::to_string(n_kv_heads));
    if (head_dim <= 0 || head_dim > kCudaAttentionMaxHeadDim)
        throw Error(std::string(op) + ": head_dim " + std::to_string(head_dim) + " outside [1, " +
                    std::to_string(kCudaAttentionMaxHeadDim) + "]");
    if (n_rows == 0) return;
    if (n_rows > 65535) throw Error(std::string(op) + ": " + std::to_string(n_rows) + " query rows exceed 65535");
    const dim3 grid{unsigned(n_heads), unsigned(n_rows), 1u};
    // 16-byte staging when every K/V row start is 16-byte aligned.
    const bool vec = cuda_dev::stage_kv_aligned(k, v, head_dim, seq_stride, int64_t(sizeof(KV)));
    auto rows_kernel = vec ? attention_f32<KV, true> : attention_f32<KV, false>;
    const int smem = attention_rows_smem_floats(head_dim) * int(sizeof(float));
    opt_in_shared_memory(rows_kernel, smem, op);
    ADABENCH_LAUNCH_SMEM(rows_kernel, grid, kAttnBlock, size_t(smem), stream, q, k, v, seq_stride, row_index, row_slot,
                         n_ctx, n_heads, n_kv_heads, head_dim, scale, out, out_b);
    check_launch(op);
}

int attention_rows_smem_bytes(int head_dim) {
    if (head_dim <= 0 || head_dim > kCudaAttentionMaxHeadDim) return 0;
    return attention_rows_smem_floats(head_dim) * int(sizeof(float));
}

void attention_decode_f32_cuda(const float* q, const float* k, const float* v, int64_t seq_stride, const int32_t* n_ctx,
                               int n_seq, int n_heads, int n_kv_heads, int head_dim, float scale, float* out,
                               cudaStream_t stream) {
    attention_launch("attention_decode_f32", q, k, v, seq_stride, nullptr, nullptr, n_ctx, n_seq, n_heads, n_kv_heads,
                     head_dim, scale, out, nullptr, stream);
}

void attention_f32_cuda(const float* q, const float* k, const float* v, int64_t slot_stride, const int32_t* row_slot,
                        const int32_t* row_n_ctx, int n_rows, int n_heads, int n_kv_heads, int head_dim, float scale,
                        float* out, cudaStream_t stream) {
    attention_launch("attention_f32", q, k, v, slot_stride, nullptr, row_slot, row_n_ctx, n_rows, n_heads, n_kv_heads,
                     head_dim, scale, out, nullptr, stream);
}

void attention_f32_rows_cuda(bool kv_bf16, const float* q, const void* k, const void* v, int64_t slot_stride,
                             const int32_t* row_index, const int32_t* row_slot, const int32_t* row_n_ctx, int n_rows,
                             int n_heads, int n_kv_heads, int head_dim, float scale, float* out, cudaStream_t stream,
                             uint16_t* out_bf16) {
    if (kv_bf16)
        attention_launch("attention_f32 (bf16 cache)", q, static_cast<const uint16_t*>(k),
                         static_cast<const uint16_t*>(v), slot_stride, row_index, row_slot, row_n_ctx, n_rows, n_heads,
                         n_kv_heads, head_dim, scale, out, out_bf16, stream);
    else
        attention_launch("attention_f32", q, static_cast<const float*>(k), static_cast<const float*>(v), slot_stride,
                         row_index, row_slot, row_n_ctx, n_rows, n_heads, n_kv_heads, head_dim, scale, out, out_bf16,
                         stream);
}

// ---- KV cache append: row t of k_new / v_new goes to (slot[t], pos[t]) ----

__global__ void kv_append_f32(const float* k_new, const float* v_new, const int32_t* slot, const int32_t* pos,
                              int kv_dim, int64_t slot_stride, float* k_cache, float* v_cache) {
    const int t = blockIdx.y;
    const int64_t dst = int64_t(slot[t]) * slot_stride + int64_t(pos[t]) * kv_dim;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < kv_dim; i += gridDim.x * blockDim.x) {
        k_cache[dst + i] = k_new[int64_t(t) * kv_dim + i];
        v_cache[dst + i] = v_new[int64_t(t) * kv_dim + i];
    }
}

void kv_append_f32_cuda(const float* k_new, const float* v_new, const int32_t* slot, const int32_t* pos, int n_tok,
                        int kv_dim, int64_t slot_stride, float* k_cache, float* v_cache, cudaStream_t stream) {
    check_size("kv_append_f32", "n_tok", n_tok);
    check_size("kv_append_f32", "kv_dim", kv_dim);
    if (n_tok == 0 || kv_dim == 0) return;
    if (n_tok > 65535) throw Error("kv_append_f32: n_tok " + std::to_string(n_tok) + " exceeds 65535 per launch");
    const dim3 grid{grid_for(kv_dim, kBlock), unsigned(n_tok), 1u};
    ADABENCH_LAUNCH(kv_append_f32, grid, kBlock, stream, k_new, v_new, slot, pos, kv_dim, slot_stride, k_cache,
                    v_cache);
    check_launch("kv_append_f32");
}

// ---- bf16 conversion and the cuBLAS projection ----

__global__ void convert_f32_bf16(const float* x, int64_t n, uint16_t* out) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
        out[i] = f32_to_bf16_bits(x[i]);
    }
}

void convert_f32_bf16_cuda(const float* x, int64_t n, uint16_t* out, cudaStream_t stream) {
    check_size("convert_f32_bf16", "n", n);
    if (n == 0) return;
    const unsigned grid = unsigned(std::min<int64_t>(grid_for(n, kBlock), 65535));
    ADABENCH_LAUNCH(convert_f32_bf16, grid, kBlock, stream, x, n, out);
    check_launch("convert_f32_bf16");
}

void matmul_bf16_f32_cuda(cublasHandle_t handle, const uint16_t* w, const uint16_t* x, int n_tok, int n_in, int n_out,
                          float* y, int ldy, float beta) {
    check_size("matmul_bf16_f32", "n_tok", n_tok);
    check_size("matmul_bf16_f32", "n_in", n_in);
    check_size("matmul_bf16_f32", "n_out", n_out);
    if (ldy < n_out)
        throw Error("matmul_bf16_f32: ldy " + std::to_string(ldy) + " is smaller than n_out " + std::to_string(n_out));
    if (n_tok == 0 || n_out == 0) return;
    // Column-major view: W is (n_in, n_out) with lda n_in, x is (n_in, n_tok), y is (n_out, n_tok)
    // with ldc ldy, so y = op_T(W) x.
    const float alpha = 1.0f;
    CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n_tok, n_in, &alpha, w, CUDA_R_16BF, n_in, x,
                              CUDA_R_16BF, n_in, &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void matmul_f32_cuda(cublasHandle_t handle, const float* w, const float* x, int n_tok, int n_in, int n_out, float* y,
                     int ldy, float alpha, float beta) {
    check_size("matmul_f32", "n_tok", n_tok);
    check_size("matmul_f32", "n_in", n_in);
    check_size("matmul_f32", "n_out", n_out);
    if (ldy < n_out)
        throw Error("matmul_f32: ldy " + std::to_string(ldy) + " is smaller than n_out " + std::to_string(n_out));
    if (n_tok == 0 || n_out == 0) return;
    // Same column-major view as matmul_bf16_f32_cuda.
    CUBLAS_CHECK(
        cublasSgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n_tok, n_in, &alpha, w, n_in, x, n_in, &beta, y, ldy));
}

// ---- row gather and row scaling ----

__global__ void gather_rows_f32(const float* x, const int32_t* rows, int n_cols, float* out) {
    const int r = blockIdx.y;
    const int64_t src = int64_t(rows[r]) * n_cols;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < n_cols; c += gridDim.x * blockDim.x)
        out[int64_t(r) * n_cols + c] = x[src + c];
}

void gather_rows_f32_cuda(const float* x, const int32_t* rows, int n_rows, int n_cols, float* out,
                          cudaStream_t stream) {
    check_size("gather_rows_f32", "n_rows", n_rows);
    check_size("gather_rows_f32", "n_cols", n_cols);
    if (n_rows == 0 || n_cols == 0) return;
    if (n_rows > 65535) throw Error("gather_rows_f32: n_rows " + std::to_string(n_rows) + " exceeds 65535");
    const dim3 grid{grid_for(n_cols, kBlock), unsigned(n_rows), 1u};
    ADABENCH_LAUNCH(gather_rows_f32, grid, kBlock, stream, x, rows, n_cols, out);
    check_launch("gather_rows_f32");
}

__global__ void scale_rows_f32(float* x, const float* scale, int64_t n, int n_cols) {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
        x[i] *= scale[i / n_cols];
}

void scale_rows_f32_cuda(float* x, const float* scale, int n_rows, int n_cols, cudaStream_t stream) {
    check_size("scale_rows_f32", "n_rows", n_rows);
    check_size("scale_rows_f32", "n_cols", n_cols);
    const int64_t n = int64_t(n_rows) * n_cols;
    if (n == 0) return;
    const unsigned grid = unsigned(std::min<int64_t>(grid_for(n, kBlock), 65535));
    ADABENCH_LAUNCH(scale_rows_f32, grid, kBlock, stream, x, scale, n, n_cols);
    check_launch("scale_rows_f32");
}

// ---- greedy pick: one block of 1024 threads per row; each thread keeps its best (value, index)
// over its part of the row (16-byte loads when the row is 16-byte aligned), then a tree reduction
// in shared memory with the same order rule (larger value, then smaller index). The rule is a
// total order, so the result does not depend on who reads what. At batch 1 one block reads the
// whole vocabulary: many loads in flight per thread is what keeps it short. ----

constexpr int kArgmaxBlock = 1024;

__global__ void __launch_bounds__(kArgmaxBlock) argmax_rows_f32(const float* x, int n_cols, int32_t* out) {
    __shared__ float best_v[kArgmaxBlock];
    __shared__ int best_i[kArgmaxBlock];
    __shared__ int has_nan;
    const float* row = x + int64_t(blockIdx.x) * n_cols;
    const int tid = threadIdx.x;
    if (tid == 0) has_nan = 0;
    __syncthreads();
    float v = -INFINITY;
    int idx = INT_MAX;
    bool nan = false;
    auto take = [&](float e, int c) {
        if (isnan(e)) {
            nan = true;
        } else if (e > v || (e == v && c < idx)) {
            v = e;
            idx = c;
        }
    };
    int c_tail = 0;
    if ((reinterpret_cast<uintptr_t>(row) & 15u) == 0) {
        const int n4 = n_cols / 4;
#pragma unroll 4
        for (int c = tid; c < n4; c += kArgmaxBlock) {
            float f[4];
            cuda_dev::unpack16(cuda_dev::load16(row + int64_t(c) * 4), f, 0.0f);
#pragma unroll
            for (int j = 0; j < 4; ++j) take(f[j], 4 * c + j);
        }
        c_tail = n4 * 4;
    }
    for (int c = c_tail + tid; c < n_cols; c += kArgmaxBlock) take(row[c], c);
    if (nan) has_nan = 1;
    best_v[tid] = v;
    best_i[tid] = idx;
    __syncthreads();
    for (int half = kArgmaxBlock / 2; half > 0; half >>= 1) {
        if (tid < half) {
            const float ov = best_v[tid + half];
            const int oi = best_i[tid + half];
            if (ov > best_v[tid] || (ov == best_v[tid] && oi < best_i[tid])) {
                best_v[tid] = ov;
                best_i[tid] = oi;
            }
        }
        __syncthreads();
    }
    // Every logit -inf: no strict maximum; the host's sampling_greedy keeps id 0.
    if (tid == 0) out[blockIdx.x] = has_nan ? -1 : (best_i[0] == INT_MAX ? 0 : best_i[0]);
}

void argmax_rows_f32_cuda(const float* x, int n_rows, int n_cols, int32_t* out, cudaStream_t stream) {
    check_size("argmax_rows_f32", "n_rows", n_rows);
    if (n_cols <= 0) throw Error("argmax_rows_f32: n_cols must be positive, got " + std::to_string(n_cols));
    if (n_rows == 0) return;
    ADABENCH_LAUNCH(argmax_rows_f32, unsigned(n_rows), kArgmaxBlock, stream, x, n_cols, out);
    check_launch("argmax_rows_f32");
}

}  // namespace adabench
