// Logits rows and chains shared by the sampling-kernel tests (tests/cuda/test_cuda_sample.cpp on the
// device and emulated, tests/emulation/test_sample_kernel.cpp at a small block size): rows shaped
// to hit every path of the kernel, and the host's nucleus size that says when a row may come back.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "engines/cuda/sample.cuh"

namespace adabench {
namespace sample_test {

// The host's nucleus size for top-p alone: whether the kernel may hand the row back.
inline size_t nucleus_size(const float* row, int V, float t, float top_p) {
    std::vector<float> l(static_cast<size_t>(V));
    for (size_t i = 0; i < l.size(); ++i) l[i] = row[i] / t;
    std::vector<size_t> idx(l.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return l[a] > l[b]; });
    const float m = l[idx[0]];
    double sum = 0.0;
    for (float x : l) sum += std::exp(x - m);
    double cum = 0.0;
    for (size_t i = 0; i < idx.size(); ++i) {
        cum += static_cast<float>(std::exp(l[idx[i]] - m) / sum);
        if (cum >= top_p) return i + 1;
    }
    return idx.size();
}

inline std::vector<float> make_row(int V, int kind, std::mt19937& rng) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> row(static_cast<size_t>(V));
    for (float& x : row) x = nd(rng);
    switch (kind) {
        case 0:  // peaked
            for (float& x : row) x *= 6.0f;
            break;
        case 1:  // flat: a nucleus wider than the window when V is large
            for (float& x : row) x *= 0.05f;
            break;
        case 2:  // exact ties: a handful of distinct values
            for (float& x : row) x = std::round(x * 2.0f);
            break;
        case 3:  // mostly masked
            for (size_t i = 0; i < row.size(); ++i)
                if (i % 7 != 3) row[i] = -INFINITY;
            break;
        default:  // one dominant token over a long tail
            for (float& x : row) x *= 2.0f;
            row[rng() % static_cast<unsigned>(V)] += 12.0f;
    }
    return row;
}

struct Case {
    float temperature, top_p;
    int top_k;
};

// n_rows rows of vocabulary V (shape r % 5) with cases[r % size] as their chains, seed
// seed_base + r, sequence r, and the uniform of position_of(r).
struct SampleRows {
    std::vector<float> logits;
    std::vector<SamplingParams> params;
    std::vector<CudaSampleRow> rows;
};

inline SampleRows make_rows(int V, int n_rows, const std::vector<Case>& cases, uint32_t seed, uint64_t seed_base,
                            const std::function<uint64_t(int)>& position_of) {
    std::mt19937 rng(seed);
    SampleRows out;
    for (int r = 0; r < n_rows; ++r) {
        std::vector<float> row = make_row(V, r % 5, rng);
        out.logits.insert(out.logits.end(), row.begin(), row.end());
        const Case& c = cases[static_cast<size_t>(r) % cases.size()];
        SamplingParams p;
        p.temperature = c.temperature;
        p.top_p = c.top_p;
        p.top_k = c.top_k;
        p.seed = seed_base + static_cast<uint64_t>(r);
        out.params.push_back(p);
        out.rows.push_back(cuda_sample_row(p, static_cast<uint64_t>(r), position_of(r)));
    }
    return out;
}

}  // namespace sample_test
}  // namespace adabench
