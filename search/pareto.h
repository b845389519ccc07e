// Pareto tools for minimisation problems: dominance, fast non-dominated sort, pymoo's crowding
// distance and the exact 2-D hypervolume. Every objective is minimised; callers negate what they
// maximise. Pure functions over plain vectors: no I/O, no randomness, no store.
//
// Not here: hypervolume in more than two dimensions (the search command has two objectives, and
// the exact 2-D sweep is what the design notes ADAPTIVE_METHODS.md b.6 specify).
#pragma once
#include <cstddef>
#include <vector>

namespace adabench {

using SearchObjectives = std::vector<double>;        // one objective vector (or one genome)
using SearchMatrix = std::vector<SearchObjectives>;  // n points × n_obj objectives

// True when a is no worse than b in every objective and strictly better in at least one.
bool search_dominates(const SearchObjectives& a, const SearchObjectives& b);

// Deb's fast non-dominated sort: fronts of indices into F, best front first, each front's indices
// ascending. n_stop_if_ranked > 0 stops once at least that many points are ranked (pymoo's
// n_stop_if_ranked); the remaining points are then left out of the result.
std::vector<std::vector<size_t>> search_sort_fronts(const SearchMatrix& F, size_t n_stop_if_ranked = 0);

// Crowding distance of the points of one front, exactly as pymoo's calc_crowding_distance:
// per objective, (f[next] − f[prev]) / (max − min) with ±∞ at the extremes and 0 when the
// objective is constant; summed over objectives and divided by n_obj. Fronts of ≤ 2 points are
// all ∞; exact duplicates after the first get 0.
std::vector<double> search_crowding_distance(const SearchMatrix& front);

// Indices of the non-dominated points of F (first front), ascending.
std::vector<size_t> search_front_indices(const SearchMatrix& F);

// Exact hypervolume dominated by 2-D points and bounded by ref (both objectives minimised).
// Points not strictly better than ref in both objectives contribute nothing.
double search_hypervolume_2d(const SearchMatrix& F, const SearchObjectives& ref);

}  // namespace adabench
