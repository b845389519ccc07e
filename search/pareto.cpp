// Pareto tools (see pareto.h). The crowding distance follows pymoo @c9352c03
// operators/survival/rank_and_crowding/metrics.py, including its division by n_obj.
#include "search/pareto.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace adabench {

bool search_dominates(const SearchObjectives& a, const SearchObjectives& b) {
    bool strictly = false;
    for (size_t m = 0; m < a.size(); ++m) {
        if (a[m] > b[m]) return false;
        if (a[m] < b[m]) strictly = true;
    }
    return strictly;
}

std::vector<std::vector<size_t>> search_sort_fronts(const SearchMatrix& F, size_t n_stop_if_ranked) {
    const size_t n = F.size();
    std::vector<std::vector<size_t>> dominates(n);  // i dominates these
    std::vector<size_t> n_dominated_by(n, 0);
    for (size_t i = 0; i < n; ++i) {
        for (size_t j = i + 1; j < n; ++j) {
            if (search_dominates(F[i], F[j])) {
                dominates[i].push_back(j);
                ++n_dominated_by[j];
            } else if (search_dominates(F[j], F[i])) {
                dominates[j].push_back(i);
                ++n_dominated_by[i];
            }
        }
    }
    std::vector<std::vector<size_t>> fronts;
    std::vector<size_t> current;
    for (size_t i = 0; i < n; ++i)
        if (n_dominated_by[i] == 0) current.push_back(i);
    size_t n_ranked = 0;
    while (!current.empty()) {
        n_ranked += current.size();
        fronts.push_back(current);
        if (n_stop_if_ranked > 0 && n_ranked >= n_stop_if_ranked) break;
        std::vector<size_t> next;
        for (size_t i : current)
            for (size_t j : dominates[i])
                if (--n_dominated_by[j] == 0) next.push_back(j);
        std::sort(next.begin(), next.end());
        current = std::move(next);
    }
    return fronts;
}

std::vector<size_t> search_front_indices(const SearchMatrix& F) {
    auto fronts = search_sort_fronts(F, 1);
    return fronts.empty() ? std::vector<size_t>{} : fronts[0];
}

std::vector<double> search_crowding_distance(const SearchMatrix& front) {
    const size_t n = front.size();
    const double inf = std::numeric_limits<double>::infinity();
    if (n <= 2) return std::vector<double>(n, inf);
    const size_t n_obj = front[0].size();
    // Duplicates (all objectives equal to an earlier point) get 0, as pymoo's find_duplicates.
    std::vector<size_t> unique;
    for (size_t i = 0; i < n; ++i) {
        bool dup = false;
        for (size_t u : unique)
            if (front[u] == front[i]) {
                dup = true;
                break;
            }
        if (!dup) unique.push_back(i);
    }
    std::vector<double> cd(n, 0.0);
    const size_t k = unique.size();
    if (k <= 2) {
        for (size_t u : unique) cd[u] = inf;
        return cd;
    }
    std::vector<double> sum(k, 0.0);
    std::vector<size_t> order(k);
    for (size_t m = 0; m < n_obj; ++m) {
        std::iota(order.begin(), order.end(), 0);
        // pymoo sorts with a stable mergesort
        std::stable_sort(order.begin(), order.end(),
                         [&](size_t a, size_t b) { return front[unique[a]][m] < front[unique[b]][m]; });
        const double lo = front[unique[order.front()]][m], hi = front[unique[order.back()]][m];
        const double norm = hi - lo;
        for (size_t r = 0; r < k; ++r) {
            const double f = front[unique[order[r]]][m];
            const double to_last = r == 0 ? inf : f - front[unique[order[r - 1]]][m];
            const double to_next = r + 1 == k ? inf : front[unique[order[r + 1]]][m] - f;
            // norm == 0 makes pymoo's quotient NaN, which it replaces by 0 (also for the ∞ ends)
            sum[order[r]] += norm == 0.0 ? 0.0 : to_last / norm + to_next / norm;
        }
    }
    for (size_t u = 0; u < k; ++u) cd[unique[u]] = sum[u] / static_cast<double>(n_obj);
    return cd;
}

double search_hypervolume_2d(const SearchMatrix& F, const SearchObjectives& ref) {
    if (ref.size() != 2) throw Error("search_hypervolume_2d: the reference point must have 2 objectives");
    std::vector<std::pair<double, double>> pts;
    for (const auto& p : F) {
        if (p.size() != 2) throw Error("search_hypervolume_2d: every point must have 2 objectives");
        if (p[0] < ref[0] && p[1] < ref[1]) pts.emplace_back(p[0], p[1]);
    }
    std::sort(pts.begin(), pts.end());
    double hv = 0.0, best_f2 = ref[1];
    for (const auto& [f1, f2] : pts) {
        if (f2 < best_f2) {
            hv += (ref[0] - f1) * (best_f2 - f2);
            best_f2 = f2;
        }
    }
    return hv;
}

}  // namespace adabench
