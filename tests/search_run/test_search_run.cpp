// adabench search on the fake engine (tests/harness/fake_engine.h): its "model" thinks for a
// seed-determined 8..64 tokens, shortened by the first LoRA coefficient, and a thinking budget
// below that length makes the answer wrong — a real accuracy-versus-tokens trade-off for a genome
// of one adapter coefficient and the thinking budget.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "common/error.h"
#include "fake_engine.h"
#include "fake_task.h"
#include "harness/search_run.h"
#include "reports/analysis.h"
#include "reports/html.h"
#include "sweep_test_util.h"

using namespace adabench;
using namespace adabench::testing;
using json = nlohmann::json;

namespace {

json base_doc(const std::string& task, json search) {
    return {{"sweep",
             {{"model", "fake-model"},
              {"adapters", {"x/short"}},
              {"tasks", {{{"name", task}}}},
              {"prompt_template", "plain"},
              {"budgets", {{"mechanism", "hard_cut"}, {"answer_budget", 16}}},
              {"batch_size", 8}}},
            {"search", search}};
}

json nsga_search() {
    return {{"genome", {{"adapter_coefs", {{"min", 0}, {"max", 1}}}, {"think_budget", {{"min", 4}, {"max", 64}}}}},
            {"split", {{"calibration", 12}, {"holdout", 8}, {"seed", 3}}},
            {"optimizer", "nsga2"},
            {"nsga2", {{"pop_size", 6}, {"generations", 3}, {"seed", 2}}}};
}

SearchOptions quiet() {
    SearchOptions o;
    o.progress = PROGRESS_MODE_NONE;
    return o;
}

std::string config_error(const json& doc) {
    try {
        search_config_parse(doc, "s.json");
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(SearchConfig, ParsesAndRefusesClearly) {
    const std::string dir = temp_dir("search-config");
    const std::string task = fake_task_write(dir, "fake", 30);
    SearchConfig c = search_config_parse(base_doc(task, nsga_search()), "s.json");
    EXPECT_EQ(c.n_genes(), 2u);
    EXPECT_TRUE(c.coef_genes);
    EXPECT_TRUE(c.budget_gene);
    EXPECT_EQ(c.pop_size, 6u);
    EXPECT_EQ(c.goals.size(), 5u);  // the default Chebyshev weights, unused by nsga2
    EXPECT_EQ(search_config_canonical(c)["kind"], "search");

    json unknown = base_doc(task, nsga_search());
    unknown["search"]["nsga2"]["popsize"] = 4;
    EXPECT_NE(config_error(unknown).find("s.json: key 'search.nsga2.popsize': is not a known key"), std::string::npos)
        << config_error(unknown);
    json no_gene = base_doc(task, {{"genome", json::object()}});
    no_gene["sweep"].erase("adapters");
    EXPECT_NE(config_error(no_gene).find("declares no gene"), std::string::npos);
    json lambda_no_merge = base_doc(task, {{"genome", {{"merge_lambda", {{"points", 2}}}}}});
    EXPECT_NE(config_error(lambda_no_merge).find("needs sweep.merge.with"), std::string::npos);
    json bad_type = base_doc(task, nsga_search());
    bad_type["search"]["split"]["calibration"] = "ten";
    EXPECT_NE(config_error(bad_type).find("key 'search.split.calibration': expects an integer"), std::string::npos);
    json bad_goal = base_doc(task, nsga_search());
    bad_goal["search"]["cmaes"] = {{"goals", {{{"chebyshev", {1}}}}}};
    EXPECT_NE(config_error(bad_goal).find("search.cmaes.goals[0]"), std::string::npos);
    EXPECT_NE(config_error(json{{"search", nsga_search()}}).find("key 'sweep'"), std::string::npos);
}

TEST(SearchConfig, DecodeScalesRoundsAndClamps) {
    const std::string dir = temp_dir("search-decode");
    const std::string task = fake_task_write(dir, "fake", 30);
    SearchConfig c = search_config_parse(base_doc(task, nsga_search()), "s.json");
    SearchCandidate a = search_decode(c, {0.123456, 0.5});
    EXPECT_EQ(a.coefs, (std::vector<double>{0.123}));
    EXPECT_EQ(a.think_budget, 34);  // 4 + 0.5 * 60
    SearchCandidate b = search_decode(c, {-3.0, 7.0});
    EXPECT_EQ(b.coefs, (std::vector<double>{0.0}));
    EXPECT_EQ(b.think_budget, 64);
    EXPECT_EQ(b.text(), "c=[0.0] B=64");
    EXPECT_THROW(search_decode(c, {0.5}), Error);
}

TEST(SearchConfig, SplitIsDeterministicAndDisjoint) {
    const std::string dir = temp_dir("search-split");
    const std::string task = fake_task_write(dir, "fake", 30);
    SearchConfig c = search_config_parse(base_doc(task, nsga_search()), "s.json");
    auto tasks = sweep_load_tasks(c.sweep);
    ASSERT_EQ(tasks[0].problems.size(), 30u);
    SearchSplit s1 = search_split(c, tasks), s2 = search_split(c, tasks);
    EXPECT_EQ(s1.calibration, s2.calibration);
    ASSERT_EQ(s1.calibration[0].size(), 12u);
    ASSERT_EQ(s1.holdout[0].size(), 8u);
    std::set<std::string> all(s1.calibration[0].begin(), s1.calibration[0].end());
    for (const auto& id : s1.holdout[0]) EXPECT_TRUE(all.insert(id).second) << id;
    c.split_seed = 4;
    EXPECT_NE(search_split(c, tasks).calibration, s1.calibration);
    c.n_calibration = 25;
    EXPECT_THROW(search_split(c, tasks), Error);
}

TEST(SearchRun, Nsga2StoresEveryConfigurationAsAPointAndResumesFromTheCache) {
    const std::string dir = temp_dir("search-nsga2");
    const std::string task = fake_task_write(dir, "fake", 30);
    SearchConfig c = search_config_parse(base_doc(task, nsga_search()), "s.json");
    auto tasks = sweep_load_tasks(c.sweep);
    Store st(dir + "/s.db");
    std::vector<std::string> lines;
    SearchOptions o = quiet();
    o.log = [&](const std::string& l) { lines.push_back(l); };
    FakeProvider p1;
    SearchSummary s = search_run(c, tasks, p1, st, o);
    EXPECT_EQ(s.status, "finished");
    EXPECT_EQ(s.run_id, 1);
    EXPECT_EQ(s.n_evaluations, 6u * 4);
    EXPECT_GE(s.n_distinct, 10u);
    EXPECT_GT(s.reference_tokens, 0);
    EXPECT_GT(s.hypervolume, 0);
    ASSERT_FALSE(s.front.empty());
    // One progress line per generation with the best hypervolume so far, never decreasing.
    int n_gen_lines = 0;
    for (const auto& l : lines)
        if (l.rfind("generation ", 0) == 0) {
            ++n_gen_lines;
            EXPECT_NE(l.find("best hypervolume"), std::string::npos) << l;
        }
    EXPECT_EQ(n_gen_lines, 4);
    // Every front member is re-evaluated on the held-out split.
    for (const auto& r : s.front) {
        EXPECT_TRUE(r.has_holdout);
        EXPECT_EQ(r.holdout.n_samples, 8);
        EXPECT_EQ(r.calibration.n_samples, 12);
    }
    // The store: one run, points tagged with their method, every point complete.
    ASSERT_EQ(st.list_runs().size(), 1u);
    auto points = st.list_points(1);
    std::set<std::string> methods, task_names;
    for (const auto& p : points) {
        methods.insert(analysis_point_method(p));
        task_names.insert(p.task);
        EXPECT_EQ(st.count_samples(1, p.point_id), p.task == "fake" ? 12 : 8) << p.label;
    }
    EXPECT_EQ(methods, (std::set<std::string>{"reference", "nsga2"}));
    EXPECT_EQ(task_names, (std::set<std::string>{"fake", "fake:holdout"}));
    EXPECT_EQ(points.size(), s.n_distinct + s.front.size());
    EXPECT_EQ(st.get_run(1)->status, "finished");
    EXPECT_EQ(st.get_run(1)->n_samples_planned, st.count_samples(1));

    // Common random numbers: every configuration saw the same problems with the same seeds.
    std::map<std::string, std::set<int64_t>> seeds;
    SampleFilter f;
    f.run_id = 1;
    f.with_text = false;
    for (const auto& smp : st.list_samples(f)) seeds[smp.problem_id].insert(smp.seed);
    for (const auto& [id, ss] : seeds) EXPECT_EQ(ss.size(), 1u) << id;

    // The report reads it like a sweep and draws the methods.
    AnalysisRun ar = analysis_run(st, 1);
    EXPECT_EQ(ar.points.size(), points.size());
    std::string html = html_report(st, {ar});
    EXPECT_NE(html.find("Methods compared, task fake"), std::string::npos);

    // The same command again: resumed, nothing run by the engine, the same front.
    FakeLog log;
    FakeProvider p2(&log);
    SearchSummary again = search_run(c, tasks, p2, st, quiet());
    EXPECT_TRUE(again.resumed);
    EXPECT_EQ(again.n_engine, 0u);
    EXPECT_EQ(log.n_generate, 0);
    EXPECT_EQ(again.hypervolume, s.hypervolume);
    EXPECT_EQ(again.json()["front"], s.json()["front"]);
    EXPECT_EQ(st.list_points(1).size(), points.size());
}

TEST(SearchRun, InterruptedSearchResumesToTheSameResult) {
    const std::string dir = temp_dir("search-interrupt");
    const std::string task = fake_task_write(dir, "fake", 30);
    SearchConfig c = search_config_parse(base_doc(task, nsga_search()), "s.json");
    auto tasks = sweep_load_tasks(c.sweep);
    Store st(dir + "/s.db");
    std::atomic<bool> stop{false};
    SearchOptions o = quiet();
    o.stop = &stop;
    o.log = [&](const std::string& l) {
        if (l.rfind("generation 1/", 0) == 0) stop = true;
    };
    FakeProvider p1;
    SearchSummary s1 = search_run(c, tasks, p1, st, o);
    EXPECT_EQ(s1.status, "interrupted");
    EXPECT_EQ(st.get_run(1)->status, "interrupted");
    const size_t stored = st.list_points(1).size();
    EXPECT_GT(stored, 0u);

    FakeProvider p2;
    SearchSummary s2 = search_run(c, tasks, p2, st, quiet());
    EXPECT_EQ(s2.status, "finished");
    EXPECT_TRUE(s2.resumed);
    EXPECT_LT(s2.n_engine, s2.n_distinct + s2.front.size());

    Store ref(dir + "/ref.db");
    FakeProvider p3;
    SearchSummary s3 = search_run(c, tasks, p3, ref, quiet());
    EXPECT_EQ(s2.json()["front"], s3.json()["front"]);
    EXPECT_EQ(s2.hypervolume, s3.hypervolume);
}

TEST(SearchRun, CmaesGoalsAndTheStaticGridBaseline) {
    const std::string dir = temp_dir("search-cmaes");
    const std::string task = fake_task_write(dir, "fake", 30);
    json search = nsga_search();
    search["optimizer"] = "cmaes";
    search["split"]["holdout"] = 0;
    search["cmaes"] = {{"sigma0", 0.3},
                       {"evals_per_goal", 12},
                       {"seed", 1},
                       {"goals", {{{"chebyshev", {0.7, 0.3}}}, {{"tokens_at_most", 20}}}}};
    search["baseline_grid"] = true;
    SearchConfig c = search_config_parse(base_doc(task, search), "s.json");
    auto tasks = sweep_load_tasks(c.sweep);
    Store st(dir + "/s.db");
    std::vector<std::string> lines;
    SearchOptions o = quiet();
    o.log = [&](const std::string& l) { lines.push_back(l); };
    FakeProvider p;
    SearchSummary s = search_run(c, tasks, p, st, o);
    EXPECT_EQ(s.status, "finished");
    EXPECT_GE(s.n_evaluations, 24u);
    bool saw_goal2 = false;
    for (const auto& l : lines) saw_goal2 |= l.find("goal 2/2 (tokens<=20.0)") != std::string::npos;
    EXPECT_TRUE(saw_goal2);
    for (const auto& r : s.front) EXPECT_FALSE(r.has_holdout);
    EXPECT_GT(s.n_grid, 3u);
    EXPECT_LE(s.n_grid, s.n_distinct);
    EXPECT_GT(s.grid_hypervolume, 0);
    std::set<std::string> methods;
    for (const auto& pt : st.list_points(1)) methods.insert(analysis_point_method(pt));
    EXPECT_TRUE(methods.count("cmaes"));
    EXPECT_TRUE(methods.count("grid") || methods.size() >= 2);
}
