// Grid planning: from a validated SweepConfig and the number of problems per task, the grid points
// (with ids stable across runs and shards), the weight compositions (each built once), and the work
// units — one GenerateRequest each — that serve the points. Shards are a deterministic slice of
// the units.
//
// A work unit is (composition, task, coefficient vector, budget block, problem, sample index) and,
// for mechanism "prompt", the budget (it changes the prompt). Under hard_cut one unit serves every
// think budget of its block through the fork sweep; under unmerged LoRA units with different
// coefficient vectors share a composition (one engine, per-sequence coefficients in one batch).
// Not here: loading tasks, running engines, the store.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "harness/sweep_config.h"

namespace adabench {

// One set of weights: an optional merge λ and, in merged LoRA mode, the coefficients baked in.
struct SweepComposition {
    size_t index = 0;
    bool has_merge = false;
    std::vector<double> merge_lambda;  // scalar (size 1) or per layer
    bool merged_lora = false;
    std::vector<double> merged_coefs;  // the LoRA coefficients built into the weights
    std::string label;                 // "λ=0.5 c=[0.25,0.75]"
};

struct SweepPoint {
    int64_t point_id = 0;  // index in the full grid
    size_t task_index = 0;
    size_t lambda_index = 0;  // into config.merge.lambdas (0 without a merge)
    size_t coef_index = 0;    // into config.coef_vectors (0 without adapters)
    size_t budget_index = 0;  // into config.budgets
    int think_budget = -1;    // -1 = none
};

struct SweepUnit {
    int64_t ordinal = 0;  // position in the full unit list (shards slice on it)
    size_t composition_index = 0;
    size_t task_index = 0;
    size_t coef_index = 0;
    size_t budget_index = 0;
    int prompt_budget = -1;          // mechanism prompt: the budget stated in the prompt
    std::vector<int> think_budgets;  // the request's budgets (empty: none)
    std::vector<int64_t> point_ids;  // aligned with think_budgets (one entry when none)
    size_t problem_index = 0;
    int sample_index = 0;
};

struct SweepShard {
    int index = 0;  // 0-based
    int count = 1;
    std::string text() const;  // "i/N", "" for the whole grid
};
// "i/N" with 0 <= i < N. Throws UsageError.
SweepShard sweep_parse_shard(const std::string& text);

struct SweepPlan {
    std::vector<SweepPoint> points;              // by point_id
    std::vector<SweepComposition> compositions;  // in build order
    std::vector<SweepUnit> units;                // grouped by composition, in execution order
    int64_t n_samples = 0;                       // samples in the whole grid
};

SweepPlan sweep_plan(const SweepConfig& config, const std::vector<size_t>& problems_per_task);
// The units of one shard (unit.ordinal % count == index), in execution order.
std::vector<SweepUnit> sweep_shard_units(const SweepPlan& plan, const SweepShard& shard);

// "[0.25,0.75]" — the JSON text of a double vector, shortest round-trip form.
std::string sweep_vector_json(const std::vector<double>& v);

}  // namespace adabench
