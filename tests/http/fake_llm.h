// Test tools shared by the http tests: a scripted "model" (a fixed function of the whole token
// history over the organism's tokenizer: it thinks for a prompt-dependent number of tokens, closes
// thinking, answers a few tokens, then EOS; every other token gets a small hashed logit so sampling
// can pick anything), fake servers that decode it with each flavour's request and reply shapes and
// stop rules, and the in-process reference (the Generator over a mock backend with the same model).
#pragma once
#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engines/engine_factory.h"
#include "engines/generation/generator.h"
#include "engines/generation/sampling.h"
#include "engines/model/config.h"
#include "engines/tokenizer/chat_template.h"
#include "engines/tokenizer/tokenizer.h"
#include "tests/generator/mock_backend.h"
#include "tests/http/fake_server.h"

namespace adabench {
namespace http_testing {

using json = nlohmann::json;

inline const std::string kModelDir = std::string(ADABENCH_SOURCE_DIR) + "/models/organism/long";

inline uint64_t fnv(const std::vector<int32_t>& h, size_t n) {
    uint64_t x = 1469598103934665603ULL;
    for (size_t i = 0; i < n; ++i) {
        x ^= static_cast<uint64_t>(h[i]) + 0x9e37;
        x *= 1099511628211ULL;
    }
    return x;
}

// The scripted model: shared by the fake servers and the reference mock backend.
struct FakeModel {
    std::shared_ptr<Tokenizer> tok;
    std::vector<int32_t> eos;
    int32_t think_begin = -1, think_end = -1;
    std::vector<int32_t> think_vocab, answer_vocab;
    int vocab = 0;

    FakeModel() {
        tok = std::make_shared<Tokenizer>(Tokenizer::load(kModelDir));
        eos = engine_eos_ids(config_load(kModelDir + "/config.json"), *tok);
        think_begin = tok->encode("<think>", true).at(0);
        think_end = tok->encode("</think>", true).at(0);
        think_vocab = tok->encode(" In June, Mia has 47 marbles. 47 + 8 = 55. Wait, let me double-check", true);
        answer_vocab = tok->encode(" The answer is \\boxed{42}.", true);
        vocab = tok->vocab_size();
    }

    void logits(const std::vector<int32_t>& h, float* out) const {
        size_t z = 0;  // after the last <think>
        for (size_t i = 0; i < h.size(); ++i)
            if (h[i] == think_begin) z = i + 1;
        size_t end_at = h.size();
        for (size_t i = z; i < h.size(); ++i)
            if (h[i] == think_end) {
                end_at = i;
                break;
            }
        uint64_t hh = fnv(h, h.size());
        int32_t preferred;
        if (end_at == h.size()) {
            int n = static_cast<int>(h.size() - z);
            int t = 6 + static_cast<int>(fnv(h, z) % 20);
            preferred = n >= t ? think_end : think_vocab[hh % think_vocab.size()];
        } else {
            int a = static_cast<int>(h.size() - end_at - 1);
            preferred = a >= 5 ? eos.front() : answer_vocab[hh % answer_vocab.size()];
        }
        for (int v = 0; v < vocab; ++v) {
            uint64_t y = (hh ^ (static_cast<uint64_t>(v) * 0x9e3779b97f4a7c15ULL)) * 0xbf58476d1ce4e5b9ULL;
            out[v] = static_cast<float>((y >> 40) % 1000) / 500.0f;  // 0 .. 2
        }
        out[preferred] += 6.0f;
    }
};

inline FakeModel& model() {
    static FakeModel m;
    return m;
}

struct Generated {
    std::vector<int32_t> ids;
    std::string finish = "length";  // vLLM's words
    json stop_reason = nullptr;
    std::string text;
};

// The server's side: plain greedy / sampled decoding of the fake model with vLLM's stop rules.
// think_budget >= 0: vLLM's thinking_token_budget (counted from the last <think>, prompt included;
// at the budget the end of thinking is forced).
inline Generated fake_generate(const std::vector<int32_t>& prompt, int max_tokens, const SamplingParams& sp,
                               const std::vector<int32_t>& stop_ids, const std::vector<std::string>& stops,
                               int think_budget = -1) {
    const FakeModel& m = model();
    Generated g;
    std::vector<int32_t> h = prompt;
    std::vector<float> row(static_cast<size_t>(m.vocab));
    auto chain = sampling_make_chain(sp, 0);
    for (int i = 0; i < max_tokens; ++i) {
        m.logits(h, row.data());
        int32_t t = chain->sample(row.data(), m.vocab, h.size());
        if (think_budget >= 0) {
            size_t z = 0;
            bool ended = false;
            for (size_t k = 0; k < h.size(); ++k) {
                if (h[k] == m.think_begin) z = k + 1, ended = false;
                if (h[k] == m.think_end) ended = true;
            }
            if (!ended && static_cast<int>(h.size() - z) >= think_budget) t = m.think_end;
        }
        chain->accept(t);
        h.push_back(t);
        g.ids.push_back(t);
        if (std::find(m.eos.begin(), m.eos.end(), t) != m.eos.end()) {
            g.finish = "stop";
            return g;
        }
        if (std::find(stop_ids.begin(), stop_ids.end(), t) != stop_ids.end()) {
            g.finish = "stop";
            g.stop_reason = t;
            return g;
        }
        g.text += m.tok->decode_token(t);
        for (const auto& s : stops) {
            size_t at = g.text.find(s);
            if (at != std::string::npos) {
                g.finish = "stop";
                g.stop_reason = s;
                g.text.resize(at);
                return g;
            }
        }
    }
    return g;
}

struct Recorded {
    std::vector<int32_t> prompt, out;
};

// A fake vLLM / serve-engine / SGLang / llama-server, with hooks for faults.
class FakeLlm {
public:
    enum Kind { VLLM, ADABENCH, SGLANG, LLAMACPP };
    std::function<std::optional<FakeAction>(const FakeRequest&, const json&)> fault;  // return an action to inject
    bool extra_bos = false, ignore_stop_ids = false, ignore_top_k = false, drop_token_ids = false;
    int n_lora = 0;
    bool honour_server_budget = true;
    int max_model_len = 2048;
    std::atomic<double> completion_delay_s{0.0};

    explicit FakeLlm(Kind kind) : kind_(kind), server_([this](const FakeRequest& r) { return handle(r); }) {}
    std::string url() const { return server_.url(); }
    FakeServer& server() { return server_; }
    std::vector<Recorded> recorded() {
        std::lock_guard<std::mutex> l(mu_);
        return rec_;
    }
    std::vector<json> bodies() {
        std::lock_guard<std::mutex> l(mu_);
        return bodies_;
    }

private:
    FakeAction reply(const json& j, int status = 200, double delay = 0.0) {
        FakeAction a;
        a.delay_s = delay;
        a.status = status;
        a.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
        a.headers = {{"Content-Type", "application/json"}};
        return a;
    }

    FakeAction handle(const FakeRequest& r) {
        json body = json::parse(r.body.empty() ? "{}" : r.body, nullptr, false);
        if (fault) {
            if (auto a = fault(r, body)) return *a;
        }
        const FakeModel& m = model();
        if (r.target == "/version") {
            if (kind_ == ADABENCH) return reply({{"version", "test"}, {"server", "adabench-serve-engine"}});
            if (kind_ == VLLM) return reply({{"version", "0.11.0"}});
            return reply({{"detail", "Not Found"}}, 404);
        }
        if (r.target == "/get_server_info")
            return kind_ == SGLANG ? reply({{"version", "0.5.0"}}) : reply({{"detail", "Not Found"}}, 404);
        if (r.target == "/props") {
            if (kind_ != LLAMACPP) return reply({{"detail", "Not Found"}}, 404);
            return reply(
                {{"build_info", "b6000-test"}, {"total_slots", 4}, {"default_generation_settings", {{"n_ctx", 2048}}}});
        }
        if (r.target == "/v1/models")
            return reply({{"object", "list"}, {"data", {{{"id", "organism"}, {"max_model_len", max_model_len}}}}});
        if (r.target == "/tokenize") {
            std::string text = body.value(kind_ == LLAMACPP ? "content" : "prompt", "");
            return reply({{"tokens", m.tok->encode(text, true)}});
        }
        if (r.target == "/lora-adapters") {
            json a = json::array();
            for (int i = 0; i < n_lora; ++i)
                a.push_back({{"id", i}, {"path", "a" + std::to_string(i)}, {"scale", 0.0}});
            return reply(a);
        }
        if (r.target == "/v1/completions" || r.target == "/completion") return complete(r, body);
        return reply({{"detail", "Not Found"}}, 404);
    }

    FakeAction complete(const FakeRequest& r, const json& b) {
        if (b.is_discarded()) return reply({{"message", "malformed JSON"}}, 400);
        const bool llama = kind_ == LLAMACPP;
        std::vector<int32_t> prompt = b.at("prompt").is_string()
                                          ? model().tok->encode(b["prompt"].get<std::string>(), true)
                                          : b.at("prompt").get<std::vector<int32_t>>();
        SamplingParams sp;
        sp.temperature = b.value("temperature", 1.0f);
        sp.top_p = b.value("top_p", 1.0f);
        sp.top_k = std::max(0, b.value("top_k", 0));
        if (ignore_top_k) sp.top_k = 0;
        sp.seed = b.value("seed", uint64_t{0});
        int max_tokens = llama ? b.value("n_predict", 16) : b.value("max_tokens", 16);
        std::vector<int32_t> stop_ids;
        std::vector<std::string> stops = b.value("stop", std::vector<std::string>{});
        if (!llama && !ignore_stop_ids) stop_ids = b.value("stop_token_ids", std::vector<int32_t>{});
        int budget = honour_server_budget ? b.value("thinking_token_budget", -1) : -1;
        Generated g = fake_generate(prompt, max_tokens, sp, stop_ids, stops, budget);
        {
            std::lock_guard<std::mutex> l(mu_);
            rec_.push_back({prompt, g.ids});
            bodies_.push_back(b);
        }
        std::vector<int32_t> echo = prompt;
        if (extra_bos) echo.insert(echo.begin(), prompt.front());
        if (llama) {
            std::string stop_type = g.finish == "length" ? "limit" : g.stop_reason.is_string() ? "word" : "eos";
            json j = {{"content", g.text},
                      {"tokens", g.ids},
                      {"stop_type", stop_type},
                      {"tokens_evaluated", echo.size()},
                      {"tokens_predicted", g.ids.size()},
                      {"truncated", false}};
            if (g.stop_reason.is_string()) j["stopping_word"] = g.stop_reason;
            return reply(j, 200, completion_delay_s.load());
        }
        json c = {{"index", 0}, {"text", g.text}, {"finish_reason", g.finish}, {"logprobs", nullptr}};
        if (kind_ == SGLANG) {
            c["matched_stop"] = g.finish == "stop" && g.stop_reason.is_null() ? json(g.ids.back()) : g.stop_reason;
        } else {
            c["stop_reason"] = g.stop_reason;
        }
        if (!drop_token_ids) {
            c["token_ids"] = g.ids;
            c["prompt_token_ids"] = echo;
        }
        return reply({{"id", "cmpl-" + std::to_string(r.index)},
                      {"object", "text_completion"},
                      {"choices", {c}},
                      {"usage", {{"prompt_tokens", prompt.size()}, {"completion_tokens", g.ids.size()}}}},
                     200, completion_delay_s.load());
    }

    Kind kind_;
    std::mutex mu_;
    std::vector<Recorded> rec_;
    std::vector<json> bodies_;
    FakeServer server_;
};

// ---- requests and the reference ----

inline std::vector<GenerateRequest> requests_for(const std::vector<std::string>& questions,
                                                 const std::vector<int>& budgets, float temperature, int min_think = 0,
                                                 int max_tokens = 200) {
    ChatTemplate tpl = chat_template_from_model_dir(kModelDir);
    std::vector<GenerateRequest> out;
    uint64_t seed = 11;
    for (const auto& q : questions) {
        GenerateRequest r;
        r.prompt_ids = model().tok->encode(tpl.render(q), true);
        r.prompt_opens_thinking = tpl.prompt_opens_thinking;
        r.budget.think_begin = tpl.think_begin;
        r.budget.think_end = tpl.think_end;
        r.budget.mechanism = budgets.empty() ? BUDGET_MECHANISM_NONE : BUDGET_MECHANISM_HARD_CUT;
        r.budget.answer_budget = 6;
        r.budget.forced_text = "\n" + tpl.think_end + "\n\n**Final Answer:**\n\n";
        r.budget.min_think = min_think;
        r.budget.max_waits = min_think > 0 ? 2 : 0;
        r.budget.wait_text = " Wait";
        r.think_budgets = budgets;
        r.max_tokens = max_tokens;
        r.stop = tpl.stop_texts;
        r.sampling.temperature = temperature;
        r.sampling.top_p = temperature > 0 ? 0.95f : 1.0f;
        r.sampling.seed = seed++;
        out.push_back(r);
    }
    return out;
}

// cap > 0: the context (prompt + output) the mock backend holds, like a server's max_model_len.
inline std::vector<std::vector<GenerateResult>> reference(const std::vector<GenerateRequest>& reqs, int cap = 0) {
    const FakeModel& m = model();
    testing::MockBackend backend(m.vocab, [&](const std::vector<int32_t>& h, float* out) { m.logits(h, out); });
    backend.cap = cap;
    TokenizerText text(*m.tok);
    GeneratorOptions o;
    o.eos_ids = m.eos;
    o.max_batch = 64;
    return generator_run(backend, text, o, reqs);
}

inline const std::vector<std::string> kQuestions = {"Mia has 47 marbles. How many?", "What is 3+4?",
                                                    "Tom buys 12 apples and eats 5.", "2+2?", "Sum 8 and 9."};

}  // namespace http_testing
}  // namespace adabench
