// compose: model merges — mergekit's lambda-list semantics (literal values), linear and task
// arithmetic per tensor group, recomputation on a new lambda from the same loaded inputs, tied
// embeddings, and mismatch errors naming the field or tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "common/error.h"
#include "engines/model/loader.h"
#include "engines/model/merge.h"

using namespace adabench;

namespace {

std::string fixture(const std::string& name) {
    return std::string(ADABENCH_SOURCE_DIR) + "/tests/fixtures/models/" + name;
}

// max |got - (la * a + lb * b)| over a tensor.
double max_diff_linear(const Tensor& got, const Tensor& a, const Tensor& b, double la, double lb) {
    auto g = tensor_to_f32(got), x = tensor_to_f32(a), y = tensor_to_f32(b);
    double worst = 0;
    for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::fabs(g[i] - (la * x[i] + lb * y[i])));
    return worst;
}

std::string merge_error(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(MergeLambda, MergekitGradientSemantics) {
    EXPECT_FLOAT_EQ(merge_lambda_at({0.3f}, 0.0), 0.3f);
    EXPECT_FLOAT_EQ(merge_lambda_at({0.3f}, 0.7), 0.3f);
    EXPECT_FLOAT_EQ(merge_lambda_at({0.2f, 0.9f}, 0.0), 0.2f);
    EXPECT_FLOAT_EQ(merge_lambda_at({0.2f, 0.9f}, 0.5), 0.55f);
    EXPECT_FLOAT_EQ(merge_lambda_at({0.2f, 0.9f}, 1.0), 0.9f);
    EXPECT_FLOAT_EQ(merge_lambda_at({1.0f, 2.0f, 3.0f}, 0.25), 1.5f);
    EXPECT_FLOAT_EQ(merge_lambda_at({1.0f, 2.0f, 3.0f}, 0.75), 2.5f);
    EXPECT_FLOAT_EQ(merge_lambda_at({1.0f, 2.0f, 3.0f}, 1.0), 3.0f);
    EXPECT_FLOAT_EQ(merge_lambda_at({0.0f, 1.0f, 0.0f, 1.0f}, 0.5), 0.5f);
    EXPECT_DOUBLE_EQ(merge_layer_t(0, 3), 0.0);
    EXPECT_DOUBLE_EQ(merge_layer_t(1, 3), 0.5);
    EXPECT_DOUBLE_EQ(merge_layer_t(2, 3), 1.0);
    EXPECT_DOUBLE_EQ(merge_layer_t(0, 1), 1.0);  // mergekit: a single layer gets t = 1
    EXPECT_THROW(merge_lambda_at({}, 0.5), Error);
}

TEST(Merge, LinearPerLayerList) {
    auto a = model_load(fixture("qwen2-tiny-random"));
    auto b = model_load(fixture("qwen2-tiny-random-b"));
    auto m = merge_linear(*a, *b, {0.2f, 0.9f});
    // Layers at t = 0, 0.5, 1 -> lambda 0.2, 0.55, 0.9.
    const double lam[3] = {0.2, 0.55, 0.9};
    for (int l = 0; l < 3; ++l) {
        const auto &M = m->layers[(size_t)l], &A = a->layers[(size_t)l], &B = b->layers[(size_t)l];
        EXPECT_LT(max_diff_linear(M.q_proj, A.q_proj, B.q_proj, lam[l], 1 - lam[l]), 1e-6) << l;
        EXPECT_LT(max_diff_linear(M.k_bias, A.k_bias, B.k_bias, lam[l], 1 - lam[l]), 1e-6) << l;
        EXPECT_LT(max_diff_linear(M.ffn_norm, A.ffn_norm, B.ffn_norm, lam[l], 1 - lam[l]), 1e-6) << l;
        EXPECT_LT(max_diff_linear(M.down_proj, A.down_proj, B.down_proj, lam[l], 1 - lam[l]), 1e-6) << l;
        EXPECT_TRUE(M.q_proj.owned);
    }
    // embed_tokens takes the first value, the final norm and lm_head the last.
    EXPECT_LT(max_diff_linear(m->embed_tokens, a->embed_tokens, b->embed_tokens, 0.2, 0.8), 1e-6);
    EXPECT_LT(max_diff_linear(m->final_norm, a->final_norm, b->final_norm, 0.9, 0.1), 1e-6);
    EXPECT_LT(max_diff_linear(m->lm_head, a->lm_head, b->lm_head, 0.9, 0.1), 1e-6);
    EXPECT_EQ(m->config.n_layers, 3);
}

TEST(Merge, NewLambdaRecomputesFromTheLoadedModels) {
    auto a = model_load(fixture("qwen2-tiny-random"));
    auto b = model_load(fixture("qwen2-tiny-random-b"));
    auto before = tensor_to_f32(a->layers[1].up_proj);
    auto m1 = merge_linear(*a, *b, {0.25f});
    auto m2 = merge_linear(*a, *b, {1.0f});
    EXPECT_LT(max_diff_linear(m1->layers[1].up_proj, a->layers[1].up_proj, b->layers[1].up_proj, 0.25, 0.75), 1e-6);
    EXPECT_EQ(tensor_to_f32(m2->layers[1].up_proj), before);  // lambda 1 is model A exactly
    EXPECT_EQ(tensor_to_f32(a->layers[1].up_proj), before);   // inputs untouched
    EXPECT_NE(m1->layers[1].up_proj.data, m2->layers[1].up_proj.data);
}

TEST(Merge, TaskArithmetic) {
    auto base = model_load(fixture("qwen2-tiny-random"));
    auto b = model_load(fixture("qwen2-tiny-random-b"));
    auto m = merge_task_arithmetic(*base, {b.get()}, {{1.4f, -0.3f, 0.5f}});
    // t = 0, 0.5, 1 -> 1.4, -0.3, 0.5 (list points hit exactly); theta = base + l (b - base) = (1 - l) base + l b.
    const double lam[3] = {1.4, -0.3, 0.5};
    for (int l = 0; l < 3; ++l) {
        const auto &M = m->layers[(size_t)l], &A = base->layers[(size_t)l], &B = b->layers[(size_t)l];
        EXPECT_LT(max_diff_linear(M.gate_proj, A.gate_proj, B.gate_proj, 1 - lam[l], lam[l]), 2e-6) << l;
        EXPECT_LT(max_diff_linear(M.v_bias, A.v_bias, B.v_bias, 1 - lam[l], lam[l]), 2e-6) << l;
    }
    EXPECT_LT(max_diff_linear(m->embed_tokens, base->embed_tokens, b->embed_tokens, 1 - 1.4, 1.4), 2e-6);
    EXPECT_LT(max_diff_linear(m->lm_head, base->lm_head, b->lm_head, 0.5, 0.5), 2e-6);
    // Two task vectors add.
    auto m2 = merge_task_arithmetic(*base, {b.get(), b.get()}, {{0.25f}, {0.5f}});
    EXPECT_LT(max_diff_linear(m2->layers[0].o_proj, base->layers[0].o_proj, b->layers[0].o_proj, 0.25, 0.75), 2e-6);
}

TEST(Merge, TiedEmbeddingsStayTied) {
    auto s = model_load(fixture("stories260K"));
    auto m = merge_linear(*s, *s, {0.3f, 0.6f});
    EXPECT_EQ(m->lm_head.data, m->embed_tokens.data);
    EXPECT_LT(max_diff_linear(m->embed_tokens, s->embed_tokens, s->embed_tokens, 1.0, 0.0), 1e-6);
    EXPECT_TRUE(m->mappings.empty());  // everything owned; the inputs may be unloaded
}

TEST(MergeErrors, MismatchedModels) {
    auto a = model_load(fixture("qwen2-tiny-random"));
    auto s = model_load(fixture("stories260K"));
    std::string msg = merge_error([&] { merge_linear(*a, *s, {0.5f}); });
    EXPECT_NE(msg.find("LlamaForCausalLM"), std::string::npos) << msg;

    // Same config, one tensor of another shape.
    ModelWeights odd = *a;
    odd.layers[1].v_bias.shape = {31};
    odd.source = "odd";
    msg = merge_error([&] { merge_linear(*a, odd, {0.5f}); });
    EXPECT_NE(msg.find("model.layers.1.self_attn.v_proj.bias"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[32]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[31]"), std::string::npos) << msg;

    ModelWeights wide = *a;
    wide.config.intermediate_size = 200;
    msg = merge_error([&] { merge_task_arithmetic(*a, {&wide}, {{0.5f}}); });
    EXPECT_NE(msg.find("intermediate_size (176 vs 200)"), std::string::npos) << msg;
}

TEST(MergeErrors, BadLambdas) {
    auto a = model_load(fixture("qwen2-tiny-random"));
    auto b = model_load(fixture("qwen2-tiny-random-b"));
    EXPECT_NE(merge_error([&] { merge_linear(*a, *b, {}); }).find("empty"), std::string::npos);
    EXPECT_NE(merge_error([&] { merge_linear(*a, *b, {NAN}); }).find("non-finite"), std::string::npos);
    EXPECT_NE(merge_error([&] { merge_task_arithmetic(*a, {b.get()}, {}); }).find("1 models but 0 lambdas"),
              std::string::npos);
    EXPECT_NE(merge_error([&] { merge_task_arithmetic(*a, {}, {}); }).find("at least one model"), std::string::npos);
}
