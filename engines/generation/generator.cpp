// Generator: the batched control loop over a Backend (see generator.h). One loop step = one
// Backend::forward over every active sequence (prefills, decodes, forced blocks mixed), then one
// decision per sequence from its BudgetController.
#include "engines/generation/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
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
    std::vector<float> prefill_coefs;  // the weights the prompt is encoded with (prefill_base: zeros)
    int prefix_group = -1;             // index into Runner::prefixes_ (-1 = prefill the prompt whole)
    int n_prefilled = 0;               // prompt tokens computed for this request
    double prompt_ppl = 0;             // measure_prompt_ppl
    Clock::time_point started;
};

// One request in flight: generator_run's (pointing into the caller's vector) or a served job's
// (owning its request).
struct Job {
    size_t index = 0;  // request index (generator_run) or admission number (generator_serve)
    const GenerateRequest* req = nullptr;
    GenerateRequest owned;
    RequestPlan plan;
    std::vector<GenerateResult> results;
    int n_live = 0;  // sequences of this job in active_ / spawned_
    bool failed = false;
    std::string error;
    std::function<void(std::vector<GenerateResult>, std::string)> on_done;
};

struct Seq {
    Job* job = nullptr;
    int slot = -1;
    bool fork = false;
    int fork_budget = -1;
    BudgetController ctl;
    std::unique_ptr<SamplerChain> chain;
    std::vector<int> pending;  // indices into RequestPlan::budgets this sequence answers, ascending
    std::vector<int32_t> feed;
    bool done = false;
    // measure_answer_conf: sums over the tokens sampled after the end of thinking.
    double conf_sum = 0, logp_sum = 0, conf_last = 0, logp_last = 0;
    int conf_n = 0;
    int32_t conf_last_token = -1;

    Seq(const BudgetController& c) : ctl(c) {}
};

class Runner {
public:
    Runner(Backend& backend, const TokenText& text, const GeneratorOptions& opts, GeneratorStats& stats)
        : backend_(backend), text_(text), opts_(opts), stats_(stats), n_vocab_(backend.config().vocab_size) {}

    ~Runner() {
        // On an exception, give every slot back so the backend stays usable.
        for (auto& s : active_) {
            if (s->slot >= 0) backend_.seq_free(s->slot);
        }
        for (auto& s : spawned_) {
            if (s->slot >= 0) backend_.seq_free(s->slot);
        }
        for (auto& p : prefixes_) {
            if (p.slot >= 0) backend_.seq_free(p.slot);
        }
    }

    // generator_run: every request is validated before the backend is touched; an error throws.
    std::vector<std::vector<GenerateResult>> run(const std::vector<GenerateRequest>& requests) {
        std::vector<std::unique_ptr<Job>> jobs(requests.size());
        for (size_t r = 0; r < requests.size(); ++r) {
            jobs[r] = std::make_unique<Job>();
            jobs[r]->index = r;
            jobs[r]->req = &requests[r];
            plan(*jobs[r]);
        }
        group_prefixes(jobs);
        score_prompts(jobs);
        results_.resize(requests.size());
        size_t next = 0;
        const size_t max_batch = static_cast<size_t>(std::max(1, opts_.max_batch));
        while (true) {
            while (next < jobs.size() && active_.size() < max_batch) start(*jobs[next++]);
            if (active_.empty()) break;
            step_all();
        }
        return std::move(results_);
    }

    // generator_serve.
    void serve(GeneratorSource& source) {
        serving_ = true;
        const size_t max_batch = static_cast<size_t>(std::max(1, opts_.max_batch));
        try {
            while (true) {
                if (source.abort_requested()) {
                    fail_all("aborted: the generator loop was stopped");
                    break;
                }
                if (active_.size() < max_batch) {
                    const bool idle = active_.empty();
                    std::vector<GeneratorJob> polled = source.poll(max_batch - active_.size(), idle);
                    if (polled.empty() && idle) break;
                    for (auto& gj : polled) admit(std::move(gj));
                    if (active_.empty()) continue;
                }
                try {
                    step_all();
                } catch (const std::exception& e) {
                    // The step's forward failed: nothing of any active sequence can be trusted.
                    for (auto& s : active_) fail(*s->job, e.what());
                    for (auto& s : spawned_) fail(*s->job, e.what());
                    sweep_done();
                }
            }
        } catch (const std::exception& e) {
            fail_all(e.what());
            throw;
        }
    }

private:
    // Validates a request and builds its plan; throws adabench::Error naming the request.
    void plan(Job& job) {
        const GenerateRequest& req = *job.req;
        const int vocab = n_vocab_;
        const std::string who = serving_ ? "request" : "request " + std::to_string(job.index);
        auto where = [&](const std::string& msg) { return "generate: " + who + ": " + msg; };
        if (req.prompt_ids.empty()) throw Error(where("the prompt is empty"), "a prompt needs at least one token");
        for (int32_t id : req.prompt_ids) {
            if (id < 0 || id >= vocab) {
                throw Error(where("prompt token " + std::to_string(id) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab) + ")"));
            }
        }
        for (int32_t id : req.stop_token_ids) {
            if (id < 0 || id >= vocab) {
                throw Error(where("stop token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab) + ")"));
            }
        }
        try {
            sampling_validate_params(req.sampling);
        } catch (const Error& e) {
            throw Error(where(e.what()));
        }
        if (req.budget.mechanism == BUDGET_MECHANISM_SERVER)
            throw Error(where("budget mechanism server means an external server enforces the budget"),
                        "use engine http with a vLLM server, or mechanism hard_cut");
        RequestPlan& p = job.plan;
        try {
            BudgetSweep sweep = budget_plan_sweep(req.think_budgets);
            p.budgets = std::move(sweep.budgets);
            p.where = std::move(sweep.where);
            p.spec = budget_make_spec(req, p.budgets.empty() ? -1 : p.budgets.back(), text_, opts_.eos_ids);
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
        if (req.prefill_base && opts_.n_lora_adapters == 0)
            throw Error(where("prefill_base needs unmerged LoRA adapters (the prompt is encoded without them)"));
        p.prefill_coefs = req.prefill_base ? std::vector<float>(p.lora_coefs.size(), 0.0f) : p.lora_coefs;
        job.results.resize(std::max<size_t>(1, req.think_budgets.size()));
    }

    // A served job: validated and started, or answered with its error at once.
    void admit(GeneratorJob&& gj) {
        auto job = std::make_unique<Job>();
        job->index = n_admitted_++;
        job->owned = std::move(gj.request);
        job->req = &job->owned;
        job->on_done = std::move(gj.on_done);
        Job& j = *job;
        served_[&j] = std::move(job);
        try {
            if (gj.prepare) {
                std::string err = gj.prepare(j.owned);
                if (!err.empty()) throw Error(err);
            }
            plan(j);
            start(j);
        } catch (const std::exception& e) {
            fail(j, e.what());
            if (j.n_live == 0) complete(j);
        }
    }

    void start(Job& job) {
        RequestPlan& p = job.plan;
        p.started = Clock::now();
        auto s = std::make_unique<Seq>(BudgetController(p.spec, text_));
        s->job = &job;
        s->chain = sampling_make_chain(job.req->sampling, job.req->seq_id);
        for (size_t u = 0; u < p.budgets.size(); ++u) s->pending.push_back(static_cast<int>(u));
        const int cap = backend_.max_seq_len();
        if (cap > 0 && static_cast<int>(job.req->prompt_ids.size()) >= cap) {
            // The prompt alone overruns the context: every result of the request says so (finish
            // reason context, no output), and the batch goes on.
            if (p.prefix_group >= 0) release_prefix(p.prefix_group);
            s->ctl.finish_context();
            record(*s, s->ctl, s->pending);
            complete(job);
            return;
        }
        stats_.n_tokens_prompt += static_cast<int64_t>(job.req->prompt_ids.size());
        if (p.prefix_group >= 0) {
            // The prompt's prefix is (or is now) in a slot of its own: fork it, feed the last token.
            Prefix& pre = prefixes_[static_cast<size_t>(p.prefix_group)];
            if (pre.slot < 0) {
                pre.slot = backend_.seq_alloc();
                BackendBatch b;
                b.slots = {pre.slot};
                b.tokens = {pre.tokens};
                if (opts_.n_lora_adapters > 0) b.lora_coefs = {pre.coefs};
                prefix_logits_.resize(static_cast<size_t>(n_vocab_));
                backend_.forward(b, prefix_logits_.data());
                ++stats_.n_prefix_prefills;
                stats_.n_tokens_prefill += static_cast<int64_t>(pre.tokens.size());
                p.n_prefilled += static_cast<int>(pre.tokens.size());
            } else {
                ++stats_.n_prompts_shared;
            }
            s->slot = backend_.seq_fork(pre.slot);
            ++stats_.n_forks;
            s->feed = {job.req->prompt_ids.back()};
            release_prefix(p.prefix_group);
        } else {
            s->slot = backend_.seq_alloc();
            s->feed = job.req->prompt_ids;
        }
        stats_.n_tokens_prefill += static_cast<int64_t>(s->feed.size());
        p.n_prefilled += static_cast<int>(s->feed.size());
        ++job.n_live;
        active_.push_back(std::move(s));
    }

    // A request of a prefix group no longer needs the prefix: the last one frees its slot.
    void release_prefix(int g) {
        Prefix& pre = prefixes_[static_cast<size_t>(g)];
        if (--pre.members_left == 0 && pre.slot >= 0) {
            backend_.seq_free(pre.slot);
            pre.slot = -1;
        }
    }

    // Prefix groups of a generator_run call: requests with the same prompt prefix (all tokens but
    // the last) and the same prompt weights share one prefill when there are at least two of them;
    // a prefill_base request always goes through a prefix (its prompt weights differ from its own).
    void group_prefixes(const std::vector<std::unique_ptr<Job>>& jobs) {
        using Key = std::pair<std::vector<int32_t>, std::vector<uint32_t>>;
        std::map<Key, std::vector<Job*>> groups;
        size_t unique = 0;
        for (auto& jp : jobs) {
            const GenerateRequest& req = *jp->req;
            if (req.prompt_ids.size() < 2) continue;
            if (!opts_.share_prompts && !req.prefill_base) continue;
            Key k;
            k.first.assign(req.prompt_ids.begin(), req.prompt_ids.end() - 1);
            for (float c : jp->plan.prefill_coefs) {
                uint32_t bits = 0;
                std::memcpy(&bits, &c, sizeof bits);
                k.second.push_back(bits);
            }
            // Without sharing each prefill_base request gets a group of its own.
            if (!opts_.share_prompts) k.second.push_back(static_cast<uint32_t>(unique++));
            groups[k].push_back(jp.get());
        }
        for (auto& [k, members] : groups) {
            if (members.size() < 2 && !members.front()->req->prefill_base) continue;
            Prefix pre;
            pre.tokens = k.first;
            pre.coefs = members.front()->plan.prefill_coefs;
            pre.members_left = static_cast<int>(members.size());
            for (Job* j : members) j->plan.prefix_group = static_cast<int>(prefixes_.size());
            prefixes_.push_back(std::move(pre));
        }
    }

    // measure_prompt_ppl: every distinct (prompt, prompt weights) fed one token at a time in
    // scratch slots, max_batch prompts per forward, log p(x_t | x_<t) summed from the logits rows.
    // The generation itself does not use these slots, so its tokens are the same either way.
    void score_prompts(const std::vector<std::unique_ptr<Job>>& jobs) {
        // (prompt, prompt weights) -> the jobs that asked for its perplexity
        std::map<std::pair<std::vector<int32_t>, std::vector<float>>, std::vector<Job*>> distinct;
        for (auto& jp : jobs) {
            if (!jp->req->measure_prompt_ppl || jp->req->prompt_ids.size() < 2) continue;
            const int cap = backend_.max_seq_len();
            if (cap > 0 && static_cast<int>(jp->req->prompt_ids.size()) >= cap) continue;
            distinct[{jp->req->prompt_ids, jp->plan.prefill_coefs}].push_back(jp.get());
        }
        std::vector<const decltype(distinct)::value_type*> todo;
        for (const auto& e : distinct) todo.push_back(&e);
        const size_t width = static_cast<size_t>(std::max(1, opts_.max_batch));
        std::vector<float> logits;
        for (size_t at = 0; at < todo.size(); at += width) {
            const size_t n = std::min(width, todo.size() - at);
            std::vector<int> slots;
            std::vector<double> sum(n, 0.0);
            size_t longest = 0;
            try {
                for (size_t i = 0; i < n; ++i) {
                    slots.push_back(backend_.seq_alloc());
                    longest = std::max(longest, todo[at + i]->first.first.size());
                }
                for (size_t t = 0; t + 1 < longest; ++t) {
                    BackendBatch b;
                    std::vector<size_t> rows;
                    for (size_t i = 0; i < n; ++i) {
                        const auto& ids = todo[at + i]->first.first;
                        if (t + 1 >= ids.size()) continue;
                        b.slots.push_back(slots[i]);
                        b.tokens.push_back({ids[t]});
                        if (opts_.n_lora_adapters > 0) b.lora_coefs.push_back(todo[at + i]->first.second);
                        rows.push_back(i);
                    }
                    logits.resize(rows.size() * static_cast<size_t>(n_vocab_));
                    backend_.forward(b, logits.data());
                    stats_.n_tokens_scored += static_cast<int64_t>(rows.size());
                    for (size_t r = 0; r < rows.size(); ++r) {
                        const auto& ids = todo[at + rows[r]]->first.first;
                        sum[rows[r]] += token_logprob(logits.data() + r * static_cast<size_t>(n_vocab_), ids[t + 1]);
                    }
                }
            } catch (...) {
                for (int sl : slots) backend_.seq_free(sl);
                throw;
            }
            for (int sl : slots) backend_.seq_free(sl);
            for (size_t i = 0; i < n; ++i) {
                const double len = static_cast<double>(todo[at + i]->first.first.size() - 1);
                const double ppl = std::exp(-sum[i] / len);
                for (Job* j : todo[at + i]->second) j->plan.prompt_ppl = ppl;
            }
        }
    }

    // log softmax(row)[token] and max softmax(row), from the raw logits.
    double token_logprob(const float* row, int32_t token, double* max_prob = nullptr) const {
        float m = row[0];
        for (int v = 1; v < n_vocab_; ++v) m = std::max(m, row[v]);
        double z = 0;
        for (int v = 0; v < n_vocab_; ++v) z += std::exp(static_cast<double>(row[v]) - m);
        if (max_prob) *max_prob = 1.0 / z;
        return static_cast<double>(row[token]) - m - std::log(z);
    }

    // One Backend::forward over every active sequence, one decision per sequence, then the
    // finished ones leave (and their jobs complete when nothing of them is left).
    void step_all() {
        BackendBatch batch;
        for (auto& s : active_) {
            batch.slots.push_back(s->slot);
            batch.tokens.push_back(std::move(s->feed));
            s->feed.clear();
            if (opts_.n_lora_adapters > 0) batch.lora_coefs.push_back(s->job->plan.lora_coefs);
        }
        // When every sequence decodes greedily and nobody wants the logits, the backend reduces
        // them itself (on the device for CUDA): only one token per sequence comes back.
        // A sequence measuring its answer's confidence needs its row once thinking has ended.
        const bool want_rows = opts_.on_logits || std::any_of(active_.begin(), active_.end(), [&](const auto& s) {
                                   return s->job->req->measure_answer_conf && s->ctl.phase() == BUDGET_PHASE_ANSWER;
                               });
        const bool greedy_step = !want_rows && std::all_of(active_.begin(), active_.end(), [&](const auto& s) {
            return sampling_is_greedy(s->job->req->sampling);
        });
        // A backend that samples on the device does the whole chain there when nobody wants
        // the rows either: each sequence's (params, seq_id, position) travel instead of logits.
        const bool device_step = !greedy_step && !want_rows && backend_.samples_on_device();
        if (greedy_step) {
            greedy_tokens_.resize(active_.size());
            backend_.forward_greedy(batch, greedy_tokens_.data());
            ++stats_.n_steps_greedy;
        } else if (device_step) {
            sample_rows_.clear();
            for (const auto& s : active_) {
                const GenerateRequest& req = *s->job->req;
                // The position step() samples at: next_action() and forks do not move it.
                sample_rows_.push_back(
                    SampleRow{req.sampling, req.seq_id, static_cast<uint64_t>(s->ctl.context_length())});
            }
            greedy_tokens_.resize(active_.size());
            backend_.forward_sample(batch, sample_rows_, greedy_tokens_.data());
            ++stats_.n_steps_sampled;
        } else {
            logits_.resize(active_.size() * static_cast<size_t>(n_vocab_));
            backend_.forward(batch, logits_.data());
        }
        ++stats_.n_steps;
        stats_.max_active = std::max(stats_.max_active, static_cast<int>(active_.size()));

        for (size_t i = 0; i < active_.size(); ++i) {
            Seq& s = *active_[i];
            const float* row =
                greedy_step || device_step ? nullptr : logits_.data() + i * static_cast<size_t>(n_vocab_);
            const int32_t picked = greedy_step || device_step ? greedy_tokens_[i] : -1;
            if (!serving_) {
                step(s, row, picked);
                continue;
            }
            // Served: a failure of one sequence's decision (a NaN row, a full cache at a fork)
            // fails its own job only.
            if (s.job->failed) continue;
            try {
                step(s, row, picked);
            } catch (const std::exception& e) {
                fail(*s.job, e.what());
            }
        }
        // A sequence whose next feed would overrun the context ends there (finish reason context,
        // the text so far kept) instead of failing the whole batch at the next forward.
        if (const int cap = backend_.max_seq_len(); cap > 0) {
            auto over = [&](Seq& s) {
                if (s.done || s.job->failed || s.feed.empty()) return;
                if (backend_.seq_len(s.slot) + static_cast<int>(s.feed.size()) > cap) {
                    s.ctl.finish_context();
                    finish(s);
                }
            };
            for (auto& s : active_) over(*s);
            for (auto& s : spawned_) over(*s);
        }
        sweep_done();
    }

    // Frees the slots of finished sequences (and of every sequence of a failed job), moves the
    // forks spawned this step into the batch, and completes jobs with nothing left.
    void sweep_done() {
        std::vector<std::unique_ptr<Seq>> keep;
        std::vector<Job*> ended;
        auto drop = [&](std::unique_ptr<Seq>& s) {
            if (s->slot >= 0) backend_.seq_free(s->slot);
            s->slot = -1;
            if (--s->job->n_live == 0) ended.push_back(s->job);
        };
        for (auto& s : active_) {
            if (s->done || s->job->failed) {
                drop(s);
            } else {
                keep.push_back(std::move(s));
            }
        }
        for (auto& s : spawned_) {
            if (s->done || s->job->failed) {
                drop(s);
            } else {
                keep.push_back(std::move(s));
            }
        }
        spawned_.clear();
        active_ = std::move(keep);
        for (Job* j : ended) complete(*j);
    }

    void fail(Job& job, const std::string& msg) {
        if (job.failed) return;
        job.failed = true;
        job.error = msg;
    }

    void fail_all(const std::string& msg) {
        for (auto& s : active_) fail(*s->job, msg);
        for (auto& s : spawned_) fail(*s->job, msg);
        sweep_done();
    }

    // The last sequence of a job has ended: hand over its results.
    void complete(Job& job) {
        if (!serving_) {
            results_[job.index] = std::move(job.results);
            return;
        }
        auto it = served_.find(&job);
        if (it == served_.end()) return;
        std::unique_ptr<Job> owned = std::move(it->second);
        served_.erase(it);
        if (!owned->on_done) return;
        try {
            if (owned->failed) {
                owned->on_done({}, owned->error);
            } else {
                owned->on_done(std::move(owned->results), std::string());
            }
        } catch (...) {
            // A throwing callback must not take the loop (and every other request) down.
        }
    }

    void record(const Seq& s, const BudgetController& ctl, const std::vector<int>& budget_idx) {
        const RequestPlan& p = s.job->plan;
        GenerateResult res = ctl.result();
        res.latency_s = std::chrono::duration<double>(Clock::now() - p.started).count();
        if (s.job->req->measure_prompt_ppl) res.prompt_ppl = p.prompt_ppl;
        // A sequence's own result carries its answer's confidence; a fork recorded without a
        // sequence of its own (nothing left to decode) sampled no answer token.
        if (s.job->req->measure_answer_conf && &ctl == &s.ctl) answer_confidence(s, ctl, &res);
        auto& out = s.job->results;
        if (p.budgets.empty()) {
            res.think_budget = -1;
            res.n_tokens_prefilled = p.n_prefilled;
            out[0] = res;
            return;
        }
        const int largest = static_cast<int>(p.budgets.size()) - 1;
        for (int u : budget_idx) {
            res.think_budget = p.budgets[static_cast<size_t>(u)];
            // The prompt is counted once, with the result of the largest budget (the main sequence).
            res.n_tokens_prefilled = u == largest && !s.fork ? p.n_prefilled : 0;
            for (int j : p.where[static_cast<size_t>(u)]) out[static_cast<size_t>(j)] = res;
        }
    }

    // The mean max-probability and perplexity of the answer tokens s sampled (a closing EOS or
    // stop token left out); unset when there is none.
    void answer_confidence(const Seq& s, const BudgetController& ctl, GenerateResult* res) const {
        double conf = s.conf_sum, logp = s.logp_sum;
        int n = s.conf_n;
        if (n > 0 && !ctl.output_ids().empty() && ctl.output_ids().back() == s.conf_last_token) {
            const auto& eos = ctl.spec().eos_ids;
            const auto& stop_ids = ctl.spec().stop_token_ids;
            const bool closing = std::find(eos.begin(), eos.end(), s.conf_last_token) != eos.end() ||
                                 std::find(stop_ids.begin(), stop_ids.end(), s.conf_last_token) != stop_ids.end();
            if (closing && (res->finish_reason == FINISH_REASON_EOS || res->finish_reason == FINISH_REASON_STOP ||
                            res->finish_reason == FINISH_REASON_THINK_BUDGET)) {
                conf -= s.conf_last;
                logp -= s.logp_last;
                --n;
            }
        }
        if (n <= 0) return;
        res->answer_conf = conf / n;
        res->answer_ppl = std::exp(-logp / n);
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
        f->job = main.job;
        f->fork = true;
        f->fork_budget = main.job->plan.budgets[static_cast<size_t>(u)];
        f->chain = sampling_make_chain(main.job->req->sampling, main.job->req->seq_id);
        f->pending = {u};
        f->slot = backend_.seq_fork(main.slot);
        ++main.job->n_live;
        ++stats_.n_forks;
        stats_.n_tokens_inserted += static_cast<int64_t>(feed.size());
        f->feed = std::move(feed);
        spawned_.push_back(std::move(f));
    }

    int budget_of(const Seq& s, size_t i) const { return s.job->plan.budgets[static_cast<size_t>(s.pending[i])]; }

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
        // The context holds prompt + output: a sequence that filled it samples no more (a server's
        // max_model_len counts the same way, so the http engine ends at the same token).
        if (const int cap = backend_.max_seq_len(); cap > 0 && s.ctl.context_length() >= cap) {
            s.ctl.finish_context();
            finish(s);
            return;
        }
        uint64_t position = static_cast<uint64_t>(s.ctl.context_length());
        int32_t token = row ? s.chain->sample(row, n_vocab_, position) : greedy_token;
        ++stats_.n_tokens_sampled;
        if (row && s.job->req->measure_answer_conf && s.ctl.phase() == BUDGET_PHASE_ANSWER) {
            double max_prob = 0;
            s.logp_last = token_logprob(row, token, &max_prob);
            s.conf_last = max_prob;
            s.conf_sum += max_prob;
            s.logp_sum += s.logp_last;
            s.conf_last_token = token;
            ++s.conf_n;
        }
        if (opts_.on_logits && row) {
            opts_.on_logits(GenerateLogitsEvent{s.job->index, s.fork_budget, token, row, n_vocab_});
        }
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
    GeneratorStats& stats_;
    const int n_vocab_;
    bool serving_ = false;
    size_t n_admitted_ = 0;
    std::vector<std::vector<GenerateResult>> results_;   // generator_run
    std::map<const Job*, std::unique_ptr<Job>> served_;  // generator_serve: jobs in flight
    std::vector<std::unique_ptr<Seq>> active_, spawned_;
    std::vector<float> logits_;
    std::vector<int32_t> greedy_tokens_;  // tokens picked by the backend (greedy or sampled)
    std::vector<SampleRow> sample_rows_;
    // Shared prompt prefixes of generator_run (group_prefixes).
    struct Prefix {
        std::vector<int32_t> tokens;
        std::vector<float> coefs;
        int slot = -1;  // allocated and prefilled when the group's first request starts
        int members_left = 0;
    };
    std::vector<Prefix> prefixes_;
    std::vector<float> prefix_logits_;
};

}  // namespace

std::vector<std::vector<GenerateResult>> generator_run(Backend& backend, const TokenText& text,
                                                       const GeneratorOptions& options,
                                                       const std::vector<GenerateRequest>& requests,
                                                       GeneratorStats* stats) {
    GeneratorStats local;
    if (stats) *stats = GeneratorStats{};
    Runner runner(backend, text, options, stats ? *stats : local);
    return runner.run(requests);
}

void generator_serve(Backend& backend, const TokenText& text, const GeneratorOptions& options, GeneratorSource& source,
                     GeneratorStats* stats) {
    GeneratorStats local;
    if (stats) *stats = GeneratorStats{};
    Runner runner(backend, text, options, stats ? *stats : local);
    runner.serve(source);
}

bool GeneratorQueue::push(GeneratorJob job) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (closed_) return false;
        jobs_.push_back(std::move(job));
    }
    cv_.notify_all();
    return true;
}

void GeneratorQueue::pause() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        ++paused_;
    }
    cv_.notify_all();
}

void GeneratorQueue::resume() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        if (paused_ > 0) --paused_;
    }
    cv_.notify_all();
}

std::vector<GeneratorJob> GeneratorQueue::close(bool abort) {
    std::vector<GeneratorJob> left;
    {
        std::lock_guard<std::mutex> lock(mu_);
        closed_ = true;
        aborted_ = aborted_ || abort;
        for (auto& j : jobs_) left.push_back(std::move(j));
        jobs_.clear();
    }
    cv_.notify_all();
    return left;
}

size_t GeneratorQueue::size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return jobs_.size();
}

std::vector<GeneratorJob> GeneratorQueue::poll(size_t max_jobs, bool wait) {
    std::unique_lock<std::mutex> lock(mu_);
    if (wait) cv_.wait(lock, [&] { return closed_ || paused_ > 0 || !jobs_.empty(); });
    std::vector<GeneratorJob> out;
    if (closed_ || paused_ > 0) return out;
    while (!jobs_.empty() && out.size() < max_jobs) {
        out.push_back(std::move(jobs_.front()));
        jobs_.pop_front();
    }
    return out;
}

bool GeneratorQueue::abort_requested() {
    std::lock_guard<std::mutex> lock(mu_);
    return aborted_;
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

EngineInfo Generator::info() const { return EngineInfo{options_.backend_name, backend_->device(), ""}; }

std::vector<std::vector<GenerateResult>> Generator::generate(const std::vector<GenerateRequest>& requests) {
    return generator_run(*backend_, text_, options_, requests, &stats_);
}

void Generator::serve(GeneratorSource& source) { generator_serve(*backend_, text_, options_, source, &stats_); }

}  // namespace adabench
