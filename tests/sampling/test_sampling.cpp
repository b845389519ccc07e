// Samplers on 4-token hand-made distributions with literal expectations (llama.cpp
// tests/test-sampling.cpp style), and the counter-based randomness they rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <vector>

#include "common/error.h"
#include "engines/generation/sampling.h"

namespace adabench {
namespace {

TokenCandidates make(const std::vector<float>& logits) {
    TokenCandidates c;
    sampling_fill_candidates(c, logits.data(), static_cast<int>(logits.size()));
    return c;
}

std::vector<float> log_probs(const std::vector<float>& p) {
    std::vector<float> out;
    for (float x : p) out.push_back(std::log(x));
    return out;
}

std::vector<int32_t> ids(const TokenCandidates& c) {
    std::vector<int32_t> out;
    for (const auto& x : c.data) out.push_back(x.id);
    return out;
}

TEST(Sampling, HashIsAPureFunctionOfTheTriple) {
    EXPECT_EQ(sampling_hash(1, 2, 3), sampling_hash(1, 2, 3));
    EXPECT_NE(sampling_hash(1, 2, 3), sampling_hash(1, 2, 4));
    EXPECT_NE(sampling_hash(1, 2, 3), sampling_hash(1, 3, 3));
    EXPECT_NE(sampling_hash(1, 2, 3), sampling_hash(2, 2, 3));
    // Swapping roles must not collide (seq 2 pos 3 vs seq 3 pos 2).
    EXPECT_NE(sampling_hash(1, 2, 3), sampling_hash(1, 3, 2));
    double sum = 0.0;
    const int n = 20000;
    for (int i = 0; i < n; ++i) {
        double u = sampling_uniform(7, 0, static_cast<uint64_t>(i));
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
    }
    EXPECT_NEAR(sum / n, 0.5, 0.01);
}

TEST(Sampling, GreedyTakesArgmaxAndLowestIdOnTies) {
    SamplerGreedy g;
    auto c = make({1.0f, 3.0f, 3.0f, 2.0f});
    g.apply(c);
    EXPECT_EQ(c.selected, 1);
    auto chain = sampling_make_chain(SamplingParams{}, 0);  // temperature 0 = greedy
    std::vector<float> l = {0.5f, -1.0f, 0.5f, 0.25f};
    EXPECT_EQ(chain->sample(l.data(), 4, 0), 0);
    EXPECT_EQ(chain->describe(), "greedy");
}

TEST(Sampling, TopKKeepsTheKBestSorted) {
    SamplerTopK k(2);
    auto c = make({1.0f, 2.0f, 3.0f, 4.0f});
    k.apply(c);
    EXPECT_EQ(ids(c), (std::vector<int32_t>{3, 2}));
    // Ties at the boundary: lower id wins.
    auto t = make({2.0f, 1.0f, 2.0f, 2.0f});
    k.apply(t);
    EXPECT_EQ(ids(t), (std::vector<int32_t>{0, 2}));
}

TEST(Sampling, TopPKeepsTheSmallestPrefixReachingP) {
    auto lp = log_probs({0.1f, 0.2f, 0.3f, 0.4f});
    struct Case {
        float p;
        std::vector<int32_t> expect;
    } cases[] = {
        {0.05f, {3}},       {0.35f, {3}},          {0.5f, {3, 2}},       {0.65f, {3, 2}},
        {0.75f, {3, 2, 1}}, {0.95f, {3, 2, 1, 0}}, {1.0f, {0, 1, 2, 3}},  // p = 1 keeps everything untouched
    };
    for (const auto& cs : cases) {
        SamplerTopP tp(cs.p);
        auto c = make(lp);
        tp.apply(c);
        EXPECT_EQ(ids(c), cs.expect) << "top_p " << cs.p;
    }
}

TEST(Sampling, TopPOnALargeFlatVocabularyFallsBackToAFullSort) {
    // 5000 equal logits: the nucleus of p = 0.9 is 4500 tokens, more than the first window.
    std::vector<float> flat(5000, 0.0f);
    SamplerTopP tp(0.9f);
    auto c = make(flat);
    tp.apply(c);
    EXPECT_NEAR(static_cast<double>(c.data.size()), 4500.0, 2.0);
    EXPECT_EQ(c.data[0].id, 0);  // ties ordered by id
}

TEST(Sampling, TemperatureReshapes) {
    // logits {0, ln 2}: at t = 0.5 the odds become 1 : 4.
    SamplerTemperature t(0.5f);
    auto c = make({0.0f, std::log(2.0f)});
    t.apply(c);
    sampling_softmax(c);
    EXPECT_NEAR(c.data[0].p, 0.2f, 1e-6);
    EXPECT_NEAR(c.data[1].p, 0.8f, 1e-6);
}

TEST(Sampling, DistFollowsTheDistribution) {
    auto lp = log_probs({0.1f, 0.2f, 0.3f, 0.4f});
    SamplingParams sp;
    sp.temperature = 1.0f;
    sp.seed = 42;
    auto chain = sampling_make_chain(sp, 3);
    EXPECT_EQ(chain->describe(), "temperature -> dist");
    std::vector<int> count(4, 0);
    const int n = 40000;
    for (int pos = 0; pos < n; ++pos)
        count[static_cast<size_t>(chain->sample(lp.data(), 4, static_cast<uint64_t>(pos)))]++;
    EXPECT_NEAR(count[0] / double(n), 0.1, 0.01);
    EXPECT_NEAR(count[1] / double(n), 0.2, 0.01);
    EXPECT_NEAR(count[2] / double(n), 0.3, 0.01);
    EXPECT_NEAR(count[3] / double(n), 0.4, 0.01);
}

TEST(Sampling, DistPicksByInverseCdfOfTheCounterUniform) {
    // The literal rule: token = first id whose cumulative probability exceeds u(seed, seq, pos).
    auto lp = log_probs({0.1f, 0.2f, 0.3f, 0.4f});
    SamplerDist d(9, 5);
    const double cdf[4] = {0.1, 0.3, 0.6, 1.0};
    for (uint64_t pos = 0; pos < 200; ++pos) {
        double u = sampling_uniform(9, 5, pos);
        int expect = 0;
        while (expect < 3 && !(u < cdf[expect])) ++expect;
        if (std::fabs(u - cdf[expect]) < 1e-6 || (expect > 0 && std::fabs(u - cdf[expect - 1]) < 1e-6)) continue;
        auto c = make(lp);
        c.position = pos;
        d.apply(c);
        EXPECT_EQ(c.selected, expect) << "pos " << pos << " u " << u;
    }
}

TEST(Sampling, SameTripleSameTokenWhateverElseWasSampled) {
    std::vector<float> l = {0.3f, 0.1f, 0.5f, 0.2f};
    SamplingParams sp;
    sp.temperature = 1.3f;
    sp.seed = 1;
    auto a = sampling_make_chain(sp, 11);
    auto b = sampling_make_chain(sp, 11);
    std::vector<int32_t> first;
    for (uint64_t pos = 0; pos < 50; ++pos) first.push_back(a->sample(l.data(), 4, pos));
    // b samples the same positions in reverse order, interleaved with another sequence's draws.
    auto other = sampling_make_chain(sp, 12);
    for (int pos = 49; pos >= 0; --pos) {
        other->sample(l.data(), 4, static_cast<uint64_t>(pos));
        EXPECT_EQ(b->sample(l.data(), 4, static_cast<uint64_t>(pos)), first[static_cast<size_t>(pos)]);
    }
    // Different seq ids give different streams.
    auto c = sampling_make_chain(sp, 12);
    int same = 0;
    for (uint64_t pos = 0; pos < 50; ++pos) same += c->sample(l.data(), 4, pos) == first[pos];
    EXPECT_LT(same, 45);
}

TEST(Sampling, ChainTopKThenTopPRestrictsTheSupport) {
    // logits ln{0.1,0.2,0.3,0.4}; top_k 3 -> {3,2,1} renormalised {4/9,3/9,2/9}; top_p 0.7 -> {3,2}.
    auto lp = log_probs({0.1f, 0.2f, 0.3f, 0.4f});
    SamplingParams sp;
    sp.temperature = 1.0f;
    sp.top_k = 3;
    sp.top_p = 0.7f;
    auto chain = sampling_make_chain(sp, 0);
    EXPECT_EQ(chain->describe(), "temperature -> top_k -> top_p -> dist");
    std::set<int32_t> seen;
    int n3 = 0;
    const int n = 20000;
    for (int pos = 0; pos < n; ++pos) {
        int32_t t = chain->sample(lp.data(), 4, static_cast<uint64_t>(pos));
        seen.insert(t);
        n3 += t == 3;
    }
    EXPECT_EQ(seen, (std::set<int32_t>{2, 3}));
    EXPECT_NEAR(n3 / double(n), 4.0 / 7.0, 0.015);
}

TEST(Sampling, InvalidParametersAndNaNAreErrors) {
    SamplingParams sp;
    sp.top_p = 0.0f;
    EXPECT_THROW(sampling_make_chain(sp, 0), Error);
    sp.top_p = 1.5f;
    EXPECT_THROW(sampling_make_chain(sp, 0), Error);
    sp = SamplingParams{};
    sp.temperature = -1.0f;
    EXPECT_THROW(sampling_make_chain(sp, 0), Error);
    sp.temperature = NAN;
    EXPECT_THROW(sampling_make_chain(sp, 0), Error);
    sp = SamplingParams{};
    sp.top_k = -2;
    EXPECT_THROW(sampling_make_chain(sp, 0), Error);

    std::vector<float> bad = {0.0f, NAN, 1.0f, 0.0f};
    auto greedy = sampling_make_chain(SamplingParams{}, 0);
    EXPECT_THROW(greedy->sample(bad.data(), 4, 0), Error);
    SamplingParams t;
    t.temperature = 1.0f;
    auto dist = sampling_make_chain(t, 0);
    EXPECT_THROW(dist->sample(bad.data(), 4, 0), Error);
    EXPECT_THROW(dist->sample(bad.data(), 0, 0), Error);
}

TEST(Sampling, NegativeInfinityLogitsAreNeverSampled) {
    std::vector<float> l = {-INFINITY, 0.0f, -INFINITY, 0.0f};
    SamplingParams t;
    t.temperature = 1.0f;
    auto chain = sampling_make_chain(t, 0);
    for (uint64_t pos = 0; pos < 500; ++pos) {
        int32_t id = chain->sample(l.data(), 4, pos);
        EXPECT_TRUE(id == 1 || id == 3);
    }
}

}  // namespace
}  // namespace adabench
