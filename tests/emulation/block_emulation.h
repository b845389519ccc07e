// CUDA thread blocks emulated on the CPU, enough to run the kernels of engines/cuda/*_kernels.cuh
// in plain C++ tests: one std::thread per CUDA thread, blocks of a grid one after the other.
//   - __syncthreads: a std::barrier over the block; a thread that returns drops out of it (as an
//     exited thread stops counting at a CUDA barrier).
//   - warp shuffles: exchanged through a slot per thread between two waits on a barrier over the
//     warp, so every lane of the warp must reach the shuffle (the full-mask contract).
//   - atomics: std::atomic_ref. __shared__: a function-local static (one block runs at a time).
//   - CUDA math: the C++ library's (expf, rsqrtf, ... may differ from the device's in the last
//     bits; the tests compare with the same tolerances as on the device).
// Not emulated: divergence within a warp beyond shuffles, memory ordering, timing, tensor cores.
// Include this first, then the kernel header.
#pragma once
#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define ADABENCH_BLOCK_EMULATION 1
#define __device__
#define __host__
#define __forceinline__ inline
#define __global__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__

namespace adabench {

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline thread_local dim3 threadIdx;
inline thread_local dim3 blockIdx;
inline dim3 blockDim;  // set for the whole launch
inline dim3 gridDim;

namespace block_emulation {

struct Block {
    std::unique_ptr<std::barrier<>> block;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<uint64_t> slots;  // one shuffle slot per thread
};

inline Block& block() {
    static Block b;
    return b;
}

inline unsigned flat_thread() { return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z); }

// Runs kernel() over every block of `grid`, each as block.x * block.y * block.z threads.
inline void launch(dim3 grid, dim3 threads, const std::function<void()>& kernel) {
    blockDim = threads;
    gridDim = grid;
    const unsigned n = threads.x * threads.y * threads.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                Block& b = block();
                b.block = std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(n));
                b.warps.clear();
                for (unsigned w = 0; w < (n + 31) / 32; ++w)
                    b.warps.push_back(
                        std::make_unique<std::barrier<>>(static_cast<std::ptrdiff_t>(std::min(32u, n - 32 * w))));
                b.slots.assign(n, 0);
                std::vector<std::thread> pool;
                pool.reserve(n);
                for (unsigned t = 0; t < n; ++t) {
                    pool.emplace_back([&, t] {
                        threadIdx = dim3(t % threads.x, (t / threads.x) % threads.y, t / (threads.x * threads.y));
                        blockIdx = dim3(bx, by, bz);
                        kernel();
                        b.block->arrive_and_drop();
                        b.warps[t / 32]->arrive_and_drop();
                    });
                }
                for (auto& th : pool) th.join();
            }
}

template <class T>
T shuffle_from(T v, unsigned src_lane) {
    static_assert(sizeof(T) <= sizeof(uint64_t));
    Block& b = block();
    const unsigned tid = flat_thread();
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    b.slots[tid] = bits;
    b.warps[tid / 32]->arrive_and_wait();
    const uint64_t got = b.slots[(tid & ~31u) | (src_lane & 31u)];
    b.warps[tid / 32]->arrive_and_wait();
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

}  // namespace block_emulation

inline void __syncthreads() { block_emulation::block().block->arrive_and_wait(); }

template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
    return block_emulation::shuffle_from(v, (block_emulation::flat_thread() & 31u) ^ unsigned(lane_mask));
}

template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta) {
    const unsigned lane = block_emulation::flat_thread() & 31u;
    const T other = block_emulation::shuffle_from(v, lane >= delta ? lane - delta : lane);
    return lane >= delta ? other : v;
}

template <class T>
T __shfl_sync(unsigned, T v, int src_lane) {
    return block_emulation::shuffle_from(v, unsigned(src_lane));
}

template <class T>
T atomicAdd(T* p, T v) {
    return std::atomic_ref<T>(*p).fetch_add(v);
}

inline int atomicMin(int* p, int v) {
    std::atomic_ref<int> a(*p);
    int cur = a.load();
    while (v < cur && !a.compare_exchange_weak(cur, v)) {
    }
    return cur;
}

inline int atomicMax(int* p, int v) {
    std::atomic_ref<int> a(*p);
    int cur = a.load();
    while (v > cur && !a.compare_exchange_weak(cur, v)) {
    }
    return cur;
}

inline uint32_t __float_as_uint(float f) { return std::bit_cast<uint32_t>(f); }
inline float __uint_as_float(uint32_t u) { return std::bit_cast<float>(u); }
inline int __float_as_int(float f) { return std::bit_cast<int>(f); }
inline float __int_as_float(int i) { return std::bit_cast<float>(i); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }
using std::cos;
using std::exp;
inline float expf(float x) { return std::exp(x); }
using std::fmaxf;
using std::isnan;
using std::max;
using std::min;
using std::pow;
using std::sin;
using std::sqrt;

}  // namespace adabench
