// Pareto tools against published values (ADAPTIVE_METHODS.md b.6): pymoo's crowding case,
// hypervolumes of the ZDT1 front (exact 0.876667 = 1.21 − 1/3; 100-point front 0.871409 at
// (1.1, 1.1) and 0.661409 at (1, 1); pymoo tests/indicators/test_hv.py case_2d 1.671865), and the
// fast non-dominated sort against an O(n²) brute force.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "search/pareto.h"
#include "search/rng.h"

using namespace adabench;

namespace {

// pymoo ZDT1.pareto_front(n): x = linspace(0, 1, n), f2 = 1 − √x.
SearchMatrix zdt1_front(size_t n) {
    SearchMatrix F;
    for (size_t i = 0; i < n; ++i) {
        const double x = static_cast<double>(i) / static_cast<double>(n - 1);
        F.push_back({x, 1.0 - std::sqrt(x)});
    }
    return F;
}

}  // namespace

TEST(Pareto, DominatesIsStrict) {
    EXPECT_TRUE(search_dominates({0, 0}, {0, 1}));
    EXPECT_FALSE(search_dominates({0, 1}, {0, 1}));
    EXPECT_FALSE(search_dominates({0, 2}, {1, 1}));
    EXPECT_FALSE(search_dominates({1, 1}, {0, 2}));
}

TEST(Pareto, CrowdingPymooCase) {
    // pymoo tests/algorithms/test_nsga2.py
    const auto cd = search_crowding_distance({{0, 0}, {0.5, 50}, {1, 100}});
    ASSERT_EQ(cd.size(), 3u);
    EXPECT_TRUE(std::isinf(cd[0]));
    EXPECT_DOUBLE_EQ(cd[1], 1.0);
    EXPECT_TRUE(std::isinf(cd[2]));
}

TEST(Pareto, CrowdingEdgeCases) {
    const double inf = std::numeric_limits<double>::infinity();
    EXPECT_EQ(search_crowding_distance({{1, 2}, {2, 1}}), (std::vector<double>{inf, inf}));
    // A duplicate gets 0; a constant objective contributes 0.
    const auto cd = search_crowding_distance({{0, 1}, {0.25, 1}, {0.25, 1}, {1, 1}});
    EXPECT_TRUE(std::isinf(cd[0]));
    EXPECT_DOUBLE_EQ(cd[1], 0.5);  // ((1 − 0) / 1 + 0) / 2
    EXPECT_DOUBLE_EQ(cd[2], 0.0);
    EXPECT_TRUE(std::isinf(cd[3]));
    // Middle points of a 2-D front: gaps normalised per objective, averaged over objectives.
    const auto cd2 = search_crowding_distance({{0, 4}, {1, 2}, {3, 1}, {4, 0}});
    EXPECT_DOUBLE_EQ(cd2[1], (3.0 / 4 + 3.0 / 4) / 2);
    EXPECT_DOUBLE_EQ(cd2[2], (3.0 / 4 + 2.0 / 4) / 2);
}

TEST(Pareto, HypervolumeZdt1TrueFront) {
    // The continuous front's value at (1.1, 1.1) is 1.21 − ∫₀¹ (1 − √x) dx... = 1.21 − 1/3.
    const double hv = search_hypervolume_2d(zdt1_front(1000001), {1.1, 1.1});
    EXPECT_NEAR(hv, 0.876667, 1e-5);
    EXPECT_NEAR(hv, 1.21 - 1.0 / 3.0, 1e-5);
}

TEST(Pareto, HypervolumeZdt1HundredPoints) {
    const auto F = zdt1_front(100);
    EXPECT_NEAR(search_hypervolume_2d(F, {1.1, 1.1}), 0.871409, 5e-7);
    EXPECT_NEAR(search_hypervolume_2d(F, {1.0, 1.0}), 0.661409, 5e-7);
}

TEST(Pareto, HypervolumePymooCase2d) {
    // pymoo tests/indicators/test_hv.py case_2d: ZDT1().pareto_front()[::10] * 1.2, ref (1.5, 1.5).
    const auto full = zdt1_front(100);
    SearchMatrix F;
    for (size_t i = 0; i < full.size(); i += 10) F.push_back({full[i][0] * 1.2, full[i][1] * 1.2});
    EXPECT_NEAR(search_hypervolume_2d(F, {1.5, 1.5}), 1.671865, 5e-7);
}

TEST(Pareto, HypervolumeIgnoresDominatedAndOutsidePoints) {
    const SearchMatrix F = {{0.5, 0.5}, {0.6, 0.6}, {2.0, 0.0}, {0.5, 0.5}};
    EXPECT_DOUBLE_EQ(search_hypervolume_2d(F, {1, 1}), 0.25);
    EXPECT_DOUBLE_EQ(search_hypervolume_2d({}, {1, 1}), 0.0);
    EXPECT_DOUBLE_EQ(search_hypervolume_2d({{1.0, 0.0}}, {1, 1}), 0.0);  // not strictly better
}

TEST(Pareto, NonDominatedSortMatchesBruteForce) {
    SearchRng rng(7);
    for (int trial = 0; trial < 20; ++trial) {
        const size_t n = 30 + rng.below(120), n_obj = 2 + rng.below(2);
        SearchMatrix F(n, SearchObjectives(n_obj));
        for (auto& p : F)
            for (auto& v : p) v = std::floor(rng.uniform() * 8.0);  // coarse values: many ties
        // Brute force: peel off the points no remaining point dominates.
        std::vector<int> rank(n, -1);
        for (int r = 0, left = static_cast<int>(n); left > 0; ++r) {
            std::vector<size_t> now;
            for (size_t i = 0; i < n; ++i) {
                if (rank[i] >= 0) continue;
                bool dominated = false;
                for (size_t j = 0; j < n && !dominated; ++j)
                    dominated = rank[j] < 0 && j != i && search_dominates(F[j], F[i]);
                if (!dominated) now.push_back(i);
            }
            for (size_t i : now) rank[i] = r;
            left -= static_cast<int>(now.size());
        }
        const auto fronts = search_sort_fronts(F);
        std::vector<int> got(n, -1);
        for (size_t r = 0; r < fronts.size(); ++r)
            for (size_t i : fronts[r]) got[i] = static_cast<int>(r);
        ASSERT_EQ(got, rank) << "trial " << trial;
        // Early stop keeps whole fronts and stops once enough are ranked.
        const auto part = search_sort_fronts(F, n / 2);
        size_t ranked = 0;
        for (size_t r = 0; r < part.size(); ++r) {
            EXPECT_EQ(part[r], fronts[r]);
            ranked += part[r].size();
        }
        EXPECT_GE(ranked, n / 2);
        EXPECT_LT(ranked - part.back().size(), n / 2);
    }
}
