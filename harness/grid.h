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

// The size of a plan, computed arithmetically from the config and the problem counts, nothing
// materialised, so a grid of 10^12 samples is reported rather than built. Counts saturate at
// UINT64_MAX (sweep_count_text prints that as "more than 18446744073709551614").
struct SweepPlanSize {
    uint64_t n_coef_vectors = 1;  // 1 without adapters
    uint64_t n_compositions = 0;
    uint64_t n_points = 0;
    uint64_t n_units = 0;  // engine requests
    uint64_t n_samples = 0;
};
// Caps on what sweep_plan materialises (each point and unit is ~200 bytes; a unit is an engine
// request). Well above any sweep that finishes: 500 problems x 64 samples x 60 coefficient vectors.
constexpr uint64_t kSweepMaxPoints = 1000000;
constexpr uint64_t kSweepMaxUnits = 2000000;
SweepPlanSize sweep_plan_size(const SweepConfig& config, const std::vector<size_t>& problems_per_task);
// Throws adabench::Error naming `source`, the size and the cap when a plan is above the caps.
void sweep_plan_check_size(const SweepPlanSize& size, const std::string& source);
std::string sweep_count_text(uint64_t n);
// Saturating product, for sizes computed before anything is allocated.
uint64_t sweep_count_mul(uint64_t a, uint64_t b);

// KV-cache positions one sequence of the config can reach: the longest prompt plus the most tokens a
// request may generate (its budget block's max_tokens, which counts forced text and waits), capped
// at model_max_positions when that is > 0. An engine whose cache has a fixed size per sequence (the
// CUDA backend, 4,096 positions by default) is sized with it (#20 D2).
int sweep_kv_positions(const SweepConfig& config, int longest_prompt_tokens, int model_max_positions);

// Checks the size first (sweep_plan_check_size, source "sweep"), then builds the plan.
SweepPlan sweep_plan(const SweepConfig& config, const std::vector<size_t>& problems_per_task);
// The units of one shard (unit.ordinal % count == index), in execution order.
std::vector<SweepUnit> sweep_shard_units(const SweepPlan& plan, const SweepShard& shard);

// "[0.25,0.75]" — the JSON text of a double vector, shortest round-trip form.
std::string sweep_vector_json(const std::vector<double>& v);

}  // namespace adabench
