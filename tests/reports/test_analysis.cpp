// Analysis figures on hand-computed cases: avg@n and its CI, token means by verdict, budget
// compliance, the Pareto frontier and its dominated area; reporters by pattern; HTML escaping.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "common/error.h"
#include "report_test_util.h"
#include "reports/analysis.h"
#include "reports/html.h"

namespace adabench {
namespace {

using testing::report_add_run;
using testing::report_point;
using testing::report_sample;
using testing::report_temp_db;

// Task "arith": point 0 (B=30): p1 [ok ok], p2 [ok wrong]; think 10,20,30,40, answer 1,2,3,4.
// point 1 (B=8): 0.5 accuracy at 10 tokens; point 2 (B=64): 0.4 at 30 tokens (dominated).
int64_t build_run(Store& s) {
    int64_t run = report_add_run(s);
    s.insert_points({report_point(run, 0, "arith", 30, "[0.5]"), report_point(run, 1, "arith", 8, "[1]"),
                     report_point(run, 2, "arith", 64, "[0]"), report_point(run, 3, "arith", 128, "[0]")});
    std::vector<SampleRecord> v = {
        report_sample(run, 0, "p1", 0, true, 10, 1), report_sample(run, 0, "p1", 1, true, 20, 2),
        report_sample(run, 0, "p2", 0, true, 30, 3), report_sample(run, 0, "p2", 1, false, 40, 4)};
    for (int i = 0; i < 10; ++i) {
        v.push_back(report_sample(run, 1, "q" + std::to_string(i), 0, i < 5, 9, 1));
        v.push_back(report_sample(run, 2, "q" + std::to_string(i), 0, i < 4, 25, 5));
    }
    s.insert_samples(v);
    return run;
}

TEST(Analysis, HandComputedPoint) {
    Store s(report_temp_db("hand.db"));
    int64_t run = build_run(s);
    AnalysisRun r = analysis_run(s, run);
    ASSERT_EQ(r.points.size(), 4u);
    const AnalysisPoint& a = r.points[0];
    EXPECT_EQ(a.summary.n_problems, 2u);
    EXPECT_EQ(a.summary.n_samples, 4u);
    EXPECT_DOUBLE_EQ(a.summary.accuracy.estimate, 0.75);  // (1 + 0.5) / 2
    // Two problems with accuracy 1 and 0.5: every resample mean lies in [0.5, 1].
    EXPECT_GE(a.summary.accuracy.lo, 0.5);
    EXPECT_LE(a.summary.accuracy.hi, 1.0);
    EXPECT_LE(a.summary.accuracy.lo, 0.75);
    EXPECT_DOUBLE_EQ(a.summary.pass_at_k.at(1), 0.75);
    EXPECT_DOUBLE_EQ(a.tokens.think.all, 25.0);
    EXPECT_DOUBLE_EQ(a.tokens.answer.all, 2.5);
    EXPECT_DOUBLE_EQ(a.tokens.total.all, 27.5);
    EXPECT_DOUBLE_EQ(a.tokens.total.correct, 22.0);  // (11 + 22 + 33) / 3
    EXPECT_DOUBLE_EQ(a.tokens.total.incorrect, 44.0);
    ASSERT_TRUE(a.compliance.has_value());
    EXPECT_DOUBLE_EQ(a.compliance->share_within, 0.75);                      // 10, 20, 30 <= 30
    EXPECT_NEAR(a.compliance->mean_relative_deviation, 4.0 / 3 / 4, 1e-12);  // (20+10+0+10)/30/4
    EXPECT_DOUBLE_EQ(a.summary.censored_rate, 0.0);
    EXPECT_TRUE(r.points[3].empty());  // no samples: listed, not on the frontier
    EXPECT_FALSE(r.points[3].on_frontier);
}

TEST(Analysis, FrontierAndDominatedArea) {
    Store s(report_temp_db("frontier.db"));
    int64_t run = build_run(s);
    AnalysisOptions o;
    o.reference_tokens = 100;
    AnalysisRun r = analysis_run(s, run, o);
    ASSERT_EQ(r.tasks.size(), 1u);
    const AnalysisTask& t = r.tasks[0];
    // Point 1 (0.5 at 10 tokens) and point 0 (0.75 at 27.5) are non-dominated; point 2 (0.4 at 30) is not.
    ASSERT_EQ(t.frontier.size(), 2u);
    EXPECT_EQ(r.points[t.frontier[0]].point.point_id, 1);
    EXPECT_EQ(r.points[t.frontier[1]].point.point_id, 0);
    EXPECT_FALSE(r.points[2].on_frontier);
    // Staircase area against (accuracy 0, 100 tokens): 90 * 0.5 + 72.5 * 0.25.
    EXPECT_DOUBLE_EQ(t.dominated_area, 63.125);
    // Default reference: 1.05 x the largest mean (30 tokens) = 31.5.
    AnalysisRun d = analysis_run(s, run);
    EXPECT_DOUBLE_EQ(d.tasks[0].reference.tokens, 31.5);
    EXPECT_NEAR(d.tasks[0].dominated_area, 21.5 * 0.5 + 4.0 * 0.25, 1e-12);
}

TEST(Analysis, SplitResponse) {
    std::string th, an;
    analysis_split_response("<think>a</think>b", false, &th, &an);
    EXPECT_EQ(th, "a");
    EXPECT_EQ(an, "b");
    analysis_split_response("opened by the prompt</think> 12", false, &th, &an);
    EXPECT_EQ(th, "opened by the prompt");
    EXPECT_EQ(an, " 12");
    analysis_split_response("<think>never closed", true, &th, &an);
    EXPECT_EQ(th, "never closed");
    EXPECT_EQ(an, "");
    analysis_split_response("just an answer", false, &th, &an);
    EXPECT_EQ(th, "");
    EXPECT_EQ(an, "just an answer");
}

TEST(Analysis, MissingRunIsAnError) {
    Store s(report_temp_db("missing.db"));
    EXPECT_THROW(analysis_run(s, 7), Error);
}

TEST(Reporters, ConsoleJsonCsvByPattern) {
    Store s(report_temp_db("reporters.db"));
    int64_t run = build_run(s);
    std::vector<AnalysisRun> runs{analysis_run(s, run)};
    std::ostringstream con, js, csv;
    ConsoleReporter().report(runs, con);
    JsonReporter().report(runs, js);
    CsvReporter().report(runs, csv);
    EXPECT_TRUE(std::regex_search(con.str(), std::regex("task arith  frontier points=2")));
    EXPECT_TRUE(std::regex_search(con.str(), std::regex(R"(0 B=30 c=\[0.5\]\s+4\s+0\.750\s+\[0\.[0-9]+,1\.000\])")));
    auto j = nlohmann::json::parse(js.str());
    EXPECT_EQ(j["runs"][0]["points"][0]["accuracy"]["estimate"].get<double>(), 0.75);
    EXPECT_EQ(j["runs"][0]["tasks"][0]["frontier_point_ids"], nlohmann::json::array({1, 0}));
    EXPECT_TRUE(j["runs"][0]["points"][3]["accuracy"].is_null());
    std::istringstream lines(csv.str());
    std::string header, row0;
    std::getline(lines, header);
    std::getline(lines, row0);
    EXPECT_EQ(header.rfind("run_id,point_id,task,", 0), 0u);
    EXPECT_TRUE(
        std::regex_search(row0, std::regex(R"(^1,0,arith,B=30 c=\[0\.5\],hard_cut,30,\[0\.5\],2,4,0\.750000,)")))
        << row0;
}

TEST(Html, EscapesModelText) {
    EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    std::string j = html_script_json(nlohmann::json{{"t", "</script><!--<script>"}});
    EXPECT_EQ(j.find('<'), std::string::npos);
    EXPECT_EQ(j.find('>'), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(j)["t"], "</script><!--<script>");
    // Invalid UTF-8 from a model does not throw.
    EXPECT_NO_THROW(html_script_json(nlohmann::json{{"t", std::string("\xff\xfe ok")}}));
}

TEST(Html, ReportHasFrontierAndNoLiveModelScript) {
    Store s(report_temp_db("escape.db"));
    int64_t run = build_run(s);
    SampleRecord evil = report_sample(run, 3, "evil", 0, false, 5, 5);
    evil.response_text = "<think>x</think><script>alert('pwned')</script></script><!-- <img src=x onerror=alert(1)>";
    evil.prompt_text = "prompt </script><script>alert(2)</script>";
    evil.extracted_strict = "<b>bold</b>";
    s.insert_samples({evil});
    std::vector<AnalysisRun> runs{analysis_run(s, run)};
    std::string html = html_report(s, runs);
    EXPECT_NE(html.find("<svg class=\"plot frontier-plot\""), std::string::npos);
    EXPECT_NE(html.find("class=\"frontier\""), std::string::npos);
    // Exactly the page's own two script blocks (drill-down data, drill-down code); no model markup.
    size_t n_script = 0;
    for (size_t p = html.find("<script"); p != std::string::npos; p = html.find("<script", p + 1)) ++n_script;
    EXPECT_EQ(n_script, 2u);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    EXPECT_EQ(html.find("<!--"), std::string::npos);
    EXPECT_EQ(html.find("<b>bold"), std::string::npos);
    EXPECT_NE(html.find("\\u003cscript\\u003ealert('pwned')"), std::string::npos);
    EXPECT_NE(html.find("25 of 25 samples embedded"), std::string::npos);
}

}  // namespace
}  // namespace adabench
