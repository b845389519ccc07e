// Issue 20 at the command line (D3, D5, D11, D12): the real adabench binary is run on bad inputs
// and must answer with one error line naming the file or flag, a non-zero exit, bounded memory,
// and nothing stored lost: huge grids are sized arithmetically, temporary output files are never
// followed through planted links and never left behind, a full device is an error, and invalid
// UTF-8 in a task config is escaped rather than echoed.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/store.h"

namespace fs = std::filesystem;

namespace {

const std::string kAdabench = std::string(ADABENCH_BINARY_DIR) + "/harness/cli/adabench";
const std::string kRoot = ADABENCH_SOURCE_DIR;
const std::string kOrganism = kRoot + "/models/organism";

struct CliRun {
    int rc = -1;
    std::string out;      // stdout and stderr together
    long max_rss_kb = 0;  // the child's peak resident memory
};

// Runs adabench in the repository root with a 60 s alarm (a hang fails instead of blocking).
CliRun run(const std::vector<std::string>& args) {
    std::string log = testing::TempDir() + "cli_issue20_" + std::to_string(getpid()) + ".log";
    pid_t pid = fork();
    if (pid == 0) {
        FILE* f = std::fopen(log.c_str(), "w");
        if (!f || chdir(kRoot.c_str()) != 0) _exit(126);
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
        alarm(60);
        std::vector<char*> argv{const_cast<char*>(kAdabench.c_str())};
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    CliRun r;
    int status = 0;
    struct rusage ru {};
    wait4(pid, &status, 0, &ru);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.max_rss_kb = ru.ru_maxrss;
    std::ifstream in(log, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    r.out = ss.str();
    return r;
}

bool has(const CliRun& r, const std::string& text) { return r.out.find(text) != std::string::npos; }

std::string fresh_dir(const std::string& name) {
    std::string d = testing::TempDir() + "cli_issue20_" + name;
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

std::vector<std::string> listing(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A store with one finished run of task "arith" (two points, no samples).
std::string make_store(const std::string& dir) {
    std::string db = dir + "/runs.db";
    adabench::Store st(db);
    adabench::RunRecord r;
    r.config_json = R"({"tasks":[{"name":"arith"}]})";
    r.config_hash = "h";
    r.git_sha = "abc";
    r.engine = "cpu";
    r.status = "finished";
    r.started_at = adabench::store_now_iso8601();
    int64_t id = st.insert_run(r);
    std::vector<adabench::PointRecord> pts;
    for (int i = 0; i < 2; ++i) {
        adabench::PointRecord p;
        p.run_id = id;
        p.point_id = i;
        p.task = "arith";
        p.mechanism = "hard_cut";
        p.think_budget = 16 << i;
        p.coefs_json = "[]";
        p.adapters_json = "[]";
        pts.push_back(p);
    }
    st.insert_points(pts);
    return db;
}

}  // namespace

// D3: 10001 x 10001 coefficient vectors took 3 GB before the size was checked.
TEST(CliIssue20, HugeAdapterProductIsRefusedWithItsSizeInBoundedMemory) {
    CliRun r =
        run({"sweep", "--model", kOrganism + "/base", "--task", "arith", "--adapter",
             kOrganism + "/lora-long=0:1:0.0001", "--adapter", kOrganism + "/lora-short=0:1:0.0001", "--dry-run"});
    EXPECT_NE(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r, "the adapter coefficient product has 100020001 vectors (10001 x 10001)")) << r.out;
    EXPECT_LT(r.max_rss_kb, 300 * 1024) << r.out;
}

// D3: --n 1000000000 grew without end; --dry-run prints the size, then refuses.
TEST(CliIssue20, HugeSampleCountDryRunPrintsTheSizeAndRefuses) {
    CliRun r = run({"sweep", "--model", kOrganism + "/base", "--task", "arith", "--limit", "10", "--n", "1000000000",
                    "--dry-run"});
    EXPECT_NE(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r, "1 grid points, 1 weight compositions, 10000000000 samples (10000000000 engine requests)"))
        << r.out;
    EXPECT_TRUE(has(r, "error: command line: the grid needs 10000000000 engine requests")) << r.out;
    EXPECT_LT(r.max_rss_kb, 300 * 1024) << r.out;
}

// D11: strtod read "0x10" as 16.
TEST(CliIssue20, HexCoefficientIsAnError) {
    CliRun r = run({"sweep", "--model", kOrganism + "/base", "--task", "arith", "--adapter",
                    kOrganism + "/lora-long=0x10", "--dry-run"});
    EXPECT_NE(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r, "'0x10' is not a decimal number")) << r.out;
    r = run(
        {"generate", "--model", kOrganism + "/base", "--prompt", "1+1", "--adapter", kOrganism + "/lora-long=0x10"});
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r, "is not DIR=COEF")) << r.out;
}

// D11: a task listed twice ran twice.
TEST(CliIssue20, TaskListedTwiceIsAnError) {
    CliRun r = run({"sweep", "--model", kOrganism + "/base", "--task", "arith", "--task", "arith", "--dry-run"});
    EXPECT_NE(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r, "task 'arith' is listed twice")) << r.out;
}

// D11: --reference-tokens -5 and nan were ignored.
TEST(CliIssue20, BadReferenceTokensAreUsageErrors) {
    std::string dir = fresh_dir("reftok");
    std::string db = make_store(dir);
    for (const char* v : {"-5", "nan", "0x10", "0"}) {
        CliRun r = run({"report", "--db", db, "--reference-tokens", v, "--format", "console"});
        EXPECT_EQ(r.rc, 2) << v << ": " << r.out;
        EXPECT_TRUE(has(r, "--reference-tokens")) << v << ": " << r.out;
    }
}

// D11: export --task nope exited 0 having exported nothing.
TEST(CliIssue20, ExportOfAnUnknownTaskIsAnError) {
    std::string dir = fresh_dir("export_task");
    std::string db = make_store(dir);
    CliRun r = run({"export", "--db", db, "--task", "nope", "--output", dir + "/out.csv"});
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r, "--task nope: run 1 has no such task (hint: its tasks: arith)")) << r.out;
    EXPECT_FALSE(fs::exists(dir + "/out.csv"));
    r = run({"export", "--db", db, "--task", "arith", "--output", dir + "/out.csv"});
    EXPECT_EQ(r.rc, 0) << r.out;
}

// D11 / D12: a directory where a file is expected.
TEST(CliIssue20, DirectoriesGivenAsFilesAreNamed) {
    std::string dir = fresh_dir("dirs");
    CliRun r = run({"grade", "--input", dir});
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has(r, dir + ": is a directory")) << r.out;
    r = run({"sweep", "--config", dir, "--dry-run"});
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has(r, dir + ": is a directory")) << r.out;
    EXPECT_FALSE(has(r, "malformed JSON")) << r.out;
}

// D5: -o DIR wrote DIR.tmp into the parent; a planted <out>.tmp link was followed.
TEST(CliIssue20, ReportOutputNeverFollowsPlantedLinksOrLeavesTemporaries) {
    std::string dir = fresh_dir("report_out");
    std::string db = make_store(dir);
    fs::create_directories(dir + "/out");
    CliRun r = run({"report", "--db", db, "-o", dir + "/out", "--format", "csv"});
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has(r, dir + "/out: is a directory")) << r.out;
    EXPECT_FALSE(fs::exists(dir + "/out.tmp"));

    std::ofstream(dir + "/victim") << "precious";
    fs::create_symlink(dir + "/victim", dir + "/r.csv.tmp");
    r = run({"report", "--db", db, "-o", dir + "/r.csv"});
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(read(dir + "/victim"), "precious");
    EXPECT_NE(read(dir + "/r.csv"), "");
    std::vector<std::string> want = {"out", "r.csv", "r.csv.tmp", "runs.db", "victim"};
    std::vector<std::string> got;
    for (const auto& n : listing(dir))
        if (n.find("runs.db-") != 0) got.push_back(n);  // a store's -wal/-shm come and go
    EXPECT_EQ(got, want);
}

// D5 / D12: --dump-logits /dev/full reported success (and, as root, replaced the device).
TEST(CliIssue20, DumpLogitsToAFullDeviceFails) {
    struct stat st;
    if (::stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode)) GTEST_SKIP() << "no /dev/full";
    CliRun r = run({"generate", "--model", kOrganism + "/base", "--prompt", "1+1=", "--max-tokens", "3", "--threads",
                    "1", "--dump-logits", "/dev/full"});
    EXPECT_EQ(r.rc, 1) << r.out;
    EXPECT_TRUE(has(r, "/dev/full: write failed")) << r.out;
    EXPECT_FALSE(has(r, "wrote ")) << r.out;
    ASSERT_EQ(::stat("/dev/full", &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
}

// D4: --threads 2000 hung in the thread pool's constructor under limits.
TEST(CliIssue20, TooManyThreadsIsAUsageError) {
    CliRun r = run({"generate", "--model", kOrganism + "/base", "--prompt", "1+1=", "--threads", "2000"});
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r, "--threads 2000 is more than 1024 CPU threads")) << r.out;
    r = run({"sweep", "--model", kOrganism + "/base", "--task", "arith", "--threads", "2000", "--dry-run"});
    EXPECT_NE(r.rc, 0) << r.out;
    EXPECT_TRUE(has(r, "key 'threads' must be at most 1024")) << r.out;
}

// D12: nightly --out-dir FILE printed a raw filesystem_error.
TEST(CliIssue20, NightlyOutDirThatIsAFileIsOneLine) {
    std::string dir = fresh_dir("nightly");
    std::ofstream(dir + "/file") << "x";
    CliRun r = run({"nightly", "configs/nightly.json", "--db", dir + "/n.db", "--out-dir", dir + "/file"});
    EXPECT_EQ(r.rc, 2) << r.out;
    EXPECT_TRUE(has(r, "error: adabench nightly: --out-dir " + dir + "/file: cannot create this directory")) << r.out;
    EXPECT_FALSE(has(r, "filesystem error")) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_FALSE(fs::exists(dir + "/n.db"));
}

// D12: invalid UTF-8 in a task config: tasks --json threw the JSON library's exception.
TEST(CliIssue20, InvalidUtf8InATaskConfigIsEscaped) {
    std::string dir = fresh_dir("utf8");
    fs::create_directories(dir + "/configs/tasks");
    std::ofstream(dir + "/configs/tasks/bad.json", std::ios::binary)
        << "{\"name\": \"bad\", \"version\": \"1\", \"description\": \"caf\xe9 \xff\xfe\"}";
    for (bool as_json : {true, false}) {
        std::vector<std::string> args = {"tasks", "--root", dir};
        if (as_json) args.push_back("--json");
        CliRun r = run(args);
        EXPECT_EQ(r.rc, 1) << r.out;
        EXPECT_EQ(r.out.find('\xff'), std::string::npos) << "raw bytes echoed";
        EXPECT_EQ(r.out.find('\xe9'), std::string::npos) << "raw bytes echoed";
        EXPECT_TRUE(has(r, "bad.json: malformed JSON")) << r.out;
        if (as_json) {
            auto j = nlohmann::json::parse(r.out, nullptr, false);
            ASSERT_FALSE(j.is_discarded()) << r.out;
            ASSERT_TRUE(j.is_array() && j.size() == 1) << r.out;
            EXPECT_EQ(j[0]["verified"], "ERROR");
        }
    }
}
