// compose: PEFT LoRA loading (f32 and bf16 files, ".default" names, rank/alpha patterns), checks
// against the base with the mismatch hint, and the merged composition W + sum c_i s_i B_i A_i
// against a double-precision recomputation.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/model/safetensors.h"

using namespace adabench;

namespace {

std::string fixture(const std::string& name) {
    return std::string(ADABENCH_SOURCE_DIR) + "/tests/fixtures/models/" + name;
}

std::string tmp_dir(const std::string& name) {
    std::string base = std::string(ADABENCH_BINARY_DIR) + "/tests-tmp";
    ::mkdir(base.c_str(), 0755);
    std::string d = base + "/compose-" + name;
    ::mkdir(d.c_str(), 0755);
    return d;
}

const char* k_config = R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"]})";

// Writes an adapter with the given tensors (all (rows, cols) f32 zeros-with-ones) and config.
void write_adapter(const std::string& dir, const std::string& config,
                   const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
    io_write_file_atomic(dir + "/adapter_config.json", config);
    std::vector<std::vector<float>> bufs;
    std::vector<SafetensorsWriteTensor> ts;
    bufs.reserve(tensors.size());
    for (const auto& [name, shape] : tensors) {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        bufs.emplace_back((size_t)n, 1.0f);
        ts.push_back({name, DTYPE_F32, shape, bufs.back().data()});
    }
    safetensors_write(dir + "/adapter_model.safetensors", ts);
}

std::string adapter_error(const std::string& dir, const ModelWeights& base) {
    try {
        lora_load_adapter(dir, base);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// W + sum_i c_i s_i B_i A_i in double, for one projection.
std::vector<double> expected_merge(const Tensor& w, const std::vector<std::pair<const LoraPair*, float>>& terms) {
    std::vector<float> base = tensor_to_f32(w);
    std::vector<double> out(base.begin(), base.end());
    int64_t n_out = w.shape[0], n_in = w.shape[1];
    for (const auto& [p, coef] : terms) {
        double s = (double)coef * p->base_scale;
        for (int64_t o = 0; o < n_out; ++o) {
            for (int64_t i = 0; i < n_in; ++i) {
                double acc = 0;
                for (int k = 0; k < p->r; ++k)
                    acc += (double)p->b[(size_t)(o * p->r + k)] * p->a[(size_t)(k * n_in + i)];
                out[(size_t)(o * n_in + i)] += s * acc;
            }
        }
    }
    return out;
}

void expect_close(const Tensor& got, const std::vector<double>& want, double tol) {
    std::vector<float> g = tensor_to_f32(got);
    ASSERT_EQ(g.size(), want.size());
    double worst = 0;
    for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::fabs(g[i] - want[i]));
    EXPECT_LE(worst, tol) << got.name;
}

}  // namespace

TEST(Lora, TargetNames) {
    EXPECT_STREQ(lora_target_name(LORA_TARGET_Q), "q_proj");
    EXPECT_STREQ(lora_target_name(LORA_TARGET_DOWN), "down_proj");
    EXPECT_EQ(lora_target_parse("gate_proj"), LORA_TARGET_GATE);
    EXPECT_EQ(lora_target_parse("lm_head"), LORA_TARGET_COUNT);
}

TEST(Lora, LoadF32Adapter) {
    auto base = model_load(fixture("qwen2-tiny-random"));
    auto a = lora_load_adapter(fixture("qwen2-tiny-lora-a"), *base);
    EXPECT_EQ(a->r, 4);
    EXPECT_FLOAT_EQ(a->alpha, 8.0f);
    EXPECT_FLOAT_EQ(a->scale(0.5f), 1.0f);  // 0.5 * 8 / 4
    EXPECT_EQ(a->target_modules, std::vector<std::string>({"q_proj", "k_proj", "v_proj", "o_proj"}));
    EXPECT_EQ(a->sha256.size(), 64u);
    ASSERT_EQ(a->layers.size(), 3u);
    const LoraPair& k = a->layers[2][LORA_TARGET_K];
    EXPECT_EQ(k.r, 4);
    EXPECT_EQ(k.n_in, 64);
    EXPECT_EQ(k.n_out, 32);
    EXPECT_FLOAT_EQ(k.base_scale, 2.0f);
    EXPECT_TRUE(a->layers[0][LORA_TARGET_GATE].empty());
    // The values are the file's.
    SafetensorsFile f = safetensors_open(fixture("qwen2-tiny-lora-a") + "/adapter_model.safetensors");
    const auto& ta = f.tensors.at("base_model.model.model.layers.2.self_attn.k_proj.lora_A.weight");
    std::vector<float> raw(k.a.size());
    std::memcpy(raw.data(), ta.data, raw.size() * 4);
    EXPECT_EQ(raw, k.a);
}

TEST(Lora, LoadBf16AdapterWithDefaultNamesAndPatterns) {
    auto base = model_load(fixture("qwen2-tiny-random"));
    auto b = lora_load_adapter(fixture("qwen2-tiny-lora-b"), *base);
    EXPECT_EQ(b->r, 8);
    const LoraPair& q = b->layers[0][LORA_TARGET_Q];
    EXPECT_EQ(q.r, 8);
    EXPECT_FLOAT_EQ(q.base_scale, 2.0f);
    const LoraPair& down = b->layers[1][LORA_TARGET_DOWN];
    EXPECT_EQ(down.r, 4);               // rank_pattern {down_proj: 4}
    EXPECT_FLOAT_EQ(down.alpha, 2.0f);  // alpha_pattern {down_proj: 2}
    EXPECT_FLOAT_EQ(down.base_scale, 0.5f);
    EXPECT_EQ(down.n_in, 176);
    EXPECT_EQ(down.n_out, 64);
    EXPECT_TRUE(b->layers[0][LORA_TARGET_K].empty());
    // bf16 values widen exactly: every value has a zero low half.
    for (float v : q.a) {
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        ASSERT_EQ(bits & 0xffffu, 0u);
    }
}

TEST(Lora, MergedCompositionMatchesDoublePrecision) {
    auto base = model_load(fixture("qwen2-tiny-random"));
    std::shared_ptr<const LoraAdapter> a = lora_load_adapter(fixture("qwen2-tiny-lora-a"), *base);
    std::shared_ptr<const LoraAdapter> b = lora_load_adapter(fixture("qwen2-tiny-lora-b"), *base);
    auto m = lora_merge_weights(*base, {a, b}, {0.8f, -0.6f});
    for (int l = 0; l < 3; ++l) {
        const LayerWeights& L = m->layers[(size_t)l];
        const LayerWeights& B = base->layers[(size_t)l];
        const auto& la = a->layers[(size_t)l];
        const auto& lb = b->layers[(size_t)l];
        expect_close(L.q_proj, expected_merge(B.q_proj, {{&la[LORA_TARGET_Q], 0.8f}, {&lb[LORA_TARGET_Q], -0.6f}}),
                     1e-5);
        expect_close(L.k_proj, expected_merge(B.k_proj, {{&la[LORA_TARGET_K], 0.8f}}), 1e-5);
        expect_close(L.v_proj, expected_merge(B.v_proj, {{&la[LORA_TARGET_V], 0.8f}, {&lb[LORA_TARGET_V], -0.6f}}),
                     1e-5);
        expect_close(L.o_proj, expected_merge(B.o_proj, {{&la[LORA_TARGET_O], 0.8f}}), 1e-5);
        expect_close(L.gate_proj, expected_merge(B.gate_proj, {{&lb[LORA_TARGET_GATE], -0.6f}}), 1e-5);
        expect_close(L.down_proj, expected_merge(B.down_proj, {{&lb[LORA_TARGET_DOWN], -0.6f}}), 1e-5);
        EXPECT_TRUE(L.q_proj.owned);
        // Untouched tensors are shared, not copied.
        EXPECT_EQ(L.attn_norm.data, B.attn_norm.data);
        EXPECT_EQ(L.q_bias.data, B.q_bias.data);
    }
    EXPECT_EQ(m->embed_tokens.data, base->embed_tokens.data);
    EXPECT_EQ(m->lm_head.data, base->lm_head.data);
    EXPECT_EQ(m->mappings.size(), base->mappings.size());
    // The base is unchanged (its views still read the file).
    EXPECT_FALSE(base->layers[0].q_proj.owned);
}

TEST(Lora, ZeroCoefficientSharesTheBase) {
    auto base = model_load(fixture("qwen2-tiny-random"));
    std::shared_ptr<const LoraAdapter> a = lora_load_adapter(fixture("qwen2-tiny-lora-a"), *base);
    auto m = lora_merge_weights(*base, {a}, {0.0f});
    EXPECT_EQ(m->layers[1].q_proj.data, base->layers[1].q_proj.data);
    EXPECT_THROW(lora_merge_weights(*base, {a}, {1.0f, 2.0f}), Error);
}

TEST(LoraErrors, AdapterForADifferentBase) {
    // stories260K has intermediate 172, the adapter's gate/up/down were made for 176.
    auto stories = model_load(fixture("stories260K"));
    std::string msg = adapter_error(fixture("qwen2-tiny-lora-b"), *stories);
    EXPECT_NE(msg.find("is this adapter for a different base model?"), std::string::npos) << msg;
    EXPECT_NE(msg.find("adapter_model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("gate_proj.weight is [172, 64]"), std::string::npos) << msg;
}

TEST(LoraErrors, BrokenAdapters) {
    auto base = model_load(fixture("qwen2-tiny-random"));
    const std::string p = "base_model.model.model.layers.";
    std::string d = tmp_dir("lora-missing-b");
    write_adapter(d, k_config, {{p + "0.self_attn.q_proj.lora_A.weight", {2, 64}}});
    EXPECT_NE(adapter_error(d, *base).find("has lora_A but no lora_B"), std::string::npos) << adapter_error(d, *base);

    d = tmp_dir("lora-unknown-module");
    write_adapter(d, k_config, {{p + "0.self_attn.x_proj.lora_A.weight", {2, 64}}});
    EXPECT_NE(adapter_error(d, *base).find("unknown module 'self_attn.x_proj'"), std::string::npos)
        << adapter_error(d, *base);

    d = tmp_dir("lora-layer");
    write_adapter(
        d, k_config,
        {{p + "7.self_attn.q_proj.lora_A.weight", {2, 64}}, {p + "7.self_attn.q_proj.lora_B.weight", {64, 2}}});
    std::string msg = adapter_error(d, *base);
    EXPECT_NE(msg.find("layer 7"), std::string::npos) << msg;
    EXPECT_NE(msg.find("different base model"), std::string::npos) << msg;

    d = tmp_dir("lora-shape");
    write_adapter(
        d, k_config,
        {{p + "0.self_attn.q_proj.lora_A.weight", {2, 63}}, {p + "0.self_attn.q_proj.lora_B.weight", {64, 2}}});
    msg = adapter_error(d, *base);
    EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj.weight is [64, 64]"), std::string::npos) << msg;

    d = tmp_dir("lora-rank");
    write_adapter(
        d, k_config,
        {{p + "0.self_attn.q_proj.lora_A.weight", {3, 64}}, {p + "0.self_attn.q_proj.lora_B.weight", {64, 3}}});
    EXPECT_NE(adapter_error(d, *base).find("rank 3 but adapter_config.json says 2"), std::string::npos)
        << adapter_error(d, *base);

    d = tmp_dir("lora-embed");
    write_adapter(d, k_config, {{"base_model.model.model.embed_tokens.lora_embedding_A", {2, 384}}});
    EXPECT_NE(adapter_error(d, *base).find("not a LoRA A/B matrix"), std::string::npos) << adapter_error(d, *base);

    d = tmp_dir("lora-dora");
    write_adapter(d, R"({"r":2,"lora_alpha":4,"use_dora":true})", {});
    EXPECT_NE(adapter_error(d, *base).find("'use_dora'"), std::string::npos) << adapter_error(d, *base);

    d = tmp_dir("lora-no-r");
    write_adapter(d, R"({"lora_alpha":4})", {});
    msg = adapter_error(d, *base);
    EXPECT_NE(msg.find("adapter_config.json: field 'r'"), std::string::npos) << msg;

    d = tmp_dir("lora-empty");
    write_adapter(d, k_config, {});
    EXPECT_NE(adapter_error(d, *base).find("no LoRA tensors"), std::string::npos) << adapter_error(d, *base);

    EXPECT_NE(adapter_error("/nonexistent/adapter", *base).find("/nonexistent/adapter/adapter_config.json"),
              std::string::npos);
}

TEST(Lora, AlphaZeroIsRefused) {
    // PEFT scales by alpha / r = 0, llama.cpp's get_scale by 1: refused rather than guessed (#20 D11).
    auto base = model_load(fixture("qwen2-tiny-random"));
    std::string d = tmp_dir("lora-alpha0");
    const std::string p = "base_model.model.model.layers.";
    write_adapter(d, R"({"r":2,"lora_alpha":0})",
                  {{p + "1.mlp.up_proj.lora_A.weight", {2, 64}}, {p + "1.mlp.up_proj.lora_B.weight", {176, 2}}});
    EXPECT_NE(adapter_error(d, *base).find("field 'lora_alpha' is 0"), std::string::npos) << adapter_error(d, *base);
}
