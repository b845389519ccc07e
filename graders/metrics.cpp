// Evaluation metrics (see metrics.h for the definitions and tie rules). Numerically careful where it
// matters: pass@k as a product (no huge binomials), McNemar in log space (no underflow at large n),
// sums in double. Plain loops; no statistics library.
#include "graders/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "common/error.h"

namespace adabench {

namespace {

void check_shape(const std::vector<std::vector<bool>>& by_problem, const char* what) {
    if (by_problem.empty()) throw Error(std::string(what) + ": no problems");
    for (size_t i = 0; i < by_problem.size(); ++i)
        if (by_problem[i].empty())
            throw Error(std::string(what) + ": problem " + std::to_string(i) + " has no samples");
}

double mean_of(const std::vector<bool>& v) {
    size_t c = 0;
    for (bool b : v) c += b;
    return double(c) / double(v.size());
}

void check_finite(double x, const char* what) {
    if (!std::isfinite(x)) throw Error(std::string(what) + ": non-finite value");
}

}  // namespace

// ---- per-problem estimators ----

double metrics_pass_at_k(size_t n, size_t c, size_t k) {
    if (k == 0 || k > n)
        throw Error("pass@k: need 1 <= k <= n (k=" + std::to_string(k) + ", n=" + std::to_string(n) + ")",
                    "draw at least k samples per problem");
    if (c > n) throw Error("pass@k: c=" + std::to_string(c) + " correct of n=" + std::to_string(n));
    if (n - c < k) return 1.0;
    double prod = 1.0;
    for (size_t i = n - c + 1; i <= n; ++i) prod *= 1.0 - double(k) / double(i);
    return 1.0 - prod;
}

std::vector<double> metrics_per_problem_accuracy(const std::vector<std::vector<bool>>& by_problem) {
    check_shape(by_problem, "avg@n");
    std::vector<double> out;
    out.reserve(by_problem.size());
    for (const auto& s : by_problem) out.push_back(mean_of(s));
    return out;
}

double metrics_avg_at_n(const std::vector<std::vector<bool>>& by_problem) {
    auto acc = metrics_per_problem_accuracy(by_problem);
    return std::accumulate(acc.begin(), acc.end(), 0.0) / double(acc.size());
}

double metrics_pass_at_k_mean(const std::vector<std::vector<bool>>& by_problem, size_t k) {
    check_shape(by_problem, "pass@k");
    double sum = 0;
    for (const auto& s : by_problem) {
        size_t c = 0;
        for (bool b : s) c += b;
        sum += metrics_pass_at_k(s.size(), c, k);
    }
    return sum / double(by_problem.size());
}

std::optional<size_t> metrics_majority_index(const std::vector<std::string>& keys, size_t k) {
    size_t n = (k == 0 || k > keys.size()) ? keys.size() : k;
    // key -> (votes, first index). Ties on votes go to the smaller first index.
    std::unordered_map<std::string_view, std::pair<size_t, size_t>> votes;
    for (size_t i = 0; i < n; ++i) {
        if (keys[i].empty()) continue;
        auto [it, fresh] = votes.try_emplace(keys[i], 0, i);
        ++it->second.first;
    }
    std::optional<size_t> best;
    size_t best_votes = 0;
    for (const auto& [key, v] : votes) {
        if (v.first > best_votes || (v.first == best_votes && best && v.second < *best)) {
            best_votes = v.first;
            best = v.second;
        }
    }
    return best;
}

std::optional<size_t> metrics_majority_index(const std::vector<std::string>& answers, size_t k,
                                             const std::function<std::string(const std::string&)>& key_of) {
    size_t n = (k == 0 || k > answers.size()) ? answers.size() : k;
    std::vector<std::string> keys;
    keys.reserve(n);
    for (size_t i = 0; i < n; ++i) keys.push_back(key_of(answers[i]));
    return metrics_majority_index(keys, 0);
}

double metrics_maj_at_k(const std::vector<std::vector<std::string>>& keys_by_problem,
                        const std::vector<std::vector<bool>>& correct_by_problem, size_t k) {
    check_shape(correct_by_problem, "maj@k");
    if (keys_by_problem.size() != correct_by_problem.size())
        throw Error("maj@k: " + std::to_string(keys_by_problem.size()) + " key lists for " +
                    std::to_string(correct_by_problem.size()) + " problems");
    size_t n_correct = 0;
    for (size_t p = 0; p < keys_by_problem.size(); ++p) {
        const auto& keys = keys_by_problem[p];
        const auto& correct = correct_by_problem[p];
        if (keys.size() != correct.size())
            throw Error("maj@k: problem " + std::to_string(p) + " has " + std::to_string(keys.size()) + " keys but " +
                        std::to_string(correct.size()) + " verdicts");
        if (k > keys.size())
            throw Error("maj@k: k=" + std::to_string(k) + " but problem " + std::to_string(p) + " has only " +
                            std::to_string(keys.size()) + " samples",
                        "draw at least k samples per problem");
        auto idx = metrics_majority_index(keys, k);
        if (idx && correct[*idx]) ++n_correct;
    }
    return double(n_correct) / double(keys_by_problem.size());
}

// ---- deterministic resampling ----

uint64_t MetricsRng::next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t MetricsRng::below(uint64_t n) {
    if (n == 0) throw Error("MetricsRng::below(0)");
    // Lemire, "Fast Random Integer Generation in an Interval" (2019): exact, rarely rejects.
    unsigned __int128 m = (unsigned __int128)next() * n;
    uint64_t low = uint64_t(m);
    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = (unsigned __int128)next() * n;
            low = uint64_t(m);
        }
    }
    return uint64_t(m >> 64);
}

double metrics_quantile_sorted(const std::vector<double>& sorted, double q) {
    if (sorted.empty()) throw Error("quantile of an empty set");
    if (!(q >= 0 && q <= 1)) throw Error("quantile: q must be in [0, 1]");
    double h = double(sorted.size() - 1) * q;
    size_t lo = size_t(std::floor(h));
    if (lo + 1 >= sorted.size()) return sorted.back();
    return sorted[lo] + (h - double(lo)) * (sorted[lo + 1] - sorted[lo]);
}

namespace {

void check_bootstrap(const BootstrapOptions& o) {
    if (o.n_resamples == 0) throw Error("bootstrap: n_resamples must be at least 1");
    if (!(o.confidence > 0 && o.confidence < 1)) throw Error("bootstrap: confidence must be in (0, 1)");
}

}  // namespace

MetricsInterval metrics_bootstrap_mean(const std::vector<double>& values, const BootstrapOptions& o) {
    check_bootstrap(o);
    if (values.empty()) throw Error("bootstrap: no values");
    for (double v : values) check_finite(v, "bootstrap");
    const size_t n = values.size();
    MetricsInterval r;
    r.estimate = std::accumulate(values.begin(), values.end(), 0.0) / double(n);
    MetricsRng rng(o.seed);
    std::vector<double> means(o.n_resamples);
    for (size_t b = 0; b < o.n_resamples; ++b) {
        double s = 0;
        for (size_t i = 0; i < n; ++i) s += values[rng.below(n)];
        means[b] = s / double(n);
    }
    std::sort(means.begin(), means.end());
    r.lo = metrics_quantile_sorted(means, (1 - o.confidence) / 2);
    r.hi = metrics_quantile_sorted(means, (1 + o.confidence) / 2);
    return r;
}

// ---- rates and token statistics ----

double metrics_rate(const std::vector<bool>& flags) {
    if (flags.empty()) throw Error("rate of an empty set");
    return mean_of(flags);
}

TokenMeans metrics_token_means(const std::vector<double>& tokens, const std::vector<bool>& correct) {
    if (tokens.size() != correct.size())
        throw Error("token means: " + std::to_string(tokens.size()) + " token counts for " +
                    std::to_string(correct.size()) + " verdicts");
    TokenMeans m;
    double s_all = 0, s_c = 0, s_i = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
        check_finite(tokens[i], "token means");
        s_all += tokens[i];
        if (correct[i]) {
            s_c += tokens[i];
            ++m.n_correct;
        } else {
            s_i += tokens[i];
            ++m.n_incorrect;
        }
    }
    m.n_all = tokens.size();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    m.all = m.n_all ? s_all / double(m.n_all) : nan;
    m.correct = m.n_correct ? s_c / double(m.n_correct) : nan;
    m.incorrect = m.n_incorrect ? s_i / double(m.n_incorrect) : nan;
    return m;
}

BudgetCompliance metrics_budget_compliance(const std::vector<double>& tokens, const std::vector<double>& budgets) {
    if (tokens.size() != budgets.size())
        throw Error("budget compliance: " + std::to_string(tokens.size()) + " token counts for " +
                    std::to_string(budgets.size()) + " budgets");
    if (tokens.empty()) throw Error("budget compliance: no samples");
    BudgetCompliance c;
    double within = 0, dev = 0, excess = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
        check_finite(tokens[i], "budget compliance");
        if (!(budgets[i] > 0) || !std::isfinite(budgets[i]))
            throw Error("budget compliance: budget " + std::to_string(budgets[i]) + " at sample " + std::to_string(i) +
                        " is not positive");
        within += tokens[i] <= budgets[i];
        dev += std::fabs(tokens[i] - budgets[i]) / budgets[i];
        excess += std::max(0.0, tokens[i] - budgets[i]) / budgets[i];
    }
    c.n = tokens.size();
    c.share_within = within / double(c.n);
    c.mean_relative_deviation = dev / double(c.n);
    c.mean_relative_excess = excess / double(c.n);
    return c;
}

// ---- two runs on the same problems ----

McNemarResult metrics_mcnemar(const std::vector<bool>& a, const std::vector<bool>& b) {
    if (a.size() != b.size())
        throw Error(
            "McNemar: runs have " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " paired outcomes",
            "compare runs on the same problems and samples");
    McNemarResult r;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] && b[i])
            ++r.n_both;
        else if (a[i])
            ++r.n_a_only;
        else if (b[i])
            ++r.n_b_only;
        else
            ++r.n_neither;
    }
    const size_t n = r.n_a_only + r.n_b_only;
    if (n == 0) return r;  // p = 1: no discordant pairs, no evidence of a difference
    const size_t m = std::min(r.n_a_only, r.n_b_only);
    // P[X <= m] for X ~ Bin(n, 1/2), summed in log space from the largest term down.
    const double log_half_n = double(n) * std::log(0.5);
    const double lg_n1 = std::lgamma(double(n) + 1);
    std::vector<double> logs;
    logs.reserve(m + 1);
    for (size_t i = 0; i <= m; ++i)
        logs.push_back(lg_n1 - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) + log_half_n);
    double top = *std::max_element(logs.begin(), logs.end());
    double s = 0;
    for (double l : logs) s += std::exp(l - top);
    double tail = std::exp(top + std::log(s));
    r.p_value = std::min(1.0, 2 * tail);
    return r;
}

PairedBootstrap metrics_paired_bootstrap(const std::vector<double>& a, const std::vector<double>& b,
                                         const BootstrapOptions& o) {
    check_bootstrap(o);
    if (a.size() != b.size())
        throw Error("paired bootstrap: runs have " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
                        " problems",
                    "compare runs on the same problems");
    if (a.empty()) throw Error("paired bootstrap: no problems");
    const size_t n = a.size();
    std::vector<double> d(n);
    for (size_t i = 0; i < n; ++i) {
        check_finite(a[i], "paired bootstrap");
        check_finite(b[i], "paired bootstrap");
        d[i] = a[i] - b[i];
    }
    PairedBootstrap r;
    r.diff = std::accumulate(d.begin(), d.end(), 0.0) / double(n);
    MetricsRng rng(o.seed);
    std::vector<double> diffs(o.n_resamples);
    size_t n_le = 0, n_ge = 0;
    for (size_t k = 0; k < o.n_resamples; ++k) {
        double s = 0;
        for (size_t i = 0; i < n; ++i) s += d[rng.below(n)];
        diffs[k] = s / double(n);
        n_le += diffs[k] <= 0;
        n_ge += diffs[k] >= 0;
    }
    std::sort(diffs.begin(), diffs.end());
    r.lo = metrics_quantile_sorted(diffs, (1 - o.confidence) / 2);
    r.hi = metrics_quantile_sorted(diffs, (1 + o.confidence) / 2);
    r.p_value = std::min(1.0, 2.0 * double(std::min(n_le, n_ge)) / double(o.n_resamples));
    return r;
}

// ---- accuracy versus tokens ----

std::vector<size_t> metrics_pareto_frontier(const std::vector<ParetoPoint>& points) {
    std::vector<size_t> order(points.size());
    for (size_t i = 0; i < points.size(); ++i) {
        check_finite(points[i].accuracy, "Pareto frontier (accuracy)");
        check_finite(points[i].tokens, "Pareto frontier (tokens)");
        order[i] = i;
    }
    // Fewest tokens first; among equal tokens the best accuracy, then the lowest index. Sweeping in
    // that order, a point is on the frontier iff it beats every accuracy seen so far.
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        if (points[x].tokens != points[y].tokens) return points[x].tokens < points[y].tokens;
        if (points[x].accuracy != points[y].accuracy) return points[x].accuracy > points[y].accuracy;
        return x < y;
    });
    std::vector<size_t> front;
    for (size_t i : order)
        if (front.empty() || points[i].accuracy > points[front.back()].accuracy) front.push_back(i);
    return front;
}

double metrics_hypervolume(const std::vector<ParetoPoint>& points, const ParetoPoint& ref) {
    check_finite(ref.accuracy, "hypervolume reference");
    check_finite(ref.tokens, "hypervolume reference");
    std::vector<ParetoPoint> inside;
    for (const auto& p : points)
        if (p.tokens < ref.tokens && p.accuracy > ref.accuracy) inside.push_back(p);
    auto front = metrics_pareto_frontier(inside);
    double area = 0;
    for (size_t j = 0; j < front.size(); ++j) {
        const auto& p = inside[front[j]];
        double right = j + 1 < front.size() ? inside[front[j + 1]].tokens : ref.tokens;
        area += (right - p.tokens) * (p.accuracy - ref.accuracy);
    }
    return area;
}

// ---- everything for one run configuration ----

MetricsSummary metrics_summarize(const std::vector<MetricsSample>& samples, const MetricsSummaryOptions& o) {
    if (samples.empty()) throw Error("metrics: no samples");
    std::unordered_map<std::string, size_t> slot;
    std::vector<std::vector<bool>> correct;
    std::vector<std::vector<std::string>> keys;
    std::vector<bool> censored, all_correct;
    std::vector<double> tokens, b_tokens, b_budgets;
    for (const auto& s : samples) {
        auto [it, fresh] = slot.try_emplace(s.problem_id, correct.size());
        if (fresh) {
            correct.emplace_back();
            keys.emplace_back();
        }
        correct[it->second].push_back(s.correct);
        keys[it->second].push_back(s.answer_key);
        censored.push_back(s.censored);
        all_correct.push_back(s.correct);
        tokens.push_back(s.n_tokens);
        if (s.budget > 0) {
            b_tokens.push_back(s.n_tokens);
            b_budgets.push_back(s.budget);
        }
    }
    MetricsSummary m;
    m.n_problems = correct.size();
    m.n_samples = samples.size();
    m.n_min = m.n_max = correct[0].size();
    for (const auto& c : correct) {
        m.n_min = std::min(m.n_min, c.size());
        m.n_max = std::max(m.n_max, c.size());
    }
    m.accuracy = metrics_bootstrap_mean(metrics_per_problem_accuracy(correct), o.bootstrap);
    for (size_t k : o.pass_k)
        if (k >= 1 && k <= m.n_min) m.pass_at_k[k] = metrics_pass_at_k_mean(correct, k);
    for (size_t k : o.maj_k)
        if (k <= m.n_min) m.maj_at_k[k] = metrics_maj_at_k(keys, correct, k);
    m.censored_rate = metrics_rate(censored);
    m.tokens = metrics_token_means(tokens, all_correct);
    if (!b_tokens.empty()) m.budget = metrics_budget_compliance(b_tokens, b_budgets);
    return m;
}

}  // namespace adabench
