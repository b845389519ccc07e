// Comparison of two runs: grid points matched by task + budget + coefficients (and mechanism,
// merge λ), per-point deltas of accuracy and mean tokens, and paired tests over the samples the two
// runs share — exact McNemar over (problem, sample index) pairs and a paired bootstrap over
// per-problem accuracy — plus each task's dominated area for both runs on a common reference.
// Failed_infra samples take part in nothing (analysis.h); a pair needs an ok sample on both sides.
//
// Not here: deciding what is a regression (reports/nightly.h), rendering (reports/html.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/analysis.h"

namespace adabench {

struct CompareOptions {
    AnalysisOptions analysis;
    double alpha = 0.05;  // a change is significant when the paired p-value is below this
};

struct PointDelta {
    std::string key;  // the matching key (task|mechanism|budget|coefs|...)
    std::string task, label;
    size_t base_index = 0, new_index = 0;  // into CompareResult::base.points / new_run.points
    size_t n_pairs = 0;                    // samples ok in both (same problem and sample index)
    size_t n_same_seed = 0;                // of those, with equal engine seeds
    size_t n_problems_paired = 0;
    double acc_base = 0, acc_new = 0, delta_acc = 0;  // avg@n of each run on its own samples
    double tokens_base = 0, tokens_new = 0;           // mean total tokens
    double delta_tokens_rel = 0;                      // (new - base) / base; 0 when base is 0
    McNemarResult mcnemar;                            // over the paired samples
    std::optional<PairedBootstrap> bootstrap;         // new - base over the paired problems
    double p_value = 1;                               // the smaller of the two tests' p-values
    bool significant = false;                         // p_value < alpha
};

struct CompareTask {
    std::string task;
    double area_base = 0, area_new = 0;
    double reference_tokens = 0;
};

struct CompareResult {
    AnalysisRun base, new_run;
    std::vector<PointDelta> deltas;                // matched points, in base order
    std::vector<std::string> only_base, only_new;  // labels of unmatched points ("task: label")
    std::vector<CompareTask> tasks;
    double alpha = 0.05;
};

// The key two runs' points are matched by.
std::string compare_point_key(const PointRecord& p);

CompareResult compare_runs(const Store& store, int64_t base_run, int64_t new_run, const CompareOptions& options = {});

// One line per significant change and a closing count, for stdout.
std::string compare_summary_text(const CompareResult& c);
nlohmann::json compare_json(const CompareResult& c);

}  // namespace adabench
