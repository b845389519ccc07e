// Sweep runner tests against the deterministic fake engine: everything planned is stored and
// graded, one engine call serves a batch of fork sweeps, compositions are built once, results do
// not depend on batch size, resume skips finished work, config changes make new runs, a stop
// request ends cleanly, shards merged with merge-db equal one whole run, and failed_infra results
// are stored ungraded, left out of metrics, and re-issued (only they) by the next session.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "common/error.h"
#include "fake_engine.h"
#include "fake_task.h"
#include "harness/sweep.h"
#include "reports/analysis.h"
#include "sweep_test_util.h"

using namespace adabench;
using namespace adabench::testing;
using json = nlohmann::json;

namespace {

struct Fixture {
    std::string dir;
    SweepConfig config;
    std::vector<Dataset> tasks;
};

Fixture make_fixture(const std::string& name, json extra = json::object(), int n_problems = 6) {
    Fixture f;
    f.dir = temp_dir(name);
    std::string task = fake_task_write(f.dir, "fake", n_problems);
    json j = {{"model", "fake-model"},
              {"tasks", {{{"name", task}}}},
              {"prompt_template", "plain"},
              {"budgets", {{{"mechanism", "hard_cut"}, {"think_budgets", {16, 32, 64}}}}},
              {"batch_size", 4}};
    j.update(extra);
    f.config = sweep_config_parse(j, "test.json");
    sweep_config_validate(f.config, "test.json");
    f.tasks = sweep_load_tasks(f.config);
    return f;
}

SweepOptions quiet() {
    SweepOptions o;
    o.progress = PROGRESS_MODE_NONE;
    return o;
}

}  // namespace

TEST(Sweep, StoresEveryPlannedSampleGraded) {
    auto f = make_fixture("all");
    Store st(f.dir + "/r.db");
    FakeLog log;
    FakeProvider prov(&log);
    auto sum = sweep_run(f.config, f.tasks, prov, st, quiet());
    EXPECT_EQ(sum.run_id, 1);
    EXPECT_EQ(sum.status, "finished");
    EXPECT_EQ(sum.n_planned, 6 * 3);
    EXPECT_EQ(sum.n_written, 18);
    EXPECT_EQ(st.count_samples(1), 18);
    auto run = *st.get_run(1);
    EXPECT_EQ(run.status, "finished");
    EXPECT_EQ(run.engine, "fake");
    EXPECT_EQ(run.n_samples_planned, 18);
    EXPECT_FALSE(run.finished_at.empty());
    EXPECT_NE(run.datasets_json.find("\"fake\""), std::string::npos);
    // One request per problem carries all three budgets (fork sweep); 6 requests in batches of 4.
    EXPECT_EQ(log.n_generate, 2);
    EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{4, 2}));
    for (const auto& b : log.budgets_seen) EXPECT_EQ(b, (std::vector<int>{16, 32, 64}));
    // Grading: accuracy grows with the budget; forced answers are wrong by construction.
    auto points = st.list_points(1);
    ASSERT_EQ(points.size(), 3u);
    int prev = -1;
    for (const auto& p : points) {
        SampleFilter sf;
        sf.run_id = 1;
        sf.point_id = p.point_id;
        int correct = 0;
        for (const auto& s : st.list_samples(sf)) {
            EXPECT_EQ(s.correct_flexible, !s.forced) << s.response_text;
            EXPECT_EQ(s.extracted_flexible == s.gold, s.correct_flexible);
            EXPECT_EQ(s.finish_reason, s.forced ? "think_budget" : "eos");
            EXPECT_EQ(s.prompt_text.rfind("<user>Q: ", 0), 0u);
            correct += s.correct_flexible;
        }
        EXPECT_GE(correct, prev);
        prev = correct;
    }
}

TEST(Sweep, ResultsDoNotDependOnBatchSize) {
    json extra = {{"sampling", {{"n", 2}, {"temperature", 0.7}}}, {"adapters", {"x/long=0:1:0.5"}}};
    auto a = make_fixture("batch-a", extra);
    auto b = make_fixture("batch-b", extra);
    a.config.batch_size = 1;
    b.config.batch_size = 7;
    Store sa(a.dir + "/r.db"), sb(b.dir + "/r.db");
    FakeLog la, lb;
    FakeProvider pa(&la), pb(&lb);
    sweep_run(a.config, a.tasks, pa, sa, quiet());
    sweep_run(b.config, b.tasks, pb, sb, quiet());
    auto da = dump_samples(sa, 1), db = dump_samples(sb, 1);
    EXPECT_EQ(da.size(), 6u * 2 * 3 * 3);
    EXPECT_EQ(da, db);
    EXPECT_GT(la.n_generate, lb.n_generate);
    // Unmerged LoRA: one engine, and batches mix coefficient vectors.
    EXPECT_EQ(lb.compositions.size(), 1u);
    std::set<std::vector<float>> coefs(lb.coefs_seen.begin(), lb.coefs_seen.begin() + 7);
    EXPECT_GE(coefs.size(), 3u);
    // Per-sample seeds differ across sample indices and problems, not across budgets.
    SampleFilter sf;
    sf.run_id = 1;
    sf.problem_id = "fake-0";
    std::set<int64_t> seeds;
    for (const auto& s : sa.list_samples(sf)) seeds.insert(s.seed);
    EXPECT_EQ(seeds.size(), 2u);
}

TEST(Sweep, MergedModeBuildsEachCompositionOnce) {
    auto f = make_fixture("merged", {{"adapters", {"x/long=0:1:0.5"}}, {"lora_mode", "merged"}});
    Store st(f.dir + "/r.db");
    FakeLog log;
    FakeProvider prov(&log);
    sweep_run(f.config, f.tasks, prov, st, quiet());
    EXPECT_EQ(log.compositions, (std::vector<std::string>{"coefs=[0.0]", "coefs=[0.5]", "coefs=[1.0]"}));
    for (const auto& c : log.coefs_seen) EXPECT_TRUE(c.empty());
    // Same fake "model" either way: merged and unmerged runs give the same samples.
    auto g = make_fixture("unmerged", {{"adapters", {"x/long=0:1:0.5"}}, {"lora_mode", "unmerged"}});
    Store su(g.dir + "/r.db");
    FakeProvider pu;
    sweep_run(g.config, g.tasks, pu, su, quiet());
    auto dm = dump_samples(st, 1), du = dump_samples(su, 1);
    ASSERT_EQ(dm.size(), du.size());
    EXPECT_EQ(dm.size(), 6u * 3 * 3);
}

TEST(Sweep, ResumeSkipsFinishedSamples) {
    auto f = make_fixture("resume");
    Store st(f.dir + "/r.db");
    std::atomic<bool> stop{false};
    SweepOptions o = quiet();
    o.stop = &stop;
    o.on_commit = [&](int64_t) { stop = true; };  // stop after the first batch
    FakeProvider p1;
    auto s1 = sweep_run(f.config, f.tasks, p1, st, o);
    EXPECT_EQ(s1.status, "interrupted");
    EXPECT_EQ(st.get_run(1)->status, "interrupted");
    EXPECT_EQ(st.count_samples(1), 4 * 3);
    FakeLog log;
    FakeProvider p2(&log);
    auto s2 = sweep_run(f.config, f.tasks, p2, st, quiet());
    EXPECT_EQ(s2.run_id, 1);
    EXPECT_TRUE(s2.resumed);
    EXPECT_EQ(s2.n_done_before, 12);
    EXPECT_EQ(s2.n_written, 6);
    EXPECT_EQ(log.batch_sizes, (std::vector<size_t>{2}));
    EXPECT_EQ(st.get_run(1)->status, "finished");
    // A third run does nothing at all.
    FakeLog log3;
    FakeProvider p3(&log3);
    auto s3 = sweep_run(f.config, f.tasks, p3, st, quiet());
    EXPECT_EQ(s3.n_written, 0);
    EXPECT_EQ(log3.n_generate, 0);
    // And the result equals an uninterrupted run.
    auto g = make_fixture("resume-ref");
    Store ref(g.dir + "/r.db");
    FakeProvider pr;
    sweep_run(g.config, g.tasks, pr, ref, quiet());
    // Task paths differ between the two fixtures, so compare without the prompt path part.
    EXPECT_EQ(dump_samples(st, 1), dump_samples(ref, 1));
}

TEST(Sweep, ChangedConfigIsANewRunAndResumeRefusesIt) {
    auto f = make_fixture("newrun");
    Store st(f.dir + "/r.db");
    FakeProvider p;
    sweep_run(f.config, f.tasks, p, st, quiet());
    SweepConfig changed = f.config;
    changed.budgets[0].think_budgets = {16, 32};
    auto s = sweep_run(changed, f.tasks, p, st, quiet());
    EXPECT_EQ(s.run_id, 2);
    SweepOptions o = quiet();
    o.resume_run_id = 1;
    o.config_source = "changed.json";
    try {
        sweep_run(changed, f.tasks, p, st, o);
        FAIL() << "resumed with a different config";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("cannot resume run 1"), std::string::npos) << m;
        EXPECT_NE(m.find("changed.json hashes to"), std::string::npos) << m;
        EXPECT_NE(m.find("hint:"), std::string::npos) << m;
    }
    o.resume_run_id = 9;
    EXPECT_THROW(sweep_run(changed, f.tasks, p, st, o), Error);
    // --new-run with the same config starts run 3.
    SweepOptions n = quiet();
    n.new_run = true;
    EXPECT_EQ(sweep_run(f.config, f.tasks, p, st, n).run_id, 3);
    EXPECT_EQ(st.list_runs().size(), 3u);
}

TEST(Sweep, ShardsMergeIntoTheWholeRun) {
    auto f = make_fixture("shards", {{"sampling", {{"n", 2}}}});
    std::vector<std::unique_ptr<Store>> shards;
    for (int i = 0; i < 3; ++i) {
        shards.push_back(std::make_unique<Store>(f.dir + "/shard" + std::to_string(i) + ".db"));
        SweepOptions o = quiet();
        o.shard = sweep_parse_shard(std::to_string(i) + "/3");
        FakeProvider p;
        auto s = sweep_run(f.config, f.tasks, p, *shards.back(), o);
        EXPECT_NEAR(static_cast<double>(s.n_planned), 36 / 3.0, 3.0);
        EXPECT_EQ(shards.back()->get_run(1)->shards, std::to_string(i) + "/3");
    }
    Store whole(f.dir + "/whole.db");
    FakeProvider p;
    sweep_run(f.config, f.tasks, p, whole, quiet());

    Store out(f.dir + "/merged.db");
    auto r0 = sweep_merge_db(out, *shards[0], true);
    EXPECT_EQ(r0.runs_added, 1);
    EXPECT_EQ(out.get_run(1)->status, "partial");
    sweep_merge_db(out, *shards[2], false);
    sweep_merge_db(out, *shards[1], false);
    auto again = sweep_merge_db(out, *shards[1], false);  // idempotent
    EXPECT_EQ(again.samples_inserted, 0);
    auto run = *out.get_run(1);
    EXPECT_EQ(run.shards, "0/3,1/3,2/3");
    EXPECT_EQ(run.status, "finished");
    EXPECT_EQ(dump_samples(out, 1), dump_samples(whole, 1));

    // A shard of another sweep is refused.
    SweepConfig other = f.config;
    other.sampling.seed = 99;
    Store odd(f.dir + "/odd.db");
    FakeProvider po;
    sweep_run(other, f.tasks, po, odd, quiet());
    try {
        sweep_merge_db(out, odd, false);
        FAIL() << "merged a mismatched run";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("matches no run"), std::string::npos) << e.what();
    }
}

TEST(Sweep, PromptMechanismStatesTheBudgetInThePrompt) {
    auto f = make_fixture("prompt", {{"budgets", {{{"mechanism", "prompt"}, {"think_budgets", {8, 100}}}}},
                                     {"prompt_template", "budget"}});
    Store st(f.dir + "/r.db");
    FakeLog log;
    FakeProvider p(&log);
    sweep_run(f.config, f.tasks, p, st, quiet());
    EXPECT_EQ(st.count_samples(1), 12);
    for (const auto& b : log.budgets_seen) EXPECT_TRUE(b.empty());
    SampleFilter sf;
    sf.run_id = 1;
    sf.point_id = 1;
    for (const auto& s : st.list_samples(sf)) {
        EXPECT_NE(s.prompt_text.find("think for 100 tokens"), std::string::npos) << s.prompt_text;
        EXPECT_FALSE(s.forced);
    }
}

TEST(Sweep, EngineFailureMarksRunFailedAndKeepsCommittedWork) {
    auto f = make_fixture("fail");
    Store st(f.dir + "/r.db");
    struct Failing : FakeProvider {
        int calls = 0;
        FakeLog log;
        Failing() : FakeProvider(&log) {}
    } p;
    SweepOptions o = quiet();
    o.on_commit = [&](int64_t) { throw Error("disk on fire"); };
    EXPECT_THROW(sweep_run(f.config, f.tasks, p, st, o), Error);
    EXPECT_EQ(st.get_run(1)->status, "failed");
    EXPECT_EQ(st.count_samples(1), 12);
}

namespace {

std::string prompt_of(const GenerateRequest& rq) { return std::string(rq.prompt_ids.begin(), rq.prompt_ids.end()); }

// Session-1 failures of the 6-problem fixture: problems fake-1 ("Q: 7+13") and fake-4 ("Q: 28+12")
// at every budget, and fake-2 ("Q: 14+26") at budget 32 only (one fork of a request).
bool fail_some(const GenerateRequest& rq, int budget) {
    std::string p = prompt_of(rq);
    return p.find("Q: 7+13<") != std::string::npos || p.find("Q: 28+12<") != std::string::npos ||
           (p.find("Q: 14+26<") != std::string::npos && budget == 32);
}

const std::set<std::string> kFailedProblems = {"fake-1", "fake-2", "fake-4"};

}  // namespace

TEST(Sweep, FailedInfraSamplesAreStoredExcludedAndReissuedByTheNextSession) {
    auto f = make_fixture("failed-infra");
    Store st(f.dir + "/r.db");
    FakeLog log1;
    FakeProvider p1(&log1, 0, fail_some);
    auto s1 = sweep_run(f.config, f.tasks, p1, st, quiet());
    // Stored, counted and said: the session does not claim to have finished.
    EXPECT_EQ(s1.status, "partial");
    EXPECT_EQ(s1.n_planned, 18);
    EXPECT_EQ(s1.n_written, 18);
    EXPECT_EQ(s1.n_failed, 7);
    EXPECT_EQ(s1.n_done, 11);
    auto run = *st.get_run(1);
    EXPECT_EQ(run.status, "partial");
    EXPECT_FALSE(run.finished_at.empty());
    EXPECT_NE(run.engine_json.find(R"("server":"fake")"), std::string::npos) << run.engine_json;
    EXPECT_EQ(st.count_samples(1), 11);
    EXPECT_EQ(st.count_failed_samples(1), 7);
    SampleFilter sf;
    sf.run_id = 1;
    int n_failed = 0;
    for (const auto& s : st.list_samples(sf)) {
        if (!store_sample_ok(s)) {
            ++n_failed;
            EXPECT_TRUE(kFailedProblems.count(s.problem_id)) << s.problem_id;
            EXPECT_EQ(s.status, "failed_infra");
            EXPECT_NE(s.error.find("connection refused"), std::string::npos) << s.error;
            // Never graded: not a wrong answer, not censored, nothing extracted.
            EXPECT_FALSE(s.correct_strict);
            EXPECT_FALSE(s.correct_flexible);
            EXPECT_FALSE(s.censored);
            EXPECT_EQ(s.extracted_strict, "");
            EXPECT_EQ(s.extracted_flexible, "");
            EXPECT_EQ(s.finish_reason, "");
            EXPECT_FALSE(s.token_exact);
            EXPECT_EQ(s.engine_json, R"({"attempts":6})");
            EXPECT_FALSE(s.gold.empty());
        } else {
            EXPECT_EQ(s.engine_json, R"({"rounds":1})");
            EXPECT_TRUE(s.token_exact);
            EXPECT_FALSE(s.finish_reason.empty());
        }
    }
    EXPECT_EQ(n_failed, 7);

    // Metrics leave failed samples out: per point, accuracy over the ok samples only.
    AnalysisRun a1 = analysis_run(st, 1);
    ASSERT_EQ(a1.points.size(), 3u);
    EXPECT_EQ(a1.n_samples, 11);
    EXPECT_EQ(a1.n_failed, 7);
    for (const AnalysisPoint& ap : a1.points) {
        bool b32 = ap.point.think_budget == 32;
        EXPECT_EQ(ap.n_failed, b32 ? 3u : 2u) << ap.point.label;
        EXPECT_EQ(ap.summary.n_samples, b32 ? 3u : 4u) << ap.point.label;
        EXPECT_EQ(ap.summary.n_problems, b32 ? 3u : 4u) << ap.point.label;
        SampleFilter pf;
        pf.run_id = 1;
        pf.point_id = ap.point.point_id;
        double correct = 0, n = 0, tokens = 0;
        for (const auto& s : st.list_samples(pf))
            if (store_sample_ok(s)) {
                correct += s.correct_strict;
                tokens += static_cast<double>(s.n_tokens_think + s.n_tokens_answer);
                ++n;
            }
        EXPECT_DOUBLE_EQ(ap.summary.accuracy.estimate, correct / n) << ap.point.label;  // n_samples 1: per problem
        EXPECT_DOUBLE_EQ(ap.tokens.total.all, tokens / n) << ap.point.label;
    }

    // The next session re-issues exactly the three requests with a failed sample, with the same
    // seeds, and ends with every sample ok and no duplicate.
    std::set<uint64_t> failed_seeds;
    for (const auto& s : st.list_samples(sf))
        if (!store_sample_ok(s)) failed_seeds.insert(static_cast<uint64_t>(s.seed));
    FakeLog log2;
    FakeProvider p2(&log2);
    auto s2 = sweep_run(f.config, f.tasks, p2, st, quiet());
    EXPECT_TRUE(s2.resumed);
    EXPECT_EQ(s2.n_done_before, 9);  // three whole requests were done; fake-2's was not
    EXPECT_EQ(s2.n_written, 7);      // the failed rows replaced; fake-2's ok forks untouched
    EXPECT_EQ(s2.n_failed, 0);
    EXPECT_EQ(s2.n_done, 18);
    EXPECT_EQ(s2.status, "finished");
    EXPECT_EQ(log2.batch_sizes, (std::vector<size_t>{3}));
    EXPECT_EQ(std::set<uint64_t>(log2.seeds_seen.begin(), log2.seeds_seen.end()), failed_seeds);
    for (size_t k = 0; k < log2.seeds_seen.size(); ++k) EXPECT_EQ(log2.budgets_seen[k], (std::vector<int>{16, 32, 64}));
    EXPECT_EQ(st.get_run(1)->status, "finished");
    EXPECT_EQ(st.count_samples(1), 18);
    EXPECT_EQ(st.count_failed_samples(1), 0);
    EXPECT_EQ(st.list_samples(sf).size(), 18u);
    AnalysisRun a2 = analysis_run(st, 1);
    EXPECT_EQ(a2.n_failed, 0);
    for (const AnalysisPoint& ap : a2.points) EXPECT_EQ(ap.n_failed, 0u);
    // Equal to a run that never failed.
    auto g = make_fixture("failed-infra-ref");
    Store ref(g.dir + "/r.db");
    FakeProvider pr;
    sweep_run(g.config, g.tasks, pr, ref, quiet());
    EXPECT_EQ(dump_samples(st, 1), dump_samples(ref, 1));
}

TEST(Sweep, FailuresOfEveryRequestKeepTheRunPartialUntilAServerAnswers) {
    auto f = make_fixture("all-fail", json::object(), 2);
    Store st(f.dir + "/r.db");
    FakeProvider down(nullptr, 0, [](const GenerateRequest&, int) { return true; });
    auto s1 = sweep_run(f.config, f.tasks, down, st, quiet());
    EXPECT_EQ(s1.status, "partial");
    EXPECT_EQ(s1.n_failed, 6);
    EXPECT_EQ(st.count_samples(1), 0);
    // Still down: the same samples are re-issued and stay failed, once each.
    FakeLog log;
    FakeProvider still_down(&log, 0, [](const GenerateRequest&, int) { return true; });
    auto s2 = sweep_run(f.config, f.tasks, still_down, st, quiet());
    EXPECT_EQ(s2.status, "partial");
    EXPECT_EQ(s2.n_failed, 6);
    EXPECT_EQ(log.budgets_seen.size(), 2u);
    SampleFilter sf;
    sf.run_id = 1;
    EXPECT_EQ(st.list_samples(sf).size(), 6u);
    FakeProvider up;
    EXPECT_EQ(sweep_run(f.config, f.tasks, up, st, quiet()).status, "finished");
    EXPECT_EQ(st.count_samples(1), 6);
    EXPECT_EQ(st.count_failed_samples(1), 0);
}

TEST(Sweep, MergeDbKeepsAnOkSampleFromAnyInputOverAFailedOne) {
    auto f = make_fixture("merge-failed");
    Store failed(f.dir + "/failed.db"), good(f.dir + "/good.db");
    FakeProvider pf(nullptr, 0, fail_some), pg;
    sweep_run(f.config, f.tasks, pf, failed, quiet());
    sweep_run(f.config, f.tasks, pg, good, quiet());
    // Failed first, then ok: the ok rows replace the failed ones.
    Store a(f.dir + "/a.db");
    EXPECT_EQ(sweep_merge_db(a, failed, true).samples_inserted, 18);
    EXPECT_EQ(a.get_run(1)->status, "partial");
    EXPECT_EQ(a.count_failed_samples(1), 7);
    EXPECT_EQ(a.get_run(1)->engine_json, failed.get_run(1)->engine_json);
    EXPECT_EQ(sweep_merge_db(a, good, false).samples_inserted, 7);
    EXPECT_EQ(a.get_run(1)->status, "finished");
    EXPECT_EQ(a.count_samples(1), 18);
    EXPECT_EQ(a.count_failed_samples(1), 0);
    // Ok first, then failed: nothing changes.
    Store b(f.dir + "/b.db");
    sweep_merge_db(b, good, true);
    EXPECT_EQ(sweep_merge_db(b, failed, false).samples_inserted, 0);
    EXPECT_EQ(b.get_run(1)->status, "finished");
    EXPECT_EQ(b.count_failed_samples(1), 0);
    EXPECT_EQ(dump_samples(a, 1), dump_samples(good, 1));
    EXPECT_EQ(dump_samples(b, 1), dump_samples(good, 1));
}

TEST(Sweep, TwoSweepsOfOneConfigStartingTogetherShareOneRun) {
    // Issue 20 D10: two processes (here: two connections on two threads) start the same sweep on
    // one store at once. The run is claimed in one transaction, so both join the same run; every
    // sample is stored once.
    auto f = make_fixture("together", json::object(), 12);
    const std::string db = f.dir + "/r.db";
    { Store init(db); }  // the schema exists before the race (creation itself is serialised by SQLite)
    for (int round = 0; round < 5; ++round) {
        std::string dbr = f.dir + "/r" + std::to_string(round) + ".db";
        { Store init(dbr); }
        SweepSummary a, b;
        std::string err_a, err_b;
        auto go = [&](SweepSummary* out, std::string* err) {
            try {
                Store st(dbr);
                FakeProvider prov(nullptr, 2);
                *out = sweep_run(f.config, f.tasks, prov, st, quiet());
            } catch (const std::exception& e) {
                *err = e.what();
            }
        };
        std::thread ta(go, &a, &err_a), tb(go, &b, &err_b);
        ta.join();
        tb.join();
        EXPECT_EQ(err_a, "");
        EXPECT_EQ(err_b, "");
        EXPECT_EQ(a.run_id, b.run_id) << "round " << round;
        Store st(dbr);
        EXPECT_EQ(st.list_runs().size(), 1u) << "round " << round;
        EXPECT_EQ(st.count_samples(a.run_id), a.n_planned);
        SampleFilter flt;
        flt.run_id = a.run_id;
        EXPECT_EQ(static_cast<int64_t>(st.list_samples(flt).size()), a.n_planned);
    }
}

// Adapter switching: switch points are assembled from the probe's and the target's samples; each
// sample takes the target's answer exactly when the probe's signal says so, with both generations'
// tokens; the run counts them as planned; a second session writes nothing new.
TEST(Sweep, AdapterSwitchingAssemblesProbeAndTarget) {
    json extra = {{"adapters", {"x/long=0:1:1"}},
                  {"budgets", {{{"mechanism", "hard_cut"}, {"think_budgets", {16, 64}}}}},
                  {"signals", {{"answer_confidence", true}}},
                  {"switching",
                   {{"probe", {{"coefs", {0}}, {"think_budget", 16}}},
                    {"target", {{"coefs", {1}}, {"think_budget", 64}}},
                    {"thresholds", {0.0, 0.5, 1.01}}}}};
    auto f = make_fixture("switch", extra, 8);
    Store st(f.dir + "/r.db");
    FakeProvider prov;
    auto sum = sweep_run(f.config, f.tasks, prov, st, quiet());
    EXPECT_EQ(sum.status, "finished");
    EXPECT_EQ(sum.n_switch_written, 3 * 8);
    EXPECT_EQ(sum.n_switch_missing_signal, 0);
    auto run = *st.get_run(sum.run_id);
    EXPECT_EQ(run.n_samples_planned, 2 * 2 * 8 + 3 * 8);
    EXPECT_EQ(st.count_samples(sum.run_id), run.n_samples_planned);
    // Grid points 0..3 (c=0 B=16, c=0 B=64, c=1 B=16, c=1 B=64), then the three switch points.
    auto points = st.list_points(sum.run_id);
    ASSERT_EQ(points.size(), 7u);
    auto samples_of = [&](int64_t point) {
        SampleFilter sf;
        sf.run_id = sum.run_id;
        sf.point_id = point;
        std::map<std::string, SampleRecord> m;
        for (auto& s : st.list_samples(sf)) m[s.problem_id] = s;
        return m;
    };
    int64_t probe_id = -1, target_id = -1;
    for (const auto& p : points) {
        if (p.mechanism.rfind("switch", 0) == 0) continue;  // switch points copy the target's fields
        if (p.coefs_json == "[0.0]" && p.think_budget == 16) probe_id = p.point_id;
        if (p.coefs_json == "[1.0]" && p.think_budget == 64) target_id = p.point_id;
    }
    ASSERT_GE(probe_id, 0);
    ASSERT_GE(target_id, 0);
    auto probe = samples_of(probe_id), target = samples_of(target_id);
    const double thresholds[] = {0.0, 0.5, 1.01};
    int switched_mid = 0;
    for (int k = 0; k < 3; ++k) {
        const PointRecord& p = points[static_cast<size_t>(4 + k)];
        EXPECT_EQ(p.mechanism.rfind("switch:answer_conf<", 0), 0u) << p.mechanism;
        EXPECT_NE(p.label.find("probe["), std::string::npos) << p.label;
        auto sw = samples_of(p.point_id);
        ASSERT_EQ(sw.size(), 8u);
        for (const auto& [pid, s] : sw) {
            const SampleRecord& pr = probe.at(pid);
            const SampleRecord& tg = target.at(pid);
            const bool want_switch = pr.answer_conf < thresholds[k];
            auto ej = json::parse(s.engine_json);
            EXPECT_EQ(ej["switch"]["switched"].get<bool>(), want_switch) << pid;
            if (want_switch) {
                EXPECT_EQ(s.correct_strict, tg.correct_strict);
                EXPECT_EQ(s.response_text, tg.response_text);
                EXPECT_EQ(s.n_tokens_think + s.n_tokens_answer,
                          pr.n_tokens_think + pr.n_tokens_answer + tg.n_tokens_think + tg.n_tokens_answer);
                switched_mid += k == 1;
            } else {
                EXPECT_EQ(s.correct_strict, pr.correct_strict);
                EXPECT_EQ(s.n_tokens_think, pr.n_tokens_think);
                EXPECT_EQ(s.response_text, pr.response_text);
            }
        }
    }
    EXPECT_GT(switched_mid, 0);  // the fake's forced probes are unsure
    EXPECT_LT(switched_mid, 8);  // and its natural ones sure
    // Again: nothing new, the same count.
    auto again = sweep_run(f.config, f.tasks, prov, st, quiet());
    EXPECT_EQ(again.n_written, 0);
    EXPECT_EQ(st.count_samples(sum.run_id), run.n_samples_planned);
}

TEST(Sweep, AdapterSwitchingConfigErrors) {
    auto bad = [](json sw, json extra = json::object()) {
        json j = {{"model", "m"},
                  {"tasks", {{{"name", "arith"}}}},
                  {"adapters", {"x/long=0:1:1"}},
                  {"budgets", {{{"mechanism", "hard_cut"}, {"think_budgets", {16, 64}}}}},
                  {"signals", {{"answer_confidence", true}}},
                  {"switching", sw}};
        j.update(extra);
        SweepConfig c = sweep_config_parse(j, "s.json");
        sweep_config_validate(c, "s.json");
    };
    json ok = {{"probe", {{"coefs", {0}}, {"think_budget", 16}}},
               {"target", {{"coefs", {1}}, {"think_budget", 64}}},
               {"thresholds", {0.5}}};
    EXPECT_NO_THROW(bad(ok));
    json j = ok;
    j["probe"]["coefs"] = {0.5};
    EXPECT_THROW(bad(j), Error);  // not a vector of the grid
    j = ok;
    j["target"]["think_budget"] = 100;
    EXPECT_THROW(bad(j), Error);  // not a budget of the grid
    j = ok;
    j["signal"] = "vibes";
    EXPECT_THROW(bad(j), Error);
    j = ok;
    j["signal"] = "prompt_ppl";
    EXPECT_THROW(bad(j), Error);                                          // prompt_ppl not measured
    EXPECT_THROW(bad(ok, {{"signals", {{"prompt_ppl", true}}}}), Error);  // answer_conf not measured
    j = ok;
    j.erase("thresholds");
    EXPECT_THROW(bad(j), Error);
    j = ok;
    j["target"] = j["probe"];
    EXPECT_THROW(bad(j), Error);  // the same configuration
    j = ok;
    j["probe"]["extra"] = 1;
    EXPECT_THROW(bad(j), Error);  // unknown key
    j = ok;
    j["when"] = "sideways";
    EXPECT_THROW(bad(j), Error);
    j["when"] = "above";
    EXPECT_NO_THROW(bad(j));
}
