// Checks of reports/adaptive.h (issue #19): an always-j router reproduces static point j exactly; a
// random router has expected APGR 0.5; the oracle dominates every static point, the hull and every
// router point; short-k@k equals maj@k; exact subset enumeration agrees with Monte Carlo within 3
// standard errors; hand-computed maj@k / short-m@k, AUROC, AES, length reduction (DLER's table of
// ADAPTIVE_METHODS.md e.1) and the difficulty views; tables read from a synthetic store.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "common/error.h"
#include "reports/adaptive.h"
#include "tests/reports/report_test_util.h"

namespace adabench {
namespace {

// A synthetic run: query q has difficulty d in [0,1] and needs 20 + 100 d thinking tokens; under
// budget b a sample is right when it finished thinking (with prob. 0.9) or by luck (0.1).
AdaptiveTable synthetic_table(size_t n_queries, const std::vector<int64_t>& budgets, size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> uni(0, 1);
    AdaptiveTable t;
    t.task = "synthetic";
    for (size_t j = 0; j < budgets.size(); ++j) {
        PointRecord p;
        p.point_id = int64_t(j);
        p.task = t.task;
        p.mechanism = "hard_cut";
        p.think_budget = budgets[j];
        p.coefs_json = "[]";
        p.temperature = 0.7;
        t.configs.push_back(p);
        t.labels.push_back(analysis_point_label(p));
    }
    for (size_t q = 0; q < n_queries; ++q) {
        double d = uni(rng);
        t.queries.push_back("q" + std::to_string(q));
        t.level.push_back(std::floor(d * 4) + 1);
        std::vector<std::vector<AdaptiveSample>> row(budgets.size());
        for (size_t i = 0; i < n; ++i) {
            double need = 20 + 100 * d + 20 * (uni(rng) - 0.5);
            double luck = uni(rng), slip = uni(rng);
            int wrong = int(uni(rng) * 3);
            double ans = 3 + std::floor(uni(rng) * 5);
            for (size_t j = 0; j < budgets.size(); ++j) {
                AdaptiveSample s;
                s.think_cut = need > double(budgets[j]);
                s.think = s.think_cut ? double(budgets[j]) : std::floor(need);
                s.answer_tokens = ans;
                s.tokens = s.think + s.answer_tokens;
                s.prompt_tokens = std::floor(10 + 20 * d);
                bool ok = s.think_cut ? luck < 0.1 : slip < 0.9;
                s.correct = ok ? 1 : 0;
                s.key = ok ? "42" : (wrong == 0 ? "" : std::to_string(wrong));
                row[j].push_back(s);
            }
        }
        t.cells.push_back(row);
    }
    t.level_field = "level";
    return t;
}

std::vector<size_t> all_rows(const AdaptiveTable& t) {
    std::vector<size_t> r(t.n_queries());
    std::iota(r.begin(), r.end(), 0);
    return r;
}

TEST(AdaptiveRouter, AlwaysJRouterReproducesStaticPointExactly) {
    AdaptiveTable t = synthetic_table(60, {16, 32, 64, 128}, 3, 1);
    auto rows = all_rows(t);
    auto stat = adaptive_static_points(t);
    for (size_t j = 0; j < t.n_configs(); ++j) {
        std::vector<std::vector<size_t>> choice(t.n_queries());
        for (size_t q = 0; q < t.n_queries(); ++q) choice[q].assign(t.cells[q][j].size(), j);
        ParetoPoint p = adaptive_route_point(t, rows, choice, 0, 3);
        EXPECT_EQ(p.accuracy, stat[j].accuracy) << j;
        EXPECT_EQ(p.tokens, stat[j].tokens) << j;
    }
    // a probe-free signal's curve ends exactly at the static lo and hi points
    auto sigs = adaptive_signals(t, 0, 2, 0);
    ASSERT_EQ(sigs[0].name, "prompt_tokens");
    auto curve = adaptive_router_curve(t, sigs[0], 1, {INFINITY, 20, -INFINITY}, rows, 0, 3);
    ASSERT_EQ(curve.size(), 3u);
    EXPECT_EQ(curve.front().share_hi, 0);
    EXPECT_DOUBLE_EQ(curve.front().accuracy, stat[0].accuracy);
    EXPECT_DOUBLE_EQ(curve.front().tokens, stat[0].tokens);
    EXPECT_EQ(curve.back().share_hi, 1);
    EXPECT_DOUBLE_EQ(curve.back().accuracy, stat[3].accuracy);
    EXPECT_DOUBLE_EQ(curve.back().tokens, stat[3].tokens);
    // the probe signal: routed to lo costs nothing extra, routed to hi adds the lo sample's tokens
    const AdaptiveSignal* probe = nullptr;
    for (const auto& s : sigs)
        if (s.name == "probe_think") probe = &s;
    ASSERT_NE(probe, nullptr);
    auto pc = adaptive_router_curve(t, *probe, 1, {INFINITY, -INFINITY}, rows, 0, 3);
    EXPECT_DOUBLE_EQ(pc.front().tokens, stat[0].tokens);
    EXPECT_DOUBLE_EQ(pc.back().tokens, stat[3].tokens + stat[0].tokens);
    EXPECT_DOUBLE_EQ(pc.back().accuracy, stat[3].accuracy);
}

TEST(AdaptiveRouter, RandomRouterHasExpectedApgrHalf) {
    AdaptiveTable t = synthetic_table(80, {16, 128}, 2, 2);
    auto rows = all_rows(t);
    auto stat = adaptive_static_points(t);
    std::vector<double> thresholds = {INFINITY};
    for (int i = 9; i >= 1; --i) thresholds.push_back(i / 10.0);
    thresholds.push_back(-INFINITY);
    std::vector<double> apgr;
    for (uint64_t seed = 0; seed < 300; ++seed) {
        auto sigs = adaptive_signals(t, 0, 1, seed);
        const AdaptiveSignal& rnd = sigs.back();
        ASSERT_EQ(rnd.name, "random");
        auto curve = adaptive_router_curve(t, rnd, 1, thresholds, rows, 0, 1);
        std::vector<std::pair<double, double>> pts;
        for (const auto& p : curve) pts.push_back({p.share_hi, p.accuracy});
        apgr.push_back(adaptive_apgr(pts, stat[0].accuracy, stat[1].accuracy));
    }
    double m = std::accumulate(apgr.begin(), apgr.end(), 0.0) / double(apgr.size());
    double v = 0;
    for (double a : apgr) v += (a - m) * (a - m);
    double se = std::sqrt(v / double(apgr.size() - 1) / double(apgr.size()));
    EXPECT_GT(se, 0);
    EXPECT_NEAR(m, 0.5, 3 * se) << "se " << se;
}

TEST(AdaptiveRouter, OracleDominatesStaticPointsHullAndRouters) {
    AdaptiveTable t = synthetic_table(70, {8, 24, 48, 96, 160}, 4, 3);
    auto stat = adaptive_static_points(t);
    auto oracle = adaptive_oracle(t);
    auto oc = adaptive_oracle_curve(oracle);
    // mu = 0: the mean of each query's best accuracy; mu = inf: each query's cheapest configuration
    double best = 0, cheapest = 0;
    for (size_t q = 0; q < t.n_queries(); ++q) {
        double b = 0;
        size_t cj = 0;
        for (size_t j = 0; j < t.n_configs(); ++j) {
            b = std::max(b, t.c(q, j));
            if (t.t(q, j) < t.t(q, cj) || (t.t(q, j) == t.t(q, cj) && t.c(q, j) > t.c(q, cj))) cj = j;
        }
        best += b;
        cheapest += t.t(q, cj);
    }
    EXPECT_NEAR(oc.back().accuracy, best / double(t.n_queries()), 1e-12);
    EXPECT_NEAR(oc.front().tokens, cheapest / double(t.n_queries()), 1e-9);
    for (size_t i = 1; i < oracle.size(); ++i) EXPECT_LE(oracle[i].mu, oracle[i - 1].mu);  // concave
    for (const auto& p : stat) EXPECT_GE(adaptive_curve_at(oc, p.tokens) + 1e-12, p.accuracy);
    for (const auto& h : adaptive_hull(stat)) EXPECT_GE(adaptive_curve_at(oc, h.tokens) + 1e-12, h.accuracy);
    RouteResult r = adaptive_route(t);
    auto oc_test = adaptive_oracle_curve(r.oracle_test);
    ASSERT_FALSE(r.routers.empty());
    for (const auto& m : r.routers) {
        for (const auto& p : m.curve) EXPECT_GE(adaptive_curve_at(oc_test, p.tokens) + 1e-12, p.accuracy) << m.signal;
        EXPECT_LE(m.gap_recovered, 1 + 1e-12) << m.signal;
        EXPECT_LE(m.auc, m.auc_oracle + 1e-12) << m.signal;
    }
    // the binned difficulty and prompt-length routers know something: they beat the random segment
    // (the lo budget of 8 cuts every probe, so the probe signals carry nothing here)
    for (const auto& m : r.routers) {
        if (m.signal == "difficulty/bins" || m.signal == "prompt_tokens/bins") {
            EXPECT_GT(m.gap_recovered, 0.2) << m.signal;
        }
    }
}

TEST(AdaptiveRouter, HullIsConcaveAndMixesPoints) {
    std::vector<ParetoPoint> pts = {{0.2, 10}, {0.3, 40}, {0.6, 30}, {0.7, 100}, {0.5, 120}};
    auto h = adaptive_hull(pts);
    ASSERT_EQ(h.size(), 3u);
    EXPECT_EQ(h[0].tokens, 10);
    EXPECT_EQ(h[1].tokens, 30);
    EXPECT_EQ(h[2].tokens, 100);
    EXPECT_NEAR(adaptive_curve_at(h, 20), 0.4, 1e-12);   // halfway between (10,0.2) and (30,0.6)
    EXPECT_NEAR(adaptive_curve_at(h, 500), 0.7, 1e-12);  // flat beyond the last vertex
    EXPECT_TRUE(std::isnan(adaptive_curve_at(h, 5)));
}

TEST(AdaptiveRouter, NormalisedAucAndApgrByHand) {
    // a straight segment from (0, 0.2) to (1, 0.8): AUC 0.5; APGR 0.5
    EXPECT_NEAR(adaptive_auc_u({{0, 0.2}, {1, 0.8}}, 0.2), 0.5, 1e-12);
    EXPECT_NEAR(adaptive_apgr({{0, 0.2}, {1, 0.8}}, 0.2, 0.8), 0.5, 1e-12);
    // a step reaching 0.8 at u = 0.5 and flat after: 0.5*(0.2+0.8)/2 + 0.5*0.8 = 0.65
    EXPECT_NEAR(adaptive_auc_u({{0.5, 0.8}}, 0.2), 0.65, 1e-12);
    // a curve that starts left of 0 and ends right of 1 is clipped to [0, 1]
    EXPECT_NEAR(adaptive_auc_u({{-1, 0}, {2, 0.6}}, 0), (0.2 + 0.4) / 2, 1e-12);
}

TEST(AdaptiveRouter, Auroc) {
    EXPECT_DOUBLE_EQ(adaptive_auroc({1, 2, 3, 4}, {false, false, true, true}), 1.0);
    EXPECT_DOUBLE_EQ(adaptive_auroc({1, 2, 3, 4}, {true, true, false, false}), 0.0);
    EXPECT_DOUBLE_EQ(adaptive_auroc({1, 1, 1, 1}, {true, false, true, false}), 0.5);
    EXPECT_DOUBLE_EQ(adaptive_auroc({1, 2, 2, 3}, {false, true, false, true}), 0.875);
    EXPECT_TRUE(std::isnan(adaptive_auroc({1, 2}, {true, true})));
}

TEST(AdaptiveRouter, SplitIsDisjointAndCoversAll) {
    AdaptiveTable t = synthetic_table(200, {16, 64}, 1, 4);
    std::vector<size_t> dev, test;
    adaptive_split(t, 0.5, 7, &dev, &test);
    EXPECT_EQ(dev.size() + test.size(), 200u);
    std::vector<size_t> both = dev;
    both.insert(both.end(), test.begin(), test.end());
    std::sort(both.begin(), both.end());
    EXPECT_EQ(both, all_rows(t));
    EXPECT_GT(dev.size(), 70u);
    EXPECT_GT(test.size(), 70u);
}

// ---- parallel sampling ----

AdaptiveSample smp(double correct, const std::string& key, double think, double answer) {
    AdaptiveSample s;
    s.correct = correct;
    s.key = key;
    s.think = think;
    s.answer_tokens = answer;
    s.tokens = think + answer;
    return s;
}

TEST(AdaptiveParallel, MajAtKByHand) {
    // answers 42 (right), 7, 42 with thinking 10, 20, 30 and 5 answer tokens each
    std::vector<std::vector<AdaptiveSample>> q = {{smp(1, "42", 10, 5), smp(0, "7", 20, 5), smp(1, "42", 30, 5)}};
    // pairs {0,1}: tie -> random 0.5, shortest -> 42 (1); {0,2}: 1; {1,2}: tie -> 0.5 / shortest 7 (0)
    auto r = adaptive_maj_at_k(q, 2, VOTE_TIE_RANDOM);
    EXPECT_TRUE(r.exact);
    EXPECT_NEAR(r.accuracy, (0.5 + 1 + 0.5) / 3, 1e-12);
    EXPECT_NEAR(r.tokens, 2.0 * (15 + 25 + 35) / 3, 1e-12);
    EXPECT_NEAR(adaptive_maj_at_k(q, 2, VOTE_TIE_SHORTEST).accuracy, (1 + 1 + 0) / 3.0, 1e-12);
    // short-1@2: the shorter of each pair: {0,1}->0 (right), {0,2}->0, {1,2}->1 (wrong)
    auto s = adaptive_short_m_at_k(q, 1, 2);
    EXPECT_NEAR(s.accuracy, 2.0 / 3, 1e-12);
    // cost 2 * l_(1) + its answer: (2*10+5 + 2*10+5 + 2*20+5)/3
    EXPECT_NEAR(s.tokens, (25 + 25 + 45) / 3.0, 1e-12);
    // no vote at all is wrong
    std::vector<std::vector<AdaptiveSample>> none = {{smp(0, "", 5, 1), smp(0, "", 6, 1)}};
    EXPECT_EQ(adaptive_maj_at_k(none, 2, VOTE_TIE_RANDOM).accuracy, 0);
}

std::vector<std::vector<AdaptiveSample>> column(const AdaptiveTable& t, size_t j) {
    std::vector<std::vector<AdaptiveSample>> v;
    for (size_t q = 0; q < t.n_queries(); ++q) v.push_back(t.cells[q][j]);
    return v;
}

TEST(AdaptiveParallel, ShortKAtKEqualsMajAtK) {
    AdaptiveTable t = synthetic_table(40, {48}, 6, 5);
    auto col = column(t, 0);
    for (size_t k : {1u, 2u, 3u, 5u, 6u}) {
        auto maj = adaptive_maj_at_k(col, k, VOTE_TIE_SHORTEST);
        auto sk = adaptive_short_m_at_k(col, k, k);
        EXPECT_DOUBLE_EQ(sk.accuracy, maj.accuracy) << k;
        // cost k * l_(k) + all k answers >= the sum of the k samples
        EXPECT_GE(sk.tokens + 1e-9, maj.tokens) << k;
    }
    // maj@1 = avg@n and short-1@1 = a single sample
    double avg = 0, tok = 0;
    for (size_t q = 0; q < t.n_queries(); ++q) {
        avg += t.c(q, 0);
        tok += t.t(q, 0);
    }
    EXPECT_NEAR(adaptive_maj_at_k(col, 1, VOTE_TIE_RANDOM).accuracy, avg / 40, 1e-12);
    EXPECT_NEAR(adaptive_short_m_at_k(col, 1, 1).accuracy, avg / 40, 1e-12);
    EXPECT_NEAR(adaptive_short_m_at_k(col, 1, 1).tokens, tok / 40, 1e-9);
}

TEST(AdaptiveParallel, ExactEnumerationAgreesWithMonteCarlo) {
    AdaptiveTable t = synthetic_table(30, {40}, 10, 6);
    auto col = column(t, 0);
    for (size_t k : {3u, 5u}) {
        auto exact = adaptive_maj_at_k(col, k, VOTE_TIE_RANDOM);
        ASSERT_TRUE(exact.exact);
        ParallelOptions mc;
        mc.force_monte_carlo = true;
        mc.mc_subsets = 2000;
        auto est = adaptive_maj_at_k(col, k, VOTE_TIE_RANDOM, mc);
        EXPECT_FALSE(est.exact);
        EXPECT_GT(est.accuracy_se, 0);
        EXPECT_NEAR(est.accuracy, exact.accuracy, 3 * est.accuracy_se) << k;
        auto se = adaptive_short_m_at_k(col, 1, k);
        auto sm = adaptive_short_m_at_k(col, 1, k, mc);
        EXPECT_NEAR(sm.accuracy, se.accuracy, 3 * sm.accuracy_se) << k;
    }
    // above the enumeration limit the estimator switches to Monte Carlo by itself
    ParallelOptions small;
    small.exact_limit = 10;
    EXPECT_FALSE(adaptive_maj_at_k(col, 5, VOTE_TIE_RANDOM, small).exact);
}

TEST(AdaptiveParallel, EqualCostRowsPairBudgets) {
    AdaptiveTable t = synthetic_table(20, {16, 32, 64, 128}, 4, 7);
    ParallelResult r = adaptive_parallel(t, {2, 4});
    // B=128: k=2 (64), k=4 (32); B=64: k=2 (32), k=4 (16); B=32: k=2 (16)
    EXPECT_EQ(r.equal_cost.size(), 5u);
    for (const auto& e : r.equal_cost) {
        EXPECT_EQ(e.single.n_queries, 20u);
        // k samples at B/k think at most B tokens in all (answers are 3..7 tokens each)
        EXPECT_LE(e.maj.tokens, double(e.budget) + double(e.k) * 7 + 1e-9);
        EXPECT_GT(e.maj.tokens, 0);
    }
}

// ---- difficulty and efficiency ----

TEST(AdaptiveDifficulty, LevelsAndEasyShare) {
    AdaptiveTable t = synthetic_table(50, {32, 128}, 2, 8);
    DifficultyResult d = adaptive_difficulty(t);
    ASSERT_EQ(d.levels.size(), 4u);
    EXPECT_EQ(d.easy_levels, (std::vector<double>{1, 2}));
    ASSERT_EQ(d.rows.size(), 8u);
    double easy = 0, all = 0;
    for (size_t q = 0; q < t.n_queries(); ++q) {
        all += t.t(q, 1);
        if (*t.level[q] <= 2) easy += t.t(q, 1);
    }
    // the share weighs levels by their mean tokens (every level counts once per query)
    double sum_levels = 0, sum_easy = 0;
    for (size_t i = 4; i < 8; ++i) {
        sum_levels += d.rows[i].tokens * double(d.rows[i].n_queries);
        if (d.rows[i].level <= 2) sum_easy += d.rows[i].tokens * double(d.rows[i].n_queries);
    }
    EXPECT_NEAR(sum_levels, all, 1e-9);
    EXPECT_NEAR(sum_easy, easy, 1e-9);
    EXPECT_NEAR(d.easy_token_share[1].second, easy / all, 1e-12);
    // harder levels need more tokens at the large budget
    EXPECT_LT(d.rows[4].tokens, d.rows[7].tokens);
}

TEST(AdaptiveEfficiency, AesSignBranches) {
    AesConstants c{1, 3, 5};
    // dA = 0 from both sides: alpha dL only
    EXPECT_DOUBLE_EQ(adaptive_aes(50, 0.8, 100, 0.8, c), 0.5);
    EXPECT_NEAR(adaptive_aes(50, 0.8 + 1e-12, 100, 0.8, c), 0.5, 1e-10);
    EXPECT_NEAR(adaptive_aes(50, 0.8 - 1e-12, 100, 0.8, c), 0.5, 1e-10);
    // golden values: dA = +0.1 -> 0.5 + 3*0.1; dA = -0.1 -> 0.5 - 5*0.1
    EXPECT_NEAR(adaptive_aes(50, 0.88, 100, 0.8, c), 0.8, 1e-12);
    EXPECT_NEAR(adaptive_aes(50, 0.72, 100, 0.8, c), 0.0, 1e-12);
    EXPECT_NEAR(adaptive_aes(50, 0.72, 100, 0.8, AesConstants{1, 5, 10}), -0.5, 1e-12);
}

// DLER's table (ADAPTIVE_METHODS.md e.1): five benchmarks, one "query" each whose tokens are the
// published mean. Pooled tokens reproduce the "mean tokens" column ratio: 4882/10499 - 1.
AdaptiveTable one_query_table(const std::string& task, const std::vector<std::pair<std::string, double>>& cfg) {
    AdaptiveTable t;
    t.task = task;
    t.queries = {"x"};
    t.cells.resize(1);
    for (const auto& [label, tokens] : cfg) {
        PointRecord p;
        p.task = task;
        t.configs.push_back(p);
        t.labels.push_back(label);
        t.cells[0].push_back({smp(1, "1", tokens, 0)});
    }
    t.level = {std::nullopt};
    return t;
}

TEST(AdaptiveEfficiency, LengthReductionReproducesDlerMeans) {
    const double r1[5] = {5500, 16916, 10967, 7494, 11620};
    const double laser[5] = {2685, 8194, 4890, 3322, 5323};
    std::vector<AdaptiveTable> tables;
    const char* names[5] = {"math", "aime24", "amc", "minerva", "olympiad"};
    double ratio_sum = 0;
    for (int i = 0; i < 5; ++i) {
        tables.push_back(one_query_table(names[i], {{"R1-Distill-1.5B", r1[i]}, {"Laser-DE-L4096", laser[i]}}));
        ratio_sum += laser[i] / r1[i];
    }
    auto j = adaptive_efficiency_json(tables, "R1-Distill-1.5B", AesConstants{}, 0);
    ASSERT_EQ(j["configs"].size(), 2u);
    const auto& c = j["configs"][1];
    EXPECT_EQ(c["label"], "Laser-DE-L4096");
    EXPECT_NEAR(c["length_reduction_pooled"].get<double>(), 4882.0 / 10499.4 - 1, 1e-4);
    EXPECT_NEAR(c["length_reduction_mean_of_ratios"].get<double>(), ratio_sum / 5 - 1, 1e-12);
    EXPECT_NE(c["length_reduction_mean_of_ratios"].get<double>(), c["length_reduction_pooled"].get<double>());
    EXPECT_EQ(j["aes_constants"]["gamma"], 5);
    EXPECT_EQ(j["hypervolume"].size(), 5u);
    // an unknown reference is reported, not thrown
    auto bad = adaptive_efficiency_json(tables, "nope", AesConstants{}, 0);
    EXPECT_TRUE(bad.contains("error"));
}

// ---- from a store ----

TEST(AdaptiveStore, TablesUseCommonSampleIndices) {
    using namespace adabench::testing;
    std::string path = report_temp_db("adaptive.db");
    Store s(path);
    int64_t run = report_add_run(s);
    s.insert_points({report_point(run, 0, "arith", 16, "[]"), report_point(run, 1, "arith", 64, "[]")});
    std::vector<SampleRecord> v;
    // p1 has samples 0,1 at both budgets; p2 only sample 0 at budget 64 and 0,1 at 16
    v.push_back(report_sample(run, 0, "p1", 0, false, 16, 4));
    v.push_back(report_sample(run, 0, "p1", 1, true, 12, 4));
    v.push_back(report_sample(run, 1, "p1", 0, true, 40, 4));
    v.push_back(report_sample(run, 1, "p1", 1, true, 12, 4));
    v.push_back(report_sample(run, 0, "p2", 0, false, 16, 4));
    v.push_back(report_sample(run, 0, "p2", 1, false, 16, 4));
    v.push_back(report_sample(run, 1, "p2", 0, true, 60, 4));
    // p3 is missing at budget 64: left out
    v.push_back(report_sample(run, 0, "p3", 0, true, 5, 4));
    s.insert_samples(v);
    auto tables = adaptive_tables(s, run);
    ASSERT_EQ(tables.size(), 1u);
    const auto& t = tables[0];
    EXPECT_EQ(t.queries, (std::vector<std::string>{"p1", "p2"}));
    EXPECT_EQ(t.cells[0][0].size(), 2u);
    EXPECT_EQ(t.cells[1][0].size(), 1u);
    EXPECT_DOUBLE_EQ(t.c(0, 0), 0.5);
    EXPECT_DOUBLE_EQ(t.t(0, 1), (44 + 16) / 2.0);
    EXPECT_DOUBLE_EQ(t.c(1, 1), 1);
    AdaptiveTable lv = t;
    adaptive_set_levels(lv, "level", {{"p1", 1}, {"p2", 3}});
    EXPECT_EQ(lv.level_field, "level");
    EXPECT_EQ(*lv.level[1], 3);
    EXPECT_THROW(adaptive_tables(s, run + 5), Error);
}

}  // namespace
}  // namespace adabench
