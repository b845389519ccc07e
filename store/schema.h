// The store's schema as data: one typed field list per table (llama-bench sql_printer style).
//
// Each list maps a column name to a member of the record struct in store.h; from it come the
// CREATE TABLE statement, the INSERT statement, statement binding, row reading and the export
// columns. Adding a column is one line here plus a migration step in schema.cpp. Internal to
// adabench::store; the public view is store_*_fields() in store.h.
#pragma once
#include <sqlite3.h>

#include <string>
#include <variant>
#include <vector>

#include "store/store.h"

namespace adabench::schema {

template <class R>
struct Field {
    const char* name;
    std::variant<int64_t R::*, double R::*, bool R::*, std::string R::*> member;
    // The column's SQL default when it is not the type's zero ('' or 0), e.g. "'ok'". Writes bind
    // every column; the default is what rows written before the column existed read back.
    const char* default_sql = nullptr;
};

const std::vector<Field<RunRecord>>& run_fields();
const std::vector<Field<PointRecord>>& point_fields();
const std::vector<Field<SampleRecord>>& sample_fields();

template <class R>
FieldType field_type(const Field<R>& f) {
    if (std::holds_alternative<double R::*>(f.member)) return FIELD_TYPE_REAL;
    if (std::holds_alternative<std::string R::*>(f.member)) return FIELD_TYPE_TEXT;
    return FIELD_TYPE_INTEGER;
}

const char* field_type_sql(FieldType t);

// Binds the fields of r to parameters first, first+1, ... Returns the next free index.
template <class R>
int bind_fields(sqlite3_stmt* st, const std::vector<Field<R>>& fields, const R& r, int first);
// Reads columns first, first+1, ... into r.
template <class R>
int read_fields(sqlite3_stmt* st, const std::vector<Field<R>>& fields, R& r, int first);

// Comma-separated column names, optionally prefixed ("s." for joins).
template <class R>
std::string column_list(const std::vector<Field<R>>& fields, const std::string& prefix = "");

// The full current schema (CREATE TABLE / INDEX statements), generated from the field lists.
std::vector<std::string> create_statements();
// Forward migrations: steps[v] upgrades a database at version v+1 to v+2 (steps[0]: 1 -> 2,
// steps[1]: 2 -> 3).
const std::vector<std::vector<std::string>>& migration_steps();
// The schema as version 1 wrote it, frozen, so the migration test can build a v1 database.
std::vector<std::string> create_statements_v1();

}  // namespace adabench::schema
