// PEFT LoRA adapters: loading (adapter_config.json + adapter_model.safetensors), checking them
// against a base model, and the merged composition W' = W + sum_i c_i * (alpha_i / r_i) * B_i A_i.
//
// The unmerged path (y = W x + sum_i s_i B_i (A_i x), per-sequence coefficients) is a backend's
// job; backends read the fp32 A/B matrices from LoraAdapter. Not supported (a clear error): DoRA,
// LoRA on embeddings / lm_head, lora bias, modules_to_save, fan_in_fan_out.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/model/model.h"

namespace adabench {

// The projections an adapter may target, in LayerWeights order.
enum LoraTarget {
    LORA_TARGET_Q,
    LORA_TARGET_K,
    LORA_TARGET_V,
    LORA_TARGET_O,
    LORA_TARGET_GATE,
    LORA_TARGET_UP,
    LORA_TARGET_DOWN,
    LORA_TARGET_COUNT,
};
const char* lora_target_name(LoraTarget t);  // "q_proj", "k_proj", ..., "down_proj"
// LORA_TARGET_COUNT when the name is not a known projection.
LoraTarget lora_target_parse(const std::string& name);
// The base weight a target modifies (layer.q_proj for LORA_TARGET_Q, ...).
const Tensor& lora_target_weight(const LayerWeights& layer, LoraTarget t);
Tensor& lora_target_weight(LayerWeights& layer, LoraTarget t);

// One adapted projection: delta W = base_scale * B A, with W (n_out, n_in).
struct LoraPair {
    int r = 0;                // rank (rows of A)
    float alpha = 0.0f;       // lora_alpha for this module (alpha_pattern applied)
    float base_scale = 0.0f;  // alpha / r (alpha / sqrt(r) with use_rslora); alpha 0 is refused at load
    int64_t n_in = 0;         // columns of W
    int64_t n_out = 0;        // rows of W
    std::vector<float> a;     // (r, n_in), row-major
    std::vector<float> b;     // (n_out, r), row-major
    bool empty() const { return r == 0; }
    float scale(float coef) const { return coef * base_scale; }
};

struct LoraAdapter {
    std::string path;    // adapter directory
    int r = 0;           // adapter_config.json "r" (default rank)
    float alpha = 0.0f;  // adapter_config.json "lora_alpha" (default alpha)
    bool use_rslora = false;
    std::vector<std::string> target_modules;  // as listed in adapter_config.json
    // layers[l][t]: the pair adapting projection t of layer l; empty() when not adapted.
    std::vector<std::array<LoraPair, LORA_TARGET_COUNT>> layers;
    std::string sha256;  // of adapter_model.safetensors, for the store

    // coef * alpha / r (lora_load_adapter refuses alpha 0, which PEFT and llama.cpp read differently;
    // an adapter built in memory with alpha 0 gets coef, llama.cpp's reading). Modules with
    // rank_pattern / alpha_pattern overrides use LoraPair::scale instead.
    float scale(float coef) const { return alpha != 0.0f && r > 0 ? coef * alpha / (float)r : coef; }
};

// Loads dir/adapter_config.json and dir/adapter_model.safetensors (bf16/f16/f32, converted to fp32)
// and checks every tensor name and shape against `base`, and each adapted module against
// target_modules (both ways); lora_alpha 0, duplicate JSON keys and NaN/inf values are errors.
// Errors name the file and tensor and end with "(hint: is this adapter for a different base
// model?)" on a mismatch. Only the base's config and tensor shapes are read, so `base` may come from
// model_load_meta (no weight data read: a served 70B base costs its headers, not its 140 GB).
std::shared_ptr<LoraAdapter> lora_load_adapter(const std::string& dir, const ModelWeights& base);

// Merged composition: a new ModelWeights where every adapted projection is an owned fp32 tensor
// W + sum_i coefs[i] * pair.base_scale * B_i A_i, and every other tensor is shared with `base`
// (same data pointers; `mappings` is copied so the files stay mapped). coefs.size() must equal
// adapters.size(). Shapes are checked again (an adapter built for another base is an error). A
// meta_only base (model_load_meta) is refused: it has no weights to merge into.
std::shared_ptr<ModelWeights> lora_merge_weights(const ModelWeights& base,
                                                 const std::vector<std::shared_ptr<const LoraAdapter>>& adapters,
                                                 const std::vector<float>& coefs);

}  // namespace adabench
