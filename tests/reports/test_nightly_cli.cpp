// adabench nightly end to end over the fake engine (nightly-driver): no baseline -> 0, an identical
// rerun -> 0, a degraded run -> 1 with JUnit failures, a bad config -> 2; the files it writes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "../harness/fake_task.h"
#include "report_test_util.h"

namespace adabench {
namespace {

using testing::CmdResult;

CmdResult run_driver(const std::string& args) {
    return testing::report_run_command(std::string(ADABENCH_BINARY_DIR) + "/tests/reports/nightly-driver nightly " +
                                       args);
}

std::string slurp(const std::string& path) { return testing::report_slurp(path); }

TEST(NightlyCli, ExitCodesAndFiles) {
    std::string db = testing::report_temp_db("nightly-cli.db");
    std::filesystem::path dir = std::filesystem::path(db).parent_path() / "nightly-cli";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::string task = testing::fake_task_write(dir.string(), "adds", 12);
    std::string cfg = (dir / "nightly.json").string();
    std::ofstream(cfg)
        << "{\"model\": \"fake-model\", \"tasks\": [{\"name\": \"" << task
        << "\"}], \"budgets\": {\"think_budgets\": [8, 32]}, \"sampling\": {\"n\": 2, \"temperature\": 0.5},"
           " \"prompt_template\": \"plain\", \"nightly\": {\"max_tokens_increase\": 0.2}}";
    std::string out1 = (dir / "out1").string(), out2 = (dir / "out2").string(), out3 = (dir / "out3").string();

    CmdResult first = run_driver(cfg + " --db " + db + " --out-dir " + out1);
    ASSERT_EQ(first.rc, 0) << first.out;
    EXPECT_NE(first.out.find("no baseline run"), std::string::npos) << first.out;
    EXPECT_TRUE(std::filesystem::exists(out1 + "/report.html"));
    EXPECT_TRUE(std::filesystem::exists(out1 + "/junit.xml"));

    CmdResult second = run_driver(cfg + " --db " + db + " --out-dir " + out2);
    ASSERT_EQ(second.rc, 0) << second.out;
    EXPECT_TRUE(std::regex_search(second.out, std::regex("nightly: OK \\(base run 1, new run 2\\)"))) << second.out;
    std::string xml = slurp(out2 + "/junit.xml");
    EXPECT_NE(xml.find("tests=\"2\" failures=\"0\""), std::string::npos) << xml;
    EXPECT_EQ(slurp(out2 + "/summary.md").rfind("# adabench nightly: OK", 0), 0u);
    EXPECT_NE(slurp(out2 + "/report.html").find("no significant regression"), std::string::npos);

    // Run 3: run 2's samples, every verdict wrong and twice the tokens.
    {
        Store s(db);
        RunRecord r = *s.get_run(2);
        r.id = 0;
        int64_t id = s.insert_run(r);
        auto pts = s.list_points(2);
        for (auto& p : pts) p.run_id = id;
        s.insert_points(pts);
        SampleFilter f;
        f.run_id = 2;
        auto samples = s.list_samples(f);
        for (auto& x : samples) {
            x.run_id = id;
            x.correct_strict = x.correct_flexible = false;
            x.n_tokens_think *= 2;
            x.n_tokens_answer *= 2;
        }
        s.insert_samples(samples);
    }
    CmdResult third = run_driver(cfg + " --db " + db + " --run 3 --baseline 2 --out-dir " + out3);
    EXPECT_EQ(third.rc, 1) << third.out;
    EXPECT_NE(third.out.find("FAIL "), std::string::npos) << third.out;
    EXPECT_NE(third.out.find("nightly: REGRESSION (base run 2, new run 3)"), std::string::npos) << third.out;
    std::string xml3 = slurp(out3 + "/junit.xml");
    EXPECT_NE(xml3.find("failures=\"2\""), std::string::npos) << xml3;
    EXPECT_NE(xml3.find("mean tokens"), std::string::npos);
    EXPECT_EQ(slurp(out3 + "/summary.md").rfind("# adabench nightly: REGRESSION", 0), 0u);

    std::string bad = (dir / "bad.json").string();
    std::ofstream(bad) << "{\"model\": \"fake-model\", \"tasks\": [{\"name\": \"" << task
                       << "\"}], \"nightly\": {\"max_token_increase\": 0.2}}";
    CmdResult err = run_driver(bad + " --db " + db + " --out-dir " + out3);
    EXPECT_EQ(err.rc, 2) << err.out;
    EXPECT_NE(err.out.find("unknown key nightly.max_token_increase"), std::string::npos) << err.out;
    CmdResult missing = run_driver(cfg + " --db " + db + " --run 99");
    EXPECT_EQ(missing.rc, 2) << missing.out;
}

}  // namespace
}  // namespace adabench
