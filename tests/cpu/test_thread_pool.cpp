// CpuThreadPool construction under limits (issue 20 D4): more threads than the cap are refused with
// a message, and a system that refuses a thread part way gets a clean Error (the started workers
// joined) instead of a hang. Each case runs in a forked child (gtest death-test machinery) because
// it lowers the process's address-space limit; an alarm turns the old hang into a failure.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/error.h"
#include "engines/cpu/thread_pool.h"

using namespace adabench;

namespace {

// Virtual memory in use now, from /proc/self/status (kB), in bytes; 0 if unknown.
rlim_t current_vm_bytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmSize:", 0) == 0) return static_cast<rlim_t>(std::atoll(line.c_str() + 7)) * 1024;
    return 0;
}

}  // namespace

TEST(CpuThreadPoolLimits, TooManyThreadsIsAnErrorNamingTheFlag) {
    try {
        CpuThreadPool pool(kCpuThreadPoolMaxThreads + 1);
        FAIL() << "a pool above the cap must be refused";
    } catch (const Error& e) {
        std::string w = e.what();
        EXPECT_NE(w.find("--threads " + std::to_string(kCpuThreadPoolMaxThreads + 1)), std::string::npos) << w;
    }
}

// The death-test child: room for a few 8 MiB thread stacks, not for a thousand.
[[noreturn]] void start_pool_under_a_memory_limit() {
    alarm(20);  // the old constructor hung here forever
    rlim_t vm = current_vm_bytes();
    if (vm == 0) _exit(4);
    struct rlimit lim {};
    lim.rlim_cur = lim.rlim_max = vm + (rlim_t(64) << 20);
    if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(4);
    try {
        CpuThreadPool pool(kCpuThreadPoolMaxThreads);
    } catch (const Error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        _exit(3);
    }
    _exit(0);
}

TEST(CpuThreadPoolLimits, RefusedThreadsJoinAndThrowInsteadOfHanging) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(start_pool_under_a_memory_limit(), testing::ExitedWithCode(3), "cannot start 1024 CPU threads");
}
