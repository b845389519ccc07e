// A fault-injecting SQLite VFS for store tests: a test tool, never shipped.
//
// "adabench-fault" wraps the default VFS and delegates every call. It counts the calls that can
// fail a write path — xWrite, xSync, xTruncate on any file (database, -wal, -journal), and xLock /
// exclusive xShmLock — and, when armed, makes the Nth call of one kind return a real SQLite error:
// SQLITE_FULL (after writing half the buffer, like a disk filling up mid-write),
// SQLITE_IOERR_WRITE, SQLITE_IOERR_FSYNC, SQLITE_IOERR_TRUNCATE, SQLITE_BUSY or SQLITE_IOERR_LOCK.
// xSync is counted but never reaches the disk (the tests model a killed process, not a power cut).
// Only that one call fails; the next ones go through, as after a transient fault. Counters are
// global (one fault plan per process), so tests that use it run their sweeps one at a time.
#pragma once
#include <cstdint>
#include <string>

namespace adabench::testing {

enum FaultOp { FAULT_OP_WRITE, FAULT_OP_SYNC, FAULT_OP_TRUNCATE, FAULT_OP_LOCK, FAULT_OP_COUNT };

const char* fault_op_name(FaultOp op);

// Registers the VFS once (not as the default) and returns its name.
const char* fault_vfs_register();

// Clears the counters and arms the fault: the call number `n` (1-based) of kind `op` returns
// `rc`. n = 0: count only.
void fault_vfs_arm(FaultOp op, int64_t n, int rc);
// Stops failing calls; the counters keep counting.
void fault_vfs_disarm();
// Calls of a kind seen since the last arm.
int64_t fault_vfs_count(FaultOp op);
// Whether the armed fault was delivered.
bool fault_vfs_fired();

}  // namespace adabench::testing
