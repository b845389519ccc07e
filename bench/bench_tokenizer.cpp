// Tokenizer throughput with the real Qwen2 vocabulary (tests/fixtures/tokenizer/qwen2): encode
// (MB/s and tokens/s, cold = per-piece cache cleared every iteration, warm = cache filled) and
// decode, on a few MB of real text — MATH500 problems and solutions and GSM8K questions and answers
// from datasets/data/ — or the reference-tokenization texts when the datasets are not there.
//
//   build/bench/bench-tokenizer [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/io.h"
#include "engines/tokenizer/tokenizer.h"

namespace {

using adabench::Tokenizer;

std::string source_dir() {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return env ? env : ADABENCH_SOURCE_DIR;
}

// Texts from the dataset files (one document per field), or the fixture texts as a fallback.
const std::vector<std::string>& corpus() {
    static const std::vector<std::string> texts = [] {
        std::vector<std::string> out;
        const std::string data = source_dir() + "/datasets/data/";
        const std::vector<std::pair<std::string, std::vector<std::string>>> files = {
            {"math500_test.jsonl", {"problem", "solution"}},
            {"gsm8k_test.jsonl", {"question", "answer"}},
            {"gsm8k_train.jsonl", {"question", "answer"}},
        };
        for (const auto& [file, fields] : files) {
            if (!adabench::io_file_exists(data + file)) continue;
            std::string text = adabench::io_read_file(data + file);
            for (size_t pos = 0; pos < text.size();) {
                size_t eol = text.find('\n', pos);
                if (eol == std::string::npos) eol = text.size();
                std::string line = text.substr(pos, eol - pos);
                pos = eol + 1;
                if (line.empty()) continue;
                nlohmann::json j = nlohmann::json::parse(line);
                for (const std::string& f : fields) {
                    if (j.contains(f) && j[f].is_string()) out.push_back(j[f].get<std::string>());
                }
            }
        }
        if (out.empty()) {
            nlohmann::json cases =
                adabench::io_read_json(source_dir() + "/tests/fixtures/tokenizer/reference/qwen2_cases.json");
            for (int rep = 0; rep < 200; ++rep) {
                for (const auto& c : cases) out.push_back(c["text"].get<std::string>());
            }
        }
        size_t bytes = 0;
        for (const std::string& t : out) bytes += t.size();
        std::fprintf(stderr, "corpus: %zu documents, %.2f MB\n", out.size(), bytes / 1e6);
        return out;
    }();
    return texts;
}

const Tokenizer& tokenizer() {
    static const Tokenizer tok = Tokenizer::load(source_dir() + "/tests/fixtures/tokenizer/qwen2");
    return tok;
}

size_t corpus_bytes() {
    size_t n = 0;
    for (const std::string& t : corpus()) n += t.size();
    return n;
}

void encode_corpus(benchmark::State& state, bool cold) {
    const Tokenizer& tok = tokenizer();
    const std::vector<std::string>& texts = corpus();
    size_t n_tokens = 0;
    if (!cold) {
        for (const std::string& t : texts) tok.encode(t);  // fill the cache
    }
    for (auto _ : state) {
        if (cold) tok.clear_cache();
        n_tokens = 0;
        for (const std::string& t : texts) {
            std::vector<int32_t> ids = tok.encode(t);
            n_tokens += ids.size();
            benchmark::DoNotOptimize(ids.data());
        }
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus_bytes()));
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(n_tokens) * state.iterations(), benchmark::Counter::kIsRate);
    state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_encode_cold(benchmark::State& state) { encode_corpus(state, true); }
void BM_encode_warm(benchmark::State& state) { encode_corpus(state, false); }

void BM_decode(benchmark::State& state) {
    const Tokenizer& tok = tokenizer();
    std::vector<std::vector<int32_t>> ids;
    size_t n_tokens = 0;
    for (const std::string& t : corpus()) {
        ids.push_back(tok.encode(t));
        n_tokens += ids.back().size();
    }
    for (auto _ : state) {
        for (const auto& v : ids) {
            std::string s = tok.decode(v);
            benchmark::DoNotOptimize(s.data());
        }
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus_bytes()));
    state.counters["tokens/s"] =
        benchmark::Counter(static_cast<double>(n_tokens) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_load_vocab_merges(benchmark::State& state) {
    for (auto _ : state) {
        Tokenizer tok = Tokenizer::load(source_dir() + "/tests/fixtures/tokenizer/qwen2");
        benchmark::DoNotOptimize(tok.vocab_size());
    }
}

BENCHMARK(BM_encode_cold)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_encode_warm)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_decode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_load_vocab_merges)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
