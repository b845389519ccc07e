// The fault-injecting VFS (see fault_vfs.h): every method delegates to the default VFS's file; the
// counted ones first ask fault_hit() whether this call is the one to fail.
#include "fault_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace adabench::testing {

namespace {

std::atomic<int64_t> g_count[FAULT_OP_COUNT];
std::atomic<int> g_op{-1};
std::atomic<int64_t> g_at{0};
std::atomic<int> g_rc{SQLITE_OK};
std::atomic<bool> g_fired{false};

sqlite3_vfs* g_real = nullptr;

// Counts the call; returns the error to return instead of doing it, or SQLITE_OK.
int fault_hit(FaultOp op) {
    int64_t n = ++g_count[op];
    if (g_op.load() == op && n == g_at.load()) {
        g_fired = true;
        return g_rc.load();
    }
    return SQLITE_OK;
}

struct FaultFile {
    sqlite3_file base;
    sqlite3_file* real;  // the default VFS's file, allocated right after this struct
};

sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f)->real; }

int f_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int f_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
    return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}
int f_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
    int rc = fault_hit(FAULT_OP_WRITE);
    if (rc == SQLITE_FULL && n > 1) {
        // A disk filling up mid-write: part of the buffer lands, then the error.
        real_of(f)->pMethods->xWrite(real_of(f), buf, n / 2, off);
        return rc;
    }
    if (rc != SQLITE_OK) return rc;
    return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}
int f_truncate(sqlite3_file* f, sqlite3_int64 size) {
    int rc = fault_hit(FAULT_OP_TRUNCATE);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}
// Counted but not passed on: the tests simulate crashes of the process, not of the machine, and
// hundreds of real fsyncs would make them slow on a busy disk.
int f_sync(sqlite3_file*, int) { return fault_hit(FAULT_OP_SYNC); }
int f_file_size(sqlite3_file* f, sqlite3_int64* size) { return real_of(f)->pMethods->xFileSize(real_of(f), size); }
int f_lock(sqlite3_file* f, int level) {
    int rc = fault_hit(FAULT_OP_LOCK);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xLock(real_of(f), level);
}
int f_unlock(sqlite3_file* f, int level) { return real_of(f)->pMethods->xUnlock(real_of(f), level); }
int f_check_reserved(sqlite3_file* f, int* out) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out); }
int f_file_control(sqlite3_file* f, int op, void* arg) {
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}
int f_sector_size(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int f_device(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int f_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** p) {
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, p);
}
int f_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
    // Exclusive wal-index locks are the writer, checkpointer and recovery locks.
    if ((flags & SQLITE_SHM_LOCK) && (flags & SQLITE_SHM_EXCLUSIVE)) {
        int rc = fault_hit(FAULT_OP_LOCK);
        if (rc != SQLITE_OK) return rc;
    }
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}
void f_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int f_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int f_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** p) {
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, p);
}
int f_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

const sqlite3_io_methods g_methods = {
    3,          f_close,       f_read,           f_write,        f_truncate,    f_sync,   f_file_size,
    f_lock,     f_unlock,      f_check_reserved, f_file_control, f_sector_size, f_device, f_shm_map,
    f_shm_lock, f_shm_barrier, f_shm_unmap,      f_fetch,        f_unfetch,
};

int v_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
    auto* ff = reinterpret_cast<FaultFile*>(f);
    ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
    std::memset(ff->real, 0, static_cast<size_t>(g_real->szOsFile));
    int rc = g_real->xOpen(g_real, name, ff->real, flags, out_flags);
    // SQLite calls xClose only when pMethods is set, which mirrors the real file.
    ff->base.pMethods = ff->real->pMethods ? &g_methods : nullptr;
    return rc;
}
int v_delete(sqlite3_vfs*, const char* name, int sync_dir) { return g_real->xDelete(g_real, name, sync_dir); }
int v_access(sqlite3_vfs*, const char* name, int flags, int* out) { return g_real->xAccess(g_real, name, flags, out); }
int v_full(sqlite3_vfs*, const char* name, int n, char* out) { return g_real->xFullPathname(g_real, name, n, out); }
void* v_dlopen(sqlite3_vfs*, const char* name) { return g_real->xDlOpen(g_real, name); }
void v_dlerror(sqlite3_vfs*, int n, char* out) { g_real->xDlError(g_real, n, out); }
void (*v_dlsym(sqlite3_vfs*, void* h, const char* sym))(void) { return g_real->xDlSym(g_real, h, sym); }
void v_dlclose(sqlite3_vfs*, void* h) { g_real->xDlClose(g_real, h); }
int v_random(sqlite3_vfs*, int n, char* out) { return g_real->xRandomness(g_real, n, out); }
int v_sleep(sqlite3_vfs*, int us) { return g_real->xSleep(g_real, us); }
int v_time(sqlite3_vfs*, double* out) { return g_real->xCurrentTime(g_real, out); }
int v_last_error(sqlite3_vfs*, int n, char* out) { return g_real->xGetLastError(g_real, n, out); }
int v_time64(sqlite3_vfs*, sqlite3_int64* out) { return g_real->xCurrentTimeInt64(g_real, out); }

sqlite3_vfs g_vfs;

}  // namespace

const char* fault_op_name(FaultOp op) {
    switch (op) {
        case FAULT_OP_WRITE:
            return "write";
        case FAULT_OP_SYNC:
            return "sync";
        case FAULT_OP_TRUNCATE:
            return "truncate";
        case FAULT_OP_LOCK:
            return "lock";
        default:
            return "?";
    }
}

const char* fault_vfs_register() {
    static std::once_flag once;
    std::call_once(once, [] {
        g_real = sqlite3_vfs_find(nullptr);
        g_vfs = sqlite3_vfs{};
        g_vfs.iVersion = 2;
        g_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_real->szOsFile;
        g_vfs.mxPathname = g_real->mxPathname;
        g_vfs.zName = "adabench-fault";
        g_vfs.xOpen = v_open;
        g_vfs.xDelete = v_delete;
        g_vfs.xAccess = v_access;
        g_vfs.xFullPathname = v_full;
        g_vfs.xDlOpen = v_dlopen;
        g_vfs.xDlError = v_dlerror;
        g_vfs.xDlSym = v_dlsym;
        g_vfs.xDlClose = v_dlclose;
        g_vfs.xRandomness = v_random;
        g_vfs.xSleep = v_sleep;
        g_vfs.xCurrentTime = v_time;
        g_vfs.xGetLastError = v_last_error;
        g_vfs.xCurrentTimeInt64 = v_time64;
        sqlite3_vfs_register(&g_vfs, 0);
    });
    return g_vfs.zName;
}

void fault_vfs_arm(FaultOp op, int64_t n, int rc) {
    for (auto& c : g_count) c = 0;
    g_fired = false;
    g_rc = rc;
    g_at = n;
    g_op = n > 0 ? static_cast<int>(op) : -1;
}

void fault_vfs_disarm() { g_op = -1; }

int64_t fault_vfs_count(FaultOp op) { return g_count[op].load(); }

bool fault_vfs_fired() { return g_fired.load(); }

}  // namespace adabench::testing
