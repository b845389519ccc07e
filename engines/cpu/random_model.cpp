// Random-weight models in memory: see random_model.h.
#include "engines/cpu/random_model.h"

#include <cmath>
#include <vector>

#include "engines/cpu/ops_ref.h"

namespace adabench {

namespace {

struct Rng {
    uint64_t s;
    uint64_t next() {  // splitmix64
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    float uniform() { return float(next() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }  // [-1, 1)
};

Tensor make_tensor(ModelWeights& w, const std::string& name, std::vector<int64_t> shape, DType dtype, Rng& rng,
                   float scale, float offset) {
    Tensor t;
    t.name = name;
    t.shape = std::move(shape);
    t.dtype = dtype;
    int64_t n = t.numel();
    if (dtype == DTYPE_F32) {
        t.owned = std::make_shared<std::vector<float>>(size_t(n));
        for (auto& f : *t.owned) f = offset + scale * rng.uniform();
        t.data = t.owned->data();
    } else {
        auto buf = std::make_shared<std::vector<uint16_t>>(size_t(n));
        for (auto& h : *buf) {
            float f = offset + scale * rng.uniform();
            if (dtype == DTYPE_BF16) {
                h = ref_f32_to_bf16(f);
            } else {  // f16: scale keeps values in the normal range; round by truncation is fine for random data
                uint32_t bits;
                std::memcpy(&bits, &f, 4);
                uint32_t sign = (bits >> 16) & 0x8000u;
                int exp = int((bits >> 23) & 0xff) - 127 + 15;
                uint32_t mant = (bits >> 13) & 0x3ffu;
                h = exp <= 0 ? uint16_t(sign) : uint16_t(sign | uint32_t(exp) << 10 | mant);
            }
        }
        t.data = buf->data();
        w.mappings.push_back(buf);
    }
    return t;
}

}  // namespace

std::shared_ptr<ModelWeights> cpu_random_model(const ModelConfig& c, DType dtype, uint64_t seed) {
    auto w = std::make_shared<ModelWeights>();
    w->config = c;
    w->source = "random(seed=" + std::to_string(seed) + ")";
    Rng rng{seed * 0x9e3779b97f4a7c15ull + 1};
    const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
    const int64_t q_dim = int64_t(c.n_heads) * c.head_dim, kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
    const float sC = 1.0f / std::sqrt(float(C)), sQ = 1.0f / std::sqrt(float(q_dim)), sI = 1.0f / std::sqrt(float(I));
    w->embed_tokens = make_tensor(*w, "model.embed_tokens.weight", {V, C}, dtype, rng, 1.0f, 0.0f);
    for (int l = 0; l < c.n_layers; ++l) {
        std::string p = "model.layers." + std::to_string(l) + ".";
        LayerWeights L;
        L.attn_norm = make_tensor(*w, p + "input_layernorm.weight", {C}, DTYPE_F32, rng, 0.1f, 1.0f);
        L.q_proj = make_tensor(*w, p + "self_attn.q_proj.weight", {q_dim, C}, dtype, rng, sC, 0.0f);
        L.k_proj = make_tensor(*w, p + "self_attn.k_proj.weight", {kv_dim, C}, dtype, rng, sC, 0.0f);
        L.v_proj = make_tensor(*w, p + "self_attn.v_proj.weight", {kv_dim, C}, dtype, rng, sC, 0.0f);
        L.o_proj = make_tensor(*w, p + "self_attn.o_proj.weight", {C, q_dim}, dtype, rng, sQ, 0.0f);
        if (c.attention_bias) {
            L.q_bias = make_tensor(*w, p + "self_attn.q_proj.bias", {q_dim}, DTYPE_F32, rng, 0.1f, 0.0f);
            L.k_bias = make_tensor(*w, p + "self_attn.k_proj.bias", {kv_dim}, DTYPE_F32, rng, 0.1f, 0.0f);
            L.v_bias = make_tensor(*w, p + "self_attn.v_proj.bias", {kv_dim}, DTYPE_F32, rng, 0.1f, 0.0f);
        }
        L.ffn_norm = make_tensor(*w, p + "post_attention_layernorm.weight", {C}, DTYPE_F32, rng, 0.1f, 1.0f);
        L.gate_proj = make_tensor(*w, p + "mlp.gate_proj.weight", {I, C}, dtype, rng, sC, 0.0f);
        L.up_proj = make_tensor(*w, p + "mlp.up_proj.weight", {I, C}, dtype, rng, sC, 0.0f);
        L.down_proj = make_tensor(*w, p + "mlp.down_proj.weight", {C, I}, dtype, rng, sI, 0.0f);
        w->layers.push_back(std::move(L));
    }
    w->final_norm = make_tensor(*w, "model.norm.weight", {C}, DTYPE_F32, rng, 0.1f, 1.0f);
    if (c.tie_word_embeddings) {
        w->lm_head = w->embed_tokens;
    } else {
        w->lm_head = make_tensor(*w, "lm_head.weight", {V, C}, dtype, rng, sC, 0.0f);
    }
    return w;
}

ModelConfig cpu_config_qwen2_0_5b() {
    ModelConfig c;
    c.architecture = "Qwen2ForCausalLM";
    c.model_type = "qwen2";
    c.vocab_size = 151936;
    c.hidden_size = 896;
    c.intermediate_size = 4864;
    c.n_layers = 24;
    c.n_heads = 14;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.max_position_embeddings = 32768;
    c.rms_norm_eps = 1e-6f;
    c.rope_theta = 1000000.0f;
    c.tie_word_embeddings = true;
    c.attention_bias = true;
    c.torch_dtype = "bfloat16";
    return c;
}

ModelConfig cpu_config_tiny(bool tied, int n_kv_heads) {
    ModelConfig c;
    c.architecture = "Qwen2ForCausalLM";
    c.model_type = "qwen2";
    c.vocab_size = 97;
    c.hidden_size = 64;
    c.intermediate_size = 96;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = n_kv_heads;
    c.head_dim = 16;
    c.max_position_embeddings = 256;
    c.rms_norm_eps = 1e-6f;
    c.rope_theta = 10000.0f;
    c.tie_word_embeddings = tied;
    c.attention_bias = true;
    c.torch_dtype = "float32";
    return c;
}

ModelConfig cpu_config_organism() {
    ModelConfig c = cpu_config_tiny(false, 2);
    c.vocab_size = 533;
    c.hidden_size = 256;
    c.intermediate_size = 512;
    c.n_layers = 4;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 64;
    c.max_position_embeddings = 1024;
    return c;
}

int64_t cpu_model_weight_bytes(const ModelWeights& w) {
    auto bytes = [](const Tensor& t) { return t.numel() * int64_t(t.dtype == DTYPE_F32 ? 4 : 2); };
    int64_t total = 0;
    for (const auto& L : w.layers)
        total += bytes(L.q_proj) + bytes(L.k_proj) + bytes(L.v_proj) + bytes(L.o_proj) + bytes(L.gate_proj) +
                 bytes(L.up_proj) + bytes(L.down_proj);
    total += bytes(w.lm_head.empty() ? w.embed_tokens : w.lm_head);
    return total;
}

}  // namespace adabench
