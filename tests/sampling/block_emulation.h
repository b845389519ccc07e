// A CUDA thread block emulated on the CPU, enough to run a kernel written for one block per row
// whose barriers and warp shuffles are reached by every thread of the block together (uniform
// control flow at each __syncthreads and shuffle, as sample_kernel.cuh is written): one std::thread
// per CUDA thread, a std::barrier for __syncthreads, shuffles exchanged through a slot per thread
// between two barriers, atomics through std::atomic_ref, __shared__ as a function-local static
// (one block runs at a time). Not an emulator of divergence, memory ordering or timing: it checks
// a kernel's logic, not its CUDA-specific behaviour.
//
// Include this, then the kernel header, in a plain C++ test.
#pragma once
#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#define ADABENCH_BLOCK_EMULATION 1
#define __device__
#define __forceinline__ inline
#define __global__ inline
#define __launch_bounds__(...)
#define __shared__ static

namespace adabench {

namespace block_emulation {

struct Dim3 {
    unsigned x = 0, y = 0, z = 0;
};

struct State {
    std::barrier<>* barrier = nullptr;
    std::vector<uint64_t> slots;  // one shuffle slot per thread
};

inline State& state() {
    static State s;
    return s;
}

// Runs body() as n_threads CUDA threads of block `block` (threadIdx / blockIdx set per thread).
void launch(unsigned block, unsigned n_threads, const std::function<void()>& body);

}  // namespace block_emulation

inline thread_local block_emulation::Dim3 threadIdx;
inline thread_local block_emulation::Dim3 blockIdx;

inline void __syncthreads() { block_emulation::state().barrier->arrive_and_wait(); }

template <class T>
T emulated_shuffle(T v, unsigned src_lane) {
    static_assert(sizeof(T) <= sizeof(uint64_t));
    auto& st = block_emulation::state();
    const unsigned tid = threadIdx.x;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    st.slots[tid] = bits;
    st.barrier->arrive_and_wait();
    const uint64_t got = st.slots[(tid & ~31u) | (src_lane & 31u)];
    st.barrier->arrive_and_wait();
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

template <class T>
T __shfl_xor_sync(unsigned, T v, int lane_mask) {
    return emulated_shuffle(v, (threadIdx.x & 31u) ^ unsigned(lane_mask));
}

template <class T>
T __shfl_up_sync(unsigned, T v, unsigned delta) {
    const unsigned lane = threadIdx.x & 31u;
    const T other = emulated_shuffle(v, lane >= delta ? lane - delta : lane);
    return lane >= delta ? other : v;
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

inline uint32_t __float_as_uint(float f) { return std::bit_cast<uint32_t>(f); }
inline float __uint_as_float(uint32_t u) { return std::bit_cast<float>(u); }
using std::exp;
using std::isnan;
using std::min;

inline void block_emulation::launch(unsigned block, unsigned n_threads, const std::function<void()>& body) {
    std::barrier<> barrier(static_cast<std::ptrdiff_t>(n_threads));
    State& st = state();
    st.barrier = &barrier;
    st.slots.assign(n_threads, 0);
    std::vector<std::thread> threads;
    threads.reserve(n_threads);
    for (unsigned t = 0; t < n_threads; ++t) {
        threads.emplace_back([&, t] {
            threadIdx.x = t;
            blockIdx.x = block;
            body();
        });
    }
    for (auto& th : threads) th.join();
    st.barrier = nullptr;
}

}  // namespace adabench
