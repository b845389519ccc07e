// adabench search: multi-objective search over a genome the config declares — per-layer merge λ
// (k control points interpolated over depth, mergekit's gradient convention), adapter
// coefficients, the thinking budget as an integer gene — with two minimised objectives measured
// by the harness on a fixed calibration subset: f1 = 1 − accuracy (avg@n, strict) and f2 = mean
// generated tokens (thinking + answer) / reference tokens. NSGA-II (search/nsga2.h) maps the whole
// front; CMA-ES (search/cmaes.h) runs one scalarised goal after another (Chebyshev weights, or
// "most accurate under T tokens" as an ε-constraint with a penalty).
//
// Every candidate is evaluated by an ordinary sweep of that one configuration (sweep_run: same
// engine provider, batching, grading) into a scratch store beside the database, and its points and
// samples are then copied into ONE run of the real store, the search run, as its points, tagged with
// the method that proposed them (" tag=nsga2" etc. in the label). So report, compare and export
// work on it unchanged. Common random numbers: every candidate sees the same problems and the same
// per-sample seeds (they derive from the sweep seed, the task and the problem id only).
//
// Caching and resume: a candidate is identified by what the store records of it (task, merge λ,
// coefficients, thinking budget); one already stored complete in the search run is not evaluated
// again. The optimisers are deterministic given their seed and the objective values, so a search
// killed at any moment and started again with the same command replays up to where it stopped at
// no engine cost and goes on (the scratch store also keeps a candidate half done).
//
// Not here: the algorithms (search/), flag parsing (harness/cli/cmd_search.cpp), reports.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "harness/progress.h"
#include "harness/sweep.h"
#include "harness/sweep_config.h"
#include "store/store.h"

namespace adabench {

// A scalarised goal for CMA-ES.
struct SearchGoal {
    std::string kind;             // "chebyshev" or "tokens_at_most"
    std::vector<double> weights;  // chebyshev: (w_acc, w_tokens) over (f1, f2), ideal point (0, 0)
    double tokens = 0;            // tokens_at_most: the bound in mean generated tokens
    double penalty = 10.0;        // tokens_at_most: f1 + penalty · max(0, f2 − bound / reference)
    std::string text() const;
};

struct SearchConfig {
    SweepConfig sweep;          // the base of every candidate (model, merge partner, adapters, tasks, budget block)
    nlohmann::json search_doc;  // the "search" block as written (part of the run's identity)
    // Genome. lambda_points: 0 = no merge gene, 1 = one global λ, k > 1 = k control points spread
    // over depth (the engine interpolates a short per-layer list across the layers).
    int lambda_points = 0;
    double lambda_min = 0.0, lambda_max = 1.0;
    bool coef_genes = false;  // one gene per adapter
    double coef_min = 0.0, coef_max = 1.0;
    bool budget_gene = false;  // the thinking budget, rounded to an integer
    int budget_min = 0, budget_max = 0;
    int decimals = 3;  // λ and coefficients are rounded to this many decimals (stable cache keys)
    // Split: per task, a deterministic shuffle of its problems; the first n_calibration are the
    // calibration subset, the next n_holdout the held-out split (0 = no held-out re-evaluation).
    int n_calibration = 64, n_holdout = 0;
    uint64_t split_seed = 0;
    // Optimiser.
    std::string optimizer = "nsga2";  // "nsga2" or "cmaes"
    size_t pop_size = 16;
    int generations = 10;
    uint64_t seed = 1;
    double sigma0 = 0.15;  // CMA-ES, on genes scaled to [0, 1]
    size_t cmaes_popsize = 0;
    int evals_per_goal = 40;
    std::vector<SearchGoal> goals;
    double reference_tokens = 0;  // <= 0: the mean tokens of the upper-bound genome (measured first)
    std::vector<double> reference_point = {1.0, 1.1};
    bool baseline_grid = false;  // also evaluate a static grid with as many configurations
    size_t n_genes() const;
};

// Parses a search config: {"sweep": {...a sweep config...}, "search": {...}}. Strict: unknown keys
// and wrong types are errors naming `source` and the key. The sweep block needs no merge lambdas,
// coefficient vectors or think budgets (the genome supplies them).
SearchConfig search_config_parse(const nlohmann::json& doc, const std::string& source);
SearchConfig search_config_load(const std::string& path);
// The run's identity: the base sweep's canonical form with the search block under "search".
nlohmann::json search_config_canonical(const SearchConfig& config);

// A decoded genome.
struct SearchCandidate {
    std::vector<double> lambda;  // empty without a merge gene
    std::vector<double> coefs;   // empty without adapters
    int think_budget = -1;       // -1 without a budget gene
    std::string text() const;    // "λ=[0.2,0.8] c=[0.5,0.5] B=64"
};
// Genes are in [0, 1] per dimension (values outside are clamped: bounds by transformation, as
// mergekit-evolve does for CMA-ES) and scaled to each gene's range.
SearchCandidate search_decode(const SearchConfig& config, const std::vector<double>& genes);

// The sweep config evaluating one candidate on the given problem ids (one per task).
SweepConfig search_candidate_sweep(const SearchConfig& config, const SearchCandidate& cand,
                                   const std::vector<std::vector<std::string>>& ids);

// Calibration and held-out problem ids per task (deterministic from split_seed).
struct SearchSplit {
    std::vector<std::vector<std::string>> calibration, holdout;
};
SearchSplit search_split(const SearchConfig& config, const std::vector<Dataset>& all_problems);

// One evaluated configuration.
struct SearchEvaluation {
    SearchCandidate candidate;
    std::string tag;  // which method proposed it first: reference, nsga2, cmaes, grid
    bool holdout = false;
    std::vector<int64_t> point_ids;  // in the search run, one per task
    double accuracy = 0, mean_tokens = 0;
    int64_t n_samples = 0;
    bool cached = false;                     // found complete in the store
    std::vector<double> objectives() const;  // needs reference tokens: set by the searcher
    double f1 = 1, f2 = 0;
};

struct SearchOptions {
    bool new_run = false;
    ProgressMode progress = PROGRESS_MODE_AUTO;  // of each candidate's sweep (usually none)
    const std::atomic<bool>* stop = nullptr;
    std::string scratch_path;                     // "" = the store's path + ".search-scratch"
    std::function<void(const std::string&)> log;  // one line per generation, and notes
    std::string config_source = "config";
};

struct SearchFrontRow {
    SearchEvaluation calibration;
    bool has_holdout = false;
    SearchEvaluation holdout;
};

struct SearchSummary {
    int64_t run_id = 0;
    bool resumed = false;
    std::string status;  // finished, interrupted
    double reference_tokens = 0;
    std::vector<double> reference_point;
    size_t n_evaluations = 0;           // objective calls the optimiser made
    size_t n_distinct = 0;              // distinct configurations evaluated on the calibration split (search only)
    size_t n_engine = 0;                // of those, evaluated by the engine in this session (not cached)
    double hypervolume = 0;             // of the search's calibration front (plus the reference genome)
    std::vector<SearchFrontRow> front;  // tokens ascending
    size_t n_grid = 0;                  // static grid configurations (baseline_grid)
    double grid_hypervolume = 0;
    std::vector<SearchEvaluation> grid_front;
    nlohmann::json json() const;
};

// Runs (or resumes) the search. Throws adabench::Error; the run is then marked "failed".
SearchSummary search_run(const SearchConfig& config, const std::vector<Dataset>& tasks, SweepEngineProvider& provider,
                         Store& store, const SearchOptions& options);

}  // namespace adabench
