// Tests for graders/metrics: hand-computed cases with literal expected numbers. The bootstrap,
// McNemar and large pass@k literals come from tests/metrics/metrics_ref.py, an independent Python
// reference (exact fractions; the SplitMix64 reference outputs are the published ones).
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "graders/metrics.h"

using namespace adabench;

namespace {
std::vector<bool> bits(std::initializer_list<int> v) {
    std::vector<bool> out;
    for (int x : v) out.push_back(x != 0);
    return out;
}
}  // namespace

TEST(Metrics, PassAtKHandComputed) {
    EXPECT_DOUBLE_EQ(metrics_pass_at_k(5, 2, 1), 0.4);
    EXPECT_DOUBLE_EQ(metrics_pass_at_k(5, 2, 2), 0.7);  // 1 - C(3,2)/C(5,2) = 1 - 3/10
    EXPECT_DOUBLE_EQ(metrics_pass_at_k(10, 0, 3), 0.0);
    EXPECT_DOUBLE_EQ(metrics_pass_at_k(4, 3, 2), 1.0);  // n - c < k
    EXPECT_DOUBLE_EQ(metrics_pass_at_k(4, 4, 4), 1.0);
    EXPECT_NEAR(metrics_pass_at_k(200, 1, 100), 0.5, 1e-15);  // 1 - C(199,100)/C(200,100)
    // C(1000,10) overflows 64 bits; the product form stays exact to rounding.
    EXPECT_NEAR(metrics_pass_at_k(1000, 500, 10), 0.9990668121978155, 1e-14);
    EXPECT_THROW(metrics_pass_at_k(3, 1, 4), Error);
    EXPECT_THROW(metrics_pass_at_k(3, 1, 0), Error);
    EXPECT_THROW(metrics_pass_at_k(3, 4, 1), Error);
}

TEST(Metrics, AvgAtNWeighsProblemsEqually) {
    std::vector<std::vector<bool>> c = {bits({1, 0}), bits({1, 1, 1, 0})};
    EXPECT_DOUBLE_EQ(metrics_avg_at_n(c), 0.625);  // (1/2 + 3/4) / 2, not 4/6
    auto per = metrics_per_problem_accuracy(c);
    ASSERT_EQ(per.size(), 2u);
    EXPECT_DOUBLE_EQ(per[1], 0.75);
    // pass@2: problem 1 -> 1 - C(1,2)/C(2,2) = 1; problem 2 -> 1 (n - c = 1 < 2). pass@1 = avg@n.
    EXPECT_DOUBLE_EQ(metrics_pass_at_k_mean(c, 2), 1.0);
    EXPECT_DOUBLE_EQ(metrics_pass_at_k_mean(c, 1), 0.625);
    EXPECT_THROW(metrics_pass_at_k_mean(c, 3), Error);
    EXPECT_THROW(metrics_avg_at_n({}), Error);
    EXPECT_THROW(metrics_avg_at_n({bits({1}), {}}), Error);
}

TEST(Metrics, MajorityVoteTieBreaksOnFirstOccurrence) {
    std::vector<std::string> keys = {"a", "b", "b", "a", "c"};
    EXPECT_EQ(metrics_majority_index(keys), 0u);     // a:2 (first at 0) ties b:2 (first at 1)
    EXPECT_EQ(metrics_majority_index(keys, 3), 1u);  // first 3: b has 2 votes
    EXPECT_EQ(metrics_majority_index(keys, 1), 0u);
    EXPECT_EQ(metrics_majority_index({"", "", "x"}), 2u);  // no answer does not vote
    EXPECT_EQ(metrics_majority_index({"", "x", "", "y", "y", "", ""}), 3u);
    EXPECT_EQ(metrics_majority_index({"", ""}), std::nullopt);
    EXPECT_EQ(metrics_majority_index({}), std::nullopt);
    // Raw answers through a key function: "1/2" and "0.5" share a key.
    auto key = [](const std::string& s) { return s == "1/2" ? std::string("0.5") : s; };
    EXPECT_EQ(metrics_majority_index({"3", "1/2", "3", "0.5", "0.5"}, 0, key), 1u);
    EXPECT_EQ(metrics_majority_index({"3", "1/2", "3", "0.5", "0.5"}, 3, key), 0u);
}

TEST(Metrics, MajAtK) {
    std::vector<std::vector<std::string>> keys = {{"7", "5", "7"}, {"1", "2", "2"}, {"", "", ""}, {"4", "9", "9"}};
    std::vector<std::vector<bool>> correct = {bits({1, 0, 1}), bits({1, 0, 0}), bits({0, 0, 0}), bits({0, 1, 1})};
    // maj@3: problem 1 right (7), 2 wrong (2), 3 no vote, 4 right (9) -> 2/4.
    EXPECT_DOUBLE_EQ(metrics_maj_at_k(keys, correct, 3), 0.5);
    EXPECT_DOUBLE_EQ(metrics_maj_at_k(keys, correct, 0), 0.5);
    // maj@1 is the first sample's verdict: 1, 1, 0, 0.
    EXPECT_DOUBLE_EQ(metrics_maj_at_k(keys, correct, 1), 0.5);
    // maj@2: p1 tie 7/5 -> 7 (right); p2 tie 1/2 -> 1 (right); p4 tie 4/9 -> 4 (wrong) -> 2/4.
    EXPECT_DOUBLE_EQ(metrics_maj_at_k(keys, correct, 2), 0.5);
    EXPECT_THROW(metrics_maj_at_k(keys, correct, 4), Error);
    keys[0].pop_back();
    EXPECT_THROW(metrics_maj_at_k(keys, correct, 2), Error);
}

TEST(Metrics, SplitMix64MatchesReferenceOutputs) {
    MetricsRng r(0);
    EXPECT_EQ(r.next(), 0xe220a8397b1dcdafULL);
    EXPECT_EQ(r.next(), 0x6e789e6aa1b965f4ULL);
    EXPECT_EQ(r.next(), 0x06c45d188009454fULL);
    MetricsRng s(0x5eed2025);
    const uint64_t expect[] = {6, 1, 7, 4, 3, 8, 0, 5, 3, 8};
    for (uint64_t e : expect) EXPECT_EQ(s.below(10), e);
    MetricsRng t(1);
    for (int i = 0; i < 1000; ++i) EXPECT_LT(t.below(3), 3u);
    EXPECT_EQ(t.below(1), 0u);
}

TEST(Metrics, QuantileType7) {
    std::vector<double> x = {1, 2, 3, 4};
    EXPECT_DOUBLE_EQ(metrics_quantile_sorted(x, 0.25), 1.75);
    EXPECT_DOUBLE_EQ(metrics_quantile_sorted(x, 0.5), 2.5);
    EXPECT_DOUBLE_EQ(metrics_quantile_sorted(x, 0.0), 1.0);
    EXPECT_DOUBLE_EQ(metrics_quantile_sorted(x, 1.0), 4.0);
    EXPECT_DOUBLE_EQ(metrics_quantile_sorted({5}, 0.3), 5.0);
    EXPECT_THROW(metrics_quantile_sorted({}, 0.5), Error);
    EXPECT_THROW(metrics_quantile_sorted(x, 1.5), Error);
}

TEST(Metrics, BootstrapMatchesReferenceAndIsDeterministic) {
    auto r = metrics_bootstrap_mean({0, 0, 1, 1, 1});
    EXPECT_DOUBLE_EQ(r.estimate, 0.6);
    EXPECT_NEAR(r.lo, 0.2, 1e-12);
    EXPECT_NEAR(r.hi, 1.0, 1e-12);
    BootstrapOptions o{999, 0.95, 7};
    r = metrics_bootstrap_mean({0.1, 0.37, 0.52, 0.9, 0.05, 0.77, 0.61}, o);
    EXPECT_NEAR(r.estimate, 0.47428571428571425, 1e-12);
    EXPECT_NEAR(r.lo, 0.2370714285714286, 1e-12);
    EXPECT_NEAR(r.hi, 0.6957857142857141, 1e-12);
    o = {1000, 0.9, 42};
    r = metrics_bootstrap_mean({0, 0.5, 1, 1, 0.25, 0.75}, o);
    EXPECT_NEAR(r.lo, 1.0 / 3, 1e-12);
    EXPECT_NEAR(r.hi, 5.0 / 6, 1e-12);
    // Same seed, same interval; constant data, a zero-width interval.
    auto a = metrics_bootstrap_mean({0.3, 0.9, 0.1});
    auto b = metrics_bootstrap_mean({0.3, 0.9, 0.1});
    EXPECT_EQ(a.lo, b.lo);
    EXPECT_EQ(a.hi, b.hi);
    auto c = metrics_bootstrap_mean({0.7, 0.7, 0.7});
    EXPECT_DOUBLE_EQ(c.lo, 0.7);
    EXPECT_DOUBLE_EQ(c.hi, 0.7);
    EXPECT_THROW(metrics_bootstrap_mean({}), Error);
    EXPECT_THROW(metrics_bootstrap_mean({NAN}), Error);
    EXPECT_THROW(metrics_bootstrap_mean({1}, {0, 0.95, 1}), Error);
    EXPECT_THROW(metrics_bootstrap_mean({1}, {10, 1.0, 1}), Error);
}

TEST(Metrics, RatesAndTokenMeans) {
    EXPECT_DOUBLE_EQ(metrics_rate(bits({1, 0, 0, 0})), 0.25);
    EXPECT_THROW(metrics_rate({}), Error);
    auto m = metrics_token_means({10, 20, 30, 40}, bits({1, 0, 1, 0}));
    EXPECT_DOUBLE_EQ(m.all, 25);
    EXPECT_DOUBLE_EQ(m.correct, 20);
    EXPECT_DOUBLE_EQ(m.incorrect, 30);
    EXPECT_EQ(m.n_correct, 2u);
    m = metrics_token_means({10, 20}, bits({1, 1}));
    EXPECT_DOUBLE_EQ(m.correct, 15);
    EXPECT_TRUE(std::isnan(m.incorrect));
    EXPECT_EQ(m.n_incorrect, 0u);
    EXPECT_THROW(metrics_token_means({1, 2}, bits({1})), Error);
}

TEST(Metrics, BudgetCompliance) {
    auto c = metrics_budget_compliance({50, 100, 150}, {100, 100, 100});
    EXPECT_DOUBLE_EQ(c.share_within, 2.0 / 3);
    EXPECT_DOUBLE_EQ(c.mean_relative_deviation, 1.0 / 3);  // (0.5 + 0 + 0.5) / 3
    EXPECT_DOUBLE_EQ(c.mean_relative_excess, 1.0 / 6);     // (0 + 0 + 0.5) / 3
    c = metrics_budget_compliance({300, 1000}, {256, 1024});
    EXPECT_DOUBLE_EQ(c.share_within, 0.5);
    EXPECT_DOUBLE_EQ(c.mean_relative_deviation, (44.0 / 256 + 24.0 / 1024) / 2);
    EXPECT_THROW(metrics_budget_compliance({1}, {0}), Error);
    EXPECT_THROW(metrics_budget_compliance({1}, {}), Error);
}

TEST(Metrics, McNemarExact) {
    // a right / b wrong = 1, a wrong / b right = 5: p = 2 * (1 + 6) / 64.
    auto r = metrics_mcnemar(bits({1, 0, 0, 0, 0, 0, 1, 0}), bits({0, 1, 1, 1, 1, 1, 1, 0}));
    EXPECT_EQ(r.n_a_only, 1u);
    EXPECT_EQ(r.n_b_only, 5u);
    EXPECT_EQ(r.n_both, 1u);
    EXPECT_EQ(r.n_neither, 1u);
    EXPECT_NEAR(r.p_value, 0.21875, 1e-12);
    // 0 vs 10: 2 / 2^10.
    std::vector<bool> a(10, false), b(10, true);
    EXPECT_NEAR(metrics_mcnemar(a, b).p_value, 0.001953125, 1e-12);
    // Balanced discordance caps at 1; no discordance is p = 1.
    EXPECT_DOUBLE_EQ(metrics_mcnemar(bits({1, 1, 1, 0, 0, 0}), bits({0, 0, 0, 1, 1, 1})).p_value, 1.0);
    EXPECT_DOUBLE_EQ(metrics_mcnemar(bits({1, 0}), bits({1, 0})).p_value, 1.0);
    // Large counts stay finite and accurate (log space).
    auto big = [](size_t x, size_t y) {
        std::vector<bool> u, v;
        for (size_t i = 0; i < x; ++i) u.push_back(true), v.push_back(false);
        for (size_t i = 0; i < y; ++i) u.push_back(false), v.push_back(true);
        return metrics_mcnemar(u, v).p_value;
    };
    EXPECT_NEAR(big(100, 150), 0.001883300935076157, 1e-12);
    EXPECT_NEAR(big(2000, 2100), 0.12206497999113813, 1e-9);
    EXPECT_THROW(metrics_mcnemar(bits({1}), bits({1, 0})), Error);
}

TEST(Metrics, PairedBootstrapMatchesReference) {
    std::vector<double> a = {1, 1, 1, 0, 1, 1, 0, 1, 1, 1}, b = {1, 0, 0, 0, 1, 0, 0, 1, 0, 1};
    auto r = metrics_paired_bootstrap(a, b);
    EXPECT_NEAR(r.diff, 0.4, 1e-12);
    EXPECT_NEAR(r.lo, 0.1, 1e-12);
    EXPECT_NEAR(r.hi, 0.7, 1e-12);
    EXPECT_NEAR(r.p_value, 0.009, 1e-12);
    r = metrics_paired_bootstrap({0.1, 0.37, 0.52, 0.9, 0.05}, {0.2, 0.3, 0.5, 0.6, 0.0}, {500, 0.8, 3});
    EXPECT_NEAR(r.diff, 0.068, 1e-12);
    EXPECT_NEAR(r.lo, -0.006, 1e-12);
    EXPECT_NEAR(r.hi, 0.14, 1e-12);
    EXPECT_NEAR(r.p_value, 0.24, 1e-12);
    // Identical runs: no difference, p = 1.
    r = metrics_paired_bootstrap(a, a);
    EXPECT_DOUBLE_EQ(r.diff, 0);
    EXPECT_DOUBLE_EQ(r.p_value, 1);
    EXPECT_THROW(metrics_paired_bootstrap({1}, {1, 0}), Error);
    EXPECT_THROW(metrics_paired_bootstrap({}, {}), Error);
}

TEST(Metrics, ParetoFrontierWithTies) {
    std::vector<ParetoPoint> pts = {
        {0.5, 100},   // 0 A: on the frontier
        {0.6, 200},   // 1 B: on the frontier
        {0.55, 250},  // 2 dominated by B
        {0.6, 200},   // 3 duplicate of B: the lower index (1) is kept
        {0.4, 50},    // 4 E: on the frontier
        {0.7, 400},   // 5 F: on the frontier
        {0.5, 100},   // 6 duplicate of A
        {0.5, 120},   // 7 same accuracy as A, more tokens: dominated
        {0.45, 100},  // 8 same tokens as A, less accuracy: dominated
    };
    EXPECT_EQ(metrics_pareto_frontier(pts), (std::vector<size_t>{4, 0, 1, 5}));
    EXPECT_TRUE(metrics_pareto_frontier({}).empty());
    EXPECT_EQ(metrics_pareto_frontier({{0.3, 10}}), (std::vector<size_t>{0}));
    EXPECT_THROW(metrics_pareto_frontier({{NAN, 1}}), Error);
}

TEST(Metrics, HypervolumeHandComputed) {
    std::vector<ParetoPoint> pts = {{0.5, 100}, {0.6, 200}, {0.55, 250}, {0.4, 50}, {0.7, 400}};
    // Reference (accuracy 0, 500 tokens): 50*0.4 + 100*0.5 + 200*0.6 + 100*0.7 = 260.
    EXPECT_NEAR(metrics_hypervolume(pts, {0.0, 500}), 260.0, 1e-9);
    // Reference (0.45, 300): only A and B count: 100*0.05 + 100*0.15 = 20.
    EXPECT_NEAR(metrics_hypervolume(pts, {0.45, 300}), 20.0, 1e-9);
    EXPECT_DOUBLE_EQ(metrics_hypervolume(pts, {0.9, 500}), 0.0);
    EXPECT_DOUBLE_EQ(metrics_hypervolume({}, {0, 1}), 0.0);
    // A dominated point adds nothing.
    pts.push_back({0.3, 300});
    EXPECT_NEAR(metrics_hypervolume(pts, {0.0, 500}), 260.0, 1e-9);
}

TEST(Metrics, SummarizeGroupsByProblem) {
    std::vector<MetricsSample> s = {
        {"p1", true, false, 100, 128, "7"}, {"p2", false, true, 128, 128, ""}, {"p1", false, false, 200, 128, "5"},
        {"p2", true, false, 60, 128, "3"},  {"p1", true, false, 90, 128, "7"}, {"p2", false, false, 120, 128, "4"},
    };
    MetricsSummaryOptions o;
    o.pass_k = {1, 2, 5};
    o.maj_k = {0, 1};
    auto m = metrics_summarize(s, o);
    EXPECT_EQ(m.n_problems, 2u);
    EXPECT_EQ(m.n_samples, 6u);
    EXPECT_EQ(m.n_min, 3u);
    EXPECT_DOUBLE_EQ(m.accuracy.estimate, 0.5);  // (2/3 + 1/3) / 2
    EXPECT_LE(m.accuracy.lo, m.accuracy.estimate);
    EXPECT_GE(m.accuracy.hi, m.accuracy.estimate);
    EXPECT_DOUBLE_EQ(m.pass_at_k.at(1), 0.5);
    EXPECT_DOUBLE_EQ(m.pass_at_k.at(2), (1.0 + (1 - 1.0 / 3)) / 2);  // p2: 1 - C(2,2)/C(3,2)
    EXPECT_FALSE(m.pass_at_k.count(5));
    EXPECT_DOUBLE_EQ(m.maj_at_k.at(0), 1.0);  // p1: 7 (right); p2: "" abstains, 3 and 4 tie -> 3 (right)
    EXPECT_DOUBLE_EQ(m.maj_at_k.at(1), 0.5);  // p2 first sample has no answer
    EXPECT_DOUBLE_EQ(m.censored_rate, 1.0 / 6);
    EXPECT_DOUBLE_EQ(m.tokens.all, 698.0 / 6);
    EXPECT_DOUBLE_EQ(m.tokens.correct, 250.0 / 3);
    ASSERT_TRUE(m.budget.has_value());
    EXPECT_DOUBLE_EQ(m.budget->share_within, 5.0 / 6);
    EXPECT_THROW(metrics_summarize({}), Error);
}

TEST(Metrics, PassAtKEqualsSubsetEnumeration) {
    // pass@k is the probability that a random k-subset of the n samples holds a correct one:
    // enumerate every subset for small n (correct samples first; the order does not matter).
    for (size_t n = 1; n <= 8; ++n) {
        for (size_t c = 0; c <= n; ++c) {
            for (size_t k = 1; k <= n; ++k) {
                size_t hit = 0, total = 0;
                for (uint32_t mask = 0; mask < (1u << n); ++mask) {
                    if (size_t(__builtin_popcount(mask)) != k) continue;
                    ++total;
                    hit += (mask & ((1u << c) - 1)) != 0;
                }
                EXPECT_NEAR(metrics_pass_at_k(n, c, k), double(hit) / double(total), 1e-12)
                    << "n=" << n << " c=" << c << " k=" << k;
            }
        }
    }
}
