// The sweep runner: plans the grid of a SweepConfig, opens or resumes its run in the store, and
// drives engines through the work units of this shard in batches — one engine call per batch, one
// store transaction per batch — grading every result with the task's grader (strict and flexible).
//
// Resume: finished samples are skipped (a unit runs when any of its samples is missing or stored as
// failed; the store's unique keys drop the duplicates), so a process killed at any moment loses at
// most the batch in flight and duplicates nothing. A result the engine marks failed_infra (an
// external server kept failing after every retry) is stored ungraded with its error, left out of
// every metric, and re-issued by the next run of the same command; its ok result then replaces it.
// A session that ends with failed samples leaves the run "partial", not "finished". Seeds are a pure function of (sweep
// seed, task, problem id, sample index), so results do not depend on batching, shards or resumption.
//
// Engines come through SweepEngineProvider, so the runner is tested against a deterministic fake;
// harness/engine_provider.h adapts the real engine factory. Not here: flag parsing (the CLI).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "datasets/dataset.h"
#include "engines/engine.h"
#include "harness/grid.h"
#include "harness/progress.h"
#include "harness/sweep_config.h"
#include "store/store.h"

namespace adabench {

struct SweepPrompt {
    std::vector<int32_t> ids;
    std::string text;             // the full prompt after the chat template (stored with samples)
    bool opens_thinking = false;  // the prompt ends inside the thinking segment
    // The model family's markers and end-of-turn texts; empty = the engine.h defaults.
    std::string think_begin, think_end;
    std::vector<std::string> stop;
};

// What the runner needs from the engine side.
class SweepEngineProvider {
public:
    virtual ~SweepEngineProvider() = default;
    // The engine for one weight composition. Called once per composition, in plan order; the
    // reference stays valid until the next call.
    virtual Engine& engine_for(const SweepComposition& composition) = 0;
    // Chat-formats and tokenizes a user message.
    virtual SweepPrompt format_prompt(const std::string& user_message) = 0;
    // Content identity for the run record: {"model_hash", "adapters" [...], "merges" [...]}.
    virtual nlohmann::json identity() = 0;
    // An engine whose KV cache has a fixed size per sequence says so here; sweep_run then passes the
    // longest formatted prompt (in tokens) of the units it will run, once, before the first
    // engine_for (see sweep_kv_positions in harness/grid.h).
    virtual bool wants_longest_prompt() const { return false; }
    virtual void set_longest_prompt(int n_tokens) { (void)n_tokens; }
};

struct SweepOptions {
    SweepShard shard;
    int64_t resume_run_id = 0;  // > 0: continue this run (its config hash must match)
    bool new_run = false;       // start a new run even when one with this config exists
    ProgressMode progress = PROGRESS_MODE_AUTO;
    double progress_interval_s = 10.0;
    const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT): finish the batch, commit, stop
    // Called after every committed batch with the number of samples stored so far (tests).
    std::function<void(int64_t)> on_commit;
    std::string config_source = "config";  // names the config in messages
};

struct SweepSummary {
    int64_t run_id = 0;
    bool resumed = false;
    int64_t n_planned = 0;      // samples of this shard
    int64_t n_done_before = 0;  // of those, already stored when the session started
    int64_t n_written = 0;      // rows written by this session (new, or replacing failed ones)
    int64_t n_generated_tokens = 0;
    int64_t n_done = 0;    // of n_planned, stored ok when the session ended
    int64_t n_failed = 0;  // of n_planned, stored as failed_infra when the session ended
    std::string status;    // finished; partial (n_failed > 0: run the same command again); interrupted
    int64_t n_switch_written = 0;         // switch samples assembled this session (harness/switching.h)
    int64_t n_switch_missing_signal = 0;  // probe samples without the switch's signal (skipped)
};

// Loads the tasks of a config (names or paths; limit and id filters applied; sha256 verified).
std::vector<Dataset> sweep_load_tasks(const SweepConfig& config, const std::string& root = "");

// Runs (or resumes) the sweep. The config must have passed sweep_config_validate. Throws
// adabench::Error; the run is then marked "failed" (what was committed stays).
SweepSummary sweep_run(const SweepConfig& config, const std::vector<Dataset>& tasks, SweepEngineProvider& provider,
                       Store& store, const SweepOptions& options);

// The per-sample seed: splitmix64 over (seed, task, problem id, sample index).
uint64_t sweep_sample_seed(uint64_t seed, const std::string& task, const std::string& problem_id, int sample_index);
// FNV-1a of a string: the stable hash behind sample seeds and the search's problem split.
uint64_t sweep_fnv1a(const std::string& s);
// This machine's host name as stored in runs.host ("" when unknown).
std::string sweep_host_name();

// merge-db: copies every run of `in` into `out`. Runs match by config hash: a run already in `out`
// with the same hash (and the same model/adapter/dataset hashes) receives the samples (an ok sample
// is kept, and replaces a failed one: Store::insert_samples) and its shard list grows; a run with a new hash is added
// only when `allow_new` (the first input), otherwise refused — the inputs must be shards of the same sweep. Returns
// rows inserted.
struct MergeDbReport {
    int64_t runs_added = 0, runs_merged = 0, points = 0, samples_inserted = 0, samples_seen = 0;
};
MergeDbReport sweep_merge_db(Store& out, const Store& in, bool allow_new);

}  // namespace adabench
