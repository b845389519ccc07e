// Early exit (DEER replay), convergence probes and subthought mode over stored fork sweeps. See
// early_exit.h; the budget grouping itself lives in adaptive.cpp (adaptive_budget_groups).
#include "reports/early_exit.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace adabench {

namespace {

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

// Sums of TraceProbes over a set of traces, turned into ConvergenceStats.
struct ProbeSums {
    size_t n = 0, n_correct = 0;
    double conv = 0, conv_think = 0, last_think = 0, over = 0, first = 0, acc_last = 0, acc_mode = 0, cost_all = 0,
           cost_shared = 0, tokens_last = 0;

    void add(const std::vector<AdaptiveSample>& forks, const TraceProbes& p) {
        ++n;
        conv += double(p.convergence);
        conv_think += forks[p.convergence].think;
        last_think += forks.back().think;
        over += p.overthinking;
        if (std::isfinite(p.first_correct)) {
            ++n_correct;
            first += p.first_correct;
        }
        acc_last += p.last_correct;
        acc_mode += p.mode_correct;
        cost_all += p.cost_all_forks;
        cost_shared += p.cost_shared;
        tokens_last += forks.back().tokens;
    }

    ConvergenceStats stats(double level) const {
        ConvergenceStats s;
        s.level = level;
        s.n_traces = n;
        s.n_ever_correct = n_correct;
        if (n == 0) return s;
        const double d = double(n);
        s.convergence_fork = conv / d;
        s.convergence_think = conv_think / d;
        s.last_think = last_think / d;
        s.overthinking = over / d;
        s.first_correct = n_correct ? first / double(n_correct) : NAN;
        s.accuracy_last = acc_last / d;
        s.accuracy_mode = acc_mode / d;
        s.cost_all_forks = cost_all / d;
        s.cost_shared = cost_shared / d;
        s.tokens_last = tokens_last / d;
        return s;
    }
};

nlohmann::json stats_json(const ConvergenceStats& s) {
    nlohmann::json j = {{"n_traces", s.n_traces},
                        {"convergence_fork", num(s.convergence_fork)},
                        {"convergence_think", num(s.convergence_think)},
                        {"last_think", num(s.last_think)},
                        {"overthinking_ratio", num(s.overthinking)},
                        {"first_correct_ratio", num(s.first_correct)},
                        {"n_ever_correct", s.n_ever_correct},
                        {"accuracy_last", num(s.accuracy_last)},
                        {"tokens_last", num(s.tokens_last)},
                        {"subthought_mode_accuracy", num(s.accuracy_mode)},
                        {"subthought_cost_all_forks", num(s.cost_all_forks)},
                        {"subthought_cost_shared_prefix", num(s.cost_shared)}};
    if (std::isfinite(s.level)) j["level"] = s.level;
    return j;
}

}  // namespace

std::vector<std::pair<int64_t, size_t>> adaptive_fork_order(const BudgetGroup& group) {
    std::vector<std::pair<int64_t, size_t>> forks, none;
    for (const auto& [b, j] : group.columns) (b < 0 ? none : forks).push_back({b, j});
    forks.insert(forks.end(), none.begin(), none.end());
    return forks;
}

size_t adaptive_deer_exit(const std::vector<AdaptiveSample>& forks, double theta, EarlyExitReason* reason) {
    for (size_t f = 0; f < forks.size(); ++f) {
        const AdaptiveSample& s = forks[f];
        EarlyExitReason why = EARLY_EXIT_LAST;
        bool exit = true;
        if (!s.think_cut)
            why = EARLY_EXIT_NATURAL;
        else if (std::isfinite(s.answer_conf) && s.answer_conf > theta)
            why = EARLY_EXIT_CONFIDENCE;
        else
            exit = f + 1 == forks.size();
        if (exit) {
            if (reason) *reason = why;
            return f;
        }
    }
    if (reason) *reason = EARLY_EXIT_LAST;
    return forks.empty() ? 0 : forks.size() - 1;
}

TraceProbes adaptive_trace_probes(const std::vector<AdaptiveSample>& forks) {
    TraceProbes p;
    if (forks.empty()) return p;
    const size_t K = forks.size();
    const AdaptiveSample& last = forks.back();
    p.convergence = K - 1;
    while (p.convergence > 0 && forks[p.convergence - 1].key == last.key) --p.convergence;
    const double t_last = last.think;
    p.overthinking = t_last > 0 ? 1 - forks[p.convergence].think / t_last : 0;
    for (size_t f = 0; f < K; ++f)
        if (forks[f].correct > 0) {
            p.first_correct = t_last > 0 ? forks[f].think / t_last : 1;
            break;
        }
    p.last_correct = last.correct;
    // The distinct forks: every cut fork and the first natural one; later forks repeat it.
    p.n_distinct = K;
    for (size_t f = 0; f < K; ++f)
        if (!forks[f].think_cut) {
            p.n_distinct = f + 1;
            break;
        }
    // Subthought mode over the distinct forks' keys ("" abstains); ties go to the key seen latest.
    std::map<std::string, std::pair<size_t, size_t>> votes;  // key -> (count, latest fork)
    for (size_t f = 0; f < p.n_distinct; ++f) {
        const AdaptiveSample& s = forks[f];
        p.cost_all_forks += s.tokens;
        p.cost_shared += s.answer_tokens;
        if (s.key.empty()) continue;
        auto& v = votes[s.key];
        ++v.first;
        v.second = f;
    }
    p.cost_shared += forks[p.n_distinct - 1].think;
    const std::pair<size_t, size_t>* best = nullptr;
    for (const auto& [k, v] : votes)
        if (!best || v.first > best->first || (v.first == best->first && v.second > best->second)) best = &v;
    p.mode_correct = best ? forks[best->second].correct : 0;
    return p;
}

EarlyExitResult adaptive_early_exit(const AdaptiveTable& table, const std::vector<double>& thetas) {
    EarlyExitResult r;
    r.task = table.task;
    r.level_field = table.level_field;
    r.thetas = thetas;
    std::vector<double> levels;  // the convention of adaptive_difficulty: distinct, ascending
    if (!table.level_field.empty()) {
        std::set<double> ls;
        for (const auto& l : table.level)
            if (l) ls.insert(*l);
        levels.assign(ls.begin(), ls.end());
    }
    for (const auto& group : adaptive_budget_groups(table)) {
        if (group.columns.size() < 2) continue;
        const auto order = adaptive_fork_order(group);
        const size_t K = order.size();
        EarlyExitGroup g;
        g.group = group.name;
        for (const auto& [b, j] : order) {
            g.budgets.push_back(b);
            g.labels.push_back(table.labels[j]);
        }
        std::vector<double> st_tokens(K, 0), st_acc(K, 0);
        std::vector<double> d_tokens(thetas.size(), 0), d_acc(thetas.size(), 0), d_think(thetas.size(), 0),
            d_budget(thetas.size(), 0), d_early(thetas.size(), 0), d_natural(thetas.size(), 0);
        ProbeSums all;
        std::map<double, ProbeSums> per_level;
        std::vector<AdaptiveSample> forks(K);
        for (size_t q = 0; q < table.n_queries(); ++q) {
            const size_t n_units = table.cells[q][order[0].second].size();
            for (size_t u = 0; u < n_units; ++u) {
                for (size_t f = 0; f < K; ++f) {
                    forks[f] = table.cells[q][order[f].second][u];
                    g.conf_measured = g.conf_measured || std::isfinite(forks[f].answer_conf);
                    st_tokens[f] += forks[f].tokens;
                    st_acc[f] += forks[f].correct;
                }
                ++g.n_units;
                for (size_t i = 0; i < thetas.size(); ++i) {
                    EarlyExitReason why;
                    const size_t f = adaptive_deer_exit(forks, thetas[i], &why);
                    d_tokens[i] += forks[f].tokens;
                    d_acc[i] += forks[f].correct;
                    d_think[i] += forks[f].think;
                    d_budget[i] += order[f].first < 0 ? forks[f].think : double(order[f].first);
                    d_early[i] += why == EARLY_EXIT_CONFIDENCE && f + 1 < K;
                    d_natural[i] += why == EARLY_EXIT_NATURAL;
                }
                const TraceProbes p = adaptive_trace_probes(forks);
                all.add(forks, p);
                if (!levels.empty() && table.level[q]) per_level[*table.level[q]].add(forks, p);
            }
        }
        if (g.n_units == 0) continue;
        const double n = double(g.n_units);
        for (size_t f = 0; f < K; ++f) g.static_points.push_back({st_acc[f] / n, st_tokens[f] / n});
        for (size_t i = 0; i < thetas.size(); ++i)
            g.deer.push_back({thetas[i], d_tokens[i] / n, d_acc[i] / n, d_think[i] / n, d_budget[i] / n, d_early[i] / n,
                              d_natural[i] / n});
        g.convergence = all.stats(NAN);
        for (double lv : levels) {
            auto it = per_level.find(lv);
            if (it != per_level.end()) g.by_level.push_back(it->second.stats(lv));
        }
        r.groups.push_back(std::move(g));
    }
    return r;
}

nlohmann::json adaptive_early_exit_json(const EarlyExitResult& r) {
    nlohmann::json j;
    j["task"] = r.task;
    j["level_field"] = r.level_field;
    j["thetas"] = r.thetas;
    j["conventions"] = {
        {"forks",
         "the configurations of one budget group in budget order (none last); unit u at every budget is "
         "one trace"},
        {"deer",
         "exit at the first natural fork, else the first fork with answer_conf > theta, else the last fork; "
         "tokens and correctness of that sample; means over units"},
        {"convergence_fork", "first fork index from which the vote key never changes (no answer counts as a key)"},
        {"overthinking_ratio", "1 - think(convergence fork) / think(last fork); 0 when think(last) = 0"},
        {"first_correct_ratio",
         "think(first correct fork) / think(last fork) (ThinkBench token_efficiency); mean over traces ever correct"},
        {"subthought",
         "mode of the answers over the distinct forks (cut forks and the first natural one; ties to "
         "the latest) against the last answer"},
        {"subthought_cost_all_forks", "sum of the distinct forks' generated tokens (no shared prefix)"},
        {"subthought_cost_shared_prefix",
         "thinking of the last distinct fork + the distinct forks' answer tokens (the trace once)"}};
    j["groups"] = nlohmann::json::array();
    for (const auto& g : r.groups) {
        nlohmann::json gj;
        gj["group"] = g.group;
        gj["budgets"] = g.budgets;
        gj["labels"] = g.labels;
        gj["n_units"] = g.n_units;
        gj["conf_measured"] = g.conf_measured;
        if (!g.conf_measured)
            gj["note"] =
                "confidence not stored: run the sweep with answer confidence on (the DEER curve below "
                "only exits at natural ends)";
        gj["static"] = nlohmann::json::array();
        for (size_t f = 0; f < g.static_points.size(); ++f)
            gj["static"].push_back({{"budget", g.budgets[f]},
                                    {"label", g.labels[f]},
                                    {"tokens", num(g.static_points[f].tokens)},
                                    {"accuracy", num(g.static_points[f].accuracy)}});
        gj["deer"] = nlohmann::json::array();
        for (const auto& d : g.deer)
            gj["deer"].push_back({{"theta", d.theta},
                                  {"tokens", num(d.tokens)},
                                  {"accuracy", num(d.accuracy)},
                                  {"think", num(d.think)},
                                  {"exit_budget", num(d.exit_budget)},
                                  {"share_early", num(d.share_early)},
                                  {"share_natural", num(d.share_natural)}});
        gj["convergence"] = stats_json(g.convergence);
        gj["by_level"] = nlohmann::json::array();
        for (const auto& s : g.by_level) gj["by_level"].push_back(stats_json(s));
        j["groups"].push_back(gj);
    }
    return j;
}

}  // namespace adabench
