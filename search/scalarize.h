// Scalarisations that turn the search's two minimised objectives into one value for CMA-ES
// (ADAPTIVE_METHODS.md b.6): the weighted Chebyshev distance to an ideal point, and the
// ε-constraint "best f[0] subject to f[1] ≤ bound" with a linear penalty above the bound.
#pragma once
#include <vector>

namespace adabench {

// max_j w_j (f_j − z_j)
double scalarize_chebyshev(const std::vector<double>& f, const std::vector<double>& w, const std::vector<double>& z);

// f[0] + penalty · max(0, f[1] − bound)
double scalarize_epsilon_constraint(const std::vector<double>& f, double bound, double penalty);

// n weight vectors for two objectives, evenly spread over (0, 1): (k/(n+1), 1 − k/(n+1)).
std::vector<std::vector<double>> scalarize_weights_2d(int n);

}  // namespace adabench
