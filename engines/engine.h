// The Engine interface: one contract for every backend (cpu, cuda, http).
//
// An engine takes a batch of generation requests and returns, per request, one result per thinking
// budget (a fork sweep when a request lists several budgets). Budget semantics are ARCHITECTURE.md
// "Budget semantics". Sampling randomness is a pure function of (seed, seq_id, position), so the
// tokens of a request never depend on what else is in the batch. This header is the contract the
// harness codes against; backends live in engines/cpu, engines/cuda, engines/http.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace adabench {

class Tokenizer;

enum FinishReason {
    FINISH_REASON_EOS,            // the model emitted an end-of-sequence token
    FINISH_REASON_STOP,           // a stop string matched
    FINISH_REASON_THINK_BUDGET,   // thinking budget spent, end forced; answer then ended normally
    FINISH_REASON_ANSWER_BUDGET,  // answer budget spent
    FINISH_REASON_MAX_TOKENS,     // max_tokens spent
    FINISH_REASON_CONTEXT,        // the sequence filled the engine's context (its max_seq_len); text so far kept
};
const char* finish_reason_name(FinishReason r);  // "eos", "stop", "think_budget", ...

enum BudgetMechanism {
    BUDGET_MECHANISM_NONE,      // no budget: generate until eos / stop / max_tokens
    BUDGET_MECHANISM_HARD_CUT,  // at think_budget, append end-of-thinking + answer prefix
    BUDGET_MECHANISM_PROMPT,    // budget stated in the prompt only (L1 style); never forced
    // The server enforces the thinking budget itself (vLLM thinking_token_budget with its
    // server-wide forced phrase): http engine only, one request per budget, never a fork.
    BUDGET_MECHANISM_SERVER,
};
const char* budget_mechanism_name(BudgetMechanism m);
BudgetMechanism budget_mechanism_parse(const std::string& s);  // throws adabench::Error

struct SamplingParams {
    float temperature = 0.0f;  // 0 = greedy
    float top_p = 1.0f;
    int top_k = 0;  // 0 = off
    uint64_t seed = 0;
};

struct BudgetParams {
    BudgetMechanism mechanism = BUDGET_MECHANISM_NONE;
    int answer_budget = 512;  // tokens after a forced end of thinking
    int min_think = 0;        // s1 "Wait": an end of thinking before this many tokens is replaced
    int max_waits = 0;        // at most this many replacements
    std::string wait_text = "Wait";
    std::string think_begin = "<think>";
    std::string think_end = "</think>";
    // Appended when the thinking budget is spent (Laser's convention for R1/Qwen-style models).
    std::string forced_text = "\n</think>\n\n**Final Answer:**\n\n";
};

struct GenerateRequest {
    std::vector<int32_t> prompt_ids;
    uint64_t seq_id = 0;  // with sampling.seed, fixes the random stream of this sequence
    SamplingParams sampling;
    BudgetParams budget;
    // Thinking budgets, ascending. Empty = no thinking budget. Several = fork sweep: think once,
    // fork at each budget; result i is token-identical to a separate run with budget i.
    std::vector<int> think_budgets;
    int max_tokens = 4096;
    std::vector<std::string> stop;
    // Unmerged LoRA: coefficient per loaded adapter for this sequence (empty = engine defaults).
    std::vector<float> lora_coefs;
    bool prompt_opens_thinking = false;  // the prompt already ends inside <think>
    // Extra stop tokens (vLLM's stop_token_ids): sampling one ends the sequence with finish reason
    // stop (the token stays in output_ids, as an EOS does). Used by serve-engine; budgets never
    // see them as EOS.
    std::vector<int32_t> stop_token_ids;
    // Signals an in-process engine measures for this request (the http engine leaves them unset):
    // the answer's confidence (GenerateResult::answer_conf, answer_ppl) and the prompt's perplexity
    // under the prompt's weights (prompt_ppl). They never change the generated tokens.
    bool measure_answer_conf = false;
    bool measure_prompt_ppl = false;
    // Unmerged LoRA: encode every prompt token but the last with the base weights (all adapter
    // coefficients 0) and generate with lora_coefs (the seed paper's KV sharing during prompt
    // encoding): one prompt cache serves every coefficient vector. Changes results.
    bool prefill_base = false;
};

// Whether a result is a model result. External engines (engines/http) report a sample whose
// requests kept failing after every retry as SAMPLE_STATUS_FAILED_INFRA: it is stored, counted and
// re-issued on resume, and never graded (it is not a wrong answer).
enum SampleStatus {
    SAMPLE_STATUS_OK,
    SAMPLE_STATUS_FAILED_INFRA,
};
const char* sample_status_name(SampleStatus s);  // "ok", "failed_infra"

struct GenerateResult {
    int think_budget = -1;            // -1 = none
    std::vector<int32_t> output_ids;  // generated tokens, forced text included
    std::string text;                 // decoded output_ids
    int n_tokens_prompt = 0;
    int n_tokens_think = 0;   // tokens inside the thinking segment
    int n_tokens_answer = 0;  // tokens after the end of thinking (forced prefix included)
    FinishReason finish_reason = FINISH_REASON_EOS;
    bool forced = false;    // end of thinking was forced by the budget
    int n_wait = 0;         // wait-text insertions
    bool censored = false;  // no answer text after thinking
    double latency_s = 0.0;
    // Set when finish_reason is stop because of a stop_token_ids entry: that id; else -1.
    int32_t matched_stop_id = -1;
    SampleStatus status = SAMPLE_STATUS_OK;
    std::string error;  // why, when status != ok (one line, the server's message included)
    // false when some prompt of this sample reached the engine as re-tokenized text instead of
    // token ids (the http engine's text-only flavours): counts and seams are then estimates.
    bool token_exact = true;
    // Engine-specific details as a JSON object ("" = none): the http engine records rounds, URL,
    // attempts, usage and the LoRA realisation here; stored with the sample.
    std::string engine_json;
    // Prompt tokens the engine computed for this result: the whole prompt, fewer when its KV came
    // from a shared prompt prefix, 0 for a fork of a budget sweep (the result of its largest budget
    // counts the prompt); -1 = unknown (external servers).
    int n_tokens_prefilled = -1;
    // measure_answer_conf: the mean max-probability (softmax of the raw logits) of the tokens
    // sampled after the end of thinking, a closing EOS / stop token excluded (DEER's confidence),
    // and the perplexity of those tokens, exp(-mean log p); -1 / 0 = not measured or no such token.
    double answer_conf = -1;
    double answer_ppl = 0;
    // measure_prompt_ppl: exp(-mean log p(x_t | x_<t)) over prompt tokens 2..n; 0 = not measured.
    double prompt_ppl = 0;
};

struct EngineInfo {
    std::string backend;  // "cpu", "cuda", "http"
    std::string device;   // "AMD EPYC (2 threads, avx512)", "NVIDIA H100 80GB", "vllm 0.11 @ http://n1:8000", ...
    // Engine-specific facts stored with the run, as a JSON object ("" = none): the http engine's
    // capability probe per URL (server identity and version, context length, checks passed).
    std::string manifest_json;
};

class Engine {
public:
    virtual ~Engine() = default;
    virtual EngineInfo info() const = 0;
    virtual const Tokenizer& tokenizer() const = 0;
    // results[i][j] answers requests[i] at think_budgets[j] (one result when no budgets).
    virtual std::vector<std::vector<GenerateResult>> generate(const std::vector<GenerateRequest>& requests) = 0;
};

}  // namespace adabench
