// CpuThreadPool: see thread_pool.h. The job fields are guarded by a sequence lock (generation_):
// a worker announces itself in active_, then re-checks that the generation it saw is still the
// published one before touching the fields, and the caller waits for active_ to drain before
// rewriting them. That keeps a worker that wakes up late from running a stale job.
#include "engines/cpu/thread_pool.h"

#include <immintrin.h>

#include <string>

#include "common/error.h"

namespace adabench {

namespace {
constexpr int kSpinIterations = 20000;  // ~0.1-0.5 ms of pause instructions before sleeping
}

CpuThreadPool::CpuThreadPool(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > kCpuThreadPoolMaxThreads)
        throw Error("--threads " + std::to_string(n_threads) + " is more than " +
                        std::to_string(kCpuThreadPoolMaxThreads) + " CPU threads",
                    "use 0 (all cores) or at most the number of cores");
    try {
        workers_.reserve(static_cast<size_t>(n_threads - 1));
        for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_main(); });
    } catch (const std::exception& e) {  // std::system_error from the thread, or bad_alloc
        // Under an address-space or process limit thread creation fails part way: the started
        // workers wait on cv_, which a throwing constructor would destroy under them. Stop and join
        // them first, then report.
        size_t started = workers_.size() + 1;
        stop_workers();
        throw Error("cannot start " + std::to_string(n_threads) + " CPU threads (started " + std::to_string(started) +
                        "): " + e.what(),
                    "lower --threads, or raise the process/memory limits (ulimit -u, ulimit -v)");
    }
}

void CpuThreadPool::stop_workers() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
        generation_.fetch_add(2);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
}

CpuThreadPool::~CpuThreadPool() { stop_workers(); }

void CpuThreadPool::work_on_job() {
    for (;;) {
        int i = next_chunk_.fetch_add(1);
        if (i >= n_chunks_) break;
        try {
            (*fn_)(i);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mu_);
            if (!error_) error_ = std::current_exception();
        }
        done_chunks_.fetch_add(1);
    }
}

void CpuThreadPool::worker_main() {
    uint64_t seen = 0;
    for (;;) {
        uint64_t g = generation_.load();
        int spins = 0;
        while ((g == seen || (g & 1)) && !stop_.load()) {
            if (++spins < kSpinIterations) {
                _mm_pause();
            } else {
                std::unique_lock<std::mutex> lock(mu_);
                n_sleeping_.fetch_add(1);
                cv_.wait(lock, [&] {
                    uint64_t now = generation_.load();
                    return (now != seen && !(now & 1)) || stop_.load();
                });
                n_sleeping_.fetch_sub(1);
                spins = 0;
            }
            g = generation_.load();
        }
        if (stop_.load()) return;
        seen = g;
        active_.fetch_add(1);
        if (generation_.load() == g) work_on_job();
        active_.fetch_sub(1);
    }
}

void CpuThreadPool::run(int n_chunks, const std::function<void(int)>& fn) {
    if (n_chunks <= 0) return;
    if (workers_.empty() || n_chunks == 1) {
        for (int i = 0; i < n_chunks; ++i) fn(i);
        return;
    }
    // Close the previous job: make the generation odd, wait for stragglers to leave.
    generation_.fetch_add(1);
    while (active_.load() != 0) _mm_pause();
    fn_ = &fn;
    n_chunks_ = n_chunks;
    error_ = nullptr;
    done_chunks_.store(0);
    next_chunk_.store(0);
    generation_.fetch_add(1);  // publish (even)
    if (n_sleeping_.load() > 0) {
        std::lock_guard<std::mutex> lock(mu_);
        cv_.notify_all();
    }
    work_on_job();
    int spins = 0;
    while (done_chunks_.load() != n_chunks) {
        if (++spins < kSpinIterations) {
            _mm_pause();
        } else {
            std::this_thread::yield();
        }
    }
    if (error_) std::rethrow_exception(error_);
}

}  // namespace adabench
