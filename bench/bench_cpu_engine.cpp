// CPU engine speed: prefill (64-token prompt) and decode tokens/s at batch 1 and 16, for a random
// Qwen2.5-0.5B-shaped bf16 model (TARGETS.md) and an organism-sized model, in both precision modes,
// next to this machine's measured ceilings taken in the same run: streaming read bandwidth and the
// fp32 FMA / bf16 dot-product peaks, all on the same threads the engine uses.
//
// setup/<model> times building the backend from weights already in memory (with AVX-512 and BF16
// weights that includes the panel copies, panel_MiB); the rest:
// Counters: tok_s (tokens per second), GBps (weight bytes read per second: a decode step reads every
// matrix once, whatever the batch), GFLOPs (2 x matmul parameters x tokens; attention not counted).
// The *_owned counters divide by process CPU time instead of wall time (tok_s_owned = tokens per
// CPU-second x threads): on a shared machine they say what the code does on the cores it actually
// gets; pct_peak_owned / pct_bw_owned compare them with the ceilings measured the same way (the fp32
// FMA peak in exact mode, the bf16 dot peak in fast mode; the read bandwidth for decode). Spin-waiting
// counts as CPU time, so the owned figures are conservative. Each benchmark runs 3 repetitions; read
// the medians. Weights are random and built in memory.
//
//   build-cpu/bench/bench-cpu-engine                      # everything (~2-3 minutes)
//   build-cpu/bench/bench-cpu-engine --benchmark_filter=qwen0.5b
//   ADABENCH_BENCH_THREADS=1 build-cpu/bench/bench-cpu-engine
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engines/cpu/cpu_backend.h"
#include "engines/cpu/random_model.h"

#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

using namespace adabench;

namespace {

int bench_threads() {
    const char* env = std::getenv("ADABENCH_BENCH_THREADS");
    return env && *env ? std::atoi(env) : 2;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds used by the whole process (all threads) and by the calling thread. On a shared,
// oversubscribed machine, work per CPU-second is the stable figure: it is what the code achieves
// on the cores it actually gets (spin-waiting counts against us, so it is conservative).
double process_cpu_seconds() {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
double thread_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// ---- machine ceilings ----

__attribute__((target("avx512f"))) float read_sum_avx512(const float* p, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

__attribute__((target("avx2"))) float read_sum_avx2(const float* p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

// FLOPs of n iterations of 12 independent vector FMAs (fp32) or vdpbf16ps (bf16 pairs).
__attribute__((target("avx512f"))) double fma_loop_avx512(int64_t n) {
    __m512 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(float(i) * 1e-3f);
    const __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-4f);
    for (int64_t k = 0; k < n; ++k) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], x, y);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
    benchmark::DoNotOptimize(s);
    return double(n) * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"))) double fma_loop_avx2(int64_t n) {
    __m256 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(float(i) * 1e-3f);
    const __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-4f);
    for (int64_t k = 0; k < n; ++k) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], x, y);
    }
    __m256 s = a[0];
    for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
    benchmark::DoNotOptimize(s);
    return double(n) * 12 * 8 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) double dot_loop_bf16(int64_t n) {
    __m512 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm512_setzero_ps();
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3a80);
    for (int64_t k = 0; k < n; ++k) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
    benchmark::DoNotOptimize(s);
    return double(n) * 12 * 32 * 2;
}

struct Ceilings {
    // wall-clock rates on `threads` threads (what we got from the shared machine)
    double read_gbps = 0;
    double fp32_gflops = 0;
    double bf16_gflops = 0;  // 0 when the CPU has no vdpbf16ps
    // the same per CPU-second of each thread, times the thread count: the rate with the cores to ourselves
    double read_gbps_owned = 0;
    double fp32_gflops_owned = 0;
    double bf16_gflops_owned = 0;
};

// Each ceiling runs on `threads` threads at once (the engine's configuration); best of 3.
Ceilings measure_ceilings(int threads) {
    Ceilings c;
    CpuThreadPool pool(threads);
    CpuIsa isa = cpu_isa_detect();
    const size_t n = size_t(256) << 20;  // 1 GiB of floats: far beyond the caches
    std::vector<float> buf(n, 1.0f);
    for (int rep = 0; rep < 3; ++rep) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<double> cpu(static_cast<size_t>(threads));
        pool.run(threads, [&](int i) {
            double c0 = thread_cpu_seconds();
            size_t b = n / size_t(threads) * size_t(i), len = n / size_t(threads);
            float s = isa >= CPU_ISA_AVX512 ? read_sum_avx512(buf.data() + b, len)
                      : isa >= CPU_ISA_AVX2 ? read_sum_avx2(buf.data() + b, len)
                                            : buf[b];
            benchmark::DoNotOptimize(s);
            cpu[size_t(i)] = thread_cpu_seconds() - c0;
        });
        c.read_gbps = std::max(c.read_gbps, double(n) * 4 / seconds_since(t0) / 1e9);
        double owned = 0;
        for (int i = 0; i < threads; ++i) owned += double(n) * 4 / double(threads) / cpu[size_t(i)] / 1e9;
        c.read_gbps_owned = std::max(c.read_gbps_owned, owned);
    }
    const int64_t iters = 20000000;
    auto peak = [&](double (*loop)(int64_t), double& wall_rate, double& owned_rate) {
        for (int rep = 0; rep < 3; ++rep) {
            std::vector<double> flops(static_cast<size_t>(threads)), cpu(static_cast<size_t>(threads));
            auto t0 = std::chrono::steady_clock::now();
            pool.run(threads, [&](int i) {
                double c0 = thread_cpu_seconds();
                flops[size_t(i)] = loop(iters);
                cpu[size_t(i)] = thread_cpu_seconds() - c0;
            });
            double total = 0, owned = 0;
            for (int i = 0; i < threads; ++i) {
                total += flops[size_t(i)];
                owned += flops[size_t(i)] / cpu[size_t(i)] / 1e9;
            }
            wall_rate = std::max(wall_rate, total / seconds_since(t0) / 1e9);
            owned_rate = std::max(owned_rate, owned);
        }
    };
    if (isa >= CPU_ISA_AVX512)
        peak(fma_loop_avx512, c.fp32_gflops, c.fp32_gflops_owned);
    else if (isa >= CPU_ISA_AVX2)
        peak(fma_loop_avx2, c.fp32_gflops, c.fp32_gflops_owned);
    if (isa >= CPU_ISA_AVX512_BF16) peak(dot_loop_bf16, c.bf16_gflops, c.bf16_gflops_owned);
    return c;
}

const Ceilings& ceilings() {
    static const Ceilings c = measure_ceilings(bench_threads());
    return c;
}

// ---- models ----

struct BenchModel {
    std::shared_ptr<ModelWeights> weights;
    int64_t weight_bytes = 0;  // matrices read by one decode step
    int64_t layer_params = 0;  // matmul parameters per token (layers only)
    int64_t head_params = 0;   // lm_head parameters (once per sequence per step)
};

const BenchModel& bench_model(const std::string& name) {
    static std::map<std::string, BenchModel> cache;
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    BenchModel m;
    if (name == "qwen0.5b") {
        m.weights = cpu_random_model(cpu_config_qwen2_0_5b(), DTYPE_BF16, 1);
    } else {
        m.weights = cpu_random_model(cpu_config_organism(), DTYPE_F32, 1);
    }
    const ModelConfig& c = m.weights->config;
    m.weight_bytes = cpu_model_weight_bytes(*m.weights);
    int64_t q = int64_t(c.n_heads) * c.head_dim, kv = int64_t(c.n_kv_heads) * c.head_dim;
    m.layer_params = int64_t(c.n_layers) * (int64_t(c.hidden_size) * (q + 2 * kv) + q * c.hidden_size +
                                            3 * int64_t(c.hidden_size) * c.intermediate_size);
    m.head_params = int64_t(c.vocab_size) * c.hidden_size;
    return cache.emplace(name, std::move(m)).first->second;
}

std::unique_ptr<CpuBackend> make_backend(const BenchModel& m, CpuPrecision precision) {
    CpuBackendOptions o;
    o.n_threads = bench_threads();
    o.precision = precision;
    o.max_seq_len = 4096;
    return std::make_unique<CpuBackend>(m.weights, o);
}

std::vector<int32_t> prompt_of(int n, int vocab, int salt) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) p[size_t(i)] = int32_t((i * 7919 + salt * 104729) % vocab);
    return p;
}

// Wall-clock rates (kIsRate) and the same per owned core: work / (process CPU seconds / threads).
void set_counters(benchmark::State& state, const BenchModel& m, double tokens, double seqs, double steps, bool decode,
                  double cpu_seconds, CpuPrecision precision) {
    const Ceilings& c = ceilings();
    double flops = 2.0 * (double(m.layer_params) * tokens + double(m.head_params) * seqs);
    double owned_s = cpu_seconds / double(bench_threads());
    state.counters["tok_s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
    state.counters["GFLOPs"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
    state.counters["tok_s_owned"] = tokens / owned_s;
    double peak =
        precision == CPU_PRECISION_FAST && c.bf16_gflops_owned > 0 ? c.bf16_gflops_owned : c.fp32_gflops_owned;
    state.counters["pct_peak_owned"] = 100.0 * flops / owned_s / 1e9 / peak;
    if (decode) {
        double bytes = double(m.weight_bytes) * steps;
        state.counters["GBps"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsRate);
        state.counters["pct_bw_owned"] = 100.0 * bytes / owned_s / 1e9 / c.read_gbps_owned;
    }
}

// Prefill: a fresh 64-token prompt into one slot per iteration.
void BM_prefill(benchmark::State& state, std::string model, CpuPrecision precision) {
    const BenchModel& m = bench_model(model);
    auto b = make_backend(m, precision);
    const int n = int(state.range(0));
    std::vector<float> logits(static_cast<size_t>(m.weights->config.vocab_size));
    BackendBatch batch;
    batch.tokens = {prompt_of(n, m.weights->config.vocab_size, 1)};
    double cpu0 = process_cpu_seconds();
    for (auto _ : state) {
        batch.slots = {b->seq_alloc()};
        b->forward(batch, logits.data());
        b->seq_free(batch.slots[0]);
    }
    set_counters(state, m, double(n) * double(state.iterations()), double(state.iterations()),
                 double(state.iterations()), false, process_cpu_seconds() - cpu0, precision);
    state.SetLabel(b->device());
}

// Decode: `batch` sequences at context 64, one token each per step (truncated back after the step
// so every iteration sees the same context length).
void BM_decode(benchmark::State& state, std::string model, CpuPrecision precision) {
    const BenchModel& m = bench_model(model);
    auto b = make_backend(m, precision);
    const int n_seq = int(state.range(0)), ctx = 64, V = m.weights->config.vocab_size;
    int first = b->seq_alloc();
    std::vector<float> logits(static_cast<size_t>(n_seq) * size_t(V));
    BackendBatch pre;
    pre.slots = {first};
    pre.tokens = {prompt_of(ctx, V, 2)};
    b->forward(pre, logits.data());
    BackendBatch batch;
    batch.slots = {first};
    for (int i = 1; i < n_seq; ++i) batch.slots.push_back(b->seq_fork(first));
    for (int i = 0; i < n_seq; ++i) batch.tokens.push_back({int32_t((i * 31 + 5) % V)});
    b->forward(batch, logits.data());  // warm-up step
    for (int s : batch.slots) b->seq_truncate(s, ctx);
    double cpu0 = process_cpu_seconds();
    for (auto _ : state) {
        b->forward(batch, logits.data());
        state.PauseTiming();
        for (int s : batch.slots) b->seq_truncate(s, ctx);
        state.ResumeTiming();
    }
    double steps = double(state.iterations());
    set_counters(state, m, steps * n_seq, steps * n_seq, steps, true, process_cpu_seconds() - cpu0, precision);
    state.SetLabel(b->device());
}

// Backend setup for a weight set already in memory: checks, fp32 norm vectors and (AVX-512, BF16)
// the panel copies of every matrix. This is the time added to loading, and to each set_weights.
void BM_setup(benchmark::State& state, std::string model, CpuPrecision precision) {
    const BenchModel& m = bench_model(model);
    int64_t panel_bytes = 0;
    for (auto _ : state) {
        auto b = make_backend(m, precision);
        panel_bytes = b->panel_bytes();
        state.PauseTiming();
        b.reset();
        state.ResumeTiming();
    }
    state.counters["panel_MiB"] = double(panel_bytes) / double(1 << 20);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    // Ceilings first, so they are in the log even when only some benchmarks run.
    const Ceilings& c = ceilings();
    std::printf(
        "machine: %d threads, %s\n"
        "  measured now (wall clock, shared machine): read %.1f GB/s, fp32 FMA %.0f GFLOP/s, bf16 dot %.0f GFLOP/s\n"
        "  per owned core x %d (CPU-time based):      read %.1f GB/s, fp32 FMA %.0f GFLOP/s, bf16 dot %.0f GFLOP/s\n",
        bench_threads(), cpu_isa_name(cpu_isa_detect()), c.read_gbps, c.fp32_gflops, c.bf16_gflops, bench_threads(),
        c.read_gbps_owned, c.fp32_gflops_owned, c.bf16_gflops_owned);
    std::fflush(stdout);
    for (const char* model : {"qwen0.5b", "organism"}) {
        benchmark::RegisterBenchmark((std::string("setup/") + model).c_str(), BM_setup, std::string(model),
                                     CPU_PRECISION_FAST)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->Iterations(3);
        for (CpuPrecision p : {CPU_PRECISION_EXACT, CPU_PRECISION_FAST}) {
            std::string suffix = std::string(model) + "/" + cpu_precision_name(p);
            benchmark::RegisterBenchmark(("prefill/" + suffix).c_str(), BM_prefill, std::string(model), p)
                ->Arg(64)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime()
                ->MinTime(1.0)
                ->Repetitions(3);
            benchmark::RegisterBenchmark(("decode/" + suffix).c_str(), BM_decode, std::string(model), p)
                ->Arg(1)
                ->Arg(16)
                ->ArgName("batch")
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime()
                ->MinTime(1.0)
                ->Repetitions(3);
        }
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
