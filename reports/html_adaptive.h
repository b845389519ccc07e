// The "Adaptive analysis" section of a run in the HTML report (issue #19): per task the router
// plane (static points, their hull, the oracle bound, the best cheap-signal router on the test
// split), router metrics, parallel sampling at equal cost, per-difficulty tokens and accuracy (with
// a log-scale token axis), early exit and overthinking replayed from the fork sweep (DEER curve,
// convergence probes, subthought mode; reports/early_exit.h), and the efficiency summary. Inline
// SVG only. The figures come from reports/adaptive.h and reports/early_exit.h; `adabench route`
// prints the same with more options (AES constants, lo/hi).
#pragma once
#include <cstdint>
#include <string>

#include "store/store.h"

namespace adabench {

// "" when the run has no task with at least two configurations holding samples.
std::string html_adaptive_section(const Store& store, int64_t run_id);

}  // namespace adabench
