// The Store: opening (WAL, busy timeout, create or migrate), reads for reports and the CLI, and
// idempotent batched writes for the harness (an UPSERT that lets an ok sample replace a failed one). SQL text comes
// from the field lists in schema.cpp; values are always bound, never spliced into SQL.
//
// Durability: WAL with synchronous=NORMAL survives a killed process (the case resume is built for);
// a power cut may lose the last few committed batches but never corrupts the file, and resume then
// redoes them. Not here: any interpretation of the rows (reports/, graders/metrics.h).
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "common/error.h"
#include "store/schema.h"
#include "store/sqlite_check.h"
#include "store/store.h"

namespace adabench {

void store_throw_sqlite(sqlite3* db, int rc, const char* call, const char* file, int line) {
    const char* fname = db ? sqlite3_db_filename(db, "main") : nullptr;
    std::string where = fname && *fname ? fname : "(database)";
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    std::string hint;
    const char* kept = "; what was committed before is kept, and the same command resumes from it";
    int primary = rc & 0xff;
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        hint = std::string("another process held a lock on the store for longer than the busy timeout") + kept;
    else if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
        hint = "is this file an adabench store?";
    else if (primary == SQLITE_READONLY)
        hint = "the store was opened read-only, or the file or its directory is not writable";
    else if (primary == SQLITE_FULL)
        hint = std::string("the disk is full: free some space") + kept;
    else if (primary == SQLITE_IOERR)
        hint = std::string("the disk or file system failed a read or write") + kept;
    // One line: SQL text and SQLite messages may hold line breaks.
    std::string text = where + ": sqlite error " + std::to_string(rc) + " (" + msg + ") in " + call + " at " + file +
                       ":" + std::to_string(line);
    for (char& c : text)
        if (c == '\n' || c == '\r') c = ' ';
    throw Error(text, hint);
}

namespace {
std::string& store_vfs_name() {
    static std::string name;
    return name;
}
}  // namespace

void store_set_vfs_for_tests(const std::string& name) { store_vfs_name() = name; }

std::string store_now_iso8601() {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {

// A prepared statement that finalizes itself.
class Stmt {
public:
    Stmt(sqlite3* db, const std::string& sql) : db_(db) {
        SQLITE_CHECK(db_, sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st_, nullptr));
    }
    ~Stmt() { sqlite3_finalize(st_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;
    sqlite3_stmt* get() const { return st_; }
    // Returns true when a row is available.
    bool step() {
        int rc = sqlite3_step(st_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        SQLITE_CHECK(db_, rc);
        return false;
    }
    void reset() {
        sqlite3_reset(st_);
        SQLITE_CHECK(db_, sqlite3_clear_bindings(st_));
    }
    void bind_int(int i, int64_t v) { SQLITE_CHECK(db_, sqlite3_bind_int64(st_, i, v)); }
    void bind_text(int i, const std::string& v) {
        SQLITE_CHECK(db_, sqlite3_bind_text64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    }

private:
    sqlite3* db_;
    sqlite3_stmt* st_ = nullptr;
};

void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        sqlite3_free(err);  // sqlite3_errmsg(db) carries the same message
        store_throw_sqlite(db, rc, sql.substr(0, 80).c_str(), __FILE__, __LINE__);
    }
}

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted (an exception unwinding).
// Inside an open transaction (StoreTransaction) it is a savepoint instead, so the outer
// transaction decides what is committed.
class Transaction {
public:
    explicit Transaction(sqlite3* db) : db_(db), nested_(sqlite3_get_autocommit(db) == 0) {
        exec(db_, nested_ ? "SAVEPOINT adabench_write" : "BEGIN IMMEDIATE");
    }
    ~Transaction() {
        // After an I/O error or a full disk SQLite may already have rolled back the whole
        // transaction; these statements then fail harmlessly.
        if (done_) return;
        if (nested_) {
            sqlite3_exec(db_, "ROLLBACK TO adabench_write", nullptr, nullptr, nullptr);
            sqlite3_exec(db_, "RELEASE adabench_write", nullptr, nullptr, nullptr);
        } else {
            sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    void commit() {
        exec(db_, nested_ ? "RELEASE adabench_write" : "COMMIT");
        done_ = true;
    }

private:
    sqlite3* db_;
    bool nested_;
    bool done_ = false;
};

// The tables of a database other than SQLite's own, for naming what an unrelated file holds.
std::vector<std::string> user_tables(sqlite3* db) {
    std::vector<std::string> out;
    Stmt st(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
    while (st.step()) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)));
    return out;
}

// A file: URI for path (RFC 3986 percent-encoding of what a URI path may not hold as is).
std::string file_uri(const std::string& path) {
    std::string abs = path;
    if (abs.empty() || abs[0] != '/') {
        char buf[4096];
        if (getcwd(buf, sizeof buf)) abs = std::string(buf) + "/" + path;
    }
    std::string out = "file:";
    const char* hex = "0123456789ABCDEF";
    for (unsigned char c : abs) {
        if (std::isalnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

int64_t file_size_or_zero(const std::string& path) {
    struct stat sb {};
    return stat(path.c_str(), &sb) == 0 ? static_cast<int64_t>(sb.st_size) : 0;
}

bool table_exists(sqlite3* db, const std::string& name) {
    Stmt st(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?");
    st.bind_text(1, name);
    return st.step();
}

std::vector<std::string> table_columns(sqlite3* db, const std::string& table) {
    std::vector<std::string> cols;
    Stmt st(db, "SELECT name FROM pragma_table_info(?)");
    st.bind_text(1, table);
    while (st.step()) cols.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)));
    return cols;
}

template <class R>
void check_columns(sqlite3* db, const std::string& path, const std::string& table,
                   const std::vector<schema::Field<R>>& fields) {
    auto cols = table_columns(db, table);
    for (const auto& f : fields) {
        bool found = false;
        for (const auto& c : cols) found = found || c == f.name;
        if (!found)
            throw Error(path + ": table " + table + " has no column " + f.name,
                        "the file claims the current schema version but does not match it; was it edited by hand?");
    }
}

}  // namespace

struct Store::Impl {
    std::string path;
    StoreMode mode = STORE_MODE_READ_WRITE;
    sqlite3* db = nullptr;
    int version = 0;
    bool immutable = false;

    ~Impl() { close(); }

    void close() {
        if (db) sqlite3_close_v2(db);
        db = nullptr;
    }

    // Opens the connection (through the test VFS when one is set); db stays set for the message.
    int open(const std::string& name, int flags) {
        close();
        const std::string& vfs = store_vfs_name();
        int rc = sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, vfs.empty() ? nullptr : vfs.c_str());
        if (rc == SQLITE_OK) {
            SQLITE_CHECK(db, sqlite3_extended_result_codes(db, 0));
            SQLITE_CHECK(db, sqlite3_busy_timeout(db, 30000));
        }
        return rc;
    }

    [[noreturn]] void throw_open(int rc, const std::string& hint) {
        std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        throw Error(path + ": cannot open store: " + msg, hint);
    }

    // The first read: a file that is not SQLite fails here (SQLITE_NOTADB), before any write.
    int probe() { return sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr); }

    int read_version() {
        if (!table_exists(db, "schema_version")) return 0;
        Stmt st(db, "SELECT version FROM schema_version");
        if (!st.step()) throw Error(path + ": schema_version table is empty", "is this file an adabench store?");
        return static_cast<int>(sqlite3_column_int64(st.get(), 0));
    }

    // Refuses, before anything is written, a database adabench must not write: one holding other
    // tables without adabench's schema (a --db naming an unrelated file), or a newer schema.
    int check_writable_version() {
        int v = read_version();
        if (v == 0) {
            auto tables = user_tables(db);
            if (!tables.empty()) {
                std::string names;
                for (size_t i = 0; i < tables.size() && i < 4; ++i) names += (i ? ", " : "") + tables[i];
                if (tables.size() > 4) names += ", ...";
                throw Error(path + ": not an adabench store: it holds other tables (" + names +
                                ") and no schema_version; refusing to add adabench's tables to it",
                            "--db names another program's database; pass a new file");
            }
        }
        if (v > STORE_SCHEMA_VERSION)
            throw Error(path + ": schema version " + std::to_string(v) + " is newer than this adabench supports (" +
                            std::to_string(STORE_SCHEMA_VERSION) + ")",
                        "upgrade adabench to read this store");
        return v;
    }

    void open_read_write() {
        int rc = open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        if (rc != SQLITE_OK) throw_open(rc, "check that the directory exists and is writable");
        rc = probe();
        if (rc != SQLITE_OK) store_throw_sqlite(db, rc, "the first read", __FILE__, __LINE__);
        check_writable_version();
        // SQLite opens a write-protected file read-only without a word; say so before any write.
        if (sqlite3_db_readonly(db, "main") == 1)
            throw Error(path + ": the store is read-only (file permissions); nothing was written",
                        "make it writable, or read it with adabench runs / report / export, which open it read-only");
        exec(db, "PRAGMA journal_mode = WAL");
        exec(db, "PRAGMA synchronous = NORMAL");
        create_or_migrate();
    }

    // Read-only; READ_MIGRATE reopens read-write to migrate a store of an older schema.
    void open_read_only() {
        if (access(path.c_str(), R_OK) != 0)
            throw Error(path + ": cannot open store: " + std::strerror(errno), "check the --db path");
        int rc = open(path, SQLITE_OPEN_READONLY);
        if (rc != SQLITE_OK) throw_open(rc, "check the --db path");
        rc = probe();
        if (rc == SQLITE_CANTOPEN || rc == SQLITE_READONLY) {
            // A WAL store in a folder this user cannot write: no -shm can be made. Read the file as
            // immutable (no locks, no -shm), which is exact unless a -wal holds commits not yet
            // copied into the file: those immutable mode would not see, so refuse then.
            std::string wal = path + "-wal";
            if (file_size_or_zero(wal) > 32)
                throw Error(path + ": cannot read the store: its folder is not writable and " + wal +
                                " holds commits not yet in the database file",
                            "open the store once where its folder is writable (any adabench sweep or runs), or copy "
                            "the folder somewhere writable");
            rc = open(file_uri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
            if (rc != SQLITE_OK) throw_open(rc, "check the --db path");
            immutable = true;
            rc = probe();
        }
        if (rc != SQLITE_OK) store_throw_sqlite(db, rc, "the first read", __FILE__, __LINE__);
        int v = read_version();
        if (v == 0)
            throw Error(path + ": not an adabench store (" +
                            (user_tables(db).empty() ? std::string("an empty database") : "no schema_version table") +
                            ")",
                        "check the --db path; adabench sweep --db FILE creates a store");
        if (v < STORE_SCHEMA_VERSION && mode == STORE_MODE_READ_MIGRATE && !immutable) {
            open_read_write();
            return;
        }
        if (v != STORE_SCHEMA_VERSION)
            throw Error(path + ": schema version " + std::to_string(v) + ", this adabench reads version " +
                            std::to_string(STORE_SCHEMA_VERSION),
                        v < STORE_SCHEMA_VERSION ? "migrate it once with adabench runs --db FILE (a read-write open)"
                                                 : "upgrade adabench to read this store");
        version = v;
        check_all();
    }

    void create_or_migrate() {
        Transaction tx(db);
        int v = check_writable_version();  // again inside the transaction: another process may have won
        if (v == 0) {
            for (const auto& sql : schema::create_statements()) exec(db, sql);
            exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL)");
            Stmt st(db, "INSERT INTO schema_version (version) VALUES (?)");
            st.bind_int(1, STORE_SCHEMA_VERSION);
            st.step();
            v = STORE_SCHEMA_VERSION;
        }
        const auto& steps = schema::migration_steps();
        while (v < STORE_SCHEMA_VERSION) {
            for (const auto& sql : steps.at(static_cast<size_t>(v - 1))) exec(db, sql);
            ++v;
        }
        Stmt up(db, "UPDATE schema_version SET version = ?");
        up.bind_int(1, v);
        up.step();
        check_all();
        tx.commit();
        version = v;
    }

    void check_all() {
        check_columns(db, path, "runs", schema::run_fields());
        check_columns(db, path, "points", schema::point_fields());
        check_columns(db, path, "samples", schema::sample_fields());
    }
};

Store::Store(const std::string& path, StoreMode mode) : impl_(std::make_unique<Impl>()) {
    impl_->path = path;
    impl_->mode = mode;
    if (path.empty()) throw Error("store: empty database path", "pass --db FILE");
    if (mode == STORE_MODE_READ_WRITE)
        impl_->open_read_write();
    else
        impl_->open_read_only();
    // A read-migrate open that migrated is read-write from here on; it only reads.
}

Store::~Store() = default;

const std::string& Store::path() const { return impl_->path; }
int Store::schema_version() const { return impl_->version; }
bool Store::immutable() const { return impl_->immutable; }

void Store::begin_transaction() {
    if (impl_->mode != STORE_MODE_READ_WRITE) throw Error(impl_->path + ": store opened read-only");
    exec(impl_->db, "BEGIN IMMEDIATE");
}

void Store::commit_transaction() { exec(impl_->db, "COMMIT"); }

void Store::rollback_transaction() {
    if (impl_->db && sqlite3_get_autocommit(impl_->db) == 0)
        sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
}

std::vector<RunRecord> Store::list_runs() const {
    std::vector<RunRecord> out;
    Stmt st(impl_->db, "SELECT " + schema::column_list(schema::run_fields()) + " FROM runs ORDER BY id");
    while (st.step()) {
        RunRecord r;
        schema::read_fields(st.get(), schema::run_fields(), r, 0);
        out.push_back(std::move(r));
    }
    return out;
}

std::optional<RunRecord> Store::get_run(int64_t run_id) const {
    Stmt st(impl_->db, "SELECT " + schema::column_list(schema::run_fields()) + " FROM runs WHERE id = ?");
    st.bind_int(1, run_id);
    if (!st.step()) return std::nullopt;
    RunRecord r;
    schema::read_fields(st.get(), schema::run_fields(), r, 0);
    return r;
}

RunRecord Store::resolve_run(const std::string& id_or_latest) const {
    if (id_or_latest == "latest") {
        Stmt st(impl_->db, "SELECT max(id) FROM runs");
        if (!st.step() || sqlite3_column_type(st.get(), 0) == SQLITE_NULL)
            throw Error(impl_->path + ": the store has no runs", "run adabench sweep --db " + impl_->path + " first");
        return *get_run(sqlite3_column_int64(st.get(), 0));
    }
    char* end = nullptr;
    errno = 0;
    long long id = std::strtoll(id_or_latest.c_str(), &end, 10);
    if (id_or_latest.empty() || *end != '\0' || errno != 0 || id <= 0)
        throw UsageError("run id '" + id_or_latest + "' is not a positive integer or 'latest'");
    auto r = get_run(id);
    if (!r)
        throw Error(impl_->path + ": no run " + id_or_latest, "adabench runs --db " + impl_->path + " lists the runs");
    return *r;
}

std::vector<PointRecord> Store::list_points(int64_t run_id) const {
    std::vector<PointRecord> out;
    Stmt st(impl_->db, "SELECT " + schema::column_list(schema::point_fields()) +
                           " FROM points WHERE run_id = ? ORDER BY point_id");
    st.bind_int(1, run_id);
    while (st.step()) {
        PointRecord p;
        schema::read_fields(st.get(), schema::point_fields(), p, 0);
        out.push_back(std::move(p));
    }
    return out;
}

std::vector<SampleRecord> Store::list_samples(const SampleFilter& f) const {
    if (f.run_id <= 0) throw Error("list_samples: a run id is required");
    std::string cols;
    for (const auto& fld : schema::sample_fields()) {
        if (!cols.empty()) cols += ", ";
        std::string n = fld.name;
        cols += !f.with_text && (n == "prompt_text" || n == "response_text") ? "''" : "s." + n;
    }
    std::string sql = "SELECT " + cols + " FROM samples s";
    if (!f.task.empty()) sql += " JOIN points p ON p.run_id = s.run_id AND p.point_id = s.point_id";
    sql += " WHERE s.run_id = ?";
    if (f.point_id >= 0) sql += " AND s.point_id = ?";
    if (!f.task.empty()) sql += " AND p.task = ?";
    if (!f.problem_id.empty()) sql += " AND s.problem_id = ?";
    sql += " ORDER BY s.point_id, s.problem_id, s.sample_index";
    Stmt st(impl_->db, sql);
    int i = 1;
    st.bind_int(i++, f.run_id);
    if (f.point_id >= 0) st.bind_int(i++, f.point_id);
    if (!f.task.empty()) st.bind_text(i++, f.task);
    if (!f.problem_id.empty()) st.bind_text(i++, f.problem_id);
    std::vector<SampleRecord> out;
    while (st.step()) {
        SampleRecord s;
        schema::read_fields(st.get(), schema::sample_fields(), s, 0);
        out.push_back(std::move(s));
    }
    return out;
}

namespace {

// The samples of a run (or of one point) that are ok, or that are not.
int64_t count_by_status(sqlite3* db, int64_t run_id, int64_t point_id, bool ok) {
    std::string sql = std::string("SELECT count(*) FROM samples WHERE run_id = ? AND status ") + (ok ? "=" : "!=") +
                      " 'ok'" + (point_id >= 0 ? " AND point_id = ?" : "");
    Stmt st(db, sql);
    st.bind_int(1, run_id);
    if (point_id >= 0) st.bind_int(2, point_id);
    st.step();
    return sqlite3_column_int64(st.get(), 0);
}

std::set<SampleKey> keys_by_status(sqlite3* db, int64_t run_id, bool ok) {
    std::set<SampleKey> out;
    Stmt st(db, std::string("SELECT point_id, problem_id, sample_index FROM samples WHERE run_id = ? AND status ") +
                    (ok ? "=" : "!=") + " 'ok'");
    st.bind_int(1, run_id);
    while (st.step()) {
        const unsigned char* t = sqlite3_column_text(st.get(), 1);
        out.emplace(sqlite3_column_int64(st.get(), 0), t ? reinterpret_cast<const char*>(t) : "",
                    sqlite3_column_int64(st.get(), 2));
    }
    return out;
}

}  // namespace

int64_t Store::count_samples(int64_t run_id, int64_t point_id) const {
    return count_by_status(impl_->db, run_id, point_id, true);
}

int64_t Store::count_failed_samples(int64_t run_id, int64_t point_id) const {
    return count_by_status(impl_->db, run_id, point_id, false);
}

std::set<SampleKey> Store::sample_keys(int64_t run_id) const { return keys_by_status(impl_->db, run_id, true); }

std::set<SampleKey> Store::failed_sample_keys(int64_t run_id) const { return keys_by_status(impl_->db, run_id, false); }

int64_t Store::insert_run(const RunRecord& run) {
    if (impl_->mode != STORE_MODE_READ_WRITE) throw Error(impl_->path + ": store opened read-only");
    // Without an explicit id, leave the id column out so SQLite assigns max(id) + 1.
    std::vector<schema::Field<RunRecord>> fields = schema::run_fields();
    if (run.id == 0) fields.erase(fields.begin());
    std::string q;
    for (size_t i = 0; i < fields.size(); ++i) q += i ? ", ?" : "?";
    Transaction tx(impl_->db);
    Stmt st(impl_->db, "INSERT INTO runs (" + schema::column_list(fields) + ") VALUES (" + q + ")");
    schema::bind_fields(st.get(), fields, run, 1);
    st.step();
    int64_t id = sqlite3_last_insert_rowid(impl_->db);
    tx.commit();
    return id;
}

std::pair<RunRecord, bool> Store::claim_run(const RunRecord& run) {
    if (impl_->mode != STORE_MODE_READ_WRITE) throw Error(impl_->path + ": store opened read-only");
    Transaction tx(impl_->db);
    {
        Stmt st(impl_->db, "SELECT " + schema::column_list(schema::run_fields()) +
                               " FROM runs WHERE config_hash = ? ORDER BY id DESC LIMIT 1");
        SQLITE_CHECK(impl_->db, sqlite3_bind_text64(st.get(), 1, run.config_hash.data(), run.config_hash.size(),
                                                    SQLITE_TRANSIENT, SQLITE_UTF8));
        if (st.step()) {
            RunRecord found;
            schema::read_fields(st.get(), schema::run_fields(), found, 0);
            tx.commit();
            return {found, true};
        }
    }
    std::vector<schema::Field<RunRecord>> fields = schema::run_fields();
    fields.erase(fields.begin());  // SQLite assigns the id
    std::string q;
    for (size_t i = 0; i < fields.size(); ++i) q += i ? ", ?" : "?";
    Stmt ins(impl_->db, "INSERT INTO runs (" + schema::column_list(fields) + ") VALUES (" + q + ")");
    schema::bind_fields(ins.get(), fields, run, 1);
    ins.step();
    RunRecord out = run;
    out.id = sqlite3_last_insert_rowid(impl_->db);
    tx.commit();
    return {out, false};
}

void Store::update_run(const RunRecord& run) {
    if (impl_->mode != STORE_MODE_READ_WRITE) throw Error(impl_->path + ": store opened read-only");
    std::vector<schema::Field<RunRecord>> fields;
    for (const auto& f : schema::run_fields()) {
        std::string n = f.name;
        if (n != "id" && n != "config_json" && n != "config_hash") fields.push_back(f);
    }
    std::string set;
    for (const auto& f : fields) set += std::string(set.empty() ? "" : ", ") + f.name + " = ?";
    Stmt st(impl_->db, "UPDATE runs SET " + set + " WHERE id = ?");
    int next = schema::bind_fields(st.get(), fields, run, 1);
    st.bind_int(next, run.id);
    st.step();
    if (sqlite3_changes(impl_->db) != 1)
        throw Error(impl_->path + ": update of run " + std::to_string(run.id) + " matched no row");
}

void Store::insert_points(const std::vector<PointRecord>& points) {
    if (impl_->mode != STORE_MODE_READ_WRITE) throw Error(impl_->path + ": store opened read-only");
    const auto& fields = schema::point_fields();
    std::string q;
    for (size_t i = 0; i < fields.size(); ++i) q += i ? ", ?" : "?";
    Transaction tx(impl_->db);
    Stmt st(impl_->db, "INSERT OR IGNORE INTO points (" + schema::column_list(fields) + ") VALUES (" + q + ")");
    for (const auto& p : points) {
        st.reset();
        schema::bind_fields(st.get(), fields, p, 1);
        st.step();
    }
    tx.commit();
}

int64_t Store::insert_samples(const std::vector<SampleRecord>& samples) {
    if (impl_->mode != STORE_MODE_READ_WRITE) throw Error(impl_->path + ": store opened read-only");
    const auto& fields = schema::sample_fields();
    std::string q, set;
    for (size_t i = 0; i < fields.size(); ++i) q += i ? ", ?" : "?";
    for (const auto& f : fields) {
        std::string n = f.name;
        if (n == "run_id" || n == "point_id" || n == "problem_id" || n == "sample_index") continue;
        set += (set.empty() ? "" : ", ") + n + " = excluded." + n;
    }
    // An ok row is final. A failed row gives way to an ok result, or to a failed one written later
    // (the latest error is the useful one; an equal created_at, as when merge-db copies the same
    // row again, changes nothing, which keeps merges idempotent).
    std::string sql = "INSERT INTO samples (" + schema::column_list(fields) + ") VALUES (" + q +
                      ") ON CONFLICT (run_id, point_id, problem_id, sample_index) DO UPDATE SET " + set +
                      " WHERE samples.status != 'ok' AND (excluded.status = 'ok' OR excluded.created_at > "
                      "samples.created_at)";
    std::string now = store_now_iso8601();
    int64_t written = 0;
    Transaction tx(impl_->db);
    Stmt st(impl_->db, sql);
    for (const auto& s : samples) {
        st.reset();
        if (s.created_at.empty()) {
            SampleRecord copy = s;
            copy.created_at = now;
            schema::bind_fields(st.get(), fields, copy, 1);
        } else {
            schema::bind_fields(st.get(), fields, s, 1);
        }
        st.step();
        written += sqlite3_changes(impl_->db);
    }
    tx.commit();
    return written;
}

namespace {
template <class R>
std::vector<FieldInfo> field_infos(const std::vector<schema::Field<R>>& fields) {
    std::vector<FieldInfo> out;
    for (const auto& f : fields) out.push_back({f.name, schema::field_type(f)});
    return out;
}
}  // namespace

std::vector<FieldInfo> store_run_fields() { return field_infos(schema::run_fields()); }
std::vector<FieldInfo> store_point_fields() { return field_infos(schema::point_fields()); }
std::vector<FieldInfo> store_sample_fields() { return field_infos(schema::sample_fields()); }

}  // namespace adabench
