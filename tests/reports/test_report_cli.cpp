// The report and compare subcommands end to end: the real adabench binary on a synthetic store,
// output checked by pattern (exit codes, the files written, what they contain).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
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
