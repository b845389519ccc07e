// Checks of reports/early_exit.h (issue #19 item 5; ADAPTIVE_METHODS.md d.2 "Independent checks"):
// DEER at theta > 1 reproduces the full trace (the largest budget) exactly, at theta = 0 the first
// fork exactly, and NaN confidence never exits on confidence; hand-computed convergence index,
// overthinking ratio, first-correct ratio, subthought mode and costs, DEER points and per-level
// figures; budget "none" is the last fork; the JSON keys; the HTML block from a synthetic store.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "reports/early_exit.h"
#include "reports/html_adaptive.h"
#include "tests/reports/report_test_util.h"

namespace adabench {
namespace {

AdaptiveSample fork(double think, bool cut, const std::string& key, double correct, double conf, double answer = 4) {
    AdaptiveSample s;
    s.think = think;
    s.think_cut = cut;
    s.key = key;
    s.correct = correct;
    s.answer_conf = conf;
    s.answer_tokens = answer;
    s.tokens = think + answer;
    s.prompt_tokens = 20;
    return s;
}

PointRecord config(int64_t id, int64_t budget, const std::string& coefs = "[]") {
    PointRecord p;
    p.point_id = id;
    p.task = "t";
    p.mechanism = budget < 0 ? "none" : "hard_cut";
    p.think_budget = budget;
    p.coefs_json = coefs;
    p.temperature = 0.7;
    return p;
}

// traces[q][u][f]: one table whose columns are the budgets (one group).
AdaptiveTable make_table(const std::vector<int64_t>& budgets,
                         const std::vector<std::vector<std::vector<AdaptiveSample>>>& traces) {
    AdaptiveTable t;
    t.task = "t";
    for (size_t j = 0; j < budgets.size(); ++j) {
        t.configs.push_back(config(int64_t(j), budgets[j]));
        t.labels.push_back(analysis_point_label(t.configs.back()));
    }
    for (size_t q = 0; q < traces.size(); ++q) {
        t.queries.push_back("q" + std::to_string(q));
        std::vector<std::vector<AdaptiveSample>> row(budgets.size());
        for (const auto& trace : traces[q])
            for (size_t f = 0; f < budgets.size(); ++f) row[f].push_back(trace.at(f));
        t.cells.push_back(row);
    }
    t.level.assign(t.queries.size(), std::nullopt);
    return t;
}

// A fork sweep that keeps its invariant: a trace needs L thinking tokens; at budget B < L it is cut
// (a random answer "1".."3", "1" right, confidence uniform or NaN); from the first B >= L on every
// fork holds the same natural sample.
std::vector<std::vector<AdaptiveSample>> random_traces(std::mt19937_64& rng, const std::vector<int64_t>& budgets,
                                                       size_t n_units, bool conf) {
    std::uniform_real_distribution<double> uni(0, 1);
    std::vector<std::vector<AdaptiveSample>> out;
    for (size_t u = 0; u < n_units; ++u) {
        const double need = std::floor(5 + 200 * uni(rng));
        std::vector<AdaptiveSample> forks;
        std::optional<AdaptiveSample> natural;
        for (int64_t b : budgets) {
            if (natural) {
                forks.push_back(*natural);
                continue;
            }
            const std::string key = std::to_string(1 + int(uni(rng) * 3));
            const double c = conf ? uni(rng) : NAN;
            const double ans = std::floor(2 + 6 * uni(rng));
            if (b >= 0 && need > double(b)) {
                forks.push_back(fork(double(b), true, key, key == "1", c, ans));
            } else {
                natural = fork(need, false, key, key == "1", c, ans);
                forks.push_back(*natural);
            }
        }
        out.push_back(forks);
    }
    return out;
}

AdaptiveTable random_table(const std::vector<int64_t>& budgets, size_t n_queries, size_t n_units, bool conf,
                           uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::vector<std::vector<AdaptiveSample>>> traces;
    for (size_t q = 0; q < n_queries; ++q) traces.push_back(random_traces(rng, budgets, n_units, conf));
    return make_table(budgets, traces);
}

TEST(EarlyExit, ThetaAboveOneReproducesTheFullTraceExactly) {
    for (uint64_t seed : {1, 2, 3}) {
        AdaptiveTable t = random_table({16, 32, 64, 128}, 40, 3, true, seed);
        EarlyExitResult r = adaptive_early_exit(t, {1.01, 2.0});
        ASSERT_EQ(r.groups.size(), 1u);
        const auto& g = r.groups[0];
        EXPECT_TRUE(g.conf_measured);
        const auto stat = adaptive_static_points(t);  // equal units per query: the same means
        for (const auto& d : g.deer) {
            EXPECT_EQ(d.accuracy, g.static_points.back().accuracy) << seed;
            EXPECT_EQ(d.tokens, g.static_points.back().tokens) << seed;
            EXPECT_DOUBLE_EQ(d.accuracy, stat.back().accuracy);
            EXPECT_DOUBLE_EQ(d.tokens, stat.back().tokens);
            EXPECT_EQ(d.share_early, 0);
        }
    }
}

TEST(EarlyExit, ThetaZeroReproducesTheFirstForkExactly) {
    AdaptiveTable t = random_table({16, 32, 64, 128}, 40, 3, true, 7);
    EarlyExitResult r = adaptive_early_exit(t, {0.0});
    ASSERT_EQ(r.groups.size(), 1u);
    const auto& g = r.groups[0];
    EXPECT_EQ(g.deer[0].accuracy, g.static_points.front().accuracy);
    EXPECT_EQ(g.deer[0].tokens, g.static_points.front().tokens);
    EXPECT_EQ(g.deer[0].exit_budget, 16);
    EXPECT_DOUBLE_EQ(g.deer[0].share_early + g.deer[0].share_natural, 1);
    // and the first and last forks differ here, so the two checks can fail
    EXPECT_NE(g.static_points.front().tokens, g.static_points.back().tokens);
}

TEST(EarlyExit, NanConfidenceNeverExitsOnConfidence) {
    AdaptiveTable t = random_table({16, 32, 64, 128}, 30, 2, false, 11);
    EarlyExitResult r = adaptive_early_exit(t, {0.0, 0.5, 0.95});
    ASSERT_EQ(r.groups.size(), 1u);
    const auto& g = r.groups[0];
    EXPECT_FALSE(g.conf_measured);
    for (const auto& d : g.deer) {
        EXPECT_EQ(d.accuracy, g.static_points.back().accuracy);
        EXPECT_EQ(d.tokens, g.static_points.back().tokens);
        EXPECT_EQ(d.share_early, 0);
    }
    auto j = adaptive_early_exit_json(r);
    EXPECT_NE(j["groups"][0]["note"].get<std::string>().find("confidence not stored"), std::string::npos);
    // one trace: NaN at the first fork, 0.99 at the second
    std::vector<AdaptiveSample> forks = {fork(8, true, "1", 0, NAN), fork(16, true, "2", 1, 0.99),
                                         fork(32, true, "2", 1, NAN)};
    EarlyExitReason why;
    EXPECT_EQ(adaptive_deer_exit(forks, 0.0, &why), 1u);
    EXPECT_EQ(why, EARLY_EXIT_CONFIDENCE);
    EXPECT_EQ(adaptive_deer_exit(forks, 0.99, &why), 2u);
    EXPECT_EQ(why, EARLY_EXIT_LAST);
    // a natural fork exits whatever its confidence
    forks[1].think_cut = false;
    forks[1].answer_conf = 0.1;
    EXPECT_EQ(adaptive_deer_exit(forks, 0.95, &why), 1u);
    EXPECT_EQ(why, EARLY_EXIT_NATURAL);
}

// Budgets 10, 20, 40, 80, 160 and three hand-made traces (see each probe's arithmetic below).
std::vector<int64_t> hand_budgets() { return {10, 20, 40, 80, 160}; }
std::vector<AdaptiveSample> trace_a() {
    // keys 7 3 7 7 7, thinking ends at 60 (fork 3)
    AdaptiveSample nat = fork(60, false, "7", 1, NAN, 6);
    return {fork(10, true, "7", 1, 0.5), fork(20, true, "3", 0, 0.9), fork(40, true, "7", 1, 0.97), nat, nat};
}
std::vector<AdaptiveSample> trace_b() {
    // keys 2 2 1 1 "" (cut every time; no answer at the last fork)
    return {fork(10, true, "2", 0, 0.6), fork(20, true, "2", 0, 0.7), fork(40, true, "1", 1, 0.96),
            fork(80, true, "1", 1, 0.99), fork(160, true, "", 0, 0.99)};
}
std::vector<AdaptiveSample> trace_c() {
    // never right; thinking ends at 5 before the first budget
    AdaptiveSample nat = fork(5, false, "9", 0, 0.2, 3);
    return {nat, nat, nat, nat, nat};
}

TEST(EarlyExit, HandComputedTraceProbes) {
    TraceProbes a = adaptive_trace_probes(trace_a());
    EXPECT_EQ(a.convergence, 2u);                // 7 from fork 2 on
    EXPECT_DOUBLE_EQ(a.overthinking, 1.0 / 3);   // 1 - 40/60
    EXPECT_DOUBLE_EQ(a.first_correct, 1.0 / 6);  // 10/60
    EXPECT_EQ(a.n_distinct, 4u);
    EXPECT_EQ(a.mode_correct, 1);  // 7 x3 against 3 x1
    EXPECT_EQ(a.last_correct, 1);
    EXPECT_DOUBLE_EQ(a.cost_all_forks, 148);  // 14 + 24 + 44 + 66
    EXPECT_DOUBLE_EQ(a.cost_shared, 78);      // 60 + 4 + 4 + 4 + 6

    TraceProbes b = adaptive_trace_probes(trace_b());
    EXPECT_EQ(b.convergence, 4u);  // "" only at the last fork
    EXPECT_DOUBLE_EQ(b.overthinking, 0);
    EXPECT_DOUBLE_EQ(b.first_correct, 0.25);  // 40/160
    EXPECT_EQ(b.n_distinct, 5u);
    EXPECT_EQ(b.mode_correct, 1);  // 2 and 1 twice each ("" abstains): the latest, 1, wins
    EXPECT_EQ(b.last_correct, 0);
    EXPECT_DOUBLE_EQ(b.cost_all_forks, 330);  // 310 thinking + 5 x 4
    EXPECT_DOUBLE_EQ(b.cost_shared, 180);     // 160 + 5 x 4

    TraceProbes c = adaptive_trace_probes(trace_c());
    EXPECT_EQ(c.convergence, 0u);
    EXPECT_DOUBLE_EQ(c.overthinking, 0);
    EXPECT_TRUE(std::isnan(c.first_correct));
    EXPECT_EQ(c.n_distinct, 1u);
    EXPECT_EQ(c.mode_correct, 0);
    EXPECT_DOUBLE_EQ(c.cost_all_forks, 8);
    EXPECT_DOUBLE_EQ(c.cost_shared, 8);

    // no thinking at all: nothing to overthink, and a right answer needed all (none) of it
    TraceProbes z = adaptive_trace_probes({fork(0, false, "1", 1, NAN), fork(0, false, "1", 1, NAN)});
    EXPECT_DOUBLE_EQ(z.overthinking, 0);
    EXPECT_DOUBLE_EQ(z.first_correct, 1);
}

TEST(EarlyExit, HandComputedGroupFigures) {
    AdaptiveTable t = make_table(hand_budgets(), {{trace_a()}, {trace_b()}, {trace_c()}});
    adaptive_set_levels(t, "level", {{"q0", 1}, {"q1", 2}, {"q2", 1}});
    EarlyExitResult r = adaptive_early_exit(t, {0.95, 0.98, 0.99});
    ASSERT_EQ(r.groups.size(), 1u);
    const auto& g = r.groups[0];
    EXPECT_EQ(g.budgets, hand_budgets());
    EXPECT_EQ(g.n_units, 3u);
    // theta .95: a and b exit at fork 2 (0.97, 0.96; 44 tokens, right), c at its natural fork 0
    EXPECT_DOUBLE_EQ(g.deer[0].accuracy, 2.0 / 3);
    EXPECT_DOUBLE_EQ(g.deer[0].tokens, (44 + 44 + 8) / 3.0);
    EXPECT_DOUBLE_EQ(g.deer[0].exit_budget, (40 + 40 + 10) / 3.0);
    EXPECT_DOUBLE_EQ(g.deer[0].share_early, 2.0 / 3);
    EXPECT_DOUBLE_EQ(g.deer[0].share_natural, 1.0 / 3);
    // theta .98: a ends naturally at fork 3 (66), b exits on 0.99 at fork 3 (84, right)
    EXPECT_DOUBLE_EQ(g.deer[1].accuracy, 2.0 / 3);
    EXPECT_DOUBLE_EQ(g.deer[1].tokens, (66 + 84 + 8) / 3.0);
    EXPECT_DOUBLE_EQ(g.deer[1].share_early, 1.0 / 3);
    EXPECT_DOUBLE_EQ(g.deer[1].share_natural, 2.0 / 3);
    // theta .99: b runs to the end (164 tokens, no answer): the full trace
    EXPECT_DOUBLE_EQ(g.deer[2].accuracy, 1.0 / 3);
    EXPECT_DOUBLE_EQ(g.deer[2].tokens, (66 + 164 + 8) / 3.0);
    EXPECT_DOUBLE_EQ(g.deer[2].accuracy, g.static_points.back().accuracy);
    // convergence probes over the three traces
    const auto& c = g.convergence;
    EXPECT_EQ(c.n_traces, 3u);
    EXPECT_DOUBLE_EQ(c.convergence_fork, 2);      // (2 + 4 + 0) / 3
    EXPECT_DOUBLE_EQ(c.overthinking, 1.0 / 9);    // (1/3 + 0 + 0) / 3
    EXPECT_DOUBLE_EQ(c.first_correct, 5.0 / 24);  // (1/6 + 1/4) / 2 over the ever-correct
    EXPECT_EQ(c.n_ever_correct, 2u);
    EXPECT_DOUBLE_EQ(c.accuracy_last, 1.0 / 3);
    EXPECT_DOUBLE_EQ(c.accuracy_mode, 2.0 / 3);
    EXPECT_DOUBLE_EQ(c.cost_all_forks, 162);     // (148 + 330 + 8) / 3
    EXPECT_DOUBLE_EQ(c.cost_shared, 266.0 / 3);  // (78 + 180 + 8) / 3
    EXPECT_DOUBLE_EQ(c.convergence_think, (40 + 160 + 5) / 3.0);
    // per level: 1 = {a, c}, 2 = {b}
    ASSERT_EQ(g.by_level.size(), 2u);
    EXPECT_EQ(g.by_level[0].level, 1);
    EXPECT_EQ(g.by_level[0].n_traces, 2u);
    EXPECT_DOUBLE_EQ(g.by_level[0].overthinking, 1.0 / 6);
    EXPECT_DOUBLE_EQ(g.by_level[0].first_correct, 1.0 / 6);
    EXPECT_EQ(g.by_level[1].level, 2);
    EXPECT_DOUBLE_EQ(g.by_level[1].convergence_fork, 4);
}

TEST(EarlyExit, GroupsBudgetNoneLastAndSingleBudgetsSkipped) {
    std::mt19937_64 rng(5);
    // columns: none, 8, 32 for base; 16 only for a LoRA configuration (one budget: no group)
    std::vector<int64_t> budgets = {8, 32, -1};
    AdaptiveTable t;
    t.task = "t";
    t.configs = {config(0, -1), config(1, 8), config(2, 32), config(3, 16, "[0.5]")};
    for (const auto& p : t.configs) t.labels.push_back(analysis_point_label(p));
    for (size_t q = 0; q < 10; ++q) {
        auto traces = random_traces(rng, budgets, 2, true);
        t.queries.push_back("q" + std::to_string(q));
        std::vector<std::vector<AdaptiveSample>> row(4);
        for (const auto& tr : traces) {
            row[0].push_back(tr[2]);
            row[1].push_back(tr[0]);
            row[2].push_back(tr[1]);
            row[3].push_back(tr[1]);
        }
        t.cells.push_back(row);
    }
    t.level.assign(t.queries.size(), std::nullopt);
    EarlyExitResult r = adaptive_early_exit(t, {1.01});
    ASSERT_EQ(r.groups.size(), 1u);
    EXPECT_EQ(r.groups[0].budgets, (std::vector<int64_t>{8, 32, -1}));
    EXPECT_TRUE(r.groups[0].by_level.empty());
    const auto stat = adaptive_static_points(t);
    EXPECT_DOUBLE_EQ(r.groups[0].deer[0].tokens, stat[0].tokens);  // the "none" column
    EXPECT_DOUBLE_EQ(r.groups[0].deer[0].accuracy, stat[0].accuracy);
}

TEST(EarlyExit, JsonHasTheExpectedKeys) {
    AdaptiveTable t = make_table(hand_budgets(), {{trace_a()}, {trace_b()}, {trace_c()}});
    adaptive_set_levels(t, "level", {{"q0", 1}, {"q1", 2}, {"q2", 1}});
    nlohmann::json j = adaptive_early_exit_json(adaptive_early_exit(t));
    for (const char* k : {"task", "level_field", "thetas", "conventions", "groups"}) EXPECT_TRUE(j.contains(k)) << k;
    EXPECT_EQ(j["thetas"].size(), 6u);
    ASSERT_EQ(j["groups"].size(), 1u);
    const auto& g = j["groups"][0];
    for (const char* k :
         {"group", "budgets", "labels", "n_units", "conf_measured", "static", "deer", "convergence", "by_level"})
        EXPECT_TRUE(g.contains(k)) << k;
    EXPECT_TRUE(g["conf_measured"].get<bool>());
    EXPECT_FALSE(g.contains("note"));
    EXPECT_EQ(g["deer"].size(), 6u);
    EXPECT_EQ(g["static"].size(), 5u);
    for (const char* k : {"theta", "tokens", "accuracy", "exit_budget", "share_early", "share_natural"})
        EXPECT_TRUE(g["deer"][0].contains(k)) << k;
    for (const char* k : {"convergence_fork", "overthinking_ratio", "first_correct_ratio", "accuracy_last",
                          "subthought_mode_accuracy", "subthought_cost_all_forks", "subthought_cost_shared_prefix"})
        EXPECT_TRUE(g["convergence"].contains(k)) << k;
    EXPECT_EQ(g["by_level"].size(), 2u);
    EXPECT_EQ(g["by_level"][1]["level"], 2);
    // a group where nothing is ever right: the first-correct ratio is null, not NaN
    AdaptiveTable never = make_table(hand_budgets(), {{trace_c()}, {trace_c()}});
    auto jn = adaptive_early_exit_json(adaptive_early_exit(never));
    EXPECT_TRUE(jn["groups"][0]["convergence"]["first_correct_ratio"].is_null());
    EXPECT_NO_THROW((void)jn.dump());
}

TEST(EarlyExit, HtmlBlockFromAStore) {
    using namespace adabench::testing;
    Store s(report_temp_db("early_exit.db"));
    int64_t run = report_add_run(s);
    s.insert_points({report_point(run, 0, "arith", 16, "[]"), report_point(run, 1, "arith", 64, "[]")});
    std::vector<SampleRecord> v;
    for (int q = 0; q < 4; ++q) {
        std::string p = "p" + std::to_string(q);
        SampleRecord cut = report_sample(run, 0, p, 0, q % 2 == 0, 16, 4);
        cut.finish_reason = "think_budget";
        v.push_back(cut);
        v.push_back(report_sample(run, 1, p, 0, true, 30 + q, 4));
    }
    s.insert_samples(v);
    std::string html = html_adaptive_section(s, run);
    EXPECT_NE(html.find("Early exit and overthinking"), std::string::npos);
    EXPECT_NE(html.find("overthinking ratio"), std::string::npos);
    // these samples carry no answer confidence (-1 in the store): no curve, a note instead
    EXPECT_NE(html.find("confidence not stored"), std::string::npos);
    EXPECT_EQ(html.find("early exit, task arith"), std::string::npos);

    // the same run with confidence stored: the DEER chart and its theta table
    int64_t run2 = report_add_run(s, "conf");
    s.insert_points({report_point(run2, 0, "arith", 16, "[]"), report_point(run2, 1, "arith", 64, "[]")});
    for (auto& x : v) {
        x.run_id = run2;
        x.answer_conf = x.point_id == 0 ? 0.5 + 0.1 * double(x.problem_id.back() - '0') : 0.99;
    }
    s.insert_samples(v);
    html = html_adaptive_section(s, run2);
    EXPECT_EQ(html.find("confidence not stored"), std::string::npos);
    EXPECT_NE(html.find("early exit, task arith"), std::string::npos);
    EXPECT_NE(html.find("<table class=\"early-exit\">"), std::string::npos);
    // theta 0.55: p1, p2, p3 (0.6, 0.7, 0.8) exit at 16, p0 (0.5) runs on to 64: 3/4 exit early
    AdaptiveTable t = adaptive_tables(s, run2)[0];
    EarlyExitResult r = adaptive_early_exit(t, {0.55});
    ASSERT_EQ(r.groups.size(), 1u);
    EXPECT_TRUE(r.groups[0].conf_measured);
    EXPECT_DOUBLE_EQ(r.groups[0].deer[0].share_early, 0.75);
}

}  // namespace
}  // namespace adabench
