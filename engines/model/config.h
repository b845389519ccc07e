// config.json -> ModelConfig for the Qwen2 / Llama families (and Qwen3, parsed but not loadable).
//
// Reads both the transformers-4 layout (top-level rope_theta, torch_dtype) and the transformers-5
// layout (rope_parameters{rope_theta, rope_type}, dtype). Defaults that differ by family
// (tie_word_embeddings, attention_bias) come from a small table, as transformers' config classes
// set them. Deliberately rejected with a clear error: rope scaling other than "default", sliding
// window attention switched on, activations other than silu — the backends do not implement them.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "engines/model/model.h"

namespace adabench {

// Parses and validates config.json. Errors name the file and the field
// ("config.json: field 'hidden_size' must be an integer, got string").
ModelConfig config_load(const std::string& path);
// Same, from parsed JSON; `source` names the file in error messages.
ModelConfig config_from_json(const nlohmann::json& j, const std::string& source);
// The config as a JSON object in the transformers-4 layout (for writing merged models).
nlohmann::json config_to_json(const ModelConfig& c);

}  // namespace adabench
