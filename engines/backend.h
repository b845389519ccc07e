// Backend: the low-level contract between the host-side generation control (engines/generation/generator.*:
// sampling, budgets, fork sweeps, stop strings — written once) and a compute backend
// (engines/cpu, engines/cuda). A backend owns the weights in its own format and a KV cache of
// sequence slots; it appends tokens to slots and returns the logits of the last appended position.
// It knows nothing about budgets, sampling or text.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/engine.h"
#include "engines/model/compose.h"
#include "engines/model/model.h"

namespace adabench {

struct LoraAdapter;  // engines/model/lora.h

struct BackendBatch {
    // One entry per sequence taking part in this step. tokens[i] are appended to slots[i]
    // (a prompt in prefill, one token in decode; lengths may differ within a batch).
    std::vector<int> slots;
    std::vector<std::vector<int32_t>> tokens;
    // Unmerged LoRA: lora_coefs[i][a] is the coefficient of adapter a for sequence i (the scale
    // applied is coef * lora_alpha / r). Empty = every coefficient 0 (base weights).
    std::vector<std::vector<float>> lora_coefs;
};

// How one sequence's next token is drawn (forward_sample): the request's sampling parameters and
// the coordinates of its random stream (sampling.h: one uniform per (seed, seq_id, position)).
struct SampleRow {
    SamplingParams params;
    uint64_t seq_id = 0;
    uint64_t position = 0;  // KV position of the token being sampled
};

// What Backend::forward_hidden runs: decoder layers [layer_begin, layer_end) (layer_end -1 = every
// layer), entered by `input` (T, C) — the residual stream before layer_begin for every token of the
// batch in batch order — or, when input is null, by the token embeddings (then layer_begin is 0).
struct BackendHiddenRequest {
    int layer_begin = 0;
    int layer_end = -1;
    const float* input = nullptr;
};
// The request's layer_end with -1 resolved, after checking 0 <= begin < end <= n_layers and that a
// request starting past layer 0 has an input. Throws adabench::Error naming `who`.
int backend_hidden_layer_end(const BackendHiddenRequest& request, int n_layers, const std::string& who);

class Backend {
public:
    virtual ~Backend() = default;
    virtual const ModelConfig& config() const = 0;
    virtual std::string device() const = 0;  // human-readable device description

    // KV-cache slots. seq_alloc throws adabench::Error when the cache is full.
    virtual int seq_alloc() = 0;
    virtual void seq_free(int slot) = 0;
    // A new slot holding a copy of `slot`'s cache (the fork of a budget sweep).
    virtual int seq_fork(int slot) = 0;
    virtual int seq_len(int slot) const = 0;
    // Positions one slot can hold (the context); 0 = no fixed limit. The Generator ends a sequence
    // that would overrun it (finish reason context) instead of failing the batch.
    virtual int max_seq_len() const { return 0; }
    // Drops positions >= n from a slot (used when a forced text replaces sampled tokens).
    virtual void seq_truncate(int slot, int n) = 0;

    // Appends the batch's tokens and writes the fp32 logits of each sequence's last appended
    // position to logits[i * vocab_size .. (i+1) * vocab_size).
    virtual void forward(const BackendBatch& batch, float* logits) = 0;

    // Appends like forward() and writes each sequence's greedy token (argmax of its logits row,
    // ties to the lowest id, an error on NaN: sampling_greedy) to tokens[i]. The Generator uses it
    // for steps where every sequence decodes greedily and nobody asked for the logits. This default
    // computes the logits and reduces them on the host; a device backend overrides it so the rows
    // need not travel to the host.
    virtual void forward_greedy(const BackendBatch& batch, int32_t* tokens);

    // Appends like forward() and draws each sequence's token by its own chain (temperature, top-k,
    // top-p, dist; greedy when temperature <= 0) with the randomness contract of sampling.h:
    // tokens[i] is the token SamplerChain::sample would pick from sequence i's logits row. Used by
    // the Generator for steps where nobody asked for the logits, when samples_on_device() is true.
    // The default computes the logits and runs the chains on the host; a device backend overrides
    // it so that only S token ids leave the device.
    virtual bool samples_on_device() const { return false; }
    virtual void forward_sample(const BackendBatch& batch, const std::vector<SampleRow>& rows, int32_t* tokens);

    // Per-layer hidden states (harness/calibrate.h, forward passes only): runs request's layers over
    // the batch's tokens, placed after each slot's current length as forward() would, and writes the
    // residual stream after each layer run for every token: hidden[((l - layer_begin) * T + t) * C + c],
    // T = the batch's tokens in batch order, C = hidden_size. No head, no logits, and the positions
    // are not kept: every slot has its old length afterwards. The default throws adabench::Error
    // (a backend without the hook, e.g. an external server).
    virtual void forward_hidden(const BackendBatch& batch, const BackendHiddenRequest& request, float* hidden);

    // Adapters for the unmerged LoRA path (per-sequence coefficients in BackendBatch).
    virtual void set_lora_adapters(std::vector<std::shared_ptr<const LoraAdapter>> adapters) = 0;
    // Replaces the weights (merged LoRA or a model merge computed on the host). Clears the cache.
    virtual void set_weights(std::shared_ptr<const ModelWeights> weights) = 0;

    // Weight composition (engines/model/compose.h). The sources come once (checked with
    // compose_check_sources; their config and shapes must be the backend's); each compose() then
    // replaces the live weights by the composition of those sources with new parameters (merge
    // kind, lambda, merged-LoRA coefficients) and clears the cache like set_weights. Unmerged
    // adapters (set_lora_adapters) stay. The defaults (backend.cpp) keep the sources on the host
    // and call set_weights(compose_weights_host(...)); a device backend overrides both to keep the
    // sources in its own memory and compose there. set_compose_sources may clear the cache.
    virtual void set_compose_sources(ComposeSources sources);
    virtual void compose(const ComposeParams& params);

protected:
    ComposeSources compose_sources_;  // the default implementation's copy
};

}  // namespace adabench
