// What each server flavour accepts and returns (EXTERNAL_ENGINES.md §1, S2-S3): the one primitive
// every flavour implements, `gen(prompt ids, max_new, stop ids, stop strings, sampling, seed,
// LoRA) -> output ids + why it stopped`, as pure functions from a GenCall to an HTTP request and
// from a response body to a GenReply. No I/O here, so every shape is unit-tested (and fuzzed) from
// literal bodies.
//
// Every sampling field is always sent, at its neutral value when unused (server defaults such as
// generation_config.json or llama.cpp's top_k 40 / min_p 0.05 never decide a result).
//
// Not here: the network (http_client.h), budgets and rounds (http_engine.h), the probe.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engines/engine.h"
#include "engines/http/http_client.h"

namespace adabench {

enum HttpFlavour {
    HTTP_FLAVOUR_VLLM,      // POST /v1/completions, token-id prompts, return_token_ids, stop_reason
    HTTP_FLAVOUR_SGLANG,    // POST /v1/completions, token-id prompts, return_token_ids, matched_stop
    HTTP_FLAVOUR_LLAMACPP,  // POST /completion, token arrays, return_tokens, stop_type, lora scales
    HTTP_FLAVOUR_OPENAI,    // POST /v1/completions with text prompts only: not token-exact
    HTTP_FLAVOUR_ADABENCH,  // adabench serve-engine: vLLM's shapes plus llama-server's per-request lora
};
const char* http_flavour_name(HttpFlavour f);  // "vllm", "sglang", "llamacpp", "openai", "adabench"
// Throws adabench::Error for an unknown name ("auto" is not a flavour: the probe resolves it).
HttpFlavour http_flavour_parse(const std::string& name);
// Flavours whose prompts are token ids and whose replies carry output ids.
bool http_flavour_token_ids(HttpFlavour f);
// Flavours that take per-request scales for every loaded adapter (llama-server's `lora` field).
bool http_flavour_native_lora(HttpFlavour f);

// One generation request (S2).
struct GenCall {
    std::vector<int32_t> prompt_ids;
    std::string prompt_text;  // HTTP_FLAVOUR_OPENAI only: the prompt as text
    int max_new = 1;
    std::vector<int32_t> stop_ids;       // stop tokens (EOS ids and the end-of-thinking id)
    std::vector<std::string> stop_strs;  // stop strings
    SamplingParams sampling;             // temperature, top_p, top_k (0 = off), seed
    std::string model;                   // served model name, or a loaded adapter's name
    std::vector<float> lora_scales;      // native LoRA: one scale per loaded adapter id; empty = none
    bool cache_prompt = true;            // llama.cpp: false whenever lora_scales is set (llama.cpp #26207)
    int server_think_budget = -1;        // vLLM thinking_token_budget (budget mechanism "server"); -1 = off
    // The text of each stop id, for flavours without stop_token_ids (llama.cpp, openai): they stop
    // on these strings instead, and a reply stopped by one reports that id.
    std::vector<std::string> stop_id_texts;
};

enum GenFinish {
    GEN_FINISH_EOS,       // an end-of-sequence token
    GEN_FINISH_STOP_ID,   // a stop token from stop_ids
    GEN_FINISH_STOP_STR,  // a stop string
    GEN_FINISH_LENGTH,    // max_new reached
    GEN_FINISH_ERROR,     // abort, error, repetition, a context overflow, or anything unknown
};
const char* gen_finish_name(GenFinish f);

struct GenReply {
    std::vector<int32_t> out_ids;  // generated ids (for text flavours: our tokenizer's ids of the text)
    bool have_ids = false;         // out_ids came from the server
    std::string text;
    GenFinish finish = GEN_FINISH_ERROR;
    std::string finish_raw;  // the server's own words ("stop", "length", "eos", "limit", ...)
    int32_t matched_id = -1;
    std::string matched_str;
    std::vector<int32_t> prompt_echo;  // the prompt ids as the server saw them
    bool have_prompt_echo = false;
    int64_t prompt_evaluated = -1;  // llama.cpp tokens_evaluated (its only echo)
    int64_t usage_prompt = -1, usage_completion = -1;
    bool truncated = false;  // llama.cpp: the context was exceeded
    // The reply's stop id was not the last output id (some servers drop a stop token): appended.
    bool stop_id_appended = false;
};

// The request for one call (target and JSON body; timeout and URL are the caller's).
HttpRequest http_flavour_request(HttpFlavour f, const GenCall& call);

// Parses a 2xx body. `eos_ids` decides whether a matched stop id is an EOS (SGLang reports EOS as
// its id). `call` is the request it answers (its stop ids complete a dropped stop token).
// Throws adabench::Error naming the flavour and what is wrong (not JSON, no choices, a token id
// that is not a non-negative integer, ...).
GenReply http_flavour_parse_reply(HttpFlavour f, const std::string& body, const GenCall& call,
                                  const std::vector<int32_t>& eos_ids);

// The server's error message from an error body (OpenAI {"error":{"message"}}, vLLM/serve-engine
// {"message"}, llama.cpp {"error":{"message"}}, FastAPI {"detail"}), else the body itself, cut to
// 300 bytes and made printable.
std::string http_error_message(const std::string& body);

}  // namespace adabench
