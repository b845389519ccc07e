// Analysis figures on hand-computed cases: avg@n and its CI, token means by verdict, budget
// compliance, the Pareto frontier and its dominated area; failed_infra samples out of every figure
// and counted in every reporter; reporters by pattern; HTML escaping.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "common/error.h"
#include "report_test_util.h"
#include "reports/analysis.h"
#include "reports/html.h"
#include "reports/server.h"

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
    EXPECT_TRUE(
        std::regex_search(con.str(), std::regex(R"(0 B=30 c=\[0.5\]\s+4\s+0\s+0\.750\s+\[0\.[0-9]+,1\.000\])")));
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
        std::regex_search(row0, std::regex(R"(^1,0,arith,B=30 c=\[0\.5\],hard_cut,30,\[0\.5\],2,4,0,0\.750000,)")))
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

// build_run plus failed_infra samples: problem p3 twice at point 0 (which would pull its accuracy
// from 0.75 to 0.5 and its mean tokens up if they counted as wrong answers), and one at point 3,
// which has no ok sample.
SampleRecord failed_sample(int64_t run, int64_t point, const std::string& problem, int64_t index) {
    SampleRecord f = report_sample(run, point, problem, index, false, 500, 500);
    f.status = "failed_infra";
    f.error = "http://127.0.0.1:9/v1/completions: HTTP 503 <overloaded> after 6 attempts";
    f.extracted_strict = f.extracted_flexible = "";
    f.response_text = "";
    return f;
}

int64_t build_run_with_failures(Store& s) {
    int64_t run = build_run(s);
    s.insert_samples({failed_sample(run, 0, "p3", 0), failed_sample(run, 0, "p3", 1), failed_sample(run, 3, "p9", 0)});
    return run;
}

TEST(Analysis, FailedSamplesAreLeftOutOfEveryFigureAndCounted) {
    Store s(report_temp_db("failed.db"));
    int64_t run = build_run_with_failures(s);
    AnalysisRun r = analysis_run(s, run);
    EXPECT_EQ(r.n_samples, 24);
    EXPECT_EQ(r.n_failed, 3);
    const AnalysisPoint& a = r.points[0];
    EXPECT_EQ(a.n_failed, 2u);
    EXPECT_EQ(a.summary.n_problems, 2u);
    EXPECT_EQ(a.summary.n_samples, 4u);
    EXPECT_DOUBLE_EQ(a.summary.accuracy.estimate, 0.75);
    EXPECT_DOUBLE_EQ(a.summary.pass_at_k.at(1), 0.75);
    EXPECT_DOUBLE_EQ(a.tokens.total.all, 27.5);
    EXPECT_DOUBLE_EQ(a.tokens.total.incorrect, 44.0);
    EXPECT_DOUBLE_EQ(a.summary.censored_rate, 0.0);
    EXPECT_DOUBLE_EQ(a.compliance->share_within, 0.75);
    EXPECT_EQ(r.points[1].n_failed, 0u);
    // A point with failed samples only has no figures and stays off the frontier.
    EXPECT_TRUE(r.points[3].empty());
    EXPECT_EQ(r.points[3].n_failed, 1u);
    EXPECT_FALSE(r.points[3].on_frontier);
    EXPECT_EQ(r.tasks[0].frontier.size(), 2u);

    std::vector<AnalysisRun> runs{r};
    std::ostringstream con, js, csv;
    ConsoleReporter().report(runs, con);
    JsonReporter().report(runs, js);
    CsvReporter().report(runs, csv);
    EXPECT_TRUE(std::regex_search(con.str(), std::regex(R"(samples=24  failed=3 )"))) << con.str();
    EXPECT_TRUE(std::regex_search(con.str(), std::regex(R"(0 B=30 c=\[0.5\]\s+4\s+2\s+0\.750\s)"))) << con.str();
    EXPECT_TRUE(std::regex_search(con.str(), std::regex(R"(3 B=128 c=\[0\]\s+0\s+1  \(no samples\))"))) << con.str();
    auto j = nlohmann::json::parse(js.str());
    EXPECT_EQ(j["runs"][0]["n_failed"], 3);
    EXPECT_EQ(j["runs"][0]["points"][0]["n_failed"], 2);
    EXPECT_EQ(j["runs"][0]["points"][0]["n_samples"], 4);
    EXPECT_EQ(j["runs"][0]["points"][3]["n_failed"], 1);
    EXPECT_TRUE(j["runs"][0]["points"][3]["accuracy"].is_null());
    EXPECT_TRUE(std::regex_search(csv.str(), std::regex(R"(\n1,0,arith,[^\n]*,2,4,2,0\.750000,)"))) << csv.str();
    EXPECT_TRUE(std::regex_search(csv.str(), std::regex(R"(\n1,3,arith,[^\n]*,0,0,1,,)"))) << csv.str();
}

TEST(Html, FailedSamplesWarnAndShowInTheDrillDown) {
    Store s(report_temp_db("failed-html.db"));
    int64_t run = build_run_with_failures(s);
    RunRecord rr = *s.get_run(run);
    rr.engine_json = R"({"urls": [{"url": "http://127.0.0.1:8000", "server": "vllm </script><i>pwn</i>"}]})";
    s.update_run(rr);
    std::vector<AnalysisRun> runs{analysis_run(s, run)};
    std::string html = html_report(s, runs);
    EXPECT_NE(html.find("class=\"warn failed-warning\"><b>Warning:</b> 3 sample(s) failed"), std::string::npos);
    EXPECT_NE(html.find("at 2 grid point(s)"), std::string::npos);
    EXPECT_NE(html.find("24 of 0 planned samples stored, 3 failed (infrastructure)"), std::string::npos);
    // The manifest: compact, escaped.
    EXPECT_NE(
        html.find("<th>engine manifest</th><td><code>{&quot;urls&quot;:[{&quot;server&quot;:&quot;vllm "
                  "&lt;/script&gt;&lt;i&gt;pwn&lt;/i&gt;&quot;,&quot;url&quot;:&quot;http://127.0.0.1:8000&quot;}]}"),
        std::string::npos);
    EXPECT_EQ(html.find("<i>pwn"), std::string::npos);
    // The failed column, and the point with only failed samples says so.
    EXPECT_TRUE(std::regex_search(html, std::regex(R"(<td>4</td><td class="bad">2</td><td>0\.750</td>)")));
    EXPECT_NE(html.find("no ok samples yet (only failed ones)"), std::string::npos);
    // Drill-down: every stored sample, failed ones with status and error; a "failed" filter.
    EXPECT_NE(html.find("27 of 27 samples embedded"), std::string::npos);
    EXPECT_NE(html.find("<option value=\"failed\">failed</option>"), std::string::npos);
    size_t open = html.find("<script type=\"application/json\" id=\"samples-");
    ASSERT_NE(open, std::string::npos);
    size_t start = html.find('>', open) + 1;
    auto data = nlohmann::json::parse(html.substr(start, html.find("</script>", start) - start));
    int n_failed = 0;
    for (const auto& x : data["samples"]) {
        if (x["st"] == "ok") continue;
        ++n_failed;
        EXPECT_EQ(x["st"], "failed_infra");
        EXPECT_NE(x["er"].get<std::string>().find("HTTP 503 <overloaded>"), std::string::npos);
    }
    EXPECT_EQ(n_failed, 3);
    // No failures: no warning.
    Store c(report_temp_db("clean-html.db"));
    int64_t clean = build_run(c);
    std::vector<AnalysisRun> clean_runs{analysis_run(c, clean)};
    std::string clean_html = html_report(c, clean_runs);
    EXPECT_EQ(clean_html.find("failed-warning"), std::string::npos);
    EXPECT_NE(clean_html.find("<th>engine manifest</th><td><code>(none)</code>"), std::string::npos);
}

TEST(Server, FailedSamplesShowAsFailedWithTheirError) {
    std::string path = report_temp_db("failed-server.db");
    {
        Store s(path);
        build_run_with_failures(s);
    }
    ServerOptions o;
    o.db_path = path;
    ServerResponse runs = server_handle_request(o, "GET", "/api/runs");
    ASSERT_EQ(runs.status, 200) << runs.body;
    auto jr = nlohmann::json::parse(runs.body);
    EXPECT_EQ(jr[0]["samples_stored"], 24);
    EXPECT_EQ(jr[0]["samples_failed"], 3);
    ServerResponse api = server_handle_request(o, "GET", "/api/runs/1/samples?point=3");
    ASSERT_EQ(api.status, 200) << api.body;
    auto js = nlohmann::json::parse(api.body);
    ASSERT_EQ(js["samples"].size(), 1u);
    EXPECT_EQ(js["samples"][0]["status"], "failed_infra");
    EXPECT_NE(js["samples"][0]["error"].get<std::string>().find("HTTP 503"), std::string::npos);
    ServerResponse page = server_handle_request(o, "GET", "/runs/1/samples?point=0");
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("bad\">failed<br><small>failed_infra: http://127.0.0.1:9/v1/completions: HTTP 503 "
                             "&lt;overloaded&gt;"),
              std::string::npos)
        << page.body;
    EXPECT_NE(server_handle_request(o, "GET", "/").body.find("(3 failed)"), std::string::npos);
}

}  // namespace
}  // namespace adabench
