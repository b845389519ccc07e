// The field lists of the three tables and everything generated from them: CREATE TABLE, column
// lists, binding and reading, plus the frozen version-1 schema and the forward migrations.
//
// Types: int64 and bool are INTEGER, double is REAL, string is TEXT; every column is NOT NULL with
// a default so that migrations can add columns to tables that already hold rows.
#include "store/schema.h"

#include <cstring>

#include "store/sqlite_check.h"

namespace adabench::schema {

#define RUN_FIELD(m) \
    Field<RunRecord> { #m, &RunRecord::m }
#define POINT_FIELD(m) \
    Field<PointRecord> { #m, &PointRecord::m }
#define SAMPLE_FIELD(m) \
    Field<SampleRecord> { #m, &SampleRecord::m }
#define SAMPLE_FIELD_DEFAULT(m, d) \
    Field<SampleRecord> { #m, &SampleRecord::m, d }

const std::vector<Field<RunRecord>>& run_fields() {
    static const std::vector<Field<RunRecord>> f = {
        RUN_FIELD(id),          RUN_FIELD(config_json),
        RUN_FIELD(config_hash), RUN_FIELD(git_sha),
        RUN_FIELD(engine),      RUN_FIELD(device),
        RUN_FIELD(engine_json), RUN_FIELD(host),
        RUN_FIELD(model_hash),  RUN_FIELD(adapters_json),
        RUN_FIELD(merges_json), RUN_FIELD(datasets_json),
        RUN_FIELD(shards),      RUN_FIELD(started_at),
        RUN_FIELD(finished_at), RUN_FIELD(status),
        RUN_FIELD(n_points),    RUN_FIELD(n_samples_planned),
    };
    return f;
}

const std::vector<Field<PointRecord>>& point_fields() {
    static const std::vector<Field<PointRecord>> f = {
        POINT_FIELD(run_id),       POINT_FIELD(point_id),
        POINT_FIELD(task),         POINT_FIELD(mechanism),
        POINT_FIELD(think_budget), POINT_FIELD(answer_budget),
        POINT_FIELD(min_think),    POINT_FIELD(max_waits),
        POINT_FIELD(max_tokens),   POINT_FIELD(adapters_json),
        POINT_FIELD(coefs_json),   POINT_FIELD(lora_mode),
        POINT_FIELD(merge_method), POINT_FIELD(merge_lambda_json),
        POINT_FIELD(temperature),  POINT_FIELD(top_p),
        POINT_FIELD(top_k),        POINT_FIELD(n_samples),
        POINT_FIELD(base_seed),    POINT_FIELD(prompt_template),
        POINT_FIELD(label),
    };
    return f;
}

const std::vector<Field<SampleRecord>>& sample_fields() {
    static const std::vector<Field<SampleRecord>> f = {
        SAMPLE_FIELD(run_id),
        SAMPLE_FIELD(point_id),
        SAMPLE_FIELD(problem_id),
        SAMPLE_FIELD(sample_index),
        SAMPLE_FIELD(seed),
        SAMPLE_FIELD(n_tokens_prompt),
        SAMPLE_FIELD(n_tokens_think),
        SAMPLE_FIELD(n_tokens_answer),
        SAMPLE_FIELD(finish_reason),
        SAMPLE_FIELD(forced),
        SAMPLE_FIELD(n_wait),
        SAMPLE_FIELD(censored),
        SAMPLE_FIELD(extracted_strict),
        SAMPLE_FIELD(extracted_flexible),
        SAMPLE_FIELD(gold),
        SAMPLE_FIELD(correct_strict),
        SAMPLE_FIELD(correct_flexible),
        SAMPLE_FIELD(latency_s),
        SAMPLE_FIELD_DEFAULT(status, "'ok'"),
        SAMPLE_FIELD(error),
        SAMPLE_FIELD_DEFAULT(token_exact, "1"),
        SAMPLE_FIELD(engine_json),
        SAMPLE_FIELD_DEFAULT(n_tokens_prefilled, "-1"),
        SAMPLE_FIELD_DEFAULT(answer_conf, "-1"),
        SAMPLE_FIELD(answer_ppl),
        SAMPLE_FIELD(prompt_ppl),
        SAMPLE_FIELD(prompt_text),
        SAMPLE_FIELD(response_text),
        SAMPLE_FIELD(created_at),
    };
    return f;
}

const char* field_type_sql(FieldType t) {
    switch (t) {
        case FIELD_TYPE_INTEGER:
            return "INTEGER";
        case FIELD_TYPE_REAL:
            return "REAL";
        case FIELD_TYPE_TEXT:
            return "TEXT";
    }
    return "BLOB";
}

template <class R>
int bind_fields(sqlite3_stmt* st, const std::vector<Field<R>>& fields, const R& r, int first) {
    int i = first;
    sqlite3* db = sqlite3_db_handle(st);
    for (const auto& f : fields) {
        if (auto p = std::get_if<int64_t R::*>(&f.member)) {
            SQLITE_CHECK(db, sqlite3_bind_int64(st, i, r.*(*p)));
        } else if (auto q = std::get_if<double R::*>(&f.member)) {
            SQLITE_CHECK(db, sqlite3_bind_double(st, i, r.*(*q)));
        } else if (auto b = std::get_if<bool R::*>(&f.member)) {
            SQLITE_CHECK(db, sqlite3_bind_int64(st, i, (r.*(*b)) ? 1 : 0));
        } else if (auto s = std::get_if<std::string R::*>(&f.member)) {
            const std::string& v = r.*(*s);
            SQLITE_CHECK(db, sqlite3_bind_text64(st, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
        }
        ++i;
    }
    return i;
}

template <class R>
int read_fields(sqlite3_stmt* st, const std::vector<Field<R>>& fields, R& r, int first) {
    int i = first;
    for (const auto& f : fields) {
        if (auto p = std::get_if<int64_t R::*>(&f.member)) {
            r.*(*p) = sqlite3_column_int64(st, i);
        } else if (auto q = std::get_if<double R::*>(&f.member)) {
            r.*(*q) = sqlite3_column_double(st, i);
        } else if (auto b = std::get_if<bool R::*>(&f.member)) {
            r.*(*b) = sqlite3_column_int64(st, i) != 0;
        } else if (auto s = std::get_if<std::string R::*>(&f.member)) {
            const unsigned char* t = sqlite3_column_text(st, i);
            int n = sqlite3_column_bytes(st, i);
            r.*(*s) = t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(n)) : std::string();
        }
        ++i;
    }
    return i;
}

template <class R>
std::string column_list(const std::vector<Field<R>>& fields, const std::string& prefix) {
    std::string out;
    for (const auto& f : fields) {
        if (!out.empty()) out += ", ";
        out += prefix + f.name;
    }
    return out;
}

template int bind_fields(sqlite3_stmt*, const std::vector<Field<RunRecord>>&, const RunRecord&, int);
template int bind_fields(sqlite3_stmt*, const std::vector<Field<PointRecord>>&, const PointRecord&, int);
template int bind_fields(sqlite3_stmt*, const std::vector<Field<SampleRecord>>&, const SampleRecord&, int);
template int read_fields(sqlite3_stmt*, const std::vector<Field<RunRecord>>&, RunRecord&, int);
template int read_fields(sqlite3_stmt*, const std::vector<Field<PointRecord>>&, PointRecord&, int);
template int read_fields(sqlite3_stmt*, const std::vector<Field<SampleRecord>>&, SampleRecord&, int);
template std::string column_list(const std::vector<Field<RunRecord>>&, const std::string&);
template std::string column_list(const std::vector<Field<PointRecord>>&, const std::string&);
template std::string column_list(const std::vector<Field<SampleRecord>>&, const std::string&);

namespace {

template <class R>
std::string column_defs(const std::vector<Field<R>>& fields, const char* integer_primary_key) {
    std::string out;
    for (const auto& f : fields) {
        if (!out.empty()) out += ",\n  ";
        FieldType t = field_type(f);
        out += f.name;
        out += " ";
        out += field_type_sql(t);
        if (integer_primary_key && !std::strcmp(f.name, integer_primary_key)) {
            out += " PRIMARY KEY";  // an alias of the rowid: ids 1, 2, ... in insertion order
            continue;
        }
        out += " NOT NULL DEFAULT ";
        out += f.default_sql ? f.default_sql : t == FIELD_TYPE_TEXT ? "''" : "0";
    }
    return out;
}

}  // namespace

std::vector<std::string> create_statements() {
    return {
        "CREATE TABLE IF NOT EXISTS runs (\n  " + column_defs(run_fields(), "id") + ")",
        "CREATE TABLE IF NOT EXISTS points (\n  " + column_defs(point_fields(), nullptr) +
            ",\n  PRIMARY KEY (run_id, point_id))",
        "CREATE TABLE IF NOT EXISTS samples (\n  " + column_defs(sample_fields(), nullptr) +
            ",\n  PRIMARY KEY (run_id, point_id, problem_id, sample_index))",
        "CREATE INDEX IF NOT EXISTS samples_by_problem ON samples (run_id, problem_id)",
    };
}

// Version 1 was the first schema: one extraction per sample ("extracted", "correct") and no record
// of shards. Frozen text: never generate it from the field lists, which move on.
std::vector<std::string> create_statements_v1() {
    return {
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, config_json TEXT NOT NULL DEFAULT '', "
        "config_hash TEXT NOT NULL DEFAULT '', git_sha TEXT NOT NULL DEFAULT '', engine TEXT NOT NULL DEFAULT '', "
        "device TEXT NOT NULL DEFAULT '', host TEXT NOT NULL DEFAULT '', model_hash TEXT NOT NULL DEFAULT '', "
        "adapters_json TEXT NOT NULL DEFAULT '', merges_json TEXT NOT NULL DEFAULT '', "
        "datasets_json TEXT NOT NULL DEFAULT '', started_at TEXT NOT NULL DEFAULT '', "
        "finished_at TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '', "
        "n_points INTEGER NOT NULL DEFAULT 0, n_samples_planned INTEGER NOT NULL DEFAULT 0)",
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
        "PRIMARY KEY (run_id, point_id))",
        "CREATE TABLE samples (run_id INTEGER NOT NULL DEFAULT 0, point_id INTEGER NOT NULL DEFAULT 0, "
        "problem_id TEXT NOT NULL DEFAULT '', sample_index INTEGER NOT NULL DEFAULT 0, "
        "seed INTEGER NOT NULL DEFAULT 0, n_tokens_prompt INTEGER NOT NULL DEFAULT 0, "
        "n_tokens_think INTEGER NOT NULL DEFAULT 0, n_tokens_answer INTEGER NOT NULL DEFAULT 0, "
        "finish_reason TEXT NOT NULL DEFAULT '', forced INTEGER NOT NULL DEFAULT 0, "
        "n_wait INTEGER NOT NULL DEFAULT 0, censored INTEGER NOT NULL DEFAULT 0, "
        "extracted TEXT NOT NULL DEFAULT '', gold TEXT NOT NULL DEFAULT '', correct INTEGER NOT NULL DEFAULT 0, "
        "latency_s REAL NOT NULL DEFAULT 0, prompt_text TEXT NOT NULL DEFAULT '', "
        "response_text TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL DEFAULT '', "
        "PRIMARY KEY (run_id, point_id, problem_id, sample_index))",
        "CREATE INDEX samples_by_problem ON samples (run_id, problem_id)",
    };
}

const std::vector<std::vector<std::string>>& migration_steps() {
    static const std::vector<std::vector<std::string>> steps = {
        // 1 -> 2: strict and flexible extraction side by side; runs record their shards; points.seed is
        // renamed base_seed. The single
        // v1 extraction was the strict pipeline, so it becomes extracted_strict / correct_strict and
        // the flexible columns start as copies of it (the best information there is).
        {
            "ALTER TABLE samples RENAME COLUMN extracted TO extracted_strict",
            "ALTER TABLE samples RENAME COLUMN correct TO correct_strict",
            "ALTER TABLE samples ADD COLUMN extracted_flexible TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE samples ADD COLUMN correct_flexible INTEGER NOT NULL DEFAULT 0",
            "UPDATE samples SET extracted_flexible = extracted_strict, correct_flexible = correct_strict",
            "ALTER TABLE runs ADD COLUMN shards TEXT NOT NULL DEFAULT ''",
            // "seed" named both the sweep's seed (points) and the per-sample seed (samples), which
            // gave exports two columns of the same name.
            "ALTER TABLE points RENAME COLUMN seed TO base_seed",
        },
        // 2 -> 3: external engines (engines/http). A sample records whether it is a model result
        // ("ok") or failed for infrastructure reasons ("failed_infra", with the error), whether its
        // token counts are exact, and the engine's per-sample details; a run records the engine's
        // manifest (the http engine's capability probe). Every earlier sample came from an
        // in-process engine: ok, token-exact.
        {
            "ALTER TABLE samples ADD COLUMN status TEXT NOT NULL DEFAULT 'ok'",
            "ALTER TABLE samples ADD COLUMN error TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE samples ADD COLUMN token_exact INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE samples ADD COLUMN engine_json TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE runs ADD COLUMN engine_json TEXT NOT NULL DEFAULT ''",
        },
        // 3 -> 4: query-adaptive signals and prefill counters (issue #19). Earlier samples measured
        // neither: unknown prefill, no confidence, no perplexities.
        {
            "ALTER TABLE samples ADD COLUMN n_tokens_prefilled INTEGER NOT NULL DEFAULT -1",
            "ALTER TABLE samples ADD COLUMN answer_conf REAL NOT NULL DEFAULT -1",
            "ALTER TABLE samples ADD COLUMN answer_ppl REAL NOT NULL DEFAULT 0",
            "ALTER TABLE samples ADD COLUMN prompt_ppl REAL NOT NULL DEFAULT 0",
        },
    };
    return steps;
}

}  // namespace adabench::schema
