// Fork sweep vs separate runs (TARGETS.md "Sweeps"): k thinking budgets on the same prompts, run
// (a) as one fork sweep, (b) as k separate runs (what every published harness does), (c) the
// largest budget alone. Reports decoded (sampled) tokens, fed tokens and wall time of each, and
// the ratios to (c); the target is sweep <= 1.3x the largest-budget run alone.
//
// Model: random weights (engines/cpu/random_model.h), Qwen2-shaped, hidden 256, 6 layers, vocab 384,
// with the organism's mini tokenizer (tests/fixtures/tokenizer/organism_mini) so the markers and
// the forced text are real tokens. A random model would close thinking at random, so the benchmark
// sets an end marker it can never write: every budget forks, the worst case for the sweep. EOS is
// off (a random model would stop at random). Wall time and process CPU time are both reported: on
// a shared, loaded machine CPU time is the steadier measure. Compare ratios from one run.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>

#include "engines/cpu/cpu_backend.h"
#include "engines/cpu/random_model.h"
#include "engines/generation/generator.h"
#include "engines/tokenizer/tokenizer.h"

using namespace adabench;

namespace {

const std::vector<int> kBudgets = {32, 64, 128, 256};
constexpr int kPrompts = 4;
constexpr int kAnswerBudget = 32;

struct Setup {
    std::unique_ptr<Tokenizer> tok;
    std::unique_ptr<TokenizerText> text;
    std::shared_ptr<CpuBackend> backend;
    GeneratorOptions opts;
    std::vector<GenerateRequest> requests;  // with every budget
};

Setup& setup() {
    static Setup s = [] {
        Setup st;
        const char* env = std::getenv("ADABENCH_SOURCE_DIR");
        std::string root = env ? env : ADABENCH_SOURCE_DIR;
        st.tok = std::make_unique<Tokenizer>(Tokenizer::load(root + "/tests/fixtures/tokenizer/organism_mini"));
        st.text = std::make_unique<TokenizerText>(*st.tok);
        ModelConfig c = cpu_config_tiny(false, 2);
        c.vocab_size = 384;
        c.hidden_size = 256;
        c.n_layers = 6;
        c.n_heads = 8;
        c.n_kv_heads = 2;
        c.head_dim = 32;
        c.intermediate_size = 768;
        c.max_position_embeddings = 2048;
        c.eos_token_ids.clear();
        auto w = cpu_random_model(c, DTYPE_F32, 42);
        CpuBackendOptions bo;
        bo.n_threads = 2;
        st.backend = std::make_shared<CpuBackend>(w, bo);
        st.opts.max_batch = 64;
        const char* qs[kPrompts] = {"What is 3+4?", "Tom has 5 apples and eats 2.", "Compute 12*3.", "Is 91 prime?"};
        for (int i = 0; i < kPrompts; ++i) {
            GenerateRequest r;
            r.prompt_ids = st.tok->encode(std::string("<|im_start|>user\n") + qs[i] +
                                          "<|im_end|>\n<|im_start|>assistant\n<think>\n");
            r.prompt_opens_thinking = true;
            r.seq_id = static_cast<uint64_t>(i);
            r.sampling.temperature = 0.7f;
            r.sampling.top_p = 0.95f;
            r.sampling.seed = 1;
            r.max_tokens = 4096;
            r.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
            r.budget.answer_budget = kAnswerBudget;
            // An end marker the model cannot write: no sequence ends thinking on its own, so every
            // budget forks (the sweep's worst case) and every run decodes the same lengths.
            r.budget.think_end = "<never-ends-thinking>";
            r.think_budgets = kBudgets;
            st.requests.push_back(r);
        }
        return st;
    }();
    return s;
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Measured {
    double seconds = 0, cpu = 0;
    int64_t sampled = 0, fed = 0, steps = 0;
};
std::map<std::string, Measured> g_measured;

Measured run_requests(const std::vector<GenerateRequest>& reqs) {
    Setup& s = setup();
    GeneratorStats st;
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu_seconds();
    auto res = generator_run(*s.backend, *s.text, s.opts, reqs, &st);
    Measured m;
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.cpu = cpu_seconds() - c0;
    m.sampled = st.n_tokens_sampled;
    m.fed = st.n_tokens_prefill + st.n_tokens_inserted + st.n_tokens_sampled;
    m.steps = st.n_steps;
    benchmark::DoNotOptimize(res);
    return m;
}

std::vector<GenerateRequest> with_budgets(std::vector<int> budgets) {
    auto reqs = setup().requests;
    for (auto& r : reqs) r.think_budgets = budgets;
    return reqs;
}

void report(benchmark::State& state, const std::string& name, const Measured& m) {
    g_measured[name] = m;
    state.SetIterationTime(m.seconds);
    state.counters["decoded_tokens"] = static_cast<double>(m.sampled);
    state.counters["fed_tokens"] = static_cast<double>(m.fed);
    state.counters["steps"] = static_cast<double>(m.steps);
    state.counters["cpu_s"] = m.cpu;
    state.counters["tokens_per_s"] = static_cast<double>(m.sampled) / m.seconds;
}

void BM_ForkSweep(benchmark::State& state) {
    for (auto _ : state) report(state, "fork_sweep", run_requests(setup().requests));
}

void BM_SeparateRuns(benchmark::State& state) {
    for (auto _ : state) {
        Measured total;
        for (int b : kBudgets) {
            Measured m = run_requests(with_budgets({b}));
            total.seconds += m.seconds;
            total.cpu += m.cpu;
            total.sampled += m.sampled;
            total.fed += m.fed;
            total.steps += m.steps;
        }
        report(state, "separate_runs", total);
    }
}

void BM_LargestAlone(benchmark::State& state) {
    for (auto _ : state) report(state, "largest_alone", run_requests(with_budgets({kBudgets.back()})));
}

}  // namespace

BENCHMARK(BM_LargestAlone)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_ForkSweep)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_SeparateRuns)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(1);

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    auto it = g_measured.find("largest_alone");
    if (it == g_measured.end()) return 0;
    const Measured& base = it->second;
    std::printf("\n%d prompts, budgets", kPrompts);
    for (int b : kBudgets) std::printf(" %d", b);
    std::printf(", answer_budget %d (last iteration of each; ratios to the largest budget alone)\n", kAnswerBudget);
    std::printf("%-15s %10s %8s %10s %8s %10s %8s %8s\n", "mode", "decoded", "ratio", "wall_ms", "ratio", "cpu_ms",
                "ratio", "steps");
    for (const char* name : {"largest_alone", "fork_sweep", "separate_runs"}) {
        auto m = g_measured.find(name);
        if (m == g_measured.end()) continue;
        std::printf("%-15s %10lld %7.2fx %10.1f %7.2fx %10.1f %7.2fx %8lld\n", name,
                    static_cast<long long>(m->second.sampled), double(m->second.sampled) / double(base.sampled),
                    m->second.seconds * 1e3, m->second.seconds / base.seconds, m->second.cpu * 1e3,
                    m->second.cpu / base.cpu, static_cast<long long>(m->second.steps));
    }
    auto sw = g_measured.find("fork_sweep");
    if (sw != g_measured.end()) {
        std::printf("fork sweep = %.2fx (wall) / %.2fx (cpu) the largest-budget run alone (target <= 1.3x)\n",
                    sw->second.seconds / base.seconds, sw->second.cpu / base.cpu);
    }
    return 0;
}
