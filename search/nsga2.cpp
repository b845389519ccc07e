// NSGA-II (see nsga2.h). Operator formulas follow pymoo @c9352c03: operators/crossover/sbx.py
// (cross_sbx), operators/mutation/pm.py (mut_pm), algorithms/moo/nsga2.py (binary_tournament) and
// operators/survival/rank_and_crowding (RankAndCrowding). The random streams differ from numpy's,
// so runs match pymoo in distribution, not trajectory.
#include "search/nsga2.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace adabench {

Nsga2::Nsga2(std::vector<double> xl, std::vector<double> xu, Nsga2Options options)
    : xl_(std::move(xl)), xu_(std::move(xu)), opt_(options), rng_(options.seed) {
    if (xl_.empty() || xl_.size() != xu_.size()) throw Error("nsga2: bounds must be non-empty and of equal length");
    for (size_t i = 0; i < xl_.size(); ++i)
        if (!(xl_[i] <= xu_[i])) throw Error("nsga2: lower bound above upper bound for variable " + std::to_string(i));
    if (opt_.pop_size < 2) throw Error("nsga2: pop_size must be at least 2");
    if (opt_.pm_prob_var < 0) opt_.pm_prob_var = std::min(0.5, 1.0 / static_cast<double>(xl_.size()));
}

bool Nsga2::is_duplicate(const std::vector<double>& x, const SearchMatrix& others) const {
    for (const auto& o : others) {
        double d2 = 0.0;
        for (size_t i = 0; i < x.size(); ++i) d2 += (x[i] - o[i]) * (x[i] - o[i]);
        if (std::sqrt(d2) <= 1e-16) return true;
    }
    return false;
}

void Nsga2::sbx(const std::vector<double>& a, const std::vector<double>& b, std::vector<double>& c1,
                std::vector<double>& c2) {
    c1 = a;
    c2 = b;
    const double eta = opt_.sbx_eta;
    for (size_t i = 0; i < a.size(); ++i) {
        const bool cross = rng_.uniform() < opt_.sbx_prob_var;
        if (!cross || std::fabs(a[i] - b[i]) <= 1e-14 || xl_[i] == xu_[i]) continue;
        const double y1 = std::min(a[i], b[i]), y2 = std::max(a[i], b[i]), delta = y2 - y1;
        const double u = rng_.uniform();  // one draw serves both children, as in pymoo
        auto betaq = [&](double beta) {
            const double alpha = 2.0 - std::pow(beta, -(eta + 1.0));
            if (u <= 1.0 / alpha) return std::pow(u * alpha, 1.0 / (eta + 1.0));
            return std::pow(1.0 / (2.0 - u * alpha), 1.0 / (eta + 1.0));
        };
        double v1 = 0.5 * ((y1 + y2) - betaq(1.0 + 2.0 * (y1 - xl_[i]) / delta) * delta);
        double v2 = 0.5 * ((y1 + y2) + betaq(1.0 + 2.0 * (xu_[i] - y2) / delta) * delta);
        if (rng_.uniform() < opt_.sbx_prob_swap) std::swap(v1, v2);
        c1[i] = std::clamp(v1, xl_[i], xu_[i]);
        c2[i] = std::clamp(v2, xl_[i], xu_[i]);
    }
}

void Nsga2::polynomial_mutation(std::vector<double>& x) {
    const double eta = opt_.pm_eta, mut_pow = 1.0 / (eta + 1.0);
    for (size_t i = 0; i < x.size(); ++i) {
        if (!(rng_.uniform() < opt_.pm_prob_var) || xl_[i] == xu_[i]) continue;
        const double range = xu_[i] - xl_[i];
        const double d1 = (x[i] - xl_[i]) / range, d2 = (xu_[i] - x[i]) / range;
        const double u = rng_.uniform();
        double dq;
        if (u <= 0.5) {
            dq = std::pow(2.0 * u + (1.0 - 2.0 * u) * std::pow(1.0 - d1, eta + 1.0), mut_pow) - 1.0;
        } else {
            dq = 1.0 - std::pow(2.0 * (1.0 - u) + 2.0 * (u - 0.5) * std::pow(1.0 - d2, eta + 1.0), mut_pow);
        }
        x[i] = std::clamp(x[i] + dq * range, xl_[i], xu_[i]);
    }
}

size_t Nsga2::tournament(size_t a, size_t b) {
    if (search_dominates(pop_f_[a], pop_f_[b])) return a;
    if (search_dominates(pop_f_[b], pop_f_[a])) return b;
    if (crowd_[a] > crowd_[b]) return a;
    if (crowd_[b] > crowd_[a]) return b;
    return rng_.uniform() < 0.5 ? a : b;
}

SearchMatrix Nsga2::ask() {
    if (!asked_.empty()) throw Error("nsga2: ask() called twice without tell()");
    const size_t n = opt_.pop_size, n_var = xl_.size();
    if (n_tells_ == 0) {
        for (size_t k = 0; k < n; ++k) {
            std::vector<double> x(n_var);
            for (size_t i = 0; i < n_var; ++i) x[i] = xl_[i] + rng_.uniform() * (xu_[i] - xl_[i]);
            asked_.push_back(std::move(x));
        }
        return asked_;
    }
    SearchMatrix off;
    for (int round = 0; round < opt_.max_mating_rounds && off.size() < n; ++round) {
        const size_t n_remaining = n - off.size();
        const size_t n_matings = (n_remaining + 1) / 2;
        // Tournament competitors come from concatenated random permutations of the population
        // (pymoo's TournamentSelection with pressure 2).
        const size_t n_random = n_matings * 2 * 2;
        std::vector<size_t> perm;
        while (perm.size() < n_random) {
            std::vector<size_t> p(pop_x_.size());
            std::iota(p.begin(), p.end(), 0);
            for (size_t i = p.size(); i > 1; --i) std::swap(p[i - 1], p[rng_.below(i)]);
            perm.insert(perm.end(), p.begin(), p.end());
        }
        SearchMatrix children;
        for (size_t m = 0; m < n_matings; ++m) {
            const size_t pa = tournament(perm[4 * m], perm[4 * m + 1]);
            const size_t pb = tournament(perm[4 * m + 2], perm[4 * m + 3]);
            std::vector<double> c1 = pop_x_[pa], c2 = pop_x_[pb];
            if (rng_.uniform() < opt_.sbx_prob) sbx(pop_x_[pa], pop_x_[pb], c1, c2);
            children.push_back(std::move(c1));
            children.push_back(std::move(c2));
        }
        for (auto& c : children) polynomial_mutation(c);
        for (auto& c : children) {
            if (off.size() >= n) break;
            if (opt_.eliminate_duplicates && (is_duplicate(c, pop_x_) || is_duplicate(c, off))) continue;
            off.push_back(std::move(c));
        }
    }
    if (off.empty())
        throw Error("nsga2: no new offspring after " + std::to_string(opt_.max_mating_rounds) +
                    " mating rounds (hint: the population has collapsed to one point)");
    asked_ = off;
    return off;
}

void Nsga2::survive(SearchMatrix X, SearchMatrix F) {
    const size_t n = opt_.pop_size;
    auto fronts = search_sort_fronts(F, n);
    SearchMatrix nx, nf;
    std::vector<double> ncd;
    for (const auto& front : fronts) {
        SearchMatrix ff;
        for (size_t i : front) ff.push_back(F[i]);
        const auto cd = search_crowding_distance(ff);
        std::vector<size_t> order(front.size());
        std::iota(order.begin(), order.end(), 0);
        if (nx.size() + front.size() > n) {
            // Largest crowding first; ties broken at random (pymoo's randomized_argsort).
            for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng_.below(i)]);
            std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cd[a] > cd[b]; });
            order.resize(n - nx.size());
        }
        for (size_t k : order) {
            nx.push_back(X[front[k]]);
            nf.push_back(F[front[k]]);
            ncd.push_back(cd[k]);
        }
        if (nx.size() >= n) break;
    }
    pop_x_ = std::move(nx);
    pop_f_ = std::move(nf);
    crowd_ = std::move(ncd);
}

void Nsga2::tell(const SearchMatrix& F) {
    if (asked_.empty()) throw Error("nsga2: tell() without a preceding ask()");
    if (F.size() != asked_.size()) throw Error("nsga2: tell() got a different number of points than ask() gave");
    SearchMatrix X = pop_x_, FF = pop_f_;
    X.insert(X.end(), asked_.begin(), asked_.end());
    FF.insert(FF.end(), F.begin(), F.end());
    n_evals_ += F.size();
    asked_.clear();
    ++n_tells_;
    survive(std::move(X), std::move(FF));
}

}  // namespace adabench
