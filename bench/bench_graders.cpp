// bench-graders: grading throughput. Short answers: every MATH500 gold against itself and against
// a boxed response (answers/s on one core; target >= 100k/s). Long responses: 1 MB adversarial
// texts (deep braces, a million digits, repeated \boxed{) graded end to end (bytes/s).
#include <benchmark/benchmark.h>

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graders/grader.h"

using namespace adabench;

namespace {

const std::vector<std::string>& math500_golds() {
    static const std::vector<std::string> golds = [] {
        std::vector<std::string> g;
        std::ifstream in(std::string(ADABENCH_SOURCE_DIR) + "/datasets/data/math500_test.jsonl");
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) g.push_back(nlohmann::json::parse(line)["answer"].get<std::string>());
        return g;
    }();
    return golds;
}

// Answers only (--answers): normalise and compare, no extraction.
void BM_grade_answers_math500(benchmark::State& state) {
    const auto& golds = math500_golds();
    if (golds.empty()) {
        state.SkipWithError("datasets/data/math500_test.jsonl not found");
        return;
    }
    GradeOptions opt;
    opt.answers_only = true;
    size_t i = 0, correct = 0;
    for (auto _ : state) {
        const std::string& g = golds[i++ % golds.size()];
        correct += grader_grade(g, g, opt).correct;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
    state.counters["correct_share"] = static_cast<double>(correct) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_grade_answers_math500);

// A near miss goes through the full comparer (the string fast path cannot answer it).
void BM_grade_answers_math500_near_miss(benchmark::State& state) {
    const auto& golds = math500_golds();
    if (golds.empty()) {
        state.SkipWithError("datasets/data/math500_test.jsonl not found");
        return;
    }
    std::vector<std::string> preds;
    for (const auto& g : golds) preds.push_back("\\dfrac{" + g + "}{1}+0");
    GradeOptions opt;
    opt.answers_only = true;
    size_t i = 0;
    for (auto _ : state) {
        size_t k = i++ % golds.size();
        benchmark::DoNotOptimize(grader_grade(preds[k], golds[k], opt));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_grade_answers_math500_near_miss);

// A typical short response with thinking and a boxed answer.
void BM_grade_response_math500(benchmark::State& state) {
    const auto& golds = math500_golds();
    if (golds.empty()) {
        state.SkipWithError("datasets/data/math500_test.jsonl not found");
        return;
    }
    std::vector<std::string> responses;
    for (const auto& g : golds)
        responses.push_back(
            "<think>\nLet me work this out step by step. First ... then ...\n</think>\n\n"
            "The computation gives the result.\n\n**Final Answer:**\n\n$\\boxed{" +
            g + "}$");
    GradeOptions opt;
    size_t i = 0;
    for (auto _ : state) {
        size_t k = i++ % golds.size();
        benchmark::DoNotOptimize(grader_grade(responses[k], golds[k], opt));
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_grade_response_math500);

std::string long_response(int kind) {
    const size_t MB = 1 << 20;
    switch (kind) {
        case 0:
            return "<think>" + std::string(MB, 'x') + "</think> The answer is \\boxed{42}.";
        case 1:
            return "\\boxed{" + std::string(MB, '{');
        case 2:
            return "\\boxed{" + std::string(MB, '7') + "}";
        default: {
            std::string s;
            while (s.size() < MB) s += "\\boxed{";
            return s;
        }
    }
}

void BM_grade_long_response(benchmark::State& state) {
    std::string text = long_response(static_cast<int>(state.range(0)));
    GradeOptions opt;
    for (auto _ : state) benchmark::DoNotOptimize(grader_grade(text, "42", opt));
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
    state.SetLabel(state.range(0) == 0   ? "1MB thinking + boxed"
                   : state.range(0) == 1 ? "1MB open braces"
                   : state.range(0) == 2 ? "1MB of digits boxed"
                                         : "1MB repeated \\boxed{");
}
BENCHMARK(BM_grade_long_response)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
