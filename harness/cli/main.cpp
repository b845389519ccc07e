// adabench: the command-line entry point. Dispatches to a subcommand and turns every error into
// one line on stderr and a non-zero exit code (2 = usage, 1 = failure). No stack traces.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "common/error.h"
#include "harness/cli/commands.h"
#ifdef ADABENCH_WITH_CUDA
#include "engines/cuda/cuda_backend.h"
#endif

namespace {

struct Command {
    const char* name;
    int (*fn)(int, char**);
    const char* summary;
};

const Command kCommands[] = {
    {"grade", adabench::cmd_grade, "grade model responses in a JSONL file against gold answers"},
    {"generate", adabench::cmd_generate, "generate text with the built-in engine (budgets, LoRA, merges)"},
    {"sweep", adabench::cmd_sweep, "run a grid of budgets and coefficients into a SQLite store"},
    {"calibrate", adabench::cmd_calibrate, "RPAM-style per-layer merge λ for a long and a short model"},
    {"search", adabench::cmd_search, "NSGA-II / CMA-ES search of merge λ, coefficients and budget for the front"},
    {"runs", adabench::cmd_runs, "list the runs in a store"},
    {"export", adabench::cmd_export, "export the samples of a run as CSV or JSONL"},
    {"merge-db", adabench::cmd_merge_db, "combine shard databases into one"},
    {"report", adabench::cmd_report, "write a self-contained HTML report with Pareto frontiers"},
    {"compare", adabench::cmd_compare, "compare two runs: overlaid frontiers and paired tests"},
    {"route", adabench::cmd_route, "routers, oracle bound, parallel sampling at equal cost, efficiency summaries"},
    {"nightly", adabench::cmd_nightly, "run a sweep, compare with a baseline, gate on regressions"},
    {"serve", adabench::cmd_serve, "serve reports and a JSON API over a store (read-only)"},
    {"serve-engine", adabench::cmd_serve_engine, "serve the engine behind a vLLM-compatible completions API"},
    {"tasks", adabench::cmd_tasks, "list the tasks with their counts and checksums"},
    {"version", adabench::cmd_version, "print version, git sha and whether CUDA is compiled in"},
};

void print_usage(FILE* out) {
    std::fprintf(out,
                 "usage: adabench <command> [options]\n\n"
                 "Benchmark budget-adaptive reasoning models: thinking budgets, LoRA coefficient\n"
                 "mixes and model merges on AIME, MATH500, GSM8K and the bundled arith task.\n\n"
                 "commands:\n");
    for (const auto& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(out, "\nRun 'adabench <command> --help' for the options of a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
#ifdef ADABENCH_WITH_CUDA
    adabench::cuda_backend_register();  // --engine cuda / "engine": "cuda" in sweep configs
#endif
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
        print_usage(stdout);
        return 0;
    }
    if (cmd == "--version") cmd = "version";
    for (const auto& c : kCommands) {
        if (cmd != c.name) continue;
        try {
            return c.fn(argc, argv);
        } catch (const adabench::UsageError& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            return 2;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "error: %s\n", e.what());
            return 1;
        } catch (...) {
            std::fprintf(stderr, "error: unknown failure in adabench %s\n", c.name);
            return 1;
        }
    }
    std::fprintf(stderr, "error: unknown command '%s' (hint: run adabench --help for the list)\n", cmd.c_str());
    return 2;
}
