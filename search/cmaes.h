// CMA-ES as N. Hansen's purecma.py implements it (CMA-ES/pycma @8d16505, public domain;
// ADAPTIVE_METHODS.md b.4): default population 4 + ⌊3 ln N⌋, positive recombination weights,
// cumulative step-size adaptation with purecma's squared-norm rule, rank-one and rank-μ covariance
// updates, and a lazily refreshed eigendecomposition.
//
// Ask/tell like Nsga2, for the same reason: the caller owns evaluation and caching, and given the
// seed the asks depend only on the values told. Minimises. Not here: bounds (the caller maps
// genes into range, mergekit-style, by clamping), restarts (IPOP/BIPOP), active CMA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "search/rng.h"

namespace adabench {

struct CmaesOptions {
    size_t popsize = 0;       // 0: 4 + ⌊3 ln N⌋
    double maxfevals = 0;     // 0: purecma's 100·λ + 150·(N+3)²·√λ
    double ftarget = -1e300;  // stop once the best value told is ≤ this
    uint64_t seed = 1;
};

class Cmaes {
public:
    Cmaes(std::vector<double> xstart, double sigma, CmaesOptions options);

    std::vector<std::vector<double>> ask();
    void tell(const std::vector<std::vector<double>>& X, const std::vector<double>& f);
    // Empty while running; else the reason: maxfevals, ftarget, condition, tolfun or tolx.
    std::string stop() const;

    const std::vector<double>& best_x() const { return best_x_; }
    double best_f() const { return best_f_; }
    size_t best_evaluation() const { return best_eval_; }  // evaluation count when best_f was told
    size_t n_evaluations() const { return counteval_; }
    size_t popsize() const { return lam_; }
    double sigma() const { return sigma_; }
    const std::vector<double>& mean() const { return xmean_; }

private:
    void update_eigensystem();

    size_t n_, lam_, mu_;
    std::vector<double> weights_;
    double mueff_, cc_, cs_, c1_, cmu_, damps_, lazy_gap_evals_, maxfevals_, ftarget_;
    std::vector<double> xmean_, pc_, ps_;
    double sigma_;
    std::vector<double> C_, B_, eigenvalues_, invsqrt_;  // row-major N×N
    double condition_ = 1.0;
    size_t updated_eval_ = 0, counteval_ = 0;
    std::vector<double> fitvals_;  // last generation, sorted
    std::vector<double> best_x_;
    double best_f_ = 1e300;
    size_t best_eval_ = 0;
    SearchRng rng_;
};

// Symmetric eigendecomposition by cyclic Jacobi rotations: A (row-major n×n) = B diag(w) Bᵀ, with
// the eigenvectors in B's columns. Small n only (the search genomes have tens of genes).
void cmaes_eigen_symmetric(size_t n, std::vector<double> A, std::vector<double>& w, std::vector<double>& B);

}  // namespace adabench
