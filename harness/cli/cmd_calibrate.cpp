// adabench calibrate: RPAM-style per-layer λ for a linear merge of a long and a short model, with
// forward passes only (harness/calibrate.h). Steps:
//   1. two ordinary sweeps into the store, k samples per calibration query from each parent (the
//      labels: which parent answers a query better; ties to the short one);
//   2. both parents' per-layer hidden states on the calibration prompts (Backend::forward_hidden);
//   3. the greedy layer-by-layer search and coordinate-descent refinement of λ;
//   4. a sweep config (--out) that evaluates the calibrated λ vector, tagged "calibrated", next to
//      the static λ grid on the evaluation task, and (unless --no-eval) that sweep into the store,
//      with every point's (accuracy, tokens) printed.
// Everything goes through the store, so running the same command again reuses the stored samples.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "datasets/dataset.h"
#include "engines/engine_factory.h"
#include "harness/calibrate.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "harness/engine_provider.h"
#include "harness/sweep.h"
#include "reports/analysis.h"

namespace adabench {

namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs one sweep and prints its one-line summary; returns the run id.
int64_t run_sweep(SweepConfig& config, Store& store, const std::string& what, ProgressMode progress) {
    sweep_config_validate(config, what);
    std::vector<Dataset> tasks = sweep_load_tasks(config);
    auto provider = sweep_make_engine_provider(config);
    SweepOptions opt;
    opt.config_source = what;
    opt.progress = progress;
    SweepSummary s = sweep_run(config, tasks, *provider, store, opt);
    std::printf("%s: run %lld %s, %lld samples (%lld generated now)\n", what.c_str(), static_cast<long long>(s.run_id),
                s.status.c_str(), static_cast<long long>(s.n_done), static_cast<long long>(s.n_written));
    if (s.status != "finished")
        throw Error(what + ": run " + std::to_string(s.run_id) + " ended " + s.status,
                    "run the same command again to finish it");
    return s.run_id;
}

json lambda_json(const std::vector<float>& v) {
    json a = json::array();
    for (float x : v) a.push_back(std::round(double(x) * 1e6) / 1e6);  // the grid's values, without float noise
    return a;
}

}  // namespace

int cmd_calibrate(int argc, char** argv) {
    ArgParser args("calibrate",
                   "RPAM-style per-layer merge coefficients (forward passes only) for a long and a short model");
    args.option("long", "DIR", "the long-reasoning model (λ = 1)")
        .option("short", "DIR", "the short model (λ = 0); same architecture")
        .option("db", "FILE", "the store: the labelling samples and the evaluation go here")
        .option("out", "FILE", "write the evaluation sweep config here")
        .option("task", "NAME", "calibration task (default arith_calib)")
        .option("limit", "N", "calibration queries (default: the whole task)")
        .option("template", "NAME", "prompt template of the calibration task (default: the task's)")
        .option("k", "N", "samples per query and parent for the labels (default 4)")
        .option("temperature", "T", "sampling temperature of the labelling samples (default 0.6)")
        .option("seed", "N", "sampling seed (default 0)")
        .option("max-tokens", "N", "token limit per sample, labels and evaluation (default 512)")
        .option("feature", "last|mean", "pooled representation: the prompt's last token or its mean (default last)")
        .option("omega", "W", "weight of the contrastive term (default 0.5)")
        .option("tau", "T", "temperature of the contrastive term (default 0.1)")
        .option("grid-step", "S", "λ grid step of the search (default 0.05)")
        .option("refine-sweeps", "N",
                "coordinate-descent sweeps after the greedy pass (default 3; stops when none moves)")
        .option("refine-radius", "N", "a refinement step tries λ_l ± 1..N grid steps (default 2; 0 = the whole grid)")
        .option("eval-task", "NAME", "evaluation task (default arith)")
        .option("eval-limit", "N", "evaluation problems (default 0 = all)")
        .option("static-lambdas", "GRID", "the static λ grid evaluated alongside (default 0:1:0.1)")
        .option("engine", "NAME", "cpu or cuda (default cpu)")
        .option("threads", "N", "CPU threads (default: all cores)")
        .option("batch-size", "N", "sequences per engine batch (default 64)")
        .option("progress", "MODE", "auto, bar, lines or none (default auto)")
        .flag("no-eval", "write the config but do not run the evaluation sweep")
        .epilog(
            "Example: adabench calibrate --long models/organism/long --short models/organism/short \\\n"
            "    --db calib.db --out calibrated.json");
    if (!args.parse(argc, argv)) return 0;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each stage's line as it happens, also into a log file
    for (const char* need : {"long", "short", "db", "out"})
        if (!args.has(need))
            throw UsageError(std::string("adabench calibrate: --") + need + " is required",
                             "e.g. --long models/organism/long --short models/organism/short --db calib.db --out "
                             "calibrated.json");
    const auto t0 = Clock::now();
    const std::string long_dir = args.get("long"), short_dir = args.get("short");
    const std::string engine = args.get("engine", "cpu");
    const long k = args.get_int("k", 4), max_tokens = args.get_int("max-tokens", 512);
    const long limit = args.get_int("limit", -1), eval_limit = args.get_int("eval-limit", 0);
    const long threads = args.get_int("threads", 0), batch_size = args.get_int("batch-size", 64);
    const long seed = args.get_int("seed", 0);
    if (k < 1) throw UsageError("adabench calibrate: --k must be at least 1");
    if (max_tokens < 1) throw UsageError("adabench calibrate: --max-tokens must be at least 1");
    if (batch_size < 1) throw UsageError("adabench calibrate: --batch-size must be at least 1");
    if (threads < 0 || seed < 0) throw UsageError("adabench calibrate: --threads and --seed must be >= 0");
    CalibrateSearchOptions so;
    so.feature = calibrate_feature_parse(args.get("feature", "last"));
    so.loss.omega = args.get_double("omega", 0.5);
    so.loss.tau = args.get_double("tau", 0.1);
    so.grid_step = args.get_double("grid-step", 0.05);
    so.refine_sweeps = static_cast<int>(args.get_int("refine-sweeps", 3));
    so.refine_radius = static_cast<int>(args.get_int("refine-radius", 2));
    so.batch_size = static_cast<int>(batch_size);
    if (so.loss.omega < 0 || so.loss.tau <= 0 || so.refine_sweeps < 0 || so.refine_radius < 0)
        throw UsageError(
            "adabench calibrate: --omega >= 0, --tau > 0, --refine-sweeps >= 0 and --refine-radius >= 0 are required");
    calibrate_grid(so.grid_step);  // checks the step
    const ProgressMode progress = progress_mode_parse(args.get("progress", "auto"));

    Store store(args.get("db"));

    // ---- 1. labels: k samples per query from each parent ----
    SweepConfig label_cfg;
    label_cfg.engine = engine;
    SweepTaskSpec calib_task;
    calib_task.name = args.get("task", "arith_calib");
    calib_task.limit = limit;
    label_cfg.tasks = {calib_task};
    label_cfg.prompt_template = args.get("template", "");
    SweepBudget none;
    none.mechanism = "none";
    none.max_tokens = static_cast<int>(max_tokens);
    none.answer_budget = static_cast<int>(max_tokens);
    label_cfg.budgets = {none};
    label_cfg.sampling.temperature = args.get_double("temperature", 0.6);
    label_cfg.sampling.n = static_cast<int>(k);
    label_cfg.sampling.seed = static_cast<uint64_t>(seed);
    label_cfg.batch_size = static_cast<int>(batch_size);
    label_cfg.threads = static_cast<int>(threads);
    SweepConfig long_cfg = label_cfg, short_cfg = label_cfg;
    long_cfg.model = long_dir;
    short_cfg.model = short_dir;
    const int64_t long_run = run_sweep(long_cfg, store, "labels (long)", progress);
    const int64_t short_run = run_sweep(short_cfg, store, "labels (short)", progress);
    SampleFilter f;
    f.with_text = false;
    f.run_id = long_run;
    std::vector<SampleRecord> long_samples = store.list_samples(f);
    f.run_id = short_run;
    std::vector<SampleRecord> short_samples = store.list_samples(f);
    std::vector<CalibrateLabel> labels = calibrate_label(long_samples, short_samples);
    if (labels.empty()) throw Error("calibrate: no query has samples from both parents");
    const double t_labels = seconds_since(t0);

    // Labels per level (the task's "level" metadata, when it has one): P(pos = long) should rise.
    std::vector<Dataset> calib = sweep_load_tasks(long_cfg);
    std::map<std::string, const Problem*> problems;
    for (const Problem& p : calib[0].problems) problems[p.id] = &p;
    std::map<std::string, std::pair<int, int>> by_level;  // level -> (n, n pos long)
    int n_long = 0, n_ties = 0;
    for (const CalibrateLabel& l : labels) {
        n_long += l.pos_long;
        n_ties += l.tie;
        auto it = problems.find(l.problem_id);
        if (it == problems.end() || !it->second->metadata.contains("level")) continue;
        auto& c = by_level[it->second->metadata["level"].dump()];
        c.first += 1;
        c.second += l.pos_long;
    }
    std::printf("labels: %zu queries, %d prefer long, %zu prefer short (%d of them ties)\n", labels.size(), n_long,
                labels.size() - size_t(n_long), n_ties);
    if (!by_level.empty()) {
        std::printf("P(pos=long) by level:");
        for (const auto& [lv, c] : by_level) std::printf(" L%s %.2f", lv.c_str(), double(c.second) / c.first);
        std::printf("\n");
    }

    // ---- 2./3. hidden states and the search on one backend holding both parents ----
    auto prompt_provider = sweep_make_engine_provider(long_cfg);
    std::vector<std::vector<int32_t>> prompts;
    std::vector<bool> pos_long;
    for (const CalibrateLabel& l : labels) {
        auto it = problems.find(l.problem_id);
        if (it == problems.end()) continue;  // a stored sample of a problem the task no longer has
        const std::string user = dataset_render_prompt(calib[0].task, *it->second, label_cfg.prompt_template);
        prompts.push_back(prompt_provider->format_prompt(user).ids);
        pos_long.push_back(l.pos_long);
    }
    EngineFactoryOptions eo;
    eo.backend = engine;
    eo.model_dir = long_dir;
    eo.merge_with = short_dir;
    eo.lambda = {1.0f};
    eo.compose_in_backend = true;
    eo.n_threads = static_cast<int>(threads);
    eo.max_batch = static_cast<int>(batch_size);
    std::unique_ptr<Generator> gen = engine_make(eo);
    Calibrator cal(gen->backend(), prompts, pos_long, so);
    std::printf("calibration set: %zu prompts, %lld tokens, %d layers, feature %s\n", prompts.size(),
                static_cast<long long>(cal.n_tokens()), cal.n_layers(), calibrate_feature_name(so.feature));
    const auto t_search0 = Clock::now();
    CalibrateResult r = cal.search([](const std::string& s) { std::printf("  %s\n", s.c_str()); });
    const double t_search = seconds_since(t_search0);
    gen.reset();
    std::printf(
        "calibrated λ %s: loss %.6f (greedy %.6f, long %.6f, short %.6f), %lld layer passes in %.1f s, "
        "cache check max |diff| %.2e\n",
        lambda_json(r.lambda).dump().c_str(), r.loss, r.loss_greedy, r.loss_long, r.loss_short,
        static_cast<long long>(r.n_layer_runs), t_search, r.cache_max_abs_diff);

    // ---- 4. the evaluation config: the static grid plus the calibrated vector, tagged ----
    json out;
    out["_about"] =
        "Written by adabench calibrate: the RPAM-style calibrated per-layer λ (tag \"calibrated\") next "
        "to the static λ grid, linear merge of the long (λ = 1) and short (λ = 0) models.";
    json labels_by_level = json::object();
    for (const auto& [lv, c] : by_level) labels_by_level[lv] = {{"n", c.first}, {"pos_long", c.second}};
    out["_calibration"] = {
        {"lambda", lambda_json(r.lambda)},
        {"lambda_greedy", lambda_json(r.lambda_greedy)},
        {"loss", r.loss},
        {"loss_greedy", r.loss_greedy},
        {"loss_long", r.loss_long},
        {"loss_short", r.loss_short},
        {"layer_loss", r.layer_loss},
        {"cache_max_abs_diff", r.cache_max_abs_diff},
        {"labels", {{"n", labels.size()}, {"pos_long", n_long}, {"ties", n_ties}, {"by_level", labels_by_level}}},
        {"label_runs", {long_run, short_run}},
        {"settings",
         {{"task", calib_task.name},
          {"limit", limit},
          {"k", k},
          {"temperature", label_cfg.sampling.temperature},
          {"feature", calibrate_feature_name(so.feature)},
          {"omega", so.loss.omega},
          {"tau", so.loss.tau},
          {"grid_step", so.grid_step},
          {"refine_sweeps", so.refine_sweeps},
          {"refine_radius", so.refine_radius}}},
    };
    out["engine"] = engine;
    out["model"] = long_dir;
    out["merge"] = {{"with", short_dir},
                    {"lambdas", json::array({args.get("static-lambdas", "0:1:0.1"),
                                             {{"lambda", lambda_json(r.lambda)}, {"tag", "calibrated"}}})}};
    out["tasks"] = json::array({{{"name", args.get("eval-task", "arith")}, {"limit", eval_limit}}});
    out["budgets"] = {{"mechanism", "none"}, {"max_tokens", max_tokens}, {"answer_budget", max_tokens}};
    out["batch_size"] = batch_size;
    if (threads > 0) out["threads"] = threads;
    const std::string out_path = args.get("out");
    SweepConfig eval_cfg = sweep_config_parse(out, out_path);  // what we write must parse
    {
        std::ofstream os(out_path);
        if (!os) throw Error("cannot write " + out_path, "check the directory exists and is writable");
        os << out.dump(2) << '\n';
        if (!os) throw Error("cannot write " + out_path);
    }
    std::printf("wrote %s (labels %.1f s, search %.1f s)\n", out_path.c_str(), t_labels, t_search);
    if (args.has("no-eval")) {
        std::printf("calibrate finished in %.1f s (run the evaluation: adabench sweep --config %s --db %s)\n",
                    seconds_since(t0), out_path.c_str(), args.get("db").c_str());
        return 0;
    }

    const int64_t eval_run = run_sweep(eval_cfg, store, "evaluation", progress);
    AnalysisRun ar = analysis_run(store, eval_run);
    std::printf("%-60s %9s %9s\n", "point", "accuracy", "tokens");
    std::string calibrated;
    for (const AnalysisPoint& p : ar.points) {
        const bool tagged = p.point.label.find(" tag=calibrated") != std::string::npos;
        std::printf("%-60s %9.3f %9.1f %s%s\n", (p.point.task + " " + analysis_point_label(p.point)).c_str(),
                    p.summary.accuracy.estimate, p.tokens.total.all, tagged ? "calibrated " : "",
                    p.on_frontier ? "frontier" : "");
        if (tagged) {
            char line[256];
            std::snprintf(line, sizeof line,
                          "calibrated point: accuracy %.3f, mean tokens %.1f (run %lld, point %lld)\n",
                          p.summary.accuracy.estimate, p.tokens.total.all, static_cast<long long>(eval_run),
                          static_cast<long long>(p.point.point_id));
            calibrated += line;
        }
    }
    std::printf("%s", calibrated.c_str());
    std::printf("calibrate finished in %.1f s\n", seconds_since(t0));
    return 0;
}

}  // namespace adabench
