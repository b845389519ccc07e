// Adaptive-method analysis over stored samples (issue #19; design: ADAPTIVE_METHODS.md c, d, e):
//   - query-adaptive routers on the accuracy-tokens plane: the static points and their convex hull
//     (what random mixing reaches), the oracle bound (per-query choice of configuration, swept over
//     a cost multiplier mu), and routers driven by cheap signals between a cheap configuration lo
//     and an expensive one hi, with thresholds fitted on a dev split and metrics on a disjoint test
//     split (normalised AUC, gap recovered against the oracle, RouteLLM's APGR, accuracy at matched
//     cost, signal AUROC; the probe's own tokens are added to the router's cost);
//   - parallel sampling at equal cost: maj@k and short-m@k over k of the n stored samples (expected
//     value over subsets: exact enumeration when C(n,k) is small, fixed-seed Monte Carlo otherwise);
//   - difficulty views (accuracy and tokens per level) and efficiency summaries (length reduction
//     against a named reference, AES with user constants, frontier hypervolume).
//
// Conventions. A "unit" is one (query, sample index) pair: every configuration of a task is read on
// the sample indices that all of them hold for that query, so routing unit (q, i) to configuration
// j takes sample i of j. Under the fork sweep, sample i at every budget shares the seed and the
// thinking prefix, which is what a short-budget probe means. Correctness c_qj and tokens t_qj are
// means over those units; tokens are generated tokens (thinking + answer). Only samples stored ok
// count. Not here: HTML layout (reports/html.cpp), the CLI (harness/cli/cmd_route.cpp).
#pragma once
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graders/metrics.h"
#include "reports/analysis.h"
#include "store/store.h"

namespace adabench {

// One sample as the adaptive analyses see it.
struct AdaptiveSample {
    double correct = 0;        // 0 or 1 under the chosen verdict
    double tokens = 0;         // generated tokens: thinking + answer
    double think = 0;          // thinking tokens
    double answer_tokens = 0;  // answer tokens
    double prompt_tokens = 0;  // prompt tokens
    std::string key;           // vote key: "" = no vote (censored, invalid or empty answer)
    bool think_cut = false;    // thinking ended by the budget (finish_reason think_budget / forced)
    // Mean max-probability of the sampled answer tokens (the stored answer_conf, DEER's confidence;
    // NaN when the sweep did not measure it or the answer sampled no token).
    double answer_conf = NAN;
    double answer_ppl = NAN;  // perplexity of those answer tokens (CAR's signal); NaN = not measured
    double prompt_ppl = NAN;  // the prompt's perplexity under the model; NaN = not measured
};

// One task of one run as a query x configuration table.
struct AdaptiveTable {
    std::string task;
    std::vector<PointRecord> configs;  // columns j, point_id order
    std::vector<std::string> labels;   // analysis_point_label per column
    std::vector<std::string> queries;  // problem ids, rows q
    // cells[q][j][u]: the samples of query q under configuration j, one per unit u (the sample
    // indices common to every configuration of q, ascending); the same indices in every j.
    std::vector<std::vector<std::vector<AdaptiveSample>>> cells;
    // Adapter-switching points of the sweep (mechanism "switch:...", harness/switching.h): schemes
    // to place against the router bound, not configurations. switch_cells[q][k][u] on the same
    // units as cells (empty when the switch point lacks one of them).
    std::vector<PointRecord> switch_configs;
    std::vector<std::vector<std::vector<AdaptiveSample>>> switch_cells;
    std::vector<std::optional<double>> level;  // difficulty field per query (nullopt = none)
    std::string level_field;                   // "" = no difficulty field loaded

    size_t n_queries() const { return queries.size(); }
    size_t n_configs() const { return configs.size(); }
    double c(size_t q, size_t j) const;  // mean correctness of query q under j
    double t(size_t q, size_t j) const;  // mean generated tokens of query q under j
};

// Builds one table per task of the run (tasks in order of first appearance). Configurations
// without samples are left out; queries missing from some configuration are left out.
std::vector<AdaptiveTable> adaptive_tables(const Store& store, int64_t run_id,
                                           ReportVerdict verdict = REPORT_VERDICT_STRICT);
// Attaches a numeric difficulty field per query from a map problem id -> value.
void adaptive_set_levels(AdaptiveTable& table, const std::string& field, const std::map<std::string, double>& levels);
// The difficulty values of the run's task from its dataset (configs/tasks/TASK.json, metadata field
// `field`, e.g. "level"); empty with *note set when the task or the field cannot be read.
std::map<std::string, double> adaptive_load_levels(const std::string& task, const std::string& field,
                                                   std::string* note);

// A point on the accuracy-tokens plane (ParetoPoint: accuracy up, tokens down).
// Static points: (mean_q t_qj, mean_q c_qj) over the queries `rows` (empty = all).
std::vector<ParetoPoint> adaptive_static_points(const AdaptiveTable& table, const std::vector<size_t>& rows = {});
// The upper concave envelope of the points, non-decreasing in tokens, tokens ascending: the best
// accuracy that random mixing of the points reaches at expected cost <= T.
std::vector<ParetoPoint> adaptive_hull(const std::vector<ParetoPoint>& points);
// A curve (tokens ascending) at `tokens`: linear between vertices, the last accuracy beyond the
// last vertex, NaN before the first.
double adaptive_curve_at(const std::vector<ParetoPoint>& curve, double tokens);

// The oracle bound: for mu >= 0, every query takes argmax_j (c_qj - mu t_qj) (ties: fewer tokens,
// then more accurate). Its vertices, tokens ascending, from mu = infinity (each query's cheapest
// configuration) to mu = 0 (each query's most accurate one): the exact upper concave envelope of
// the per-query choice, a valid upper bound on any router at every cost.
struct OraclePoint {
    double mu = 0;  // the multiplier at which this vertex is reached (infinity for the first)
    ParetoPoint point;
};
std::vector<OraclePoint> adaptive_oracle(const AdaptiveTable& table, const std::vector<size_t>& rows = {});
std::vector<ParetoPoint> adaptive_oracle_curve(const std::vector<OraclePoint>& oracle);

// ---- routers between a cheap configuration lo and an expensive one hi ----

// A cheap signal: a score per unit (higher = more likely to need hi once oriented) and the probe's
// own tokens, added to the unit's cost when it is routed away from lo (probe_hi) or to lo (probe_lo).
struct AdaptiveSignal {
    std::string name;
    std::string description;
    std::vector<std::vector<double>> score;     // [q][u]
    std::vector<std::vector<double>> probe_hi;  // [q][u] (empty = no probe cost)
    std::vector<std::vector<double>> probe_lo;  // [q][u] (empty = no probe cost)
};

// The signals: prompt length; the difficulty field (when loaded); the prompt's perplexity and the lo
// sample's answer confidence / answer perplexity when the sweep stored them (signals.*);
// the probe's thinking length and whether the budget cut it (one sample at lo: its answer is the
// lo answer, so it costs nothing extra when routed lo and its tokens when routed hi); and the
// answer agreement of `probe_samples` samples at lo (share of the modal answer; all their tokens
// are the probe's cost). `seed` drives the "random" signal (uniform scores, the baseline).
std::vector<AdaptiveSignal> adaptive_signals(const AdaptiveTable& table, size_t lo, size_t probe_samples = 4,
                                             uint64_t seed = 0);

// The mean (tokens, accuracy) of routing each unit of `rows` to choice[q][u] (a column), with the
// probe costs of `signal` (null: none) for units routed to lo / hi.
ParetoPoint adaptive_route_point(const AdaptiveTable& table, const std::vector<size_t>& rows,
                                 const std::vector<std::vector<size_t>>& choice, size_t lo, size_t hi,
                                 const AdaptiveSignal* signal = nullptr);

struct RouterCurvePoint {
    double threshold = 0;  // units with oriented score >= threshold go to hi
    double share_hi = 0;   // share of units routed to hi
    double tokens = 0;     // mean cost, probe included
    double accuracy = 0;
};

struct RouterMetrics {
    std::string signal;
    // +1: higher raw score -> hi; -1: lower (the direction whose dev curve has the larger AUC); 0: the
    // binned router "SIGNAL/bins" over every configuration (per score bin, the dev split's argmax of
    // accuracy - mu tokens, swept over mu)
    int direction = 1;
    double auroc_dev = NAN;  // of the oriented score for y_q = 1[c_q,lo < c_q,hi]
    double auroc_test = NAN;
    std::vector<RouterCurvePoint> curve;  // on the test split, share_hi ascending
    double auc = NAN;                     // integral over u = (T - T_lo)/(T_hi - T_lo) in [0,1] of accuracy
    double auc_random = NAN;              // (A_lo + A_hi)/2: the straight segment
    double auc_oracle = NAN;              // the oracle curve over the same u range
    double auc_hull = NAN;                // the static hull over the same u range
    double gap_recovered = NAN;           // (auc - auc_random)/(auc_oracle - auc_random): random = 0, oracle = 1
    double apgr = NAN;  // RouteLLM: x = share routed to hi; (AUC_x - A_lo)/(A_hi - A_lo); random = 0.5
    double acc_vs_hull[3] = {NAN, NAN, NAN};  // A_R(u) - A_hull(u) at u = 0.25, 0.5, 0.75
    double cpt50_tokens = NAN;                // tokens the router needs to recover half of A_hi - A_lo
    double mean_probe_tokens = 0;
};

struct RouteOptions {
    std::optional<size_t> lo;  // column; default: the cheapest configuration
    std::optional<size_t> hi;  // column; default: the most accurate (ties: cheaper)
    double dev_fraction = 0.5;
    uint64_t split_seed = 0;
    size_t n_thresholds = 20;  // quantiles of the dev scores (plus "none" and "all")
    size_t probe_samples = 4;
};

struct RouteResult {
    std::string task;
    size_t lo = 0, hi = 0;
    std::vector<size_t> dev, test;         // rows
    std::vector<ParetoPoint> static_test;  // per column, on the test split
    std::vector<ParetoPoint> hull_test;
    std::vector<OraclePoint> oracle_test;
    std::vector<ParetoPoint> static_all;  // per column, all queries
    std::vector<OraclePoint> oracle_all;
    std::vector<RouterMetrics> routers;  // one per signal
    // The oracle's gain over the static hull (all queries): accuracy at the cost of each static
    // point, and the oracle at mu=0 (the best accuracy any per-query choice reaches).
    double oracle_best_accuracy = NAN;
    double oracle_best_tokens = NAN;
    // The sweep's adapter-switching points on the test split, with the static hull and the oracle
    // at their cost.
    struct SwitchRow {
        std::string mechanism;
        std::string label;
        ParetoPoint test;
        double hull_at = NAN, oracle_at = NAN;
        size_t n_queries = 0;
    };
    std::vector<SwitchRow> switches;
};

// Splits rows by a hash of (seed, problem id): about dev_fraction of them into dev.
void adaptive_split(const AdaptiveTable& table, double dev_fraction, uint64_t seed, std::vector<size_t>* dev,
                    std::vector<size_t>* test);
// AUROC (Mann-Whitney, ties count 1/2) of scores for binary labels; NaN without both classes.
double adaptive_auroc(const std::vector<double>& scores, const std::vector<bool>& labels);
// The router's curve on `rows` at the given thresholds (oriented scores = direction * score).
std::vector<RouterCurvePoint> adaptive_router_curve(const AdaptiveTable& table, const AdaptiveSignal& signal,
                                                    int direction, const std::vector<double>& thresholds,
                                                    const std::vector<size_t>& rows, size_t lo, size_t hi);
// Integral over u in [0,1] of a polyline of (u, accuracy) points: before the first point it is
// mixed with (0, a0) when the first u > 0, after the last point flat.
double adaptive_auc_u(std::vector<std::pair<double, double>> pts, double a0);
// RouteLLM's APGR from (share_hi, accuracy) points: trapezoid AUC over the share, normalised.
double adaptive_apgr(std::vector<std::pair<double, double>> pts, double a_lo, double a_hi);
// Everything above for one table.
RouteResult adaptive_route(const AdaptiveTable& table, const RouteOptions& options = {});
nlohmann::json adaptive_route_json(const AdaptiveTable& table, const RouteResult& r);

// ---- parallel sampling at equal cost ----

enum VoteTie { VOTE_TIE_RANDOM, VOTE_TIE_SHORTEST };

struct ParallelEstimate {
    double accuracy = 0;
    double tokens = 0;
    double accuracy_se = 0;  // Monte Carlo standard error (0 when exact)
    bool exact = true;       // every query enumerated all C(n,k) subsets
    size_t n_queries = 0;
};

struct ParallelOptions {
    size_t exact_limit = 10000;  // enumerate when C(n,k) <= this
    size_t mc_subsets = 2000;    // otherwise this many random subsets per query
    uint64_t seed = 0;
    bool force_monte_carlo = false;  // for tests
};

// maj@k: the majority answer of k of the stored samples (no-vote samples abstain; no vote at all
// is wrong); cost = the sum of the k samples' generated tokens. `tie` breaks equal counts: random
// (expected over the tied answers) or the answer of the shortest sample (fewest thinking tokens,
// then fewest generated tokens, then lowest index).
ParallelEstimate adaptive_maj_at_k(const std::vector<std::vector<AdaptiveSample>>& by_query, size_t k, VoteTie tie,
                                   const ParallelOptions& options = {});
// short-m@k: k samples run together and stop when the m shortest finish thinking; the answer is the
// majority of those m (ties to the shortest); cost = k * l_(m) + the m answers' tokens.
ParallelEstimate adaptive_short_m_at_k(const std::vector<std::vector<AdaptiveSample>>& by_query, size_t m, size_t k,
                                       const ParallelOptions& options = {});

struct ParallelRow {
    std::string group;  // the configuration without its budget
    int64_t budget = 0;
    size_t k = 1;
    std::string method;  // "single", "maj@k", "short-1@k", "short-3@k"
    ParallelEstimate estimate;
    double single_at_cost = NAN;  // the single-sample budget curve's accuracy at this cost
};
struct EqualCostRow {
    std::string group;
    int64_t budget = 0;  // B: one sample at B against k samples at B/k
    size_t k = 0;
    ParallelEstimate single, maj, short1;
};
struct ParallelResult {
    std::string task;
    std::vector<ParallelRow> rows;
    std::vector<EqualCostRow> equal_cost;
};
ParallelResult adaptive_parallel(const AdaptiveTable& table, const std::vector<size_t>& ks,
                                 const ParallelOptions& options = {});
nlohmann::json adaptive_parallel_json(const ParallelResult& r);

// ---- difficulty views and efficiency summaries ----

struct LevelRow {
    std::string config;
    double level = 0;
    size_t n_queries = 0;
    double accuracy = 0;
    double tokens = 0;
};
struct DifficultyResult {
    std::string task;
    std::string field;
    std::vector<double> levels;       // distinct, ascending
    std::vector<double> easy_levels;  // the lower half of the distinct levels
    std::vector<LevelRow> rows;
    std::vector<std::pair<std::string, double>> easy_token_share;  // per configuration
};
DifficultyResult adaptive_difficulty(const AdaptiveTable& table);

struct AesConstants {
    double alpha = 1, beta = 3, gamma = 5;
};
// AES = alpha dL + beta |dA| when dA >= 0, alpha dL - gamma |dA| otherwise, with
// dL = (L_ref - L)/L_ref and dA = (A - A_ref)/A_ref.
double adaptive_aes(double tokens, double accuracy, double ref_tokens, double ref_accuracy, const AesConstants& c);

// Per configuration label (shared across tasks): length reduction against the reference label as
// the mean of per-task ratios minus 1 and as pooled tokens, AES per task and on the pooled figures,
// and per task the hypervolume of the static points against (reference_tokens, accuracy 0).
nlohmann::json adaptive_efficiency_json(const std::vector<AdaptiveTable>& tables, const std::string& reference_label,
                                        const AesConstants& aes, double reference_tokens);

}  // namespace adabench
