// Adaptive-method analysis over stored samples: routers, the oracle bound and the static hull;
// parallel sampling at equal cost; difficulty views and efficiency summaries. See adaptive.h.
#include "reports/adaptive.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <tuple>

#include "common/error.h"
#include "datasets/dataset.h"
#include "engines/generation/sampling.h"
#include "reports/early_exit.h"

namespace adabench {

namespace {

const double kInf = std::numeric_limits<double>::infinity();

double mean_of(const std::vector<double>& v) {
    if (v.empty()) return NAN;
    return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

uint64_t hash_string(const std::string& s, uint64_t seed) {
    uint64_t h = sampling_splitmix64(seed ^ 0x9e3779b97f4a7c15ULL);
    for (unsigned char ch : s) h = sampling_splitmix64(h ^ ch);
    return h;
}

// From the vertex `start`, the chain of the upper concave envelope with accuracy strictly rising:
// each next vertex has the largest slope (ties: the farthest). Returns indices in order.
std::vector<size_t> upper_chain(const std::vector<ParetoPoint>& pts) {
    std::vector<size_t> chain;
    if (pts.empty()) return chain;
    size_t v = 0;
    for (size_t i = 1; i < pts.size(); ++i)
        if (pts[i].tokens < pts[v].tokens || (pts[i].tokens == pts[v].tokens && pts[i].accuracy > pts[v].accuracy))
            v = i;
    chain.push_back(v);
    for (;;) {
        std::optional<size_t> best;
        double best_slope = 0;
        for (size_t w = 0; w < pts.size(); ++w) {
            if (pts[w].accuracy <= pts[v].accuracy || pts[w].tokens < pts[v].tokens) continue;
            double dt = pts[w].tokens - pts[v].tokens;
            double slope = dt > 0 ? (pts[w].accuracy - pts[v].accuracy) / dt : kInf;
            if (!best || slope > best_slope || (slope == best_slope && pts[w].tokens > pts[*best].tokens)) {
                best = w;
                best_slope = slope;
            }
        }
        if (!best) break;
        v = *best;
        chain.push_back(v);
    }
    return chain;
}

// Linear interpolation on (x, y) points sorted by x; flat outside.
double polyline_at(const std::vector<std::pair<double, double>>& pts, double x) {
    if (pts.empty()) return NAN;
    if (x <= pts.front().first) return pts.front().second;
    for (size_t i = 1; i < pts.size(); ++i) {
        if (x > pts[i].first) continue;
        double x0 = pts[i - 1].first, x1 = pts[i].first;
        if (x1 <= x0) return pts[i].second;
        return pts[i - 1].second + (pts[i].second - pts[i - 1].second) * (x - x0) / (x1 - x0);
    }
    return pts.back().second;
}

// The polyline used for integrals and matched-cost figures: sorted by x, mixed with (0, a0) before
// the first point when that lies right of 0.
std::vector<std::pair<double, double>> router_polyline(std::vector<std::pair<double, double>> pts, double a0) {
    std::stable_sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (!pts.empty() && pts.front().first > 0) pts.insert(pts.begin(), {0.0, a0});
    return pts;
}

double integrate_01(const std::vector<std::pair<double, double>>& poly) {
    if (poly.empty()) return NAN;
    double area = 0;
    double covered = poly.front().first;  // flat before the first point only when it lies at <= 0
    (void)covered;
    std::vector<std::pair<double, double>> p = poly;
    if (p.back().first < 1) p.push_back({1.0, p.back().second});
    for (size_t i = 1; i < p.size(); ++i) {
        double lo = std::max(p[i - 1].first, 0.0), hi = std::min(p[i].first, 1.0);
        if (hi <= lo) continue;
        area += (hi - lo) * (polyline_at(p, lo) + polyline_at(p, hi)) / 2;
    }
    return area;
}

std::string vote_key(const SampleRecord& s, ReportVerdict verdict) {
    const std::string& key = verdict == REPORT_VERDICT_STRICT ? s.extracted_strict : s.extracted_flexible;
    return (s.censored || key == "[invalid]") ? "" : key;
}

// The order "shortest first": fewer thinking tokens, then fewer generated tokens, then position.
bool shorter(const AdaptiveSample& a, size_t ia, const AdaptiveSample& b, size_t ib) {
    return std::tie(a.think, a.tokens, ia) < std::tie(b.think, b.tokens, ib);
}

// The majority vote over `idx` (positions into samples). Returns the expected correctness: with
// tie RANDOM the mean over tied answers, with SHORTEST the answer of the shortest tied sample.
double vote(const std::vector<AdaptiveSample>& samples, const std::vector<size_t>& idx, VoteTie tie) {
    std::map<std::string, std::pair<size_t, double>> groups;  // key -> (votes, correct sum)
    for (size_t i : idx) {
        const auto& s = samples[i];
        if (s.key.empty()) continue;
        auto& g = groups[s.key];
        g.first++;
        g.second += s.correct;
    }
    if (groups.empty()) return 0;
    size_t top = 0;
    for (const auto& [k, g] : groups) top = std::max(top, g.first);
    if (tie == VOTE_TIE_RANDOM) {
        double sum = 0;
        size_t n = 0;
        for (const auto& [k, g] : groups)
            if (g.first == top) {
                sum += g.second / double(g.first);
                ++n;
            }
        return sum / double(n);
    }
    std::optional<size_t> best;
    for (size_t i : idx) {
        const auto& s = samples[i];
        if (s.key.empty() || groups[s.key].first != top) continue;
        if (!best || shorter(s, i, samples[*best], *best)) best = i;
    }
    const auto& g = groups[samples[*best].key];
    return g.second / double(g.first);
}

struct SubsetValue {
    double correct = 0;
    double tokens = 0;
};

template <typename Eval>
ParallelEstimate expected_over_subsets(const std::vector<std::vector<AdaptiveSample>>& by_query, size_t k,
                                       const ParallelOptions& options, Eval eval) {
    ParallelEstimate out;
    if (k == 0) throw Error("parallel sampling: k must be >= 1");
    double acc_sum = 0, tok_sum = 0, var_sum = 0;
    for (size_t q = 0; q < by_query.size(); ++q) {
        const auto& samples = by_query[q];
        size_t n = samples.size();
        if (n < k) continue;
        double n_subsets = 1;
        for (size_t i = 0; i < k; ++i) n_subsets = n_subsets * double(n - i) / double(i + 1);
        double acc = 0, tok = 0;
        if (!options.force_monte_carlo && n_subsets <= double(options.exact_limit)) {
            std::vector<bool> mask(n, false);
            std::fill(mask.begin(), mask.begin() + long(k), true);
            size_t count = 0;
            std::vector<size_t> idx;
            do {
                idx.clear();
                for (size_t i = 0; i < n; ++i)
                    if (mask[i]) idx.push_back(i);
                SubsetValue v = eval(samples, idx);
                acc += v.correct;
                tok += v.tokens;
                ++count;
            } while (std::prev_permutation(mask.begin(), mask.end()));
            acc /= double(count);
            tok /= double(count);
        } else {
            out.exact = false;
            std::mt19937_64 rng(sampling_splitmix64(options.seed ^ (uint64_t(q) * 0x100000001b3ULL)));
            std::vector<size_t> perm(n);
            std::vector<size_t> idx;
            double sq = 0;
            size_t draws = std::max<size_t>(options.mc_subsets, 2);
            for (size_t d = 0; d < draws; ++d) {
                std::iota(perm.begin(), perm.end(), 0);
                for (size_t i = 0; i < k; ++i) {
                    std::uniform_int_distribution<size_t> pick(i, n - 1);
                    std::swap(perm[i], perm[pick(rng)]);
                }
                idx.assign(perm.begin(), perm.begin() + long(k));
                std::sort(idx.begin(), idx.end());
                SubsetValue v = eval(samples, idx);
                acc += v.correct;
                sq += v.correct * v.correct;
                tok += v.tokens;
            }
            acc /= double(draws);
            tok /= double(draws);
            double var = std::max(0.0, sq / double(draws) - acc * acc) * double(draws) / double(draws - 1);
            var_sum += var / double(draws);
        }
        acc_sum += acc;
        tok_sum += tok;
        out.n_queries++;
    }
    if (out.n_queries == 0) return {NAN, NAN, NAN, out.exact, 0};
    out.accuracy = acc_sum / double(out.n_queries);
    out.tokens = tok_sum / double(out.n_queries);
    out.accuracy_se = std::sqrt(var_sum) / double(out.n_queries);
    return out;
}

nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json estimate_json(const ParallelEstimate& e) {
    return {{"accuracy", num(e.accuracy)},
            {"tokens", num(e.tokens)},
            {"accuracy_se", num(e.accuracy_se)},
            {"exact", e.exact},
            {"n_queries", e.n_queries}};
}

}  // namespace

// ---- the table ----

double AdaptiveTable::c(size_t q, size_t j) const {
    double s = 0;
    for (const auto& x : cells[q][j]) s += x.correct;
    return s / double(cells[q][j].size());
}

double AdaptiveTable::t(size_t q, size_t j) const {
    double s = 0;
    for (const auto& x : cells[q][j]) s += x.tokens;
    return s / double(cells[q][j].size());
}

std::vector<AdaptiveTable> adaptive_tables(const Store& store, int64_t run_id, ReportVerdict verdict) {
    if (!store.get_run(run_id)) throw Error(store.path() + ": no run " + std::to_string(run_id));
    std::vector<PointRecord> points = store.list_points(run_id);
    SampleFilter filter;
    filter.run_id = run_id;
    filter.with_text = false;
    std::vector<SampleRecord> samples = store.list_samples(filter);
    // point_id -> problem id -> sample index -> sample
    std::map<int64_t, std::map<std::string, std::map<int64_t, AdaptiveSample>>> by_point;
    std::map<int64_t, std::vector<std::string>> order;  // point -> problem ids in first-seen order
    for (const auto& s : samples) {
        if (!store_sample_ok(s)) continue;
        AdaptiveSample a;
        bool ok = verdict == REPORT_VERDICT_STRICT ? s.correct_strict : s.correct_flexible;
        a.correct = ok ? 1.0 : 0.0;
        a.think = double(s.n_tokens_think);
        a.answer_tokens = double(s.n_tokens_answer);
        a.tokens = a.think + a.answer_tokens;
        a.prompt_tokens = double(s.n_tokens_prompt);
        a.key = vote_key(s, verdict);
        a.think_cut = s.forced || s.finish_reason == "think_budget";
        a.answer_conf = s.answer_conf >= 0 ? s.answer_conf : NAN;  // -1: not measured
        a.answer_ppl = s.answer_ppl > 0 ? s.answer_ppl : NAN;      // 0: not measured
        a.prompt_ppl = s.prompt_ppl > 0 ? s.prompt_ppl : NAN;
        auto& per_problem = by_point[s.point_id];
        if (per_problem.find(s.problem_id) == per_problem.end()) order[s.point_id].push_back(s.problem_id);
        per_problem[s.problem_id][s.sample_index] = a;
    }
    std::vector<AdaptiveTable> tables;
    std::map<std::string, size_t> task_index;
    for (const auto& p : points) {
        if (by_point.find(p.point_id) == by_point.end()) continue;
        auto it = task_index.find(p.task);
        if (it == task_index.end()) {
            it = task_index.emplace(p.task, tables.size()).first;
            tables.emplace_back();
            tables.back().task = p.task;
        }
        if (p.mechanism.rfind("switch", 0) == 0) {  // adapter switching: a scheme, not a static point
            tables[it->second].switch_configs.push_back(p);
            continue;
        }
        tables[it->second].configs.push_back(p);
        tables[it->second].labels.push_back(analysis_point_label(p));
    }
    tables.erase(std::remove_if(tables.begin(), tables.end(), [](const AdaptiveTable& t) { return t.configs.empty(); }),
                 tables.end());
    for (auto& t : tables) {
        const auto& first = order[t.configs.front().point_id];
        for (const auto& pid : first) {
            // the sample indices every configuration holds for this problem
            std::set<int64_t> common;
            bool present = true;
            for (size_t j = 0; j < t.configs.size() && present; ++j) {
                const auto& pp = by_point[t.configs[j].point_id];
                auto f = pp.find(pid);
                if (f == pp.end()) {
                    present = false;
                    break;
                }
                std::set<int64_t> idx;
                for (const auto& [i, s] : f->second) idx.insert(i);
                if (j == 0) {
                    common = idx;
                } else {
                    std::set<int64_t> both;
                    std::set_intersection(common.begin(), common.end(), idx.begin(), idx.end(),
                                          std::inserter(both, both.begin()));
                    common.swap(both);
                }
            }
            if (!present || common.empty()) continue;
            std::vector<std::vector<AdaptiveSample>> row(t.configs.size());
            for (size_t j = 0; j < t.configs.size(); ++j) {
                const auto& m = by_point[t.configs[j].point_id][pid];
                for (int64_t i : common) row[j].push_back(m.at(i));
            }
            t.queries.push_back(pid);
            t.cells.push_back(std::move(row));
            // Switch points on the same units (empty when one is missing).
            std::vector<std::vector<AdaptiveSample>> sw(t.switch_configs.size());
            for (size_t k = 0; k < t.switch_configs.size(); ++k) {
                const auto& pp = by_point[t.switch_configs[k].point_id];
                auto f = pp.find(pid);
                if (f == pp.end()) continue;
                for (int64_t i : common) {
                    auto g = f->second.find(i);
                    if (g == f->second.end()) {
                        sw[k].clear();
                        break;
                    }
                    sw[k].push_back(g->second);
                }
            }
            t.switch_cells.push_back(std::move(sw));
        }
        t.level.assign(t.queries.size(), std::nullopt);
    }
    return tables;
}

void adaptive_set_levels(AdaptiveTable& table, const std::string& field, const std::map<std::string, double>& levels) {
    table.level_field = field;
    table.level.assign(table.queries.size(), std::nullopt);
    size_t found = 0;
    for (size_t q = 0; q < table.queries.size(); ++q) {
        auto it = levels.find(table.queries[q]);
        if (it != levels.end()) {
            table.level[q] = it->second;
            ++found;
        }
    }
    if (found == 0) table.level_field.clear();
}

std::map<std::string, double> adaptive_load_levels(const std::string& task, const std::string& field,
                                                   std::string* note) {
    std::map<std::string, double> out;
    try {
        TaskConfig cfg = dataset_load_task(task);
        DatasetLoadOptions lo;
        lo.limit = 0;
        Dataset d = dataset_load(cfg, lo);
        for (const auto& p : d.problems) {
            if (!p.metadata.contains(field)) continue;
            const auto& v = p.metadata[field];
            if (v.is_number()) {
                out[p.id] = v.get<double>();
            } else if (v.is_string()) {
                // MATH500 writes "Level 3"; take the last number in the string
                const std::string s = v.get<std::string>();
                size_t e = s.find_last_of("0123456789");
                if (e == std::string::npos) continue;
                size_t b = e;
                while (b > 0 && (std::isdigit(static_cast<unsigned char>(s[b - 1])) || s[b - 1] == '.')) --b;
                out[p.id] = std::stod(s.substr(b, e - b + 1));
            }
        }
        if (out.empty() && note) *note = "task " + task + ": no numeric metadata field '" + field + "'";
    } catch (const std::exception& e) {
        if (note) *note = std::string("difficulty field not loaded: ") + e.what();
        out.clear();
    }
    return out;
}

// ---- the plane ----

std::vector<ParetoPoint> adaptive_static_points(const AdaptiveTable& table, const std::vector<size_t>& rows_in) {
    std::vector<size_t> rows = rows_in;
    if (rows.empty()) {
        rows.resize(table.n_queries());
        std::iota(rows.begin(), rows.end(), 0);
    }
    std::vector<ParetoPoint> out(table.n_configs());
    for (size_t j = 0; j < table.n_configs(); ++j) {
        double a = 0, t = 0;
        for (size_t q : rows) {
            a += table.c(q, j);
            t += table.t(q, j);
        }
        out[j] = {a / double(rows.size()), t / double(rows.size())};
    }
    return out;
}

std::vector<ParetoPoint> adaptive_hull(const std::vector<ParetoPoint>& points) {
    std::vector<ParetoPoint> out;
    for (size_t i : upper_chain(points)) out.push_back(points[i]);
    return out;
}

double adaptive_curve_at(const std::vector<ParetoPoint>& curve, double tokens) {
    if (curve.empty() || tokens < curve.front().tokens - 1e-9 * std::max(1.0, std::fabs(tokens))) return NAN;
    std::vector<std::pair<double, double>> pts;
    for (const auto& p : curve) pts.push_back({p.tokens, p.accuracy});
    return polyline_at(pts, tokens);
}

std::vector<OraclePoint> adaptive_oracle(const AdaptiveTable& table, const std::vector<size_t>& rows_in) {
    std::vector<size_t> rows = rows_in;
    if (rows.empty()) {
        rows.resize(table.n_queries());
        std::iota(rows.begin(), rows.end(), 0);
    }
    struct Segment {
        double slope, dt, dc;
    };
    std::vector<Segment> segments;
    double t0 = 0, a0 = 0;
    for (size_t q : rows) {
        std::vector<ParetoPoint> pts(table.n_configs());
        for (size_t j = 0; j < table.n_configs(); ++j) pts[j] = {table.c(q, j), table.t(q, j)};
        std::vector<size_t> chain = upper_chain(pts);
        t0 += pts[chain[0]].tokens;
        a0 += pts[chain[0]].accuracy;
        for (size_t i = 1; i < chain.size(); ++i) {
            double dt = pts[chain[i]].tokens - pts[chain[i - 1]].tokens;
            double dc = pts[chain[i]].accuracy - pts[chain[i - 1]].accuracy;
            segments.push_back({dt > 0 ? dc / dt : kInf, dt, dc});
        }
    }
    std::stable_sort(segments.begin(), segments.end(),
                     [](const Segment& a, const Segment& b) { return a.slope > b.slope; });
    double n = double(rows.size());
    std::vector<OraclePoint> out;
    out.push_back({kInf, {a0 / n, t0 / n}});
    double t = t0, a = a0;
    for (const auto& s : segments) {
        t += s.dt;
        a += s.dc;
        out.push_back({s.slope, {a / n, t / n}});
    }
    return out;
}

std::vector<ParetoPoint> adaptive_oracle_curve(const std::vector<OraclePoint>& oracle) {
    std::vector<ParetoPoint> out;
    for (const auto& o : oracle) out.push_back(o.point);
    return out;
}

// ---- routers ----

std::vector<AdaptiveSignal> adaptive_signals(const AdaptiveTable& table, size_t lo, size_t probe_samples,
                                             uint64_t seed) {
    std::vector<AdaptiveSignal> out;
    size_t nq = table.n_queries();
    auto shaped = [&](double v) {
        std::vector<std::vector<double>> m(nq);
        for (size_t q = 0; q < nq; ++q) m[q].assign(table.cells[q][lo].size(), v);
        return m;
    };
    {
        AdaptiveSignal s{"prompt_tokens", "prompt length in tokens (no probe cost)", shaped(0), {}, {}};
        for (size_t q = 0; q < nq; ++q)
            for (size_t u = 0; u < s.score[q].size(); ++u) s.score[q][u] = table.cells[q][lo][u].prompt_tokens;
        out.push_back(std::move(s));
    }
    if (!table.level_field.empty()) {
        bool all = std::all_of(table.level.begin(), table.level.end(), [](const auto& v) { return v.has_value(); });
        if (all) {
            AdaptiveSignal s{
                "difficulty", "the task's '" + table.level_field + "' field (no probe cost)", shaped(0), {}, {}};
            for (size_t q = 0; q < nq; ++q) std::fill(s.score[q].begin(), s.score[q].end(), *table.level[q]);
            out.push_back(std::move(s));
        }
    }
    // A signal read off the same sample at lo (the probe): its tokens are added when routed to hi.
    auto lo_probe = [&](const char* name, const char* description, auto score) {
        AdaptiveSignal s{name, description, shaped(0), shaped(0), shaped(0)};
        for (size_t q = 0; q < nq; ++q)
            for (size_t u = 0; u < s.score[q].size(); ++u) {
                const auto& x = table.cells[q][lo][u];
                s.score[q][u] = score(x);
                s.probe_hi[q][u] = x.tokens;
            }
        out.push_back(std::move(s));
    };
    lo_probe("probe_think",
             "thinking tokens of the same sample at the lo budget, +1 when the budget cut it (probe = the lo sample: "
             "its tokens are added when routed to hi)",
             [](const AdaptiveSample& x) { return x.think + (x.think_cut ? 1 : 0); });
    // Signals the sweep measured per sample (signals.prompt_ppl, signals.answer_confidence): only
    // when every unit at lo has them.
    auto all_finite = [&](double AdaptiveSample::*m) {
        for (size_t q = 0; q < nq; ++q)
            for (const auto& x : table.cells[q][lo])
                if (!std::isfinite(x.*m)) return false;
        return nq > 0;
    };
    if (all_finite(&AdaptiveSample::prompt_ppl)) {
        AdaptiveSignal s{"prompt_ppl",
                         "the prompt's perplexity under the model (one scoring pass over the prompt; no generated "
                         "tokens)",
                         shaped(0),
                         {},
                         {}};
        for (size_t q = 0; q < nq; ++q)
            for (size_t u = 0; u < s.score[q].size(); ++u) s.score[q][u] = table.cells[q][lo][u].prompt_ppl;
        out.push_back(std::move(s));
    }
    if (all_finite(&AdaptiveSample::answer_conf))
        lo_probe("probe_conf",
                 "1 - the confidence (mean max-probability) of the same sample's answer at lo (DEER's signal; probe = "
                 "the lo sample)",
                 [](const AdaptiveSample& x) { return 1.0 - x.answer_conf; });
    if (all_finite(&AdaptiveSample::answer_ppl))
        lo_probe("probe_answer_ppl",
                 "the perplexity of the same sample's answer at lo (CAR's signal; probe = the lo sample)",
                 [](const AdaptiveSample& x) { return x.answer_ppl; });
    size_t min_units = nq ? table.cells[0][lo].size() : 0;
    for (size_t q = 0; q < nq; ++q) min_units = std::min(min_units, table.cells[q][lo].size());
    size_t m = std::min(probe_samples, min_units);
    if (m >= 2) {
        AdaptiveSignal s{"probe_agreement",
                         "1 - share of the modal answer among " + std::to_string(m) +
                             " samples at the lo budget (all their tokens are the probe's cost)",
                         shaped(0), shaped(0), shaped(0)};
        for (size_t q = 0; q < nq; ++q) {
            const auto& cell = table.cells[q][lo];
            size_t n = cell.size();
            for (size_t u = 0; u < n; ++u) {
                std::map<std::string, size_t> votes;
                double cost = 0;
                for (size_t d = 0; d < m; ++d) {
                    const auto& x = cell[(u + d) % n];
                    cost += x.tokens;
                    if (!x.key.empty()) votes[x.key]++;
                }
                size_t top = 0;
                for (const auto& [k, c] : votes) top = std::max(top, c);
                s.score[q][u] = 1.0 - double(top) / double(m);
                s.probe_hi[q][u] = cost;
                s.probe_lo[q][u] = cost - cell[u].tokens;
            }
        }
        out.push_back(std::move(s));
    }
    {
        AdaptiveSignal s{"random", "uniform random scores (the baseline: expected APGR 0.5)", shaped(0), {}, {}};
        for (size_t q = 0; q < nq; ++q)
            for (size_t u = 0; u < s.score[q].size(); ++u)
                s.score[q][u] = double(hash_string(table.queries[q] + "#" + std::to_string(u), seed) >> 11) * 0x1.0p-53;
        out.push_back(std::move(s));
    }
    return out;
}

ParetoPoint adaptive_route_point(const AdaptiveTable& table, const std::vector<size_t>& rows,
                                 const std::vector<std::vector<size_t>>& choice, size_t lo, size_t hi,
                                 const AdaptiveSignal* signal) {
    double a = 0, t = 0;
    for (size_t q : rows) {
        const size_t n = table.cells[q][0].size();
        double aq = 0, tq = 0;
        for (size_t u = 0; u < n; ++u) {
            size_t j = choice[q][u];
            const auto& x = table.cells[q][j][u];
            aq += x.correct;
            tq += x.tokens;
            if (signal) {
                if (j != lo && !signal->probe_hi.empty()) tq += signal->probe_hi[q][u];
                if (j == lo && !signal->probe_lo.empty()) tq += signal->probe_lo[q][u];
            }
        }
        a += aq / double(n);
        t += tq / double(n);
    }
    return {a / double(rows.size()), t / double(rows.size())};
}

void adaptive_split(const AdaptiveTable& table, double dev_fraction, uint64_t seed, std::vector<size_t>* dev,
                    std::vector<size_t>* test) {
    dev->clear();
    test->clear();
    for (size_t q = 0; q < table.n_queries(); ++q) {
        double u = double(hash_string(table.queries[q], seed) >> 11) * 0x1.0p-53;
        (u < dev_fraction ? dev : test)->push_back(q);
    }
}

double adaptive_auroc(const std::vector<double>& scores, const std::vector<bool>& labels) {
    std::vector<size_t> idx(scores.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
    double rank_sum = 0;
    size_t n_pos = 0;
    for (size_t i = 0; i < idx.size();) {
        size_t j = i;
        while (j < idx.size() && scores[idx[j]] == scores[idx[i]]) ++j;
        double rank = (double(i) + double(j - 1)) / 2 + 1;  // average rank of the tie block
        for (size_t r = i; r < j; ++r)
            if (labels[idx[r]]) {
                rank_sum += rank;
                ++n_pos;
            }
        i = j;
    }
    size_t n_neg = scores.size() - n_pos;
    if (n_pos == 0 || n_neg == 0) return NAN;
    return (rank_sum - double(n_pos) * double(n_pos + 1) / 2) / (double(n_pos) * double(n_neg));
}

std::vector<RouterCurvePoint> adaptive_router_curve(const AdaptiveTable& table, const AdaptiveSignal& signal,
                                                    int direction, const std::vector<double>& thresholds,
                                                    const std::vector<size_t>& rows, size_t lo, size_t hi) {
    std::vector<RouterCurvePoint> out;
    std::vector<std::vector<size_t>> choice(table.n_queries());
    for (double th : thresholds) {
        double routed = 0, units = 0;
        for (size_t q : rows) {
            const auto& sc = signal.score[q];
            choice[q].assign(sc.size(), lo);
            double rq = 0;
            for (size_t u = 0; u < sc.size(); ++u)
                if (direction * sc[u] >= th) {
                    choice[q][u] = hi;
                    rq += 1;
                }
            routed += rq / double(sc.size());
            units += 1;
        }
        ParetoPoint p = adaptive_route_point(table, rows, choice, lo, hi, &signal);
        out.push_back({th, routed / units, p.tokens, p.accuracy});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const RouterCurvePoint& a, const RouterCurvePoint& b) { return a.share_hi < b.share_hi; });
    return out;
}

double adaptive_auc_u(std::vector<std::pair<double, double>> pts, double a0) {
    return integrate_01(router_polyline(std::move(pts), a0));
}

double adaptive_apgr(std::vector<std::pair<double, double>> pts, double a_lo, double a_hi) {
    std::stable_sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    double auc = 0;
    for (size_t i = 1; i < pts.size(); ++i)
        auc += (pts[i].first - pts[i - 1].first) * (pts[i].second + pts[i - 1].second) / 2;
    if (a_hi == a_lo) return NAN;
    return (auc - a_lo) / (a_hi - a_lo);
}

RouteResult adaptive_route(const AdaptiveTable& table, const RouteOptions& options) {
    RouteResult r;
    r.task = table.task;
    if (table.n_configs() < 2 || table.n_queries() < 2)
        throw Error("route: task " + table.task + " needs at least 2 configurations and 2 queries with samples");
    r.static_all = adaptive_static_points(table);
    r.oracle_all = adaptive_oracle(table);
    r.oracle_best_accuracy = r.oracle_all.back().point.accuracy;
    r.oracle_best_tokens = r.oracle_all.back().point.tokens;
    // lo: the cheapest configuration; hi: the most accurate (ties: cheaper)
    size_t lo = 0, hi = 0;
    for (size_t j = 1; j < table.n_configs(); ++j) {
        const auto& p = r.static_all[j];
        if (p.tokens < r.static_all[lo].tokens) lo = j;
        if (p.accuracy > r.static_all[hi].accuracy ||
            (p.accuracy == r.static_all[hi].accuracy && p.tokens < r.static_all[hi].tokens))
            hi = j;
    }
    if (options.lo) lo = *options.lo;
    if (options.hi) hi = *options.hi;
    if (lo >= table.n_configs() || hi >= table.n_configs()) throw Error("route: lo/hi configuration out of range");
    if (lo == hi)
        throw Error("route: task " + table.task + ": lo and hi are the same configuration (" + table.labels[lo] +
                    "); pick them with --lo / --hi");
    r.lo = lo;
    r.hi = hi;
    adaptive_split(table, options.dev_fraction, options.split_seed, &r.dev, &r.test);
    if (r.dev.empty() || r.test.empty())
        throw Error("route: task " + table.task + ": the dev/test split left one side empty (" +
                    std::to_string(table.n_queries()) + " queries); change --dev-fraction");
    r.static_test = adaptive_static_points(table, r.test);
    r.hull_test = adaptive_hull(r.static_test);
    r.oracle_test = adaptive_oracle(table, r.test);
    // The sweep's switch points on the test split, against the hull and the oracle at their cost.
    {
        auto oracle_curve = adaptive_oracle_curve(r.oracle_test);
        for (size_t k = 0; k < table.switch_configs.size(); ++k) {
            RouteResult::SwitchRow row;
            row.mechanism = table.switch_configs[k].mechanism;
            row.label = table.switch_configs[k].label;
            double a = 0, t = 0;
            for (size_t q : r.test) {
                if (q >= table.switch_cells.size() || table.switch_cells[q][k].empty()) continue;
                const auto& cell = table.switch_cells[q][k];
                double qa = 0, qt = 0;
                for (const auto& x : cell) {
                    qa += x.correct;
                    qt += x.tokens;
                }
                a += qa / double(cell.size());
                t += qt / double(cell.size());
                ++row.n_queries;
            }
            if (row.n_queries == 0) continue;
            row.test = ParetoPoint{a / double(row.n_queries), t / double(row.n_queries)};
            row.hull_at = adaptive_curve_at(r.hull_test, row.test.tokens);
            row.oracle_at = adaptive_curve_at(oracle_curve, row.test.tokens);
            r.switches.push_back(std::move(row));
        }
    }
    const double t_lo = r.static_test[lo].tokens, t_hi = r.static_test[hi].tokens;
    const double a_lo = r.static_test[lo].accuracy, a_hi = r.static_test[hi].accuracy;
    const double span = t_hi - t_lo;
    auto to_u = [&](double t) { return span != 0 ? (t - t_lo) / span : 0.0; };
    std::vector<std::pair<double, double>> oracle_u, hull_u;
    for (const auto& o : r.oracle_test) oracle_u.push_back({to_u(o.point.tokens), o.point.accuracy});
    for (const auto& h : r.hull_test) hull_u.push_back({to_u(h.tokens), h.accuracy});
    const double auc_oracle = adaptive_auc_u(oracle_u, oracle_u.front().second);
    const double auc_hull = adaptive_auc_u(hull_u, hull_u.front().second);

    const auto static_dev = adaptive_static_points(table, r.dev);
    const double t_lo_dev = static_dev[lo].tokens, span_dev = static_dev[hi].tokens - t_lo_dev;
    auto dev_auc = [&](const std::vector<RouterCurvePoint>& curve) {
        std::vector<std::pair<double, double>> pts;
        for (const auto& p : curve) pts.push_back({span_dev != 0 ? (p.tokens - t_lo_dev) / span_dev : 0.0, p.accuracy});
        return adaptive_auc_u(pts, static_dev[lo].accuracy);
    };
    // Everything but the curve itself, from the test curve.
    auto finish = [&](RouterMetrics& m, const AdaptiveSignal& sig) {
        std::vector<std::pair<double, double>> ru, rs;
        for (const auto& p : m.curve) {
            ru.push_back({to_u(p.tokens), p.accuracy});
            rs.push_back({p.share_hi, p.accuracy});
        }
        m.auc = adaptive_auc_u(ru, a_lo);
        m.auc_random = (a_lo + a_hi) / 2;
        m.auc_oracle = auc_oracle;
        m.auc_hull = auc_hull;
        m.gap_recovered = (m.auc - m.auc_random) / (m.auc_oracle - m.auc_random);
        m.apgr = adaptive_apgr(rs, a_lo, a_hi);
        auto poly = router_polyline(ru, a_lo);
        const double us[3] = {0.25, 0.5, 0.75};
        for (int i = 0; i < 3; ++i)
            m.acc_vs_hull[i] = polyline_at(poly, us[i]) - adaptive_curve_at(r.hull_test, t_lo + us[i] * span);
        double target = a_lo + 0.5 * (a_hi - a_lo);
        std::vector<RouterCurvePoint> by_cost = m.curve;
        std::stable_sort(by_cost.begin(), by_cost.end(),
                         [](const auto& a, const auto& b) { return a.tokens < b.tokens; });
        for (size_t i = 0; i < by_cost.size(); ++i) {
            if (by_cost[i].accuracy < target) continue;
            if (i == 0 || by_cost[i - 1].accuracy >= target) {
                m.cpt50_tokens = by_cost[i].tokens;
            } else {
                const auto &p0 = by_cost[i - 1], &p1 = by_cost[i];
                m.cpt50_tokens =
                    p0.tokens + (p1.tokens - p0.tokens) * (target - p0.accuracy) / (p1.accuracy - p0.accuracy);
            }
            break;
        }
        double probe = 0;
        if (!sig.probe_hi.empty())
            for (size_t q : r.test) probe += mean_of(sig.probe_hi[q]);
        m.mean_probe_tokens = probe / double(r.test.size());
    };

    for (const auto& sig : adaptive_signals(table, lo, options.probe_samples, options.split_seed)) {
        RouterMetrics m;
        m.signal = sig.name;
        auto query_scores = [&](const std::vector<size_t>& rows, int dir, std::vector<double>* s,
                                std::vector<bool>* y) {
            for (size_t q : rows) {
                s->push_back(dir * mean_of(sig.score[q]));
                y->push_back(table.c(q, lo) < table.c(q, hi));
            }
        };
        // thresholds of each direction: quantiles of the oriented dev unit scores, plus "none" and
        // "all"; the direction is the one whose dev curve has the larger AUC
        auto thresholds_for = [&](int dir) {
            std::vector<double> dev_units;
            for (size_t q : r.dev)
                for (double v : sig.score[q]) dev_units.push_back(dir * v);
            std::sort(dev_units.begin(), dev_units.end());
            std::set<double> th = {kInf, -kInf};
            size_t k = std::max<size_t>(options.n_thresholds, 1);
            for (size_t i = 0; i <= k; ++i) {
                size_t at = size_t(std::floor(double(i) / double(k) * double(dev_units.size() - 1)));
                th.insert(dev_units[at]);
            }
            return std::vector<double>(th.rbegin(), th.rend());
        };
        double auc_plus = dev_auc(adaptive_router_curve(table, sig, 1, thresholds_for(1), r.dev, lo, hi));
        double auc_minus = dev_auc(adaptive_router_curve(table, sig, -1, thresholds_for(-1), r.dev, lo, hi));
        m.direction = auc_minus > auc_plus ? -1 : 1;
        std::vector<double> s_dev, s_test;
        std::vector<bool> y_dev, y_test;
        query_scores(r.dev, m.direction, &s_dev, &y_dev);
        m.auroc_dev = adaptive_auroc(s_dev, y_dev);
        query_scores(r.test, m.direction, &s_test, &y_test);
        m.auroc_test = adaptive_auroc(s_test, y_test);
        m.curve = adaptive_router_curve(table, sig, m.direction, thresholds_for(m.direction), r.test, lo, hi);
        finish(m, sig);
        r.routers.push_back(std::move(m));
        if (sig.name == "random") continue;
        // The binned router over every configuration: the dev split's mean (tokens, accuracy) per
        // score bin and configuration; for each multiplier mu every bin takes its argmax of
        // accuracy - mu tokens (the oracle restricted to what the signal can tell apart).
        std::vector<double> dev_units;
        for (size_t q : r.dev)
            for (double v : sig.score[q]) dev_units.push_back(v);
        std::sort(dev_units.begin(), dev_units.end());
        std::vector<double> distinct = dev_units;
        distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
        std::vector<double> edges;  // bin(x) = number of edges <= x
        if (distinct.size() <= 12) {
            edges.assign(distinct.begin() + (distinct.empty() ? 0 : 1), distinct.end());
        } else {
            for (size_t i = 1; i < 8; ++i) edges.push_back(dev_units[i * (dev_units.size() - 1) / 8]);
            edges.erase(std::unique(edges.begin(), edges.end()), edges.end());
        }
        const size_t n_bins = edges.size() + 1;
        auto bin_of = [&](double x) { return size_t(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin()); };
        auto unit_cost = [&](size_t q, size_t j, size_t u) {
            double t = table.cells[q][j][u].tokens;
            if (j == lo && !sig.probe_lo.empty()) t += sig.probe_lo[q][u];
            if (j != lo && !sig.probe_hi.empty()) t += sig.probe_hi[q][u];
            return t;
        };
        std::vector<std::vector<ParetoPoint>> bins(n_bins, std::vector<ParetoPoint>(table.n_configs()));
        std::vector<double> bin_n(n_bins, 0);
        for (size_t q : r.dev)
            for (size_t u = 0; u < sig.score[q].size(); ++u) {
                size_t b = bin_of(sig.score[q][u]);
                double w = 1.0 / double(sig.score[q].size());
                bin_n[b] += w;
                for (size_t j = 0; j < table.n_configs(); ++j) {
                    bins[b][j].accuracy += w * table.cells[q][j][u].correct;
                    bins[b][j].tokens += w * unit_cost(q, j, u);
                }
            }
        std::vector<std::vector<std::pair<double, size_t>>> chains(n_bins);  // (incoming slope, column)
        std::set<double> mus = {kInf, 0.0};
        for (size_t b = 0; b < n_bins; ++b) {
            if (bin_n[b] == 0) {
                chains[b].push_back({kInf, lo});  // no dev data: stay at lo
                continue;
            }
            for (auto& p : bins[b]) {
                p.accuracy /= bin_n[b];
                p.tokens /= bin_n[b];
            }
            std::vector<size_t> chain = upper_chain(bins[b]);
            chains[b].push_back({kInf, chain[0]});
            for (size_t i = 1; i < chain.size(); ++i) {
                const auto &a = bins[b][chain[i - 1]], &c = bins[b][chain[i]];
                double slope = c.tokens > a.tokens ? (c.accuracy - a.accuracy) / (c.tokens - a.tokens) : kInf;
                chains[b].push_back({slope, chain[i]});
                mus.insert(slope);
            }
        }
        RouterMetrics mb;
        mb.signal = sig.name + "/bins";
        mb.direction = 0;
        mb.auroc_dev = m.auroc_dev;
        mb.auroc_test = m.auroc_test;
        std::vector<std::vector<size_t>> choice(table.n_queries());
        for (auto it = mus.rbegin(); it != mus.rend(); ++it) {
            const double mu = *it;
            std::vector<size_t> pick(n_bins);
            for (size_t b = 0; b < n_bins; ++b) {
                pick[b] = chains[b][0].second;
                for (const auto& [slope, j] : chains[b])
                    if (slope >= mu) pick[b] = j;
            }
            double routed = 0;
            for (size_t q : r.test) {
                choice[q].assign(sig.score[q].size(), lo);
                double rq = 0;
                for (size_t u = 0; u < sig.score[q].size(); ++u) {
                    choice[q][u] = pick[bin_of(sig.score[q][u])];
                    rq += choice[q][u] != lo;
                }
                routed += rq / double(sig.score[q].size());
            }
            ParetoPoint pt = adaptive_route_point(table, r.test, choice, lo, hi, &sig);
            mb.curve.push_back({mu, routed / double(r.test.size()), pt.tokens, pt.accuracy});
        }
        std::stable_sort(mb.curve.begin(), mb.curve.end(),
                         [](const RouterCurvePoint& a, const RouterCurvePoint& b) { return a.tokens < b.tokens; });
        finish(mb, sig);
        r.routers.push_back(std::move(mb));
    }
    return r;
}

nlohmann::json adaptive_route_json(const AdaptiveTable& table, const RouteResult& r) {
    nlohmann::json j;
    j["task"] = r.task;
    j["lo"] = {{"label", table.labels[r.lo]}, {"point_id", table.configs[r.lo].point_id}};
    j["hi"] = {{"label", table.labels[r.hi]}, {"point_id", table.configs[r.hi].point_id}};
    j["n_dev"] = r.dev.size();
    j["n_test"] = r.test.size();
    j["cost"] = "mean generated tokens per sample (thinking + answer), probe tokens added";
    auto pts = [&](const std::vector<ParetoPoint>& v) {
        nlohmann::json a = nlohmann::json::array();
        for (size_t i = 0; i < v.size(); ++i) {
            nlohmann::json p = {{"tokens", v[i].tokens}, {"accuracy", v[i].accuracy}};
            if (v.size() == table.n_configs()) p["label"] = table.labels[i];
            a.push_back(p);
        }
        return a;
    };
    auto oracle = [&](const std::vector<OraclePoint>& v) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& o : v)
            a.push_back({{"mu", num(o.mu)}, {"tokens", o.point.tokens}, {"accuracy", o.point.accuracy}});
        return a;
    };
    j["static_all"] = pts(r.static_all);
    j["static_test"] = pts(r.static_test);
    j["hull_test"] = nlohmann::json::array();
    for (const auto& h : r.hull_test) j["hull_test"].push_back({{"tokens", h.tokens}, {"accuracy", h.accuracy}});
    j["oracle_all"] = oracle(r.oracle_all);
    j["oracle_test"] = oracle(r.oracle_test);
    j["oracle_best"] = {{"tokens", num(r.oracle_best_tokens)}, {"accuracy", num(r.oracle_best_accuracy)}};
    nlohmann::json gains = nlohmann::json::array();
    auto oc = adaptive_oracle_curve(r.oracle_all);
    for (size_t i = 0; i < r.static_all.size(); ++i)
        gains.push_back({{"label", table.labels[i]},
                         {"tokens", r.static_all[i].tokens},
                         {"static_accuracy", r.static_all[i].accuracy},
                         {"oracle_accuracy", num(adaptive_curve_at(oc, r.static_all[i].tokens))}});
    j["oracle_gain_at_static_cost"] = gains;
    j["switching"] = nlohmann::json::array();
    for (const auto& sw : r.switches)
        j["switching"].push_back({{"mechanism", sw.mechanism},
                                  {"label", sw.label},
                                  {"n_queries", sw.n_queries},
                                  {"tokens", sw.test.tokens},
                                  {"accuracy", sw.test.accuracy},
                                  {"hull_accuracy_at_cost", num(sw.hull_at)},
                                  {"oracle_accuracy_at_cost", num(sw.oracle_at)}});
    j["routers"] = nlohmann::json::array();
    for (const auto& m : r.routers) {
        nlohmann::json c = nlohmann::json::array();
        for (const auto& p : m.curve)
            c.push_back({{"threshold", num(p.threshold)},
                         {"share_hi", p.share_hi},
                         {"tokens", p.tokens},
                         {"accuracy", p.accuracy}});
        j["routers"].push_back({{"signal", m.signal},
                                {"direction", m.direction},
                                {"auroc_dev", num(m.auroc_dev)},
                                {"auroc_test", num(m.auroc_test)},
                                {"auc", num(m.auc)},
                                {"auc_random", num(m.auc_random)},
                                {"auc_oracle", num(m.auc_oracle)},
                                {"auc_hull", num(m.auc_hull)},
                                {"gap_recovered", num(m.gap_recovered)},
                                {"apgr", num(m.apgr)},
                                {"acc_vs_hull_u25", num(m.acc_vs_hull[0])},
                                {"acc_vs_hull_u50", num(m.acc_vs_hull[1])},
                                {"acc_vs_hull_u75", num(m.acc_vs_hull[2])},
                                {"cpt50_tokens", num(m.cpt50_tokens)},
                                {"mean_probe_tokens", m.mean_probe_tokens},
                                {"curve", c}});
    }
    return j;
}

// ---- parallel sampling ----

ParallelEstimate adaptive_maj_at_k(const std::vector<std::vector<AdaptiveSample>>& by_query, size_t k, VoteTie tie,
                                   const ParallelOptions& options) {
    return expected_over_subsets(by_query, k, options,
                                 [&](const std::vector<AdaptiveSample>& s, const std::vector<size_t>& idx) {
                                     SubsetValue v;
                                     v.correct = vote(s, idx, tie);
                                     for (size_t i : idx) v.tokens += s[i].tokens;
                                     return v;
                                 });
}

ParallelEstimate adaptive_short_m_at_k(const std::vector<std::vector<AdaptiveSample>>& by_query, size_t m, size_t k,
                                       const ParallelOptions& options) {
    if (m == 0 || m > k) throw Error("short-m@k: m must be in 1..k");
    return expected_over_subsets(
        by_query, k, options, [&](const std::vector<AdaptiveSample>& s, const std::vector<size_t>& idx_in) {
            std::vector<size_t> idx = idx_in;
            std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return shorter(s[a], a, s[b], b); });
            idx.resize(m);
            SubsetValue v;
            v.correct = vote(s, idx, VOTE_TIE_SHORTEST);
            v.tokens = double(k) * s[idx.back()].think;
            for (size_t i : idx) v.tokens += s[i].answer_tokens;
            return v;
        });
}

std::vector<BudgetGroup> adaptive_budget_groups(const AdaptiveTable& table) {
    std::vector<BudgetGroup> groups;
    std::map<std::string, size_t> index;
    for (size_t j = 0; j < table.n_configs(); ++j) {
        PointRecord p = table.configs[j];
        const int64_t b = p.think_budget;
        p.think_budget = 0;
        std::string g = analysis_point_label(p);  // "B=0" then the rest
        g = g.size() > 4 ? g.substr(4) : "base";
        if (p.temperature > 0) g += (g.empty() ? "" : " ") + std::string("T=") + report_fmt(p.temperature, 2);
        auto it = index.find(g);
        if (it == index.end()) {
            it = index.emplace(g, groups.size()).first;
            groups.push_back({g, {}});
        }
        groups[it->second].columns[b] = j;
    }
    return groups;
}

ParallelResult adaptive_parallel(const AdaptiveTable& table, const std::vector<size_t>& ks,
                                 const ParallelOptions& options) {
    ParallelResult r;
    r.task = table.task;
    auto column = [&](size_t j) {
        std::vector<std::vector<AdaptiveSample>> v;
        for (size_t q = 0; q < table.n_queries(); ++q) v.push_back(table.cells[q][j]);
        return v;
    };
    for (const auto& group : adaptive_budget_groups(table)) {
        const std::string& g = group.name;
        const auto& budgets = group.columns;
        std::vector<std::pair<double, double>> single_curve;
        std::map<int64_t, ParallelEstimate> single;
        for (const auto& [b, j] : budgets) {
            auto col = column(j);
            ParallelEstimate e = adaptive_maj_at_k(col, 1, VOTE_TIE_RANDOM, options);
            // maj@1 of a sample is its own correctness: avg@n
            single[b] = e;
            r.rows.push_back({g, b, 1, "single", e, NAN});
            single_curve.push_back({e.tokens, e.accuracy});
            for (size_t k : ks) {
                if (k < 2) continue;
                r.rows.push_back({g, b, k, "maj@k", adaptive_maj_at_k(col, k, VOTE_TIE_RANDOM, options), NAN});
                r.rows.push_back({g, b, k, "short-1@k", adaptive_short_m_at_k(col, 1, k, options), NAN});
                if (k > 3) r.rows.push_back({g, b, k, "short-3@k", adaptive_short_m_at_k(col, 3, k, options), NAN});
            }
        }
        std::sort(single_curve.begin(), single_curve.end());
        for (auto& row : r.rows) {
            if (row.group != g || !std::isfinite(row.estimate.tokens)) continue;
            if (single_curve.empty() || row.estimate.tokens < single_curve.front().first) continue;
            row.single_at_cost = polyline_at(single_curve, row.estimate.tokens);
        }
        for (const auto& [b, j] : budgets) {
            if (b <= 0) continue;
            for (size_t k : ks) {
                if (k < 2 || b % int64_t(k) != 0) continue;
                auto it = budgets.find(b / int64_t(k));
                if (it == budgets.end()) continue;
                auto col = column(it->second);
                EqualCostRow e;
                e.group = g;
                e.budget = b;
                e.k = k;
                e.single = single[b];
                e.maj = adaptive_maj_at_k(col, k, VOTE_TIE_RANDOM, options);
                e.short1 = adaptive_short_m_at_k(col, 1, k, options);
                if (e.maj.n_queries == 0) continue;
                r.equal_cost.push_back(e);
            }
        }
    }
    return r;
}

nlohmann::json adaptive_parallel_json(const ParallelResult& r) {
    nlohmann::json j;
    j["task"] = r.task;
    j["cost"] = "generated tokens (thinking + answer) summed over the k samples; short-m@k: k x l_(m) + m answers";
    j["tie_rule"] = "maj@k: random among tied answers (expected value); short-m@k: the shortest";
    j["rows"] = nlohmann::json::array();
    for (const auto& row : r.rows) {
        nlohmann::json e = estimate_json(row.estimate);
        e["group"] = row.group;
        e["budget"] = row.budget;
        e["k"] = row.k;
        e["method"] = row.method;
        e["single_at_cost"] = num(row.single_at_cost);
        j["rows"].push_back(e);
    }
    j["equal_cost"] = nlohmann::json::array();
    for (const auto& e : r.equal_cost)
        j["equal_cost"].push_back({{"group", e.group},
                                   {"budget", e.budget},
                                   {"k", e.k},
                                   {"single", estimate_json(e.single)},
                                   {"maj", estimate_json(e.maj)},
                                   {"short1", estimate_json(e.short1)}});
    return j;
}

// ---- difficulty and efficiency ----

DifficultyResult adaptive_difficulty(const AdaptiveTable& table) {
    DifficultyResult d;
    d.task = table.task;
    d.field = table.level_field;
    if (table.level_field.empty()) return d;
    std::set<double> levels;
    for (const auto& l : table.level)
        if (l) levels.insert(*l);
    d.levels.assign(levels.begin(), levels.end());
    size_t n_easy = std::max<size_t>(1, d.levels.size() / 2);
    d.easy_levels.assign(d.levels.begin(), d.levels.begin() + long(std::min(n_easy, d.levels.size())));
    const std::set<double> easy(d.easy_levels.begin(), d.easy_levels.end());
    for (size_t j = 0; j < table.n_configs(); ++j) {
        double all = 0, on_easy = 0;
        for (double lv : d.levels) {
            LevelRow row{table.labels[j], lv, 0, 0, 0};
            for (size_t q = 0; q < table.n_queries(); ++q) {
                if (!table.level[q] || *table.level[q] != lv) continue;
                row.n_queries++;
                row.accuracy += table.c(q, j);
                row.tokens += table.t(q, j);
            }
            all += row.tokens;
            if (easy.count(lv)) on_easy += row.tokens;
            if (row.n_queries) {
                row.accuracy /= double(row.n_queries);
                row.tokens /= double(row.n_queries);
            }
            d.rows.push_back(row);
        }
        d.easy_token_share.push_back({table.labels[j], all > 0 ? on_easy / all : NAN});
    }
    return d;
}

double adaptive_aes(double tokens, double accuracy, double ref_tokens, double ref_accuracy, const AesConstants& c) {
    double dl = (ref_tokens - tokens) / ref_tokens;
    double da = (accuracy - ref_accuracy) / ref_accuracy;
    return da >= 0 ? c.alpha * dl + c.beta * std::fabs(da) : c.alpha * dl - c.gamma * std::fabs(da);
}

nlohmann::json adaptive_efficiency_json(const std::vector<AdaptiveTable>& tables, const std::string& reference_label_in,
                                        const AesConstants& aes, double reference_tokens) {
    nlohmann::json j;
    std::string ref = reference_label_in;
    if (ref.empty() && !tables.empty() && tables[0].n_configs()) {
        auto pts = adaptive_static_points(tables[0]);
        size_t best = 0;
        for (size_t i = 1; i < pts.size(); ++i)
            if (pts[i].tokens > pts[best].tokens) best = i;
        ref = tables[0].labels[best];
    }
    j["reference"] = ref;
    j["reference_rule"] = reference_label_in.empty() ? "default: the configuration with the most tokens" : "given";
    j["aes_constants"] = {{"alpha", aes.alpha}, {"beta", aes.beta}, {"gamma", aes.gamma}};
    j["conventions"] = {
        {"length_reduction_mean_of_ratios", "mean over tasks of (mean tokens / reference mean tokens) - 1"},
        {"length_reduction_pooled", "(sum of tokens over all tasks' queries) / (the reference's sum) - 1"},
        {"aes",
         "dL = (L_ref - L)/L_ref, dA = (A - A_ref)/A_ref; alpha dL + beta |dA| if dA >= 0 else alpha dL - gamma |dA|"},
        {"hypervolume", "area dominated by the static points against (reference tokens, accuracy 0)"}};
    // label -> per task (tokens, accuracy, token sum, n)
    struct Cell {
        double tokens, accuracy, token_sum, n;
    };
    std::map<std::string, std::map<std::string, Cell>> cells;
    std::vector<std::string> labels;
    j["hypervolume"] = nlohmann::json::array();
    for (const auto& t : tables) {
        auto pts = adaptive_static_points(t);
        double max_tokens = 0;
        for (size_t i = 0; i < pts.size(); ++i) {
            if (cells.find(t.labels[i]) == cells.end()) labels.push_back(t.labels[i]);
            cells[t.labels[i]][t.task] = {pts[i].tokens, pts[i].accuracy, pts[i].tokens * double(t.n_queries()),
                                          double(t.n_queries())};
            max_tokens = std::max(max_tokens, pts[i].tokens);
        }
        double rt = reference_tokens > 0 ? reference_tokens : 1.05 * max_tokens;
        j["hypervolume"].push_back(
            {{"task", t.task},
             {"reference_tokens", rt},
             {"reference_accuracy", 0},
             {"reference_rule", reference_tokens > 0 ? "given" : "1.05 x the largest mean tokens"},
             {"hypervolume", metrics_hypervolume(pts, {0.0, rt})}});
    }
    j["configs"] = nlohmann::json::array();
    if (cells.find(ref) == cells.end()) {
        j["error"] = "reference '" + ref + "' is not a configuration label of this run";
        return j;
    }
    const auto& rc = cells[ref];
    for (const auto& label : labels) {
        double ratio_sum = 0, tok = 0, tok_ref = 0, acc = 0, acc_ref = 0, n = 0;
        size_t n_tasks = 0;
        nlohmann::json per_task = nlohmann::json::array();
        for (const auto& [task, c] : cells[label]) {
            auto it = rc.find(task);
            if (it == rc.end()) continue;
            const Cell& r0 = it->second;
            ratio_sum += c.tokens / r0.tokens;
            ++n_tasks;
            tok += c.token_sum;
            tok_ref += r0.token_sum;
            acc += c.accuracy * c.n;
            acc_ref += r0.accuracy * r0.n;
            n += c.n;
            per_task.push_back({{"task", task},
                                {"tokens", c.tokens},
                                {"accuracy", c.accuracy},
                                {"length_ratio", c.tokens / r0.tokens},
                                {"aes", num(adaptive_aes(c.tokens, c.accuracy, r0.tokens, r0.accuracy, aes))}});
        }
        if (n_tasks == 0) continue;
        j["configs"].push_back({{"label", label},
                                {"length_reduction_mean_of_ratios", ratio_sum / double(n_tasks) - 1},
                                {"length_reduction_pooled", tok / tok_ref - 1},
                                {"aes_pooled", num(adaptive_aes(tok / n, acc / n, tok_ref / n, acc_ref / n, aes))},
                                {"tasks", per_task}});
    }
    return j;
}

}  // namespace adabench
