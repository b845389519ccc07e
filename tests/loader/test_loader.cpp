// loader: model_load on the tiny fixtures (Qwen2 with bias and untied embeddings, Llama with tied
// embeddings), missing / mismatched / unexpected tensors, dtype conversions, model_save round trip.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/config.h"
#include "engines/model/loader.h"
#include "engines/model/safetensors.h"

using namespace adabench;

namespace {

std::string model_dir(const std::string& name) {
    return std::string(ADABENCH_SOURCE_DIR) + "/tests/fixtures/models/" + name;
}

std::string tmp_dir(const std::string& name) {
    std::string base = std::string(ADABENCH_BINARY_DIR) + "/tests-tmp";
    ::mkdir(base.c_str(), 0755);
    std::string d = base + "/loader-" + name;
    ::mkdir(d.c_str(), 0755);
    return d;
}

// Copies the tiny Qwen2 into `dir`, letting `edit` change the tensor list first.
void write_variant(const std::string& dir, const std::function<void(std::vector<SafetensorsWriteTensor>&)>& edit) {
    SafetensorsFile f = safetensors_open(model_dir("qwen2-tiny-random") + "/model.safetensors");
    std::vector<SafetensorsWriteTensor> ts;
    for (const auto& [name, t] : f.tensors) ts.push_back({name, t.dtype, t.shape, t.data});
    edit(ts);
    safetensors_write(dir + "/model.safetensors", ts);
    io_write_file_atomic(dir + "/config.json", io_read_file(model_dir("qwen2-tiny-random") + "/config.json"));
}

std::string load_error(const std::string& dir) {
    try {
        model_load(dir);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(Loader, TinyQwen2) {
    auto w = model_load(model_dir("qwen2-tiny-random"));
    const ModelConfig& c = w->config;
    EXPECT_EQ(c.vocab_size, 384);
    EXPECT_EQ(c.hidden_size, 64);
    EXPECT_EQ(c.n_layers, 3);
    EXPECT_EQ(c.n_heads, 4);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_TRUE(c.attention_bias);
    EXPECT_FALSE(c.tie_word_embeddings);
    ASSERT_EQ(w->layers.size(), 3u);
    EXPECT_EQ(w->embed_tokens.shape, std::vector<int64_t>({384, 64}));
    EXPECT_EQ(w->lm_head.shape, std::vector<int64_t>({384, 64}));
    EXPECT_NE(w->lm_head.data, w->embed_tokens.data);
    const LayerWeights& L = w->layers[2];
    EXPECT_EQ(L.q_proj.shape, std::vector<int64_t>({64, 64}));
    EXPECT_EQ(L.k_proj.shape, std::vector<int64_t>({32, 64}));
    EXPECT_EQ(L.o_proj.shape, std::vector<int64_t>({64, 64}));
    EXPECT_EQ(L.k_bias.shape, std::vector<int64_t>({32}));
    EXPECT_EQ(L.gate_proj.shape, std::vector<int64_t>({176, 64}));
    EXPECT_EQ(L.down_proj.shape, std::vector<int64_t>({64, 176}));
    EXPECT_EQ(L.q_proj.name, "model.layers.2.self_attn.q_proj.weight");
    EXPECT_EQ(L.q_proj.dtype, DTYPE_F32);
    EXPECT_FALSE(L.v_bias.empty());
    EXPECT_FALSE(w->mappings.empty());
    EXPECT_FALSE(L.q_proj.owned);  // a view into the mapping, not a copy
}

TEST(Loader, Stories260KLlamaTied) {
    auto w = model_load(model_dir("stories260K"));
    const ModelConfig& c = w->config;
    EXPECT_EQ(c.architecture, "LlamaForCausalLM");
    EXPECT_EQ(c.vocab_size, 512);
    EXPECT_EQ(c.hidden_size, 64);
    EXPECT_EQ(c.intermediate_size, 172);
    EXPECT_EQ(c.n_layers, 5);
    EXPECT_EQ(c.n_heads, 8);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_FALSE(c.attention_bias);
    EXPECT_EQ(w->lm_head.data, w->embed_tokens.data);
    EXPECT_TRUE(w->layers[0].q_bias.empty());
}

TEST(Loader, TensorNames) {
    EXPECT_EQ(model_tensor_name(-1, "embed_tokens"), "model.embed_tokens.weight");
    EXPECT_EQ(model_tensor_name(-1, "final_norm"), "model.norm.weight");
    EXPECT_EQ(model_tensor_name(-1, "lm_head"), "lm_head.weight");
    EXPECT_EQ(model_tensor_name(7, "v_bias"), "model.layers.7.self_attn.v_proj.bias");
    EXPECT_EQ(model_tensor_name(0, "ffn_norm"), "model.layers.0.post_attention_layernorm.weight");
    EXPECT_THROW(model_tensor_name(0, "nope"), Error);
}

TEST(LoaderErrors, MissingTensorsAreListed) {
    std::string d = tmp_dir("missing");
    write_variant(d, [](auto& ts) {
        std::erase_if(ts, [](const auto& t) {
            return t.name == "model.layers.1.mlp.up_proj.weight" || t.name == "lm_head.weight" ||
                   t.name == "model.layers.0.self_attn.k_proj.bias";
        });
    });
    std::string msg = load_error(d);
    EXPECT_NE(msg.find("missing tensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lm_head.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.layers.0.self_attn.k_proj.bias"), std::string::npos) << msg;
}

TEST(LoaderErrors, ShapeMismatchNamesTensorAndBothShapes) {
    std::string d = tmp_dir("shape");
    std::vector<float> bad(64 * 63, 0.0f);
    write_variant(d, [&](auto& ts) {
        for (auto& t : ts) {
            if (t.name == "model.layers.2.self_attn.o_proj.weight") {
                t.shape = {64, 63};
                t.data = bad.data();
            }
        }
    });
    std::string msg = load_error(d);
    EXPECT_NE(msg.find("model.layers.2.self_attn.o_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[64, 63]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[64, 64]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
}

TEST(LoaderErrors, UnexpectedTensor) {
    std::string d = tmp_dir("unexpected");
    std::vector<float> extra(64, 1.0f);
    write_variant(d, [&](auto& ts) {
        ts.push_back({"model.layers.0.self_attn.q_norm.weight", DTYPE_F32, {64}, extra.data()});
    });
    std::string msg = load_error(d);
    EXPECT_NE(msg.find("unexpected tensor 'model.layers.0.self_attn.q_norm.weight'"), std::string::npos) << msg;
    // rotary_emb.inv_freq buffers from old exports are ignored.
    write_variant(d, [&](auto& ts) {
        ts.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", DTYPE_F32, {8}, extra.data()});
    });
    EXPECT_EQ(load_error(d), "");
}

TEST(LoaderErrors, NotADirectoryAndUnloadableArchitecture) {
    EXPECT_NE(load_error("/nonexistent/model").find("not a directory"), std::string::npos);
    std::string d = tmp_dir("qwen3");
    io_write_file_atomic(d + "/config.json",
                         io_read_file(std::string(ADABENCH_SOURCE_DIR) + "/tests/fixtures/configs/Qwen3-0.6B.json"));
    std::string msg = load_error(d);
    EXPECT_NE(msg.find("Qwen3ForCausalLM parses but cannot be loaded"), std::string::npos) << msg;
}

TEST(Convert, Bf16RoundToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
    // 1 + 2^-8 is exactly half way between bf16 1.0 and 1.0078125: ties to even (1.0).
    EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);
    // 1.0078125 + 2^-8 is half way up from an odd mantissa: rounds up to even.
    EXPECT_EQ(f32_to_bf16(1.0078125f + 1.0f / 256), 0x3f82);
    EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256 + 1.0f / 65536), 0x3f81);  // above half: up
    EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
    EXPECT_EQ(f32_to_bf16(3.4028235e38f), 0x7f80);  // max float rounds to infinity in bf16
    EXPECT_EQ(bf16_to_f32(0x4049), 3.140625f);
}

TEST(Convert, F16) {
    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
    EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                       // half way to the next step: rounds to infinity
    EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048), 0x3c00);             // tie to even
    EXPECT_EQ(f32_to_f16(1.0f + 3.0f / 2048), 0x3c02);             // tie to even (up)
    EXPECT_EQ(f32_to_f16(5.9604645e-8f), 0x0001);                  // smallest subnormal
    EXPECT_EQ(f32_to_f16(0.5f * 5.9604644775390625e-8f), 0x0000);  // half of it: tie to even (0)
    EXPECT_EQ(f32_to_f16(1.5f * 5.9604644775390625e-8f), 0x0002);  // 1.5 steps: tie to even (2)
    EXPECT_EQ(f32_to_f16(6.097555e-5f), 0x03ff);                   // largest subnormal
    EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
    EXPECT_EQ(f16_to_f32(0x0001), 5.9604644775390625e-8f);
    EXPECT_EQ(f16_to_f32(0x8400), -6.103515625e-5f);
    EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
    EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
    // Every finite half survives f16 -> f32 -> f16 exactly.
    for (uint32_t h = 0; h < 0x10000; ++h) {
        if ((h & 0x7c00) == 0x7c00) continue;
        ASSERT_EQ(f32_to_f16(f16_to_f32((uint16_t)h)), h) << std::hex << h;
    }
}

TEST(Convert, TensorToF32) {
    uint16_t bf[3] = {0x3f80, 0xc000, 0x4049};
    Tensor t;
    t.dtype = DTYPE_BF16;
    t.shape = {3};
    t.data = bf;
    EXPECT_EQ(tensor_to_f32(t), std::vector<float>({1.0f, -2.0f, 3.140625f}));
    uint16_t hf[2] = {0x3c00, 0xbc00};
    t.dtype = DTYPE_F16;
    t.shape = {2};
    t.data = hf;
    EXPECT_EQ(tensor_to_f32(t), std::vector<float>({1.0f, -1.0f}));
    Tensor o = tensor_new_f32({2, 2}, "o");
    tensor_f32_mut(o)[3] = 7.0f;
    EXPECT_EQ(tensor_to_f32(o)[3], 7.0f);
    EXPECT_THROW(tensor_f32_mut(t), Error);
}

TEST(Loader, SaveAsBf16AndReload) {
    auto w = model_load(model_dir("qwen2-tiny-random"));
    std::string d = tmp_dir("save-bf16");
    model_save(*w, d, DTYPE_BF16);
    auto r = model_load(d);
    EXPECT_EQ(r->config.torch_dtype, "bfloat16");
    EXPECT_EQ(r->layers[1].up_proj.dtype, DTYPE_BF16);
    std::vector<float> a = tensor_to_f32(w->layers[1].up_proj);
    std::vector<float> b = tensor_to_f32(r->layers[1].up_proj);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(b[i], bf16_to_f32(f32_to_bf16(a[i])));
    // f32 save is lossless.
    std::string d32 = tmp_dir("save-f32");
    model_save(*w, d32, DTYPE_F32);
    auto r32 = model_load(d32);
    EXPECT_EQ(tensor_to_f32(r32->lm_head), tensor_to_f32(w->lm_head));
    EXPECT_EQ(tensor_to_f32(r32->layers[0].q_bias), tensor_to_f32(w->layers[0].q_bias));
}

TEST(Loader, MisalignedTensorsAreCopiedAligned) {
    // A legal but odd file: a 2-byte gap before the data, so every f32 tensor is misaligned in the
    // mapping. The loader must hand out aligned fp32 copies with the same values.
    std::string bytes = io_read_file(model_dir("qwen2-tiny-random") + "/model.safetensors");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | (unsigned char)bytes[(size_t)i];
    nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n));
    for (auto& [name, e] : h.items()) {
        if (name == "__metadata__") continue;
        e["data_offsets"][0] = e["data_offsets"][0].get<uint64_t>() + 2;
        e["data_offsets"][1] = e["data_offsets"][1].get<uint64_t>() + 2;
    }
    std::string hs = h.dump();
    while (hs.size() % 8) hs.push_back(' ');
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[(size_t)i] = (char)((hs.size() >> (8 * i)) & 0xff);
    out += hs + std::string(2, '\0') + bytes.substr(8 + n);
    std::string d = tmp_dir("misaligned");
    io_write_file_atomic(d + "/model.safetensors", out);
    io_write_file_atomic(d + "/config.json", io_read_file(model_dir("qwen2-tiny-random") + "/config.json"));
    auto w = model_load(d);
    auto ref = model_load(model_dir("qwen2-tiny-random"));
    EXPECT_TRUE(w->layers[1].v_proj.owned);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w->layers[1].v_proj.data) % 4, 0u);
    EXPECT_EQ(tensor_to_f32(w->layers[1].v_proj), tensor_to_f32(ref->layers[1].v_proj));
    EXPECT_EQ(tensor_to_f32(w->embed_tokens), tensor_to_f32(ref->embed_tokens));
}

TEST(Loader, ShardedCheckpoint) {
    // The tiny model split over two shards with an index; the loader sees the same tensors.
    SafetensorsFile f = safetensors_open(model_dir("qwen2-tiny-random") + "/model.safetensors");
    std::vector<SafetensorsWriteTensor> first, second;
    nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
    for (const auto& [name, t] : f.tensors) {
        bool one = name.find("layers.2.") == std::string::npos && name != "lm_head.weight";
        (one ? first : second).push_back({name, t.dtype, t.shape, t.data});
        index["weight_map"][name] = one ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    }
    std::string d = tmp_dir("sharded");
    safetensors_write(d + "/model-00001-of-00002.safetensors", first);
    safetensors_write(d + "/model-00002-of-00002.safetensors", second);
    io_write_file_atomic(d + "/model.safetensors.index.json", index.dump());
    io_write_file_atomic(d + "/config.json", io_read_file(model_dir("qwen2-tiny-random") + "/config.json"));
    auto w = model_load(d);
    auto ref = model_load(model_dir("qwen2-tiny-random"));
    EXPECT_EQ(w->mappings.size(), 2u);
    EXPECT_EQ(tensor_to_f32(w->layers[2].down_proj), tensor_to_f32(ref->layers[2].down_proj));
    EXPECT_EQ(tensor_to_f32(w->lm_head), tensor_to_f32(ref->lm_head));
    EXPECT_EQ(tensor_to_f32(w->layers[0].q_bias), tensor_to_f32(ref->layers[0].q_bias));
}
