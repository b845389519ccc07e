// Generator: the batched control loop over a Backend (see generator.h). One loop step = one
// Backend::forward over every active sequence (prefills, decodes, forced blocks mixed), then one
// decision per sequence from its BudgetController.
#include "engines/generation/generator.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "common/error.h"
#include "engines/generation/sampling.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {

std::string TokenizerText::token_bytes(int32_t id) const { return tok_->decode_token(id); }

std::vector<int32_t> TokenizerText::encode_text(const std::string& text) const { return tok_->encode(text, true); }

namespace {

using Clock = std::chrono::steady_clock;

// Per request: its distinct budgets ascending, where each goes in the caller's order, and its spec.
struct RequestPlan {
    std::vector<int> budgets;             // unique, ascending; empty = no budget
    std::vector<std::vector<int>> where;  // where[u] = indices into think_budgets holding budgets[u]
    BudgetSpec spec;                      // for the largest budget
    std::vector<float> lora_coefs;
    Clock::time_point started;
};

struct Seq {
    size_t req = 0;
    int slot = -1;
    bool fork = false;
    int fork_budget = -1;
    BudgetController ctl;
    std::unique_ptr<SamplerChain> chain;
    std::vector<int> pending;  // indices into RequestPlan::budgets this sequence answers, ascending
    std::vector<int32_t> feed;
    bool done = false;

    Seq(const BudgetController& c) : ctl(c) {}
};

class Runner {
public:
    Runner(Backend& backend, const TokenText& text, const GeneratorOptions& opts,
           const std::vector<GenerateRequest>& requests, GeneratorStats& stats)
        : backend_(backend), text_(text), opts_(opts), requests_(requests), stats_(stats) {}

    ~Runner() {
        // On an exception, give every slot back so the backend stays usable.
        for (auto& s : active_) {
            if (s->slot >= 0) backend_.seq_free(s->slot);
        }
        for (auto& s : spawned_) {
            if (s->slot >= 0) backend_.seq_free(s->slot);
        }
    }

    std::vector<std::vector<GenerateResult>> run() {
        plan_all();
        n_vocab_ = backend_.config().vocab_size;
        size_t next = 0;
        std::vector<float> logits;
        std::vector<int32_t> greedy_tokens;  // tokens picked by the backend (greedy or sampled)
        std::vector<SampleRow> sample_rows;
        const size_t max_batch = static_cast<size_t>(std::max(1, opts_.max_batch));
        while (true) {
            while (next < requests_.size() && active_.size() < max_batch) start(next++);
            if (active_.empty()) break;

            BackendBatch batch;
            for (auto& s : active_) {
                batch.slots.push_back(s->slot);
                batch.tokens.push_back(std::move(s->feed));
                s->feed.clear();
                if (opts_.n_lora_adapters > 0) batch.lora_coefs.push_back(plans_[s->req].lora_coefs);
            }
            // When every sequence decodes greedily and nobody wants the logits, the backend reduces
            // them itself (on the device for CUDA): only one token per sequence comes back.
            const bool greedy_step =
                !opts_.on_logits && std::all_of(active_.begin(), active_.end(), [&](const auto& s) {
                    return sampling_is_greedy(requests_[s->req].sampling);
                });
            // A backend that samples on the device does the whole chain there when nobody wants
            // the rows either: each sequence's (params, seq_id, position) travel instead of logits.
            const bool device_step = !greedy_step && !opts_.on_logits && backend_.samples_on_device();
            if (greedy_step) {
                greedy_tokens.resize(active_.size());
                backend_.forward_greedy(batch, greedy_tokens.data());
                ++stats_.n_steps_greedy;
            } else if (device_step) {
                sample_rows.clear();
                for (const auto& s : active_) {
                    const GenerateRequest& req = requests_[s->req];
                    // The position step() samples at: next_action() and forks do not move it.
                    sample_rows.push_back(
                        SampleRow{req.sampling, req.seq_id, static_cast<uint64_t>(s->ctl.context_length())});
                }
                greedy_tokens.resize(active_.size());
                backend_.forward_sample(batch, sample_rows, greedy_tokens.data());
                ++stats_.n_steps_sampled;
            } else {
                logits.resize(active_.size() * static_cast<size_t>(n_vocab_));
                backend_.forward(batch, logits.data());
            }
            ++stats_.n_steps;
            stats_.max_active = std::max(stats_.max_active, static_cast<int>(active_.size()));

            for (size_t i = 0; i < active_.size(); ++i) {
                if (greedy_step || device_step) {
                    step(*active_[i], nullptr, greedy_tokens[i]);
                } else {
                    step(*active_[i], logits.data() + i * static_cast<size_t>(n_vocab_), -1);
                }
            }
            std::vector<std::unique_ptr<Seq>> keep;
            for (auto& s : active_) {
                if (s->done) {
                    if (s->slot >= 0) backend_.seq_free(s->slot);
                    s->slot = -1;
                } else {
                    keep.push_back(std::move(s));
                }
            }
            for (auto& s : spawned_) keep.push_back(std::move(s));
            spawned_.clear();
            active_ = std::move(keep);
        }
        return std::move(results_);
    }

private:
    void plan_all() {
        const int vocab = backend_.config().vocab_size;
        plans_.resize(requests_.size());
        results_.resize(requests_.size());
        for (size_t r = 0; r < requests_.size(); ++r) {
            const GenerateRequest& req = requests_[r];
            auto where = [&](const std::string& msg) { return "generate: request " + std::to_string(r) + ": " + msg; };
            if (req.prompt_ids.empty()) throw Error(where("the prompt is empty"), "a prompt needs at least one token");
            for (int32_t id : req.prompt_ids) {
                if (id < 0 || id >= vocab) {
                    throw Error(where("prompt token " + std::to_string(id) + " is outside the vocabulary [0, " +
                                      std::to_string(vocab) + ")"));
                }
            }
            try {
                sampling_validate_params(req.sampling);
            } catch (const Error& e) {
                throw Error(where(e.what()));
            }
            RequestPlan& p = plans_[r];
            std::vector<int> sorted = req.think_budgets;
            for (int b : sorted) {
                if (b < 0) throw Error(where("think budget " + std::to_string(b) + " is negative"));
            }
            std::sort(sorted.begin(), sorted.end());
            sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
            p.budgets = sorted;
            p.where.resize(sorted.size());
            for (size_t j = 0; j < req.think_budgets.size(); ++j) {
                auto it = std::lower_bound(sorted.begin(), sorted.end(), req.think_budgets[j]);
                p.where[static_cast<size_t>(it - sorted.begin())].push_back(static_cast<int>(j));
            }
            try {
                p.spec = budget_make_spec(req, sorted.empty() ? -1 : sorted.back(), text_, opts_.eos_ids);
            } catch (const Error& e) {
                throw Error(where(e.what()));
            }
            if (opts_.n_lora_adapters > 0) {
                p.lora_coefs = req.lora_coefs.empty() ? opts_.default_lora_coefs : req.lora_coefs;
                if (static_cast<int>(p.lora_coefs.size()) != opts_.n_lora_adapters) {
                    throw Error(where("lora_coefs has " + std::to_string(p.lora_coefs.size()) +
                                      " entries but the engine has " + std::to_string(opts_.n_lora_adapters) +
                                      " adapters"));
                }
            } else if (!req.lora_coefs.empty()) {
                throw Error(where("lora_coefs given but the engine has no unmerged LoRA adapters"),
                            "load adapters with --adapter DIR=COEF");
            }
            results_[r].resize(std::max<size_t>(1, req.think_budgets.size()));
        }
    }

    void start(size_t r) {
        RequestPlan& p = plans_[r];
        p.started = Clock::now();
        auto s = std::make_unique<Seq>(BudgetController(p.spec, text_));
        s->req = r;
        s->chain = sampling_make_chain(requests_[r].sampling, requests_[r].seq_id);
        for (size_t u = 0; u < p.budgets.size(); ++u) s->pending.push_back(static_cast<int>(u));
        s->slot = backend_.seq_alloc();
        s->feed = requests_[r].prompt_ids;
        stats_.n_tokens_prefill += static_cast<int64_t>(s->feed.size());
        active_.push_back(std::move(s));
    }

    void record(const Seq& s, const BudgetController& ctl, const std::vector<int>& budget_idx) {
        const RequestPlan& p = plans_[s.req];
        GenerateResult res = ctl.result();
        res.latency_s = std::chrono::duration<double>(Clock::now() - p.started).count();
        auto& out = results_[s.req];
        if (p.budgets.empty()) {
            res.think_budget = -1;
            out[0] = res;
            return;
        }
        for (int u : budget_idx) {
            res.think_budget = p.budgets[static_cast<size_t>(u)];
            for (int j : p.where[static_cast<size_t>(u)]) out[static_cast<size_t>(j)] = res;
        }
    }

    void finish(Seq& s) {
        record(s, s.ctl, s.pending);
        s.done = true;
    }

    // A fork of `main` answering budget index u, given its controller (already decided) and the
    // tokens it must feed next.
    void spawn(Seq& main, int u, BudgetController ctl, std::vector<int32_t> feed) {
        if (ctl.finished()) {  // nothing left to decode: no slot needed
            record(main, ctl, {u});
            return;
        }
        auto f = std::make_unique<Seq>(ctl);
        f->req = main.req;
        f->fork = true;
        f->fork_budget = plans_[main.req].budgets[static_cast<size_t>(u)];
        f->chain = sampling_make_chain(requests_[main.req].sampling, requests_[main.req].seq_id);
        f->pending = {u};
        f->slot = backend_.seq_fork(main.slot);
        ++stats_.n_forks;
        stats_.n_tokens_inserted += static_cast<int64_t>(feed.size());
        f->feed = std::move(feed);
        spawned_.push_back(std::move(f));
    }

    int budget_of(const Seq& s, size_t i) const { return plans_[s.req].budgets[static_cast<size_t>(s.pending[i])]; }

    // row: this sequence's logits, or nullptr when the backend already picked greedy_token
    // (forward_greedy or forward_sample, at the position computed here).
    void step(Seq& s, const float* row, int32_t greedy_token) {
        const bool sweep = !s.fork && s.ctl.spec().think_budget >= 0;
        // Budgets below this sequence's own that it has reached while thinking: fork, force there.
        while (sweep && s.pending.size() > 1 && s.ctl.thinking() && s.ctl.n_think() >= budget_of(s, 0)) {
            BudgetController c = s.ctl;
            c.set_think_budget(budget_of(s, 0));
            std::vector<int32_t> feed = c.force_end();
            spawn(s, s.pending[0], std::move(c), std::move(feed));
            s.pending.erase(s.pending.begin());
        }
        BudgetAction act = s.ctl.next_action();
        if (act == BUDGET_ACTION_DONE) {
            finish(s);
            return;
        }
        if (act == BUDGET_ACTION_FORCE_END) {
            s.feed = s.ctl.force_end();
            stats_.n_tokens_inserted += static_cast<int64_t>(s.feed.size());
            if (s.ctl.finished()) finish(s);
            return;
        }
        uint64_t position = static_cast<uint64_t>(s.ctl.context_length());
        int32_t token = row ? s.chain->sample(row, n_vocab_, position) : greedy_token;
        ++stats_.n_tokens_sampled;
        if (opts_.on_logits && row) opts_.on_logits(GenerateLogitsEvent{s.req, s.fork_budget, token, row, n_vocab_});
        // A wait is cut to fit the budget, so smaller budgets of a sweep cut it shorter: keep the
        // state from before this token to replay the decision under each of them.
        std::optional<BudgetController> before;
        if (sweep && s.pending.size() > 1 && s.ctl.may_wait()) before = s.ctl;
        BudgetOutcome out = s.ctl.accept(token);
        s.chain->accept(token);
        if (out.wait) {
            int target = s.ctl.spec().n_tokens_prompt + out.keep_output;
            if (backend_.seq_len(s.slot) > target) backend_.seq_truncate(s.slot, target);
            while (before && s.pending.size() > 1 && s.ctl.n_think() > budget_of(s, 0)) {
                BudgetController c = *before;
                c.set_think_budget(budget_of(s, 0));
                BudgetOutcome o = c.accept(token);
                spawn(s, s.pending[0], std::move(c), std::move(o.wait_tokens));
                s.pending.erase(s.pending.begin());
            }
            if (out.finished) {
                finish(s);
            } else {
                s.feed = std::move(out.wait_tokens);
                stats_.n_tokens_inserted += static_cast<int64_t>(s.feed.size());
            }
            return;
        }
        if (out.finished) {
            finish(s);
            return;
        }
        s.feed = {token};
    }

    Backend& backend_;
    const TokenText& text_;
    const GeneratorOptions& opts_;
    const std::vector<GenerateRequest>& requests_;
    GeneratorStats& stats_;
    int n_vocab_ = 0;
    std::vector<RequestPlan> plans_;
    std::vector<std::vector<GenerateResult>> results_;
    std::vector<std::unique_ptr<Seq>> active_, spawned_;
};

}  // namespace

std::vector<std::vector<GenerateResult>> generator_run(Backend& backend, const TokenText& text,
                                                       const GeneratorOptions& options,
                                                       const std::vector<GenerateRequest>& requests,
                                                       GeneratorStats* stats) {
    GeneratorStats local;
    Runner runner(backend, text, options, requests, stats ? *stats : local);
    if (stats) *stats = GeneratorStats{};
    return runner.run();
}

namespace {
const Tokenizer& require_tokenizer(const std::shared_ptr<const Tokenizer>& t) {
    if (!t) throw Error("generator: a tokenizer is required");
    return *t;
}
}  // namespace

Generator::Generator(std::shared_ptr<Backend> backend, std::shared_ptr<const Tokenizer> tokenizer,
                     GeneratorOptions options)
    : backend_(std::move(backend)),
      tokenizer_(std::move(tokenizer)),
      text_(require_tokenizer(tokenizer_)),
      options_(std::move(options)) {
    if (!backend_) throw Error("generator: a backend is required");
}

EngineInfo Generator::info() const { return EngineInfo{options_.backend_name, backend_->device()}; }

std::vector<std::vector<GenerateResult>> Generator::generate(const std::vector<GenerateRequest>& requests) {
    return generator_run(*backend_, text_, options_, requests, &stats_);
}

}  // namespace adabench
