// Evaluation metrics over graded samples: avg@n, unbiased pass@k, maj@k, bootstrap confidence
// intervals, censored rate, token means, budget compliance, paired tests for two runs, and Pareto
// frontiers with their dominated area. Pure functions on plain vectors, deterministic (own PRNG,
// fixed default seed), no I/O. It does not grade: verdicts and answer keys come from the caller.
// Invalid input (empty sets, k > n, mismatched lengths, NaN) throws adabench::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace adabench {

// ---- per-problem estimators ----

// Unbiased pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"):
// 1 - C(n-c, k) / C(n, k), computed as 1 - prod_{i=n-c+1..n} (1 - k/i). Needs 1 <= k <= n, c <= n.
double metrics_pass_at_k(size_t n, size_t c, size_t k);

// avg@n: mean over samples of each problem, then mean over problems (problems weigh equally even
// when their sample counts differ). Every problem needs at least one sample.
double metrics_avg_at_n(const std::vector<std::vector<bool>>& correct_by_problem);
// The per-problem means that avg@n averages (the unit the bootstrap resamples).
std::vector<double> metrics_per_problem_accuracy(const std::vector<std::vector<bool>>& correct_by_problem);
// Mean over problems of metrics_pass_at_k(n_i, c_i, k); needs k <= every n_i.
double metrics_pass_at_k_mean(const std::vector<std::vector<bool>>& correct_by_problem, size_t k);

// Majority vote over the first k answer keys (k = 0: all). Empty keys (censored or no answer)
// do not vote. The winner is the key with the most votes; ties go to the key whose first
// occurrence comes earliest. Returns the index of that first occurrence, or nullopt when no
// sample among the first k has a non-empty key.
std::optional<size_t> metrics_majority_index(const std::vector<std::string>& keys, size_t k = 0);
// Same, mapping raw answers to keys first (e.g. with grader_answer_key).
std::optional<size_t> metrics_majority_index(const std::vector<std::string>& answers, size_t k,
                                             const std::function<std::string(const std::string&)>& key_of);
// maj@k over problems: a problem counts as correct when the sample that holds its majority key is
// correct; no vote counts as wrong. keys and correct must have the same shape; k <= every n_i.
double metrics_maj_at_k(const std::vector<std::vector<std::string>>& keys_by_problem,
                        const std::vector<std::vector<bool>>& correct_by_problem, size_t k);

// ---- deterministic resampling ----

// SplitMix64 (Steele, Lea, Flood 2014): small, fast, fully specified, so every bootstrap is
// reproducible across platforms and compilers (std::mt19937 + std::uniform_int_distribution is not).
struct MetricsRng {
    uint64_t state;
    explicit MetricsRng(uint64_t seed) : state(seed) {}
    uint64_t next();
    // Uniform in [0, n), exactly (Lemire's multiply-shift with rejection). n >= 1.
    uint64_t below(uint64_t n);
};

struct BootstrapOptions {
    size_t n_resamples = 2000;
    double confidence = 0.95;
    uint64_t seed = 0x5eed2025ULL;
};

struct MetricsInterval {
    double estimate = 0;  // the statistic on the original data
    double lo = 0, hi = 0;
};

// Percentile bootstrap of the mean of `values` (one value per problem): resample problems with
// replacement n_resamples times; the bounds are the (1-confidence)/2 and (1+confidence)/2
// quantiles of the resampled means, with linear interpolation between order statistics
// (Hyndman-Fan type 7, numpy's default).
MetricsInterval metrics_bootstrap_mean(const std::vector<double>& values, const BootstrapOptions& options = {});
// Type-7 quantile of already sorted values, q in [0, 1].
double metrics_quantile_sorted(const std::vector<double>& sorted, double q);

// ---- rates and token statistics ----

double metrics_rate(const std::vector<bool>& flags);  // share of true; e.g. the censored rate

struct TokenMeans {
    double all = 0, correct = 0, incorrect = 0;  // NaN where the group is empty
    size_t n_all = 0, n_correct = 0, n_incorrect = 0;
};
TokenMeans metrics_token_means(const std::vector<double>& tokens, const std::vector<bool>& correct);

struct BudgetCompliance {
    double share_within = 0;             // share of samples with tokens <= budget
    double mean_relative_deviation = 0;  // mean |tokens - budget| / budget (L1's deviation)
    double mean_relative_excess = 0;     // mean max(0, tokens - budget) / budget
    size_t n = 0;
};
// One budget per sample (budgets > 0).
BudgetCompliance metrics_budget_compliance(const std::vector<double>& tokens, const std::vector<double>& budgets);

// ---- two runs on the same problems ----

struct McNemarResult {
    size_t n_both = 0, n_a_only = 0, n_b_only = 0, n_neither = 0;
    double p_value = 1;  // exact two-sided: min(1, 2 * P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2)
};
// Paired binary outcomes (the same problem, and the same sample index when n > 1, at each position).
McNemarResult metrics_mcnemar(const std::vector<bool>& a, const std::vector<bool>& b);

struct PairedBootstrap {
    double diff = 0;        // mean(a) - mean(b)
    double lo = 0, hi = 0;  // percentile interval of the resampled difference
    double p_value = 1;     // two-sided: min(1, 2 * min(P*[diff <= 0], P*[diff >= 0]))
};
// Paired percentile bootstrap over problems: each resample draws the same problem indices for both
// runs. a[i] and b[i] are per-problem values (e.g. per-problem accuracy) for the same problem.
PairedBootstrap metrics_paired_bootstrap(const std::vector<double>& a, const std::vector<double>& b,
                                         const BootstrapOptions& options = {});

// ---- accuracy versus tokens ----

struct ParetoPoint {
    double accuracy = 0;  // higher is better
    double tokens = 0;    // lower is better
};
// Indices of the non-dominated points, by tokens ascending (accuracy then strictly ascending).
// A point is dominated when another has accuracy >= and tokens <= with one strict. Exact
// duplicates: the one with the lowest index is kept, the others are treated as dominated.
std::vector<size_t> metrics_pareto_frontier(const std::vector<ParetoPoint>& points);
// Area dominated by the points inside the box tokens in [.., reference.tokens], accuracy in
// [reference.accuracy, ..] (the 2-D hypervolume; larger is better). Points outside contribute 0.
double metrics_hypervolume(const std::vector<ParetoPoint>& points, const ParetoPoint& reference);

// ---- everything for one run configuration ----

struct MetricsSample {
    std::string problem_id;
    bool correct = false;
    bool censored = false;
    double n_tokens = 0;     // tokens generated (thinking + answer)
    double budget = 0;       // thinking budget in force; 0 = none (left out of compliance)
    std::string answer_key;  // normalised answer for maj@k ("" = no answer)
};

struct MetricsSummaryOptions {
    std::vector<size_t> pass_k = {1};  // pass@k for these k (skipped when k > the smallest n)
    std::vector<size_t> maj_k;         // maj@k for these k (0 = all samples)
    BootstrapOptions bootstrap;
};

struct MetricsSummary {
    size_t n_problems = 0, n_samples = 0, n_min = 0, n_max = 0;  // samples per problem: min, max
    MetricsInterval accuracy;                                    // avg@n with its bootstrap interval
    std::map<size_t, double> pass_at_k;
    std::map<size_t, double> maj_at_k;
    double censored_rate = 0;
    TokenMeans tokens;
    std::optional<BudgetCompliance> budget;  // set when any sample has a budget
};

// Groups samples by problem_id (in order of first appearance, samples in input order) and computes
// every metric above.
MetricsSummary metrics_summarize(const std::vector<MetricsSample>& samples, const MetricsSummaryOptions& options = {});

}  // namespace adabench
