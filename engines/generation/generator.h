// Generator: the Engine over any Backend — the host-side generation control written once for every
// compute backend (CPU now, CUDA later): continuous batching of many requests, sampling
// (engines/generation/sampling.h), budget control (engines/generation/budget.h), stop strings, EOS, max_tokens, and
// budget-fork sweeps.
//
// Fork sweep: a request with think budgets B1 < ... < Bk runs one sequence with the largest budget.
// Whenever that sequence is still thinking with n_tokens_think >= Bi (i < k), its KV slot is forked
// (Backend::seq_fork) and the fork gets the forced text and decodes its answer in the same batched
// steps as every other sequence. A sequence that ends thinking on its own before Bi needs no fork:
// its result is the answer for Bi. Sampling randomness is a pure function of (seed, seq_id,
// position) and every decision of a controller depends on its own tokens only, so result i is
// token-identical to a separate run with budget Bi (given a backend whose logits do not depend on
// batch composition, which ours do not).
//
// Not here: the compute (backends), tokenizing prompts and chat templates (callers), weights
// composition (engine_factory.h).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engines/backend.h"
#include "engines/generation/budget.h"
#include "engines/engine.h"

namespace adabench {

class Tokenizer;

// Told about every sampled token with the logits row it was sampled from (inserted forced / wait
// tokens have no row). `fork_budget` is -1 for the main sequence of a request, else the budget the
// fork answers.
struct GenerateLogitsEvent {
    size_t request = 0;
    int fork_budget = -1;
    int32_t token = 0;
    const float* logits = nullptr;
    int n_vocab = 0;
};

struct GeneratorOptions {
    // Sequences decoding together (forks included): new requests are admitted while fewer are active.
    int max_batch = 16;
    std::vector<int32_t> eos_ids;  // config.json eos_token_id(s) + the tokenizer's eos
    // Unmerged LoRA: adapters loaded into the backend and the coefficients a request without its own
    // lora_coefs gets.
    int n_lora_adapters = 0;
    std::vector<float> default_lora_coefs;
    std::string backend_name = "cpu";
    std::function<void(const GenerateLogitsEvent&)> on_logits;
};

// Counters of one generate() call, for benchmarks and tests.
struct GeneratorStats {
    int64_t n_steps = 0;            // backend forward calls
    int64_t n_steps_greedy = 0;     // of which forward_greedy (all greedy, no logits wanted)
    int64_t n_steps_sampled = 0;    // of which forward_sample (the backend samples on the device)
    int64_t n_tokens_prefill = 0;   // prompt tokens fed
    int64_t n_tokens_inserted = 0;  // forced / wait tokens fed
    int64_t n_tokens_sampled = 0;   // tokens sampled (each a decode position)
    int64_t n_forks = 0;            // seq_fork calls
    int max_active = 0;             // largest batch seen
};

// Adapts a Tokenizer to budget control's TokenText.
class TokenizerText : public TokenText {
public:
    explicit TokenizerText(const Tokenizer& tok) : tok_(&tok) {}
    std::string token_bytes(int32_t id) const override;
    std::vector<int32_t> encode_text(const std::string& text) const override;

private:
    const Tokenizer* tok_;
};

// The whole control loop. results[i][j] answers requests[i] at think_budgets[j] (one result when a
// request has no budgets). Validates every request before touching the backend; throws
// adabench::Error naming the request and the problem. Frees every slot it allocated, also on error.
std::vector<std::vector<GenerateResult>> generator_run(Backend& backend, const TokenText& text,
                                                       const GeneratorOptions& options,
                                                       const std::vector<GenerateRequest>& requests,
                                                       GeneratorStats* stats = nullptr);

class Generator : public Engine {
public:
    Generator(std::shared_ptr<Backend> backend, std::shared_ptr<const Tokenizer> tokenizer, GeneratorOptions options);
    EngineInfo info() const override;
    const Tokenizer& tokenizer() const override { return *tokenizer_; }
    std::vector<std::vector<GenerateResult>> generate(const std::vector<GenerateRequest>& requests) override;

    Backend& backend() { return *backend_; }
    GeneratorOptions& options() { return options_; }
    const GeneratorStats& last_stats() const { return stats_; }

private:
    std::shared_ptr<Backend> backend_;
    std::shared_ptr<const Tokenizer> tokenizer_;
    TokenizerText text_;
    GeneratorOptions options_;
    GeneratorStats stats_;
};

}  // namespace adabench
