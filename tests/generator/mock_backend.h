// Test tools for the generator: a deterministic mock Backend whose logits are a fixed function of a
// slot's whole token history (so any divergence in what a sequence has seen shows up in its
// logits), and a hand-made TokenText (a small table of token strings, greedy longest-match encode).
// Not a model: no numerics are checked here, only control flow.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/backend.h"
#include "engines/generation/budget.h"

namespace adabench::testing {

class MockText : public TokenText {
public:
    explicit MockText(std::vector<std::string> table) : table_(std::move(table)) {}
    std::string token_bytes(int32_t id) const override {
        if (id < 0 || id >= static_cast<int32_t>(table_.size())) return "";
        return table_[static_cast<size_t>(id)];
    }
    std::vector<int32_t> encode_text(const std::string& text) const override {
        std::vector<int32_t> out;
        size_t i = 0;
        while (i < text.size()) {
            int best = -1;
            size_t best_len = 0;
            for (size_t t = 0; t < table_.size(); ++t) {
                const std::string& s = table_[t];
                if (!s.empty() && s.size() > best_len && text.compare(i, s.size(), s) == 0) {
                    best = static_cast<int>(t);
                    best_len = s.size();
                }
            }
            if (best < 0) throw Error("MockText: cannot encode '" + text.substr(i) + "'");
            out.push_back(best);
            i += best_len;
        }
        return out;
    }
    const std::vector<std::string>& table() const { return table_; }

private:
    std::vector<std::string> table_;
};

// The 16-token table the generator tests share: EOS 0, <think> 1, </think> 2, "\n" 3, " " 4,
// "a".."e" 5..9, "Wait" 10, "**Final Answer:**" 11, "</" 12 and "think>" 13 (a split marker), "x" 14, "STOP" 15.
inline std::vector<std::string> mock_think_table() {
    return {"<eos>", "<think>", "</think>",          "\n", " ",      "a", "b",   "c", "d",
            "e",     "Wait",    "**Final Answer:**", "</", "think>", "x", "STOP"};
}

// logits_fn(history, logits) fills vocab_size logits for a slot holding `history`.
using MockLogitsFn = std::function<void(const std::vector<int32_t>& history, float* logits)>;

class MockBackend : public Backend {
public:
    MockBackend(int vocab, MockLogitsFn fn) : fn_(std::move(fn)) {
        cfg_.vocab_size = vocab;
        cfg_.architecture = "Mock";
    }
    const ModelConfig& config() const override { return cfg_; }
    std::string device() const override { return "mock"; }
    int max_seq_len() const override { return cap; }
    int cap = 0;  // positions a slot may hold; 0 = no limit (forward() throws past it, as real backends do)

    int seq_alloc() override {
        for (size_t i = 0; i < slots_.size(); ++i) {
            if (!slots_[i]) {
                slots_[i] = std::vector<int32_t>{};
                return static_cast<int>(i);
            }
        }
        if (static_cast<int>(slots_.size()) >= max_slots) throw Error("mock: KV cache full");
        slots_.emplace_back(std::vector<int32_t>{});
        return static_cast<int>(slots_.size()) - 1;
    }
    void seq_free(int slot) override {
        (void)at(slot);  // validates the slot
        slots_[static_cast<size_t>(slot)].reset();
    }
    int seq_fork(int slot) override {
        std::vector<int32_t> copy = at(slot);
        int s = seq_alloc();
        slots_[static_cast<size_t>(s)] = copy;
        ++n_forks;
        return s;
    }
    int seq_len(int slot) const override { return static_cast<int>(at(slot).size()); }
    void seq_truncate(int slot, int n) override {
        auto& h = at(slot);
        if (n < 0 || n > static_cast<int>(h.size())) throw Error("mock: bad truncate");
        h.resize(static_cast<size_t>(n));
        ++n_truncates;
    }
    void forward(const BackendBatch& batch, float* logits) override {
        if (fail_at_step >= 0 && n_steps == fail_at_step) throw Error("mock: injected failure");
        ++n_steps;
        max_batch_seen = std::max(max_batch_seen, static_cast<int>(batch.slots.size()));
        if (batch.slots.size() != batch.tokens.size()) throw Error("mock: batch size mismatch");
        for (size_t i = 0; i < batch.slots.size(); ++i) {
            for (size_t j = 0; j < i; ++j) {
                if (batch.slots[i] == batch.slots[j]) throw Error("mock: slot twice in a batch");
            }
            if (batch.tokens[i].empty()) throw Error("mock: empty token list");
            auto& h = at(batch.slots[i]);
            if (cap > 0 && h.size() + batch.tokens[i].size() > static_cast<size_t>(cap))
                throw Error("mock: slot would hold " + std::to_string(h.size() + batch.tokens[i].size()) + " positions");
            for (int32_t t : batch.tokens[i]) {
                if (t < 0 || t >= cfg_.vocab_size) throw Error("mock: token out of range");
                h.push_back(t);
            }
            n_tokens += static_cast<int64_t>(batch.tokens[i].size());
            if (!batch.lora_coefs.empty()) last_lora = batch.lora_coefs[i];
            fn_(h, logits + i * static_cast<size_t>(cfg_.vocab_size));
        }
    }
    void set_lora_adapters(std::vector<std::shared_ptr<const LoraAdapter>>) override {}
    void set_weights(std::shared_ptr<const ModelWeights>) override {}

    int live_slots() const {
        int n = 0;
        for (const auto& s : slots_) n += s.has_value();
        return n;
    }

    int max_slots = 1000;
    int fail_at_step = -1;
    int n_steps = 0;
    int n_forks = 0;
    int n_truncates = 0;
    int64_t n_tokens = 0;
    int max_batch_seen = 0;
    std::vector<float> last_lora;

private:
    std::vector<int32_t>& at(int slot) {
        if (slot < 0 || slot >= static_cast<int>(slots_.size()) || !slots_[static_cast<size_t>(slot)]) {
            throw Error("mock: bad slot " + std::to_string(slot));
        }
        return *slots_[static_cast<size_t>(slot)];
    }
    const std::vector<int32_t>& at(int slot) const { return const_cast<MockBackend*>(this)->at(slot); }

    ModelConfig cfg_;
    MockLogitsFn fn_;
    std::vector<std::optional<std::vector<int32_t>>> slots_;
};

// A pseudo-random logits function of the full history: logits[v] = scale * u(hash(history), v)
// plus per-token biases.
inline MockLogitsFn mock_hash_logits(int vocab, float scale, std::vector<float> bias) {
    return [vocab, scale, bias](const std::vector<int32_t>& h, float* logits) {
        uint64_t x = 1469598103934665603ull;
        for (int32_t t : h) x = (x ^ static_cast<uint64_t>(t + 1)) * 1099511628211ull;
        for (int v = 0; v < vocab; ++v) {
            uint64_t z = x + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(v + 1);
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            float u = static_cast<float>(z >> 40) / static_cast<float>(1 << 24);
            logits[v] = scale * u + (v < static_cast<int>(bias.size()) ? bias[static_cast<size_t>(v)] : 0.0f);
        }
    };
}

// Greedy script: the argmax token is next(history) (logit 10, every other 0).
inline MockLogitsFn mock_script_logits(int vocab, std::function<int32_t(const std::vector<int32_t>&)> next) {
    return [vocab, next](const std::vector<int32_t>& h, float* logits) {
        for (int v = 0; v < vocab; ++v) logits[v] = 0.0f;
        logits[next(h)] = 10.0f;
    };
}

}  // namespace adabench::testing
