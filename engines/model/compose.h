// Weight composition as data: the *sources* (the model, an optional model to merge with, an
// optional task-arithmetic base, LoRA adapters to merge into the weights), given to a backend once,
// and the *parameters* that change per grid point of a sweep (merge kind, lambda scalar or per-layer
// list, merged-LoRA coefficients). Backend::set_compose_sources / Backend::compose (backend.h) take
// them; the host composition below is the reference every backend matches and the default
// implementation (engines/backend.cpp).
//
// Order: the merge first (linear theta = lambda * model + (1 - lambda) * merge_with, or task
// arithmetic theta = base + 1 * (model - base) + lambda * (merge_with - base), lambda by depth in
// mergekit's gradient semantics, engines/model/merge.h), then the merged LoRA
// W' = W + sum_i c_i * scale_i * B_i A_i (engines/model/lora.h). Not here: loading from disk
// (engine_factory.h), unmerged LoRA (per-request coefficients, BackendBatch).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engines/model/model.h"

namespace adabench {

struct LoraAdapter;  // engines/model/lora.h

enum ComposeMerge {
    COMPOSE_MERGE_NONE,             // the model as it is
    COMPOSE_MERGE_LINEAR,           // needs merge_with
    COMPOSE_MERGE_TASK_ARITHMETIC,  // needs merge_with and merge_base
};
const char* compose_merge_name(ComposeMerge m);  // "none", "linear", "task_arithmetic"

struct ComposeSources {
    std::shared_ptr<const ModelWeights> model;       // required
    std::shared_ptr<const ModelWeights> merge_with;  // optional
    std::shared_ptr<const ModelWeights> merge_base;  // optional (task arithmetic)
    // Adapters merged into the weights; ComposeParams::lora_coefs has one coefficient per adapter.
    std::vector<std::shared_ptr<const LoraAdapter>> merged_adapters;
};

struct ComposeParams {
    ComposeMerge merge = COMPOSE_MERGE_NONE;
    std::vector<float> lambda;      // one value (global) or a per-layer list; empty with MERGE_NONE
    std::vector<float> lora_coefs;  // one per merged adapter (empty when there are none)
};

// True when the sources hold something to compose (a merge model or merged adapters).
bool compose_sources_nontrivial(const ComposeSources& s);

// The sources fit together: a model is given, a base only with a merge model, every model shares
// the architecture and tensor shapes (merge_check_compatible: the message names both files), every
// adapter fits the model (the message names the adapter). Throws adabench::Error.
void compose_check_sources(const ComposeSources& s);

// The parameters fit the sources: the merge kind has its models, lambda is non-empty and finite
// exactly when there is a merge, one finite coefficient per merged adapter. Throws adabench::Error.
void compose_check_params(const ComposeSources& s, const ComposeParams& p);

// The composed weights on the host (merge.h, then lora.h). With nothing to compose this is
// s.model itself. Throws adabench::Error.
std::shared_ptr<const ModelWeights> compose_weights_host(const ComposeSources& s, const ComposeParams& p);

// "linear λ=0.5 lora=[0.25]" for messages.
std::string compose_params_describe(const ComposeParams& p);

}  // namespace adabench
