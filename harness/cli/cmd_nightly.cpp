// adabench nightly: the regression gate. Runs the sweep of CONFIG (a new run, through the harness),
// compares it with a baseline run of the same store (paired tests per matched grid point), and
// writes report.html (comparison with the verdict), run.html (the new run's report), junit.xml (one
// testcase per grid point) and summary.md into --out-dir. Exit 0: no significant regression;
// 1: a regression beyond the thresholds of the config's "nightly" block; 2: an error.
//
// cmd_nightly_with() takes the engine provider factory so tests can drive it with a fake engine;
// --run ID gates an existing run without running anything.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "harness/engine_provider.h"
#include "harness/sweep.h"
#include "reports/cli_util.h"
#include "reports/compare.h"
#include "reports/html.h"
#include "reports/nightly.h"

namespace adabench {

using NightlyProviderFactory = std::function<std::unique_ptr<SweepEngineProvider>(const SweepConfig&)>;
int cmd_nightly_with(int argc, char** argv, const NightlyProviderFactory& factory);

namespace {

// The baseline: an explicit id, or "latest" = the newest finished run with the same config hash
// (else the newest finished run at all), never the run being gated.
int64_t pick_baseline(const Store& store, const std::string& which, const std::string& config_hash, int64_t exclude) {
    if (which != "latest") return report_resolve_run(store, which, "baseline");
    int64_t same = 0, any = 0;
    for (const RunRecord& r : store.list_runs()) {
        if (r.id == exclude || r.status != "finished") continue;
        if (r.config_hash == config_hash) same = std::max(same, r.id);
        any = std::max(any, r.id);
    }
    return same ? same : any;
}

int nightly_main(int argc, char** argv, const NightlyProviderFactory& factory) {
    ArgParser args("nightly",
                   "Run a sweep, compare it with a baseline run, and gate on regressions (exit 0 ok, 1 "
                   "regression, 2 error).");
    args.positional("config", "sweep config (JSON) with an optional \"nightly\": {...} block of thresholds")
        .option("db", "FILE", "the store (required): holds the baseline and receives the new run")
        .option("baseline", "RUN", "baseline run id or 'latest' (default: newest finished run with the same config)")
        .option("out-dir", "DIR", "where report.html, run.html, junit.xml and summary.md go (default .)")
        .option("run", "ID", "gate this existing run instead of running the sweep")
        .epilog(
            "Thresholds (config key \"nightly\"): alpha (0.05), max_accuracy_drop (0: any significant drop),\n"
            "max_tokens_increase (0.10 = +10% mean tokens), fail_on_missing_points (false).\n"
            "Example:\n  adabench nightly configs/nightly.json --db nightly.db --out-dir out/ || echo regression");
    if (!args.parse(argc, argv)) return 0;
    if (!args.has("db")) throw UsageError("adabench nightly: --db FILE is required");
    std::string source = *args.positional_value("config");
    nlohmann::json doc = io_read_json(source);
    if (!doc.is_object()) throw Error(source + ": the config must be a JSON object");
    NightlyThresholds thresholds =
        nightly_parse_thresholds(doc.contains("nightly") ? doc["nightly"] : nlohmann::json(), source);
    doc.erase("nightly");
    SweepConfig config = sweep_config_parse(doc, source);
    sweep_config_validate(config, source);
    std::string hash = sweep_config_hash(config);
    std::string out_dir = args.get("out-dir", ".");
    {
        // Checked before the sweep spends its time, with one line instead of a filesystem_error.
        std::error_code ec;
        std::filesystem::create_directories(out_dir, ec);
        if (ec || !std::filesystem::is_directory(out_dir))
            throw UsageError("adabench nightly: --out-dir " + out_dir + ": cannot create this directory" +
                                 (ec ? ": " + ec.message() : std::string(": a file of that name exists")),
                             "give a directory path");
    }
    std::string db = args.get("db");

    int64_t new_id = 0;
    if (args.has("run")) {
        std::unique_ptr<Store> ro = report_open_store(db);
        new_id = report_resolve_run(*ro, args.get("run"), "run");
    } else {
        Store store(db);
        // A bad --baseline fails here, before the sweep spends its time.
        pick_baseline(store, args.get("baseline", "latest"), hash, 0);
        std::vector<Dataset> tasks = sweep_load_tasks(config);
        std::unique_ptr<SweepEngineProvider> provider = factory(config);
        SweepOptions opt;
        opt.new_run = true;
        opt.config_source = source;
        opt.progress = PROGRESS_MODE_NONE;
        SweepSummary s = sweep_run(config, tasks, *provider, store, opt);
        if (s.status != "finished")
            throw Error("nightly: the sweep ended " + s.status + " (run " + std::to_string(s.run_id) + ")");
        new_id = s.run_id;
        std::printf("run %lld: %lld samples\n", static_cast<long long>(new_id), static_cast<long long>(s.n_written));
    }
    std::unique_ptr<Store> store = report_open_store(db);
    int64_t base_id = pick_baseline(*store, args.get("baseline", "latest"), hash, new_id);

    auto path = [&](const char* name) { return (std::filesystem::path(out_dir) / name).string(); };
    std::vector<AnalysisRun> runs{analysis_run(*store, new_id)};
    io_write_file_atomic(path("run.html"), html_report(*store, runs));
    if (base_id == 0 || base_id == new_id) {
        std::string md = "# adabench nightly: OK (no baseline)\n\nRun " + std::to_string(new_id) +
                         " has no earlier finished run to compare with; it becomes the baseline of the next night.\n";
        NightlyVerdict none;
        io_write_file_atomic(path("summary.md"), md);
        io_write_file_atomic(path("junit.xml"), nightly_junit_xml(none, "adabench nightly"));
        io_write_file_atomic(path("report.html"), html_report(*store, runs));
        std::printf("no baseline run: wrote %s (exit 0)\n", out_dir.c_str());
        return 0;
    }
    CompareOptions co;
    co.alpha = thresholds.alpha;
    CompareResult c = compare_runs(*store, base_id, new_id, co);
    NightlyVerdict v = nightly_evaluate(c, thresholds);
    io_write_file_atomic(path("report.html"), html_compare(c, &v));
    io_write_file_atomic(path("junit.xml"), nightly_junit_xml(v, "adabench nightly"));
    io_write_file_atomic(path("summary.md"), nightly_summary_markdown(c, v, thresholds));
    std::printf("%s", compare_summary_text(c).c_str());
    for (const auto& f : v.failures) std::printf("FAIL %s\n", f.c_str());
    std::printf("nightly: %s (base run %lld, new run %lld); wrote report.html, run.html, junit.xml, summary.md to %s\n",
                v.regression ? "REGRESSION" : "OK", static_cast<long long>(base_id), static_cast<long long>(new_id),
                out_dir.c_str());
    return v.regression ? 1 : 0;
}

}  // namespace

int cmd_nightly_with(int argc, char** argv, const NightlyProviderFactory& factory) {
    // Exit codes are a contract with CI: 1 means "regression", so every error is 2.
    try {
        return nightly_main(argc, argv, factory);
    } catch (const UsageError&) {
        throw;  // main() prints it and exits 2
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: adabench nightly: %s\n", e.what());
        return 2;
    }
}

int cmd_nightly(int argc, char** argv) { return cmd_nightly_with(argc, argv, sweep_make_engine_provider); }

}  // namespace adabench
