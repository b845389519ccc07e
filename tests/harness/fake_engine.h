// A deterministic fake Engine and SweepEngineProvider for harness tests: a test tool, never shipped.
//
// Problems are "Q: a+b" questions. The fake "model" thinks for L tokens, L a pure function of the
// request seed (and shortened by the first LoRA coefficient, like an adapter trained for short
// reasoning), then answers a+b. A think budget B < L forces the end of thinking; the forced answer
// is then wrong (a+b+1), so accuracy rises with the budget as with a real reasoner. Prompts are
// byte-tokenized. It records what it was asked, for scheduling tests, and can sleep per call so a
// test can kill a sweep in the middle. A `fail` predicate makes chosen results come back as an
// external engine reports exhausted retries (SAMPLE_STATUS_FAILED_INFRA), for resume tests.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "engines/engine.h"
#include "harness/sweep.h"

namespace adabench::testing {

// Whether the result of a request at one think budget (-1 = none) fails with failed_infra.
using FakeFailWhen = std::function<bool(const GenerateRequest&, int budget)>;

struct FakeLog {
    std::vector<std::string> compositions;       // labels, in build order
    std::vector<size_t> batch_sizes;             // requests per generate() call
    std::vector<std::vector<int>> budgets_seen;  // think_budgets of every request
    std::vector<std::vector<float>> coefs_seen;  // lora_coefs of every request
    std::vector<uint64_t> seeds_seen;            // sampling.seed of every request
    int n_generate = 0;
};

inline int fake_natural_think(uint64_t seed, const std::vector<float>& coefs, double merged_coef) {
    int l = 8 + static_cast<int>(seed % 57);  // 8..64
    double c = !coefs.empty() ? coefs[0] : merged_coef;
    return std::max(1, static_cast<int>(l * (1.0 - 0.5 * c)));
}

class FakeEngine : public Engine {
public:
    FakeEngine(FakeLog* log, double merged_coef, int sleep_ms, FakeFailWhen fail = nullptr)
        : log_(log), merged_coef_(merged_coef), sleep_ms_(sleep_ms), fail_(std::move(fail)) {}
    EngineInfo info() const override {
        return {"fake", "fake device", R"({"urls":[{"url":"http://127.0.0.1:1","server":"fake","checks":"ok"}]})"};
    }
    const Tokenizer& tokenizer() const override { throw Error("the fake engine has no tokenizer"); }
    std::vector<std::vector<GenerateResult>> generate(const std::vector<GenerateRequest>& requests) override {
        if (sleep_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
        if (log_) {
            ++log_->n_generate;
            log_->batch_sizes.push_back(requests.size());
        }
        std::vector<std::vector<GenerateResult>> out;
        for (const auto& rq : requests) {
            if (log_) {
                log_->budgets_seen.push_back(rq.think_budgets);
                log_->coefs_seen.push_back(rq.lora_coefs);
                log_->seeds_seen.push_back(rq.sampling.seed);
            }
            std::string prompt(rq.prompt_ids.begin(), rq.prompt_ids.end());
            size_t q = prompt.find("Q: ");
            if (q == std::string::npos) throw Error("fake engine: prompt without 'Q: '");
            int a = std::atoi(prompt.c_str() + q + 3);
            size_t plus = prompt.find('+', q);
            int b = plus == std::string::npos ? 0 : std::atoi(prompt.c_str() + plus + 1);
            int natural = fake_natural_think(rq.sampling.seed, rq.lora_coefs, merged_coef_);
            std::vector<int> budgets = rq.think_budgets;
            if (budgets.empty()) budgets.push_back(-1);
            std::vector<GenerateResult> rs;
            for (int budget : budgets) {
                GenerateResult r;
                r.think_budget = budget;
                if (fail_ && fail_(rq, budget)) {
                    r.status = SAMPLE_STATUS_FAILED_INFRA;
                    r.error = "http://127.0.0.1:1/v1/completions: connection refused (6 attempts)";
                    r.engine_json = R"({"attempts":6})";
                    r.token_exact = false;
                    rs.push_back(std::move(r));
                    continue;
                }
                bool forced = budget >= 0 && budget < natural && rq.budget.mechanism == BUDGET_MECHANISM_HARD_CUT;
                int think = forced ? budget : natural;
                int answer = forced ? a + b + 1 : a + b;
                r.text = std::string(static_cast<size_t>(think), 't') +
                         (forced ? rq.budget.forced_text : "</think>\n") + "\\boxed{" + std::to_string(answer) + "}";
                r.n_tokens_prompt = static_cast<int>(rq.prompt_ids.size());
                r.n_tokens_think = think;
                r.n_tokens_answer = 6;
                r.forced = forced;
                r.finish_reason = forced ? FINISH_REASON_THINK_BUDGET : FINISH_REASON_EOS;
                r.latency_s = 0.001;
                r.engine_json = R"({"rounds":1})";
                // Signals: a forced (wrong) answer is unsure, a natural one sure; the prompt's
                // perplexity grows with its first operand.
                if (rq.measure_answer_conf) {
                    r.answer_conf = forced ? 0.4 : 0.9;
                    r.answer_ppl = forced ? 3.0 : 1.2;
                }
                if (rq.measure_prompt_ppl) r.prompt_ppl = 2.0 + a % 10;
                rs.push_back(std::move(r));
            }
            out.push_back(std::move(rs));
        }
        return out;
    }

private:
    FakeLog* log_;
    double merged_coef_;
    int sleep_ms_;
    FakeFailWhen fail_;
};

class FakeProvider : public SweepEngineProvider {
public:
    explicit FakeProvider(FakeLog* log = nullptr, int sleep_ms = 0, FakeFailWhen fail = nullptr)
        : log_(log), sleep_ms_(sleep_ms), fail_(std::move(fail)) {}
    Engine& engine_for(const SweepComposition& c) override {
        if (log_) log_->compositions.push_back(c.label);
        engine_ = std::make_unique<FakeEngine>(log_, c.merged_lora && !c.merged_coefs.empty() ? c.merged_coefs[0] : 0.0,
                                               sleep_ms_, fail_);
        return *engine_;
    }
    SweepPrompt format_prompt(const std::string& user) override {
        SweepPrompt p;
        p.text = "<user>" + user + "<assistant><think>";
        p.ids.assign(p.text.begin(), p.text.end());
        p.opens_thinking = true;
        return p;
    }
    nlohmann::json identity() override {
        return {{"model_hash", "fakehash"}, {"adapters", nlohmann::json::array()}, {"merges", nlohmann::json::array()}};
    }

private:
    FakeLog* log_;
    int sleep_ms_;
    FakeFailWhen fail_;
    std::unique_ptr<FakeEngine> engine_;
};

}  // namespace adabench::testing
