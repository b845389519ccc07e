// The adaptive-analysis section of the HTML report. See html_adaptive.h.
#include "reports/html_adaptive.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <vector>

#include "reports/adaptive.h"
#include "reports/early_exit.h"
#include "reports/html.h"

namespace adabench {

namespace {

const char* kColours[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8B6D00", "#000000"};
const size_t kNColours = sizeof(kColours) / sizeof(kColours[0]);

struct ChartSeries {
    std::string name;
    std::string colour = "#333";
    std::vector<std::pair<double, double>> points;  // (x, y)
    bool line = true;
    bool markers = true;
    std::string dash;  // "" = solid
};

// A small line/scatter chart. x may be log10-scaled (tokens spanning decades); y from 0 to y_max.
std::string svg_chart(const std::vector<ChartSeries>& series, const std::string& title, const std::string& x_label,
                      const std::string& y_label, bool log_x, double y_max) {
    const double W = 640, H = 360, L = 62, R = 170, T = 16, B = 48;
    double lo = INFINITY, hi = -INFINITY;
    for (const auto& s : series)
        for (const auto& [x, y] : s.points)
            if (std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0)) {
                lo = std::min(lo, x);
                hi = std::max(hi, x);
            }
    if (!std::isfinite(lo)) return "<p class=\"note\">(no data to plot)</p>";
    double x0, x1;
    if (log_x) {
        x0 = std::floor(std::log10(lo) * 4) / 4;
        x1 = std::ceil(std::log10(hi) * 4) / 4;
        if (x1 <= x0) x1 = x0 + 0.25;
    } else {
        x0 = 0;
        x1 = hi * 1.05;
        if (x1 <= 0) x1 = 1;
    }
    auto fx = [&](double x) { return log_x ? std::log10(x) : x; };
    auto sx = [&](double x) { return L + (W - L - R) * (fx(x) - x0) / (x1 - x0); };
    auto sy = [&](double y) { return T + (H - T - B) * (1 - std::clamp(y / y_max, 0.0, 1.0)); };
    std::ostringstream o;
    char b[512];
    o << "<svg class=\"plot adaptive-plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
      << "\" viewBox=\"0 0 " << W << " " << H << "\" role=\"img\" aria-label=\"" << html_escape(title) << "\"><title>"
      << html_escape(title) << "</title>";
    for (int i = 0; i <= 4; ++i) {
        double y = y_max * i / 4;
        std::snprintf(
            b, sizeof b,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" "
            "font-size=\"11\" text-anchor=\"end\">%g</text>",
            L, W - R, sy(y), sy(y), L - 6, sy(y) + 4, std::round(y * 100) / 100);
        o << b;
    }
    std::vector<double> ticks;
    if (log_x) {
        for (int e = int(std::floor(x0)); e <= int(std::ceil(x1)); ++e)
            for (double m : {1.0, 2.0, 5.0}) {
                double v = m * std::pow(10.0, e);
                if (std::log10(v) >= x0 - 1e-9 && std::log10(v) <= x1 + 1e-9) ticks.push_back(v);
            }
    } else {
        double raw = x1 / 6, mag = std::pow(10.0, std::floor(std::log10(raw))), step = 10 * mag;
        for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
            if (m * mag >= raw) {
                step = m * mag;
                break;
            }
        for (double v = 0; v <= x1 + 1e-9; v += step) ticks.push_back(v);
    }
    for (double v : ticks) {
        std::snprintf(
            b, sizeof b,
            "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" "
            "font-size=\"11\" text-anchor=\"middle\">%g</text>",
            sx(v), sx(v), T, H - B, sx(v), H - B + 15, v);
        o << b;
    }
    std::snprintf(b, sizeof b,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>", L, T,
                  W - L - R, H - T - B);
    o << b;
    o << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 10 << "\" font-size=\"12\" text-anchor=\"middle\">"
      << html_escape(x_label) << (log_x ? " (log scale)" : "") << "</text>";
    o << "<text transform=\"translate(16 " << (T + H - B) / 2
      << ") rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">" << html_escape(y_label) << "</text>";
    double ly = T + 8;
    for (const auto& s : series) {
        std::vector<std::pair<double, double>> pts;
        for (const auto& [x, y] : s.points)
            if (std::isfinite(x) && std::isfinite(y) && (!log_x || x > 0)) pts.push_back({x, y});
        if (s.line && pts.size() >= 2) {
            o << "<polyline fill=\"none\" stroke=\"" << s.colour << "\" stroke-width=\"2\"";
            if (!s.dash.empty()) o << " stroke-dasharray=\"" << s.dash << "\"";
            o << " points=\"";
            for (const auto& [x, y] : pts) {
                std::snprintf(b, sizeof b, "%.1f,%.1f ", sx(x), sy(y));
                o << b;
            }
            o << "\"><title>" << html_escape(s.name) << "</title></polyline>";
        }
        if (s.markers)
            for (const auto& [x, y] : pts) {
                std::snprintf(b, sizeof b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\">", sx(x), sy(y),
                              s.colour.c_str());
                o << b << "<title>" << html_escape(s.name) << ": " << report_fmt(x, 1) << ", " << report_fmt(y, 3)
                  << "</title></circle>";
            }
        std::snprintf(b, sizeof b,
                      "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>",
                      W - R + 8, W - R + 26, ly, ly, s.colour.c_str(),
                      s.dash.empty() ? "" : (" stroke-dasharray=\"" + s.dash + "\"").c_str());
        o << b << "<text x=\"" << W - R + 30 << "\" y=\"" << ly + 4 << "\" font-size=\"11\">" << html_escape(s.name)
          << "</text>";
        ly += 16;
    }
    o << "</svg>";
    return o.str();
}

// The same chart with a linear token axis, and with a log-scale one behind a disclosure.
std::string chart_lin_log(const std::vector<ChartSeries>& series, const std::string& title, const std::string& x_label,
                          const std::string& y_label, double y_max) {
    return svg_chart(series, title, x_label, y_label, false, y_max) +
           "<details><summary>log-scale token axis</summary>" +
           svg_chart(series, title, x_label, y_label, true, y_max) + "</details>";
}

void write_route(std::ostringstream& o, const AdaptiveTable& t, const RouteResult& r) {
    const std::string task = html_escape(t.task);
    auto oc_all = adaptive_oracle_curve(r.oracle_all);
    o << "<h4>Routers and the oracle bound</h4>";
    o << "<p class=\"note\">Cost: mean generated tokens per sample; a router's probe tokens are added. Routers choose "
         "between lo = <b>"
      << html_escape(t.labels[r.lo]) << "</b> and hi = <b>" << html_escape(t.labels[r.hi])
      << "</b>; thresholds and direction fitted on the dev split (" << r.dev.size() << " queries), figures on the test "
      << "split (" << r.test.size() << "). The oracle picks each query's configuration for every cost multiplier "
      << "&mu; (an upper bound on any router); the hull is what random mixing of static configurations reaches.</p>";
    o << "<table class=\"oracle-gain\"><tr><th class=\"l\">configuration (all "
         "queries)</th><th>tokens</th><th>accuracy</th>"
         "<th>oracle at the same tokens</th><th>gain</th></tr>";
    for (size_t j = 0; j < t.n_configs(); ++j) {
        double oa = adaptive_curve_at(oc_all, r.static_all[j].tokens);
        o << "<tr><td class=\"l\">" << html_escape(t.labels[j])
          << (j == r.lo   ? " (lo)"
              : j == r.hi ? " (hi)"
                          : "")
          << "</td><td>" << report_fmt(r.static_all[j].tokens, 1) << "</td><td>" << report_fmt(r.static_all[j].accuracy)
          << "</td><td>" << report_fmt(oa) << "</td><td>" << report_fmt(oa - r.static_all[j].accuracy) << "</td></tr>";
    }
    o << "</table>";
    const RouterMetrics* best = nullptr;
    for (const auto& m : r.routers)
        if (m.signal != "random" && std::isfinite(m.gap_recovered) && (!best || m.gap_recovered > best->gap_recovered))
            best = &m;
    std::vector<ChartSeries> series;
    ChartSeries stat{"static configurations", "#777", {}, false, true, ""};
    for (const auto& p : r.static_test) stat.points.push_back({p.tokens, p.accuracy});
    series.push_back(stat);
    ChartSeries hull{"static hull (mixing)", "#777", {}, true, false, "5,4"};
    for (const auto& p : r.hull_test) hull.points.push_back({p.tokens, p.accuracy});
    series.push_back(hull);
    ChartSeries oracle{"oracle (mu sweep)", "#009E73", {}, true, false, ""};
    for (const auto& p : r.oracle_test) oracle.points.push_back({p.point.tokens, p.point.accuracy});
    series.push_back(oracle);
    ChartSeries rnd{"random lo/hi",
                    "#999",
                    {{r.static_test[r.lo].tokens, r.static_test[r.lo].accuracy},
                     {r.static_test[r.hi].tokens, r.static_test[r.hi].accuracy}},
                    true,
                    false,
                    "2,3"};
    series.push_back(rnd);
    if (best) {
        ChartSeries rc{"router: " + best->signal, "#0072B2", {}, true, true, ""};
        std::vector<RouterCurvePoint> c = best->curve;
        std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.tokens < b.tokens; });
        for (const auto& p : c) rc.points.push_back({p.tokens, p.accuracy});
        series.push_back(rc);
    }
    if (!r.switches.empty()) {
        ChartSeries sw{"adapter switching (sweep)", "#D55E00", {}, false, true, ""};
        for (const auto& x : r.switches) sw.points.push_back({x.test.tokens, x.test.accuracy});
        series.push_back(sw);
    }
    o << chart_lin_log(series, "router plane, task " + t.task + " (test split)", "mean generated tokens per sample",
                       "accuracy", 1.0);
    o << "<table class=\"routers\"><tr><th class=\"l\">signal</th><th>dir</th><th>AUROC</th><th>AUC</th>"
         "<th>gap recovered</th><th>APGR</th><th>&Delta;acc vs hull u=.25</th><th>u=.5</th><th>u=.75</th>"
         "<th>CPT(50%) tokens</th><th>probe tokens</th></tr>";
    for (const auto& m : r.routers)
        o << "<tr><td class=\"l\">" << html_escape(m.signal) << "</td><td>"
          << (m.direction > 0   ? "+"
              : m.direction < 0 ? "&minus;"
                                : "bins")
          << "</td><td>" << report_fmt(m.auroc_test) << "</td><td>" << report_fmt(m.auc) << "</td><td>"
          << report_fmt(m.gap_recovered) << "</td><td>" << report_fmt(m.apgr) << "</td><td>"
          << report_fmt(m.acc_vs_hull[0]) << "</td><td>" << report_fmt(m.acc_vs_hull[1]) << "</td><td>"
          << report_fmt(m.acc_vs_hull[2]) << "</td><td>" << report_fmt(m.cpt50_tokens, 1) << "</td><td>"
          << report_fmt(m.mean_probe_tokens, 1) << "</td></tr>";
    o << "</table><p class=\"note\">AUC over u = (T &minus; T<sub>lo</sub>)/(T<sub>hi</sub> &minus; T<sub>lo</sub>) in "
         "[0, 1]: oracle "
      << (r.routers.empty() ? "-" : report_fmt(r.routers[0].auc_oracle)) << ", hull "
      << (r.routers.empty() ? "-" : report_fmt(r.routers[0].auc_hull)) << ", random "
      << (r.routers.empty() ? "-" : report_fmt(r.routers[0].auc_random))
      << ". Gap recovered = (AUC &minus; random)/(oracle &minus; random); APGR is RouteLLM's, over the share of "
         "queries routed to hi (random = 0.5). Task "
      << task << ".</p>";
    if (!r.switches.empty()) {
        o << "<table class=\"routers\"><tr><th class=\"l\">adapter switching (sweep)</th><th>tokens</th>"
             "<th>accuracy</th><th>hull at cost</th><th>oracle at cost</th></tr>";
        for (const auto& x : r.switches)
            o << "<tr><td class=\"l\" title=\"" << html_escape(x.label) << "\">" << html_escape(x.mechanism)
              << "</td><td>" << report_fmt(x.test.tokens, 1) << "</td><td>" << report_fmt(x.test.accuracy)
              << "</td><td>" << report_fmt(x.hull_at) << "</td><td>" << report_fmt(x.oracle_at) << "</td></tr>";
        o << "</table>";
    }
}

void write_parallel(std::ostringstream& o, const ParallelResult& p) {
    if (p.rows.empty()) return;
    o << "<h4>Parallel sampling at equal cost</h4><p class=\"note\">maj@k (ties: random, expected) and short-m@k (stop "
         "when the m shortest finish thinking; cost k&middot;l<sub>(m)</sub> + m answers) over subsets of the stored "
         "samples, against the single-sample budget curve; x = generated tokens per query.</p>";
    std::map<std::string, std::vector<const ParallelRow*>> by_group;
    std::vector<std::string> order;
    for (const auto& r : p.rows) {
        if (by_group.find(r.group) == by_group.end()) order.push_back(r.group);
        by_group[r.group].push_back(&r);
    }
    for (const auto& g : order) {
        std::map<std::string, ChartSeries> series;
        std::vector<std::string> names;
        for (const auto* r : by_group[g]) {
            std::string name =
                r->method == "single" ? "single sample (budgets)" : r->method + " k=" + std::to_string(r->k);
            if (series.find(name) == series.end()) {
                ChartSeries s;
                s.name = name;
                s.colour = kColours[names.size() % kNColours];
                s.line = true;
                s.dash = r->method == "single" ? "" : r->method == "maj@k" ? "6,3" : "2,3";
                series[name] = s;
                names.push_back(name);
            }
            series[name].points.push_back({r->estimate.tokens, r->estimate.accuracy});
        }
        std::vector<ChartSeries> v;
        for (const auto& n : names) {
            auto s = series[n];
            std::sort(s.points.begin(), s.points.end());
            v.push_back(s);
        }
        o << chart_lin_log(v, "parallel sampling, " + p.task + " " + g, "generated tokens per query", "accuracy", 1.0);
    }
    if (!p.equal_cost.empty()) {
        o << "<table class=\"equal-cost\"><tr><th class=\"l\">group</th><th>B</th><th>k</th><th>single@B acc</th>"
             "<th>tokens</th><th>maj@k at B/k acc</th><th>tokens</th><th>short-1@k at B/k acc</th><th>tokens</th></tr>";
        for (const auto& e : p.equal_cost)
            o << "<tr><td class=\"l\">" << html_escape(e.group) << "</td><td>" << e.budget << "</td><td>" << e.k
              << "</td><td>" << report_fmt(e.single.accuracy) << "</td><td>" << report_fmt(e.single.tokens, 1)
              << "</td><td>" << report_fmt(e.maj.accuracy) << "</td><td>" << report_fmt(e.maj.tokens, 1) << "</td><td>"
              << report_fmt(e.short1.accuracy) << "</td><td>" << report_fmt(e.short1.tokens, 1) << "</td></tr>";
        o << "</table>";
    }
}

void write_difficulty(std::ostringstream& o, const AdaptiveTable& t, const DifficultyResult& d) {
    if (d.field.empty() || d.levels.empty()) return;
    o << "<h4>Difficulty (" << html_escape(d.field) << ")</h4>";
    std::vector<ChartSeries> tokens_per_level, acc_vs_tokens;
    size_t per = d.levels.size();
    double max_tokens = 1;
    for (const auto& r : d.rows) max_tokens = std::max(max_tokens, r.tokens);
    for (size_t i = 0, c = 0; i + per <= d.rows.size(); i += per, ++c) {
        ChartSeries a{d.rows[i].config, kColours[c % kNColours], {}, true, true, ""};
        ChartSeries b = a;
        for (size_t l = 0; l < per; ++l) {
            a.points.push_back({d.rows[i + l].level, d.rows[i + l].tokens});
            b.points.push_back({d.rows[i + l].tokens, d.rows[i + l].accuracy});
        }
        tokens_per_level.push_back(a);
        acc_vs_tokens.push_back(b);
    }
    o << svg_chart(tokens_per_level, "tokens per level, task " + t.task, d.field, "mean generated tokens", false,
                   max_tokens * 1.05);
    o << chart_lin_log(acc_vs_tokens, "accuracy vs tokens per level, task " + t.task,
                       "mean generated tokens (one point per level)", "accuracy", 1.0);
    o << "<table class=\"difficulty\"><tr><th class=\"l\">configuration</th>";
    for (double l : d.levels) o << "<th>" << html_escape(d.field) << " " << report_fmt(l, 0) << " acc / tokens</th>";
    o << "<th>share of tokens on easy levels</th></tr>";
    for (size_t i = 0; i + per <= d.rows.size(); i += per) {
        o << "<tr><td class=\"l\">" << html_escape(d.rows[i].config) << "</td>";
        for (size_t l = 0; l < per; ++l)
            o << "<td>" << report_fmt(d.rows[i + l].accuracy, 2) << " / " << report_fmt(d.rows[i + l].tokens, 0)
              << "</td>";
        o << "<td>" << report_fmt(d.easy_token_share[i / per].second) << "</td></tr>";
    }
    o << "</table><p class=\"note\">Easy = the lower half of the distinct levels:";
    for (double l : d.easy_levels) o << " " << report_fmt(l, 0);
    o << ". The share weighs each problem's mean tokens.</p>";
}

std::string budget_name(int64_t b) { return b < 0 ? std::string("none") : std::to_string(b); }

void write_early_exit(std::ostringstream& o, const EarlyExitResult& r) {
    if (r.groups.empty()) return;
    o << "<h4>Early exit and overthinking</h4><p class=\"note\">Replayed from the fork sweep: sample u at every "
         "thinking budget of a group is one trace forced to answer at that budget (a fork), or its natural end. "
         "<b>DEER</b>: exit at the first fork whose forced answer has confidence (mean max-probability of the answer "
         "tokens) &gt; &theta;, or where thinking ended on its own, else at the largest budget; &theta; &gt; 1 is the "
         "full trace. <b>Convergence fork</b>: the first fork from which the answer never changes; <b>overthinking "
         "ratio</b> = 1 &minus; think(convergence)/think(last); <b>first-correct ratio</b> = think(first correct "
         "fork)/think(last) (ThinkBench), over traces ever right; <b>subthought mode</b>: the most frequent answer "
         "over the forks (ties to the latest) against the last answer, at the cost of all forks (each answer "
         "decoded from scratch) or of the trace once plus one answer per fork.</p>";
    for (const auto& g : r.groups) {
        std::string budgets;
        for (int64_t b : g.budgets) budgets += (budgets.empty() ? "" : ", ") + budget_name(b);
        o << "<p><b>" << html_escape(g.group) << "</b>: budgets " << budgets << "; " << g.n_units << " traces.</p>";
        if (!g.conf_measured) {
            o << "<p class=\"note early-exit-noconf\">confidence not stored: run the sweep with answer confidence "
                 "on to draw the DEER curve.</p>";
        } else {
            ChartSeries stat{"single budget (static)", "#777", {}, true, true, "5,4"};
            for (const auto& p : g.static_points) stat.points.push_back({p.tokens, p.accuracy});
            ChartSeries deer{"DEER (theta sweep)", "#D55E00", {}, true, true, ""};
            for (const auto& d : g.deer) deer.points.push_back({d.tokens, d.accuracy});
            std::sort(deer.points.begin(), deer.points.end());
            o << chart_lin_log({stat, deer}, "early exit, task " + r.task + " " + g.group,
                               "mean generated tokens per sample", "accuracy", 1.0);
            const ParetoPoint& full = g.static_points.back();
            o << "<table class=\"early-exit\"><tr><th>&theta;</th><th>tokens</th><th>accuracy</th><th>tokens / full "
                 "trace</th><th>&Delta;acc vs full trace</th><th>mean exit budget</th><th>share exiting early</th>"
                 "<th>share natural end</th></tr>";
            for (const auto& d : g.deer)
                o << "<tr><td>" << report_fmt(d.theta, 2) << "</td><td>" << report_fmt(d.tokens, 1) << "</td><td>"
                  << report_fmt(d.accuracy) << "</td><td>" << report_fmt(full.tokens > 0 ? d.tokens / full.tokens : NAN)
                  << "</td><td>" << report_fmt(d.accuracy - full.accuracy) << "</td><td>"
                  << report_fmt(d.exit_budget, 1) << "</td><td>" << report_fmt(d.share_early) << "</td><td>"
                  << report_fmt(d.share_natural) << "</td></tr>";
            o << "</table>";
        }
        o << "<table class=\"overthinking\"><tr><th class=\"l\">queries</th><th>traces</th><th>convergence "
             "fork</th><th>think at convergence / last</th><th>overthinking ratio</th><th>first-correct ratio "
             "(traces)</th><th>full-trace acc</th><th>subthought-mode acc</th><th>full-trace tokens</th><th>mode "
             "cost, all forks</th><th>mode cost, shared prefix</th></tr>";
        std::vector<const ConvergenceStats*> rows = {&g.convergence};
        for (const auto& s : g.by_level) rows.push_back(&s);
        for (const auto* s : rows)
            o << "<tr><td class=\"l\">"
              << (std::isfinite(s->level) ? html_escape(r.level_field) + " " + report_fmt(s->level, 0)
                                          : std::string("all"))
              << "</td><td>" << s->n_traces << "</td><td>" << report_fmt(s->convergence_fork, 2) << "</td><td>"
              << report_fmt(s->convergence_think, 1) << " / " << report_fmt(s->last_think, 1) << "</td><td>"
              << report_fmt(s->overthinking) << "</td><td>" << report_fmt(s->first_correct) << " (" << s->n_ever_correct
              << ")</td><td>" << report_fmt(s->accuracy_last) << "</td><td>" << report_fmt(s->accuracy_mode)
              << "</td><td>" << report_fmt(s->tokens_last, 1) << "</td><td>" << report_fmt(s->cost_all_forks, 1)
              << "</td><td>" << report_fmt(s->cost_shared, 1) << "</td></tr>";
        o << "</table>";
    }
}

void write_efficiency(std::ostringstream& o, const nlohmann::json& e) {
    o << "<h4>Efficiency against " << html_escape(e.value("reference", std::string())) << "</h4>";
    if (e.contains("error")) {
        o << "<p class=\"note\">" << html_escape(e["error"].get<std::string>()) << "</p>";
        return;
    }
    o << "<table class=\"efficiency\"><tr><th class=\"l\">configuration</th><th>length reduction (mean of per-task "
         "ratios)</th><th>length reduction (pooled tokens)</th></tr>";
    for (const auto& c : e["configs"])
        o << "<tr><td class=\"l\">" << html_escape(c["label"].get<std::string>()) << "</td><td>"
          << report_fmt(c["length_reduction_mean_of_ratios"].get<double>()) << "</td><td>"
          << report_fmt(c["length_reduction_pooled"].get<double>()) << "</td></tr>";
    o << "</table><p class=\"note\">Reference: the configuration with the most tokens. ";
    for (const auto& h : e["hypervolume"])
        o << "Hypervolume of " << html_escape(h["task"].get<std::string>()) << ": "
          << report_fmt(h["hypervolume"].get<double>(), 2) << " (reference point "
          << report_fmt(h["reference_tokens"].get<double>(), 1) << " tokens, accuracy 0). ";
    o << "AES needs constants: <code>adabench route --aes ALPHA,BETA,GAMMA</code>.</p>";
}

}  // namespace

std::string html_adaptive_section(const Store& store, int64_t run_id) {
    std::vector<AdaptiveTable> tables;
    try {
        tables = adaptive_tables(store, run_id);
    } catch (const std::exception& e) {
        return "<p class=\"note\">adaptive analysis unavailable: " + html_escape(e.what()) + "</p>";
    }
    bool any = false;
    for (const auto& t : tables) any = any || (t.n_configs() >= 2 && t.n_queries() >= 2);
    if (!any) return "";
    std::ostringstream o;
    o << "<div class=\"adaptive\"><h3 id=\"adaptive-" << run_id << "\">Adaptive analysis</h3>";
    for (auto& t : tables) {
        if (t.n_configs() < 2 || t.n_queries() < 2) continue;
        std::string note;
        auto levels = adaptive_load_levels(t.task, "level", &note);
        adaptive_set_levels(t, "level", levels);
        o << "<h4>Task " << html_escape(t.task) << "</h4>";
        try {
            write_route(o, t, adaptive_route(t));
        } catch (const std::exception& e) {
            o << "<p class=\"note\">routers: " << html_escape(e.what()) << "</p>";
        }
        write_parallel(o, adaptive_parallel(t, {2, 4, 8}));
        write_difficulty(o, t, adaptive_difficulty(t));
        write_early_exit(o, adaptive_early_exit(t));
    }
    write_efficiency(o, adaptive_efficiency_json(tables, "", AesConstants{}, 0));
    o << "</div>";
    return o.str();
}

}  // namespace adabench
