// Random-weight models built in memory, for tests and benchmarks that need a model of a given
// shape without files (a tiny Qwen2 for the equivalence tests, a Qwen2.5-0.5B-shaped one for the
// speed benchmark). Weights are uniform in +-1/sqrt(fan_in) so activations stay O(1); norms are
// near 1. Deterministic in the seed. Not a substitute for the PyTorch goldens: these models only
// check that our own paths agree with each other.
#pragma once
#include <cstdint>
#include <memory>

#include "engines/model/model.h"

namespace adabench {

// Every matrix (and the embedding) stored as `dtype`; norms and biases as fp32.
std::shared_ptr<ModelWeights> cpu_random_model(const ModelConfig& config, DType dtype, uint64_t seed);

// Shapes used by tests and benchmarks.
ModelConfig cpu_config_qwen2_0_5b();                     // Qwen2.5-0.5B: C 896, 24 layers, 14/2 heads, I 4864, V 151936
ModelConfig cpu_config_tiny(bool tied, int n_kv_heads);  // C 64, 2 layers, 4 heads, D 16, I 96, V 97
ModelConfig cpu_config_organism();  // the bundled organism's shape (tools/train/train.py): C 256, 4 layers, 4/2 heads, I 512, V 533

// Bytes of matrix weights one decode token reads (all layers plus lm_head), for GB/s figures.
int64_t cpu_model_weight_bytes(const ModelWeights& w);

}  // namespace adabench
