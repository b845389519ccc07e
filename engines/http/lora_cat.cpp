// LoRA rank concatenation (lora_cat.h): checks the inputs, plans the per-module ranks and the name,
// builds A' / B' in memory, writes the PEFT directory into a temporary sibling and renames it into
// place. Not here: talking to servers.
#include "engines/http/lora_cat.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "common/sha256.h"
#include "engines/model/loader.h"
#include "engines/model/safetensors.h"

namespace adabench {

namespace {

namespace fs = std::filesystem;

constexpr const char* k_format = "adabench-lora-cat/1";
constexpr const char* k_manifest = "adabench_lora_cat.json";
constexpr const char* k_config_file = "adapter_config.json";
constexpr const char* k_weights_file = "adapter_model.safetensors";
constexpr int k_max_total_rank = 65536;  // engines/model/lora.cpp refuses larger "r"
const char* k_shape_hint = "every adapter must be for the same base model";

// Which dimension of the base model each side of a projection is, so adapters for different bases
// are caught even when they adapt different projections (q's input and gate's input are both the
// hidden size).
enum Dim { DIM_HIDDEN, DIM_Q, DIM_KV, DIM_FFN, DIM_COUNT };
struct TargetDims {
    const char* block;  // PEFT module path segment
    Dim in, out;
};
const TargetDims k_dims[LORA_TARGET_COUNT] = {
    {"self_attn", DIM_HIDDEN, DIM_Q}, {"self_attn", DIM_HIDDEN, DIM_KV}, {"self_attn", DIM_HIDDEN, DIM_KV},
    {"self_attn", DIM_Q, DIM_HIDDEN}, {"mlp", DIM_HIDDEN, DIM_FFN},      {"mlp", DIM_HIDDEN, DIM_FFN},
    {"mlp", DIM_FFN, DIM_HIDDEN},
};

std::string module_name(size_t layer, int t) {
    return "model.layers." + std::to_string(layer) + "." + k_dims[t].block + "." + lora_target_name((LoraTarget)t);
}

std::string adapter_label(const LoraAdapter& a, size_t i) {
    return a.path.empty() ? "adapter #" + std::to_string(i) : a.path;
}

std::string float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", u);
    return buf;
}

std::string path_join(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// What every output depends on, decided before any byte is built.
struct Plan {
    std::vector<size_t> kept;
    std::vector<std::array<int, LORA_TARGET_COUNT>> ranks;
    int max_rank = 0;
    nlohmann::json base_model;  // string or null
    std::string key_sha256;     // sha256 of the canonical description of the inputs
    std::string name;
};

void check_structure(const LoraAdapter& a, size_t i) {
    const std::string label = adapter_label(a, i);
    if (a.layers.empty()) throw Error("LoRA cat: " + label + ": the adapter has no layers", "was it loaded?");
    bool any = false;
    for (size_t l = 0; l < a.layers.size(); ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const LoraPair& p = a.layers[l][t];
            if (p.r == 0 && p.a.empty() && p.b.empty()) continue;
            if (p.r <= 0 || p.n_in <= 0 || p.n_out <= 0 || p.a.size() != (size_t)p.r * (size_t)p.n_in ||
                p.b.size() != (size_t)p.n_out * (size_t)p.r || !std::isfinite(p.base_scale)) {
                throw Error("LoRA cat: " + label + ": " + module_name(l, t) + " is malformed (r " +
                            std::to_string(p.r) + ", A of " + std::to_string(p.a.size()) + " values, B of " +
                            std::to_string(p.b.size()) + " values, [" + std::to_string(p.n_out) + ", " +
                            std::to_string(p.n_in) + "] weight)");
            }
            any = true;
        }
    }
    if (!any) throw Error("LoRA cat: " + label + ": the adapter adapts no projection");
}

// Identity of an adapter's numbers: its file hash when the loader set one, else the values.
std::string adapter_identity(const LoraAdapter& a) {
    if (!a.sha256.empty()) return "sha256:" + a.sha256;
    Sha256 h;
    for (size_t l = 0; l < a.layers.size(); ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const LoraPair& p = a.layers[l][t];
            if (p.empty()) continue;
            h.update(module_name(l, t) + " " + std::to_string(p.r) + " " + std::to_string(p.n_in) + " " +
                     std::to_string(p.n_out) + "\n");
            h.update(p.a.data(), p.a.size() * sizeof(float));
            h.update(p.b.data(), p.b.size() * sizeof(float));
        }
    }
    return "values:" + h.hex();
}

Plan plan_make(const std::vector<const LoraAdapter*>& adapters, const std::vector<float>& coefs,
               const LoraCatOptions& opts) {
    if (adapters.empty()) throw Error("LoRA cat: no adapters given", "pass at least one adapter and its coefficient");
    for (size_t i = 0; i < adapters.size(); ++i) {
        if (!adapters[i]) throw Error("LoRA cat: adapter #" + std::to_string(i) + " is null");
    }
    if (coefs.size() != adapters.size()) {
        std::string list;
        for (size_t i = 0; i < adapters.size(); ++i) list += (i ? ", " : "") + adapter_label(*adapters[i], i);
        throw Error("LoRA cat: " + std::to_string(adapters.size()) + " adapters (" + list + ") but " +
                        std::to_string(coefs.size()) + " coefficients",
                    "give one coefficient per adapter");
    }
    if (opts.dtype != DTYPE_F32 && opts.dtype != DTYPE_BF16) {
        throw Error(std::string("LoRA cat: dtype ") + dtype_name(opts.dtype) + " is not supported",
                    "use F32 (exact) or BF16");
    }

    // Every adapter (coefficient 0 or not) must fit the same base: a mix-up is a configuration
    // error worth reporting even when it would not change this particular file.
    const LoraAdapter& first = *adapters[0];
    struct Seen {
        int64_t size = 0;
        std::string where;  // "<adapter>: <module> (in|out)"
    };
    std::array<Seen, DIM_COUNT> seen{};
    for (size_t i = 0; i < adapters.size(); ++i) {
        const LoraAdapter& a = *adapters[i];
        check_structure(a, i);
        if (!std::isfinite(coefs[i])) {
            throw Error("LoRA cat: " + adapter_label(a, i) + ": coefficient " + std::to_string(coefs[i]) +
                        " is not finite");
        }
        if (a.layers.size() != first.layers.size()) {
            throw Error("LoRA cat: " + adapter_label(a, i) + " is for a base with " + std::to_string(a.layers.size()) +
                            " layers but " + adapter_label(first, 0) + " is for one with " +
                            std::to_string(first.layers.size()),
                        k_shape_hint);
        }
        for (size_t l = 0; l < a.layers.size(); ++l) {
            for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
                const LoraPair& p = a.layers[l][t];
                if (p.empty()) continue;
                for (int side = 0; side < 2; ++side) {
                    Dim d = side == 0 ? k_dims[t].in : k_dims[t].out;
                    int64_t size = side == 0 ? p.n_in : p.n_out;
                    std::string where = adapter_label(a, i) + ": " + module_name(l, t) + " (" +
                                        (side == 0 ? "input" : "output") + " size " + std::to_string(size) + ")";
                    if (seen[d].size == 0) {
                        seen[d] = {size, where};
                    } else if (seen[d].size != size) {
                        throw Error("LoRA cat: adapters for different base shapes: " + where + " vs " + seen[d].where,
                                    k_shape_hint);
                    }
                }
            }
        }
    }

    Plan plan;
    for (size_t i = 0; i < adapters.size(); ++i) {
        if (coefs[i] != 0.0f) plan.kept.push_back(i);
    }
    if (plan.kept.empty()) {
        std::string list;
        for (size_t i = 0; i < adapters.size(); ++i) list += (i ? ", " : "") + adapter_label(*adapters[i], i);
        throw Error("LoRA cat: every coefficient is 0 (" + list + ")",
                    "the vector is the base model itself: request the base model, no adapter is needed");
    }
    plan.ranks.assign(first.layers.size(), {});
    for (size_t l = 0; l < first.layers.size(); ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            int64_t total = 0;
            for (size_t i : plan.kept) total += adapters[i]->layers[l][t].r;
            if (total > k_max_total_rank) {
                throw Error("LoRA cat: " + module_name(l, t) + " would have rank " + std::to_string(total) + " (over " +
                                std::to_string(k_max_total_rank) + ") from " +
                                adapter_label(*adapters[plan.kept[0]], plan.kept[0]) + " and the others",
                            "concatenate fewer adapters");
            }
            plan.ranks[l][t] = (int)total;
            plan.max_rank = std::max(plan.max_rank, (int)total);
        }
    }

    if (!opts.base_model_name_or_path.empty()) {
        plan.base_model = opts.base_model_name_or_path;
    } else if (!first.path.empty()) {
        nlohmann::json cfg = io_read_json(path_join(first.path, k_config_file));
        if (cfg.is_object() && cfg.contains("base_model_name_or_path") && cfg.at("base_model_name_or_path").is_string())
            plan.base_model = cfg.at("base_model_name_or_path");
    }

    // The canonical description: everything the written bytes depend on, nothing else (no paths).
    std::string key = std::string(k_format) + "\ndtype=" + dtype_name(opts.dtype) +
                      "\nuniform_rank=" + (opts.uniform_rank ? "1" : "0") + "\nbase_model=" + plan.base_model.dump() +
                      "\n";
    for (size_t i : plan.kept) {
        const LoraAdapter& a = *adapters[i];
        key += "adapter " + adapter_identity(a) + " coef=" + float_bits(coefs[i]) + "\n";
        for (size_t l = 0; l < a.layers.size(); ++l) {
            for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
                const LoraPair& p = a.layers[l][t];
                if (p.empty()) continue;
                key += " " + std::to_string(l) + "." + std::to_string(t) + " r=" + std::to_string(p.r) +
                       " s=" + float_bits(p.base_scale) + "\n";
            }
        }
    }
    plan.key_sha256 = sha256_hex(key);
    plan.name = "adabench-" + plan.key_sha256.substr(0, 16);
    return plan;
}

// The tensors and adapter_config.json of a plan, in memory.
struct Built {
    std::vector<std::vector<float>> f32;
    std::vector<std::vector<uint16_t>> bf16;
    std::vector<SafetensorsWriteTensor> tensors;
    std::string config;
};

Built build(const std::vector<const LoraAdapter*>& adapters, const std::vector<float>& coefs, const Plan& plan,
            const LoraCatOptions& opts) {
    Built out;
    nlohmann::ordered_json rank_pattern = nlohmann::ordered_json::object();
    nlohmann::ordered_json alpha_pattern = nlohmann::ordered_json::object();
    std::array<bool, LORA_TARGET_COUNT> written{};
    const size_t n_layers = plan.ranks.size();
    std::vector<std::vector<float>> f32;
    std::vector<std::pair<std::string, std::vector<int64_t>>> meta;  // name, shape per f32 buffer
    for (size_t l = 0; l < n_layers; ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const int total = plan.ranks[l][t];
            if (total == 0) continue;
            const int w_rank = opts.uniform_rank ? plan.max_rank : total;
            int64_t n_in = 0, n_out = 0;
            for (size_t i : plan.kept) {
                const LoraPair& p = adapters[i]->layers[l][t];
                if (!p.empty()) n_in = p.n_in, n_out = p.n_out;
            }
            std::vector<float> a((size_t)w_rank * (size_t)n_in, 0.0f);
            std::vector<float> b((size_t)n_out * (size_t)w_rank, 0.0f);
            int off = 0;
            for (size_t i : plan.kept) {
                const LoraPair& p = adapters[i]->layers[l][t];
                if (p.empty()) continue;
                std::copy(p.a.begin(), p.a.end(), a.begin() + (int64_t)off * n_in);
                // The same float product c * s our own composition applies (LoraPair::scale), so
                // B' A' reproduces the merged and unmerged paths to rounding of the sum only.
                const float s = p.scale(coefs[i]);
                for (int64_t o = 0; o < n_out; ++o) {
                    const float* src = p.b.data() + o * p.r;
                    float* dst = b.data() + o * w_rank + off;
                    for (int k = 0; k < p.r; ++k) dst[k] = s * src[k];
                }
                off += p.r;
            }
            const std::string prefix = "base_model.model." + module_name(l, t);
            meta.push_back({prefix + ".lora_A.weight", {w_rank, n_in}});
            f32.push_back(std::move(a));
            meta.push_back({prefix + ".lora_B.weight", {n_out, w_rank}});
            f32.push_back(std::move(b));
            written[t] = true;
            if (w_rank != plan.max_rank) {
                // Keyed without the leading "model." so both PEFT matching rules accept it.
                std::string key = module_name(l, t).substr(6);
                rank_pattern[key] = w_rank;
                alpha_pattern[key] = w_rank;
            }
        }
    }
    if (opts.dtype == DTYPE_BF16) {
        for (size_t j = 0; j < f32.size(); ++j) {
            std::vector<uint16_t> h(f32[j].size());
            for (size_t k = 0; k < h.size(); ++k) h[k] = f32_to_bf16(f32[j][k]);
            out.bf16.push_back(std::move(h));
        }
        for (size_t j = 0; j < meta.size(); ++j)
            out.tensors.push_back({meta[j].first, DTYPE_BF16, meta[j].second, out.bf16[j].data()});
    } else {
        out.f32 = std::move(f32);
        for (size_t j = 0; j < meta.size(); ++j)
            out.tensors.push_back({meta[j].first, DTYPE_F32, meta[j].second, out.f32[j].data()});
    }

    nlohmann::ordered_json target_modules = nlohmann::ordered_json::array();
    for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
        if (written[t]) target_modules.push_back(lora_target_name((LoraTarget)t));
    }
    // PEFT's own key order (sorted), with the fields every loader we target reads.
    nlohmann::ordered_json cfg = nlohmann::ordered_json::object();
    cfg["alpha_pattern"] = alpha_pattern;
    cfg["base_model_name_or_path"] = plan.base_model;
    cfg["bias"] = "none";
    cfg["fan_in_fan_out"] = false;
    cfg["inference_mode"] = true;
    cfg["init_lora_weights"] = true;
    cfg["lora_alpha"] = plan.max_rank;
    cfg["lora_dropout"] = 0.0;
    cfg["modules_to_save"] = nullptr;
    cfg["peft_type"] = "LORA";
    cfg["r"] = plan.max_rank;
    cfg["rank_pattern"] = rank_pattern;
    cfg["target_modules"] = target_modules;
    cfg["task_type"] = "CAUSAL_LM";
    cfg["use_dora"] = false;
    cfg["use_rslora"] = false;
    out.config = cfg.dump(2) + "\n";
    return out;
}

// A directory of ours made intact by an earlier call: its manifest names the same inputs and its
// files still hash to the recorded sha256. Any problem reading it means "not intact".
bool existing_intact(const std::string& dir, const Plan& plan, std::string* sha256) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return false;
    try {
        nlohmann::json m = io_read_json(path_join(dir, k_manifest));
        if (!m.is_object() || m.value("format", "") != k_format || m.value("key_sha256", "") != plan.key_sha256)
            return false;
        std::string recorded = m.value("sha256", "");
        if (recorded.empty() || lora_cat_files_sha256(dir) != recorded) return false;
        *sha256 = recorded;
        return true;
    } catch (const Error&) {
        return false;
    } catch (const nlohmann::json::exception&) {
        return false;
    }
}

int64_t files_bytes(const std::string& dir) {
    int64_t n = 0;
    for (const char* f : {k_config_file, k_weights_file}) {
        std::error_code ec;
        auto size = fs::file_size(path_join(dir, f), ec);
        if (ec) throw Error(path_join(dir, f) + ": cannot stat: " + ec.message());
        n += (int64_t)size;
    }
    return n;
}

// Removes a temporary directory unless released (also when an exception leaves the scope).
struct TempDir {
    std::string path;
    bool keep = false;
    ~TempDir() {
        if (keep || path.empty()) return;
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::string unique_sibling(const std::string& out_dir, const std::string& name, const char* what) {
    static std::atomic<uint64_t> counter{0};
    return path_join(out_dir, "." + name + "." + what + "-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(counter.fetch_add(1)));
}

}  // namespace

std::string lora_cat_files_sha256(const std::string& dir) {
    std::string listing;
    for (const char* f : {k_config_file, k_weights_file}) listing += sha256_file(path_join(dir, f)) + "  " + f + "\n";
    return sha256_hex(listing);
}

std::string lora_cat_name(const std::vector<const LoraAdapter*>& adapters, const std::vector<float>& coefs,
                          const LoraCatOptions& opts) {
    return plan_make(adapters, coefs, opts).name;
}

LoraCatResult lora_cat_write(const std::vector<const LoraAdapter*>& adapters, const std::vector<float>& coefs,
                             const std::string& out_dir, const LoraCatOptions& opts) {
    Plan plan = plan_make(adapters, coefs, opts);
    LoraCatResult res;
    res.name = plan.name;
    res.dir = path_join(out_dir, plan.name);
    res.kept = plan.kept;
    res.ranks = plan.ranks;
    res.max_rank = plan.max_rank;
    const std::string what = "LoRA cat of " + adapter_label(*adapters[plan.kept[0]], plan.kept[0]) +
                             (plan.kept.size() > 1 ? " and " + std::to_string(plan.kept.size() - 1) + " more" : "");

    std::error_code ec;
    if (out_dir.empty()) throw Error(what + ": no output directory given");
    fs::create_directories(out_dir, ec);
    if (ec || !fs::is_directory(out_dir)) {
        throw Error(what + ": cannot create the output directory " + out_dir + ": " +
                        (ec ? ec.message() : std::string("not a directory")),
                    "choose a writable directory the server can read");
    }
    if (existing_intact(res.dir, plan, &res.sha256)) {
        res.reused = true;
        res.bytes = files_bytes(res.dir);
        return res;
    }

    Built built = build(adapters, coefs, plan, opts);
    TempDir tmp{unique_sibling(out_dir, plan.name, "tmp")};
    fs::remove_all(tmp.path, ec);  // a leftover of a dead process that had our pid
    if (!fs::create_directory(tmp.path, ec) || ec) {
        throw Error(what + ": cannot create " + tmp.path + ": " + (ec ? ec.message() : std::string("exists")),
                    "is the output directory writable?");
    }
    try {
        safetensors_write(path_join(tmp.path, k_weights_file), built.tensors, {{"format", "pt"}});
        io_write_file_atomic(path_join(tmp.path, k_config_file), built.config);
    } catch (const Error& e) {
        throw Error(what + ": " + e.what(), "is the output directory writable, with space left?");
    }
    res.sha256 = lora_cat_files_sha256(tmp.path);
    res.bytes = files_bytes(tmp.path);
    nlohmann::ordered_json manifest = nlohmann::ordered_json::object();
    manifest["format"] = k_format;
    manifest["name"] = plan.name;
    manifest["key_sha256"] = plan.key_sha256;
    manifest["sha256"] = res.sha256;
    manifest["max_rank"] = plan.max_rank;
    manifest["uniform_rank"] = opts.uniform_rank;
    manifest["dtype"] = dtype_name(opts.dtype);
    manifest["inputs"] = nlohmann::ordered_json::array();
    for (size_t i = 0; i < adapters.size(); ++i) {
        manifest["inputs"].push_back({{"path", adapters[i]->path},
                                      {"sha256", adapters[i]->sha256},
                                      {"coef", coefs[i]},
                                      {"kept", coefs[i] != 0.0f}});
    }
    try {
        io_write_file_atomic(path_join(tmp.path, k_manifest), manifest.dump(2) + "\n");
    } catch (const Error& e) {
        throw Error(what + ": " + e.what(), "is the output directory writable, with space left?");
    }

    // Install. A directory of this name may appear meanwhile (another process materialising the
    // same vector): rename then fails, and an intact one is as good as ours.
    fs::rename(tmp.path, res.dir, ec);
    if (!ec) {
        tmp.keep = true;
        return res;
    }
    std::string existing_sha;
    if (existing_intact(res.dir, plan, &existing_sha) && existing_sha == res.sha256) {
        res.reused = true;
        return res;
    }
    // A damaged or foreign directory of our name: move it aside, put ours in, drop the old one.
    const std::string old = unique_sibling(out_dir, plan.name, "old");
    std::error_code ec_old;
    if (fs::exists(res.dir, ec_old)) fs::rename(res.dir, old, ec_old);
    if (ec_old) {
        throw Error(what + ": cannot replace " + res.dir + ": " + ec_old.message(), "remove that directory by hand");
    }
    fs::rename(tmp.path, res.dir, ec);
    if (ec) throw Error(what + ": cannot rename " + tmp.path + " to " + res.dir + ": " + ec.message());
    tmp.keep = true;
    fs::remove_all(old, ec_old);
    return res;
}

}  // namespace adabench
