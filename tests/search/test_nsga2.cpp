// NSGA-II end to end on ZDT1 (pymoo's docs example: 30 variables, pop 100, 200 generations): the
// final front's hypervolume at (1.1, 1.1) must come within 1% of the true front's 0.876667 and beat
// random search with the same number of evaluations by a wide margin. Plus the operators' bounds,
// duplicate elimination and determinism under a seed.
#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"
#include "search/nsga2.h"
#include "search/pareto.h"

using namespace adabench;

namespace {

SearchObjectives zdt1(const std::vector<double>& x) {
    double s = 0.0;
    for (size_t i = 1; i < x.size(); ++i) s += x[i];
    const double g = 1.0 + 9.0 / static_cast<double>(x.size() - 1) * s;
    return {x[0], g * (1.0 - std::sqrt(x[0] / g))};
}

SearchMatrix eval_all(const SearchMatrix& X) {
    SearchMatrix F;
    for (const auto& x : X) F.push_back(zdt1(x));
    return F;
}

}  // namespace

TEST(Nsga2, Zdt1ReachesTheTrueFront) {
    const size_t n_var = 30;
    Nsga2Options opt;
    opt.pop_size = 100;
    opt.seed = 1;
    Nsga2 algo(std::vector<double>(n_var, 0.0), std::vector<double>(n_var, 1.0), opt);
    for (int gen = 0; gen <= 200; ++gen) {  // initial population + 200 generations
        const auto X = algo.ask();
        algo.tell(eval_all(X));
    }
    const double hv = search_hypervolume_2d(algo.population_f(), {1.1, 1.1});
    const double hv_true = 1.21 - 1.0 / 3.0;
    EXPECT_GT(hv, 0.99 * hv_true) << "hv " << hv;
    EXPECT_LE(hv, hv_true + 1e-9);
    std::printf("ZDT1 NSGA-II hypervolume %.6f (true front %.6f)\n", hv, hv_true);

    // Random search with the same number of evaluations stays far away.
    SearchRng rng(1);
    SearchMatrix R;
    for (size_t k = 0; k < algo.n_evaluations(); ++k) {
        std::vector<double> x(n_var);
        for (auto& v : x) v = rng.uniform();
        R.push_back(zdt1(x));
    }
    const double hv_random = search_hypervolume_2d(R, {1.1, 1.1});
    EXPECT_LT(hv_random, 0.8 * hv) << "random " << hv_random << " nsga2 " << hv;
}

TEST(Nsga2, OperatorsStayInBoundsAndMove) {
    Nsga2Options opt;
    opt.seed = 3;
    Nsga2 algo({-1.0, 0.0, 2.0}, {1.0, 5.0, 2.0}, opt);  // the third variable is fixed
    size_t moved = 0;
    for (int t = 0; t < 2000; ++t) {
        std::vector<double> a = {-0.9, 0.1, 2.0}, b = {0.9, 4.9, 2.0}, c1, c2;
        algo.sbx(a, b, c1, c2);
        algo.polynomial_mutation(c1);
        for (const auto* c : {&c1, &c2}) {
            EXPECT_GE((*c)[0], -1.0);
            EXPECT_LE((*c)[0], 1.0);
            EXPECT_GE((*c)[1], 0.0);
            EXPECT_LE((*c)[1], 5.0);
            EXPECT_EQ((*c)[2], 2.0);
        }
        if (c1[0] != a[0] && c1[0] != b[0]) ++moved;
    }
    EXPECT_GT(moved, 500u);
}

TEST(Nsga2, SeedDeterminesTheRunAndOffspringAreUnique) {
    auto run = [](uint64_t seed) {
        Nsga2Options opt;
        opt.pop_size = 12;
        opt.seed = seed;
        Nsga2 algo(std::vector<double>(4, 0.0), std::vector<double>(4, 1.0), opt);
        SearchMatrix all;
        for (int gen = 0; gen < 5; ++gen) {
            const auto X = algo.ask();
            for (size_t i = 0; i < X.size(); ++i)
                for (size_t j = i + 1; j < X.size(); ++j) EXPECT_NE(X[i], X[j]);
            all.insert(all.end(), X.begin(), X.end());
            algo.tell(eval_all(X));
        }
        return all;
    };
    EXPECT_EQ(run(5), run(5));
    EXPECT_NE(run(5), run(6));
}

TEST(Nsga2, MisuseThrows) {
    EXPECT_THROW(Nsga2({0.0}, {1.0, 2.0}, Nsga2Options{}), Error);
    EXPECT_THROW(Nsga2({1.0}, {0.0}, Nsga2Options{}), Error);
    Nsga2 algo({0.0}, {1.0}, Nsga2Options{});
    EXPECT_THROW(algo.tell({{0.0, 0.0}}), Error);
    auto X = algo.ask();
    EXPECT_THROW(algo.ask(), Error);
    EXPECT_THROW(algo.tell({{0.0, 0.0}}), Error);  // wrong count
}
