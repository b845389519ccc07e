// End to end: a report written from a synthetic store, rendered by headless Chromium with no
// network. Checks the frontier SVG is in the rendered DOM, the drill-down script ran (rows rendered,
// the page's ready marker set), model text stayed text, and the console logged no errors.
// Skipped when chromium is not installed (apt-get install -y chromium).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../reports/report_test_util.h"
#include "reports/analysis.h"
#include "reports/html.h"

namespace adabench {
namespace {

using testing::report_add_run;
using testing::report_point;
using testing::report_sample;
using testing::report_temp_db;

std::string find_chromium() {
    for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
        if (std::filesystem::exists(p)) return p;
    return "";
}

std::string run_capture(const std::string& cmd) {
    std::string out;
    FILE* f = popen(cmd.c_str(), "r");
    if (!f) return out;
    std::array<char, 8192> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), f)) > 0) out.append(buf.data(), n);
    pclose(f);
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream o;
    o << in.rdbuf();
    return o.str();
}

TEST(Browser, ReportRendersWithoutConsoleErrors) {
    std::string chromium = find_chromium();
    if (chromium.empty()) GTEST_SKIP() << "chromium not installed (apt-get install -y chromium)";
    std::string db = report_temp_db("browser.db");
    Store s(db);
    int64_t run = report_add_run(s);
    s.insert_points({report_point(run, 0, "arith", 16, "[0]"), report_point(run, 1, "arith", 64, "[1]")});
    std::vector<SampleRecord> v;
    for (int i = 0; i < 8; ++i) {
        v.push_back(report_sample(run, 0, "q" + std::to_string(i), 0, i < 3, 14, 2));
        v.push_back(report_sample(run, 1, "q" + std::to_string(i), 0, i < 6, 60, 4));
    }
    v[0].response_text = "<think>x</think><script>document.title='pwned'</script></script><!--";
    s.insert_samples(v);
    std::vector<AnalysisRun> runs{analysis_run(s, run)};
    auto dir = std::filesystem::path(db).parent_path();
    std::string html_path = (dir / "browser-report.html").string();
    std::ofstream(html_path) << html_report(s, runs);
    std::string profile = (dir / "chromium-profile").string();
    std::filesystem::create_directories(profile);
    std::string log = (dir / "chromium.log").string();
    std::string cmd = "timeout 60 " + chromium +
                      " --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run"
                      " --disable-extensions --enable-logging=stderr --v=0 --user-data-dir=" +
                      profile + " --dump-dom file://" + html_path + " 2>" + log;
    std::string dom = run_capture(cmd);
    std::string errors = slurp(log);
    ASSERT_FALSE(dom.empty()) << "chromium printed no DOM; its log:\n" << errors;
    EXPECT_NE(dom.find("frontier-plot"), std::string::npos);
    EXPECT_NE(dom.find("class=\"frontier\""), std::string::npos);
    EXPECT_NE(dom.find("data-report-ready=\"1\""), std::string::npos) << "the drill-down script did not finish";
    EXPECT_NE(dom.find("<tr class=\"s ok\">"), std::string::npos) << "no sample rows rendered";
    EXPECT_EQ(dom.find("pwned</title>"), std::string::npos);
    EXPECT_NE(dom.find("<title>adabench report"), std::string::npos);
    // Console messages (console.error included) and uncaught exceptions appear as INFO:CONSOLE lines.
    EXPECT_EQ(errors.find("Uncaught"), std::string::npos) << errors;
    EXPECT_EQ(errors.find(":CONSOLE"), std::string::npos) << errors;  // the page logs nothing at all
}

}  // namespace
}  // namespace adabench
