// The default Backend::forward_greedy (see backend.h): forward, then argmax on the host.
#include "engines/backend.h"

#include "engines/sampling.h"

namespace adabench {

void Backend::forward_greedy(const BackendBatch& batch, int32_t* tokens) {
    const size_t n_vocab = static_cast<size_t>(config().vocab_size);
    std::vector<float> logits(batch.slots.size() * n_vocab);
    forward(batch, logits.data());
    for (size_t i = 0; i < batch.slots.size(); ++i)
        tokens[i] = sampling_greedy(logits.data() + i * n_vocab, static_cast<int>(n_vocab));
}

}  // namespace adabench
