// matmul_invariant_* (see gemm.cuh). A block computes a tile of kTileO outputs x kTileT tokens:
// kThreads threads, each owning kPerThread consecutive outputs of one token. The k dimension is
// walked in chunks of kChunkK staged in shared memory (W converted to fp32 once per chunk), and
// every thread runs its outputs' FMA chains over k in increasing order. Nothing in the order
// depends on n_tok, on the tile a row falls in, or on the grid: the batch-invariance contract.
#include <cstdint>
#include <string>

#include "common/error.h"
#include "engines/cuda/device_math.cuh"
#include "engines/cuda/gemm.cuh"
#include "engines/cuda/launch.cuh"

namespace adabench {

namespace {

constexpr int kTileO = 64;                              // outputs per block
constexpr int kTileT = 32;                              // tokens per block
constexpr int kChunkK = 64;                             // k staged per step
constexpr int kPerThread = 8;                           // outputs per thread
constexpr int kThreads = kTileO * kTileT / kPerThread;  // 256

// Element i of bf16 bits or fp32 values, as fp32.
template <class T>
__device__ __forceinline__ float load_f32(const T* p, int64_t i) {
    return cuda_dev::to_f32(p[i]);
}

template <class WT, class XT>
__device__ __forceinline__ void matmul_invariant_body(const WT* w, const XT* x, int n_tok, int n_in, int n_out,
                                                      float* y, int ldy, float alpha, float beta,
                                                      float (*ws)[kChunkK + 1], float (*xs)[kChunkK + 1]) {
    const int tid = threadIdx.x;
    const int o0 = blockIdx.x * kTileO, t0 = blockIdx.y * kTileT;
    const int my_t = tid / (kTileO / kPerThread);                 // 0..kTileT-1
    const int my_o = (tid % (kTileO / kPerThread)) * kPerThread;  // 0, 8, ..., 56
    float acc[kPerThread];
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) acc[j] = 0.0f;
    for (int k0 = 0; k0 < n_in; k0 += kChunkK) {
        const int kn = min(kChunkK, n_in - k0);
        for (int i = tid; i < kTileO * kChunkK; i += kThreads) {
            const int r = i / kChunkK, c = i % kChunkK;
            const int o = o0 + r;
            ws[r][c] = (o < n_out && c < kn) ? load_f32(w, int64_t(o) * n_in + k0 + c) : 0.0f;
        }
        for (int i = tid; i < kTileT * kChunkK; i += kThreads) {
            const int r = i / kChunkK, c = i % kChunkK;
            const int t = t0 + r;
            xs[r][c] = (t < n_tok && c < kn) ? load_f32(x, int64_t(t) * n_in + k0 + c) : 0.0f;
        }
        __syncthreads();
        // Only the kn real columns: padding would add fma(0, 0, acc), which keeps acc but is not
        // needed for the order to be fixed.
        for (int c = 0; c < kn; ++c) {
            const float xv = xs[my_t][c];
#pragma unroll
            for (int j = 0; j < kPerThread; ++j) acc[j] = fmaf(xv, ws[my_o + j][c], acc[j]);
        }
        __syncthreads();
    }
    const int t = t0 + my_t;
    if (t >= n_tok) return;
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
        const int o = o0 + my_o + j;
        if (o >= n_out) continue;
        float* dst = y + int64_t(t) * ldy + o;
        *dst = beta == 0.0f ? alpha * acc[j] : beta * *dst + alpha * acc[j];
    }
}

__global__ void __launch_bounds__(kThreads)
    matmul_invariant_bf16(const uint16_t* w, const uint16_t* x, int n_tok, int n_in, int n_out, float* y, int ldy,
                          float alpha, float beta) {
    __shared__ float ws[kTileO][kChunkK + 1];
    __shared__ float xs[kTileT][kChunkK + 1];
    matmul_invariant_body(w, x, n_tok, n_in, n_out, y, ldy, alpha, beta, ws, xs);
}

__global__ void __launch_bounds__(kThreads)
    matmul_invariant_f32(const float* w, const float* x, int n_tok, int n_in, int n_out, float* y, int ldy, float alpha,
                         float beta) {
    __shared__ float ws[kTileO][kChunkK + 1];
    __shared__ float xs[kTileT][kChunkK + 1];
    matmul_invariant_body(w, x, n_tok, n_in, n_out, y, ldy, alpha, beta, ws, xs);
}

// The launch configuration and argument checks, shared by both element types.
template <class Kernel, class WT, class XT>
void launch(const char* op, Kernel invariant_kernel, const WT* w, const XT* x, int n_tok, int n_in, int n_out, float* y,
            int ldy, float alpha, float beta, cudaStream_t stream) {
    if (n_tok < 0 || n_in < 0 || n_out < 0)
        throw Error(std::string(op) + ": negative size (n_tok " + std::to_string(n_tok) + ", n_in " +
                    std::to_string(n_in) + ", n_out " + std::to_string(n_out) + ")");
    if (ldy < n_out)
        throw Error(std::string(op) + ": ldy " + std::to_string(ldy) + " < n_out " + std::to_string(n_out));
    if (n_tok == 0 || n_out == 0) return;
    const unsigned gt = unsigned((n_tok + kTileT - 1) / kTileT);
    if (gt > 65535) throw Error(std::string(op) + ": " + std::to_string(n_tok) + " tokens is too many for one launch");
    const dim3 grid(unsigned((n_out + kTileO - 1) / kTileO), gt);
    ADABENCH_LAUNCH(invariant_kernel, grid, kThreads, stream, w, x, n_tok, n_in, n_out, y, ldy, alpha, beta);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        throw Error(std::string("CUDA kernel launch failed in ") + op + ": " + cudaGetErrorString(err));
}

}  // namespace

void matmul_invariant_bf16_cuda(const uint16_t* w, const uint16_t* x, int n_tok, int n_in, int n_out, float* y, int ldy,
                                float alpha, float beta, cudaStream_t stream) {
    launch("matmul_invariant_bf16", matmul_invariant_bf16, w, x, n_tok, n_in, n_out, y, ldy, alpha, beta, stream);
}

void matmul_invariant_f32_cuda(const float* w, const float* x, int n_tok, int n_in, int n_out, float* y, int ldy,
                               float alpha, float beta, cudaStream_t stream) {
    launch("matmul_invariant_f32", matmul_invariant_f32, w, x, n_tok, n_in, n_out, y, ldy, alpha, beta, stream);
}

// ---- matvec_bf16_f32 (gemm.cuh): one warp per output row, NT tokens per launch ----

namespace {

constexpr int kMvWarps = 8;  // output rows per block, one per warp
constexpr int kMvThreads = kMvWarps * 32;

template <int NT, bool VEC>
__global__ void __launch_bounds__(kMvThreads)
    matvec_bf16_f32(const uint16_t* w, const uint16_t* x, int n_in, int n_out, float* y, int ldy, float beta) {
    // Lane partial sums; the row stride 33 keeps the summing threads' reads off one bank.
    __shared__ float part[kMvWarps * NT][33];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int o = blockIdx.x * kMvWarps + warp;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
    if (o < n_out) {
        const uint16_t* wr = w + int64_t(o) * n_in;
        int k_tail = 0;
        if (VEC) {  // lane takes chunks of 8 values lane, lane + 32, ...: 16-byte loads of W and x
            const int n8 = n_in / 8;
#pragma unroll 4
            for (int c = lane; c < n8; c += 32) {
                float wv[8];
                cuda_dev::load_bf16x8(wr + int64_t(c) * 8, wv);
#pragma unroll
                for (int t = 0; t < NT; ++t) {
                    float xv[8];
                    cuda_dev::load_bf16x8(x + int64_t(t) * n_in + int64_t(c) * 8, xv);
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[t] = fmaf(wv[j], xv[j], acc[t]);
                }
            }
            k_tail = n8 * 8;
        }
        for (int k = k_tail + lane; k < n_in; k += 32) {
            const float wv = cuda_dev::bf16_bits_to_f32(wr[k]);
#pragma unroll
            for (int t = 0; t < NT; ++t)
                acc[t] = fmaf(wv, cuda_dev::bf16_bits_to_f32(x[int64_t(t) * n_in + k]), acc[t]);
        }
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) part[warp * NT + t][lane] = acc[t];
    __syncthreads();
    // One thread per (row, token) adds the 32 lane sums in lane order.
    if (int(threadIdx.x) < kMvWarps * NT) {
        const int r = threadIdx.x / NT, t = threadIdx.x % NT, oo = blockIdx.x * kMvWarps + r;
        if (oo < n_out) {
            float sum = 0.0f;
            for (int l = 0; l < 32; ++l) sum += part[threadIdx.x][l];
            float* dst = y + int64_t(t) * ldy + oo;
            *dst = beta == 0.0f ? sum : beta * *dst + sum;
        }
    }
}

template <int NT>
void matvec_launch(bool vec, unsigned blocks, const uint16_t* w, const uint16_t* x, int n_in, int n_out, float* y,
                   int ldy, float beta, cudaStream_t stream) {
    auto matvec_kernel = vec ? matvec_bf16_f32<NT, true> : matvec_bf16_f32<NT, false>;
    ADABENCH_LAUNCH(matvec_kernel, blocks, kMvThreads, stream, w, x, n_in, n_out, y, ldy, beta);
}

// matvec_launch<n_tok> for n_tok in [NT, kMatvecMaxTokens].
template <int NT>
void matvec_dispatch(int n_tok, bool vec, unsigned blocks, const uint16_t* w, const uint16_t* x, int n_in, int n_out,
                     float* y, int ldy, float beta, cudaStream_t stream) {
    if constexpr (NT < kMatvecMaxTokens) {
        if (n_tok != NT) return matvec_dispatch<NT + 1>(n_tok, vec, blocks, w, x, n_in, n_out, y, ldy, beta, stream);
    }
    matvec_launch<NT>(vec, blocks, w, x, n_in, n_out, y, ldy, beta, stream);
}

}  // namespace

void matvec_bf16_f32_cuda(const uint16_t* w, const uint16_t* x, int n_tok, int n_in, int n_out, float* y, int ldy,
                          float beta, cudaStream_t stream) {
    const char* op = "matvec_bf16_f32";
    if (n_tok < 0 || n_in < 0 || n_out < 0)
        throw Error(std::string(op) + ": negative size (n_tok " + std::to_string(n_tok) + ", n_in " +
                    std::to_string(n_in) + ", n_out " + std::to_string(n_out) + ")");
    if (n_tok > kMatvecMaxTokens)
        throw Error(std::string(op) + ": " + std::to_string(n_tok) + " tokens (at most " +
                    std::to_string(kMatvecMaxTokens) + "; larger steps use the GEMM)");
    if (ldy < n_out)
        throw Error(std::string(op) + ": ldy " + std::to_string(ldy) + " < n_out " + std::to_string(n_out));
    if (n_tok == 0 || n_out == 0) return;
    const bool vec =
        n_in % 8 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
    const unsigned blocks = unsigned((int64_t(n_out) + kMvWarps - 1) / kMvWarps);
    matvec_dispatch<1>(n_tok, vec, blocks, w, x, n_in, n_out, y, ldy, beta, stream);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        throw Error(std::string("CUDA kernel launch failed in ") + op + ": " + cudaGetErrorString(err));
}

}  // namespace adabench
