// Early exit and overthinking replayed from a stored fork sweep (issue #19 item 5; design:
// ADAPTIVE_METHODS.md d.2). In a fork sweep, unit u of a query at every thinking budget
// B1 < ... < BK is one trace: the sample at Bi is the trace forced to answer after Bi thinking
// tokens (think_cut), or, when thinking ended on its own before Bi, the natural result, which every
// larger budget then repeats. Read that way, the K samples of a unit are the K "forks" of one trace:
//   - DEER replay: exit at the first fork whose forced answer has confidence > theta (the stored
//     answer_conf), or at the first natural fork, or at the last fork;
//   - convergence probes: the fork after which the answer never changes, the overthinking ratio and
//     ThinkBench's first-correct ratio;
//   - subthought mode: the most frequent answer over the forks against the last answer.
// Budget "none" (think_budget < 0) counts as the largest budget (the trace run to its end).
//
// Conventions: forks are the configurations of one budget group (adaptive_budget_groups: the same
// configuration but for the thinking budget), in budget order. Figures are plain means over units
// (traces) of every query; when each query holds the same number of samples (the sweep's normal case)
// they equal the means over queries of adaptive_static_points. Tokens are generated tokens
// (thinking + answer) of the chosen sample. Not here: the engine side that measures answer_conf,
// HTML (reports/html_adaptive.cpp), the CLI (harness/cli/cmd_route.cpp).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/adaptive.h"

namespace adabench {

// The configurations of a table that differ only in their thinking budget (defined in adaptive.cpp,
// shared with adaptive_parallel). Groups in order of first column.
struct BudgetGroup {
    std::string name;                   // the configuration without its budget ("base" when nothing else)
    std::map<int64_t, size_t> columns;  // thinking budget -> column (-1 = none, first in the map)
};
std::vector<BudgetGroup> adaptive_budget_groups(const AdaptiveTable& table);

// The group's columns as forks of one trace: budgets ascending, "none" (< 0) last.
std::vector<std::pair<int64_t, size_t>> adaptive_fork_order(const BudgetGroup& group);

enum EarlyExitReason { EARLY_EXIT_CONFIDENCE, EARLY_EXIT_NATURAL, EARLY_EXIT_LAST };

// DEER on one trace (forks in order): the index of the exit fork for threshold theta. A natural fork
// (think_cut false) exits first; then a forced answer with finite answer_conf > theta; else the last
// fork. NaN confidence never exits on confidence. `reason` may be null.
size_t adaptive_deer_exit(const std::vector<AdaptiveSample>& forks, double theta, EarlyExitReason* reason = nullptr);

// The probes of one trace (forks in order).
struct TraceProbes {
    size_t convergence = 0;      // first fork index from which the vote key never changes ("" counts as a key)
    double overthinking = 0;     // 1 - think(convergence) / think(last); 0 when think(last) = 0
    double first_correct = NAN;  // think(first correct fork) / think(last); NaN when never correct; 1 when
                                 // think(last) = 0 and correct
    size_t n_distinct = 0;       // forks up to and including the first natural one (later ones repeat it)
    double mode_correct = 0;     // correctness of the modal key over the distinct forks (ties: latest)
    double last_correct = 0;     // correctness of the last fork
    double cost_all_forks = 0;   // sum of the distinct forks' generated tokens (each forced answer decoded
                                 // from scratch, no shared prefix)
    double cost_shared = 0;      // think(last distinct fork) + sum of the distinct forks' answer tokens
                                 // (the trace once, plus one continuation per fork)
};
TraceProbes adaptive_trace_probes(const std::vector<AdaptiveSample>& forks);

struct EarlyExitPoint {
    double theta = 0;
    double tokens = NAN;         // mean generated tokens of the exit sample
    double accuracy = NAN;       // mean correctness of the exit sample
    double think = NAN;          // mean thinking tokens of the exit sample
    double exit_budget = NAN;    // mean budget of the exit fork (budget none: the sample's thinking tokens)
    double share_early = NAN;    // exited on confidence before the last fork (a cut the full trace did not make)
    double share_natural = NAN;  // exited where thinking ended on its own
};

struct ConvergenceStats {
    double level = NAN;  // NaN: all queries
    size_t n_traces = 0;
    double convergence_fork = NAN;   // mean convergence index (0 = the first fork)
    double convergence_think = NAN;  // mean thinking tokens at the convergence fork
    double last_think = NAN;         // mean thinking tokens at the last fork
    double overthinking = NAN;       // mean overthinking ratio
    double first_correct = NAN;      // mean first-correct ratio over the traces ever correct
    size_t n_ever_correct = 0;
    double accuracy_last = NAN;   // the full trace's accuracy
    double accuracy_mode = NAN;   // subthought mode over the distinct forks
    double cost_all_forks = NAN;  // mean per trace, see TraceProbes
    double cost_shared = NAN;     // mean per trace, see TraceProbes
    double tokens_last = NAN;     // mean generated tokens of the last fork
};

struct EarlyExitGroup {
    std::string group;
    std::vector<int64_t> budgets;            // fork order (-1 = none, last)
    std::vector<std::string> labels;         // analysis labels of the forks' columns
    std::vector<ParetoPoint> static_points;  // per fork: the single budget's mean tokens and accuracy
    size_t n_units = 0;
    bool conf_measured = false;              // some fork sample of the group has a finite answer_conf
    std::vector<EarlyExitPoint> deer;        // one per theta, in the given order
    ConvergenceStats convergence;            // all queries
    std::vector<ConvergenceStats> by_level;  // per difficulty level (ascending) when the table has levels
};

struct EarlyExitResult {
    std::string task;
    std::string level_field;
    std::vector<double> thetas;
    std::vector<EarlyExitGroup> groups;  // groups with at least two budgets
};

EarlyExitResult adaptive_early_exit(const AdaptiveTable& table,
                                    const std::vector<double>& thetas = {0.8, 0.85, 0.9, 0.95, 0.98, 1.01});
nlohmann::json adaptive_early_exit_json(const EarlyExitResult& r);

}  // namespace adabench
