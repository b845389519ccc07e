// adabench report: analyses runs of a store (avg@n with bootstrap CIs, pass@k, maj@k, token means,
// censored rate, budget compliance, Pareto frontiers) and writes them as one self-contained HTML
// file, or as a console table, JSON or CSV. Opens the store read-only. Not here: the analysis and
// rendering themselves (reports/).
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "reports/analysis.h"
#include "reports/cli_util.h"
#include "reports/html.h"

namespace adabench {

int cmd_report(int argc, char** argv) {
    ArgParser args("report", "Analyse runs (accuracy with CIs, tokens, compliance, Pareto frontiers) into a report.");
    args.option("db", "FILE", "the SQLite store (required; opened read-only)")
        .option("run", "ID", "run id or 'latest' (repeatable; default: latest)", true)
        .option("output", "FILE", "write here (alias -o); '-' = stdout. Default format from the extension")
        .option("format", "FMT",
                "html, console, json or csv (default: html for *.html, json for *.json, csv for "
                "*.csv, else console)")
        .option("verdict", "KIND", "strict (default) or flexible: which grader verdict counts as correct")
        .option("max-samples", "N", "samples embedded per run in HTML for the drill-down (default 2000; 0 = none)")
        .option("reference-tokens", "T", "reference tokens of the dominated area (default: 1.05 x the largest mean)")
        .flag("log-tokens", "HTML: a log-scale token axis on each task's accuracy-vs-tokens chart")
        .epilog(
            "Examples:\n  adabench report --db runs.db -o report.html\n  adabench report --db runs.db --run 3 --run 4\n"
            "  adabench report --db runs.db --format csv -o points.csv");
    std::vector<std::string> storage;
    std::vector<char*> av = report_cli_argv(argc, argv, storage);
    if (!args.parse(argc, av.data())) return 0;
    if (!args.has("db")) throw UsageError("adabench report: --db FILE is required");
    std::string out_path = args.get("output", "-");
    io_refuse_output_over_input("report", out_path, {args.get("db")});
    std::string format = args.get("format");
    auto ends = [&](const std::string& ext) {
        return out_path.size() >= ext.size() && out_path.compare(out_path.size() - ext.size(), ext.size(), ext) == 0;
    };
    if (format.empty())
        format = ends(".html") || ends(".htm") ? "html" : ends(".json") ? "json" : ends(".csv") ? "csv" : "console";
    if (format != "html" && format != "console" && format != "json" && format != "csv")
        throw UsageError("adabench report: --format expects html, console, json or csv, got '" + format + "'");
    AnalysisOptions ao;
    std::string verdict = args.get("verdict", "strict");
    if (verdict == "flexible")
        ao.verdict = REPORT_VERDICT_FLEXIBLE;
    else if (verdict != "strict")
        throw UsageError("adabench report: --verdict expects strict or flexible, got '" + verdict + "'");
    ao.reference_tokens = args.get_double("reference-tokens", 0);  // rejects nan, inf, hex
    if (args.has("reference-tokens") && !(ao.reference_tokens > 0))
        throw UsageError("adabench report: --reference-tokens must be a positive number of tokens, got '" +
                         args.get("reference-tokens") + "'");
    HtmlOptions ho;
    ho.max_samples = args.get_int("max-samples", 2000);
    if (ho.max_samples < 0) throw UsageError("adabench report: --max-samples must be >= 0");
    ho.log_tokens = args.has("log-tokens");

    std::unique_ptr<Store> store = report_open_store(args.get("db"));
    std::vector<std::string> ids = args.get_all("run");
    if (ids.empty()) ids.push_back("latest");
    for (size_t i = 0; i < ids.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (ids[i] == ids[j]) throw UsageError("adabench report: --run " + ids[i] + " is given twice");
    std::vector<AnalysisRun> runs;
    for (const auto& id : ids) runs.push_back(analysis_run(*store, report_resolve_run(*store, id, "run"), ao));
    analysis_align_references(runs, ao);

    std::unique_ptr<AnalysisReporter> reporter;
    if (format == "html")
        reporter = std::make_unique<HtmlReporter>(*store, ho);
    else if (format == "json")
        reporter = std::make_unique<JsonReporter>();
    else if (format == "csv")
        reporter = std::make_unique<CsvReporter>();
    else
        reporter = std::make_unique<ConsoleReporter>();
    std::ostringstream text;
    reporter->report(runs, text);
    if (out_path == "-") {
        std::cout << text.str();
        return 0;
    }
    io_write_file_atomic(out_path, text.str());
    size_t n_points = 0, n_frontier = 0;
    for (const auto& r : runs) {
        n_points += r.points.size();
        for (const auto& t : r.tasks) n_frontier += t.frontier.size();
    }
    std::printf("wrote %s (%s): %zu run(s), %zu points, %zu on frontiers, %zu bytes\n", out_path.c_str(),
                format.c_str(), runs.size(), n_points, n_frontier, text.str().size());
    return 0;
}

}  // namespace adabench
