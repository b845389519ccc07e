// The default Backend::forward_greedy (forward, then argmax on the host) and the default weight
// composition (host composition, then set_weights); see backend.h.
#include "engines/backend.h"

#include "common/error.h"
#include "engines/backend_checks.h"
#include "engines/sampling.h"

namespace adabench {

void Backend::forward_greedy(const BackendBatch& batch, int32_t* tokens) {
    const size_t n_vocab = static_cast<size_t>(config().vocab_size);
    std::vector<float> logits(batch.slots.size() * n_vocab);
    forward(batch, logits.data());
    for (size_t i = 0; i < batch.slots.size(); ++i)
        tokens[i] = sampling_greedy(logits.data() + i * n_vocab, static_cast<int>(n_vocab));
}

void Backend::set_compose_sources(ComposeSources sources) {
    compose_check_sources(sources);
    backend_check_compose_config(config(), *sources.model, "Backend::set_compose_sources");
    compose_sources_ = std::move(sources);
}

void Backend::compose(const ComposeParams& params) {
    if (!compose_sources_.model)
        throw Error("Backend::compose: no composition sources", "call set_compose_sources first");
    set_weights(compose_weights_host(compose_sources_, params));
}

}  // namespace adabench
