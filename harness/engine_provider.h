// The real SweepEngineProvider: builds one engine through engines/engine_factory.h with the
// composition sources kept in its backend, and recomposes it (Backend::compose) for each later
// weight composition, formats prompts with the model's chat template and tokenizer, and computes
// the content hashes a run records (model files, adapters, merge models).
//
// Not here: scheduling (harness/sweep.cpp) and anything backend-specific.
#pragma once
#include <memory>
#include <string>

#include "harness/sweep.h"
#include "harness/sweep_config.h"

namespace adabench {

std::unique_ptr<SweepEngineProvider> sweep_make_engine_provider(const SweepConfig& config);

// sha256 over the files that define a model or adapter directory (config, tokenizer, weights),
// each as "name sha256\n" in name order, so a renamed directory with the same files hashes the
// same. Throws adabench::Error when the directory holds none of them.
std::string sweep_hash_model_dir(const std::string& dir);

}  // namespace adabench
