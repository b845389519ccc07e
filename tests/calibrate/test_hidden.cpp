// Backend::forward_hidden on the CPU backend: the last layer's hidden state through the final norm
// and lm_head gives forward()'s logits; a layer range entered by the previous range's output equals
// one run over all layers; the call keeps no positions (a later forward() is unchanged); bad
// ranges are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "common/error.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/cpu/random_model.h"
#include "engines/model/loader.h"

namespace adabench {
namespace {

std::shared_ptr<const ModelWeights> tiny(uint64_t seed) {
    return cpu_random_model(cpu_config_tiny(/*tied=*/false, /*n_kv_heads=*/2), DTYPE_F32, seed);
}

std::vector<float> hidden_of(Backend& b, const std::vector<std::vector<int32_t>>& prompts, int begin, int end,
                             const float* input) {
    BackendBatch batch;
    int64_t T = 0;
    for (const auto& p : prompts) {
        batch.slots.push_back(b.seq_alloc());
        batch.tokens.push_back(p);
        T += int64_t(p.size());
    }
    std::vector<float> h(size_t(end - begin) * size_t(T) * size_t(b.config().hidden_size));
    BackendHiddenRequest r;
    r.layer_begin = begin;
    r.layer_end = end;
    r.input = input;
    b.forward_hidden(batch, r, h.data());
    for (int s : batch.slots) b.seq_free(s);
    return h;
}

const std::vector<std::vector<int32_t>> kPrompts = {{1, 5, 9, 13, 2}, {7, 3}, {11, 12, 40, 41, 42, 43, 44}};

TEST(ForwardHidden, LastLayerThroughTheHeadGivesTheLogits) {
    auto w = tiny(7);
    CpuBackend b(w);
    const ModelConfig& c = w->config;
    const int C = c.hidden_size, V = c.vocab_size, L = c.n_layers;
    std::vector<float> h = hidden_of(b, kPrompts, 0, L, nullptr);
    const std::vector<float> norm = tensor_to_f32(w->final_norm), head = tensor_to_f32(w->lm_head);
    int64_t T = 0;
    for (const auto& p : kPrompts) T += int64_t(p.size());
    int64_t last = -1;
    for (const auto& p : kPrompts) {
        last += int64_t(p.size());
        // logits of this prompt's last token from forward(), on a fresh slot
        int slot = b.seq_alloc();
        std::vector<float> logits(static_cast<size_t>(V));
        b.forward(BackendBatch{{slot}, {p}, {}}, logits.data());
        b.seq_free(slot);
        const float* x = h.data() + (int64_t(L - 1) * T + last) * C;
        double ss = 0;
        for (int i = 0; i < C; ++i) ss += double(x[i]) * x[i];
        const double inv = 1.0 / std::sqrt(ss / C + c.rms_norm_eps);
        double max_diff = 0;
        for (int v = 0; v < V; ++v) {
            double acc = 0;
            for (int i = 0; i < C; ++i) acc += double(head[size_t(v) * C + i]) * x[i] * inv * norm[size_t(i)];
            max_diff = std::max(max_diff, std::fabs(acc - logits[size_t(v)]));
        }
        EXPECT_LT(max_diff, 1e-4) << "prompt ending at token " << last;
    }
}

TEST(ForwardHidden, RangesChainAndMatchOneRun) {
    auto w = tiny(8);
    CpuBackend b(w);
    const int L = w->config.n_layers, C = w->config.hidden_size;
    ASSERT_GE(L, 2);
    std::vector<float> all = hidden_of(b, kPrompts, 0, L, nullptr);
    std::vector<float> first = hidden_of(b, kPrompts, 0, 1, nullptr);
    std::vector<float> rest = hidden_of(b, kPrompts, 1, L, first.data());
    const size_t layer = first.size();
    ASSERT_EQ(all.size(), layer * size_t(L));
    double max_diff = 0;
    for (size_t i = 0; i < layer; ++i) max_diff = std::max(max_diff, double(std::fabs(all[i] - first[i])));
    for (size_t i = 0; i < rest.size(); ++i) max_diff = std::max(max_diff, double(std::fabs(all[layer + i] - rest[i])));
    EXPECT_LE(max_diff, 1e-6);
    (void)C;
}

TEST(ForwardHidden, KeepsNoPositions) {
    auto w = tiny(9);
    CpuBackend b(w), fresh(w);
    const int V = w->config.vocab_size, L = w->config.n_layers;
    // A slot with a prefix; forward_hidden of more tokens on it; then forward() must see only the prefix.
    int slot = b.seq_alloc(), ref = fresh.seq_alloc();
    std::vector<float> l1(static_cast<size_t>(V)), l2(static_cast<size_t>(V));
    b.forward(BackendBatch{{slot}, {{3, 4, 5}}, {}}, l1.data());
    fresh.forward(BackendBatch{{ref}, {{3, 4, 5}}, {}}, l2.data());
    std::vector<float> h(size_t(L) * 4 * size_t(w->config.hidden_size));
    b.forward_hidden(BackendBatch{{slot}, {{20, 21, 22, 23}}, {}}, BackendHiddenRequest{}, h.data());
    EXPECT_EQ(b.seq_len(slot), 3);
    b.forward(BackendBatch{{slot}, {{6}}, {}}, l1.data());
    fresh.forward(BackendBatch{{ref}, {{6}}, {}}, l2.data());
    EXPECT_EQ(l1, l2);
}

TEST(ForwardHidden, RefusesBadRanges) {
    auto w = tiny(10);
    CpuBackend b(w);
    const int L = w->config.n_layers;
    int slot = b.seq_alloc();
    std::vector<float> h(size_t(L) * 2 * size_t(w->config.hidden_size));
    BackendBatch batch{{slot}, {{1, 2}}, {}};
    BackendHiddenRequest r;
    r.layer_begin = 1;  // no input
    EXPECT_THROW(b.forward_hidden(batch, r, h.data()), Error);
    r = BackendHiddenRequest{};
    r.layer_end = L + 1;
    EXPECT_THROW(b.forward_hidden(batch, r, h.data()), Error);
    r.layer_begin = 1;
    r.layer_end = 1;
    r.input = h.data();
    EXPECT_THROW(b.forward_hidden(batch, r, h.data()), Error);
    EXPECT_EQ(b.seq_len(slot), 0);
}

}  // namespace
}  // namespace adabench
