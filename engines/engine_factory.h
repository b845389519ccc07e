// Engine factory: builds a ready Engine (a Generator over a backend) from a model directory plus
// optional LoRA adapters and a model merge, the way `adabench generate` and the harness ask for one.
//
// Composition order: load --model; if a merge is asked, merge it with --merge-with (linear, or task
// arithmetic around --merge-base); then LoRA adapters on top (merged into the weights, or unmerged
// in the backend with per-sequence coefficients). The tokenizer and chat template always come from
// --model. Backends come from a registry by name: "cpu" is built in; "cuda" is added by
// cuda_backend_register() (engines/cuda/cuda_backend.h), which the CLI calls in CUDA builds.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engines/model/compose.h"
#include "engines/generation/generator.h"
#include "engines/model/model.h"

namespace adabench {

struct EngineFactoryOptions {
    std::string backend = "cpu";
    std::string model_dir;
    // LoRA adapters (PEFT directories) with their coefficients.
    std::vector<std::pair<std::string, float>> adapters;
    // false: unmerged (the backend adds s * B(Ax) per token; requests may carry their own
    // coefficients); true: W' = W + sum c_i (alpha_i / r_i) B_i A_i materialised once.
    bool lora_merged = false;
    // Model merge. Without merge_base: linear, theta = lambda * theta_model + (1 - lambda) * theta_with.
    // With merge_base: task arithmetic, theta = theta_model + lambda * (theta_with - theta_base).
    // lambda has one value (global) or a per-layer list (mergekit's gradient semantics).
    std::string merge_with;
    std::vector<float> lambda;
    std::string merge_base;
    // Backend and batching.
    int n_threads = 0;                // 0 = all cores
    std::string precision = "exact";  // cpu: "exact" | "fast"
    int max_batch = 16;
    bool share_prompts = true;           // GeneratorOptions::share_prompts (prefix sharing)
    int max_seq_len = 0;                 // 0 = the model's max_position_embeddings
    std::string kv_cache_dtype = "f32";  // cuda: KV cache element type, "f32" | "bf16" (half the memory)
    // true: the backend gets the composition sources (Backend::set_compose_sources) and composes
    // itself, so a later composition of the same sources is one Backend::compose call (the sweep);
    // a device backend then keeps the sources in device memory. false: the weights are composed on
    // the host and the backend never sees the sources (one composition, least memory).
    bool compose_in_backend = false;
};

// Builds a backend over composed weights for engine_make.
using BackendFactory =
    std::function<std::shared_ptr<Backend>(std::shared_ptr<const ModelWeights>, const EngineFactoryOptions&)>;
// Adds or replaces a backend by name.
void engine_register_backend(const std::string& name, BackendFactory factory);
// The names engine_make accepts, sorted ("cpu", and "cuda" in CUDA builds once registered).
std::vector<std::string> engine_backend_names();

// "DIR=COEF" -> (DIR, COEF); a bare "DIR" means coefficient 1. Throws adabench::UsageError.
std::pair<std::string, float> engine_parse_adapter_arg(const std::string& arg);
// "0.5" or "0.1,0.5,0.9" -> values. Throws adabench::UsageError.
std::vector<float> engine_parse_float_list(const std::string& arg, const std::string& what);

// The composition sources of the options, loaded from disk once: --model, --merge-with,
// --merge-base, and the adapters when lora_merged (checked: compose_check_sources). Throws
// adabench::Error naming the file.
ComposeSources engine_load_compose_sources(const EngineFactoryOptions& options);
// The composition parameters of the options (merge kind from merge_with / merge_base, lambda, the
// merged adapters' coefficients). Throws adabench::Error for lambda without --merge-with.
ComposeParams engine_compose_params(const EngineFactoryOptions& options);

// The composed weights (merge, then merged LoRA when lora_merged):
// compose_weights_host(engine_load_compose_sources(o), engine_compose_params(o)).
std::shared_ptr<const ModelWeights> engine_compose_weights(const EngineFactoryOptions& options);

// EOS ids of a model: config.json eos_token_id(s) plus the tokenizer's eos, without duplicates.
std::vector<int32_t> engine_eos_ids(const ModelConfig& config, const Tokenizer& tokenizer);

// The Engine. Throws adabench::Error (unknown backend, unreadable model, incompatible merge or adapter).
std::unique_ptr<Generator> engine_make(const EngineFactoryOptions& options);

}  // namespace adabench
