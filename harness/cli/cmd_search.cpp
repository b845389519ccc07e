// adabench search: NSGA-II or CMA-ES over a genome of merge λ control points, adapter coefficients
// and the thinking budget, two objectives measured on a calibration subset (harness/search_run.h).
// Every evaluated configuration becomes a point of one "search" run of the store, so report,
// compare and export read it like a sweep. Re-running the same command resumes a killed search.
// SIGINT / SIGTERM stop after the batch in flight (exit 130); a second signal kills at once.
//
// cmd_search_with() takes the engine provider factory, like cmd_sweep_with, for tests.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "harness/engine_provider.h"
#include "harness/search_run.h"

namespace adabench {

using SweepProviderFactory = std::function<std::unique_ptr<SweepEngineProvider>(const SweepConfig&)>;
int cmd_search_with(int argc, char** argv, const SweepProviderFactory& factory);

namespace {

std::atomic<bool> g_search_stop{false};

extern "C" void search_on_signal(int sig) {
    if (g_search_stop.exchange(true)) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

void install_search_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = search_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

std::string fixed(double v, int digits) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

}  // namespace

int cmd_search_with(int argc, char** argv, const SweepProviderFactory& factory) {
    ArgParser args("search",
                   "Search merge λ (per-layer control points), adapter coefficients and the thinking budget for the\n"
                   "accuracy-versus-tokens front: NSGA-II (\"optimizer\": \"nsga2\") or CMA-ES on scalarised goals\n"
                   "(\"cmaes\"), measured on a fixed calibration subset; the final front is re-evaluated on a\n"
                   "held-out split. Every evaluated configuration is a point of one run of --db.");
    args.option("config", "FILE", "search config (JSON: a \"sweep\" block and a \"search\" block; required)")
        .option("db", "FILE", "the SQLite store to write (created if missing; required)")
        .option("summary", "FILE", "also write the result (front, hypervolumes) as JSON to FILE")
        .flag("new-run", "start a new search even when the store has one with this config")
        .option("progress", "MODE", "per-candidate sweep progress: none (default), plain or bar")
        .flag("print-config", "print the canonical config JSON (the run's identity) and exit")
        .epilog(
            "Example:\n"
            "  adabench search --config configs/examples/search-organism.json --db search.db\n"
            "  adabench report --db search.db --out search.html");
    if (!args.parse(argc, argv)) return 0;
    if (!args.has("config"))
        throw UsageError("adabench search: --config FILE is required", "e.g. configs/examples/search-organism.json");
    const std::string source = args.get("config");
    SearchConfig config = search_config_load(source);
    if (args.has("print-config")) {
        std::printf("%s\n", search_config_canonical(config).dump(2).c_str());
        return 0;
    }
    if (!args.has("db")) throw UsageError("adabench search: --db FILE is required", "e.g. --db search.db");

    SearchOptions opt;
    opt.config_source = source;
    opt.new_run = args.has("new-run");
    opt.progress = progress_mode_parse(args.get("progress", "none"));
    opt.log = [](const std::string& line) {
        std::fprintf(stderr, "search: %s\n", line.c_str());
        std::fflush(stderr);
    };
    std::vector<Dataset> tasks = sweep_load_tasks(config.sweep);
    Store store(args.get("db"));
    std::unique_ptr<SweepEngineProvider> provider = factory(config.sweep);
    opt.stop = &g_search_stop;
    install_search_signal_handlers();
    SearchSummary s = search_run(config, tasks, *provider, store, opt);
    if (s.status == "interrupted") {
        std::fprintf(stderr,
                     "interrupted: every evaluated configuration is stored; run the same command again to resume\n");
        return 130;
    }
    if (args.has("summary")) io_write_file_atomic(args.get("summary"), s.json().dump(2) + "\n");

    const auto& rp = s.reference_point;
    std::printf(
        "run %lld: %s search, %zu evaluations, %zu distinct configurations; %zu evaluations run by the engine now "
        "(calibration, held-out and grid)\n",
        static_cast<long long>(s.run_id), config.optimizer.c_str(), s.n_evaluations, s.n_distinct, s.n_engine);
    std::printf("objectives: f1 = 1 - accuracy, f2 = mean tokens / %s; reference point (%s, %s)\n",
                fixed(s.reference_tokens, 1).c_str(), fixed(rp[0], 2).c_str(), fixed(rp[1], 2).c_str());
    std::printf("front (%zu points), hypervolume %s:\n", s.front.size(), fixed(s.hypervolume, 4).c_str());
    std::printf("  %-44s %-9s %10s %10s", "configuration", "method", "cal acc", "cal tok");
    const bool hold = !s.front.empty() && s.front[0].has_holdout;
    if (hold) std::printf(" %10s %10s", "hold acc", "hold tok");
    std::printf("\n");
    for (const auto& r : s.front) {
        std::printf("  %-44s %-9s %10s %10s", r.calibration.candidate.text().c_str(), r.calibration.tag.c_str(),
                    fixed(r.calibration.accuracy, 3).c_str(), fixed(r.calibration.mean_tokens, 1).c_str());
        if (r.has_holdout)
            std::printf(" %10s %10s", fixed(r.holdout.accuracy, 3).c_str(), fixed(r.holdout.mean_tokens, 1).c_str());
        std::printf("\n");
    }
    if (s.n_grid > 0)
        std::printf("static grid: %zu configurations, hypervolume %s (search %s)\n", s.n_grid,
                    fixed(s.grid_hypervolume, 4).c_str(), fixed(s.hypervolume, 4).c_str());
    return 0;
}

int cmd_search(int argc, char** argv) { return cmd_search_with(argc, argv, sweep_make_engine_provider); }

}  // namespace adabench
