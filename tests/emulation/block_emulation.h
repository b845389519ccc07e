// CUDA thread blocks emulated on the CPU, enough to run the kernels of engines/cuda/ (and their
// launchers, through ADABENCH_LAUNCH) in plain C++ tests. Each CUDA thread is a fiber
// scheduled cooperatively on the calling OS thread; the blocks of a grid run one after the other.
//   - __syncthreads: a barrier over the block; a thread that returns drops out of it (as an exited
//     thread stops counting at a CUDA barrier). Threads waiting at different barriers are reported
//     as a deadlock (an exception), not a hang.
//   - warp shuffles: exchanged through a slot per thread and a barrier over the warp, so every
//     lane of the warp must reach the shuffle (the full-mask contract).
//   - atomics: std::atomic_ref. __shared__: a function-local static (one block runs at a time).
//   - CUDA math: the C++ library's (expf, rsqrtf, ... may differ from the device's in the last
//     bits; the tests compare with the same tolerances as on the device).
//   - schedule: by default blocks run in index order and, round after round, every thread that can
//     go on is resumed in index order and runs to its next barrier. The race check (racecheck().on;
//     racecheck_on.cpp turns it on in the test programs, unless ADABENCH_EMU_RACECHECK=0) runs every
//     launch again from the same inputs under other schedules (racecheck().schedules): rounds in
//     reverse or shuffled order, and
//     "run-ahead" schedules, where after every barrier release the first thread of a priority order
//     that can go on is resumed, so that early threads and warps run as far ahead of the others as
//     the barriers allow (a warp's shuffles hold its lanes together but not the other warps). It
//     throws when an output differs by a byte: a kernel whose result depends on the schedule has a
//     data race (a missing __syncthreads or __syncwarp, a thread reading what another writes in the
//     same barrier interval, a buffer overwritten while others still read it, blocks writing what
//     other blocks read). Outputs are the allocations behind the launch's non-const pointer
//     arguments (ADABENCH_LAUNCH finds them) or the spans given to launch(); a launch whose outputs
//     exceed racecheck().max_bytes runs once, unchecked.
//   - dynamic shared memory starts filled with 0xff bytes (NaN floats, -1 ints) in every block, so a
//     read before the block wrote it shows. A launch asking for more than 48 KiB fails as on the
//     device (cudaErrorInvalidValue, nothing runs) unless opt_in_shared_memory granted that kernel
//     at least as much.
//   - faults: a 16-byte load from an address that is not 16-byte aligned (cuda_dev::load16) is
//     recorded, and the launch throws once the grid has run ("misaligned address" on the device).
// Not emulated: divergence within a warp beyond shuffles, memory ordering, timing, tensor cores,
// cuBLAS. Include this first, then the kernel source.
#pragma once
#include <ucontext.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#define ADABENCH_BLOCK_EMULATION 1

#include "common/sanitizers.h"

// Fibers switch with a few instructions on x86-64 (fiber_switch.cpp), telling AddressSanitizer
// about each stack switch when it is on; elsewhere they use ucontext.
#if defined(__x86_64__)
#define ADABENCH_FAST_FIBERS 1
extern "C" void adabench_fiber_switch(void** save_sp, void* new_sp);
#if defined(ADABENCH_ASAN)
#define ADABENCH_ASAN_FIBERS 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#endif
#define __device__
#define __host__
#define __forceinline__ inline
#define __global__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__

#include "cuda_runtime_emulation.h"

namespace adabench {

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

inline dim3 threadIdx;  // the running thread's, set by the scheduler before it resumes a thread
inline dim3 blockIdx;
inline dim3 blockDim;  // set for the whole launch
inline dim3 gridDim;

namespace block_emulation {

// A barrier over the threads still running: released when every live thread has arrived.
struct Barrier {
    unsigned live = 0, arrived = 0;
    uint64_t gen = 0;
};

struct Fiber {
#ifdef ADABENCH_FAST_FIBERS
    void* sp = nullptr;
    const void* stack_bottom = nullptr;
    size_t stack_size = 0;
    void* fake_stack = nullptr;  // AddressSanitizer's bookkeeping while it is switched out
#else
    ucontext_t ctx{};
#endif
    dim3 idx;
    unsigned tid = 0;
    bool done = false;
    Barrier* waiting = nullptr;  // the barrier it waits at, and the generation it waits past
    uint64_t wait_gen = 0;
    unsigned shuffle_parity = 0;
};

// The order in which a launch runs its blocks and resumes its threads; run_ahead: after each barrier
// release resume the first thread in that order that can go on (priority), instead of going on round
// the threads.
enum class Order { forward, reverse, shuffled };

struct Schedule {
    Order order = Order::forward;
    bool run_ahead = false;
};

inline const char* schedule_name(const Schedule& sc) {
    if (!sc.run_ahead)
        return sc.order == Order::forward ? "index" : sc.order == Order::reverse ? "reverse" : "shuffled";
    return sc.order == Order::forward   ? "run-ahead (index priority)"
           : sc.order == Order::reverse ? "run-ahead (reverse priority)"
                                        : "run-ahead (shuffled priority)";
}

struct Scheduler {
#ifdef ADABENCH_FAST_FIBERS
    void* main_sp = nullptr;
    const void* main_bottom = nullptr;  // the scheduler's stack, as AddressSanitizer reports it
    size_t main_size = 0;
#else
    ucontext_t main{};
#endif
    std::vector<Fiber> fibers;
    std::vector<std::unique_ptr<char[]>> stacks;
    Barrier block;
    std::vector<Barrier> warps;
    std::vector<uint64_t> slots[2];  // shuffle slots, double-buffered: one barrier per shuffle
    Fiber* cur = nullptr;
    const std::function<void()>* kernel = nullptr;
    // extern __shared__ memory of the block: exactly the launch's bytes in a fresh heap block (16-byte
    // aligned), so that AddressSanitizer reports a kernel reading or writing past them.
    std::unique_ptr<unsigned char[]> dynamic_shared;
    Schedule schedule;
    std::mt19937 rng;       // the shuffled orders'
    uint64_t releases = 0;  // barrier releases so far (a run-ahead schedule rescans after each)
};

inline Scheduler& sched() {
    static Scheduler s;
    return s;
}

#if defined(ADABENCH_ASAN)
constexpr size_t kStackBytes = size_t(256) << 10;  // instrumented frames are larger
#else
constexpr size_t kStackBytes = size_t(128) << 10;
#endif

// From the running fiber back to the scheduler, and from the scheduler into fiber f.
inline void to_scheduler(Scheduler& s, bool exiting = false) {
#ifdef ADABENCH_FAST_FIBERS
#ifdef ADABENCH_ASAN_FIBERS
    Fiber& f = *s.cur;
    __sanitizer_start_switch_fiber(exiting ? nullptr : &f.fake_stack, s.main_bottom, s.main_size);
    adabench_fiber_switch(&f.sp, s.main_sp);
    __sanitizer_finish_switch_fiber(f.fake_stack, nullptr, nullptr);  // resumed
#else
    (void)exiting;
    adabench_fiber_switch(&s.cur->sp, s.main_sp);
#endif
#else
    (void)exiting;
    swapcontext(&s.cur->ctx, &s.main);
#endif
}

inline void to_fiber(Scheduler& s, Fiber& f) {
#ifdef ADABENCH_FAST_FIBERS
#ifdef ADABENCH_ASAN_FIBERS
    void* main_fake = nullptr;
    __sanitizer_start_switch_fiber(&main_fake, f.stack_bottom, f.stack_size);
    adabench_fiber_switch(&s.main_sp, f.sp);
    __sanitizer_finish_switch_fiber(main_fake, nullptr, nullptr);
#else
    adabench_fiber_switch(&s.main_sp, f.sp);
#endif
#else
    swapcontext(&s.main, &f.ctx);
#endif
}

// Arrives at b and returns once every live thread of b has arrived.
inline void arrive(Barrier& b) {
    Scheduler& s = sched();
    const uint64_t g = b.gen;
    if (++b.arrived == b.live) {
        b.arrived = 0;
        ++b.gen;
        ++s.releases;
        return;
    }
    s.cur->waiting = &b;
    s.cur->wait_gen = g;
    to_scheduler(s);
}

// A thread that exits no longer counts at its block's and warp's barriers.
inline void leave(Barrier& b) {
    --b.live;
    if (b.arrived > 0 && b.arrived == b.live) {
        b.arrived = 0;
        ++b.gen;
        ++sched().releases;
    }
}

inline void fiber_main() {
    Scheduler& s = sched();
#ifdef ADABENCH_ASAN_FIBERS
    // First entry: finish the switch from the scheduler and learn its stack.
    __sanitizer_finish_switch_fiber(nullptr, &s.main_bottom, &s.main_size);
#endif
    (*s.kernel)();
    s.cur->done = true;
    leave(s.block);
    leave(s.warps[s.cur->tid / 32]);
    to_scheduler(s, true);  // never resumed
}

inline unsigned flat_thread() { return sched().cur->tid; }

// The first fault of the running launch (empty: none); run_grid throws it after the grid.
inline std::string& pending_fault() {
    static std::string f;
    return f;
}

inline void report_fault(const std::string& what) {
    if (!pending_fault().empty()) return;
    const dim3 b = blockIdx, t = threadIdx;
    pending_fault() = what + " (block " + std::to_string(b.x) + "," + std::to_string(b.y) + "," + std::to_string(b.z) +
                      ", thread " + std::to_string(t.x) + "," + std::to_string(t.y) + "," + std::to_string(t.z) + ")";
}

// Dynamic shared memory each kernel (by address) may launch with beyond the default 48 KiB, as
// cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize) grants it on the device.
constexpr size_t kDefaultDynamicShared = size_t(48) << 10;
inline std::map<const void*, size_t>& shared_memory_grants() {
    static std::map<const void*, size_t> g;
    return g;
}

template <class Kernel>
const void* kernel_address(Kernel k) {
    return reinterpret_cast<const void*>(k);
}

inline void* dynamic_shared() { return sched().dynamic_shared.get(); }

// Runs kernel() over every block of `grid` (one after the other, in s.schedule), each as threads.x *
// threads.y * threads.z cooperatively scheduled threads on this OS thread. Throws when the threads
// of a block wait at different barriers (a __syncthreads or shuffle not reached by all: undefined on
// a GPU).
inline void run_grid(dim3 grid, dim3 threads, const std::function<void()>& kernel, size_t dynamic_shared_bytes) {
    Scheduler& s = sched();
    blockDim = threads;
    gridDim = grid;
    const unsigned n = threads.x * threads.y * threads.z;
    while (s.stacks.size() < n) s.stacks.emplace_back(new char[kStackBytes]);
    s.kernel = &kernel;
    s.dynamic_shared.reset(dynamic_shared_bytes ? new unsigned char[dynamic_shared_bytes] : nullptr);
    std::vector<dim3> blocks;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) blocks.emplace_back(bx, by, bz);
    const Order order = s.schedule.order;
    const bool run_ahead = s.schedule.run_ahead;
    if (order == Order::reverse) std::reverse(blocks.begin(), blocks.end());
    if (order == Order::shuffled) std::shuffle(blocks.begin(), blocks.end(), s.rng);
    std::vector<unsigned> round(n);  // the threads in the order they are resumed (run-ahead: priority)
    for (const dim3& b : blocks) {
        blockIdx = b;
        // A GPU's shared memory holds whatever was there: a read before a write must not find zeros.
        if (dynamic_shared_bytes) std::memset(s.dynamic_shared.get(), 0xff, dynamic_shared_bytes);
        s.fibers.assign(n, Fiber{});
        s.block = Barrier{n, 0, 0};
        s.warps.assign((n + 31) / 32, Barrier{});
        for (unsigned w = 0; w < s.warps.size(); ++w) s.warps[w].live = std::min(32u, n - 32 * w);
        s.slots[0].assign(n, 0);
        s.slots[1].assign(n, 0);
        for (unsigned t = 0; t < n; ++t) {
            Fiber& f = s.fibers[t];
            f.tid = t;
            f.idx = dim3(t % threads.x, (t / threads.x) % threads.y, t / (threads.x * threads.y));
#ifdef ADABENCH_FAST_FIBERS
            // The first switch pops six callee-saved registers and returns into fiber_main with the
            // stack aligned as after a call.
            auto top = reinterpret_cast<uintptr_t>(s.stacks[t].get() + kStackBytes) & ~uintptr_t(15);
            void** sp = reinterpret_cast<void**>(top);
            *--sp = nullptr;
            *--sp = reinterpret_cast<void*>(&fiber_main);
            for (int r = 0; r < 6; ++r) *--sp = nullptr;
            f.sp = sp;
            f.stack_bottom = s.stacks[t].get();
            f.stack_size = kStackBytes;
#ifdef ADABENCH_ASAN_FIBERS
            // A finished fiber never returned: its frames' redzones are still poisoned.
            __asan_unpoison_memory_region(s.stacks[t].get(), kStackBytes);
#endif
#else
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = s.stacks[t].get();
            f.ctx.uc_stack.ss_size = kStackBytes;
            f.ctx.uc_link = nullptr;
            makecontext(&f.ctx, fiber_main, 0);
#endif
        }
        for (unsigned t = 0; t < n; ++t) round[t] = order == Order::reverse ? n - 1 - t : t;
        if (order == Order::shuffled && run_ahead) std::shuffle(round.begin(), round.end(), s.rng);
        unsigned n_done = 0;
        while (n_done < n) {
            if (order == Order::shuffled && !run_ahead) std::shuffle(round.begin(), round.end(), s.rng);
            bool progressed = false;
            for (size_t i = 0; i < n; ++i) {
                Fiber& f = s.fibers[round[i]];
                if (f.done) continue;
                if (f.waiting) {
                    if (f.waiting->gen == f.wait_gen) continue;
                    f.waiting = nullptr;
                }
                const uint64_t releases = s.releases;
                s.cur = &f;
                threadIdx = f.idx;
                to_fiber(s, f);
                progressed = true;
                if (f.done) ++n_done;
                // Run-ahead: a release may have freed threads of higher priority: start again from the first.
                if (run_ahead && s.releases != releases) i = size_t(-1);
            }
            if (!progressed)
                throw std::runtime_error(
                    "emulated CUDA block deadlocked: its threads wait at different barriers (a __syncthreads or "
                    "shuffle not reached by all)");
        }
        s.cur = nullptr;
    }
    if (!pending_fault().empty()) {
        const std::string what = pending_fault();
        pending_fault().clear();
        throw std::runtime_error("emulated CUDA kernel fault: " + what);
    }
}

// Bytes a kernel may write: the race check compares them across schedules.
struct OutputSpan {
    void* p = nullptr;
    size_t bytes = 0;
};

struct RaceCheck {
    bool on = false;  // the emulation's test programs turn it on (racecheck_on.cpp reads the environment)
    size_t max_bytes = size_t(64) << 20;  // larger outputs: the launch runs once, unchecked
    // The schedules each checked launch runs again under, compared with the index-order run.
    std::vector<Schedule> schedules = {{Order::reverse, false},
                                       {Order::shuffled, false},
                                       {Order::forward, true},
                                       {Order::reverse, true},
                                       {Order::shuffled, true}};
    uint64_t checked = 0, unchecked = 0;  // launches, since the program started
};

inline RaceCheck& racecheck() {
    static RaceCheck r;
    return r;
}

// The allocation a launch argument points into, when it is a non-const pointer to emulated device
// memory (const pointers are inputs: a kernel cannot write through them).
template <class A>
void add_output(std::vector<OutputSpan>& out, const A& a) {
    if constexpr (std::is_pointer_v<A> && !std::is_const_v<std::remove_pointer_t<A>>) {
        if (!a) return;
        auto& m = cuda_emulation::memory();
        std::lock_guard<std::mutex> lock(m.mu);
        auto it = m.blocks.upper_bound(static_cast<void*>(const_cast<std::remove_cv_t<std::remove_pointer_t<A>>*>(a)));
        if (it == m.blocks.begin()) return;
        --it;
        const char* base = static_cast<const char*>(it->first);
        const char* p = reinterpret_cast<const char*>(a);
        if (p >= base && p < base + it->second) {
            for (const OutputSpan& o : out)
                if (o.p == it->first) return;
            out.push_back({it->first, it->second});
        }
    }
}

template <class... A>
std::vector<OutputSpan> outputs_of(const A&... a) {
    std::vector<OutputSpan> out;
    if (racecheck().on) (add_output(out, a), ...);  // only the check uses them
    return out;
}

inline std::vector<std::vector<char>> snapshot(const std::vector<OutputSpan>& outs) {
    std::vector<std::vector<char>> s;
    for (const OutputSpan& o : outs) {
        const char* p = static_cast<const char*>(o.p);
        s.emplace_back(p, p + o.bytes);
    }
    return s;
}

inline void restore(const std::vector<OutputSpan>& outs, const std::vector<std::vector<char>>& s) {
    for (size_t i = 0; i < outs.size(); ++i) std::memcpy(outs[i].p, s[i].data(), outs[i].bytes);
}

// Runs the launch in index order; with the race check on, again from the same inputs under each of
// racecheck().schedules, and throws naming the kernel, the schedule and the first differing byte
// when an output differs.
inline void checked_run(const char* name, dim3 grid, dim3 threads, const std::function<void()>& kernel,
                        size_t dynamic_shared_bytes, const std::vector<OutputSpan>& outs) {
    Scheduler& s = sched();
    RaceCheck& rc = racecheck();
    size_t total = 0;
    for (const OutputSpan& o : outs) total += o.bytes;
    if (!rc.on || outs.empty() || total > rc.max_bytes) {
        if (rc.on) ++rc.unchecked;
        s.schedule = Schedule{};
        run_grid(grid, threads, kernel, dynamic_shared_bytes);
        return;
    }
    ++rc.checked;
    const auto before = snapshot(outs);
    s.schedule = Schedule{};
    run_grid(grid, threads, kernel, dynamic_shared_bytes);
    const auto expected = snapshot(outs);
    for (size_t run = 0; run < rc.schedules.size(); ++run) {
        restore(outs, before);
        s.schedule = rc.schedules[run];
        s.rng.seed(uint32_t(0x9e3779b9u * unsigned(run + 1) + uint32_t(rc.checked)));
        try {
            run_grid(grid, threads, kernel, dynamic_shared_bytes);
        } catch (...) {
            s.schedule = Schedule{};
            restore(outs, expected);
            throw;
        }
        s.schedule = Schedule{};
        for (size_t i = 0; i < outs.size(); ++i) {
            const char* got = static_cast<const char*>(outs[i].p);
            const size_t at =
                size_t(std::mismatch(expected[i].begin(), expected[i].end(), got).first - expected[i].begin());
            if (at == outs[i].bytes) continue;
            const size_t word = at / 4 * 4;
            uint32_t want_bits = 0, got_bits = 0;
            std::memcpy(&want_bits, expected[i].data() + word, std::min<size_t>(4, outs[i].bytes - word));
            std::memcpy(&got_bits, got + word, std::min<size_t>(4, outs[i].bytes - word));
            char msg[512];
            std::snprintf(
                msg, sizeof msg,
                "emulated race check: kernel %s (grid %ux%ux%u, block %ux%ux%u) wrote different bytes "
                "under the index schedule and the %s schedule: output %zu, byte %zu of %zu (word 0x%08x vs 0x%08x) — "
                "its result depends on the thread schedule (a data race: a missing __syncthreads or "
                "__syncwarp, or blocks sharing data)",
                name, grid.x, grid.y, grid.z, threads.x, threads.y, threads.z, schedule_name(rc.schedules[run]), i, at,
                outs[i].bytes, want_bits, got_bits);
            restore(outs, expected);
            throw std::runtime_error(msg);
        }
    }
}

// The device's launch limits (compute capability 8.0 and 9.0): at most 1024 threads a block (x, y
// <= 1024, z <= 64), grid y and z <= 65535, x < 2^31, no empty dimension, and dynamic shared memory
// within the sm_80 opt-in maximum (163 KB; sm_90 allows 227 KB, but the build targets both).
inline bool launch_config_valid(dim3 grid, dim3 threads, size_t dynamic_shared_bytes) {
    if (!grid.x || !grid.y || !grid.z || !threads.x || !threads.y || !threads.z) return false;
    if (threads.x > 1024 || threads.y > 1024 || threads.z > 64) return false;
    if (uint64_t(threads.x) * threads.y * threads.z > 1024) return false;
    if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) return false;
    return dynamic_shared_bytes <= size_t(163) * 1024;
}

// A launch: recorded when a stream capture is on (see cuda_runtime_emulation.h), else run now;
// `outputs` are the bytes the race check compares (ADABENCH_LAUNCH passes the allocations behind
// the kernel's non-const pointer arguments).
inline void launch(dim3 grid, dim3 threads, const std::function<void()>& kernel, size_t dynamic_shared_bytes = 0,
                   const char* name = "kernel", std::vector<OutputSpan> outputs = {},
                   const void* kernel_addr = nullptr) {
    if (!launch_config_valid(grid, threads, dynamic_shared_bytes)) {
        cuda_emulation::last_error() = cudaErrorInvalidConfiguration;  // as the runtime: nothing runs
        return;
    }
    if (dynamic_shared_bytes > kDefaultDynamicShared) {
        const auto it = shared_memory_grants().find(kernel_addr);
        if (!kernel_addr || it == shared_memory_grants().end() || it->second < dynamic_shared_bytes) {
            cuda_emulation::last_error() = cudaErrorInvalidValue;  // not opted in: the launch fails
            return;
        }
    }
    if (cuda_emulation::capture().on) {
        cuda_emulation::capture().graph.ops.push_back(
            [=] { launch(grid, threads, kernel, dynamic_shared_bytes, name, outputs, kernel_addr); });
        return;
    }
    checked_run(name, grid, threads, kernel, dynamic_shared_bytes, outputs);
}

template <class T>
T shuffle_from(T v, unsigned src_lane) {
    static_assert(sizeof(T) <= sizeof(uint64_t));
    Scheduler& s = sched();
    Fiber& f = *s.cur;
    std::vector<uint64_t>& slots = s.slots[f.shuffle_parity];
    f.shuffle_parity ^= 1u;
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    slots[f.tid] = bits;
    arrive(s.warps[f.tid / 32]);
    const uint64_t got = slots[(f.tid & ~31u) | (src_lane & 31u)];
    T out;
    std::memcpy(&out, &got, sizeof(T));
    return out;
}

}  // namespace block_emulation

inline void __syncthreads() { block_emulation::arrive(block_emulation::sched().block); }

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
inline float sqrtf(float x) { return std::sqrt(x); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float fmaf(float a, float b, float c) { return std::fma(a, b, c); }
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
