// NSGA-II as pymoo @c9352c03 implements it (ADAPTIVE_METHODS.md b.3): uniform initial sampling,
// binary tournaments comparing by domination then crowding, SBX (η 15, p 0.9, per-variable 0.5,
// children swapped per variable w.p. 0.5), polynomial mutation (η 20, per-variable
// min(0.5, 1/n_var)), duplicate elimination, and rank-and-crowding survival.
//
// The optimiser is ask/tell so that the caller owns evaluation: the search command evaluates a
// whole generation as one batch through the harness and caches results by genome, and a test
// evaluates ZDT1 inline. Given the seed, the sequence of asks depends only on the objective values
// told, so replaying a killed search against its evaluation cache reproduces it exactly.
// All objectives are minimised. Not here: constraints, integer variables (the caller rounds).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "search/pareto.h"
#include "search/rng.h"

namespace adabench {

struct Nsga2Options {
    size_t pop_size = 100;
    double sbx_eta = 15.0;
    double sbx_prob = 0.9;       // probability that a mating crosses at all
    double sbx_prob_var = 0.5;   // per variable, given the mating crosses
    double sbx_prob_swap = 0.5;  // per variable, the two children exchange values
    double pm_eta = 20.0;
    double pm_prob_var = -1.0;  // < 0: min(0.5, 1 / n_var)
    bool eliminate_duplicates = true;
    int max_mating_rounds = 100;  // pymoo's n_max_iterations for filling the offspring
    uint64_t seed = 1;
};

class Nsga2 {
public:
    Nsga2(std::vector<double> xl, std::vector<double> xu, Nsga2Options options);

    // The next batch to evaluate: the initial population on the first call, then one generation's
    // offspring. Call tell() with their objectives before asking again.
    SearchMatrix ask();
    // Objectives of the points of the last ask(), in the same order.
    void tell(const SearchMatrix& F);

    const SearchMatrix& population_x() const { return pop_x_; }
    const SearchMatrix& population_f() const { return pop_f_; }
    const std::vector<double>& crowding() const { return crowd_; }
    size_t n_generations() const { return n_tells_; }  // tells so far (1 = initial population)
    size_t n_evaluations() const { return n_evals_; }

    // The operators on their own (tests and other algorithms): SBX of two parents into two
    // children, and polynomial mutation of one point, both clamped to the bounds.
    void sbx(const std::vector<double>& a, const std::vector<double>& b, std::vector<double>& c1,
             std::vector<double>& c2);
    void polynomial_mutation(std::vector<double>& x);

private:
    size_t tournament(size_t a, size_t b);
    bool is_duplicate(const std::vector<double>& x, const SearchMatrix& others) const;
    void survive(SearchMatrix X, SearchMatrix F);

    std::vector<double> xl_, xu_;
    Nsga2Options opt_;
    SearchRng rng_;
    SearchMatrix pop_x_, pop_f_, asked_;
    std::vector<double> crowd_;
    size_t n_tells_ = 0, n_evals_ = 0;
};

}  // namespace adabench
