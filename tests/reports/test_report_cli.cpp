// The report and compare subcommands end to end: the real adabench binary on a synthetic store,
// output checked by pattern (exit codes, the files written, what they contain).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "report_test_util.h"

namespace adabench {
namespace {

using testing::report_add_run;
using testing::report_point;
using testing::report_sample;
using testing::report_temp_db;

using testing::CmdResult;

CmdResult run_cli(const std::string& args) {
    return testing::report_run_command(std::string(ADABENCH_BINARY_DIR) + "/harness/cli/adabench " + args);
}

std::string slurp(const std::string& path) { return testing::report_slurp(path); }

std::string make_db() {
    std::string path = report_temp_db("cli.db");
    Store s(path);
    int64_t a = report_add_run(s, "a"), b = report_add_run(s, "b");
    for (int64_t run : {a, b}) {
        s.insert_points({report_point(run, 0, "arith", 16, "[0]"), report_point(run, 1, "arith", 64, "[1]")});
        std::vector<SampleRecord> v;
        for (int i = 0; i < 12; ++i) {
            std::string q = "q" + std::to_string(i);
            v.push_back(report_sample(run, 0, q, 0, i < 6, 14, 2));
            v.push_back(report_sample(run, 1, q, 0, run == a ? true : i < 1, 60, 4));
        }
        v[0].response_text = "<think>plan</think><script>alert(1)</script>";
        s.insert_samples(v);
    }
    return path;
}

TEST(ReportCli, HtmlFile) {
    std::string db = make_db();
    std::string out = std::filesystem::path(db).parent_path() / "report.html";
    CmdResult r = run_cli("report --db " + db + " --run 1 --run 2 -o " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(std::regex_search(
        r.out, std::regex(R"(wrote .*report\.html \(html\): 2 run\(s\), 4 points, [0-9]+ on frontiers)")))
        << r.out;
    std::string html = slurp(out);
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_NE(html.find("frontier-plot"), std::string::npos);
    EXPECT_NE(html.find("How to read this"), std::string::npos);
    EXPECT_NE(html.find("abc1234"), std::string::npos);  // git sha in the metadata
    EXPECT_EQ(html.find("<script>alert"), std::string::npos);
    EXPECT_EQ(html.find("http://") == std::string::npos || html.find("http://www.w3.org/2000/svg") != std::string::npos,
              true);
    EXPECT_EQ(html.find("src=\"http"), std::string::npos);  // nothing fetched from the network
}

// The first task's accuracy-vs-tokens chart of a report page.
std::string frontier_svg(const std::string& html) {
    size_t a = html.find("<svg class=\"plot frontier-plot\"");
    if (a == std::string::npos) return "";
    return html.substr(a, html.find("</svg>", a) - a);
}

TEST(ReportCli, LogTokensAxis) {
    // points at 16 and 64 tokens: linear ticks 0, 20, ..., 80; log ticks 10, 15, 20, 30, 50, 70, 100
    std::string db = make_db();
    std::string dir = std::filesystem::path(db).parent_path();
    CmdResult lin = run_cli("report --db " + db + " --run 1 -o " + dir + "/lin.html");
    ASSERT_EQ(lin.rc, 0) << lin.out;
    CmdResult log = run_cli("report --db " + db + " --run 1 --log-tokens -o " + dir + "/log.html");
    ASSERT_EQ(log.rc, 0) << log.out;
    std::string a = frontier_svg(slurp(dir + "/lin.html")), b = frontier_svg(slurp(dir + "/log.html"));
    ASSERT_FALSE(a.empty());
    ASSERT_FALSE(b.empty());
    EXPECT_NE(a.find(">0</text>"), std::string::npos);
    EXPECT_NE(a.find(">40</text>"), std::string::npos);
    EXPECT_EQ(a.find(">100</text>"), std::string::npos);
    EXPECT_EQ(a.find("log scale"), std::string::npos);
    EXPECT_EQ(b.find(">0</text>"), std::string::npos);  // no zero on a log axis
    EXPECT_NE(b.find(">10</text>"), std::string::npos);
    EXPECT_NE(b.find(">100</text>"), std::string::npos);
    EXPECT_NE(b.find("log scale"), std::string::npos);
    // the points sit where log10 puts them on the one-decade axis 10..100: x = L + w (log10 x - 1) with
    // L = 62, w = 678; the budget-16 point is a circle (centre), the budget-64 one a square (left edge 5.5
    // before its centre)
    auto at = [](double x) { return 62 + 678 * (std::log10(x) - 1); };
    char mark[64];
    std::snprintf(mark, sizeof mark, "<circle cx=\"%.1f\"", at(16));
    EXPECT_NE(b.find(mark), std::string::npos) << mark;
    std::snprintf(mark, sizeof mark, "<rect x=\"%.1f\"", at(64) - 5.5);
    EXPECT_NE(b.find(mark), std::string::npos) << mark;
}

TEST(RouteCli, EarlyExitSummaryAndJson) {
    // one budget group (16, 64) whose forced answers at 16 carry a confidence
    std::string db = report_temp_db("route.db");
    {
        Store s(db);
        int64_t run = report_add_run(s);
        s.insert_points({report_point(run, 0, "arith", 16, "[]"), report_point(run, 1, "arith", 64, "[]")});
        std::vector<SampleRecord> v;
        for (int i = 0; i < 8; ++i) {
            std::string q = "q" + std::to_string(i);
            SampleRecord cut = report_sample(run, 0, q, 0, i % 2 == 0, 16, 2);
            cut.finish_reason = "think_budget";
            cut.answer_conf = i < 4 ? 0.99 : 0.5;
            v.push_back(cut);
            v.push_back(report_sample(run, 1, q, 0, true, 40, 4));
        }
        s.insert_samples(v);
    }
    CmdResult con = run_cli("route --db " + db);
    ASSERT_EQ(con.rc, 0) << con.out;
    EXPECT_NE(con.out.find("== early exit and overthinking, task arith"), std::string::npos) << con.out;
    EXPECT_TRUE(std::regex_search(con.out, std::regex(R"(\n +0\.95 +[0-9.]+ +[0-9.]+ )"))) << con.out;
    CmdResult js = run_cli("route --db " + db + " --format json");
    ASSERT_EQ(js.rc, 0) << js.out;
    auto j = nlohmann::json::parse(js.out);
    const auto& e = j["tasks"][0]["early_exit"];
    ASSERT_EQ(e["groups"].size(), 1u);
    EXPECT_TRUE(e["groups"][0]["conf_measured"].get<bool>());
    ASSERT_EQ(e["groups"][0]["deer"].size(), 6u);
    // theta 0.95: q0..q3 exit at 16 (18 tokens, half right), q4..q7 run on to 64 (44 tokens, right)
    const auto& d = e["groups"][0]["deer"][3];
    EXPECT_DOUBLE_EQ(d["theta"].get<double>(), 0.95);
    EXPECT_DOUBLE_EQ(d["share_early"].get<double>(), 0.5);
    EXPECT_DOUBLE_EQ(d["tokens"].get<double>(), (4 * 18 + 4 * 44) / 8.0);
    EXPECT_DOUBLE_EQ(d["accuracy"].get<double>(), 0.75);
}

TEST(ReportCli, ConsoleJsonCsv) {
    std::string db = make_db();
    CmdResult con = run_cli("report --db " + db);  // latest run, console table
    ASSERT_EQ(con.rc, 0) << con.out;
    EXPECT_TRUE(std::regex_search(con.out, std::regex(R"(run 2 .*\n.*task arith  frontier points=[12])"))) << con.out;
    CmdResult js = run_cli("report --db " + db + " --run 1 --format json");
    ASSERT_EQ(js.rc, 0) << js.out;
    auto j = nlohmann::json::parse(js.out);
    EXPECT_DOUBLE_EQ(j["runs"][0]["points"][0]["accuracy"]["estimate"].get<double>(), 0.5);
    CmdResult csv = run_cli("report --db " + db + " --run 1 --format csv");
    ASSERT_EQ(csv.rc, 0);
    EXPECT_TRUE(
        std::regex_search(csv.out, std::regex(R"(\n1,1,arith,B=64 c=\[1\],hard_cut,64,\[1\],12,12,0,1\.000000,)")))
        << csv.out;
}

TEST(ReportCli, Errors) {
    std::string db = make_db();
    CmdResult r = run_cli("report --db /nonexistent/x.db");
    EXPECT_EQ(r.rc, 1);
    EXPECT_NE(r.out.find("/nonexistent/x.db: no such store"), std::string::npos) << r.out;
    r = run_cli("report --db " + db + " --run 99");
    EXPECT_EQ(r.rc, 1) << r.out;
    r = run_cli("report --db " + db + " --run abc");
    EXPECT_EQ(r.rc, 2) << r.out;
    r = run_cli("report --db " + db + " --format pdf");
    EXPECT_EQ(r.rc, 2) << r.out;
    r = run_cli("compare --db " + db + " --base 1");
    EXPECT_EQ(r.rc, 2) << r.out;
    std::string junk = std::filesystem::path(db).parent_path() / "junk.db";
    std::ofstream(junk) << "this is not sqlite";
    r = run_cli("report --db " + junk);
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_EQ(r.out.find("terminate"), std::string::npos);
}

TEST(CompareCli, SummaryAndHtml) {
    std::string db = make_db();
    std::string out = std::filesystem::path(db).parent_path() / "compare.html";
    CmdResult r = run_cli("compare --db " + db + " --base 1 --new 2 -o " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(compare base run 1 -> new run 2: 2 matched points)"))) << r.out;
    EXPECT_TRUE(std::regex_search(
        r.out,
        std::regex(R"(WORSE  arith B=64 c=\[1\]: accuracy 1\.000 -> 0\.083 \(-0\.917, p=0\.0[0-9]+, pairs=12\))")))
        << r.out;
    EXPECT_NE(r.out.find("significant changes (p < 0.050): 0 better, 1 worse"), std::string::npos) << r.out;
    std::string html = slurp(out);
    EXPECT_NE(html.find("frontier-plot"), std::string::npos);
    EXPECT_NE(html.find("class=\"bad sig\""), std::string::npos);
}

}  // namespace
}  // namespace adabench
