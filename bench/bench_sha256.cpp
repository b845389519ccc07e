// SHA-256 throughput: every dataset load and every run's content hash goes through it.
#include <benchmark/benchmark.h>

#include <string>

#include "common/sha256.h"

static void BM_Sha256(benchmark::State& state) {
    std::string data(size_t(state.range(0)), 'x');
    for (auto _ : state) benchmark::DoNotOptimize(adabench::sha256_hex(data));
    state.SetBytesProcessed(int64_t(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(1 << 10)->Arg(1 << 20);
BENCHMARK_MAIN();
