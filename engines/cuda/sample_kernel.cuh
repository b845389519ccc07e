// The body of sample_rows_f32 (see sample.cuh and the walk-through in sample.cu), kept apart from
// the launcher so that the same source also runs on the CPU: tests/emulation emulates thread
// blocks (one std::thread per CUDA thread, std::barriers for __syncthreads and the warp
// shuffles) and checks this kernel against the host SamplerChain on machines without a GPU.
// Hence plain C++ types only here, and the CUDA built-ins the emulation provides: threadIdx,
// blockIdx, __syncthreads, __shfl_xor_sync, __shfl_up_sync, atomicAdd, atomicMin,
// __float_as_uint, __uint_as_float, isnan, exp, min.
#pragma once
#include <climits>
#include <cmath>
#include <cstdint>
#if defined(__CUDACC__) || defined(ADABENCH_BLOCK_EMULATION)
#include "engines/cuda/device_math.cuh"  // the kernel's 16-byte loads
#endif

namespace adabench {

// The sorted candidates one block can hold (one per thread).
constexpr int kCudaSampleWindow = 1024;

// One row's chain, as sampling_make_chain builds it from SamplingParams.
struct CudaSampleRow {
    float temperature = 0.0f;  // <= 0: greedy (argmax, ties to the lowest id)
    float top_p = 1.0f;        // < 1: nucleus
    int32_t top_k = 0;         // > 0: keep the k best
    int32_t pad = 0;
    double u = 0.0;  // sampling_uniform(seed, seq_id, position), in [0, 1)
};

// True when sample_rows_f32 leaves a row with these parameters to the host, before looking at the
// logits (a nucleus wider than the window is only known on the device).
inline bool cuda_sample_needs_host(const CudaSampleRow& row, int n_vocab, int window = kCudaSampleWindow) {
    if (!(row.temperature > 0.0f)) return false;
    const bool k_eff = row.top_k > 0 && row.top_k < n_vocab;
    if (k_eff) return row.top_k > window;
    return row.top_k >= n_vocab && row.top_p >= 1.0f && n_vocab > window;
}

// The kernel itself: in nvcc, or in a test that emulates a block (a host-only file including
// sample.cuh sees the types above only).
#if defined(__CUDACC__) || defined(ADABENCH_BLOCK_EMULATION)
namespace sample_kernel {

// The kernel is written for a block of kThreads threads (a multiple of 32, a power of two), which
// is also the window of sorted candidates: kCudaSampleWindow on the device; the CPU emulation runs
// smaller blocks so that the window's edges are exercised on small vocabularies.
constexpr unsigned kFull = 0xffffffffu;

// Larger float -> larger key; -0 and +0 share a key (the host compares them equal).
__device__ __forceinline__ uint32_t order_key(float l) {
    if (l == 0.0f) l = 0.0f;
    const uint32_t b = __float_as_uint(l);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

__device__ __forceinline__ float key_to_float(uint32_t k) {
    return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// Descending order of this key is the host's candidate order: logit descending, then id ascending.
__device__ __forceinline__ uint64_t candidate_key(uint32_t key, int id) {
    return (uint64_t(key) << 32) | uint64_t(0xffffffffu - uint32_t(id));
}

__device__ __forceinline__ int candidate_id(uint64_t ck) { return int(0xffffffffu - uint32_t(ck & 0xffffffffu)); }

__device__ __forceinline__ float candidate_logit(uint64_t ck) { return key_to_float(uint32_t(ck >> 32)); }

// f(value, id) for the ids of row x (V values) that this thread reads: groups of 4 by 16-byte loads
// when the row is 16-byte aligned (then the tail one by one). Which thread reads which id is not
// the plain stride: only for passes whose result does not depend on it (a minimum, the argmax by
// its total order, histogram counts, sums reduced across the block anyway). At batch 1 one block
// reads the whole vocabulary per pass; more bytes per load is fewer trips to memory.
template <int kThreads, class F>
__device__ __forceinline__ void for_each_logit(const float* x, int V, F f) {
    int tail = 0;
    if ((reinterpret_cast<uintptr_t>(x) & 15u) == 0) {
        const int n4 = V / 4;
#pragma unroll 4
        for (int c = threadIdx.x; c < n4; c += kThreads) {
            float v[4];
            cuda_dev::unpack16(cuda_dev::load16(x + int64_t(c) * 4), v, 0.0f);
#pragma unroll
            for (int j = 0; j < 4; ++j) f(v[j], 4 * c + j);
        }
        tail = n4 * 4;
    }
    for (int i = tail + int(threadIdx.x); i < V; i += kThreads) f(x[i], i);
}

// The host's weight of a candidate: float(exp(l - max)), with exp correctly rounded.
__device__ __forceinline__ float weight(float l, float max_l) { return float(exp(double(l - max_l))); }

template <int kThreads>
struct Shared {
    static constexpr int kWarps = kThreads / 32;
    uint64_t keys[kThreads];
    float e[kThreads];
    double red_d[kWarps];
    float red_f[kWarps];
    int red_i[kWarps];
    int red_i2[kWarps];
    unsigned hist[256];
    int digit, k_rem, count, selected, n_keep;
    double sum;
};

template <int kThreads>
__device__ double block_sum(double v, Shared<kThreads>& sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sh.red_d[warp] = v;
    __syncthreads();
    double total = 0.0;
    for (int w = 0; w < Shared<kThreads>::kWarps; ++w) total += sh.red_d[w];  // same order in every thread
    __syncthreads();
    return total;
}

template <int kThreads>
__device__ int block_min(int v, Shared<kThreads>& sh) {
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(kFull, v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sh.red_i[warp] = v;
    __syncthreads();
    int m = INT_MAX;
    for (int w = 0; w < Shared<kThreads>::kWarps; ++w) m = min(m, sh.red_i[w]);
    __syncthreads();
    return m;
}

// (max value, lowest index holding it) over the block; index INT_MAX when every value is -inf.
template <int kThreads>
__device__ void block_argmax(float& v, int& idx, Shared<kThreads>& sh) {
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(kFull, v, o);
        const int oi = __shfl_xor_sync(kFull, idx, o);
        if (ov > v || (ov == v && oi < idx)) {
            v = ov;
            idx = oi;
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sh.red_f[warp] = v;
        sh.red_i[warp] = idx;
    }
    __syncthreads();
    v = -INFINITY;
    idx = INT_MAX;
    for (int w = 0; w < Shared<kThreads>::kWarps; ++w) {
        if (sh.red_f[w] > v || (sh.red_f[w] == v && sh.red_i[w] < idx)) {
            v = sh.red_f[w];
            idx = sh.red_i[w];
        }
    }
    __syncthreads();
}

// Exclusive prefix sum over the block in thread order, and the total. Exact for int; for double
// the additions are grouped by warps (the host adds serially).
template <int kThreads, class T>
__device__ T block_exclusive_scan(T v, T* warp_sums, T& total) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    T incl = v;
    for (int o = 1; o < 32; o <<= 1) {
        const T y = __shfl_up_sync(kFull, incl, o);
        if (lane >= o) incl += y;
    }
    T excl = __shfl_up_sync(kFull, incl, 1);
    if (lane == 0) excl = T(0);
    if (lane == 31) warp_sums[warp] = incl;
    __syncthreads();
    T before = T(0);
    total = T(0);
    for (int w = 0; w < kThreads / 32; ++w) {
        if (w < warp) before += warp_sums[w];
        total += warp_sums[w];
    }
    __syncthreads();
    return before + excl;
}

template <int kThreads>
__global__ void __launch_bounds__(kThreads)
    sample_rows_f32(const float* logits, int V, const CudaSampleRow* rows, int32_t* tokens, int32_t* nan_ids) {
    __shared__ Shared<kThreads> sh;
    const int r = blockIdx.x, tid = threadIdx.x;
    const CudaSampleRow p = rows[r];
    const float* x = logits + int64_t(r) * V;
    const bool greedy = !(p.temperature > 0.0f);
    const float t = greedy ? 1.0f : p.temperature;

    // ---- 1. NaN, max, argmax ----
    int nan_id = INT_MAX;
    float m = -INFINITY;
    int arg = INT_MAX;
    for_each_logit<kThreads>(x, V, [&](float v, int i) {
        if (isnan(v)) {
            nan_id = min(nan_id, i);
            return;
        }
        const float l = greedy ? v : v / t;
        if (l > m || (l == m && i < arg)) {
            m = l;
            arg = i;
        }
    });
    nan_id = block_min(nan_id, sh);
    block_argmax(m, arg, sh);
    if (nan_id != INT_MAX) {
        if (tid == 0) {
            tokens[r] = -1;
            nan_ids[r] = nan_id;
        }
        return;
    }
    if (tid == 0) nan_ids[r] = -1;
    if (greedy) {
        if (tid == 0) tokens[r] = arg == INT_MAX ? 0 : arg;  // all -inf: the host keeps id 0
        return;
    }

    const int k_eff = (p.top_k > 0 && p.top_k < V) ? p.top_k : 0;
    const bool use_p = p.top_p < 1.0f;
    const bool full_sort = p.top_k >= V;  // the host sorts the whole vocabulary
    // Contiguous runs of ids per thread (the orders that must follow the host's id order).
    const int run = (V + kThreads - 1) / kThreads;
    const int run_b = min(V, tid * run), run_e = min(V, run_b + run);

    // ---- 2. temperature only: dist over ids in order ----
    if (!k_eff && !use_p && !full_sort) {
        double s = 0.0;
        for (int i = run_b; i < run_e; ++i) s += weight(x[i] / t, m);
        const double sum = block_sum(s, sh);
        double cs = 0.0;
        for (int i = run_b; i < run_e; ++i) cs += float(double(weight(x[i] / t, m)) / sum);
        double total = 0.0;
        const double before = block_exclusive_scan<kThreads>(cs, sh.red_d, total);
        const double target = p.u * total;
        if (tid == 0) sh.selected = INT_MAX;
        __syncthreads();
        if (target < before + cs) {
            double cum = before;
            for (int i = run_b; i < run_e; ++i) {
                cum += float(double(weight(x[i] / t, m)) / sum);
                if (target < cum) {
                    atomicMin(&sh.selected, i);
                    break;
                }
            }
        }
        __syncthreads();
        if (tid == 0) tokens[r] = sh.selected == INT_MAX ? V - 1 : sh.selected;
        return;
    }

    // ---- 3. the K best, sorted ----
    const int K = k_eff ? k_eff : min(V, kThreads);
    if (K > kThreads || (full_sort && !use_p && V > kThreads)) {
        if (tid == 0) tokens[r] = -1;  // the host's job
        return;
    }
    uint32_t prefix = 0, mask = 0;
    int k_rem = K;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int j = tid; j < 256; j += kThreads) sh.hist[j] = 0;
        __syncthreads();
        for_each_logit<kThreads>(x, V, [&](float v, int) {
            const uint32_t key = order_key(v / t);
            if ((key & mask) == prefix) atomicAdd(&sh.hist[(key >> shift) & 255u], 1u);
        });
        __syncthreads();
        if (tid == 0) {
            int above = 0;
            for (int d = 255; d >= 0; --d) {
                if (above + int(sh.hist[d]) >= k_rem) {
                    sh.digit = d;
                    sh.k_rem = k_rem - above;
                    break;
                }
                above += int(sh.hist[d]);
            }
        }
        __syncthreads();
        prefix |= uint32_t(sh.digit) << shift;
        mask |= 0xffu << shift;
        k_rem = sh.k_rem;
        __syncthreads();
    }
    // Keys above the threshold all go in; of the keys equal to it, the k_rem lowest ids.
    int n_ties = 0;
    for (int i = run_b; i < run_e; ++i) n_ties += order_key(x[i] / t) == prefix;
    int ties_total = 0;
    int rank = block_exclusive_scan<kThreads>(n_ties, sh.red_i2, ties_total);
    sh.keys[tid] = 0;  // below every real candidate
    if (tid == 0) sh.count = 0;
    __syncthreads();
    for (int i = run_b; i < run_e; ++i) {
        const uint32_t key = order_key(x[i] / t);
        bool take = key > prefix;
        if (key == prefix) take = rank++ < k_rem;
        if (take) sh.keys[atomicAdd(&sh.count, 1)] = candidate_key(key, i);
    }
    __syncthreads();
    // Bitonic sort, descending.
    for (int k = 2; k <= kThreads; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            const int o = tid ^ j;
            if (o > tid) {
                const uint64_t a = sh.keys[tid], b = sh.keys[o];
                const bool first_half = (tid & k) == 0;
                if (first_half ? a < b : a > b) {
                    sh.keys[tid] = b;
                    sh.keys[o] = a;
                }
            }
            __syncthreads();
        }
    }
    const float l0 = candidate_logit(sh.keys[0]);

    // ---- top-p: softmax over the candidates the host holds at that point, cut serially ----
    if (tid == 0) sh.n_keep = K;
    if (use_p) {
        double part = 0.0;
        if (!k_eff)  // over the whole vocabulary (the host has not truncated yet)
            for_each_logit<kThreads>(x, V, [&](float v, int) { part += weight(v / t, l0); });
        const double vocab_sum = k_eff ? 0.0 : block_sum(part, sh);
        if (tid < K) sh.e[tid] = weight(candidate_logit(sh.keys[tid]), l0);
        __syncthreads();
        if (tid == 0) {
            double denom = vocab_sum;
            if (k_eff) {  // the host sums the K sorted candidates in order
                denom = 0.0;
                for (int i = 0; i < K; ++i) denom += sh.e[i];
            }
            double cum = 0.0;
            int keep = -1;
            for (int i = 0; i < K; ++i) {
                cum += float(double(sh.e[i]) / denom);
                if (cum >= p.top_p) {
                    keep = i + 1;
                    break;
                }
            }
            // Not reached: the host keeps everything it holds; beyond the window that is the host's job.
            if (keep < 0) keep = (k_eff || K == V) ? K : -1;
            sh.n_keep = keep;
        }
    }
    __syncthreads();
    const int n_keep = sh.n_keep;
    if (n_keep < 0) {
        if (tid == 0) tokens[r] = -1;
        return;
    }

    // ---- dist over the n_keep best, serially in the host's order ----
    if (tid < n_keep) sh.e[tid] = weight(candidate_logit(sh.keys[tid]), l0);
    __syncthreads();
    if (tid == 0) {
        double sum = 0.0;
        for (int i = 0; i < n_keep; ++i) sum += sh.e[i];
        double total = 0.0;
        for (int i = 0; i < n_keep; ++i) total += float(double(sh.e[i]) / sum);
        const double target = p.u * total;
        double cum = 0.0;
        int sel = n_keep - 1;  // target == total after rounding
        for (int i = 0; i < n_keep; ++i) {
            cum += float(double(sh.e[i]) / sum);
            if (target < cum) {
                sel = i;
                break;
            }
        }
        tokens[r] = candidate_id(sh.keys[sel]);
    }
}

}  // namespace sample_kernel
#endif

}  // namespace adabench
