// Token samplers as a chain (llama.cpp llama-sampling style): small objects with apply / accept /
// reset that narrow or reshape a candidate list, then a final picker. Randomness is a pure function
// of (seed, seq_id, position) through a counter-based hash (splitmix64 of the triple), one uniform
// per position, so a token never depends on batch composition, on forks, or on what was sampled
// for other sequences. This is what makes a budget-fork sweep token-identical to separate runs.
//
// Chain order (HF transformers and vLLM order): temperature -> top-k -> top-p -> dist; temperature
// <= 0 means greedy (argmax, ties -> lowest id). Deliberately absent: repetition penalties, min-p,
// mirostat, grammar constraints — none of the budget methods we compare use them.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/engine.h"

namespace adabench {

struct TokenCandidate {
    int32_t id = 0;
    float logit = 0.0f;
    float p = 0.0f;  // filled by sampling_softmax
};

// The working set a chain reshapes. `position` is the index in the sequence (KV position) of the
// token being sampled: the counter of the random stream.
struct TokenCandidates {
    std::vector<TokenCandidate> data;
    bool sorted = false;  // descending by logit, ties by ascending id
    uint64_t position = 0;
    int32_t selected = -1;  // set by a picker (greedy, dist)
};

// splitmix64-based hash of (seed, seq_id, position); sampling_uniform maps it to [0, 1) with 53 bits.
uint64_t sampling_hash(uint64_t seed, uint64_t seq_id, uint64_t position);
// The splitmix64 finaliser the hash is built from (also what seeds are derived with elsewhere).
uint64_t sampling_splitmix64(uint64_t x);
double sampling_uniform(uint64_t seed, uint64_t seq_id, uint64_t position);

// argmax of a logits row, ties to the lowest id (what SamplerGreedy picks). Throws adabench::Error
// naming the token when a logit is NaN.
int32_t sampling_greedy(const float* logits, int n_vocab);
// True when the chain is greedy only (its token is sampling_greedy of the row).
bool sampling_is_greedy(const SamplingParams& params);

// Fills cands from a logits row (ids 0..n_vocab-1, unsorted).
void sampling_fill_candidates(TokenCandidates& cands, const float* logits, int n_vocab);
// Sorts descending by logit (ties: lower id first); keeps only the best `keep` when keep > 0.
void sampling_sort_candidates(TokenCandidates& cands, size_t keep = 0);
// p = softmax(logit) over the current candidates (max-subtracted, accumulated in double).
void sampling_softmax(TokenCandidates& cands);

class Sampler {
public:
    virtual ~Sampler() = default;
    virtual const char* name() const = 0;
    virtual void apply(TokenCandidates& cands) = 0;
    // Told about the token finally chosen (sampled or forced); stateless samplers ignore it.
    virtual void accept(int32_t token) {}
    virtual void reset() {}
};

// argmax over logits; ties go to the lowest id. Sets `selected`.
class SamplerGreedy : public Sampler {
public:
    const char* name() const override { return "greedy"; }
    void apply(TokenCandidates& cands) override;
};

// logit /= t (t > 0).
class SamplerTemperature : public Sampler {
public:
    explicit SamplerTemperature(float t);
    const char* name() const override { return "temperature"; }
    void apply(TokenCandidates& cands) override;

private:
    float t_;
};

// Keeps the k most likely candidates (k > 0; ties at the boundary broken by lower id).
class SamplerTopK : public Sampler {
public:
    explicit SamplerTopK(int k);
    const char* name() const override { return "top_k"; }
    void apply(TokenCandidates& cands) override;

private:
    int k_;
};

// Nucleus: keeps the smallest prefix of the sorted candidates whose probability mass reaches p
// (always at least one). p >= 1 keeps everything.
class SamplerTopP : public Sampler {
public:
    explicit SamplerTopP(float p);
    const char* name() const override { return "top_p"; }
    void apply(TokenCandidates& cands) override;

private:
    float p_;
};

// Picks by inverse CDF with u = sampling_uniform(seed, seq_id, cands.position), walking the
// candidates in their current order. Sets `selected`.
class SamplerDist : public Sampler {
public:
    SamplerDist(uint64_t seed, uint64_t seq_id) : seed_(seed), seq_id_(seq_id) {}
    const char* name() const override { return "dist"; }
    void apply(TokenCandidates& cands) override;

private:
    uint64_t seed_, seq_id_;
};

class SamplerChain {
public:
    void add(std::unique_ptr<Sampler> s) { samplers_.push_back(std::move(s)); }
    // Runs the chain on one logits row and returns the chosen id. Greedy-only chains take a fast
    // path without building candidates.
    int32_t sample(const float* logits, int n_vocab, uint64_t position);
    void accept(int32_t token);
    void reset();
    std::string describe() const;  // "temperature(0.6) -> top_p(0.95) -> dist" style

private:
    std::vector<std::unique_ptr<Sampler>> samplers_;
    TokenCandidates cands_;  // reused between calls
};

// The chain for SamplingParams: greedy when temperature <= 0, else temperature -> [top_k] ->
// [top_p] -> dist. Throws adabench::Error on out-of-range parameters (top_p outside (0, 1],
// negative top_k, non-finite temperature).
std::unique_ptr<SamplerChain> sampling_make_chain(const SamplingParams& params, uint64_t seq_id);
void sampling_validate_params(const SamplingParams& params);

}  // namespace adabench
