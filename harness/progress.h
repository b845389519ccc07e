// Sweep progress on stderr: a one-line bar redrawn in place on a terminal (samples done/total,
// tokens/s, ETA), or plain lines at a fixed interval otherwise (logs, CI, Slurm). Not thread-safe;
// the runner calls it between batches.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace adabench {

enum ProgressMode { PROGRESS_MODE_AUTO, PROGRESS_MODE_BAR, PROGRESS_MODE_PLAIN, PROGRESS_MODE_NONE };
// "auto", "bar", "plain", "none"; throws UsageError.
ProgressMode progress_mode_parse(const std::string& s);

class SweepProgress {
public:
    SweepProgress(ProgressMode mode, FILE* out = stderr, double plain_interval_s = 10.0);
    // total samples of this shard, done already stored before this session.
    void start(int64_t total, int64_t done, const std::string& what);
    void update(int64_t done, int64_t tokens_generated);
    void finish(const std::string& status);
    // The line the bar or a plain report shows, for tests.
    std::string line() const;

private:
    void draw(bool final_line);
    ProgressMode mode_;
    FILE* out_;
    double interval_s_;
    int64_t total_ = 0, done_ = 0, done_at_start_ = 0, tokens_ = 0;
    std::string what_;
    std::chrono::steady_clock::time_point t0_, last_print_;
    bool started_ = false;
};

}  // namespace adabench
