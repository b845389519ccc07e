// Analysis of stored runs: per run, task and grid point the avg@n accuracy with its bootstrap CI,
// pass@k, maj@k, mean thinking / answer / total tokens (all, correct, incorrect samples), censored
// rate and thinking-budget compliance; per task the Pareto frontier (accuracy up, mean total tokens
// down) and the area it dominates against a reference point. Reporters (console, JSON, CSV, HTML)
// render the same rows, google/benchmark BenchmarkReporter style.
//
// Only samples stored ok are measured: a failed_infra sample (an external server gave up after its
// retries) is neither right nor wrong and enters no figure; each point counts them (n_failed) so
// that every reporter can show that a figure stands on fewer samples than planned.
//
// Pure computation over the store's read API (graders/metrics.h does the statistics). Not here:
// HTML layout (reports/html.cpp), comparisons of two runs (reports/compare.h), serving.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "graders/metrics.h"
#include "store/store.h"

namespace adabench {

enum ReportVerdict { REPORT_VERDICT_STRICT, REPORT_VERDICT_FLEXIBLE };

struct AnalysisOptions {
    ReportVerdict verdict = REPORT_VERDICT_STRICT;  // which grader verdict counts as correct
    std::vector<size_t> pass_k = {1, 4, 8};         // skipped when k exceeds the samples per problem
    std::vector<size_t> maj_k = {0};                // 0 = all samples
    BootstrapOptions bootstrap;
    // Reference point of the dominated area: accuracy 0 and tokens = this value; <= 0 means
    // 1.05 x the largest mean total tokens of the task (over every run analysed together).
    double reference_tokens = 0;
};

struct TokenStats {
    TokenMeans think, answer, total;
};

// One grid point's figures.
struct AnalysisPoint {
    PointRecord point;
    MetricsSummary summary;                      // accuracy (avg@n + CI), pass@k, maj@k, censored rate, total tokens
    TokenStats tokens;                           // thinking / answer / total means over all, correct, incorrect samples
    std::optional<BudgetCompliance> compliance;  // thinking tokens vs the thinking budget
    bool on_frontier = false;
    size_t n_failed = 0;  // failed_infra samples of this point, left out of every figure above
    bool empty() const { return summary.n_samples == 0; }  // no ok sample (failed ones may exist)
};

struct AnalysisTask {
    std::string task;
    std::vector<size_t> points;    // indices into AnalysisRun::points, this task's points
    std::vector<size_t> frontier;  // indices into AnalysisRun::points, tokens ascending
    ParetoPoint reference;
    double dominated_area = 0;
};

struct AnalysisRun {
    RunRecord run;
    std::vector<AnalysisPoint> points;  // point_id order
    std::vector<AnalysisTask> tasks;    // in order of first appearance
    int64_t n_samples = 0;              // samples stored ok
    int64_t n_failed = 0;               // samples stored as failed_infra (not in any figure)
};

// Loads a run's points and samples and computes everything. Points without samples stay in the
// list (empty()) but are left out of frontiers. Throws adabench::Error when the run does not exist.
AnalysisRun analysis_run(const Store& store, int64_t run_id, const AnalysisOptions& options = {});
// Frontier and dominated area per task (again), with reference tokens shared across `runs` per task
// when options.reference_tokens <= 0, so the areas of several runs are comparable.
void analysis_align_references(std::vector<AnalysisRun>& runs, const AnalysisOptions& options = {});

// Splits a stored response into thinking and answer text at the last think_end marker (the prompt
// may have opened thinking, so a leading think_begin is optional). No marker: all answer, unless
// censored (then all thinking).
void analysis_split_response(const std::string& response, bool censored, std::string* thinking, std::string* answer);

// A short display label of a point: "B=64 c=[0.5]" (task left out).
std::string analysis_point_label(const PointRecord& p);
// The coefficient part alone, e.g. "[0.25,0.75]", or "λ=0.5" for merges, or "base".
std::string analysis_point_coefs(const PointRecord& p);
// Which method produced a point: the " tag=NAME" its stored label ends with (adabench search:
// nsga2, cmaes, grid, reference; adabench calibrate: calibrated), else "grid" (a plain sweep point).
std::string analysis_point_method(const PointRecord& p);

// ---- reporters over the same rows ----

class AnalysisReporter {
public:
    virtual ~AnalysisReporter() = default;
    virtual void report(const std::vector<AnalysisRun>& runs, std::ostream& out) = 0;
};

class ConsoleReporter : public AnalysisReporter {
public:
    void report(const std::vector<AnalysisRun>& runs, std::ostream& out) override;
};
class JsonReporter : public AnalysisReporter {
public:
    void report(const std::vector<AnalysisRun>& runs, std::ostream& out) override;
};
class CsvReporter : public AnalysisReporter {
public:
    void report(const std::vector<AnalysisRun>& runs, std::ostream& out) override;
};

// The JSON of one run (what JsonReporter writes per run and what the server's API returns).
nlohmann::json analysis_run_json(const AnalysisRun& run);
nlohmann::json analysis_point_json(const AnalysisPoint& p);
// Run metadata as JSON (parsed adapters/datasets where they are valid JSON).
nlohmann::json analysis_run_meta_json(const RunRecord& run);

// A figure for tables and pages: fixed `digits` decimals, "-" for NaN (an empty group).
std::string report_fmt(double v, int digits = 3);

}  // namespace adabench
