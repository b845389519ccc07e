// Store throughput: how many graded samples per second the harness can commit (one transaction per
// engine batch, as the runner does) and read back for reports. The point is that the store is never
// the bottleneck of a sweep: compare samples/s here with the engine's samples/s.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "store/store.h"

namespace {

std::string bench_db(const char* name) {
    auto p = std::filesystem::temp_directory_path() / ("adabench-bench-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove(p);
    std::filesystem::remove(p.string() + "-wal");
    std::filesystem::remove(p.string() + "-shm");
    return p.string();
}

adabench::SampleRecord sample(int64_t run, int64_t point, int64_t i, size_t text_bytes) {
    adabench::SampleRecord s;
    s.run_id = run;
    s.point_id = point;
    s.problem_id = "problem-" + std::to_string(i);
    s.n_tokens_think = 100;
    s.finish_reason = "eos";
    s.extracted_strict = s.extracted_flexible = s.gold = "42";
    s.response_text = std::string(text_bytes, 'x');
    s.prompt_text = std::string(text_bytes / 4, 'p');
    return s;
}

}  // namespace

// Commits batches of range(0) samples with range(1) bytes of response text each.
static void BM_StoreInsertBatch(benchmark::State& state) {
    std::string path = bench_db("insert.db");
    adabench::Store st(path);
    int64_t run = st.insert_run({});
    int64_t next = 0;
    for (auto _ : state) {
        std::vector<adabench::SampleRecord> batch;
        for (int64_t i = 0; i < state.range(0); ++i) batch.push_back(sample(run, 0, next++, size_t(state.range(1))));
        benchmark::DoNotOptimize(st.insert_samples(batch));
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * state.range(0));
    state.counters["samples/s"] =
        benchmark::Counter(double(state.iterations() * state.range(0)), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreInsertBatch)->Args({16, 1000})->Args({64, 1000})->Args({64, 10000})->UseRealTime();

// Reads every sample of a 10,000-sample run, with and without the texts.
static void BM_StoreListSamples(benchmark::State& state) {
    std::string path = bench_db("read.db");
    adabench::Store st(path);
    int64_t run = st.insert_run({});
    std::vector<adabench::SampleRecord> batch;
    for (int64_t i = 0; i < 10000; ++i) batch.push_back(sample(run, i % 50, i, 1000));
    st.insert_samples(batch);
    adabench::SampleFilter f;
    f.run_id = run;
    f.with_text = state.range(0) != 0;
    for (auto _ : state) benchmark::DoNotOptimize(st.list_samples(f).size());
    state.counters["samples/s"] = benchmark::Counter(double(state.iterations() * 10000), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StoreListSamples)->Arg(0)->Arg(1)->UseRealTime();

BENCHMARK_MAIN();
