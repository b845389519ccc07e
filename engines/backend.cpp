// The defaults of Backend (see backend.h): forward_greedy and forward_sample (forward, then the
// reduction on the host), and weight composition (host composition, then set_weights).
#include "engines/backend.h"

#include "common/error.h"
#include "engines/backend_checks.h"
#include "engines/generation/sampling.h"

namespace adabench {

void Backend::forward_greedy(const BackendBatch& batch, int32_t* tokens) {
    const size_t n_vocab = static_cast<size_t>(config().vocab_size);
    std::vector<float> logits(batch.slots.size() * n_vocab);
    forward(batch, logits.data());
    for (size_t i = 0; i < batch.slots.size(); ++i)
        tokens[i] = sampling_greedy(logits.data() + i * n_vocab, static_cast<int>(n_vocab));
}

void Backend::forward_sample(const BackendBatch& batch, const std::vector<SampleRow>& rows, int32_t* tokens) {
    if (rows.size() != batch.slots.size())
        throw Error("Backend::forward_sample: " + std::to_string(rows.size()) + " sampling rows for " +
                    std::to_string(batch.slots.size()) + " sequences");
    for (const SampleRow& r : rows) sampling_validate_params(r.params);
    const size_t n_vocab = static_cast<size_t>(config().vocab_size);
    std::vector<float> logits(batch.slots.size() * n_vocab);
    forward(batch, logits.data());
    for (size_t i = 0; i < rows.size(); ++i)
        tokens[i] = sampling_make_chain(rows[i].params, rows[i].seq_id)
                        ->sample(logits.data() + i * n_vocab, static_cast<int>(n_vocab), rows[i].position);
}

int backend_hidden_layer_end(const BackendHiddenRequest& r, int n_layers, const std::string& who) {
    const int end = r.layer_end < 0 ? n_layers : r.layer_end;
    if (r.layer_begin < 0 || r.layer_begin >= end || end > n_layers)
        throw Error(who + ": layers [" + std::to_string(r.layer_begin) + ", " + std::to_string(end) +
                    ") are not a non-empty range of the model's " + std::to_string(n_layers) + " layers");
    if (r.layer_begin > 0 && !r.input)
        throw Error(who + ": a run starting at layer " + std::to_string(r.layer_begin) + " needs its input",
                    "pass the residual stream entering that layer");
    return end;
}

void Backend::forward_hidden(const BackendBatch&, const BackendHiddenRequest&, float*) {
    throw Error("backend " + device() + " does not return per-layer hidden states",
                "use engine cpu or cuda for calibration");
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
