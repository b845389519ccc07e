// adabench compare: two runs of a store — points matched by task + budget + coefficients, per-point
// accuracy and token deltas with paired tests (exact McNemar over (problem, sample) pairs, paired
// bootstrap over problems), overlaid frontiers in HTML. Prints the significant changes. Read-only.
#include <cstdio>
#include <iostream>
#include <string>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "reports/cli_util.h"
#include "reports/compare.h"
#include "reports/html.h"

namespace adabench {

int cmd_compare(int argc, char** argv) {
    ArgParser args("compare", "Compare two runs: matched points, paired tests, overlaid frontiers.");
    args.option("db", "FILE", "the SQLite store (required; opened read-only)")
        .option("base", "RUN", "the baseline run id or 'latest' (required)")
        .option("new", "RUN", "the new run id or 'latest' (required)")
        .option("output", "FILE", "also write the comparison here (alias -o): *.html page or *.json")
        .option("alpha", "P", "significance level of the paired tests (default 0.05)")
        .option("verdict", "KIND", "strict (default) or flexible")
        .epilog("Example:\n  adabench compare --db runs.db --base 1 --new 2 -o compare.html");
    std::vector<std::string> storage;
    std::vector<char*> av = report_cli_argv(argc, argv, storage);
    if (!args.parse(argc, av.data())) return 0;
    if (!args.has("db")) throw UsageError("adabench compare: --db FILE is required");
    if (!args.has("base") || !args.has("new"))
        throw UsageError("adabench compare: --base RUN and --new RUN are required");
    CompareOptions co;
    co.alpha = args.get_double("alpha", 0.05);
    if (!(co.alpha > 0 && co.alpha < 1)) throw UsageError("adabench compare: --alpha must be in (0, 1)");
    std::string verdict = args.get("verdict", "strict");
    if (verdict == "flexible")
        co.analysis.verdict = REPORT_VERDICT_FLEXIBLE;
    else if (verdict != "strict")
        throw UsageError("adabench compare: --verdict expects strict or flexible, got '" + verdict + "'");
    if (args.has("output")) io_refuse_output_over_input("compare", args.get("output"), {args.get("db")});
    std::unique_ptr<Store> store = report_open_store(args.get("db"));
    int64_t base = report_resolve_run(*store, args.get("base"), "base");
    int64_t neu = report_resolve_run(*store, args.get("new"), "new");
    CompareResult c = compare_runs(*store, base, neu, co);
    std::cout << compare_summary_text(c);
    if (args.has("output")) {
        std::string out = args.get("output");
        bool json_out = out.size() >= 5 && out.compare(out.size() - 5, 5, ".json") == 0;
        io_write_file_atomic(out, json_out ? compare_json(c).dump(2) + "\n" : html_compare(c));
        std::printf("wrote %s\n", out.c_str());
    }
    return 0;
}

}  // namespace adabench
