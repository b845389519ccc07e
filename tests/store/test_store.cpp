// Store tests: schema creation, idempotent writes, failed_infra samples (stored, not done, replaced
// by a later ok result, never replacing one), reads with filters, read-only mode, the v1 -> v3 and
// v2 -> v3 migrations, exports (CSV quoting, JSONL) and clear errors on files that are not stores.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace adabench;

namespace {

std::string temp_db(const std::string& name) {
    fs::path dir = fs::temp_directory_path() / ("adabench-test-store-" + std::to_string(getpid()));
    fs::create_directories(dir);
    fs::path p = dir / name;
    fs::remove(p);
    fs::remove(p.string() + "-wal");
    fs::remove(p.string() + "-shm");
    return p.string();
}

RunRecord make_run(const std::string& hash) {
    RunRecord r;
    r.config_json = R"({"tasks":[{"name":"arith"}]})";
    r.config_hash = hash;
    r.git_sha = "abc";
    r.engine = "fake";
    r.status = "running";
    r.started_at = store_now_iso8601();
    return r;
}

PointRecord make_point(int64_t run, int64_t id, const std::string& task, int64_t budget) {
    PointRecord p;
    p.run_id = run;
    p.point_id = id;
    p.task = task;
    p.mechanism = "hard_cut";
    p.think_budget = budget;
    p.coefs_json = "[0.5]";
    p.adapters_json = R"(["lora-long"])";
    return p;
}

SampleRecord make_sample(int64_t run, int64_t point, const std::string& problem, int64_t idx) {
    SampleRecord s;
    s.run_id = run;
    s.point_id = point;
    s.problem_id = problem;
    s.sample_index = idx;
    s.n_tokens_think = 10 + idx;
    s.finish_reason = "eos";
    s.extracted_strict = "42";
    s.extracted_flexible = "42";
    s.gold = "42";
    s.correct_strict = s.correct_flexible = true;
    s.response_text = "<think>x</think> \\boxed{42}";
    s.prompt_text = "What is 6*7?";
    return s;
}

}  // namespace

TEST(Store, CreatesSchemaAndRunIdsStartAtOne) {
    auto path = temp_db("ids.db");
    Store st(path);
    EXPECT_EQ(st.schema_version(), STORE_SCHEMA_VERSION);
    EXPECT_TRUE(st.list_runs().empty());
    EXPECT_EQ(st.insert_run(make_run("h1")), 1);
    EXPECT_EQ(st.insert_run(make_run("h2")), 2);
    auto runs = st.list_runs();
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[1].config_hash, "h2");
    EXPECT_EQ(st.resolve_run("latest").id, 2);
    EXPECT_EQ(st.resolve_run("1").config_hash, "h1");
    EXPECT_THROW(st.resolve_run("7"), Error);
    EXPECT_THROW(st.resolve_run("x1"), UsageError);
    EXPECT_THROW(st.resolve_run("-1"), UsageError);
}

TEST(Store, SampleWritesAreIdempotent) {
    auto path = temp_db("idem.db");
    Store st(path);
    int64_t run = st.insert_run(make_run("h"));
    st.insert_points({make_point(run, 0, "arith", 32), make_point(run, 1, "arith", 64)});
    st.insert_points({make_point(run, 0, "arith", 999)});  // ignored: the point exists
    EXPECT_EQ(st.list_points(run).at(0).think_budget, 32);
    std::vector<SampleRecord> batch;
    for (int p = 0; p < 2; ++p)
        for (int i = 0; i < 3; ++i) batch.push_back(make_sample(run, p, "q" + std::to_string(i), 0));
    EXPECT_EQ(st.insert_samples(batch), 6);
    EXPECT_EQ(st.insert_samples(batch), 0);
    batch.push_back(make_sample(run, 1, "q0", 1));
    EXPECT_EQ(st.insert_samples(batch), 1);
    EXPECT_EQ(st.count_samples(run), 7);
    EXPECT_EQ(st.count_samples(run, 1), 4);
    auto keys = st.sample_keys(run);
    EXPECT_EQ(keys.size(), 7u);
    EXPECT_TRUE(keys.count(SampleKey{1, "q0", 1}));
    EXPECT_FALSE(keys.count(SampleKey{0, "q0", 1}));
}

SampleRecord make_failed(int64_t run, int64_t point, const std::string& problem, int64_t idx, const std::string& at) {
    SampleRecord s;
    s.run_id = run;
    s.point_id = point;
    s.problem_id = problem;
    s.sample_index = idx;
    s.status = "failed_infra";
    s.error = "http://127.0.0.1:9/v1/completions: connection refused after 6 attempts";
    s.gold = "42";
    s.engine_json = R"({"attempts":6})";
    s.created_at = at;
    return s;
}

SampleRecord stored_sample(const Store& st, int64_t run, int64_t point, const std::string& problem) {
    SampleFilter f;
    f.run_id = run;
    f.point_id = point;
    f.problem_id = problem;
    auto v = st.list_samples(f);
    EXPECT_EQ(v.size(), 1u) << problem;
    return v.empty() ? SampleRecord{} : v[0];
}

TEST(Store, FailedSampleIsStoredButNotDoneAndAnOkResultReplacesIt) {
    Store st(temp_db("failed-then-ok.db"));
    int64_t run = st.insert_run(make_run("h"));
    st.insert_points({make_point(run, 0, "arith", 32)});
    EXPECT_EQ(st.insert_samples({make_failed(run, 0, "q1", 0, "2026-01-01T00:00:00Z"), make_sample(run, 0, "q2", 0)}),
              2);
    EXPECT_EQ(st.count_samples(run), 1);
    EXPECT_EQ(st.count_failed_samples(run), 1);
    EXPECT_EQ(st.count_failed_samples(run, 0), 1);
    EXPECT_EQ(st.sample_keys(run), (std::set<SampleKey>{{0, "q2", 0}}));  // resume re-issues q1
    EXPECT_EQ(st.failed_sample_keys(run), (std::set<SampleKey>{{0, "q1", 0}}));
    SampleRecord f = stored_sample(st, run, 0, "q1");
    EXPECT_EQ(f.status, "failed_infra");
    EXPECT_NE(f.error.find("connection refused"), std::string::npos);
    EXPECT_EQ(f.engine_json, R"({"attempts":6})");
    EXPECT_FALSE(store_sample_ok(f));

    // The next session's ok result replaces the failed row, in place (no duplicate key).
    SampleRecord ok = make_sample(run, 0, "q1", 0);
    ok.token_exact = false;
    ok.engine_json = R"({"rounds":1})";
    EXPECT_EQ(st.insert_samples({ok, make_sample(run, 0, "q2", 0)}), 1);  // q2 was ok already: untouched
    SampleRecord r = stored_sample(st, run, 0, "q1");
    EXPECT_EQ(r.status, "ok");
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.extracted_strict, "42");
    EXPECT_TRUE(r.correct_strict);
    EXPECT_FALSE(r.token_exact);
    EXPECT_EQ(r.engine_json, R"({"rounds":1})");
    EXPECT_EQ(st.count_samples(run), 2);
    EXPECT_EQ(st.count_failed_samples(run), 0);
    EXPECT_EQ(st.sample_keys(run).size(), 2u);
    EXPECT_TRUE(st.failed_sample_keys(run).empty());
}

TEST(Store, AnOkSampleIsNeverReplaced) {
    Store st(temp_db("ok-then-failed.db"));
    int64_t run = st.insert_run(make_run("h"));
    st.insert_points({make_point(run, 0, "arith", 32)});
    SampleRecord ok = make_sample(run, 0, "q1", 0);
    ok.created_at = "2026-01-01T00:00:00Z";
    EXPECT_EQ(st.insert_samples({ok}), 1);
    // Neither a later failure nor a later ok result (a re-issued fork sweep) touches it.
    EXPECT_EQ(st.insert_samples({make_failed(run, 0, "q1", 0, "2027-01-01T00:00:00Z")}), 0);
    SampleRecord other = make_sample(run, 0, "q1", 0);
    other.extracted_strict = "41";
    other.created_at = "2027-01-01T00:00:00Z";
    EXPECT_EQ(st.insert_samples({other}), 0);
    SampleRecord r = stored_sample(st, run, 0, "q1");
    EXPECT_EQ(r.status, "ok");
    EXPECT_EQ(r.extracted_strict, "42");
    EXPECT_EQ(r.created_at, "2026-01-01T00:00:00Z");
    EXPECT_EQ(st.count_samples(run), 1);
    EXPECT_EQ(st.count_failed_samples(run), 0);
}

TEST(Store, ALaterFailureKeepsTheLatestErrorAndAnEqualCopyChangesNothing) {
    Store st(temp_db("failed-twice.db"));
    int64_t run = st.insert_run(make_run("h"));
    st.insert_points({make_point(run, 0, "arith", 32)});
    EXPECT_EQ(st.insert_samples({make_failed(run, 0, "q1", 0, "2026-01-01T00:00:00Z")}), 1);
    // The same row again (merge-db of the same shard twice): no change.
    EXPECT_EQ(st.insert_samples({make_failed(run, 0, "q1", 0, "2026-01-01T00:00:00Z")}), 0);
    SampleRecord later = make_failed(run, 0, "q1", 0, "2026-01-02T00:00:00Z");
    later.error = "HTTP 503 after 6 attempts";
    EXPECT_EQ(st.insert_samples({later}), 1);
    EXPECT_EQ(stored_sample(st, run, 0, "q1").error, "HTTP 503 after 6 attempts");
    // An older failure does not overwrite a newer one.
    EXPECT_EQ(st.insert_samples({make_failed(run, 0, "q1", 0, "2025-12-31T00:00:00Z")}), 0);
    EXPECT_EQ(stored_sample(st, run, 0, "q1").error, "HTTP 503 after 6 attempts");
    EXPECT_EQ(st.count_failed_samples(run), 1);
}

TEST(Store, RunEngineManifestRoundTrips) {
    Store st(temp_db("manifest.db"));
    RunRecord r = make_run("h");
    r.engine_json = R"({"urls":[{"url":"http://127.0.0.1:8000","server":"vllm"}]})";
    int64_t id = st.insert_run(r);
    EXPECT_EQ(st.get_run(id)->engine_json, r.engine_json);
    RunRecord u = *st.get_run(id);
    u.engine_json = "{}";
    st.update_run(u);
    EXPECT_EQ(st.get_run(id)->engine_json, "{}");
}

TEST(Store, ReadsWithFiltersRoundTripEveryField) {
    auto path = temp_db("read.db");
    Store st(path);
    int64_t run = st.insert_run(make_run("h"));
    auto pa = make_point(run, 0, "arith", 32);
    pa.temperature = 0.6;
    pa.top_p = 0.95;
    pa.merge_lambda_json = "[0.1,0.9]";
    st.insert_points({pa, make_point(run, 1, "gsm8k", 32)});
    auto s = make_sample(run, 0, "q\"1", 2);
    s.seed = -5;  // seeds are stored as the bit pattern of a uint64
    s.latency_s = 0.125;
    s.forced = true;
    s.censored = true;
    s.n_wait = 3;
    s.response_text = std::string("a\0b", 3) + "\xff";  // embedded NUL and invalid UTF-8 survive
    st.insert_samples({s, make_sample(run, 1, "g1", 0)});

    auto pts = st.list_points(run);
    ASSERT_EQ(pts.size(), 2u);
    EXPECT_DOUBLE_EQ(pts[0].temperature, 0.6);
    EXPECT_DOUBLE_EQ(pts[0].top_p, 0.95);
    EXPECT_EQ(pts[0].merge_lambda_json, "[0.1,0.9]");

    SampleFilter f;
    f.run_id = run;
    f.task = "arith";
    auto got = st.list_samples(f);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].problem_id, "q\"1");
    EXPECT_EQ(got[0].sample_index, 2);
    EXPECT_EQ(got[0].seed, -5);
    EXPECT_DOUBLE_EQ(got[0].latency_s, 0.125);
    EXPECT_TRUE(got[0].forced);
    EXPECT_TRUE(got[0].censored);
    EXPECT_EQ(got[0].n_wait, 3);
    EXPECT_EQ(got[0].response_text, s.response_text);
    EXPECT_FALSE(got[0].created_at.empty());

    f.task.clear();
    f.problem_id = "g1";
    EXPECT_EQ(st.list_samples(f).size(), 1u);
    f.problem_id.clear();
    f.point_id = 0;
    f.with_text = false;
    got = st.list_samples(f);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_TRUE(got[0].response_text.empty());
    SampleFilter none;
    EXPECT_THROW(st.list_samples(none), Error);
}

TEST(Store, UpdateRunKeepsConfig) {
    auto path = temp_db("update.db");
    Store st(path);
    int64_t run = st.insert_run(make_run("h"));
    RunRecord r = *st.get_run(run);
    r.status = "finished";
    r.finished_at = "2026-01-01T00:00:00Z";
    r.config_hash = "changed";  // not updatable
    st.update_run(r);
    auto back = *st.get_run(run);
    EXPECT_EQ(back.status, "finished");
    EXPECT_EQ(back.config_hash, "h");
    r.id = 99;
    EXPECT_THROW(st.update_run(r), Error);
}

TEST(Store, ReadOnlyModeReadsAndRefusesWrites) {
    auto path = temp_db("ro.db");
    {
        Store st(path);
        st.insert_run(make_run("h"));
    }
    Store ro(path, STORE_MODE_READ_ONLY);
    EXPECT_EQ(ro.list_runs().size(), 1u);
    EXPECT_THROW(ro.insert_run(make_run("x")), Error);
    EXPECT_THROW(Store(temp_db("missing.db"), STORE_MODE_READ_ONLY), Error);
}

TEST(Store, NotAStoreIsAClearError) {
    auto path = temp_db("junk.db");
    {
        std::ofstream f(path);
        f << "this is not a database, just some text that is long enough to look like a header......";
    }
    try {
        Store st(path);
        FAIL() << "opened a text file as a store";
    } catch (const Error& e) {
        std::string m = e.what();
        EXPECT_NE(m.find(path), std::string::npos) << m;
        EXPECT_NE(m.find("adabench store"), std::string::npos) << m;
    }
}

TEST(Store, MigratesVersion1Database) {
    auto path = temp_db("v1.db");
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        // The version-1 schema exactly as adabench 0.1 wrote it (kept here independently of
        // schema.cpp so the test does not trust the code under test for the "old" file).
        const char* v1 =
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, config_json TEXT NOT NULL DEFAULT '', "
            "config_hash TEXT NOT NULL DEFAULT '', git_sha TEXT NOT NULL DEFAULT '', engine TEXT NOT NULL DEFAULT '', "
            "device TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', model_hash TEXT NOT NULL DEFAULT '', "
            "adapters_json TEXT NOT NULL DEFAULT '', merges_json TEXT NOT NULL DEFAULT '', "
            "datasets_json TEXT NOT NULL DEFAULT '', started_at TEXT NOT NULL DEFAULT '', "
            "finished_at TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '', "
            "n_points INTEGER NOT NULL DEFAULT 0, n_samples_planned INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE points (run_id INTEGER NOT NULL DEFAULT 0, point_id INTEGER NOT NULL DEFAULT 0, "
            "task TEXT NOT NULL DEFAULT '', mechanism TEXT NOT NULL DEFAULT '', "
            "think_budget INTEGER NOT NULL DEFAULT 0, answer_budget INTEGER NOT NULL DEFAULT 0, "
            "min_think INTEGER NOT NULL DEFAULT 0, max_waits INTEGER NOT NULL DEFAULT 0, "
            "max_tokens INTEGER NOT NULL DEFAULT 0, adapters_json TEXT NOT NULL DEFAULT '', "
            "coefs_json TEXT NOT NULL DEFAULT '', lora_mode TEXT NOT NULL DEFAULT '', "
            "merge_method TEXT NOT NULL DEFAULT '', merge_lambda_json TEXT NOT NULL DEFAULT '', "
            "temperature REAL NOT NULL DEFAULT 0, top_p REAL NOT NULL DEFAULT 0, top_k INTEGER NOT NULL DEFAULT 0, "
            "n_samples INTEGER NOT NULL DEFAULT 0, seed INTEGER NOT NULL DEFAULT 0, "
            "prompt_template TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '', "
            "PRIMARY KEY (run_id, point_id));"
            "CREATE TABLE samples (run_id INTEGER NOT NULL DEFAULT 0, point_id INTEGER NOT NULL DEFAULT 0, "
            "problem_id TEXT NOT NULL DEFAULT '', sample_index INTEGER NOT NULL DEFAULT 0, "
            "seed INTEGER NOT NULL DEFAULT 0, n_tokens_prompt INTEGER NOT NULL DEFAULT 0, "
            "n_tokens_think INTEGER NOT NULL DEFAULT 0, n_tokens_answer INTEGER NOT NULL DEFAULT 0, "
            "finish_reason TEXT NOT NULL DEFAULT '', forced INTEGER NOT NULL DEFAULT 0, "
            "n_wait INTEGER NOT NULL DEFAULT 0, censored INTEGER NOT NULL DEFAULT 0, "
            "extracted TEXT NOT NULL DEFAULT '', gold TEXT NOT NULL DEFAULT '', correct INTEGER NOT NULL DEFAULT 0, "
            "latency_s REAL NOT NULL DEFAULT 0, prompt_text TEXT NOT NULL DEFAULT '', "
            "response_text TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL DEFAULT '', "
            "PRIMARY KEY (run_id, point_id, problem_id, sample_index));"
            "CREATE INDEX samples_by_problem ON samples (run_id, problem_id);"
            "CREATE TABLE schema_version (version INTEGER NOT NULL);"
            "INSERT INTO schema_version VALUES (1);"
            "INSERT INTO runs (config_hash, status) VALUES ('old', 'finished');"
            "INSERT INTO points (run_id, point_id, task, think_budget, seed) VALUES (1, 0, 'arith', 64, 17);"
            "INSERT INTO samples (run_id, point_id, problem_id, sample_index, extracted, gold, correct) "
            "VALUES (1, 0, 'p1', 0, '7', '7', 1);";
        char* err = nullptr;
        ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
        sqlite3_close(db);
    }
    // Read-only mode refuses an old schema with a hint instead of migrating.
    EXPECT_THROW(Store(path, STORE_MODE_READ_ONLY), Error);
    // Read-migrate (adabench runs) migrates an adabench store of an older schema, and only reads.
    {
        Store runs_view(path, STORE_MODE_READ_MIGRATE);
        EXPECT_EQ(runs_view.schema_version(), STORE_SCHEMA_VERSION);
        EXPECT_EQ(runs_view.list_runs().size(), 1u);
        EXPECT_THROW(runs_view.insert_run(make_run("x")), Error);
    }
    Store st(path);
    EXPECT_EQ(st.schema_version(), STORE_SCHEMA_VERSION);
    auto runs = st.list_runs();
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].config_hash, "old");
    EXPECT_EQ(runs[0].shards, "");
    EXPECT_EQ(st.list_points(1).at(0).base_seed, 17);
    SampleFilter f;
    f.run_id = 1;
    auto s = st.list_samples(f);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s[0].extracted_strict, "7");
    EXPECT_EQ(s[0].extracted_flexible, "7");
    EXPECT_TRUE(s[0].correct_strict);
    EXPECT_TRUE(s[0].correct_flexible);
    EXPECT_EQ(s[0].status, "ok");
    EXPECT_TRUE(s[0].token_exact);
    EXPECT_EQ(st.count_samples(1), 1);
    // New writes use the new columns.
    auto ns = make_sample(1, 0, "p2", 0);
    ns.extracted_flexible = "8";
    EXPECT_EQ(st.insert_samples({ns}), 1);
    f.problem_id = "p2";
    EXPECT_EQ(st.list_samples(f).at(0).extracted_flexible, "8");
    // A second open is a no-op; read-only now works.
    Store again(path, STORE_MODE_READ_ONLY);
    EXPECT_EQ(again.schema_version(), STORE_SCHEMA_VERSION);
}

TEST(Store, MigratesVersion2DatabaseWithRows) {
    auto path = temp_db("v2.db");
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
        // The version-2 schema as adabench wrote it before external engines (written out here, not
        // taken from schema.cpp).
        const char* v2 =
            "CREATE TABLE runs (id INTEGER PRIMARY KEY, config_json TEXT NOT NULL DEFAULT '', "
            "config_hash TEXT NOT NULL DEFAULT '', git_sha TEXT NOT NULL DEFAULT '', engine TEXT NOT NULL DEFAULT '', "
            "device TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', model_hash TEXT NOT NULL DEFAULT '', "
            "adapters_json TEXT NOT NULL DEFAULT '', merges_json TEXT NOT NULL DEFAULT '', "
            "datasets_json TEXT NOT NULL DEFAULT '', shards TEXT NOT NULL DEFAULT '', "
            "started_at TEXT NOT NULL DEFAULT '', finished_at TEXT NOT NULL DEFAULT '', "
            "status TEXT NOT NULL DEFAULT '', n_points INTEGER NOT NULL DEFAULT 0, "
            "n_samples_planned INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE points (run_id INTEGER NOT NULL DEFAULT 0, point_id INTEGER NOT NULL DEFAULT 0, "
            "task TEXT NOT NULL DEFAULT '', mechanism TEXT NOT NULL DEFAULT '', "
            "think_budget INTEGER NOT NULL DEFAULT 0, answer_budget INTEGER NOT NULL DEFAULT 0, "
            "min_think INTEGER NOT NULL DEFAULT 0, max_waits INTEGER NOT NULL DEFAULT 0, "
            "max_tokens INTEGER NOT NULL DEFAULT 0, adapters_json TEXT NOT NULL DEFAULT '', "
            "coefs_json TEXT NOT NULL DEFAULT '', lora_mode TEXT NOT NULL DEFAULT '', "
            "merge_method TEXT NOT NULL DEFAULT '', merge_lambda_json TEXT NOT NULL DEFAULT '', "
            "temperature REAL NOT NULL DEFAULT 0, top_p REAL NOT NULL DEFAULT 0, top_k INTEGER NOT NULL DEFAULT 0, "
            "n_samples INTEGER NOT NULL DEFAULT 0, base_seed INTEGER NOT NULL DEFAULT 0, "
            "prompt_template TEXT NOT NULL DEFAULT '', label TEXT NOT NULL DEFAULT '', "
            "PRIMARY KEY (run_id, point_id));"
            "CREATE TABLE samples (run_id INTEGER NOT NULL DEFAULT 0, point_id INTEGER NOT NULL DEFAULT 0, "
            "problem_id TEXT NOT NULL DEFAULT '', sample_index INTEGER NOT NULL DEFAULT 0, "
            "seed INTEGER NOT NULL DEFAULT 0, n_tokens_prompt INTEGER NOT NULL DEFAULT 0, "
            "n_tokens_think INTEGER NOT NULL DEFAULT 0, n_tokens_answer INTEGER NOT NULL DEFAULT 0, "
            "finish_reason TEXT NOT NULL DEFAULT '', forced INTEGER NOT NULL DEFAULT 0, "
            "n_wait INTEGER NOT NULL DEFAULT 0, censored INTEGER NOT NULL DEFAULT 0, "
            "extracted_strict TEXT NOT NULL DEFAULT '', extracted_flexible TEXT NOT NULL DEFAULT '', "
            "gold TEXT NOT NULL DEFAULT '', correct_strict INTEGER NOT NULL DEFAULT 0, "
            "correct_flexible INTEGER NOT NULL DEFAULT 0, latency_s REAL NOT NULL DEFAULT 0, "
            "prompt_text TEXT NOT NULL DEFAULT '', response_text TEXT NOT NULL DEFAULT '', "
            "created_at TEXT NOT NULL DEFAULT '', PRIMARY KEY (run_id, point_id, problem_id, sample_index));"
            "CREATE INDEX samples_by_problem ON samples (run_id, problem_id);"
            "CREATE TABLE schema_version (version INTEGER NOT NULL);"
            "INSERT INTO schema_version VALUES (2);"
            "INSERT INTO runs (config_hash, engine, shards, status) VALUES ('v2run', 'cpu', '0/2', 'finished');"
            "INSERT INTO points (run_id, point_id, task, think_budget, base_seed) VALUES (1, 0, 'arith', 64, 17);"
            "INSERT INTO samples (run_id, point_id, problem_id, sample_index, extracted_strict, extracted_flexible, "
            "gold, correct_strict, correct_flexible, response_text) "
            "VALUES (1, 0, 'p1', 0, '7', '7', '7', 1, 1, 'the answer is 7'), "
            "(1, 0, 'p2', 0, '3', '3', '4', 0, 0, 'the answer is 3');";
        char* err = nullptr;
        ASSERT_EQ(sqlite3_exec(db, v2, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
        sqlite3_close(db);
    }
    EXPECT_THROW(Store(path, STORE_MODE_READ_ONLY), Error);  // needs a read-write open first
    Store st(path);
    EXPECT_EQ(st.schema_version(), STORE_SCHEMA_VERSION);
    auto run = st.get_run(1);
    ASSERT_TRUE(run.has_value());
    EXPECT_EQ(run->config_hash, "v2run");
    EXPECT_EQ(run->shards, "0/2");
    EXPECT_EQ(run->engine_json, "");
    SampleFilter f;
    f.run_id = 1;
    auto s = st.list_samples(f);
    ASSERT_EQ(s.size(), 2u);
    for (const auto& x : s) {
        EXPECT_EQ(x.status, "ok") << x.problem_id;
        EXPECT_TRUE(x.token_exact) << x.problem_id;
        EXPECT_EQ(x.error, "");
        EXPECT_EQ(x.engine_json, "");
        // 3 -> 4: nothing was measured
        EXPECT_EQ(x.n_tokens_prefilled, -1);
        EXPECT_EQ(x.answer_conf, -1.0);
        EXPECT_EQ(x.answer_ppl, 0.0);
        EXPECT_EQ(x.prompt_ppl, 0.0);
    }
    EXPECT_EQ(s[0].response_text, "the answer is 7");
    EXPECT_FALSE(s[1].correct_strict);
    // Old rows are done for resume; the upsert works on the migrated table.
    EXPECT_EQ(st.sample_keys(1).size(), 2u);
    EXPECT_EQ(st.count_samples(1), 2);
    EXPECT_EQ(st.insert_samples({make_failed(1, 0, "p3", 0, "2026-01-01T00:00:00Z")}), 1);
    EXPECT_EQ(st.insert_samples({make_sample(1, 0, "p3", 0)}), 1);
    EXPECT_EQ(st.insert_samples({make_failed(1, 0, "p1", 0, "2027-01-01T00:00:00Z")}), 0);
    EXPECT_EQ(st.count_samples(1), 3);
    EXPECT_EQ(st.count_failed_samples(1), 0);
    Store again(path, STORE_MODE_READ_ONLY);
    EXPECT_EQ(again.schema_version(), STORE_SCHEMA_VERSION);
}

TEST(Store, RefusesNewerSchema) {
    auto path = temp_db("newer.db");
    { Store st(path); }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    try {
        Store st(path);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
    }
}

TEST(StoreExport, CsvQuotesAndColumnsComeFromTheFieldList) {
    auto cols = store_export_columns();
    ASSERT_GE(cols.size(), 10u);
    EXPECT_EQ(cols[0], "run_id");
    EXPECT_EQ(cols[1], "point_id");
    std::string header = store_export_csv_header();
    EXPECT_NE(header.find("think_budget"), std::string::npos);
    EXPECT_NE(header.find("correct_flexible"), std::string::npos);
    auto p = make_point(3, 4, "arith", 64);
    auto s = make_sample(3, 4, "id,1", 0);
    s.response_text = "line1\nhe said \"hi\", ok";
    std::string row = store_export_csv_row(p, s);
    EXPECT_EQ(row.rfind("3,4,arith,hard_cut,64,", 0), 0u) << row;
    EXPECT_NE(row.find("\"id,1\""), std::string::npos) << row;
    EXPECT_NE(row.find("\"line1\nhe said \"\"hi\"\", ok\""), std::string::npos) << row;
    EXPECT_NE(row.find("\"[\"\"lora-long\"\"]\""), std::string::npos) << row;
    // Same number of fields as the header when parsed with quotes respected.
    size_t n_fields = 1;
    bool in_q = false;
    for (char c : row) {
        if (c == '"') in_q = !in_q;
        if (c == ',' && !in_q) ++n_fields;
    }
    EXPECT_EQ(n_fields, cols.size());
}

TEST(StoreExport, JsonlIsTypedAndEmbedsJsonColumns) {
    auto p = make_point(1, 2, "arith", 64);
    auto s = make_sample(1, 2, "q", 0);
    s.response_text = "bad utf8 \xff end";
    auto line = store_export_jsonl_row(p, s);
    ASSERT_EQ(line.back(), '\n');
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["think_budget"], 64);
    EXPECT_EQ(j["correct_strict"], true);
    EXPECT_EQ(j["coefs_json"], nlohmann::json::array({0.5}));
    EXPECT_EQ(j["problem_id"], "q");
    EXPECT_EQ(j["status"], "ok");
    EXPECT_EQ(j["token_exact"], true);
    EXPECT_EQ(j.size(), store_export_columns().size());  // also: no two columns share a name
    // A failed sample exports its status and error; engine_json is embedded as JSON.
    auto fs = make_failed(1, 2, "q", 0, "2026-01-01T00:00:00Z");
    fs.token_exact = false;
    auto jf = nlohmann::json::parse(store_export_jsonl_row(p, fs));
    EXPECT_EQ(jf["status"], "failed_infra");
    EXPECT_NE(jf["error"].get<std::string>().find("connection refused"), std::string::npos);
    EXPECT_EQ(jf["token_exact"], false);
    EXPECT_EQ(jf["engine_json"]["attempts"], 6);
    std::string header = store_export_csv_header();
    for (const char* c : {",status,", ",error,", ",token_exact,", ",engine_json,"})
        EXPECT_NE(header.find(c), std::string::npos) << c << " in " << header;
    EXPECT_NE(store_export_csv_row(p, fs).find(",failed_infra,"), std::string::npos);
}
