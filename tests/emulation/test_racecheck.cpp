// The emulation's race check (block_emulation.h) must fail: kernels with a deliberate data race — a
// missing __syncthreads between a shared-memory write and another thread's read, a missing barrier
// before a shared buffer is overwritten, a warp reduction through shared memory without __syncwarp,
// one block reading another block's output — are reported, naming the kernel; the same kernels
// with the barrier are not. Also: dynamic shared memory starts as 0xff bytes, not zeros, and a
// launch whose outputs are too large runs once, unchecked. These kernels are test-only; the
// engine's own run under the check in test-emulation (ctest sets ADABENCH_EMU_RACECHECK=1).
#include "block_emulation.h"
// after the emulation
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "engines/cuda/launch.cuh"

namespace adabench {
namespace {

constexpr int kThreads = 64;

// out[t] = in[t] + in[t ^ 1] through shared memory; `sync` says whether the barrier is there.
__global__ void neighbour_sum(const float* in, bool sync, float* out) {
    __shared__ float sh[kThreads];
    const int t = threadIdx.x;
    sh[t] = in[blockIdx.x * kThreads + t];
    if (sync) __syncthreads();
    out[blockIdx.x * kThreads + t] = sh[t] + sh[t ^ 1];
}

// Two rounds over one shared buffer: round 2 overwrites what round 1's neighbours still read unless
// `sync` puts a barrier between the read and the overwrite.
__global__ void two_rounds(const float* in, bool sync, float* out) {
    __shared__ float sh[kThreads];
    const int t = threadIdx.x;
    sh[t] = in[t];
    __syncthreads();
    const float a = sh[(t + 1) % kThreads];
    if (sync) __syncthreads();
    sh[t] = 2.0f * in[t];
    __syncthreads();
    out[t] = a + sh[(t + 3) % kThreads];
}

// A warp's sum through shared memory, written as warp-synchronous code; without __syncwarp (here
// `sync`) lanes read partial sums their neighbours have not written yet.
__global__ void warp_sum(const float* in, bool sync, float* out) {
    __shared__ float sh[32];
    const int t = threadIdx.x;
    sh[t] = in[t];
    for (int off = 16; off > 0; off /= 2) {
        if (sync) __syncthreads();  // one warp: the block barrier is the warp's
        const float v = t < off ? sh[t + off] : 0.0f;
        if (sync) __syncthreads();
        if (t < off) sh[t] += v;
    }
    if (t == 0) out[0] = sh[0];
}

// Two rounds of: each warp sums its lanes with shuffles, lane 0 stores the sum in sh[warp], a barrier,
// every thread adds up sh. Without the barrier at the end of a round (`sync`), a warp that runs
// ahead overwrites sh[warp] with its round-2 sum while other warps still read round 1. Every lane
// of a warp is held at its shuffles, so only a schedule that lets whole warps run ahead shows it.
__global__ void rounds_of_warp_sums(const float* in, bool sync, float* out) {
    __shared__ float sh[kThreads / 32];
    const int t = threadIdx.x, warp = t / 32;
    float total = 0.0f;
    for (int round = 0; round < 2; ++round) {
        float v = in[round * kThreads + t];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (t % 32 == 0) sh[warp] = v;
        __syncthreads();
        for (int w = 0; w < kThreads / 32; ++w) total += sh[w];
        if (sync) __syncthreads();
    }
    out[t] = total;
}

// Block b writes out[b], then block b reads block b-1's slot: blocks are not ordered.
__global__ void chain_blocks(const float* in, float* out) {
    const int b = blockIdx.x;
    if (threadIdx.x == 0) {
        out[b] = in[b];
        if (b > 0) out[b] += out[b - 1];
    }
}

__global__ void read_dynamic_shared(float* out) {
    ADABENCH_DYNAMIC_SHARED(float, sh);
    out[threadIdx.x] = sh[threadIdx.x];
}

__global__ void fill(float* out, float v) { out[blockIdx.x * blockDim.x + threadIdx.x] = v; }

// Turns the check on for one test and restores it after.
struct RaceCheckOn {
    bool was = block_emulation::racecheck().on;
    RaceCheckOn() { block_emulation::racecheck().on = true; }
    ~RaceCheckOn() { block_emulation::racecheck().on = was; }
};

// A device array of floats in the emulated runtime's memory (the race check's outputs live there).
// Launches take its pointer copied into a local: ADABENCH_LAUNCH's lambda captures by value.
struct Floats {
    float* p = nullptr;
    size_t n;
    explicit Floats(std::vector<float> v) : n(v.size()) {
        EXPECT_EQ(cudaMalloc(&p, n * sizeof(float)), cudaSuccess);
        std::memcpy(p, v.data(), n * sizeof(float));
    }
    ~Floats() { cudaFree(p); }
    Floats(const Floats&) = delete;  // a launch's lambda captures its arguments: pass .p, by value
    Floats& operator=(const Floats&) = delete;
    std::vector<float> get() const {
        std::vector<float> v(n);
        std::memcpy(v.data(), p, n * sizeof(float));
        return v;
    }
};

std::vector<float> iota_floats(size_t n) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = float(i) + 1.0f;
    return v;
}

std::string race_error(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "";
}

TEST(EmulationRaceCheck, MissingSyncthreadsBeforeAReadIsReported) {
    RaceCheckOn on;
    Floats in(iota_floats(2 * kThreads)), out(std::vector<float>(2 * kThreads, 0.0f));
    const float* x = in.p;
    float* y = out.p;
    const std::string err = race_error([&] { ADABENCH_LAUNCH(neighbour_sum, 2, kThreads, nullptr, x, false, y); });
    EXPECT_NE(err.find("race check: kernel neighbour_sum"), std::string::npos) << err;
    EXPECT_NE(err.find("missing __syncthreads"), std::string::npos) << err;

    ADABENCH_LAUNCH(neighbour_sum, 2, kThreads, nullptr, x, true, y);
    const std::vector<float> got = out.get();
    for (int i = 0; i < 2 * kThreads; ++i) ASSERT_EQ(got[i], float(i + 1) + float((i ^ 1) + 1)) << i;
}

TEST(EmulationRaceCheck, OverwritingWhatOthersStillReadIsReported) {
    RaceCheckOn on;
    Floats in(iota_floats(kThreads)), out(std::vector<float>(kThreads, 0.0f));
    const float* x = in.p;
    float* y = out.p;
    EXPECT_NE(
        race_error([&] { ADABENCH_LAUNCH(two_rounds, 1, kThreads, nullptr, x, false, y); }).find("kernel two_rounds"),
        std::string::npos);
    EXPECT_EQ(race_error([&] { ADABENCH_LAUNCH(two_rounds, 1, kThreads, nullptr, x, true, y); }), "");
    const std::vector<float> got = out.get();
    for (int t = 0; t < kThreads; ++t)
        ASSERT_EQ(got[t], float((t + 1) % kThreads + 1) + 2.0f * float((t + 3) % kThreads + 1)) << t;
}

TEST(EmulationRaceCheck, WarpSynchronousReductionWithoutSyncIsReported) {
    RaceCheckOn on;
    Floats in(iota_floats(32)), out(std::vector<float>(1, 0.0f));
    const float* x = in.p;
    float* y = out.p;
    EXPECT_NE(race_error([&] { ADABENCH_LAUNCH(warp_sum, 1, 32, nullptr, x, false, y); }).find("kernel warp_sum"),
              std::string::npos);
    EXPECT_EQ(race_error([&] { ADABENCH_LAUNCH(warp_sum, 1, 32, nullptr, x, true, y); }), "");
    EXPECT_EQ(out.get()[0], 32.0f * 33.0f / 2.0f);
}

TEST(EmulationRaceCheck, AWarpRunningAheadIntoASharedBufferIsReported) {
    RaceCheckOn on;
    Floats in(iota_floats(2 * kThreads)), out(std::vector<float>(kThreads, 0.0f));
    const float* x = in.p;
    float* y = out.p;
    const std::string err =
        race_error([&] { ADABENCH_LAUNCH(rounds_of_warp_sums, 1, kThreads, nullptr, x, false, y); });
    EXPECT_NE(err.find("kernel rounds_of_warp_sums"), std::string::npos) << err;
    EXPECT_NE(err.find("run-ahead"), std::string::npos) << "only a run-ahead schedule can show it: " << err;
    EXPECT_EQ(race_error([&] { ADABENCH_LAUNCH(rounds_of_warp_sums, 1, kThreads, nullptr, x, true, y); }), "");
    const float sum_all = float(2 * kThreads) * float(2 * kThreads + 1) / 2.0f;
    for (float v : out.get()) ASSERT_EQ(v, sum_all);
}

TEST(EmulationRaceCheck, BlocksReadingEachOthersOutputAreReported) {
    RaceCheckOn on;
    Floats in(iota_floats(8)), out(std::vector<float>(8, 0.0f));
    const float* x = in.p;
    float* y = out.p;
    const std::string err = race_error([&] { ADABENCH_LAUNCH(chain_blocks, 8, 32, nullptr, x, y); });
    EXPECT_NE(err.find("kernel chain_blocks (grid 8x1x1, block 32x1x1)"), std::string::npos) << err;
    EXPECT_EQ(out.get()[7], 36.0f) << "after a report the outputs are the index-order run's";
}

TEST(EmulationRaceCheck, OffItRunsOnceInIndexOrder) {
    const bool was = block_emulation::racecheck().on;
    block_emulation::racecheck().on = false;
    Floats in(iota_floats(8)), out(std::vector<float>(8, 0.0f));
    const float* x = in.p;
    float* y = out.p;
    EXPECT_EQ(race_error([&] { ADABENCH_LAUNCH(chain_blocks, 8, 32, nullptr, x, y); }), "");
    block_emulation::racecheck().on = was;
    EXPECT_EQ(out.get()[7], 36.0f);
}

TEST(EmulationRaceCheck, DynamicSharedMemoryIsNotZeroedForTheKernel) {
    Floats out(std::vector<float>(32, 0.0f));
    float* y = out.p;
    ADABENCH_LAUNCH_SMEM(read_dynamic_shared, 1, 32, 32 * sizeof(float), nullptr, y);
    const std::vector<float> got = out.get();
    for (float v : got) EXPECT_TRUE(std::isnan(v));
}

TEST(EmulationRaceCheck, OutputsOverTheLimitRunOnceUnchecked) {
    RaceCheckOn on;
    block_emulation::RaceCheck& rc = block_emulation::racecheck();
    const size_t max_bytes = rc.max_bytes;
    Floats small(std::vector<float>(64, 0.0f));
    float* y = small.p;
    const uint64_t checked = rc.checked, unchecked = rc.unchecked;
    ADABENCH_LAUNCH(fill, 2, 32, nullptr, y, 1.5f);
    EXPECT_EQ(rc.checked, checked + 1);
    rc.max_bytes = 64;  // the allocation is 256 bytes
    ADABENCH_LAUNCH(fill, 2, 32, nullptr, y, 2.5f);
    rc.max_bytes = max_bytes;
    EXPECT_EQ(rc.unchecked, unchecked + 1);
    const std::vector<float> got = small.get();
    for (float v : got) EXPECT_EQ(v, 2.5f);
}

}  // namespace
}  // namespace adabench
