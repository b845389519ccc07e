// Adapter switching (issue #19 item 3; the seed paper's "dynamic adapter switching"): a query runs
// first in a cheap configuration — the probe: a coefficient vector without the reasoning adapter
// (or with the short one), at a small or no thinking budget — and switches to the reasoning
// configuration (the target) only when a signal says so:
//   answer_conf  switch when the probe answer's confidence < θ (the probe's tokens are paid too)
//   answer_ppl   switch when the probe answer's perplexity > θ (CAR's rule; probe tokens paid)
//   prompt_ppl   switch when the prompt's perplexity > θ (decided before generating: no probe)
// ("when": "below" / "above" turns a signal's sense round, for a model whose signal runs the other
// way.)
// Stored as points of their own, mechanism "switch:SIGNAL<θ" (or ">θ"), one per threshold, with the
// target's coefficients and budget. Their samples are assembled from the stored samples of the probe
// and target points of the same run: seeds depend only on (seed, task, problem, sample index), so
// the probe's and the target's generations are token for token what an online switch would run.
// A switched sample has the target's answer, grading and finish reason, and the tokens of both
// (thinking and answer counts added) when the signal needs the probe's answer.
//
// Not here: planning the grid (harness/grid.h), running the engine (harness/sweep.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "harness/grid.h"
#include "harness/sweep_config.h"
#include "store/store.h"

namespace adabench {

// One switch point: a task (and merge λ), one threshold, the probe and target grid points.
struct SwitchPoint {
    int64_t point_id = 0;  // after the grid's points
    size_t task_index = 0;
    size_t lambda_index = 0;
    double threshold = 0;
    int64_t probe_point = 0;
    int64_t target_point = 0;
};

// The mechanism name stored for a threshold: "switch:answer_conf<0.8", "switch:prompt_ppl>12".
std::string switch_mechanism(const SweepSwitching& s, double threshold);

// The switch points of a plan (empty when switching is off). Throws adabench::Error when the probe
// or the target is not a point of the grid (validation normally catches that first).
std::vector<SwitchPoint> switch_plan(const SweepConfig& config, const SweepPlan& plan);

// Assembles the switch samples of run_id from its stored probe and target samples (ok ones; a
// (problem, sample) pair needs both, with the signal measured) and writes those not yet stored.
// Safe to call after every session: stored samples are never replaced. Returns the rows written;
// *missing_signal counts pairs skipped because the probe had no measured signal.
int64_t switch_compose(Store& store, int64_t run_id, const SweepSwitching& s, const std::vector<SwitchPoint>& points,
                       int64_t* missing_signal = nullptr);

}  // namespace adabench
