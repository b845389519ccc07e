// config.json parsing: one table of families, typed field readers that name the file and field.
#include "engines/model/config.h"

#include <cmath>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/json_strict.h"

namespace adabench {

namespace {

// What transformers' config classes assume when a field is absent.
struct ConfigFamily {
    const char* architecture;
    const char* model_type;
    bool default_tie_word_embeddings;
    bool default_attention_bias;  // Qwen2 always has q/k/v bias and its config has no such field
    int default_max_position_embeddings;
    float default_rms_norm_eps;
};

const ConfigFamily k_families[] = {
    {"Qwen2ForCausalLM", "qwen2", false, true, 32768, 1e-6f},
    {"LlamaForCausalLM", "llama", false, false, 2048, 1e-6f},
    {"Qwen3ForCausalLM", "qwen3", false, false, 32768, 1e-6f},
};

const char* json_type_name(const nlohmann::json& v) { return v.type_name(); }

class FieldReader {
public:
    FieldReader(const nlohmann::json& j, const std::string& source) : j_(j), source_(source) {}

    [[noreturn]] void fail(const std::string& field, const std::string& problem, const std::string& hint = "") const {
        throw Error(source_ + ": field '" + field + "' " + problem, hint);
    }

    bool has(const char* field) const { return j_.contains(field) && !j_.at(field).is_null(); }

    int64_t get_int(const nlohmann::json& v, const std::string& field) const {
        if (v.is_number_integer() || v.is_number_unsigned()) return v.get<int64_t>();
        // Some tools write integers as 4096.0; accept exact integral floats.
        if (v.is_number_float()) {
            double d = v.get<double>();
            if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return (int64_t)d;
        }
        fail(field, std::string("must be an integer, got ") + json_type_name(v));
    }

    int required_int(const char* field, int64_t min_value = 1) const {
        if (!has(field)) fail(field, "is missing", "is this a Hugging Face config.json of a decoder model?");
        return checked_int(j_.at(field), field, min_value);
    }

    int optional_int(const char* field, int fallback, int64_t min_value = 1) const {
        if (!has(field)) return fallback;
        return checked_int(j_.at(field), field, min_value);
    }

    int checked_int(const nlohmann::json& v, const std::string& field, int64_t min_value) const {
        int64_t x = get_int(v, field);
        if (x < min_value || x > (int64_t)1 << 30) {
            fail(field, "is out of range (" + std::to_string(x) + ")");
        }
        return (int)x;
    }

    double number(const nlohmann::json& v, const std::string& field) const {
        if (!v.is_number()) fail(field, std::string("must be a number, got ") + json_type_name(v));
        double d = v.get<double>();
        if (!std::isfinite(d)) fail(field, "must be finite");
        return d;
    }

    bool optional_bool(const char* field, bool fallback) const {
        if (!has(field)) return fallback;
        const auto& v = j_.at(field);
        if (!v.is_boolean()) fail(field, std::string("must be true or false, got ") + json_type_name(v));
        return v.get<bool>();
    }

    std::string optional_string(const char* field) const {
        if (!has(field)) return "";
        const auto& v = j_.at(field);
        if (!v.is_string()) fail(field, std::string("must be a string, got ") + json_type_name(v));
        return v.get<std::string>();
    }

private:
    const nlohmann::json& j_;
    const std::string& source_;
};

}  // namespace

ModelConfig config_from_json(const nlohmann::json& j, const std::string& source) {
    if (!j.is_object()) throw Error(source + ": expected a JSON object, got " + std::string(j.type_name()));
    FieldReader f(j, source);
    ModelConfig c;

    // Architecture: "architectures": ["Qwen2ForCausalLM"], cross-checked with model_type.
    c.model_type = f.optional_string("model_type");
    if (f.has("architectures")) {
        const auto& a = j.at("architectures");
        if (!a.is_array() || a.empty() || !a.at(0).is_string()) {
            f.fail("architectures", "must be a non-empty list of strings");
        }
        c.architecture = a.at(0).get<std::string>();
    }
    const ConfigFamily* family = nullptr;
    for (const auto& fam : k_families) {
        if ((!c.architecture.empty() && c.architecture == fam.architecture) ||
            (c.architecture.empty() && c.model_type == fam.model_type)) {
            family = &fam;
        }
    }
    if (!family) {
        std::string got = c.architecture.empty() ? "model_type '" + c.model_type + "'" : "'" + c.architecture + "'";
        throw Error(source + ": unsupported architecture " + got,
                    "adabench runs Qwen2ForCausalLM and LlamaForCausalLM checkpoints");
    }
    if (c.architecture.empty()) c.architecture = family->architecture;
    if (c.model_type.empty()) c.model_type = family->model_type;
    if (c.model_type != family->model_type) {
        f.fail("model_type", "is '" + c.model_type + "' but architectures says " + c.architecture);
    }

    c.vocab_size = f.required_int("vocab_size");
    c.hidden_size = f.required_int("hidden_size");
    c.intermediate_size = f.required_int("intermediate_size");
    c.n_layers = f.required_int("num_hidden_layers");
    // Loaders size per-layer tables from this; no real decoder has more than a few hundred layers.
    if (c.n_layers > 4096) f.fail("num_hidden_layers", "is out of range (" + std::to_string(c.n_layers) + ")");
    c.n_heads = f.required_int("num_attention_heads");
    c.n_kv_heads = f.optional_int("num_key_value_heads", c.n_heads);
    if (c.n_heads % c.n_kv_heads != 0) {
        f.fail("num_key_value_heads", "(" + std::to_string(c.n_kv_heads) + ") must divide num_attention_heads (" +
                                          std::to_string(c.n_heads) + ")");
    }
    if (f.has("head_dim")) {
        c.head_dim = f.required_int("head_dim");
    } else {
        if (c.hidden_size % c.n_heads != 0) {
            f.fail("hidden_size", "(" + std::to_string(c.hidden_size) + ") is not divisible by num_attention_heads (" +
                                      std::to_string(c.n_heads) + ") and no head_dim is given");
        }
        c.head_dim = c.hidden_size / c.n_heads;
    }
    if (c.head_dim % 2 != 0) f.fail("head_dim", "must be even for rotary embeddings");
    c.max_position_embeddings = f.optional_int("max_position_embeddings", family->default_max_position_embeddings);

    c.rms_norm_eps = family->default_rms_norm_eps;
    if (f.has("rms_norm_eps")) {
        double eps = f.number(j.at("rms_norm_eps"), "rms_norm_eps");
        if (eps <= 0 || eps >= 1) f.fail("rms_norm_eps", "must be in (0, 1)");
        c.rms_norm_eps = (float)eps;
    }

    // RoPE: transformers-4 keeps rope_theta at the top level and optional rope_scaling; transformers-5
    // nests both in rope_parameters. Only plain RoPE is implemented.
    bool theta_set = false;
    if (f.has("rope_theta")) {
        c.rope_theta = (float)f.number(j.at("rope_theta"), "rope_theta");
        theta_set = true;
    }
    for (const char* key : {"rope_parameters", "rope_scaling"}) {
        if (!f.has(key)) continue;
        const auto& rp = j.at(key);
        if (!rp.is_object()) f.fail(key, std::string("must be an object or null, got ") + json_type_name(rp));
        std::string type;
        for (const char* tk : {"rope_type", "type"}) {
            if (rp.contains(tk) && !rp.at(tk).is_null()) {
                if (!rp.at(tk).is_string()) f.fail(std::string(key) + "." + tk, "must be a string");
                type = rp.at(tk).get<std::string>();
            }
        }
        if (!type.empty() && type != "default") {
            f.fail(std::string(key) + ".rope_type", "is '" + type + "'; only default RoPE is implemented");
        }
        if (rp.contains("rope_theta") && !rp.at("rope_theta").is_null()) {
            c.rope_theta = (float)f.number(rp.at("rope_theta"), std::string(key) + ".rope_theta");
            theta_set = true;
        }
    }
    (void)theta_set;  // absent means the family default of 10000, as transformers assumes
    if (c.rope_theta <= 0) f.fail("rope_theta", "must be positive");

    c.tie_word_embeddings = f.optional_bool("tie_word_embeddings", family->default_tie_word_embeddings);
    c.attention_bias = f.optional_bool("attention_bias", family->default_attention_bias);
    if (f.optional_bool("mlp_bias", false)) f.fail("mlp_bias", "is true; MLP biases are not implemented");
    if (f.optional_bool("use_sliding_window", false)) {
        f.fail("use_sliding_window", "is true; sliding-window attention is not implemented");
    }
    std::string act = f.optional_string("hidden_act");
    if (!act.empty() && act != "silu") f.fail("hidden_act", "is '" + act + "'; only silu (SwiGLU) is implemented");

    if (f.has("bos_token_id")) c.bos_token_id = f.checked_int(j.at("bos_token_id"), "bos_token_id", 0);
    if (f.has("eos_token_id")) {
        const auto& e = j.at("eos_token_id");
        if (e.is_array()) {
            for (size_t i = 0; i < e.size(); ++i) {
                c.eos_token_ids.push_back(f.checked_int(e.at(i), "eos_token_id[" + std::to_string(i) + "]", 0));
            }
        } else {
            c.eos_token_ids.push_back(f.checked_int(e, "eos_token_id", 0));
        }
    }
    // An id past the embedding table would be fed to the model or never match a sampled token.
    if (c.bos_token_id >= c.vocab_size) {
        f.fail("bos_token_id", "(" + std::to_string(c.bos_token_id) + ") is outside the vocabulary (vocab_size " +
                                   std::to_string(c.vocab_size) + ")");
    }
    for (size_t i = 0; i < c.eos_token_ids.size(); ++i) {
        if (c.eos_token_ids[i] >= c.vocab_size) {
            f.fail(j.at("eos_token_id").is_array() ? "eos_token_id[" + std::to_string(i) + "]"
                                                   : std::string("eos_token_id"),
                   "(" + std::to_string(c.eos_token_ids[i]) + ") is outside the vocabulary (vocab_size " +
                       std::to_string(c.vocab_size) + ")");
        }
    }
    c.torch_dtype = f.optional_string("torch_dtype");
    if (c.torch_dtype.empty()) c.torch_dtype = f.optional_string("dtype");
    return c;
}

ModelConfig config_load(const std::string& path) { return config_from_json(json_read_strict(path), path); }

nlohmann::json config_to_json(const ModelConfig& c) {
    nlohmann::json j;
    j["architectures"] = {c.architecture};
    j["model_type"] = c.model_type;
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_hidden_layers"] = c.n_layers;
    j["num_attention_heads"] = c.n_heads;
    j["num_key_value_heads"] = c.n_kv_heads;
    j["head_dim"] = c.head_dim;
    j["max_position_embeddings"] = c.max_position_embeddings;
    j["rms_norm_eps"] = c.rms_norm_eps;
    j["rope_theta"] = c.rope_theta;
    j["tie_word_embeddings"] = c.tie_word_embeddings;
    j["attention_bias"] = c.attention_bias;
    j["hidden_act"] = "silu";
    if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
    if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
    if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
    if (!c.torch_dtype.empty()) j["torch_dtype"] = c.torch_dtype;
    return j;
}

}  // namespace adabench
