// Comparison and nightly gate on hand-computed cases: exact McNemar p-values, token deltas,
// matching by task + budget + coefficients, the gate's verdict, JUnit XML and markdown; failed_infra
// samples are never wrong answers (they pair with nothing).
#include <gtest/gtest.h>

#include <regex>

#include "common/error.h"
#include "report_test_util.h"
#include "reports/compare.h"
#include "reports/html.h"
#include "reports/nightly.h"

namespace adabench {
namespace {

using testing::report_add_run;
using testing::report_point;
using testing::report_sample;
using testing::report_temp_db;

// Base: point 0 (B=32 c=[0.5]) all 10 problems correct at 100 tokens; point 1 (B=64) 5 of 10.
// New: point 0 correct only on 2 problems at 150 tokens; point 1 the same as the base;
// point 2 (B=128) only in the new run.
struct Pair {
    int64_t base = 0, neu = 0;
};
Pair build_pair(Store& s) {
    Pair p;
    p.base = report_add_run(s, "base");
    p.neu = report_add_run(s, "new");
    s.insert_points({report_point(p.base, 0, "arith", 32, "[0.5]"), report_point(p.base, 1, "arith", 64, "[0.5]")});
    s.insert_points({report_point(p.neu, 0, "arith", 64, "[0.5]"), report_point(p.neu, 1, "arith", 32, "[0.5]"),
                     report_point(p.neu, 2, "arith", 128, "[0.5]")});
    std::vector<SampleRecord> v;
    for (int i = 0; i < 10; ++i) {
        std::string q = "q" + std::to_string(i);
        v.push_back(report_sample(p.base, 0, q, 0, true, 90, 10));
        v.push_back(report_sample(p.base, 1, q, 0, i < 5, 190, 10));
        v.push_back(report_sample(p.neu, 1, q, 0, i < 2, 140, 10));  // matches base point 0
        v.push_back(report_sample(p.neu, 0, q, 0, i < 5, 190, 10));  // matches base point 1
        v.push_back(report_sample(p.neu, 2, q, 0, true, 300, 10));
    }
    s.insert_samples(v);
    return p;
}

TEST(Compare, MatchedPointsAndExactMcNemar) {
    Store s(report_temp_db("cmp.db"));
    Pair p = build_pair(s);
    CompareResult c = compare_runs(s, p.base, p.neu);
    ASSERT_EQ(c.deltas.size(), 2u);
    EXPECT_EQ(c.only_new.size(), 1u);
    EXPECT_TRUE(c.only_base.empty());
    const PointDelta& d = c.deltas[0];  // base point 0 <-> new point 1
    EXPECT_EQ(c.new_run.points[d.new_index].point.point_id, 1);
    EXPECT_EQ(d.n_pairs, 10u);
    EXPECT_EQ(d.n_same_seed, 10u);
    EXPECT_DOUBLE_EQ(d.delta_acc, -0.8);
    EXPECT_EQ(d.mcnemar.n_b_only, 8u);  // correct in base only
    EXPECT_EQ(d.mcnemar.n_a_only, 0u);
    EXPECT_NEAR(d.mcnemar.p_value, 2.0 / 256, 1e-12);  // 2 * 0.5^8
    EXPECT_LE(d.p_value, d.mcnemar.p_value);
    EXPECT_TRUE(d.significant);
    EXPECT_DOUBLE_EQ(d.delta_tokens_rel, 0.5);  // 100 -> 150
    const PointDelta& same = c.deltas[1];
    EXPECT_DOUBLE_EQ(same.delta_acc, 0.0);
    EXPECT_DOUBLE_EQ(same.p_value, 1.0);
    EXPECT_FALSE(same.significant);
    std::string text = compare_summary_text(c);
    EXPECT_TRUE(std::regex_search(
        text,
        std::regex(
            R"(WORSE  arith B=32 c=\[0\.5\]: accuracy 1\.000 -> 0\.200 \(-0\.800, p=0\.00[0-9]+, pairs=10\), tokens 100\.0 -> 150\.0 \(\+50\.0%\))")))
        << text;
    EXPECT_NE(text.find("significant changes (p < 0.050): 0 better, 1 worse"), std::string::npos) << text;
    std::string html = html_compare(c);
    EXPECT_NE(html.find("class=\"frontier\""), std::string::npos);
    EXPECT_NE(html.find("stroke-dasharray"), std::string::npos);
}

TEST(Nightly, GateFailsOnSignificantDropAndTokenGrowth) {
    Store s(report_temp_db("nightly.db"));
    Pair p = build_pair(s);
    CompareResult c = compare_runs(s, p.base, p.neu);
    NightlyThresholds t = nightly_parse_thresholds(nlohmann::json{{"max_tokens_increase", 0.6}}, "cfg.json");
    NightlyVerdict v = nightly_evaluate(c, t);
    EXPECT_TRUE(v.regression);
    ASSERT_EQ(v.failures.size(), 1u);
    EXPECT_NE(v.failures[0].find("paired p="), std::string::npos);
    EXPECT_EQ(v.failures[0].find("mean tokens"), std::string::npos);  // +50% is within 60%
    // Identical runs never regress.
    CompareResult self = compare_runs(s, p.base, p.base);
    EXPECT_FALSE(nightly_evaluate(self, t).regression);
    // A drop larger than the allowed one fails; allowing 0.9 passes the accuracy check.
    t.max_accuracy_drop = 0.9;
    t.max_tokens_increase = 0.4;
    NightlyVerdict v2 = nightly_evaluate(c, t);
    ASSERT_EQ(v2.failures.size(), 1u);
    EXPECT_NE(v2.failures[0].find("mean tokens 100.0 -> 150.0 (+50.0% > +40.0%)"), std::string::npos) << v2.failures[0];

    std::string xml = nightly_junit_xml(v, "adabench nightly");
    EXPECT_NE(xml.find("<testsuite name=\"adabench nightly\" tests=\"2\" failures=\"1\""), std::string::npos) << xml;
    EXPECT_EQ(std::count(xml.begin(), xml.end(), '\n') > 4, true);
    EXPECT_NE(xml.find("<failure message=\"accuracy 1.000 -&gt; 0.200"), std::string::npos) << xml;
    std::string md = nightly_summary_markdown(c, v, t);
    EXPECT_EQ(md.rfind("# adabench nightly: REGRESSION", 0), 0u);
    EXPECT_NE(md.find("| arith | B=32 c=[0.5] | 1.000 | 0.200 |"), std::string::npos) << md;
}

// Base: points 0 and 1 correct on all 10 problems. New: at point 0, q0..q8 failed_infra (the server
// gave up) and q9 correct; at point 1 every sample failed. Counted as wrong answers, the 9 failures
// would be a significant drop (McNemar p = 2 / 512).
TEST(Nightly, FailedSamplesAreNeverWrongAnswers) {
    Store s(report_temp_db("nightly-failed.db"));
    int64_t base = report_add_run(s, "base"), neu = report_add_run(s, "new");
    for (int64_t run : {base, neu})
        s.insert_points({report_point(run, 0, "arith", 32, "[0.5]"), report_point(run, 1, "arith", 64, "[0.5]")});
    std::vector<SampleRecord> v;
    for (int i = 0; i < 10; ++i) {
        std::string q = "q" + std::to_string(i);
        v.push_back(report_sample(base, 0, q, 0, true, 90, 10));
        v.push_back(report_sample(base, 1, q, 0, true, 90, 10));
        for (int64_t point : {0, 1}) {
            SampleRecord r = report_sample(neu, point, q, 0, point == 0 && i == 9, 90, 10);
            if (point == 1 || i < 9) {
                r.status = "failed_infra";
                r.error = "connection reset (6 attempts)";
                r.extracted_strict = r.extracted_flexible = "";
            }
            v.push_back(r);
        }
    }
    s.insert_samples(v);
    CompareResult c = compare_runs(s, base, neu);
    ASSERT_EQ(c.deltas.size(), 2u);
    const PointDelta& d = c.deltas[0];
    EXPECT_EQ(d.n_pairs, 1u);
    EXPECT_EQ(d.mcnemar.n_b_only, 0u);
    EXPECT_DOUBLE_EQ(d.acc_new, 1.0);
    EXPECT_DOUBLE_EQ(d.p_value, 1.0);
    EXPECT_FALSE(d.significant);
    EXPECT_EQ(c.new_run.n_failed, 19);
    EXPECT_EQ(c.new_run.points[d.new_index].n_failed, 9u);
    auto j = compare_json(c);
    EXPECT_EQ(j["n_failed_new"], 19);
    EXPECT_EQ(j["deltas"][0]["n_failed_new"], 9);
    EXPECT_NE(
        compare_summary_text(c).find("failed samples (infrastructure, left out of every figure and pair): base 0, "
                                     "new 19"),
        std::string::npos)
        << compare_summary_text(c);
    NightlyVerdict verdict = nightly_evaluate(c, NightlyThresholds{});
    ASSERT_EQ(verdict.cases.size(), 2u);
    EXPECT_FALSE(verdict.cases[0].failed) << verdict.cases[0].message;
    EXPECT_NE(verdict.cases[0].message.find("9 failed_infra samples in the new run, not counted"), std::string::npos)
        << verdict.cases[0].message;
    // No ok sample at all cannot pass the gate; the message says why.
    EXPECT_TRUE(verdict.cases[1].failed);
    EXPECT_NE(verdict.cases[1].message.find("no samples in the new run (10 failed_infra"), std::string::npos)
        << verdict.cases[1].message;
    std::string md = nightly_summary_markdown(c, verdict, NightlyThresholds{});
    EXPECT_NE(md.find("**Warning:** failed samples"), std::string::npos) << md;
    EXPECT_NE(md.find("0 in the baseline, 19 in the new run"), std::string::npos) << md;
    EXPECT_NE(html_compare(c).find("failed-warning"), std::string::npos);
}

TEST(Nightly, NoMatchedPointIsAFailureNotAPass) {
    // Issue 20 D9: a baseline whose grid shares no point with the new run compares nothing.
    Store s(report_temp_db("nightly-nomatch.db"));
    Pair p = build_pair(s);
    CompareResult c = compare_runs(s, p.base, p.neu);
    c.only_base.clear();
    for (const auto& d : c.deltas) c.only_base.push_back(d.task + ": " + d.label);
    c.deltas.clear();
    NightlyThresholds t;
    NightlyVerdict v = nightly_evaluate(c, t);
    EXPECT_TRUE(v.regression);
    ASSERT_EQ(v.failures.size(), 1u);
    EXPECT_NE(v.failures[0].find("nothing was compared"), std::string::npos) << v.failures[0];
    EXPECT_NE(nightly_junit_xml(v, "n").find("failures=\"1\""), std::string::npos);
}

TEST(Nightly, ThresholdParsing) {
    EXPECT_NO_THROW(nightly_parse_thresholds(nullptr, "c.json"));
    auto t = nightly_parse_thresholds(nlohmann::json{{"alpha", 0.01}, {"fail_on_missing_points", true}}, "c.json");
    EXPECT_DOUBLE_EQ(t.alpha, 0.01);
    EXPECT_TRUE(t.fail_on_missing_points);
    try {
        nightly_parse_thresholds(nlohmann::json{{"max_token_increase", 0.1}}, "c.json");
        FAIL() << "unknown key accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("c.json: unknown key nightly.max_token_increase"), std::string::npos);
    }
    EXPECT_THROW(nightly_parse_thresholds(nlohmann::json{{"alpha", "x"}}, "c.json"), Error);
    EXPECT_THROW(nightly_parse_thresholds(nlohmann::json{{"alpha", 2}}, "c.json"), Error);
    EXPECT_THROW(nightly_parse_thresholds(nlohmann::json::array(), "c.json"), Error);
}

}  // namespace
}  // namespace adabench
