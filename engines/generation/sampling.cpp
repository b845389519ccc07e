// Samplers: see sampling.h. The candidate order after sorting is total (logit descending, then id
// ascending), so every sampler is deterministic even on exact ties.
#include "engines/generation/sampling.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace adabench {

uint64_t sampling_splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

namespace {

bool candidate_before(const TokenCandidate& a, const TokenCandidate& b) {
    if (a.logit != b.logit) return a.logit > b.logit;
    return a.id < b.id;
}

[[noreturn]] void throw_nan(int32_t id) {
    throw Error("sampling: logit of token " + std::to_string(id) + " is NaN",
                "the backend produced non-finite values; check the weights and the backend");
}

}  // namespace

uint64_t sampling_hash(uint64_t seed, uint64_t seq_id, uint64_t position) {
    // Three chained rounds: each input passes through a full avalanche before the next is mixed in,
    // so (seed, seq, pos) and (seed, seq + 1, pos - k) share nothing.
    uint64_t h = sampling_splitmix64(seed);
    h = sampling_splitmix64(h ^ seq_id);
    h = sampling_splitmix64(h ^ position);
    return h;
}

double sampling_uniform(uint64_t seed, uint64_t seq_id, uint64_t position) {
    return static_cast<double>(sampling_hash(seed, seq_id, position) >> 11) * 0x1.0p-53;
}

void sampling_fill_candidates(TokenCandidates& cands, const float* logits, int n_vocab) {
    cands.data.resize(static_cast<size_t>(n_vocab));
    for (int i = 0; i < n_vocab; ++i) {
        if (std::isnan(logits[i])) throw_nan(i);
        cands.data[static_cast<size_t>(i)] = TokenCandidate{i, logits[i], 0.0f};
    }
    cands.sorted = false;
    cands.selected = -1;
}

void sampling_sort_candidates(TokenCandidates& cands, size_t keep) {
    auto& d = cands.data;
    if (keep > 0 && keep < d.size()) {
        if (!cands.sorted) {
            std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(keep), d.end(), candidate_before);
        }
        d.resize(keep);
    } else if (!cands.sorted) {
        std::sort(d.begin(), d.end(), candidate_before);
    }
    cands.sorted = true;
}

void sampling_softmax(TokenCandidates& cands) {
    auto& d = cands.data;
    if (d.empty()) return;
    float max_logit = d[0].logit;
    if (!cands.sorted) {
        for (const auto& c : d) max_logit = std::max(max_logit, c.logit);
    }
    double sum = 0.0;
    for (auto& c : d) {
        c.p = std::exp(c.logit - max_logit);
        sum += c.p;
    }
    for (auto& c : d) c.p = static_cast<float>(c.p / sum);
}

void SamplerGreedy::apply(TokenCandidates& cands) {
    if (cands.data.empty()) throw Error("sampling: greedy sampler got no candidates");
    size_t best = 0;
    for (size_t i = 1; i < cands.data.size(); ++i) {
        if (candidate_before(cands.data[i], cands.data[best])) best = i;
    }
    cands.selected = cands.data[best].id;
}

SamplerTemperature::SamplerTemperature(float t) : t_(t) {
    if (!(t > 0.0f) || !std::isfinite(t)) throw Error("sampling: temperature must be > 0 and finite for scaling");
}

void SamplerTemperature::apply(TokenCandidates& cands) {
    // Dividing by a positive number keeps the order, so `sorted` stays valid.
    for (auto& c : cands.data) c.logit /= t_;
}

SamplerTopK::SamplerTopK(int k) : k_(k) {
    if (k <= 0) throw Error("sampling: top_k must be > 0 (0 means off and adds no sampler)");
}

void SamplerTopK::apply(TokenCandidates& cands) { sampling_sort_candidates(cands, static_cast<size_t>(k_)); }

SamplerTopP::SamplerTopP(float p) : p_(p) {
    if (!(p > 0.0f && p <= 1.0f)) throw Error("sampling: top_p must be in (0, 1]");
}

void SamplerTopP::apply(TokenCandidates& cands) {
    if (p_ >= 1.0f || cands.data.empty()) return;
    sampling_softmax(cands);
    // The nucleus is usually a few hundred tokens out of ~150k: sort a growing prefix instead of
    // the whole vocabulary, and fall back to a full sort only when the mass is spread thin.
    size_t n = cands.data.size();
    size_t window = std::min<size_t>(n, 256);
    for (;;) {
        if (!cands.sorted) {
            std::partial_sort(cands.data.begin(), cands.data.begin() + static_cast<std::ptrdiff_t>(window),
                              cands.data.end(), candidate_before);
            if (window == n) cands.sorted = true;
        }
        double cum = 0.0;
        for (size_t i = 0; i < window; ++i) {
            cum += cands.data[i].p;
            if (cum >= p_) {
                cands.data.resize(i + 1);
                cands.sorted = true;
                return;
            }
        }
        if (window == n) return;  // rounding left the sum just under p: keep everything
        window = std::min(n, window * 8);
    }
}

void SamplerDist::apply(TokenCandidates& cands) {
    if (cands.data.empty()) throw Error("sampling: dist sampler got no candidates");
    sampling_softmax(cands);
    double total = 0.0;
    for (const auto& c : cands.data) total += c.p;
    double target = sampling_uniform(seed_, seq_id_, cands.position) * total;
    double cum = 0.0;
    for (const auto& c : cands.data) {
        cum += c.p;
        if (target < cum) {
            cands.selected = c.id;
            return;
        }
    }
    cands.selected = cands.data.back().id;  // target == total after rounding
}

int32_t sampling_greedy(const float* logits, int n_vocab) {
    if (n_vocab <= 0) throw Error("sampling: empty logits row");
    int32_t best = 0;
    for (int i = 0; i < n_vocab; ++i) {
        if (std::isnan(logits[i])) throw_nan(i);
        if (logits[i] > logits[best]) best = i;  // strict: ties keep the lowest id
    }
    return best;
}

int32_t SamplerChain::sample(const float* logits, int n_vocab, uint64_t position) {
    if (n_vocab <= 0) throw Error("sampling: empty logits row");
    if (samplers_.size() == 1 && dynamic_cast<SamplerGreedy*>(samplers_[0].get()) != nullptr)
        return sampling_greedy(logits, n_vocab);
    sampling_fill_candidates(cands_, logits, n_vocab);
    cands_.position = position;
    for (auto& s : samplers_) s->apply(cands_);
    if (cands_.selected < 0) throw Error("sampling: the chain " + describe() + " selected no token");
    return cands_.selected;
}

void SamplerChain::accept(int32_t token) {
    for (auto& s : samplers_) s->accept(token);
}

void SamplerChain::reset() {
    for (auto& s : samplers_) s->reset();
}

std::string SamplerChain::describe() const {
    std::string out;
    for (const auto& s : samplers_) {
        if (!out.empty()) out += " -> ";
        out += s->name();
    }
    return out;
}

void sampling_validate_params(const SamplingParams& params) {
    if (!std::isfinite(params.temperature) || params.temperature < 0.0f) {
        throw Error("sampling: temperature " + std::to_string(params.temperature) + " is invalid",
                    "use 0 for greedy or a positive value");
    }
    if (!(params.top_p > 0.0f && params.top_p <= 1.0f)) {
        throw Error("sampling: top_p " + std::to_string(params.top_p) + " is outside (0, 1]");
    }
    if (params.top_k < 0) throw Error("sampling: top_k " + std::to_string(params.top_k) + " is negative", "0 = off");
}

bool sampling_is_greedy(const SamplingParams& params) { return params.temperature <= 0.0f; }

std::unique_ptr<SamplerChain> sampling_make_chain(const SamplingParams& params, uint64_t seq_id) {
    sampling_validate_params(params);
    auto chain = std::make_unique<SamplerChain>();
    if (sampling_is_greedy(params)) {
        chain->add(std::make_unique<SamplerGreedy>());
        return chain;
    }
    chain->add(std::make_unique<SamplerTemperature>(params.temperature));
    if (params.top_k > 0) chain->add(std::make_unique<SamplerTopK>(params.top_k));
    if (params.top_p < 1.0f) chain->add(std::make_unique<SamplerTopP>(params.top_p));
    chain->add(std::make_unique<SamplerDist>(params.seed, seq_id));
    return chain;
}

}  // namespace adabench
