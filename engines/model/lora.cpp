// PEFT LoRA: adapter_config.json + adapter_model.safetensors -> LoraAdapter (fp32), checked against
// the base; merged composition into a new ModelWeights.
#include "engines/model/lora.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <thread>

#include <re2/re2.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "common/sha256.h"
#include "engines/cpu/thread_pool.h"
#include "engines/model/json_strict.h"
#include "engines/model/loader.h"
#include "engines/model/safetensors.h"

namespace adabench {

namespace {

struct TargetInfo {
    const char* name;
    const char* block;  // "self_attn" or "mlp"
    Tensor LayerWeights::*field;
};

const TargetInfo k_targets[LORA_TARGET_COUNT] = {
    {"q_proj", "self_attn", &LayerWeights::q_proj}, {"k_proj", "self_attn", &LayerWeights::k_proj},
    {"v_proj", "self_attn", &LayerWeights::v_proj}, {"o_proj", "self_attn", &LayerWeights::o_proj},
    {"gate_proj", "mlp", &LayerWeights::gate_proj}, {"up_proj", "mlp", &LayerWeights::up_proj},
    {"down_proj", "mlp", &LayerWeights::down_proj},
};

const char* k_hint = "is this adapter for a different base model?";

std::string path_join(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos) return out;
        start = p + 1;
    }
}

bool parse_layer_index(const std::string& s, int* out) {
    if (s.empty() || s.size() > 6) return false;
    int v = 0;
    for (char ch : s) {
        if (ch < '0' || ch > '9') return false;
        v = v * 10 + (ch - '0');
    }
    *out = v;
    return true;
}

// PEFT's *_pattern keys are regexes matched against the module name's end; exact names and
// dotted suffixes cover the patterns PEFT itself writes.
bool pattern_matches(const std::string& key, const std::string& module) {
    if (key == module) return true;
    return module.size() > key.size() && module.compare(module.size() - key.size(), key.size(), key) == 0 &&
           module[module.size() - key.size() - 1] == '.';
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

}  // namespace

const char* lora_target_name(LoraTarget t) { return t < LORA_TARGET_COUNT ? k_targets[t].name : "unknown"; }

LoraTarget lora_target_parse(const std::string& name) {
    for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
        if (name == k_targets[t].name) return (LoraTarget)t;
    }
    return LORA_TARGET_COUNT;
}

const Tensor& lora_target_weight(const LayerWeights& layer, LoraTarget t) { return layer.*(k_targets[t].field); }
Tensor& lora_target_weight(LayerWeights& layer, LoraTarget t) { return layer.*(k_targets[t].field); }

std::shared_ptr<LoraAdapter> lora_load_adapter(const std::string& dir, const ModelWeights& base) {
    const std::string cfg_path = path_join(dir, "adapter_config.json");
    const std::string st_path = path_join(dir, "adapter_model.safetensors");
    nlohmann::json cfg = json_read_strict(cfg_path);
    if (!cfg.is_object()) throw Error(cfg_path + ": expected a JSON object");
    auto field_fail = [&](const std::string& f, const std::string& problem) -> void {
        throw Error(cfg_path + ": field '" + f + "' " + problem);
    };

    auto adapter = std::make_shared<LoraAdapter>();
    adapter->path = dir;
    if (cfg.contains("peft_type") && cfg.at("peft_type") != "LORA") field_fail("peft_type", "must be \"LORA\"");
    if (!cfg.contains("r") || !cfg.at("r").is_number_integer() || cfg.at("r").get<int64_t>() <= 0 ||
        cfg.at("r").get<int64_t>() > 65536) {
        field_fail("r", "must be a positive integer");
    }
    adapter->r = cfg.at("r").get<int>();
    if (!cfg.contains("lora_alpha") || !cfg.at("lora_alpha").is_number()) field_fail("lora_alpha", "must be a number");
    adapter->alpha = cfg.at("lora_alpha").get<float>();
    if (!std::isfinite(adapter->alpha)) field_fail("lora_alpha", "must be finite");
    // PEFT scales by lora_alpha / r, so 0 switches the adapter off; llama.cpp reads 0 as "no scaling"
    // (scale 1). Either reading silently runs something other than what was trained (#20 D11).
    const char* k_alpha0 =
        "is 0: PEFT would scale the adapter by 0 (no effect) and llama.cpp by 1; set the "
        "lora_alpha the adapter was trained with";
    if (adapter->alpha == 0.0f) field_fail("lora_alpha", k_alpha0);
    if (cfg.contains("use_rslora") && cfg.at("use_rslora").is_boolean())
        adapter->use_rslora = cfg.at("use_rslora").get<bool>();
    if (cfg.contains("use_dora") && cfg.at("use_dora") == true)
        field_fail("use_dora", "is true; DoRA is not implemented");
    if (cfg.contains("fan_in_fan_out") && cfg.at("fan_in_fan_out") == true) {
        field_fail("fan_in_fan_out", "is true; only Linear (out, in) layouts are supported");
    }
    if (cfg.contains("bias") && cfg.at("bias").is_string() && cfg.at("bias") != "none") {
        field_fail("bias", "is '" + cfg.at("bias").get<std::string>() + "'; LoRA biases are not implemented");
    }
    if (cfg.contains("modules_to_save") && !cfg.at("modules_to_save").is_null() && !cfg.at("modules_to_save").empty()) {
        field_fail("modules_to_save", "is set; fully trained modules inside an adapter are not supported");
    }
    bool targets_regex = false;  // PEFT: a string is a regex matched against the whole module name
    if (cfg.contains("target_modules")) {
        const auto& tm = cfg.at("target_modules");
        if (tm.is_string()) {
            targets_regex = true;
            adapter->target_modules.push_back(tm.get<std::string>());
        } else if (tm.is_array()) {
            for (const auto& m : tm) {
                if (!m.is_string()) field_fail("target_modules", "must list strings");
                adapter->target_modules.push_back(m.get<std::string>());
            }
        } else if (!tm.is_null()) {
            field_fail("target_modules", "must be a list of module names");
        }
    }
    auto read_pattern = [&](const char* key) {
        std::vector<std::pair<std::string, double>> out;
        if (!cfg.contains(key) || cfg.at(key).is_null()) return out;
        if (!cfg.at(key).is_object()) field_fail(key, "must be an object");
        for (auto it = cfg.at(key).begin(); it != cfg.at(key).end(); ++it) {
            if (!it.value().is_number()) field_fail(std::string(key) + "." + it.key(), "must be a number");
            out.emplace_back(it.key(), it.value().get<double>());
        }
        return out;
    };
    auto rank_pattern = read_pattern("rank_pattern");
    auto alpha_pattern = read_pattern("alpha_pattern");
    for (const auto& [key, v] : alpha_pattern) {
        if (v == 0.0 || !std::isfinite(v)) field_fail("alpha_pattern." + key, v == 0.0 ? k_alpha0 : "must be finite");
    }
    for (const auto& [key, v] : rank_pattern) {
        if (!(v >= 1.0 && v <= 65536.0) || v != std::floor(v))
            field_fail("rank_pattern." + key, "must be a positive integer");
    }
    std::unique_ptr<RE2> target_re;
    if (targets_regex && adapter->target_modules[0] != "all-linear") {
        target_re = std::make_unique<RE2>(adapter->target_modules[0], RE2::Quiet);
        if (!target_re->ok()) field_fail("target_modules", "is not a regex adabench can read: " + target_re->error());
    }
    // Whether target_modules names `module` (PEFT: a list entry matches the name or a dotted suffix).
    std::vector<bool> target_used(adapter->target_modules.size(), false);
    auto targeted = [&](const std::string& module) {
        if (adapter->target_modules.empty()) return true;  // not stated: nothing to check against
        if (targets_regex) {
            target_used[0] = true;
            return !target_re || RE2::FullMatch(module, *target_re);
        }
        bool hit = false;
        for (size_t i = 0; i < adapter->target_modules.size(); ++i) {
            if (pattern_matches(adapter->target_modules[i], module)) hit = target_used[i] = true;
        }
        return hit;
    };

    SafetensorsFile file = safetensors_open(st_path);
    adapter->sha256 = sha256_file(st_path);
    const ModelConfig& c = base.config;
    adapter->layers.resize((size_t)c.n_layers);

    // First pass: place each tensor; second: check the pairs are complete and consistent.
    struct Found {
        const SafetensorsTensor* a = nullptr;
        const SafetensorsTensor* b = nullptr;
    };
    std::vector<std::array<Found, LORA_TARGET_COUNT>> found((size_t)c.n_layers);
    for (const auto& [name, t] : file.tensors) {
        // base_model.model.model.layers.N.<block>.<module>.lora_<A|B>[.<adapter name>].weight
        std::vector<std::string> p = split(name, '.');
        int layer = -1;
        bool shape_ok = p.size() == 9 || p.size() == 10;
        if (!shape_ok || p[0] != "base_model" || p[1] != "model" || p[2] != "model" || p[3] != "layers" ||
            !parse_layer_index(p[4], &layer) || p.back() != "weight" || (p[7] != "lora_A" && p[7] != "lora_B")) {
            throw Error(st_path + ": tensor '" + name + "' is not a LoRA A/B matrix of a decoder layer projection",
                        "adabench supports PEFT LoRA on q/k/v/o and gate/up/down projections only");
        }
        LoraTarget target = lora_target_parse(p[6]);
        if (target == LORA_TARGET_COUNT || p[5] != k_targets[target].block) {
            throw Error(st_path + ": tensor '" + name + "' adapts unknown module '" + p[5] + "." + p[6] + "'", k_hint);
        }
        if (layer >= c.n_layers) {
            throw Error(st_path + ": tensor '" + name + "' is for layer " + std::to_string(layer) +
                            " but the base model has " + std::to_string(c.n_layers) + " layers",
                        k_hint);
        }
        Found& f = found[(size_t)layer][target];
        (p[7] == "lora_A" ? f.a : f.b) = &t;
    }

    int n_pairs = 0;
    for (int l = 0; l < c.n_layers; ++l) {
        for (int ti = 0; ti < LORA_TARGET_COUNT; ++ti) {
            Found& f = found[(size_t)l][ti];
            if (!f.a && !f.b) continue;
            std::string module =
                "model.layers." + std::to_string(l) + "." + k_targets[ti].block + "." + k_targets[ti].name;
            if (!f.a || !f.b) {
                throw Error(
                    st_path + ": " + module + " has lora_" + (f.a ? "A" : "B") + " but no lora_" + (f.a ? "B" : "A"),
                    "the adapter file is incomplete");
            }
            if (!targeted(module)) {
                throw Error(cfg_path + ": tensor '" + f.a->name + "' in " + st_path + " adapts " + module +
                                ", which target_modules does not name",
                            "do adapter_config.json and adapter_model.safetensors come from the same adapter?");
            }
            const Tensor& w = lora_target_weight(base.layers[(size_t)l], (LoraTarget)ti);
            int64_t n_out = w.shape.at(0), n_in = w.shape.at(1);
            if (f.a->shape.size() != 2 || f.b->shape.size() != 2 || f.a->shape[0] != f.b->shape[1] ||
                f.a->shape[0] <= 0) {
                throw Error(st_path + ": " + module + " lora_A " + shape_str(f.a->shape) + " and lora_B " +
                            shape_str(f.b->shape) + " do not form a rank-r pair (A is (r, in), B is (out, r))");
            }
            if (f.a->shape[1] != n_in || f.b->shape[0] != n_out) {
                throw Error(st_path + ": tensor '" + f.a->name + "' / '" + f.b->name + "' give a delta of shape [" +
                                std::to_string(f.b->shape[0]) + ", " + std::to_string(f.a->shape[1]) +
                                "] but the base " + w.name + " is " + shape_str(w.shape),
                            k_hint);
            }
            LoraPair& pair = adapter->layers[(size_t)l][ti];
            pair.r = (int)f.a->shape[0];
            pair.n_in = n_in;
            pair.n_out = n_out;
            int want_r = adapter->r;
            for (const auto& [key, v] : rank_pattern) {
                if (pattern_matches(key, module)) want_r = (int)v;
            }
            if (pair.r != want_r) {
                throw Error(st_path + ": " + module + " has rank " + std::to_string(pair.r) +
                            " but adapter_config.json says " + std::to_string(want_r));
            }
            pair.alpha = adapter->alpha;
            for (const auto& [key, v] : alpha_pattern) {
                if (pattern_matches(key, module)) pair.alpha = (float)v;
            }
            pair.base_scale = adapter->use_rslora ? pair.alpha / std::sqrt((float)pair.r) : pair.alpha / (float)pair.r;
            pair.a.resize((size_t)(pair.r * n_in));
            pair.b.resize((size_t)(n_out * pair.r));
            tensor_convert_f32(f.a->dtype, f.a->data, pair.a.data(), (int64_t)pair.a.size());
            tensor_convert_f32(f.b->dtype, f.b->data, pair.b.data(), (int64_t)pair.b.size());
            ++n_pairs;
        }
    }
    if (n_pairs == 0) throw Error(st_path + ": no LoRA tensors found", "is this a PEFT LoRA adapter?");
    for (size_t i = 0; i < target_used.size(); ++i) {
        if (!target_used[i]) {
            throw Error(cfg_path + ": target_modules names '" + adapter->target_modules[i] + "' but " + st_path +
                            " has no tensor for it",
                        "do adapter_config.json and adapter_model.safetensors come from the same adapter?");
        }
    }
    return adapter;
}

namespace {

#define ADABENCH_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// dst rows [o0, o1) += s * B[o, :] A: per 64-column block the running sums stay in registers while
// the r rows of A stream past, so each FMA costs one load. Summation order per element is fixed
// (k = 0 .. r-1), whatever the threading.
ADABENCH_CLONES void lora_add_rows(float* __restrict dst, const float* __restrict b, const float* __restrict a, int r,
                                   int64_t n_in, int64_t o0, int64_t o1, float s) {
    // Fixed-size inner loops: GCC's -O2 cost model vectorises only loops with a known trip count.
    constexpr int64_t k_block = 64;
    float acc[k_block];
    for (int64_t o = o0; o < o1; ++o) {
        float* row = dst + o * n_in;
        const float* bo = b + o * r;
        int64_t j0 = 0;
        for (; j0 + k_block <= n_in; j0 += k_block) {
            for (int64_t j = 0; j < k_block; ++j) acc[j] = row[j0 + j];
            for (int k = 0; k < r; ++k) {
                const float bk = s * bo[k];
                const float* ak = a + (int64_t)k * n_in + j0;
                for (int64_t j = 0; j < k_block; ++j) acc[j] += bk * ak[j];
            }
            for (int64_t j = 0; j < k_block; ++j) row[j0 + j] = acc[j];
        }
        for (int64_t j = j0; j < n_in; ++j) {
            float v = row[j];
            for (int k = 0; k < r; ++k) v += (s * bo[k]) * a[(int64_t)k * n_in + j];
            row[j] = v;
        }
    }
}

}  // namespace

std::shared_ptr<ModelWeights> lora_merge_weights(const ModelWeights& base,
                                                 const std::vector<std::shared_ptr<const LoraAdapter>>& adapters,
                                                 const std::vector<float>& coefs) {
    if (coefs.size() != adapters.size()) {
        throw Error("LoRA merge: " + std::to_string(adapters.size()) + " adapters but " + std::to_string(coefs.size()) +
                    " coefficients");
    }
    if (base.meta_only) {
        throw Error("LoRA merge: " + base.source + " was loaded header-only (shapes, no weights)",
                    "load the base with model_load to merge into it");
    }
    auto out = std::make_shared<ModelWeights>(base);  // shares every tensor and mapping
    std::string adapters_desc;                        // "A x 0.5, B x 2"
    for (size_t i = 0; i < adapters.size(); ++i) {
        std::ostringstream c;
        c << coefs[i];
        adapters_desc += (i ? ", " : "") + adapters[i]->path + " x " + c.str();
    }
    if (!adapters.empty()) out->source = base.source + " + LoRA " + adapters_desc;
    struct Job {
        Tensor* dst;
        const Tensor* src;
        std::vector<std::pair<const LoraPair*, float>> terms;  // (pair, scale)
        int64_t o0, o1;
    };
    std::vector<Job> jobs;
    for (size_t l = 0; l < base.layers.size(); ++l) {
        for (int ti = 0; ti < LORA_TARGET_COUNT; ++ti) {
            const Tensor& w = lora_target_weight(base.layers[l], (LoraTarget)ti);
            std::vector<std::pair<const LoraPair*, float>> terms;
            for (size_t i = 0; i < adapters.size(); ++i) {
                const LoraAdapter& ad = *adapters[i];
                if (l >= ad.layers.size() || ad.layers[l][ti].empty() || coefs[i] == 0.0f) continue;
                const LoraPair& p = ad.layers[l][ti];
                if (w.shape.size() != 2 || p.n_out != w.shape[0] || p.n_in != w.shape[1]) {
                    throw Error(ad.path + ": " + lora_target_name((LoraTarget)ti) + " of layer " + std::to_string(l) +
                                    " adapts a [" + std::to_string(p.n_out) + ", " + std::to_string(p.n_in) +
                                    "] weight but the base " + w.name + " is " + shape_str(w.shape),
                                k_hint);
                }
                terms.emplace_back(&p, p.scale(coefs[i]));
            }
            if (terms.empty()) continue;
            Tensor& dst = lora_target_weight(out->layers[l], (LoraTarget)ti);
            dst = tensor_new_f32(w.shape, w.name);
            // ~256K multiply-adds per job per unit of rank: enough to amortise scheduling.
            const int64_t rows = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, w.shape[1]));
            for (int64_t o = 0; o < w.shape[0]; o += rows)
                jobs.push_back({&dst, &w, terms, o, std::min(w.shape[0], o + rows)});
        }
    }
    const int n_threads = (int)std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
    CpuThreadPool pool(n_threads);
    std::vector<char> job_finite(jobs.size(), 1);
    pool.run((int)jobs.size(), [&](int j) {
        const Job& job = jobs[(size_t)j];
        const int64_t n_in = job.src->shape[1];
        float* dst = tensor_f32_mut(*job.dst);
        const auto* src =
            static_cast<const unsigned char*>(job.src->data) + (size_t)(job.o0 * n_in) * dtype_size(job.src->dtype);
        tensor_convert_f32(job.src->dtype, src, dst + job.o0 * n_in, (job.o1 - job.o0) * n_in);
        for (const auto& [p, s] : job.terms)
            lora_add_rows(dst, p->b.data(), p->a.data(), p->r, n_in, job.o0, job.o1, s);
        job_finite[(size_t)j] = tensor_data_finite(DTYPE_F32, dst + job.o0 * n_in, (job.o1 - job.o0) * n_in);
    });
    for (size_t j = 0; j < jobs.size(); ++j) {
        if (job_finite[j]) continue;
        const Tensor& t = *jobs[j].dst;
        throw Error("LoRA merge: tensor '" + t.name + "' holds " +
                        tensor_data_describe_nonfinite(DTYPE_F32, t.data, t.numel()) + " after merging " +
                        adapters_desc + " into " + base.source,
                    "the adapters are finite; a coefficient this large overflows fp32");
    }
    return out;
}

}  // namespace adabench
