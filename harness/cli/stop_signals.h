// SIGINT / SIGTERM for the long-running server commands (serve, serve-engine): block them before
// any thread starts, so every thread inherits the mask and only the waiting main thread receives
// them; then wait for one and stop the server in order.
#pragma once
#include <signal.h>

namespace adabench {

// Blocks SIGINT and SIGTERM in the calling thread; returns the set to wait on.
inline sigset_t cli_block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

// Waits until one of them arrives; returns its number.
inline int cli_wait_stop_signal(const sigset_t& set) {
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

}  // namespace adabench
