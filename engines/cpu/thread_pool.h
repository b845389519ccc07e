// A small persistent thread pool for the CPU backend: run(n, fn) calls fn(i) for i in [0, n) on the
// calling thread plus the workers, handing out indices dynamically (an atomic counter), so a core
// that another process is using simply takes fewer chunks. Workers spin briefly between jobs (a
// decode step issues a few hundred jobs of tens of microseconds each) and then sleep on a condition
// variable, so an idle pool costs nothing. Not a general task system: one job at a time, no nesting.
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace adabench {

// More threads than this is a typo or a misreading of the flag, not a machine we run on.
constexpr int kCpuThreadPoolMaxThreads = 1024;

class CpuThreadPool {
public:
    // n_threads: total threads including the caller (< 1 means 1). Throws adabench::Error above
    // kCpuThreadPoolMaxThreads, or when the system refuses a thread (after joining those started).
    explicit CpuThreadPool(int n_threads);
    ~CpuThreadPool();
    CpuThreadPool(const CpuThreadPool&) = delete;
    CpuThreadPool& operator=(const CpuThreadPool&) = delete;

    int size() const { return int(workers_.size()) + 1; }
    // Calls fn(i) for every i in [0, n_chunks); returns when all calls are done. The first exception
    // thrown by fn is rethrown here (the remaining chunks still run).
    void run(int n_chunks, const std::function<void(int)>& fn);

private:
    void worker_main();
    void work_on_job();
    void stop_workers();

    std::vector<std::thread> workers_;
    // Sequence lock over the job fields: odd while the caller rewrites them, even when published.
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> active_{0};  // workers inside work_on_job
    std::atomic<int> next_chunk_{0};
    std::atomic<int> done_chunks_{0};
    int n_chunks_ = 0;
    const std::function<void(int)>* fn_ = nullptr;
    std::atomic<bool> stop_{false};

    std::mutex mu_;
    std::condition_variable cv_;
    std::atomic<int> n_sleeping_{0};
    std::exception_ptr error_;
    std::mutex error_mu_;
};

}  // namespace adabench
