// SQLITE_CHECK: every SQLite call in the store goes through it. A failure throws adabench::Error
// naming the database file, the source file and line, the call and SQLite's own message
// (llm.c cudaCheck style). Internal to adabench::store.
#pragma once
#include <sqlite3.h>

namespace adabench {

[[noreturn]] void store_throw_sqlite(sqlite3* db, int rc, const char* call, const char* file, int line);

}  // namespace adabench

#define SQLITE_CHECK(db, expr)                                                                \
    do {                                                                                      \
        int sqlite_rc_ = (expr);                                                              \
        if (sqlite_rc_ != SQLITE_OK && sqlite_rc_ != SQLITE_ROW && sqlite_rc_ != SQLITE_DONE) \
            ::adabench::store_throw_sqlite((db), sqlite_rc_, #expr, __FILE__, __LINE__);      \
    } while (0)
