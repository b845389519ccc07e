// Checks every Backend runs before it touches its own memory, written once for the CPU and CUDA
// backends so both reject the same inputs with the same messages: weights against their config,
// LoRA adapters against the weights, a forward batch against the slots, the vocabulary and the
// sequence limit. Each throws adabench::Error naming the tensor, slot or token and what to change.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engines/backend.h"
#include "engines/model/lora.h"
#include "engines/model/model.h"

namespace adabench {

// Config dimensions are positive and consistent (heads divide, head_dim even, layer count) and
// every tensor has the shape the config implies (q/k/v biases when attention_bias or present).
void backend_check_weights(const ModelWeights& w);

// The weight a projection's lm_head role uses: lm_head, or the embedding when tied and absent.
const Tensor& backend_lm_head(const ModelWeights& w);

// Every adapter is non-null, has the model's layer count, and each adapted projection's A (r, n_in)
// and B (n_out, r) fit the weight it modifies.
void backend_check_adapters(const std::vector<std::shared_ptr<const LoraAdapter>>& adapters, const ModelWeights& w);

// `who` names the caller in messages ("CudaBackend::set_weights"). The new weights keep every
// dimension of the old ones (a merge or merged LoRA never changes shapes).
void backend_check_same_architecture(const ModelWeights& old_w, const ModelWeights& new_w, const std::string& who);

// The composition sources' model has the backend's config (`have`): every dimension and
// tie_word_embeddings (Backend::set_compose_sources).
void backend_check_compose_config(const ModelConfig& have, const ModelWeights& model, const std::string& who);

// A forward batch: one token list per slot, no slot twice, no empty list, ids inside the
// vocabulary, no slot beyond max_seq_len, lora_coefs empty or one list per sequence of size 0 or
// n_adapters. slot_len(slot) throws for a slot that is not allocated. Returns the token count.
int64_t backend_check_batch(const BackendBatch& batch, const std::string& who, int vocab_size, int max_seq_len,
                            size_t n_adapters, const std::function<int(int)>& slot_len);

}  // namespace adabench
