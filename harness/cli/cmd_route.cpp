// adabench route: query-adaptive routers, the oracle bound and the static hull on the accuracy-tokens
// plane; parallel sampling at equal cost (maj@k, short-m@k); early exit and overthinking replayed
// from the fork sweep (DEER, convergence probes, subthought mode); per-difficulty views; efficiency
// summaries (length reduction, AES, hypervolume). Works on what a store holds (read-only); the
// computations live in reports/adaptive.h.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "reports/adaptive.h"
#include "reports/cli_util.h"
#include "reports/early_exit.h"

namespace adabench {

namespace {

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

std::optional<size_t> find_config(const AdaptiveTable& t, const std::string& spec, const char* flag) {
    if (spec.empty()) return std::nullopt;
    for (size_t j = 0; j < t.n_configs(); ++j)
        if (t.labels[j] == spec) return j;
    bool digits = spec.find_first_not_of("0123456789") == std::string::npos;
    if (digits)
        for (size_t j = 0; j < t.n_configs(); ++j)
            if (std::to_string(t.configs[j].point_id) == spec) return j;
    std::string known;
    for (const auto& l : t.labels) known += (known.empty() ? "" : ", ") + l;
    throw UsageError(std::string("adabench route: --") + flag + " '" + spec +
                     "' is neither a label nor a point id of task " + t.task + " (labels: " + known + ")");
}

std::string f3(double v) { return report_fmt(v, 3); }
std::string f1(double v) { return report_fmt(v, 1); }

void print_route(std::ostream& out, const AdaptiveTable& t, const RouteResult& r) {
    out << "== routers, task " << t.task << ": " << t.n_queries() << " queries x " << t.n_configs()
        << " configurations; dev " << r.dev.size() << " / test " << r.test.size() << " queries\n";
    out << "cost = mean generated tokens per sample (thinking + answer); a probe's own tokens are added\n";
    auto oc = adaptive_oracle_curve(r.oracle_all);
    char line[256];
    std::snprintf(line, sizeof line, "  %-24s %9s %9s %14s\n", "configuration (all q)", "tokens", "accuracy",
                  "oracle@tokens");
    out << line;
    for (size_t j = 0; j < t.n_configs(); ++j) {
        std::snprintf(line, sizeof line, "  %-24s %9s %9s %14s%s\n", t.labels[j].c_str(),
                      f1(r.static_all[j].tokens).c_str(), f3(r.static_all[j].accuracy).c_str(),
                      f3(adaptive_curve_at(oc, r.static_all[j].tokens)).c_str(),
                      j == r.lo   ? "  (lo)"
                      : j == r.hi ? "  (hi)"
                                  : "");
        out << line;
    }
    out << "  oracle at mu=0 (each query's most accurate configuration, cheapest such): accuracy "
        << f3(r.oracle_best_accuracy) << " at " << f1(r.oracle_best_tokens) << " tokens; at mu=inf "
        << f3(r.oracle_all.front().point.accuracy) << " at " << f1(r.oracle_all.front().point.tokens) << " tokens\n";
    out << "  routers lo=" << t.labels[r.lo] << " -> hi=" << t.labels[r.hi]
        << " (test split; thresholds and direction fitted on dev). AUC over u=(T-T_lo)/(T_hi-T_lo) in [0,1]:\n"
        << "  oracle " << f3(r.routers.empty() ? NAN : r.routers[0].auc_oracle) << ", static hull "
        << f3(r.routers.empty() ? NAN : r.routers[0].auc_hull) << ", random "
        << f3(r.routers.empty() ? NAN : r.routers[0].auc_random) << "\n";
    std::snprintf(line, sizeof line, "  %-22s %4s %7s %7s %7s %6s %8s %8s %8s %8s %7s\n", "signal", "dir", "AUROC",
                  "AUC", "gap_rec", "APGR", "dA@u.25", "dA@u.50", "dA@u.75", "CPT50", "probe");
    out << line;
    for (const auto& m : r.routers) {
        std::snprintf(line, sizeof line, "  %-22s %4s %7s %7s %7s %6s %8s %8s %8s %8s %7s\n", m.signal.c_str(),
                      m.direction > 0   ? "+"
                      : m.direction < 0 ? "-"
                                        : "bins",
                      f3(m.auroc_test).c_str(), f3(m.auc).c_str(), f3(m.gap_recovered).c_str(), f3(m.apgr).c_str(),
                      f3(m.acc_vs_hull[0]).c_str(), f3(m.acc_vs_hull[1]).c_str(), f3(m.acc_vs_hull[2]).c_str(),
                      f1(m.cpt50_tokens).c_str(), f1(m.mean_probe_tokens).c_str());
        out << line;
    }
    out << "  gap_rec = (AUC - random)/(oracle - random); APGR = RouteLLM's over the share routed to hi (random 0.5);\n"
           "  dA@u = router accuracy - static hull accuracy at matched cost; CPT50 = tokens to recover half of "
           "A_hi - A_lo\n";
    if (!r.switches.empty()) {
        out << "  adapter switching (the sweep's switch points, test split; probe tokens included):\n";
        std::snprintf(line, sizeof line, "  %-34s %9s %9s %12s %14s\n", "mechanism", "tokens", "accuracy", "hull@cost",
                      "oracle@cost");
        out << line;
        for (const auto& sw : r.switches) {
            std::snprintf(line, sizeof line, "  %-34s %9s %9s %12s %14s\n", sw.mechanism.c_str(),
                          f1(sw.test.tokens).c_str(), f3(sw.test.accuracy).c_str(), f3(sw.hull_at).c_str(),
                          f3(sw.oracle_at).c_str());
            out << line;
        }
    }
}

void print_parallel(std::ostream& out, const ParallelResult& p) {
    out << "== parallel sampling at equal cost, task " << p.task
        << " (generated tokens; expected value over subsets of the stored samples)\n";
    char line[256];
    std::snprintf(line, sizeof line, "  %-18s %6s %3s %-10s %9s %9s %7s %12s\n", "group", "budget", "k", "method",
                  "tokens", "accuracy", "exact", "single@cost");
    out << line;
    for (const auto& r : p.rows) {
        std::snprintf(line, sizeof line, "  %-18s %6lld %3zu %-10s %9s %9s %7s %12s\n", r.group.c_str(),
                      static_cast<long long>(r.budget), r.k, r.method.c_str(), f1(r.estimate.tokens).c_str(),
                      f3(r.estimate.accuracy).c_str(), r.estimate.exact ? "yes" : "mc", f3(r.single_at_cost).c_str());
        out << line;
    }
    if (!p.equal_cost.empty()) {
        out << "  equal cost: one sample at budget B against k samples at B/k\n";
        std::snprintf(line, sizeof line, "  %-18s %6s %3s %16s %16s %16s\n", "group", "B", "k", "single@B acc/tok",
                      "maj@k acc/tok", "short-1@k acc/tok");
        out << line;
        for (const auto& e : p.equal_cost) {
            auto at = [](const ParallelEstimate& x) { return f3(x.accuracy) + "/" + report_fmt(x.tokens, 0); };
            std::snprintf(line, sizeof line, "  %-18s %6lld %3zu %16s %16s %16s\n", e.group.c_str(),
                          static_cast<long long>(e.budget), e.k, at(e.single).c_str(), at(e.maj).c_str(),
                          at(e.short1).c_str());
            out << line;
        }
    }
}

void print_difficulty(std::ostream& out, const DifficultyResult& d) {
    if (d.field.empty()) return;
    out << "== difficulty (" << d.field << "), task " << d.task << ": accuracy / mean tokens per level; easy = levels";
    for (double l : d.easy_levels) out << " " << report_fmt(l, 0);
    out << "\n  " << std::string(24, ' ');
    for (double l : d.levels) out << " " << std::string(4, ' ') << "L" << report_fmt(l, 0) << std::string(5, ' ');
    out << " easy-token share\n";
    size_t per = d.levels.size();
    for (size_t i = 0; i + per <= d.rows.size(); i += per) {
        char head[64];
        std::snprintf(head, sizeof head, "  %-24s", d.rows[i].config.c_str());
        out << head;
        for (size_t l = 0; l < per; ++l) {
            char cell[32];
            std::snprintf(cell, sizeof cell, " %5s/%-6s", report_fmt(d.rows[i + l].accuracy, 2).c_str(),
                          report_fmt(d.rows[i + l].tokens, 0).c_str());
            out << cell;
        }
        out << "  " << f3(d.easy_token_share[i / per].second) << "\n";
    }
}

void print_early_exit(std::ostream& out, const EarlyExitResult& r) {
    if (r.groups.empty()) return;
    out << "== early exit and overthinking, task " << r.task
        << " (fork sweep replay: sample u at every budget of a group is one trace)\n";
    char line[256];
    for (const auto& g : r.groups) {
        std::string budgets;
        for (int64_t b : g.budgets) budgets += (budgets.empty() ? "" : ",") + (b < 0 ? "none" : std::to_string(b));
        out << "  group " << g.group << ", budgets " << budgets << ", " << g.n_units << " traces\n";
        if (!g.conf_measured) {
            out << "    DEER: confidence not stored: run the sweep with answer confidence on\n";
        } else {
            std::snprintf(line, sizeof line, "    %-6s %9s %9s %11s %10s %8s %8s\n", "theta", "tokens", "accuracy",
                          "exit budget", "tok/full", "early", "natural");
            out << line;
            const double full = g.static_points.back().tokens;
            for (const auto& d : g.deer) {
                std::snprintf(line, sizeof line, "    %-6s %9s %9s %11s %10s %8s %8s\n", report_fmt(d.theta, 2).c_str(),
                              f1(d.tokens).c_str(), f3(d.accuracy).c_str(), f1(d.exit_budget).c_str(),
                              f3(full > 0 ? d.tokens / full : NAN).c_str(), f3(d.share_early).c_str(),
                              f3(d.share_natural).c_str());
                out << line;
            }
            out << "    full trace (largest budget): " << f1(full) << " tokens, accuracy "
                << f3(g.static_points.back().accuracy) << "\n";
        }
        std::snprintf(line, sizeof line, "    %-12s %6s %6s %8s %8s %9s %9s %9s %10s\n", "queries", "traces", "conv",
                      "overthk", "1st-ok", "acc last", "acc mode", "cost all", "cost share");
        out << line;
        std::vector<const ConvergenceStats*> rows = {&g.convergence};
        for (const auto& s : g.by_level) rows.push_back(&s);
        for (const auto* s : rows) {
            std::string name = std::isfinite(s->level) ? r.level_field + " " + report_fmt(s->level, 0) : "all";
            std::snprintf(line, sizeof line, "    %-12s %6zu %6s %8s %8s %9s %9s %9s %10s\n", name.c_str(), s->n_traces,
                          report_fmt(s->convergence_fork, 2).c_str(), f3(s->overthinking).c_str(),
                          f3(s->first_correct).c_str(), f3(s->accuracy_last).c_str(), f3(s->accuracy_mode).c_str(),
                          f1(s->cost_all_forks).c_str(), f1(s->cost_shared).c_str());
            out << line;
        }
    }
    out << "  conv = mean convergence fork (0 = the first budget); overthk = 1 - think(conv)/think(last); 1st-ok = "
           "think(first correct)/think(last) over traces ever right;\n"
           "  acc mode = subthought mode over the forks (ties to the latest); cost all = the forks' tokens summed, "
           "cost share = the trace once + one answer per fork\n";
}

void print_efficiency(std::ostream& out, const nlohmann::json& e) {
    out << "== efficiency against reference '" << e["reference"].get<std::string>() << "' ("
        << e["reference_rule"].get<std::string>() << ")\n";
    if (e.contains("error")) {
        out << "  " << e["error"].get<std::string>() << "\n";
        return;
    }
    bool aes = e.contains("aes_constants") && !e["aes_constants"].is_null();
    if (aes)
        out << "  AES constants alpha=" << e["aes_constants"]["alpha"] << " beta=" << e["aes_constants"]["beta"]
            << " gamma=" << e["aes_constants"]["gamma"] << "\n";
    char line[200];
    std::snprintf(line, sizeof line, "  %-24s %16s %12s %10s\n", "configuration", "dlen mean-ratio", "dlen pooled",
                  aes ? "AES pooled" : "");
    out << line;
    for (const auto& c : e["configs"]) {
        std::snprintf(line, sizeof line, "  %-24s %16s %12s %10s\n", c["label"].get<std::string>().c_str(),
                      report_fmt(c["length_reduction_mean_of_ratios"].get<double>(), 3).c_str(),
                      report_fmt(c["length_reduction_pooled"].get<double>(), 3).c_str(),
                      aes && !c["aes_pooled"].is_null() ? report_fmt(c["aes_pooled"].get<double>(), 3).c_str() : "");
        out << line;
    }
    for (const auto& h : e["hypervolume"])
        out << "  hypervolume " << h["task"].get<std::string>() << ": " << report_fmt(h["hypervolume"].get<double>(), 2)
            << " (reference point: " << report_fmt(h["reference_tokens"].get<double>(), 1) << " tokens, accuracy 0; "
            << h["reference_rule"].get<std::string>() << ")\n";
}

}  // namespace

int cmd_route(int argc, char** argv) {
    ArgParser args("route",
                   "Routers on the accuracy-tokens plane (oracle bound, static hull, cheap-signal routers fitted on a\n"
                   "dev split and scored on a test split), parallel sampling at equal cost (maj@k, short-m@k),\n"
                   "early exit and overthinking from the fork sweep (DEER replay, convergence probes, subthought\n"
                   "mode), per-difficulty views and efficiency summaries, from the samples a store holds.");
    args.option("db", "FILE", "the SQLite store (required; opened read-only)")
        .option("run", "ID", "run id or 'latest' (default: latest)")
        .option("task", "NAME", "only this task (default: every task of the run)")
        .option("lo", "LABEL|POINT", "the cheap configuration (default: the cheapest)")
        .option("hi", "LABEL|POINT", "the expensive configuration (default: the most accurate, ties to cheaper)")
        .option("dev-fraction", "F", "share of queries in the dev split (default 0.5)")
        .option("split-seed", "N", "seed of the dev/test split and the random router (default 0)")
        .option("thresholds", "N", "router thresholds: quantiles of the dev scores (default 20)")
        .option("probe-samples", "M", "samples at lo behind the agreement signal (default 4)")
        .option("level-field", "NAME", "the task's difficulty metadata field (default 'level'; '' = none)")
        .option("ks", "LIST", "k for parallel sampling (default 2,4,8)")
        .option("reference", "LABEL", "reference configuration of the length reduction and AES (default: most tokens)")
        .option("aes", "A,B,G", "AES constants alpha,beta,gamma (gamma > beta); no AES without them")
        .option("reference-tokens", "T", "hypervolume reference tokens (default 1.05 x the largest mean)")
        .option("verdict", "KIND", "strict (default) or flexible")
        .option("format", "FMT", "console (default) or json")
        .option("output", "FILE", "write here (alias -o); '-' = stdout (default)")
        .epilog(
            "Example:\n  adabench route --db adaptive.db --run latest --aes 1,3,5\n"
            "  adabench route --db adaptive.db --lo B=24 --hi B=192 --format json -o route.json");
    std::vector<std::string> storage;
    std::vector<char*> av = report_cli_argv(argc, argv, storage);
    if (!args.parse(argc, av.data())) return 0;
    if (!args.has("db")) throw UsageError("adabench route: --db FILE is required");
    std::string out_path = args.get("output", "-");
    io_refuse_output_over_input("route", out_path, {args.get("db")});
    std::string format = args.get("format", "console");
    if (format != "console" && format != "json")
        throw UsageError("adabench route: --format expects console or json, got '" + format + "'");
    ReportVerdict verdict = REPORT_VERDICT_STRICT;
    std::string vs = args.get("verdict", "strict");
    if (vs == "flexible")
        verdict = REPORT_VERDICT_FLEXIBLE;
    else if (vs != "strict")
        throw UsageError("adabench route: --verdict expects strict or flexible, got '" + vs + "'");
    RouteOptions ro;
    ro.dev_fraction = args.get_double("dev-fraction", 0.5);
    if (!(ro.dev_fraction > 0 && ro.dev_fraction < 1))
        throw UsageError("adabench route: --dev-fraction must be in (0, 1)");
    long seed = args.get_int("split-seed", 0);
    if (seed < 0) throw UsageError("adabench route: --split-seed must be >= 0");
    ro.split_seed = uint64_t(seed);
    long nth = args.get_int("thresholds", 20);
    if (nth < 1 || nth > 10000) throw UsageError("adabench route: --thresholds must be in 1..10000");
    ro.n_thresholds = size_t(nth);
    long ps = args.get_int("probe-samples", 4);
    if (ps < 1) throw UsageError("adabench route: --probe-samples must be >= 1");
    ro.probe_samples = size_t(ps);
    std::vector<size_t> ks;
    for (const auto& k : split_commas(args.get("ks", "2,4,8"))) {
        if (k.find_first_not_of("0123456789") != std::string::npos || k.size() > 4 || std::stoul(k) < 1)
            throw UsageError("adabench route: --ks expects positive integers separated by commas, got '" + k + "'");
        ks.push_back(std::stoul(k));
    }
    std::optional<AesConstants> aes;
    if (args.has("aes")) {
        auto parts = split_commas(args.get("aes"));
        if (parts.size() != 3) throw UsageError("adabench route: --aes expects alpha,beta,gamma");
        AesConstants c;
        try {
            c.alpha = std::stod(parts[0]);
            c.beta = std::stod(parts[1]);
            c.gamma = std::stod(parts[2]);
        } catch (const std::exception&) {
            throw UsageError("adabench route: --aes expects three numbers, got '" + args.get("aes") + "'");
        }
        aes = c;
    }
    double ref_tokens = args.get_double("reference-tokens", 0);
    std::string level_field = args.get("level-field", "level");

    std::unique_ptr<Store> store = report_open_store(args.get("db"));
    int64_t run_id = report_resolve_run(*store, args.get("run", "latest"), "run");
    std::vector<AdaptiveTable> tables = adaptive_tables(*store, run_id, verdict);
    if (args.has("task")) {
        std::vector<AdaptiveTable> keep;
        for (auto& t : tables)
            if (t.task == args.get("task")) keep.push_back(std::move(t));
        if (keep.empty())
            throw Error("run " + std::to_string(run_id) + " has no samples of task '" + args.get("task") + "'");
        tables.swap(keep);
    }
    if (tables.empty()) throw Error("run " + std::to_string(run_id) + " has no samples stored ok");

    std::ostringstream text;
    nlohmann::json js = {{"run", run_id}, {"db", args.get("db")}, {"tasks", nlohmann::json::array()}};
    std::vector<std::string> notes;
    for (auto& t : tables) {
        if (!level_field.empty()) {
            std::string note;
            auto levels = adaptive_load_levels(t.task, level_field, &note);
            adaptive_set_levels(t, level_field, levels);
            if (!note.empty()) notes.push_back(note);
        }
        RouteOptions o = ro;
        o.lo = find_config(t, args.get("lo"), "lo");
        o.hi = find_config(t, args.get("hi"), "hi");
        nlohmann::json tj = {{"task", t.task}};
        if (t.n_configs() >= 2 && t.n_queries() >= 2) {
            RouteResult r = adaptive_route(t, o);
            print_route(text, t, r);
            tj["route"] = adaptive_route_json(t, r);
        } else {
            text << "== task " << t.task << ": fewer than 2 configurations or queries; no routers\n";
        }
        ParallelResult p = adaptive_parallel(t, ks);
        print_parallel(text, p);
        tj["parallel"] = adaptive_parallel_json(p);
        EarlyExitResult ee = adaptive_early_exit(t);
        print_early_exit(text, ee);
        tj["early_exit"] = adaptive_early_exit_json(ee);
        DifficultyResult d = adaptive_difficulty(t);
        print_difficulty(text, d);
        if (!d.field.empty()) {
            nlohmann::json rows = nlohmann::json::array();
            for (const auto& row : d.rows)
                rows.push_back({{"config", row.config},
                                {"level", row.level},
                                {"n_queries", row.n_queries},
                                {"accuracy", row.accuracy},
                                {"tokens", row.tokens}});
            nlohmann::json share = nlohmann::json::object();
            for (const auto& [c, s] : d.easy_token_share)
                share[c] = std::isfinite(s) ? nlohmann::json(s) : nlohmann::json();
            tj["difficulty"] = {
                {"field", d.field}, {"easy_levels", d.easy_levels}, {"rows", rows}, {"easy_token_share", share}};
        }
        js["tasks"].push_back(tj);
    }
    nlohmann::json eff =
        adaptive_efficiency_json(tables, args.get("reference"), aes.value_or(AesConstants{}), ref_tokens);
    if (!aes) {
        eff["aes_constants"] = nullptr;
        for (auto& c : eff["configs"]) {
            c.erase("aes_pooled");
            for (auto& pt : c["tasks"]) pt.erase("aes");
        }
    }
    print_efficiency(text, eff);
    js["efficiency"] = eff;
    for (const auto& n : notes) text << "note: " << n << "\n";
    js["notes"] = notes;

    std::string body = format == "json" ? js.dump(2) + "\n" : text.str();
    if (out_path == "-") {
        std::cout << body;
        return 0;
    }
    io_write_file_atomic(out_path, body);
    std::printf("wrote %s (%s), %zu bytes\n", out_path.c_str(), format.c_str(), body.size());
    return 0;
}

}  // namespace adabench
