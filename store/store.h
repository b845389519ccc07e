// adabench::Store — the SQLite store of runs, grid points and graded samples.
//
// One database file holds many runs. A run is one sweep configuration (its canonical JSON and hash);
// a point is one cell of its grid (task, weights, budget, sampling); a sample is one generation for
// (point, problem, sample index), graded. Every table's columns come from one typed field list
// (store/schema.cpp) that also produces the CSV/JSONL export columns. Writes are idempotent
// (unique keys), so a sweep killed at any moment resumes without losing or duplicating a sample.
// A sample has a status: "ok" (a model result, graded) or "failed_infra" (the engine's requests kept
// failing after every retry: stored for the record, never graded). An ok row is never replaced; a
// failed row is replaced by a later ok one, so resume (which re-issues every key without an ok row,
// see sample_keys) turns failed samples into results. Read-only mode opens the file with
// SQLITE_OPEN_READONLY (report server) and, where the folder cannot be written (no -shm can be
// made), as an immutable file; it never writes.
//
// Refusals leave the file untouched: a file that is not SQLite, an SQLite file that holds tables
// but no adabench schema (an unrelated --db), a store of a newer schema, a file that cannot be
// written (read-write mode). Every write is one transaction (or a savepoint inside a
// StoreTransaction), so a failed write (disk full, I/O error, busy) throws one clear line and keeps
// everything committed before it.
//
// Deliberately not here: metrics (graders/metrics.h), grid planning (harness/), any notion of
// which engine produced what beyond the strings recorded on the run.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace adabench {

// A run: one sweep configuration executed (possibly in several sessions, resumed, or as shards).
struct RunRecord {
    int64_t id = 0;             // 1, 2, ... per database
    std::string config_json;    // canonical sweep config (sorted keys; shard and db excluded)
    std::string config_hash;    // sha256 of config_json
    std::string git_sha;        // adabench build
    std::string engine;         // "cpu", "cuda", "http", ...
    std::string device;         // EngineInfo::device
    std::string engine_json;    // EngineInfo::manifest_json of the first session ("" = none): the http
                                // engine's capability probe per URL
    std::string host;           // hostname
    std::string model_hash;     // content hash of the model directory (config, weights, tokenizer)
    std::string adapters_json;  // [{"name","path","sha256"}] in config order
    std::string merges_json;    // [{"path","sha256"}] models taking part in merges
    std::string datasets_json;  // [{"task","sha256","version","n_problems"}]
    std::string shards;         // "" = whole grid; "0/4" for a shard; "0/4,1/4,..." after merge-db
    std::string started_at;     // ISO 8601 UTC
    std::string finished_at;    // "" while running
    // "running", "finished", "interrupted", "failed" (an error stopped the session), "partial" (the
    // session ended with failed_infra samples, or merge-db lacks some shards: not every planned
    // sample is stored ok; the same command again re-issues what is missing).
    std::string status;
    int64_t n_points = 0;           // grid points in the plan
    int64_t n_samples_planned = 0;  // samples the full grid asks for (all shards)
};

// A grid point of a run. point_id is the index in the full grid plan (deterministic from the
// config), so shards of one sweep agree on it and merge-db can combine them.
struct PointRecord {
    int64_t run_id = 0;
    int64_t point_id = 0;
    std::string task;           // task name, e.g. "arith", "gsm8k"
    std::string mechanism;      // "none", "hard_cut", "prompt"
    int64_t think_budget = -1;  // -1 = no thinking budget
    int64_t answer_budget = 0;
    int64_t min_think = 0;
    int64_t max_waits = 0;
    int64_t max_tokens = 0;
    std::string adapters_json;      // adapter names in coefficient order, ["lora-long","lora-short"]
    std::string coefs_json;         // coefficient vector, [0.25,0.75]; "[]" without adapters
    std::string lora_mode;          // "merged", "unmerged", "" without adapters
    std::string merge_method;       // "", "linear", "task_arithmetic"
    std::string merge_lambda_json;  // "" or a scalar/array, e.g. 0.5 or [0.1,0.5,0.9]
    double temperature = 0.0;
    double top_p = 1.0;
    int64_t top_k = 0;
    int64_t n_samples = 1;        // samples per problem
    int64_t base_seed = 0;        // the sweep's seed; per-sample seeds derive from it
    std::string prompt_template;  // template name or text used for this point
    std::string label;            // short human label, e.g. "arith B=64 c=[0.5]"
};

// One graded generation, or one that failed for infrastructure reasons (status != "ok").
struct SampleRecord {
    int64_t run_id = 0;
    int64_t point_id = 0;
    std::string problem_id;
    int64_t sample_index = 0;
    int64_t seed = 0;  // the derived per-(problem, sample) seed given to the engine
    int64_t n_tokens_prompt = 0;
    int64_t n_tokens_think = 0;
    int64_t n_tokens_answer = 0;
    std::string finish_reason;  // "eos", "stop", "think_budget", "answer_budget", "max_tokens"
    bool forced = false;
    int64_t n_wait = 0;
    bool censored = false;
    std::string extracted_strict;
    std::string extracted_flexible;
    std::string gold;
    bool correct_strict = false;
    bool correct_flexible = false;
    double latency_s = 0.0;
    // "ok", or "failed_infra" (SampleStatus of engines/engine.h): the engine gave up after its
    // retries. A failed sample is not graded (extracted fields and finish_reason empty, correct and
    // censored false), is left out of every metric, and is re-issued by resume.
    std::string status = "ok";
    std::string error;        // why it failed (one line); "" when ok
    bool token_exact = true;  // false: token counts are estimates (the prompt reached the engine as text)
    std::string engine_json;  // GenerateResult::engine_json: engine-specific details ("" = none)
    // GenerateResult's counters and signals (engines/engine.h): prompt tokens the engine computed
    // for this sample (-1 = unknown), the answer's confidence and perplexity (-1 / 0 = not
    // measured), the prompt's perplexity (0 = not measured).
    int64_t n_tokens_prefilled = -1;
    double answer_conf = -1;
    double answer_ppl = 0;
    double prompt_ppl = 0;
    std::string prompt_text;
    std::string response_text;
    std::string created_at;  // ISO 8601 UTC when written
};

// Whether a stored sample is a model result (status "ok"); only those are graded and measured.
inline bool store_sample_ok(const SampleRecord& s) { return s.status == "ok"; }

// Filters for list_samples; empty / negative fields mean "any".
struct SampleFilter {
    int64_t run_id = 0;  // required (> 0)
    int64_t point_id = -1;
    std::string task;  // matches the point's task
    std::string problem_id;
    bool with_text = true;  // false: leave prompt_text / response_text empty (cheaper)
};

// READ_WRITE: creates the schema in a new or empty file, migrates an older one (sweep, merge-db).
// READ_ONLY: reads a store of the current schema; never writes (report, export, compare, serve).
// READ_MIGRATE: READ_ONLY, except that a store of an older schema is migrated (a read-write open);
// an empty or foreign file is refused, never given a schema (runs).
enum StoreMode { STORE_MODE_READ_WRITE, STORE_MODE_READ_ONLY, STORE_MODE_READ_MIGRATE };

// Sample key for resume: (point_id, problem_id, sample_index).
using SampleKey = std::tuple<int64_t, std::string, int64_t>;

class Store {
public:
    // Opens (read-write: creates and migrates) the database at path. Throws adabench::Error naming
    // the file. Read-only mode refuses a file that does not exist or needs a migration.
    explicit Store(const std::string& path, StoreMode mode = STORE_MODE_READ_WRITE);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    const std::string& path() const;
    int schema_version() const;
    // True when the store was opened read-only as an immutable file (its folder is not writable).
    bool immutable() const;

    // Explicit transactions (use StoreTransaction): the writes between begin and commit are one
    // BEGIN IMMEDIATE transaction (each write call becomes a savepoint inside it), so a failure
    // anywhere leaves none of them. merge-db uses it to add a run with its samples atomically.
    void begin_transaction();
    void commit_transaction();
    void rollback_transaction();  // never throws

    // ---- read API (reports, CLI) ----
    std::vector<RunRecord> list_runs() const;
    std::optional<RunRecord> get_run(int64_t run_id) const;
    // "latest" or a decimal id; throws Error naming the database when there is no such run.
    RunRecord resolve_run(const std::string& id_or_latest) const;
    std::vector<PointRecord> list_points(int64_t run_id) const;
    std::vector<SampleRecord> list_samples(const SampleFilter& filter) const;
    // Samples stored ok (done), of the run or of one point; failed rows are not counted here.
    int64_t count_samples(int64_t run_id, int64_t point_id = -1) const;
    // Samples stored with a status other than ok (failed_infra), of the run or of one point.
    int64_t count_failed_samples(int64_t run_id, int64_t point_id = -1) const;
    // Keys of the samples stored ok: what resume treats as done. Failed samples are not in it, so
    // the next run of the same command re-issues them.
    std::set<SampleKey> sample_keys(int64_t run_id) const;
    // Keys of the samples stored as failed (status != ok).
    std::set<SampleKey> failed_sample_keys(int64_t run_id) const;

    // ---- write API (harness, merge-db) ----
    // Inserts a run; id 0 = next free id. Returns the id.
    int64_t insert_run(const RunRecord& run);
    // Atomically (one BEGIN IMMEDIATE transaction): the latest run with run.config_hash if there is
    // one (second = true), else `run` inserted as a new run (its id set; second = false). Two sweeps
    // of one config starting at once on one store thus share one run instead of making two.
    std::pair<RunRecord, bool> claim_run(const RunRecord& run);
    // Updates the mutable fields of a run (status, finished_at, engine, device, host, shards,
    // hashes); config_json / config_hash never change.
    void update_run(const RunRecord& run);
    // Idempotent: a point that exists is left as it is.
    void insert_points(const std::vector<PointRecord>& points);
    // One transaction. Unique on (run_id, point_id, problem_id, sample_index): a new key is
    // inserted; a stored ok row is never replaced; a stored failed row is replaced by an ok one, or
    // by a failed one written later (created_at greater: the latest error is kept). Returns the
    // number of rows inserted or replaced.
    int64_t insert_samples(const std::vector<SampleRecord>& samples);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Groups Store writes into one transaction; rolls back when destroyed uncommitted.
class StoreTransaction {
public:
    explicit StoreTransaction(Store& store) : store_(store) { store_.begin_transaction(); }
    ~StoreTransaction() {
        if (!done_) store_.rollback_transaction();
    }
    StoreTransaction(const StoreTransaction&) = delete;
    StoreTransaction& operator=(const StoreTransaction&) = delete;
    void commit() {
        store_.commit_transaction();
        done_ = true;
    }

private:
    Store& store_;
    bool done_ = false;
};

// Test hook: every Store opened after this call uses the SQLite VFS registered under `name`
// (sqlite3_vfs_register; "" = the default VFS). The fault-injection tests use it to fail chosen
// writes, syncs and locks; nothing else should.
void store_set_vfs_for_tests(const std::string& name);

// ---- the schema's field lists, for exports and reports that want generic columns ----
enum FieldType { FIELD_TYPE_INTEGER, FIELD_TYPE_REAL, FIELD_TYPE_TEXT };
struct FieldInfo {
    std::string name;
    FieldType type;
};
std::vector<FieldInfo> store_run_fields();
std::vector<FieldInfo> store_point_fields();
std::vector<FieldInfo> store_sample_fields();

// Export rows: one per sample, point columns first (task, budget, coefficients, ...), then the
// sample columns. Values are rendered as text (CSV) or typed JSON (JSONL).
std::vector<std::string> store_export_columns();
// CSV per RFC 4180: fields with comma, quote, CR or LF are quoted, quotes doubled. Header first.
std::string store_export_csv_header();
std::string store_export_csv_row(const PointRecord& p, const SampleRecord& s);
std::string store_export_jsonl_row(const PointRecord& p, const SampleRecord& s);

const int STORE_SCHEMA_VERSION = 4;

// Current UTC time as "2026-01-31T12:00:00Z" (the format of every *_at column).
std::string store_now_iso8601();

}  // namespace adabench
