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
// Serving (generator_serve): the same loop fed while it runs. Whenever fewer than max_batch
// sequences are active it polls a GeneratorSource for new requests (blocking when nothing is
// active), and hands each request's results to that request's callback as soon as its last
// sequence ends. A request that fails validation, or whose sequences fail in the backend, gets an
// error through its own callback; the loop keeps serving the others. Every request keeps its own
// (seed, seq_id, position) stream, so its tokens are those of generator_run on it alone.
//
// Not here: the compute (backends), tokenizing prompts and chat templates (callers), weights
// composition (engine_factory.h), HTTP (engines/http/serve_engine.h).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engines/backend.h"
#include "engines/engine.h"
#include "engines/generation/budget.h"

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
    // Prefix sharing (generator_run): requests of one call with the same prompt and the same
    // prompt weights (lora_coefs, or the base weights under prefill_base) prefill every prompt token
    // but the last once, in a slot of its own, and each such request forks it and feeds only its
    // last prompt token. Token-identical to prefilling each prompt whole on a backend whose rows do
    // not depend on the batch (ours).
    bool share_prompts = true;
};

// Counters of one generate() call, for benchmarks and tests.
struct GeneratorStats {
    int64_t n_steps = 0;            // steps of the batched loop (one backend forward each)
    int64_t n_steps_greedy = 0;     // of which forward_greedy (all greedy, no logits wanted)
    int64_t n_steps_sampled = 0;    // of which forward_sample (the backend samples on the device)
    int64_t n_tokens_prefill = 0;   // prompt tokens fed
    int64_t n_tokens_inserted = 0;  // forced / wait tokens fed
    int64_t n_tokens_sampled = 0;   // tokens sampled (each a decode position)
    int64_t n_forks = 0;            // seq_fork calls (budget forks and shared-prompt forks)
    int64_t n_tokens_prompt = 0;    // prompt tokens of the requests started (what prefill costs unshared)
    int64_t n_prompts_shared = 0;   // requests started from a shared prompt prefix
    int64_t n_prefix_prefills = 0;  // forwards that prefilled a shared prefix (outside the loop's steps)
    int64_t n_tokens_scored = 0;    // prompt tokens fed one by one for measure_prompt_ppl
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

// One request of a serving loop with its completion callback.
struct GeneratorJob {
    GenerateRequest request;
    // Called exactly once, on the loop's thread. Success: results[j] answers
    // request.think_budgets[j] (one result when there are none) and error is empty. Failure (the
    // request is invalid, the backend failed while it ran, the loop was aborted): results is empty
    // and error is one line ("generate: request: max_tokens 0 must be positive"). It should not
    // throw; an exception from it is swallowed so the loop keeps serving.
    std::function<void(std::vector<GenerateResult> results, std::string error)> on_done;
    // Optional: called on the loop's thread just before the request is validated and started, to
    // complete it from state that may change between serve() calls (serve-engine resolves LoRA
    // names to coefficient vectors here). A non-empty return is the job's error.
    std::function<std::string(GenerateRequest& request)> prepare;
};

// Where generator_serve takes its requests from.
class GeneratorSource {
public:
    virtual ~GeneratorSource() = default;
    // Called on the loop's thread whenever fewer than max_batch sequences are active; at most
    // max_jobs (>= 1) jobs may be returned. wait == false: return at once (empty = nothing new).
    // wait == true (no sequence is active): block until there is work; returning empty then ends
    // generator_serve.
    virtual std::vector<GeneratorJob> poll(size_t max_jobs, bool wait) = 0;
    // Checked before every step: true fails every active job ("aborted") and ends generator_serve.
    virtual bool abort_requested() { return false; }
};

// A thread-safe FIFO GeneratorSource: any thread pushes, the loop polls.
class GeneratorQueue : public GeneratorSource {
public:
    // Queues a job. Returns false (the job is dropped, its callback never called) after close().
    bool push(GeneratorJob job);
    // Stops admission: poll hands out nothing and never blocks, so generator_serve returns as soon
    // as its active sequences are done (the caller may then change the backend). Counted: every
    // pause() needs its resume(). Jobs pushed meanwhile wait in the queue.
    void pause();
    void resume();
    // For good: push refuses, poll hands out nothing; abort also makes abort_requested() true so
    // active sequences are failed instead of decoded to the end. Returns the jobs still queued
    // (never started; the caller answers them).
    std::vector<GeneratorJob> close(bool abort);
    size_t size() const;  // jobs waiting

    std::vector<GeneratorJob> poll(size_t max_jobs, bool wait) override;
    bool abort_requested() override;

private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<GeneratorJob> jobs_;
    int paused_ = 0;
    bool closed_ = false;
    bool aborted_ = false;
};

// The serving loop (see the top of this file): runs until `source` ends it (poll with wait
// returns empty, or abort_requested). Stats accumulate over the whole call (the request index of
// a GenerateLogitsEvent is the admission number). Frees every slot it allocated, also on error;
// an exception from the source itself fails every active job and is rethrown.
void generator_serve(Backend& backend, const TokenText& text, const GeneratorOptions& options, GeneratorSource& source,
                     GeneratorStats* stats = nullptr);

class Generator : public Engine {
public:
    Generator(std::shared_ptr<Backend> backend, std::shared_ptr<const Tokenizer> tokenizer, GeneratorOptions options);
    EngineInfo info() const override;
    const Tokenizer& tokenizer() const override { return *tokenizer_; }
    std::vector<std::vector<GenerateResult>> generate(const std::vector<GenerateRequest>& requests) override;
    // generator_serve over this engine's backend and options; last_stats() covers the call. Not
    // to be run concurrently with generate() or another serve() on the same Generator.
    void serve(GeneratorSource& source);

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
