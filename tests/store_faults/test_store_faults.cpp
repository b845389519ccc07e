// Storage faults (issue #20 item 2, D8, D14, D15): a sweep and merge-db hit by a failed write, sync,
// truncate or lock at every point where they touch the disk (counted in a clean run, then failed
// one index at a time through the adabench-fault VFS) stop with one clear line, keep what was
// committed, and the same command then yields exactly the rows of an uninterrupted run; a failed
// merge leaves OUT as it was (or absent). Two sweeps writing one store at once lose and duplicate
// nothing. Files that must not be written (not SQLite, another program's database, a newer schema,
// write-protected, an empty file given to a read-only command) are refused and left byte-for-byte
// untouched, and a WAL store in a folder the user cannot write is still readable.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "../harness/fake_engine.h"
#include "../harness/fake_task.h"
#include "../harness/sweep_test_util.h"
#include "common/error.h"
#include "fault_vfs.h"
#include "harness/cli/commands.h"
#include "harness/sweep.h"

namespace fs = std::filesystem;
using namespace adabench;
using namespace adabench::testing;
using json = nlohmann::json;

namespace {

struct Fixture {
    std::string dir;
    SweepConfig config;
    std::vector<Dataset> tasks;
};

// A tiny grid: 3 problems x 2 budgets, batches of 2 requests: two sample batches per sweep.
Fixture make_fixture(const std::string& name, const json& extra = json::object()) {
    Fixture f;
    f.dir = temp_dir("faults-" + name);
    std::string task = fake_task_write(f.dir, "fake", 3);
    json j = {{"model", "fake-model"},
              {"tasks", {{{"name", task}}}},
              {"prompt_template", "plain"},
              {"budgets", {{{"mechanism", "hard_cut"}, {"think_budgets", {16, 64}}}}},
              {"batch_size", 2}};
    j.update(extra);
    f.config = sweep_config_parse(j, "test.json");
    sweep_config_validate(f.config, "test.json");
    f.tasks = sweep_load_tasks(f.config);
    return f;
}

SweepOptions quiet(const std::string& shard = "") {
    SweepOptions o;
    o.progress = PROGRESS_MODE_NONE;
    if (!shard.empty()) o.shard = sweep_parse_shard(shard);
    return o;
}

// The rows of an uninterrupted sweep of f into a fresh store (f.dir/clean.db): the reference.
std::vector<std::string> clean_run_rows(const Fixture& f) {
    std::string clean = f.dir + "/clean.db";
    {
        Store st(clean);
        FakeProvider prov;
        sweep_run(f.config, f.tasks, prov, st, quiet());
    }
    Store st(clean, STORE_MODE_READ_ONLY);
    return dump_samples(st, 1);
}

void remove_db(const std::string& path) {
    for (const char* s : {"", "-wal", "-shm", "-journal"}) fs::remove(path + s);
}

std::string read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream o;
    o << f.rdbuf();
    return o.str();
}

// Everything a reader sees of a store: runs (without times) and every sample row.
std::vector<std::string> dump_store(const std::string& path) {
    Store st(path, STORE_MODE_READ_ONLY);
    std::vector<std::string> out;
    for (const auto& r : st.list_runs()) {
        out.push_back("run " + std::to_string(r.id) + " " + r.config_hash + " " + r.status + " " + r.shards + " " +
                      std::to_string(r.n_samples_planned));
        for (auto& s : dump_samples(st, r.id)) out.push_back(std::to_string(r.id) + ":" + s);
    }
    return out;
}

int call_merge_db(const std::vector<std::string>& args) {
    std::vector<std::string> storage = {"adabench", "merge-db"};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    return cmd_merge_db(static_cast<int>(storage.size()), argv.data());
}

struct FaultKind {
    FaultOp op;
    int rc;
    const char* name;
};

const std::vector<FaultKind>& fault_kinds() {
    static const std::vector<FaultKind> kinds = {
        {FAULT_OP_WRITE, SQLITE_FULL, "disk full"},
        {FAULT_OP_WRITE, SQLITE_IOERR_WRITE, "write I/O error"},
        {FAULT_OP_SYNC, SQLITE_IOERR_FSYNC, "fsync I/O error"},
        {FAULT_OP_TRUNCATE, SQLITE_IOERR_TRUNCATE, "truncate I/O error"},
        {FAULT_OP_LOCK, SQLITE_BUSY, "busy"},
        {FAULT_OP_LOCK, SQLITE_IOERR_LOCK, "lock I/O error"},
    };
    return kinds;
}

// Every store of this binary opens through the fault VFS: disarmed it only counts (and skips
// fsync, which keeps hundreds of store lifetimes fast on a busy disk).
const bool g_fault_vfs_everywhere = (store_set_vfs_for_tests(fault_vfs_register()), true);

// Runs fn with the fault VFS armed; returns the error line ("" when fn went through).
std::string with_fault(FaultOp op, int64_t n, int rc, const std::function<void()>& fn) {
    fault_vfs_arm(op, n, rc);
    std::string error;
    try {
        fn();
    } catch (const std::exception& e) {
        error = e.what();
    }
    fault_vfs_disarm();
    return error;
}

void expect_clear_error(const std::string& error, const std::string& db) {
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_NE(error.find(db), std::string::npos) << error;
    EXPECT_NE(error.find("sqlite error"), std::string::npos) << error;
    EXPECT_NE(error.find("hint:"), std::string::npos) << error;
}

// Runs as another user (nobody) when root, so file permissions apply; returns the child's exit
// code (0 = every check passed, else the number of the failed check).
int run_unprivileged(const std::function<int()>& fn) {
    pid_t pid = fork();
    if (pid == 0) {
        int code = 100;
        if (getuid() != 0 || (setgid(65534) == 0 && setuid(65534) == 0)) {
            try {
                code = fn();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child: %s\n", e.what());
                code = 101;
            }
        }
        std::fflush(stderr);
        _exit(code);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

}  // namespace

namespace {

// Fails every write point of one sweep session that starts from `start` (a store file to copy;
// "" = no store yet) and checks each outcome against `ref`, the rows of an uninterrupted run.
void fault_every_sweep_point(const Fixture& f, const std::string& start, const std::vector<std::string>& ref,
                             const char* label) {
    std::string db = f.dir + "/f.db";
    auto reset = [&] {
        remove_db(db);
        if (!start.empty()) fs::copy_file(start, db);
    };
    auto session = [&](int64_t* committed) {
        Store st(db);
        FakeProvider prov;
        SweepOptions o = quiet();
        o.on_commit = [committed](int64_t done) { *committed = done; };
        sweep_run(f.config, f.tasks, prov, st, o);
    };
    // A clean session through the VFS counts the write points (the store's creation and close included).
    reset();
    int64_t committed = 0;
    ASSERT_EQ(with_fault(FAULT_OP_WRITE, 0, SQLITE_OK, [&] { session(&committed); }), "");
    int64_t counts[FAULT_OP_COUNT];
    for (int op = 0; op < FAULT_OP_COUNT; ++op) counts[op] = fault_vfs_count(static_cast<FaultOp>(op));
    EXPECT_GT(counts[FAULT_OP_WRITE], 5);
    EXPECT_GT(counts[FAULT_OP_SYNC], 0);
    EXPECT_GT(counts[FAULT_OP_LOCK], 5);
    int64_t before = 0;  // samples the start store holds
    if (!start.empty()) {
        Store st(start, STORE_MODE_READ_ONLY);
        before = st.count_samples(1);
    }

    int n_cases = 0, n_errors = 0;
    for (const auto& kind : fault_kinds()) {
        for (int64_t n = 1; n <= counts[kind.op]; ++n) {
            SCOPED_TRACE(std::string(label) + ": " + kind.name + " at " + fault_op_name(kind.op) + " #" +
                         std::to_string(n));
            reset();
            committed = before;
            std::string error = with_fault(kind.op, n, kind.rc, [&] { session(&committed); });
            ++n_cases;
            if (!error.empty()) {
                if (n == counts[kind.op] / 2 + 1) std::printf("%s, %s: %s\n", label, kind.name, error.c_str());
                ++n_errors;
                expect_clear_error(error, db);
                EXPECT_TRUE(fault_vfs_fired());
            }
            // Every sample committed before the fault is there, and each row is a clean run's row.
            {
                Store st(db);
                if (!st.list_runs().empty()) {
                    auto got = dump_samples(st, 1);
                    EXPECT_GE(static_cast<int64_t>(got.size()), committed);
                    for (const auto& row : got) EXPECT_TRUE(std::binary_search(ref.begin(), ref.end(), row)) << row;
                } else {
                    EXPECT_EQ(committed, 0);
                }
            }
            // The same command again: exactly the clean run, one run.
            Store st(db);
            FakeProvider prov;
            auto sum = sweep_run(f.config, f.tasks, prov, st, quiet());
            EXPECT_EQ(sum.status, "finished");
            EXPECT_EQ(st.list_runs().size(), 1u);
            EXPECT_EQ(dump_samples(st, sum.run_id), ref);
            if (::testing::Test::HasFailure()) return;  // one failing index is enough to read
        }
    }
    std::printf("%s: %d fault points (write %lld, sync %lld, truncate %lld, lock %lld), %d stopped the sweep\n", label,
                n_cases, static_cast<long long>(counts[FAULT_OP_WRITE]), static_cast<long long>(counts[FAULT_OP_SYNC]),
                static_cast<long long>(counts[FAULT_OP_TRUNCATE]), static_cast<long long>(counts[FAULT_OP_LOCK]),
                n_errors);
    EXPECT_GT(n_errors, counts[FAULT_OP_WRITE]);  // both write kinds stop it at most write points
}

}  // namespace

TEST(StoreFaults, SweepStopsCleanlyAtEveryWritePointAndResumesToTheSameRows) {
    auto f = make_fixture("sweep");
    std::vector<std::string> ref = clean_run_rows(f);
    ASSERT_EQ(ref.size(), 6u);
    fault_every_sweep_point(f, "", ref, "new store");
}

// Adapter switching adds a write path at the end of every session (the switch samples assembled
// from the stored probe and target samples): a fault there stops the sweep the same clean way, and
// the next session assembles exactly the clean run's rows.
TEST(StoreFaults, ASwitchingSweepStopsCleanlyAtEveryWritePoint) {
    json extra = {{"adapters", {"x/long=0:1:1"}},
                  {"signals", {{"answer_confidence", true}}},
                  {"switching",
                   {{"probe", {{"coefs", {0}}, {"think_budget", 16}}},
                    {"target", {{"coefs", {1}}, {"think_budget", 64}}},
                    {"thresholds", {0.5}}}}};
    auto f = make_fixture("switch", extra);
    std::vector<std::string> ref = clean_run_rows(f);
    ASSERT_EQ(ref.size(), 3u * 2 * 2 + 3);  // the grid, then one switch sample per problem
    fault_every_sweep_point(f, "", ref, "switching");
}

TEST(StoreFaults, AResumedSweepStopsCleanlyAtEveryWritePoint) {
    auto f = make_fixture("resume");
    std::string clean = f.dir + "/clean.db", half = f.dir + "/half.db";
    std::vector<std::string> ref;
    {
        Store st(clean);
        FakeProvider prov;
        sweep_run(f.config, f.tasks, prov, st, quiet());
        ref = dump_samples(st, 1);
    }
    {
        // Interrupted after its first batch: the resumed session claims the existing run, updates
        // it and writes the rest.
        Store st(half);
        FakeProvider prov;
        std::atomic<bool> stop{false};
        SweepOptions o = quiet();
        o.stop = &stop;
        o.on_commit = [&](int64_t) { stop = true; };
        EXPECT_EQ(sweep_run(f.config, f.tasks, prov, st, o).status, "interrupted");
        ASSERT_GT(st.count_samples(1), 0);
        ASSERT_LT(st.count_samples(1), 6);
    }
    fault_every_sweep_point(f, half, ref, "resumed store");
}

namespace {

struct MergeFixture {
    Fixture f;
    std::string s0, s1;
    std::vector<std::string> ref;  // merge-db OUT s0 s1, clean
};

MergeFixture make_merge_fixture(const std::string& name) {
    MergeFixture m{make_fixture(name), "", "", {}};
    m.s0 = m.f.dir + "/s0.db";
    m.s1 = m.f.dir + "/s1.db";
    for (const auto& [path, shard] : {std::pair{m.s0, "0/2"}, std::pair{m.s1, "1/2"}}) {
        Store st(path);
        FakeProvider prov;
        sweep_run(m.f.config, m.f.tasks, prov, st, quiet(shard));
    }
    std::string out = m.f.dir + "/ref.db";
    EXPECT_EQ(call_merge_db({out, m.s0, m.s1}), 0);
    m.ref = dump_store(out);
    return m;
}

}  // namespace

TEST(StoreFaults, MergeDbIntoANewStoreFailsWithoutLeavingOut) {
    auto m = make_merge_fixture("merge-new");
    ASSERT_EQ(m.ref.size(), 1u + 6u);
    EXPECT_NE(m.ref[0].find(" finished 0/2,1/2 6"), std::string::npos) << m.ref[0];
    std::string out = m.f.dir + "/out.db";
    std::string err = with_fault(FAULT_OP_WRITE, 0, SQLITE_OK, [&] { call_merge_db({out, m.s0, m.s1}); });
    ASSERT_EQ(err, "");
    int64_t counts[FAULT_OP_COUNT];
    for (int op = 0; op < FAULT_OP_COUNT; ++op) counts[op] = fault_vfs_count(static_cast<FaultOp>(op));
    ASSERT_GT(counts[FAULT_OP_WRITE], 5);
    int n_errors = 0;
    for (const auto& kind : fault_kinds()) {
        for (int64_t n = 1; n <= counts[kind.op]; ++n) {
            SCOPED_TRACE(std::string(kind.name) + " at " + fault_op_name(kind.op) + " #" + std::to_string(n));
            remove_db(out);
            std::string error = with_fault(kind.op, n, kind.rc, [&] { call_merge_db({out, m.s0, m.s1}); });
            if (!error.empty()) {
                ++n_errors;
                EXPECT_EQ(error.find('\n'), std::string::npos) << error;
                bool names_a_file = error.find(out) != std::string::npos || error.find(m.s0) != std::string::npos ||
                                    error.find(m.s1) != std::string::npos;
                EXPECT_TRUE(names_a_file) << error;
                // D14: a failed merge into a new OUT leaves no (empty) OUT behind.
                EXPECT_FALSE(fs::exists(out)) << error;
            } else {
                EXPECT_EQ(dump_store(out), m.ref);
            }
            remove_db(out);
            EXPECT_EQ(call_merge_db({out, m.s0, m.s1}), 0);
            EXPECT_EQ(dump_store(out), m.ref);
            if (::testing::Test::HasFailure()) return;
        }
    }
    std::printf("merge-db into a new OUT: write %lld, sync %lld, truncate %lld, lock %lld fault points, %d failed\n",
                static_cast<long long>(counts[FAULT_OP_WRITE]), static_cast<long long>(counts[FAULT_OP_SYNC]),
                static_cast<long long>(counts[FAULT_OP_TRUNCATE]), static_cast<long long>(counts[FAULT_OP_LOCK]),
                n_errors);
    EXPECT_GT(n_errors, 0);
}

TEST(StoreFaults, MergeDbIntoAnExistingStoreIsAllOrNothing) {
    auto m = make_merge_fixture("merge-existing");
    // OUT already holds shard 0; the merge adds shard 1.
    std::string base = m.f.dir + "/base.db";
    ASSERT_EQ(call_merge_db({base, m.s0}), 0);
    std::vector<std::string> before = dump_store(base);
    ASSERT_GT(before.size(), 1u);
    ASSERT_LT(before.size(), m.ref.size());
    EXPECT_NE(before[0].find(" partial 0/2 6"), std::string::npos) << before[0];
    std::string out = m.f.dir + "/out.db";
    auto reset_out = [&] {
        remove_db(out);
        fs::copy_file(base, out);
    };
    reset_out();
    std::string err = with_fault(FAULT_OP_WRITE, 0, SQLITE_OK, [&] { call_merge_db({out, m.s1}); });
    ASSERT_EQ(err, "");
    ASSERT_EQ(dump_store(out), m.ref);
    int64_t counts[FAULT_OP_COUNT];
    for (int op = 0; op < FAULT_OP_COUNT; ++op) counts[op] = fault_vfs_count(static_cast<FaultOp>(op));
    int n_errors = 0;
    for (const auto& kind : fault_kinds()) {
        for (int64_t n = 1; n <= counts[kind.op]; ++n) {
            SCOPED_TRACE(std::string(kind.name) + " at " + fault_op_name(kind.op) + " #" + std::to_string(n));
            reset_out();
            std::string error = with_fault(kind.op, n, kind.rc, [&] { call_merge_db({out, m.s1}); });
            if (!error.empty()) {
                ++n_errors;
                EXPECT_EQ(error.find('\n'), std::string::npos) << error;
                // D14: nothing of the failed merge is visible: not samples without their run status.
                EXPECT_EQ(dump_store(out), before) << error;
            } else {
                EXPECT_EQ(dump_store(out), m.ref);
            }
            EXPECT_EQ(call_merge_db({out, m.s1}), 0);
            EXPECT_EQ(dump_store(out), m.ref);
            if (::testing::Test::HasFailure()) return;
        }
    }
    std::printf(
        "merge-db into an existing OUT: write %lld, sync %lld, truncate %lld, lock %lld fault points, %d failed\n",
        static_cast<long long>(counts[FAULT_OP_WRITE]), static_cast<long long>(counts[FAULT_OP_SYNC]),
        static_cast<long long>(counts[FAULT_OP_TRUNCATE]), static_cast<long long>(counts[FAULT_OP_LOCK]), n_errors);
    EXPECT_GT(n_errors, 0);
}

TEST(StoreFaults, MergeDbRefusesAnOutHoldingAnotherSweep) {
    auto m = make_merge_fixture("merge-other");
    // OUT holds a run of another config (the same tasks, one more budget).
    auto g = make_fixture("merge-other-config");
    g.config.budgets[0].think_budgets.push_back(32);
    std::string out = m.f.dir + "/other.db";
    {
        Store st(out);
        FakeProvider prov;
        sweep_run(g.config, g.tasks, prov, st, quiet());
    }
    std::vector<std::string> before = dump_store(out);
    std::string bytes = read_bytes(out);
    try {
        call_merge_db({out, m.s0, m.s1});
        FAIL() << "merged a sweep into a store holding another sweep";
    } catch (const Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find(out), std::string::npos) << msg;
        EXPECT_NE(msg.find("another sweep"), std::string::npos) << msg;
    }
    EXPECT_EQ(read_bytes(out), bytes);
    EXPECT_EQ(dump_store(out), before);
}

TEST(StoreFaults, TwoSweepsWritingOneStoreLoseAndDuplicateNothing) {
    auto f = make_fixture("concurrent");
    std::string clean = f.dir + "/clean.db";
    {
        Store st(clean);
        FakeProvider prov;
        sweep_run(f.config, f.tasks, prov, st, quiet());
    }
    auto ref = dump_store(clean);
    for (int round = 0; round < 3; ++round) {
        std::string db = f.dir + "/both.db";
        remove_db(db);
        std::string errors[2];
        SweepSummary sums[2];
        std::thread threads[2];
        for (int k = 0; k < 2; ++k)
            threads[k] = std::thread([&, k] {
                try {
                    Store st(db);
                    FakeProvider prov(nullptr, 1 + k);  // a little engine time, so the two interleave
                    sums[k] = sweep_run(f.config, f.tasks, prov, st, quiet());
                } catch (const std::exception& e) {
                    errors[k] = e.what();
                }
            });
        for (auto& t : threads) t.join();
        EXPECT_EQ(errors[0], "");
        EXPECT_EQ(errors[1], "");
        EXPECT_EQ(sums[0].run_id, sums[1].run_id);
        EXPECT_EQ(dump_store(db), ref);
        Store st(db, STORE_MODE_READ_ONLY);
        EXPECT_EQ(st.count_samples(1), 6);
    }
}

// ---- files adabench must not write ----

namespace {

struct FileState {
    std::string bytes;
    struct timespec mtime {};
    bool wal = false, shm = false;
};

FileState file_state(const std::string& path) {
    FileState s;
    s.bytes = read_bytes(path);
    struct stat sb {};
    if (stat(path.c_str(), &sb) == 0) s.mtime = sb.st_mtim;
    s.wal = fs::exists(path + "-wal");
    s.shm = fs::exists(path + "-shm");
    return s;
}

// The file's bytes and mtime; with_side_files: no -wal / -shm appeared either (a read-only open of a
// WAL-mode file may leave SQLite's empty -wal and -shm beside it, as any reader does).
void expect_untouched(const FileState& a, const std::string& path, bool with_side_files = true) {
    FileState b = file_state(path);
    EXPECT_EQ(a.bytes, b.bytes) << path;
    EXPECT_EQ(a.mtime.tv_sec, b.mtime.tv_sec);
    EXPECT_EQ(a.mtime.tv_nsec, b.mtime.tv_nsec);
    if (!with_side_files) return;
    EXPECT_EQ(a.wal, b.wal);
    EXPECT_EQ(a.shm, b.shm);
}

std::string refusal(const std::string& path, StoreMode mode) {
    try {
        Store st(path, mode);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(StoreRefusals, AnotherProgramsDatabaseIsRefusedUntouched) {
    std::string dir = temp_dir("refuse-foreign");
    std::string path = dir + "/notes.db";
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('keep me')", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    FileState before = file_state(path);
    for (StoreMode mode : {STORE_MODE_READ_WRITE, STORE_MODE_READ_ONLY, STORE_MODE_READ_MIGRATE}) {
        std::string msg = refusal(path, mode);
        EXPECT_NE(msg.find(path), std::string::npos) << msg;
        EXPECT_NE(msg.find("not an adabench store"), std::string::npos) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    EXPECT_NE(refusal(path, STORE_MODE_READ_WRITE).find("notes"), std::string::npos);
    expect_untouched(before, path);
}

TEST(StoreRefusals, NotSqliteAndNewerSchemaAreRefusedUntouched) {
    std::string dir = temp_dir("refuse-files");
    std::string text = dir + "/text.db";
    {
        std::ofstream f(text);
        f << "id,value\n1,this is a CSV file that someone passed as --db by mistake, long enough for a header\n";
    }
    std::string newer = dir + "/newer.db";
    {
        Store st(newer);
        st.insert_run(RunRecord{});
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(newer.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    for (const auto& [path, what] : {std::pair{text, "adabench store"}, std::pair{newer, "newer"}}) {
        FileState before = file_state(path);
        for (StoreMode mode : {STORE_MODE_READ_WRITE, STORE_MODE_READ_ONLY, STORE_MODE_READ_MIGRATE}) {
            std::string msg = refusal(path, mode);
            EXPECT_NE(msg.find(path), std::string::npos) << msg;
            EXPECT_NE(msg.find(what), std::string::npos) << msg;
            expect_untouched(before, path, mode == STORE_MODE_READ_WRITE);
        }
    }
}

TEST(StoreRefusals, AnEmptyFileIsNotMadeAStoreByReadOnlyCommands) {
    std::string dir = temp_dir("refuse-empty");
    std::string path = dir + "/empty.db";
    { std::ofstream f(path); }
    FileState before = file_state(path);
    for (StoreMode mode : {STORE_MODE_READ_ONLY, STORE_MODE_READ_MIGRATE}) {
        std::string msg = refusal(path, mode);
        EXPECT_NE(msg.find("not an adabench store (an empty database)"), std::string::npos) << msg;
    }
    // adabench runs --db empty.db
    std::vector<std::string> storage = {"adabench", "runs", "--db", path};
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    EXPECT_THROW(cmd_runs(4, argv.data()), Error);
    expect_untouched(before, path);
    EXPECT_EQ(fs::file_size(path), 0u);
    // A sweep (read-write) may make it a store.
    Store st(path);
    EXPECT_EQ(st.schema_version(), STORE_SCHEMA_VERSION);
}

TEST(StoreRefusals, AWriteProtectedStoreIsRefusedUntouchedAndStillReadable) {
    std::string dir = temp_dir("refuse-readonly");
    std::string path = dir + "/ro.db";
    {
        Store st(path);
        st.insert_run(RunRecord{});
    }
    ASSERT_EQ(chmod(path.c_str(), 0444), 0);
    FileState before = file_state(path);
    int code = run_unprivileged([&] {
        std::string msg = refusal(path, STORE_MODE_READ_WRITE);
        if (msg.find("read-only") == std::string::npos || msg.find(path) == std::string::npos) {
            std::fprintf(stderr, "child: %s\n", msg.c_str());
            return 1;
        }
        Store ro(path, STORE_MODE_READ_ONLY);
        return ro.list_runs().size() == 1 ? 0 : 2;
    });
    EXPECT_EQ(code, 0);
    expect_untouched(before, path);
}

TEST(StoreRefusals, AWalStoreInAFolderTheUserCannotWriteIsReadable) {
    // D8: report / export / runs / compare / serve promise read-only access.
    std::string dir = temp_dir("readonly-folder");
    std::string sub = dir + "/results";
    fs::create_directories(sub);
    std::string path = sub + "/main.db";
    {
        Store st(path);
        st.insert_run(RunRecord{});
        SampleRecord s;
        s.run_id = 1;
        s.problem_id = "p1";
        st.insert_samples({s});
    }
    ASSERT_FALSE(fs::exists(path + "-wal"));  // the last close checkpointed it
    ASSERT_EQ(chmod(sub.c_str(), 0555), 0);
    FileState before = file_state(path);
    int code = run_unprivileged([&] {
        for (StoreMode mode : {STORE_MODE_READ_ONLY, STORE_MODE_READ_MIGRATE}) {
            Store ro(path, mode);
            if (!ro.immutable()) return 4;  // the fallback this test is about was not needed
            if (ro.list_runs().size() != 1) return 1;
            if (ro.count_samples(1) != 1) return 2;
        }
        std::vector<std::string> storage = {"adabench", "runs", "--db", path};
        std::vector<char*> argv;
        for (auto& s : storage) argv.push_back(s.data());
        argv.push_back(nullptr);
        if (cmd_runs(4, argv.data()) != 0) return 3;
        return 0;
    });
    chmod(sub.c_str(), 0755);
    EXPECT_EQ(code, 0);
    expect_untouched(before, path);
}
