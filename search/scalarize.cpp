// Scalarisations (see scalarize.h).
#include "search/scalarize.h"

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace adabench {

double scalarize_chebyshev(const std::vector<double>& f, const std::vector<double>& w, const std::vector<double>& z) {
    if (f.size() != w.size() || f.size() != z.size()) throw Error("scalarize_chebyshev: mismatched lengths");
    double v = -std::numeric_limits<double>::infinity();
    for (size_t j = 0; j < f.size(); ++j) v = std::max(v, w[j] * (f[j] - z[j]));
    return v;
}

double scalarize_epsilon_constraint(const std::vector<double>& f, double bound, double penalty) {
    if (f.size() < 2) throw Error("scalarize_epsilon_constraint: needs two objectives");
    return f[0] + penalty * std::max(0.0, f[1] - bound);
}

std::vector<std::vector<double>> scalarize_weights_2d(int n) {
    std::vector<std::vector<double>> out;
    for (int k = 1; k <= n; ++k) {
        const double a = static_cast<double>(k) / (n + 1);
        out.push_back({a, 1.0 - a});
    }
    return out;
}

}  // namespace adabench
