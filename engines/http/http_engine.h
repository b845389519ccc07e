// The http engine: an Engine over external inference servers (vLLM, SGLang, llama-server, generic
// OpenAI-compatible, adabench serve-engine). The server owns the weights and the KV cache; adabench
// keeps the tokenizer, the chat template and the budget control, so every stored field means what
// it means for the built-in engines:
//
//  * Prompts go out as token ids rendered locally; output ids come back (return_token_ids /
//    return_tokens) and are fed, one by one, to the same BudgetController the Generator uses.
//  * Budgets, s1 Waits and forced answers are continuation requests: the next round's prompt is
//    prompt + every output id so far (+ the inserted ids) — list concatenation, never re-encoded
//    text. A round stops where the controller must decide: at the end-of-thinking token (a stop
//    id), at the next thinking budget of a fork sweep, at the answer budget or max_tokens.
//  * A fork sweep over budgets B1 < ... < Bk sends one thinking pass, paused at each Bi, and one
//    answer continuation per budget that is still thinking there (the servers' prefix caches serve
//    the shared prefix); every round of a sample goes to the same URL.
//  * Sampling randomness: serve-engine keys it on (seed, position) like the in-process engines, so
//    the same seed is sent every round and the results equal the in-process engine's; other
//    servers restart their random stream per request, so round k > 0 gets a seed derived from
//    (seed, k), recorded with the sample.
//  * LoRA coefficient vectors: per-request scales where the server has them (llama-server,
//    serve-engine: "native"); one rank-concatenated adapter per vector, loaded through the
//    server's load/unload endpoints, on vLLM/SGLang ("materialise"); refused otherwise.
//  * Failures: requests are retried by the client (engines/http/http_client.h); a sample whose
//    retries run out is returned with status failed_infra (never graded); a non-retryable 4xx
//    throws at once with the server's message.
//
// Not here: HTTP transport (http_client.h), body shapes (flavour.h), rank concatenation (lora_cat.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engines/engine.h"
#include "engines/http/flavour.h"
#include "engines/http/http_client.h"

namespace adabench {

struct HttpEngineOptions {
    std::string flavour = "auto";   // vllm, sglang, llamacpp, openai, adabench; auto = probe the first URL
    std::vector<std::string> urls;  // replicas: each a full copy of the model (TP/PP is the server's business)
    std::string model;              // the served model name; "" = the first one the server lists
    std::string api_key_env;        // name of the environment variable holding the API key ("" = none)
    std::string tokenizer_dir;      // local Hugging Face directory: tokenizer (+ config.json for EOS ids)
    int concurrency_per_url = 0;    // 0 = the flavour's default (64; llama.cpp: its slot count)
    double connect_timeout_s = 10.0;
    double base_timeout_s = 300.0;       // a request's timeout is base + per_token * max_new
    double per_token_timeout_ms = 60.0;  // so 32k tokens get ~33 minutes, not a fixed 300 s
    HttpRetryPolicy retry;
    std::string tls_ca_file;
    bool tls_verify = true;
    // Text-only flavours (openai) cannot continue a sequence by ids: budgets with a forced answer
    // re-tokenize the seam. Refused unless this is set; such samples have token_exact = false.
    bool allow_retokenized_seams = false;
    // LoRA: the adapters that GenerateRequest::lora_coefs index, in order.
    std::vector<std::string> adapter_paths;
    std::string lora_realisation =
        "auto";                   // auto (native where possible, else materialise), native, materialise, refuse
    std::string lora_dir;         // materialise: where combined adapters are written (readable by the server)
    std::string lora_server_dir;  // the same directory as the server sees it ("" = lora_dir)
    int max_lora_rank = 0;        // materialise: refuse a combined rank above this (0 = let the server decide)
    int max_loaded_adapters = 4;  // materialised adapters kept loaded at once (least recently used unloaded)
    bool probe = true;            // run the capability probe on every URL at start
};

class Tokenizer;

class HttpEngine : public Engine {
public:
    // Loads the tokenizer, connects, probes every URL (throws adabench::Error naming the URL and
    // the failed check: unreachable, wrong model, tokenizer mismatch, double BOS, ids not returned,
    // stop ids ignored, no LoRA support when adapters are asked for, ...).
    explicit HttpEngine(HttpEngineOptions options);
    ~HttpEngine() override;

    EngineInfo info() const override;
    const Tokenizer& tokenizer() const override;
    std::vector<std::vector<GenerateResult>> generate(const std::vector<GenerateRequest>& requests) override;

    HttpFlavour flavour() const;
    // The probe's findings per URL and the realisations chosen (what EngineInfo::manifest_json holds).
    const nlohmann::json& manifest() const;
    // Tokens requested from the servers so far (sum of max_new over every round) and the rounds:
    // what a k-budget fork sweep saves against k separate runs.
    int64_t n_tokens_requested() const;
    int64_t n_rounds() const;
    // Tokens the servers returned, and prompt tokens sent (what a server without a prefix cache
    // would prefill), summed over every round so far.
    int64_t n_tokens_generated() const;
    int64_t n_tokens_prompt_sent() const;
    const HttpClientStats& client_stats() const;

    struct Impl;  // opaque (http_engine.cpp)

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace adabench
