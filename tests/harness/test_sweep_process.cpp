// Process-level sweep tests: a real sweep process (the adabench sweep command over the fake engine)
// is SIGKILLed at random moments and resumed until done; the final table must equal an uninterrupted
// run's, with nothing lost and nothing duplicated. SIGINT must finish the batch, commit and exit 130
// with the run marked "interrupted". Then the runs / export / merge-db commands of the real adabench
// binary are checked by pattern on those stores, and a sweep whose server keeps failing for some
// prompts ends "partial" (exit 3), says so everywhere, and is completed by running it again.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "fake_task.h"
#include "store/store.h"
#include "sweep_test_util.h"

using namespace adabench;
using namespace adabench::testing;

namespace {

const std::string kDriver = std::string(ADABENCH_BINARY_DIR) + "/tests/harness/sweep-driver";
const std::string kAdabench = std::string(ADABENCH_BINARY_DIR) + "/harness/cli/adabench";

pid_t spawn(const std::vector<std::string>& argv, const std::string& log, int sleep_ms) {
    pid_t pid = fork();
    if (pid == 0) {
        std::string s = std::to_string(sleep_ms);
        setenv("ADABENCH_FAKE_SLEEP_MS", s.c_str(), 1);
        setenv("ADABENCH_PROGRESS_INTERVAL", "0", 1);
        FILE* f = std::fopen(log.c_str(), "a");
        if (f) {
            dup2(fileno(f), 1);
            dup2(fileno(f), 2);
        }
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    return pid;
}

int wait_exit(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::vector<std::string> sweep_args(const std::string& task, const std::string& db) {
    return {kDriver,
            "sweep",
            "--model",
            "fake-model",
            "--task",
            task,
            "--think-budgets",
            "8,16,32,64",
            "--n",
            "2",
            "--temperature",
            "0.5",
            "--prompt-template",
            "plain",
            "--batch-size",
            "3",
            "--progress",
            "plain",
            "--db",
            db};
}

std::string run_capture(const std::string& cmd, int* rc) {
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) return out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int st = pclose(p);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return out;
}

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

}  // namespace

TEST(SweepProcess, SigkillAtRandomMomentsLosesAndDuplicatesNothing) {
    std::string dir = temp_dir("kill");
    std::string task = fake_task_write(dir, "fake", 30);
    std::string log = dir + "/log.txt";
    // The uninterrupted reference.
    ASSERT_EQ(wait_exit(spawn(sweep_args(task, dir + "/ref.db"), log, 0)), 0) << slurp(log);
    Store ref(dir + "/ref.db", STORE_MODE_READ_ONLY);
    auto expected = dump_samples(ref, 1);
    ASSERT_EQ(expected.size(), 30u * 2 * 4);

    std::random_device rd;
    unsigned seed = rd();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> delay_ms(0, 250);
    std::string db = dir + "/killed.db";
    int kills = 0;
    // 40 ms per engine call and 20 calls make a whole run last at least 800 ms, longer than any
    // drawn delay, so the first round is always killed mid-run even on a fast, idle machine
    // (later rounds resume and may finish; that is part of what is tested).
    for (int round = 0; round < 8; ++round) {
        pid_t pid = spawn(sweep_args(task, db), log, 40);
        int d = delay_ms(rng);
        std::this_thread::sleep_for(std::chrono::milliseconds(d));
        kill(pid, SIGKILL);
        int rc = wait_exit(pid);
        if (rc == 128 + SIGKILL)
            ++kills;
        else
            ASSERT_EQ(rc, 0) << "round " << round << " seed " << seed << "\n" << slurp(log);
    }
    EXPECT_GT(kills, 0) << "no kill landed (seed " << seed << ")";
    ASSERT_EQ(wait_exit(spawn(sweep_args(task, db), log, 0)), 0) << slurp(log);
    Store got(db, STORE_MODE_READ_ONLY);
    ASSERT_EQ(got.list_runs().size(), 1u) << "seed " << seed;
    EXPECT_EQ(got.get_run(1)->status, "finished");
    EXPECT_EQ(got.count_samples(1), static_cast<int64_t>(expected.size()));
    EXPECT_EQ(dump_samples(got, 1), expected) << "seed " << seed;
}

TEST(SweepProcess, SigintFinishesTheBatchAndExitsCleanly) {
    std::string dir = temp_dir("sigint");
    std::string task = fake_task_write(dir, "fake", 30);
    std::string log = dir + "/log.txt";
    std::string db = dir + "/r.db";
    pid_t pid = spawn(sweep_args(task, db), log, 60);
    // Interrupt once the first batch is committed (polled, at most 20 s), so a slow start (ASan,
    // a loaded machine) cannot make the test interrupt a sweep that has stored nothing yet.
    for (int i = 0; i < 1000; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        try {
            Store probe(db, STORE_MODE_READ_ONLY);
            if (probe.count_samples(1) > 0) break;
        } catch (const std::exception&) {
            // not created yet
        }
    }
    kill(pid, SIGINT);
    EXPECT_EQ(wait_exit(pid), 130) << slurp(log);
    {
        Store st(db, STORE_MODE_READ_ONLY);
        auto run = *st.get_run(1);
        EXPECT_EQ(run.status, "interrupted");
        int64_t n = st.count_samples(1);
        EXPECT_GT(n, 0);
        EXPECT_LT(n, 240);
        EXPECT_EQ(n % 4, 0) << "a batch was half committed";  // every request carries 4 budgets
    }
    EXPECT_NE(slurp(log).find("run the same command again to resume"), std::string::npos) << slurp(log);
    ASSERT_EQ(wait_exit(spawn(sweep_args(task, db), log, 0)), 0) << slurp(log);
    Store st(db, STORE_MODE_READ_ONLY);
    EXPECT_EQ(st.get_run(1)->status, "finished");
    EXPECT_EQ(st.count_samples(1), 240);
    // Plain progress lines (not a TTY): done/total, tokens/s, ETA.
    std::regex line(R"(run 1: \d+/240 samples \([0-9.]+%\), [0-9.]+ tokens/s, elapsed \d+s, ETA [0-9hms?]+)");
    EXPECT_TRUE(std::regex_search(slurp(log), line)) << slurp(log);
}

TEST(SweepProcess, FailedInfraSamplesEndPartialAndTheSameCommandCompletesThem) {
    std::string dir = temp_dir("failed-infra");
    std::string task = fake_task_write(dir, "fake", 5);
    std::string db = dir + "/r.db";
    std::string cmd;
    for (const auto& a : sweep_args(task, db)) cmd += "'" + a + "' ";
    int rc = 0;
    // fake-1 ("Q: 7+13") fails at every budget: 2 samples x 4 budgets of 40.
    std::string out = run_capture("ADABENCH_FAKE_FAIL='Q: 7+13<' " + cmd, &rc);
    EXPECT_EQ(rc, 3) << out;
    EXPECT_NE(out.find("run 1: partial, 32/40 samples stored (40 written now)"), std::string::npos) << out;
    EXPECT_NE(out.find("8 samples failed (infrastructure)"), std::string::npos) << out;
    out = run_capture(kAdabench + " runs --db " + db, &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n1 +partial +32/40 +8 +\d{4}-)"))) << out;
    EXPECT_NE(out.find("run the same sweep command again to re-issue them"), std::string::npos) << out;
    out = run_capture(kAdabench + " runs --db " + db + " --json", &rc);
    EXPECT_NE(out.find("\"samples_stored\": 32"), std::string::npos) << out;
    EXPECT_NE(out.find("\"samples_failed\": 8"), std::string::npos) << out;
    out = run_capture(kAdabench + " report --db " + db, &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("samples=32  failed=8"), std::string::npos) << out;
    out = run_capture(kAdabench + " export --db " + db + " --format jsonl --no-text", &rc);
    EXPECT_EQ(rc, 0) << out;
    size_t n_failed_lines = 0;
    for (size_t p = out.find("\"status\":\"failed_infra\""); p != std::string::npos;
         p = out.find("\"status\":\"failed_infra\"", p + 1))
        ++n_failed_lines;
    EXPECT_EQ(n_failed_lines, 8u) << out.substr(0, 600);
    EXPECT_NE(out.find("\"error\":\"http://127.0.0.1:1/v1/completions: connection refused"), std::string::npos);
    // The server is back: the same command re-issues the 8 failed samples and nothing else.
    out = run_capture(cmd, &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("run 1: finished, 40/40 samples stored (8 written now)"), std::string::npos) << out;
    out = run_capture(kAdabench + " runs --db " + db, &rc);
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n1 +finished +40/40 +0 +\d{4}-)"))) << out;
    Store st(db, STORE_MODE_READ_ONLY);
    EXPECT_EQ(st.count_failed_samples(1), 0);
    SampleFilter f;
    f.run_id = 1;
    EXPECT_EQ(st.list_samples(f).size(), 40u);
}

TEST(SweepProcess, CliRunsExportMergeDb) {
    std::string dir = temp_dir("cli");
    std::string task = fake_task_write(dir, "fake", 5);
    std::string log = dir + "/log.txt";
    for (int i = 0; i < 2; ++i) {
        auto args = sweep_args(task, dir + "/s" + std::to_string(i) + ".db");
        args.push_back("--shard");
        args.push_back(std::to_string(i) + "/2");
        ASSERT_EQ(wait_exit(spawn(args, log, 0)), 0) << slurp(log);
    }
    ASSERT_EQ(wait_exit(spawn(sweep_args(task, dir + "/whole.db"), log, 0)), 0) << slurp(log);
    int rc = 0;
    std::string out = run_capture(kAdabench + " merge-db " + dir + "/m.db " + dir + "/s0.db " + dir + "/s1.db", &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(run 1: finished, 40/40 samples, shards 0/2,1/2)"))) << out;
    {
        Store m(dir + "/m.db", STORE_MODE_READ_ONLY);
        Store w(dir + "/whole.db", STORE_MODE_READ_ONLY);
        EXPECT_EQ(dump_samples(m, 1), dump_samples(w, 1));
    }
    out = run_capture(kAdabench + " runs --db " + dir + "/m.db", &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n1 +finished\* +40/40 +0 +\d{4}-\d\d-\d\dT)"))) << out;
    out = run_capture(kAdabench + " runs --db " + dir + "/m.db --json", &rc);
    EXPECT_NE(out.find("\"samples_stored\": 40"), std::string::npos) << out;
    EXPECT_NE(out.find("\"samples_failed\": 0"), std::string::npos) << out;

    out = run_capture(kAdabench + " export --db " + dir + "/m.db --run latest --format csv --output " + dir + "/x.csv",
                      &rc);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("exported 40 samples of run 1 (csv)"), std::string::npos) << out;
    std::string csv = slurp(dir + "/x.csv");
    EXPECT_EQ(csv.rfind("run_id,point_id,task,mechanism,think_budget,", 0), 0u) << csv.substr(0, 200);
    size_t records = 0;  // record ends: line breaks outside quoted fields (responses hold newlines)
    bool quoted = false;
    for (char ch : csv) {
        if (ch == '"') quoted = !quoted;
        if (ch == '\n' && !quoted) ++records;
    }
    EXPECT_FALSE(quoted);
    EXPECT_EQ(records, 41u);  // header + 40
    EXPECT_NE(csv.find("\"tttttttt\n</think>\n\n**Final Answer:**\n\n\\boxed{"), std::string::npos);
    out = run_capture(kAdabench + " export --db " + dir + "/m.db --run 1 --format jsonl --no-text", &rc);
    EXPECT_EQ(rc, 0);
    EXPECT_NE(out.find("\"think_budget\":64"), std::string::npos) << out.substr(0, 400);
    EXPECT_NE(out.find("\"response_text\":\"\""), std::string::npos);

    // Errors: one clear line and a non-zero exit.
    out = run_capture(kAdabench + " export --db " + dir + "/m.db --run 7", &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("no run 7"), std::string::npos) << out;
    out = run_capture(kAdabench + " export --db " + dir + "/m.db --format xml", &rc);
    EXPECT_EQ(rc, 2);
    out = run_capture(kAdabench + " runs --db " + dir + "/missing.db", &rc);
    EXPECT_EQ(rc, 1);
    EXPECT_NE(out.find("no such store"), std::string::npos) << out;
    // A shard of another sweep is refused, and nothing is written.
    auto args = sweep_args(task, dir + "/other.db");
    args.push_back("--seed");
    args.push_back("5");
    ASSERT_EQ(wait_exit(spawn(args, log, 0)), 0) << slurp(log);
    out = run_capture(kAdabench + " merge-db " + dir + "/m2.db " + dir + "/s0.db " + dir + "/other.db", &rc);
    EXPECT_EQ(rc, 1) << out;
    EXPECT_NE(out.find("refusing to merge"), std::string::npos) << out;
    EXPECT_FALSE(std::ifstream(dir + "/m2.db").good());
    // Resuming with a changed config is refused with a clear message.
    auto changed = sweep_args(task, dir + "/whole.db");
    changed.push_back("--resume");
    changed.push_back("1");
    changed.push_back("--seed");
    changed.push_back("9");
    std::string clog = dir + "/changed.txt";
    EXPECT_EQ(wait_exit(spawn(changed, clog, 0)), 1);
    EXPECT_NE(slurp(clog).find("cannot resume run 1"), std::string::npos) << slurp(clog);
}

// The same SIGKILL test on the real adabench binary and the real CPU engine (tiny random Qwen2):
// kill delays are drawn across the measured length of an uninterrupted run.
TEST(SweepProcess, SigkillRealBinaryRealEngine) {
    namespace fs = std::filesystem;
    std::string src = ADABENCH_SOURCE_DIR;
    std::string dir = temp_dir("kill-real");
    fs::create_directories(dir + "/tiny");
    for (const char* f : {"config.json", "model.safetensors"})
        fs::copy_file(src + "/tests/fixtures/models/qwen2-tiny-random/" + f, dir + "/tiny/" + f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(src + "/tests/fixtures/tokenizer/organism_mini/" + f, dir + "/tiny/" + f);
    std::string task = fake_task_write(dir, "fake", 24);
    auto args = [&](const std::string& db) {
        return std::vector<std::string>{kAdabench,
                                        "sweep",
                                        "--model",
                                        dir + "/tiny",
                                        "--task",
                                        task,
                                        "--prompt-template",
                                        "plain",
                                        "--think-budgets",
                                        "4,8,16",
                                        "--answer-budget",
                                        "8",
                                        "--max-tokens",
                                        "40",
                                        "--temperature",
                                        "0.8",
                                        "--n",
                                        "2",
                                        "--batch-size",
                                        "4",
                                        "--threads",
                                        "1",
                                        "--progress",
                                        "none",
                                        "--db",
                                        db};
    };
    std::string log = dir + "/log.txt";
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(wait_exit(spawn(args(dir + "/ref.db"), log, 0)), 0) << slurp(log);
    int ref_ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    Store ref(dir + "/ref.db", STORE_MODE_READ_ONLY);
    auto expected = dump_samples(ref, 1);
    ASSERT_EQ(expected.size(), 24u * 2 * 3);

    std::random_device rd;
    unsigned seed = rd();
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> delay_ms(0, ref_ms + ref_ms / 5);
    std::string db = dir + "/killed.db";
    for (int round = 0; round < 6; ++round) {
        pid_t pid = spawn(args(db), log, 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
        kill(pid, SIGKILL);
        int rc = wait_exit(pid);
        ASSERT_TRUE(rc == 0 || rc == 128 + SIGKILL) << "seed " << seed << "\n" << slurp(log);
    }
    ASSERT_EQ(wait_exit(spawn(args(db), log, 0)), 0) << slurp(log);
    Store got(db, STORE_MODE_READ_ONLY);
    ASSERT_EQ(got.list_runs().size(), 1u) << "seed " << seed;
    EXPECT_EQ(got.get_run(1)->status, "finished");
    EXPECT_EQ(dump_samples(got, 1), expected) << "seed " << seed << ", reference run " << ref_ms << " ms";
}

// End to end with the real engine: a tiny random Qwen2 (the engines' fixture) with the organism's
// mini tokenizer and a LoRA adapter, through the real `adabench sweep`. Random weights make
// nonsense text, which is the point: grading, storing and resuming must hold up on it, and the
// samples must not depend on the batch size (the engine's batch invariance, seen from the harness).
TEST(SweepProcess, EndToEndTinyModelRealEngine) {
    namespace fs = std::filesystem;
    std::string src = ADABENCH_SOURCE_DIR;
    std::string dir = temp_dir("e2e");
    fs::create_directories(dir + "/tiny");
    for (const char* f : {"config.json", "model.safetensors"})
        fs::copy_file(src + "/tests/fixtures/models/qwen2-tiny-random/" + f, dir + "/tiny/" + f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(src + "/tests/fixtures/tokenizer/organism_mini/" + f, dir + "/tiny/" + f);
    std::string task = fake_task_write(dir, "fake", 4);
    auto cmd = [&](const std::string& db, int batch) {
        return kAdabench + " sweep --model " + dir + "/tiny --task " + task +
               " --prompt-template plain --think-budgets 4,8,16 --answer-budget 8 --max-tokens 40"
               " --adapter " +
               src +
               "/tests/fixtures/models/qwen2-tiny-lora-a=0:1:0.5"
               " --temperature 0.8 --n 2 --progress none --batch-size " +
               std::to_string(batch) + " --db " + db;
    };
    int rc = 0;
    std::string out = run_capture(cmd(dir + "/b1.db", 1), &rc);
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("run 1: finished, 72/72 samples stored (72 written now)"), std::string::npos) << out;
    out = run_capture(cmd(dir + "/b16.db", 16), &rc);
    ASSERT_EQ(rc, 0) << out;
    out = run_capture(cmd(dir + "/b16.db", 16), &rc);  // resume: nothing left to do
    ASSERT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("(0 written now)"), std::string::npos) << out;
    Store a(dir + "/b1.db", STORE_MODE_READ_ONLY), b(dir + "/b16.db", STORE_MODE_READ_ONLY);
    EXPECT_EQ(dump_samples(a, 1), dump_samples(b, 1));
    auto run = *a.get_run(1);
    EXPECT_EQ(run.engine, "cpu");
    EXPECT_EQ(run.model_hash.size(), 64u);
    EXPECT_NE(run.adapters_json.find("\"sha256\""), std::string::npos);
    SampleFilter f;
    f.run_id = 1;
    int forced = 0;
    for (const auto& s : a.list_samples(f)) {
        auto p = a.list_points(1).at(static_cast<size_t>(s.point_id));
        EXPECT_LE(s.n_tokens_think, p.think_budget) << s.response_text;
        forced += s.forced;
        EXPECT_FALSE(s.finish_reason.empty());
    }
    EXPECT_GT(forced, 0);
}
