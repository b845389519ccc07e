// Model merges computed in memory from loaded (memory-mapped) models: linear and task arithmetic,
// with a scalar or per-layer lambda list (mergekit's gradient semantics).
//
// A list [v0, ..., vm] is a gradient over depth: tensor group at position t in [0, 1] gets
// scaled = t * m, i0 = floor(scaled), value = (1 - frac) * v[i0] + frac * v[min(i0 + 1, m)].
// Decoder layer l of n gets t = l / (n - 1) (t = 1 when n = 1); embed_tokens gets t = 0; the final
// norm and an untied lm_head get t = 1 (mergekit plans them as pre/post weights). With tied
// embeddings lm_head is the merged embed_tokens. A new lambda means calling again on the same
// loaded inputs: nothing is read from disk twice. Not done: TIES / DARE, slerp, tokenizer merges.
#pragma once
#include <memory>
#include <vector>

#include "engines/model/model.h"

namespace adabench {

// mergekit's evaluate_setting for a numeric list at position t.
float merge_lambda_at(const std::vector<float>& lambdas, double t);
// The t of decoder layer `layer` of `n_layers`.
double merge_layer_t(int layer, int n_layers);

// theta = lambda * theta_a + (1 - lambda) * theta_b. Every tensor becomes an owned fp32 tensor.
std::shared_ptr<ModelWeights> merge_linear(const ModelWeights& a, const ModelWeights& b,
                                           const std::vector<float>& lambda);

// theta = theta_base + sum_k lambda_k * (theta_k - theta_base); lambdas[k] is model k's scalar or list.
std::shared_ptr<ModelWeights> merge_task_arithmetic(const ModelWeights& base,
                                                    const std::vector<const ModelWeights*>& models,
                                                    const std::vector<std::vector<float>>& lambdas);

// Throws adabench::Error naming the first differing config field or tensor shape.
void merge_check_compatible(const ModelWeights& a, const ModelWeights& b);

}  // namespace adabench
