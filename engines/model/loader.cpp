// model_load: config.json + safetensors -> ModelWeights through a tensor-name table; dtype helpers.
#include "engines/model/loader.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/config.h"
#include "engines/model/safetensors.h"

namespace adabench {

// ---- scalar conversions -------------------------------------------------------------------------

namespace {
uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
float bits_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
}  // namespace

float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);  // quiet NaN, sign kept
    x += 0x7fffu + ((x >> 16) & 1u);                                           // round to nearest even
    return (uint16_t)(x >> 16);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        float v = (float)mant * 5.9604644775390625e-8f;  // mant * 2^-24, exact
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // >= 65520 rounds to infinity
    if (ax < 0x38800000u) {                                    // below 2^-14: subnormal half
        // value / 2^-24 is exact in float; nearbyint rounds half to even in the default mode.
        uint32_t m = (uint32_t)std::nearbyint(bits_f32(ax) * 16777216.0f);
        return (uint16_t)(sign | m);
    }
    ax += 0xfffu + ((ax >> 13) & 1u);
    ax -= 112u << 23;
    return (uint16_t)(sign | (ax >> 13));
}

// Compiled for AVX-512 / AVX2 / generic and picked at run time (GCC function multi-versioning):
// merges and LoRA merges convert whole models through here.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void tensor_convert_f32(DType dtype,
                                                                                                      const void* src,
                                                                                                      float* dst,
                                                                                                      int64_t n) {
    const auto* p = static_cast<const unsigned char*>(src);
    switch (dtype) {
        case DTYPE_F32:
            std::memcpy(dst, p, (size_t)n * 4);
            return;
        case DTYPE_BF16: {
            // Blocks of a known size so the -O2 vectoriser widens them (shift into the high half).
            int64_t i = 0;
            uint16_t h[64];
            uint32_t u[64];
            for (; i + 64 <= n; i += 64) {
                std::memcpy(h, p + 2 * i, sizeof(h));
                for (int j = 0; j < 64; ++j) u[j] = (uint32_t)h[j] << 16;
                std::memcpy(dst + i, u, sizeof(u));
            }
            for (; i < n; ++i) {
                uint16_t x;
                std::memcpy(&x, p + 2 * i, 2);
                dst[i] = bf16_to_f32(x);
            }
            return;
        }
        case DTYPE_F16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                dst[i] = f16_to_f32(h);
            }
            return;
    }
}

namespace {

// Largest |x| bit pattern of n elements (sign cleared); x is inf or NaN iff it reaches the dtype's
// exponent mask. An unsigned max reduction over fixed-size blocks, so the -O2 vectoriser widens it
// (multi-versioned like tensor_convert_f32): the scan runs at memory speed.
template <typename U>
__attribute__((always_inline)) inline U max_magnitude(const unsigned char* p, int64_t n, U mask) {
    constexpr int64_t k_block = 64;
    U block[k_block];
    U m = 0;
    int64_t i = 0;
    for (; i + k_block <= n; i += k_block) {
        std::memcpy(block, p + i * (int64_t)sizeof(U), sizeof(block));
        for (int64_t j = 0; j < k_block; ++j) {
            U v = block[j] & mask;
            m = v > m ? v : m;
        }
    }
    for (; i < n; ++i) {
        U v;
        std::memcpy(&v, p + i * (int64_t)sizeof(U), sizeof(U));
        v &= mask;
        m = v > m ? v : m;
    }
    return m;
}

}  // namespace

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) bool tensor_data_finite(DType dtype,
                                                                                                      const void* data,
                                                                                                      int64_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    switch (dtype) {
        case DTYPE_F32:
            return max_magnitude<uint32_t>(p, n, 0x7fffffffu) < 0x7f800000u;
        case DTYPE_BF16:
            return max_magnitude<uint16_t>(p, n, 0x7fffu) < 0x7f80u;
        case DTYPE_F16:
            return max_magnitude<uint16_t>(p, n, 0x7fffu) < 0x7c00u;
    }
    return true;
}

// Index and kind of the first non-finite element (only on the error path).
std::string tensor_data_describe_nonfinite(DType dtype, const void* data, int64_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (int64_t i = 0; i < n; ++i) {
        uint32_t v = 0;
        bool nan = false, bad = false;
        if (dtype == DTYPE_F32) {
            std::memcpy(&v, p + 4 * i, 4);
            bad = (v & 0x7f800000u) == 0x7f800000u;
            nan = bad && (v & 0x7fffffu) != 0;
        } else {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            uint16_t exp = dtype == DTYPE_BF16 ? 0x7f80u : 0x7c00u;
            bad = (h & exp) == exp;
            nan = bad && (h & static_cast<uint16_t>(~(exp | 0x8000u))) != 0;
            v = h;
        }
        if (bad) {
            bool neg = dtype == DTYPE_F32 ? (v >> 31) != 0 : (v >> 15) != 0;
            return std::string(nan ? "NaN" : neg ? "-inf" : "+inf") + " at element " + std::to_string(i);
        }
    }
    return "a non-finite value";
}

std::vector<float> tensor_to_f32(const Tensor& t) {
    std::vector<float> out((size_t)t.numel());
    if (t.numel() > 0) {
        if (!t.data) throw Error("tensor '" + t.name + "' has no data");
        tensor_convert_f32(t.dtype, t.data, out.data(), t.numel());
    }
    return out;
}

Tensor tensor_new_f32(std::vector<int64_t> shape, const std::string& name) {
    Tensor t;
    t.dtype = DTYPE_F32;
    t.shape = std::move(shape);
    t.name = name;
    t.owned = std::make_shared<std::vector<float>>((size_t)t.numel(), 0.0f);
    t.data = t.owned->data();
    return t;
}

float* tensor_f32_mut(Tensor& t) {
    if (!t.owned || t.data != t.owned->data() || t.dtype != DTYPE_F32) {
        throw Error("tensor '" + t.name + "' is a read-only view, not an owned fp32 tensor");
    }
    return t.owned->data();
}

// ---- the name table -----------------------------------------------------------------------------

namespace {

// Symbolic dimensions resolved against the config.
enum Dim { DIM_NONE, DIM_V, DIM_C, DIM_I, DIM_Q, DIM_KV };

struct LayerTensorSpec {
    const char* role;    // LayerWeights field name
    const char* suffix;  // after "model.layers.N."
    Tensor LayerWeights::*field;
    Dim d0, d1;
    bool is_bias;  // present only with attention_bias
};

const LayerTensorSpec k_layer_tensors[] = {
    {"attn_norm", "input_layernorm.weight", &LayerWeights::attn_norm, DIM_C, DIM_NONE, false},
    {"q_proj", "self_attn.q_proj.weight", &LayerWeights::q_proj, DIM_Q, DIM_C, false},
    {"k_proj", "self_attn.k_proj.weight", &LayerWeights::k_proj, DIM_KV, DIM_C, false},
    {"v_proj", "self_attn.v_proj.weight", &LayerWeights::v_proj, DIM_KV, DIM_C, false},
    {"o_proj", "self_attn.o_proj.weight", &LayerWeights::o_proj, DIM_C, DIM_Q, false},
    {"q_bias", "self_attn.q_proj.bias", &LayerWeights::q_bias, DIM_Q, DIM_NONE, true},
    {"k_bias", "self_attn.k_proj.bias", &LayerWeights::k_bias, DIM_KV, DIM_NONE, true},
    {"v_bias", "self_attn.v_proj.bias", &LayerWeights::v_bias, DIM_KV, DIM_NONE, true},
    {"ffn_norm", "post_attention_layernorm.weight", &LayerWeights::ffn_norm, DIM_C, DIM_NONE, false},
    {"gate_proj", "mlp.gate_proj.weight", &LayerWeights::gate_proj, DIM_I, DIM_C, false},
    {"up_proj", "mlp.up_proj.weight", &LayerWeights::up_proj, DIM_I, DIM_C, false},
    {"down_proj", "mlp.down_proj.weight", &LayerWeights::down_proj, DIM_C, DIM_I, false},
};

struct GlobalTensorSpec {
    const char* role;
    const char* name;
    Tensor ModelWeights::*field;
    Dim d0, d1;
};

const GlobalTensorSpec k_global_tensors[] = {
    {"embed_tokens", "model.embed_tokens.weight", &ModelWeights::embed_tokens, DIM_V, DIM_C},
    {"final_norm", "model.norm.weight", &ModelWeights::final_norm, DIM_C, DIM_NONE},
    {"lm_head", "lm_head.weight", &ModelWeights::lm_head, DIM_V, DIM_C},
};

// Architectures the loader can fill ModelWeights for; Qwen3 parses as a config but has per-head
// q/k norms that ModelWeights has no place for.
struct LoaderArch {
    const char* architecture;
    bool bias_allowed;  // q/k/v bias (Qwen2); Llama's attention_bias also biases o_proj
};
const LoaderArch k_loader_archs[] = {
    {"Qwen2ForCausalLM", true},
    {"LlamaForCausalLM", false},
};

int64_t dim_value(Dim d, const ModelConfig& c) {
    switch (d) {
        case DIM_NONE:
            return 0;
        case DIM_V:
            return c.vocab_size;
        case DIM_C:
            return c.hidden_size;
        case DIM_I:
            return c.intermediate_size;
        case DIM_Q:
            return (int64_t)c.n_heads * c.head_dim;
        case DIM_KV:
            return (int64_t)c.n_kv_heads * c.head_dim;
    }
    return 0;
}

std::vector<int64_t> expected_shape(Dim d0, Dim d1, const ModelConfig& c) {
    std::vector<int64_t> s{dim_value(d0, c)};
    if (d1 != DIM_NONE) s.push_back(dim_value(d1, c));
    return s;
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

std::string layer_prefix(int layer) { return "model.layers." + std::to_string(layer) + "."; }

std::string path_join(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

std::string model_tensor_name(int layer, const std::string& role) {
    if (layer < 0) {
        for (const auto& g : k_global_tensors) {
            if (role == g.role) return g.name;
        }
    } else {
        for (const auto& s : k_layer_tensors) {
            if (role == s.role) return layer_prefix(layer) + s.suffix;
        }
    }
    throw Error("unknown tensor role '" + role + "'");
}

namespace {

// model_load and model_load_meta: the same checks; `read_data` false reads only the headers.
std::shared_ptr<ModelWeights> model_load_impl(const std::string& dir, bool read_data) {
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        throw Error(dir + ": not a directory", "--model takes a Hugging Face checkpoint directory");
    }
    auto w = std::make_shared<ModelWeights>();
    w->source = dir;
    w->config = config_load(path_join(dir, "config.json"));
    const ModelConfig& c = w->config;
    const LoaderArch* arch = nullptr;
    for (const auto& a : k_loader_archs) {
        if (c.architecture == a.architecture) arch = &a;
    }
    if (!arch) {
        throw Error(path_join(dir, "config.json") + ": architecture " + c.architecture + " parses but cannot be loaded",
                    "adabench runs Qwen2ForCausalLM and LlamaForCausalLM weights");
    }
    if (c.attention_bias && !arch->bias_allowed) {
        throw Error(path_join(dir, "config.json") + ": attention_bias is true for " + c.architecture +
                    "; Llama attention biases (including o_proj) are not implemented");
    }

    SafetensorsSet set = safetensors_open_dir(dir, read_data);
    for (const auto& f : set.files) {
        if (f.mapping) w->mappings.push_back(f.mapping);  // none for a header-only load
    }

    std::set<std::string> used;
    std::vector<std::string> missing;
    auto take = [&](const std::string& name, Dim d0, Dim d1, Tensor& dst) {
        auto it = set.tensors.find(name);
        if (it == set.tensors.end()) {
            missing.push_back(name);
            return;
        }
        used.insert(name);
        const SafetensorsTensor& s = it->second;
        std::vector<int64_t> want = expected_shape(d0, d1, c);
        // The file is named in shape errors so a bad shard can be found.
        std::string file;
        for (const auto& f : set.files) {
            if (f.tensors.count(name)) file = f.path;
        }
        if (s.shape != want) {
            throw Error(file + ": tensor '" + name + "' has shape " + shape_str(s.shape) + " but config.json implies " +
                            shape_str(want),
                        "does config.json belong to these weights?");
        }
        dst.dtype = s.dtype;
        dst.shape = s.shape;
        dst.name = name;
        dst.data = s.data;
        if (s.data && reinterpret_cast<uintptr_t>(s.data) % dtype_size(s.dtype) != 0) {
            // Misaligned data (legal in hand-written files): keep an aligned fp32 copy instead.
            Tensor copy = tensor_new_f32(s.shape, name);
            tensor_convert_f32(s.dtype, s.data, copy.owned->data(), copy.numel());
            dst = copy;
        }
    };

    for (const auto& g : k_global_tensors) {
        if (std::string(g.role) == "lm_head" && c.tie_word_embeddings) continue;
        take(g.name, g.d0, g.d1, (*w).*(g.field));
    }
    w->layers.resize((size_t)c.n_layers);
    for (int l = 0; l < c.n_layers; ++l) {
        for (const auto& s : k_layer_tensors) {
            if (s.is_bias && !c.attention_bias) continue;
            take(layer_prefix(l) + s.suffix, s.d0, s.d1, w->layers[(size_t)l].*(s.field));
        }
    }
    if (!missing.empty()) {
        std::string list;
        for (size_t i = 0; i < missing.size() && i < 8; ++i) list += (i ? ", " : "") + missing[i];
        if (missing.size() > 8) list += ", ... (" + std::to_string(missing.size()) + " in all)";
        throw Error(dir + ": missing tensors: " + list, "is the checkpoint complete, and does config.json match it?");
    }
    if (c.tie_word_embeddings) {
        w->lm_head = w->embed_tokens;
        used.insert("lm_head.weight");  // some exporters save the tied copy anyway; it is ignored
    }
    for (const auto& [name, t] : set.tensors) {
        if (used.count(name)) continue;
        if (name.size() >= 19 && name.compare(name.size() - 19, 19, "rotary_emb.inv_freq") == 0) continue;
        throw Error(dir + ": unexpected tensor '" + name + "' for " + c.architecture,
                    "is config.json for a different architecture or layer count?");
    }
    return w;
}

}  // namespace

std::shared_ptr<ModelWeights> model_load(const std::string& dir) { return model_load_impl(dir, true); }

std::shared_ptr<ModelWeights> model_load_meta(const std::string& dir) {
    auto w = model_load_impl(dir, false);
    w->meta_only = true;
    return w;
}

void model_save(const ModelWeights& w, const std::string& dir, DType dtype) {
    ::mkdir(dir.c_str(), 0755);  // an existing directory is fine; a failure shows up when writing
    std::vector<SafetensorsWriteTensor> out;
    std::vector<std::vector<unsigned char>> buffers;
    auto add = [&](const std::string& name, const Tensor& t) {
        if (t.empty()) return;
        std::vector<float> f = tensor_to_f32(t);
        std::vector<unsigned char> bytes(f.size() * dtype_size(dtype));
        for (size_t i = 0; i < f.size(); ++i) {
            if (dtype == DTYPE_F32) {
                std::memcpy(&bytes[4 * i], &f[i], 4);
            } else {
                uint16_t h = dtype == DTYPE_BF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
                std::memcpy(&bytes[2 * i], &h, 2);
            }
        }
        buffers.push_back(std::move(bytes));
        out.push_back({name, dtype, t.shape, buffers.back().data()});
    };
    buffers.reserve(4 + w.layers.size() * std::size(k_layer_tensors));
    for (const auto& g : k_global_tensors) {
        if (std::string(g.role) == "lm_head" && w.config.tie_word_embeddings) continue;
        add(g.name, w.*(g.field));
    }
    for (size_t l = 0; l < w.layers.size(); ++l) {
        for (const auto& s : k_layer_tensors) add(layer_prefix((int)l) + s.suffix, w.layers[l].*(s.field));
    }
    safetensors_write(path_join(dir, "model.safetensors"), out, {{"format", "pt"}});
    nlohmann::json cfg = config_to_json(w.config);
    cfg["torch_dtype"] = dtype == DTYPE_F32 ? "float32" : dtype == DTYPE_BF16 ? "bfloat16" : "float16";
    io_write_file_atomic(path_join(dir, "config.json"), cfg.dump(2) + "\n");
}

}  // namespace adabench
