// Grid planning and shard slicing (see grid.h). Point ids enumerate task, merge λ, coefficient
// vector, budget block and think budget, in that order; they depend only on the config and the
// problem counts, never on the shard or on what is already stored.
#include "harness/grid.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace adabench {

std::string SweepShard::text() const { return count <= 1 ? "" : std::to_string(index) + "/" + std::to_string(count); }

SweepShard sweep_parse_shard(const std::string& text) {
    size_t slash = text.find('/');
    auto bad = [&]() {
        return UsageError("--shard '" + text + "' must be i/N with 0 <= i < N (e.g. 0/4; in a Slurm array use " +
                          "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT)");
    };
    if (slash == std::string::npos || slash == 0 || slash + 1 >= text.size()) throw bad();
    std::string a = text.substr(0, slash), b = text.substr(slash + 1);
    for (char ch : a + b)
        if (ch < '0' || ch > '9') throw bad();
    if (a.size() > 6 || b.size() > 6) throw bad();
    SweepShard s;
    s.index = std::atoi(a.c_str());
    s.count = std::atoi(b.c_str());
    if (s.count < 1 || s.index >= s.count) throw bad();
    return s;
}

std::string sweep_vector_json(const std::vector<double>& v) { return nlohmann::json(v).dump(); }

namespace {

std::string fmt_vec(const std::vector<double>& v) {
    return v.size() == 1 ? nlohmann::json(v[0]).dump() : sweep_vector_json(v);
}

}  // namespace

uint64_t sweep_count_mul(uint64_t a, uint64_t b) {
    if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b;
}

namespace {

uint64_t count_add(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

}  // namespace

std::string sweep_count_text(uint64_t n) {
    return n == UINT64_MAX ? "more than " + std::to_string(UINT64_MAX - 1) : std::to_string(n);
}

SweepPlanSize sweep_plan_size(const SweepConfig& c, const std::vector<size_t>& problems_per_task) {
    if (problems_per_task.size() != c.tasks.size()) throw Error("sweep_plan: problem counts do not match the tasks");
    SweepPlanSize z;
    uint64_t n_lambdas = c.merge.with.empty() ? 1 : c.merge.lambdas.size();
    z.n_coef_vectors = c.coef_vectors.empty() ? 1 : c.coef_vectors.size();
    bool merged = !c.coef_vectors.empty() && c.lora_mode == "merged";
    z.n_compositions = sweep_count_mul(n_lambdas, merged ? z.n_coef_vectors : 1);
    // The same sums sweep_plan walks: points per (task, λ, vector) and unit groups per problem sample.
    uint64_t points_per_block = 0, groups = 0, problem_samples = 0;
    for (const auto& b : c.budgets) {
        points_per_block = count_add(points_per_block, std::max<uint64_t>(1, b.think_budgets.size()));
        groups = count_add(groups, b.mechanism == "prompt" || b.mechanism == "server" ? b.think_budgets.size() : 1);
    }
    for (size_t n : problems_per_task) problem_samples = count_add(problem_samples, sweep_count_mul(n, c.sampling.n));
    uint64_t grid = sweep_count_mul(n_lambdas, z.n_coef_vectors);
    z.n_points = sweep_count_mul(sweep_count_mul(grid, c.tasks.size()), points_per_block);
    z.n_units = sweep_count_mul(sweep_count_mul(grid, problem_samples), groups);
    z.n_samples = sweep_count_mul(sweep_count_mul(grid, problem_samples), points_per_block);
    return z;
}

void sweep_plan_check_size(const SweepPlanSize& z, const std::string& source) {
    std::string hint =
        "narrow the grids (coarser coefficient or λ steps, fewer budgets), lower n or limit, or split "
        "the grid over several configs";
    if (z.n_points > kSweepMaxPoints)
        throw Error(source + ": the grid has " + sweep_count_text(z.n_points) + " points, more than the cap of " +
                        std::to_string(kSweepMaxPoints),
                    hint);
    if (z.n_units > kSweepMaxUnits)
        throw Error(source + ": the grid needs " + sweep_count_text(z.n_units) + " engine requests (" +
                        sweep_count_text(z.n_samples) + " samples), more than the cap of " +
                        std::to_string(kSweepMaxUnits) + " requests",
                    hint);
}

int sweep_kv_positions(const SweepConfig& c, int longest_prompt_tokens, int model_max_positions) {
    int64_t generated = 0;
    for (const auto& b : c.budgets) generated = std::max<int64_t>(generated, b.max_tokens);
    int64_t need = std::max(0, longest_prompt_tokens) + generated;
    if (model_max_positions > 0) need = std::min<int64_t>(need, model_max_positions);
    return static_cast<int>(std::min<int64_t>(need, INT32_MAX));
}

SweepPlan sweep_plan(const SweepConfig& c, const std::vector<size_t>& problems_per_task) {
    sweep_plan_check_size(sweep_plan_size(c, problems_per_task), "sweep");
    SweepPlan plan;
    size_t n_lambdas = c.merge.with.empty() ? 1 : c.merge.lambdas.size();
    size_t n_coefs = c.coef_vectors.empty() ? 1 : c.coef_vectors.size();
    bool merged = !c.coef_vectors.empty() && c.lora_mode == "merged";

    // Points. first_point[task][lambda][coef][budget block] = id of its first think budget.
    std::vector<std::vector<std::vector<std::vector<int64_t>>>> first(
        c.tasks.size(),
        std::vector<std::vector<std::vector<int64_t>>>(n_lambdas, std::vector<std::vector<int64_t>>(n_coefs)));
    for (size_t t = 0; t < c.tasks.size(); ++t)
        for (size_t l = 0; l < n_lambdas; ++l)
            for (size_t k = 0; k < n_coefs; ++k)
                for (size_t b = 0; b < c.budgets.size(); ++b) {
                    first[t][l][k].push_back(static_cast<int64_t>(plan.points.size()));
                    const auto& blk = c.budgets[b];
                    std::vector<int> budgets = blk.think_budgets;
                    if (budgets.empty()) budgets.push_back(-1);
                    for (int tb : budgets) {
                        SweepPoint p;
                        p.point_id = static_cast<int64_t>(plan.points.size());
                        p.task_index = t;
                        p.lambda_index = l;
                        p.coef_index = k;
                        p.budget_index = b;
                        p.think_budget = tb;
                        plan.points.push_back(p);
                        plan.n_samples += static_cast<int64_t>(problems_per_task[t]) * c.sampling.n;
                    }
                }

    // Compositions: one per merge λ, times one per coefficient vector in merged mode.
    for (size_t l = 0; l < n_lambdas; ++l)
        for (size_t k = 0; k < (merged ? n_coefs : 1); ++k) {
            SweepComposition comp;
            comp.index = plan.compositions.size();
            std::string label;
            if (!c.merge.with.empty()) {
                comp.has_merge = true;
                comp.merge_lambda = c.merge.lambdas[l];
                label = "lambda=" + fmt_vec(comp.merge_lambda);
            }
            if (merged) {
                comp.merged_lora = true;
                comp.merged_coefs = c.coef_vectors[k];
                label += std::string(label.empty() ? "" : " ") + "coefs=" + sweep_vector_json(comp.merged_coefs);
            }
            comp.label = label.empty() ? "base" : label;
            plan.compositions.push_back(comp);

            // Units of this composition: tasks, coefficient vectors, budget blocks, problems, samples.
            std::vector<size_t> coef_range;
            if (merged)
                coef_range = {k};
            else
                for (size_t kk = 0; kk < n_coefs; ++kk) coef_range.push_back(kk);
            for (size_t t = 0; t < c.tasks.size(); ++t)
                for (size_t b = 0; b < c.budgets.size(); ++b) {
                    const auto& blk = c.budgets[b];
                    // Under "prompt" every budget changes the prompt, and under "server" the server
                    // enforces it: one unit per budget, no fork.
                    std::vector<std::vector<int>> groups;
                    if (blk.mechanism == "prompt" || blk.mechanism == "server")
                        for (int tb : blk.think_budgets) groups.push_back({tb});
                    else
                        groups.push_back(blk.think_budgets);
                    for (size_t pi = 0; pi < problems_per_task[t]; ++pi)
                        for (int s = 0; s < c.sampling.n; ++s)
                            for (size_t g = 0; g < groups.size(); ++g)
                                for (size_t kk : coef_range) {
                                    SweepUnit u;
                                    u.composition_index = comp.index;
                                    u.task_index = t;
                                    u.coef_index = kk;
                                    u.budget_index = b;
                                    u.problem_index = pi;
                                    u.sample_index = s;
                                    int64_t p0 = first[t][l][kk][b];
                                    if (blk.mechanism == "prompt") {
                                        u.prompt_budget = groups[g][0];
                                        u.point_ids = {p0 + static_cast<int64_t>(g)};
                                    } else {
                                        u.think_budgets = groups[g];
                                        size_t n = std::max<size_t>(1, groups[g].size());
                                        for (size_t j = 0; j < n; ++j)
                                            u.point_ids.push_back(p0 + static_cast<int64_t>(j));
                                    }
                                    u.ordinal = static_cast<int64_t>(plan.units.size());
                                    plan.units.push_back(std::move(u));
                                }
                }
        }
    return plan;
}

std::vector<SweepUnit> sweep_shard_units(const SweepPlan& plan, const SweepShard& shard) {
    std::vector<SweepUnit> out;
    for (const auto& u : plan.units)
        if (shard.count <= 1 || u.ordinal % shard.count == shard.index) out.push_back(u);
    return out;
}

}  // namespace adabench
