// The Store: opening (WAL, busy timeout, create or migrate), reads for reports and the CLI, and
// idempotent batched writes for the harness (an UPSERT that lets an ok sample replace a failed one). SQL text comes
// from the field lists in schema.cpp; values are always bound, never spliced into SQL.
//
// Durability: WAL with synchronous=NORMAL survives a killed process (the case resume is built for);
// a power cut may lose the last few committed batches but never corrupts the file, and resume then
// redoes them. Not here: any interpretation of the rows (reports/, graders/metrics.h).
#include <unistd.h>

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
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        hint = "another process holds a write lock; give each shard its own --db and combine them with merge-db";
    else if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        hint = "is this file an adabench store?";
    else if (rc == SQLITE_READONLY)
        hint = "the store was opened read-only, or the file or its directory is not writable";
    else if (rc == SQLITE_FULL)
        hint = "the disk is full";
    throw Error(where + ": sqlite error " + std::to_string(rc) + " (" + msg + ") in " + call + " at " + file + ":" +
                    std::to_string(line),
                hint);
}

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
class Transaction {
public:
    explicit Transaction(sqlite3* db) : db_(db) { exec(db_, "BEGIN IMMEDIATE"); }
    ~Transaction() {
        if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
        exec(db_, "COMMIT");
        done_ = true;
    }

private:
    sqlite3* db_;
    bool done_ = false;
};

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

    ~Impl() {
        if (db) sqlite3_close_v2(db);
    }

    int read_version() {
        if (!table_exists(db, "schema_version")) return 0;
        Stmt st(db, "SELECT version FROM schema_version");
        if (!st.step()) throw Error(path + ": schema_version table is empty", "is this file an adabench store?");
        return static_cast<int>(sqlite3_column_int64(st.get(), 0));
    }

    void create_or_migrate() {
        Transaction tx(db);
        int v = read_version();
        if (v == 0) {
            if (table_exists(db, "runs") || table_exists(db, "samples"))
                throw Error(path + ": has runs/samples tables but no schema_version",
                            "this is not a store written by adabench; use a new --db file");
            for (const auto& sql : schema::create_statements()) exec(db, sql);
            exec(db, "CREATE TABLE schema_version (version INTEGER NOT NULL)");
            Stmt st(db, "INSERT INTO schema_version (version) VALUES (?)");
            st.bind_int(1, STORE_SCHEMA_VERSION);
            st.step();
            v = STORE_SCHEMA_VERSION;
        }
        if (v > STORE_SCHEMA_VERSION)
            throw Error(path + ": schema version " + std::to_string(v) + " is newer than this adabench supports (" +
                            std::to_string(STORE_SCHEMA_VERSION) + ")",
                        "upgrade adabench to read this store");
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
    if (mode == STORE_MODE_READ_ONLY && access(path.c_str(), R_OK) != 0)
        throw Error(path + ": cannot open store: " + std::strerror(errno), "check the --db path");
    int flags = mode == STORE_MODE_READ_ONLY ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path.c_str(), &impl_->db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
        std::string msg = impl_->db ? sqlite3_errmsg(impl_->db) : sqlite3_errstr(rc);
        throw Error(path + ": cannot open store: " + msg, "check that the directory exists and is writable");
    }
    sqlite3* db = impl_->db;
    SQLITE_CHECK(db, sqlite3_extended_result_codes(db, 0));
    SQLITE_CHECK(db, sqlite3_busy_timeout(db, 30000));
    // Touch the file: a non-database fails here with SQLITE_NOTADB and a clear message.
    exec(db, "SELECT count(*) FROM sqlite_master");
    if (mode == STORE_MODE_READ_WRITE) {
        exec(db, "PRAGMA journal_mode = WAL");
        exec(db, "PRAGMA synchronous = NORMAL");
        impl_->create_or_migrate();
    } else {
        int v = impl_->read_version();
        if (v == 0) throw Error(path + ": not an adabench store (no schema_version table)", "check the --db path");
        if (v != STORE_SCHEMA_VERSION)
            throw Error(path + ": schema version " + std::to_string(v) + ", this adabench reads version " +
                            std::to_string(STORE_SCHEMA_VERSION),
                        v < STORE_SCHEMA_VERSION
                            ? "open it once read-write (e.g. adabench runs --db FILE) to migrate it"
                            : "upgrade adabench to read this store");
        impl_->version = v;
        impl_->check_all();
    }
}

Store::~Store() = default;

const std::string& Store::path() const { return impl_->path; }
int Store::schema_version() const { return impl_->version; }

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
    if (impl_->mode == STORE_MODE_READ_ONLY) throw Error(impl_->path + ": store opened read-only");
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
    if (impl_->mode == STORE_MODE_READ_ONLY) throw Error(impl_->path + ": store opened read-only");
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
    if (impl_->mode == STORE_MODE_READ_ONLY) throw Error(impl_->path + ": store opened read-only");
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
    if (impl_->mode == STORE_MODE_READ_ONLY) throw Error(impl_->path + ": store opened read-only");
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
    if (impl_->mode == STORE_MODE_READ_ONLY) throw Error(impl_->path + ": store opened read-only");
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
