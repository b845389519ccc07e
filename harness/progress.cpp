// Progress display (see progress.h). Rates count only this session's work, so a resumed sweep's
// ETA is not flattered by samples that were already stored.
#include "harness/progress.h"

#include <unistd.h>

#include <cmath>

#include "common/error.h"

namespace adabench {

ProgressMode progress_mode_parse(const std::string& s) {
    if (s == "auto") return PROGRESS_MODE_AUTO;
    if (s == "bar") return PROGRESS_MODE_BAR;
    if (s == "plain") return PROGRESS_MODE_PLAIN;
    if (s == "none") return PROGRESS_MODE_NONE;
    throw UsageError("--progress '" + s + "' must be auto, bar, plain or none");
}

SweepProgress::SweepProgress(ProgressMode mode, FILE* out, double plain_interval_s)
    : mode_(mode), out_(out), interval_s_(plain_interval_s) {
    if (mode_ == PROGRESS_MODE_AUTO) mode_ = out_ && isatty(fileno(out_)) ? PROGRESS_MODE_BAR : PROGRESS_MODE_PLAIN;
}

namespace {
std::string fmt_duration(double s) {
    if (!std::isfinite(s) || s < 0) return "?";
    long t = static_cast<long>(s + 0.5);
    char buf[32];
    if (t >= 3600)
        std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
    else
        std::snprintf(buf, sizeof buf, "%lds", t);
    return buf;
}
}  // namespace

void SweepProgress::start(int64_t total, int64_t done, const std::string& what) {
    total_ = total;
    done_ = done_at_start_ = done;
    what_ = what;
    t0_ = last_print_ = std::chrono::steady_clock::now();
    started_ = true;
    if (mode_ == PROGRESS_MODE_PLAIN) {
        std::fprintf(out_, "%s\n", line().c_str());
        std::fflush(out_);
    } else if (mode_ == PROGRESS_MODE_BAR) {
        draw(false);
    }
}

std::string SweepProgress::line() const {
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    double tps = el > 0 ? static_cast<double>(tokens_) / el : 0.0;
    int64_t new_done = done_ - done_at_start_;
    double eta = new_done > 0 ? el * static_cast<double>(total_ - done_) / static_cast<double>(new_done) : NAN;
    double pct = total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
    char buf[256];
    std::snprintf(buf, sizeof buf, "%s: %lld/%lld samples (%.1f%%), %.1f tokens/s, elapsed %s, ETA %s", what_.c_str(),
                  static_cast<long long>(done_), static_cast<long long>(total_), pct, tps, fmt_duration(el).c_str(),
                  done_ >= total_ ? "0s" : fmt_duration(eta).c_str());
    return buf;
}

void SweepProgress::draw(bool final_line) {
    const int width = 24;
    int filled =
        total_ > 0 ? static_cast<int>(width * static_cast<double>(done_) / static_cast<double>(total_)) : width;
    if (filled > width) filled = width;
    std::string bar(static_cast<size_t>(filled), '#');
    bar += std::string(static_cast<size_t>(width - filled), '.');
    // \r then clear to end of line: redraw in place.
    std::fprintf(out_, "\r[%s] %s\033[K%s", bar.c_str(), line().c_str(), final_line ? "\n" : "");
    std::fflush(out_);
}

void SweepProgress::update(int64_t done, int64_t tokens_generated) {
    done_ = done;
    tokens_ += tokens_generated;
    if (!started_ || mode_ == PROGRESS_MODE_NONE) return;
    auto now = std::chrono::steady_clock::now();
    if (mode_ == PROGRESS_MODE_BAR) {
        draw(false);
    } else if (std::chrono::duration<double>(now - last_print_).count() >= interval_s_) {
        std::fprintf(out_, "%s\n", line().c_str());
        std::fflush(out_);
        last_print_ = now;
    }
}

void SweepProgress::finish(const std::string& status) {
    if (!started_ || mode_ == PROGRESS_MODE_NONE) return;
    if (mode_ == PROGRESS_MODE_BAR)
        draw(true);
    else
        std::fprintf(out_, "%s\n", line().c_str());
    std::fprintf(out_, "%s: %s\n", what_.c_str(), status.c_str());
    std::fflush(out_);
}

}  // namespace adabench
