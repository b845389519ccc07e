// serve-engine: our own engine (cpu, or cuda when built) behind the vLLM-compatible subset of the
// OpenAI API, so lm-eval's local-completions and adabench's own http engine can use it.
//
// Endpoints: POST /v1/completions, POST /tokenize, POST /detokenize, GET /v1/models, GET /health,
// GET /version, GET /lora-adapters (llama-server form), POST /v1/load_lora_adapter and
// POST /v1/unload_lora_adapter (vLLM's runtime LoRA API). Request and response shapes are vLLM's;
// the README ("### serve-engine") lists the fields.
//
// Exactness first: a completion is the Generator with mechanism none, no thinking-phase logic
// (empty think markers), seq_id 0 and the request's seed, EOS from the model, the request's stop
// strings and stop_token_ids. Every request of every connection goes into one Generator loop
// thread (generator_serve: continuous batching), and since a sequence's tokens depend only on its
// own (seed, seq_id, position) and prompt, a served completion is token-identical to an
// in-process engine_make Generator run of the same ids.
//
// Fields: every field we know is honoured or accepted only at its neutral value; any other field
// (or a non-neutral value of a neutral-only field) is a 400 naming it. We never ignore a field.
//
// LoRA: the backend holds, in order, the --adapter list (llama-server ids 0..n-1; a request without
// a `lora` field gets their default scales, which the CLI sets from DIR=SCALE with bare DIR = 0 as
// llama-server's --lora-init-without-apply; a `lora` field sets the listed ids and zeroes the rest) and then the LoRA modules (--lora-modules NAME=DIR and those
// loaded at run time), which are 0 unless the request's `model` names one (then 1, vLLM's "that
// adapter at scale 1"). Loading or unloading pauses admission, waits for the active sequences to
// finish, swaps the backend's adapter set (Backend::set_lora_adapters) and resumes.
//
// Safety: loopback by default; optional Bearer API key (every route but GET /health); limits on
// header bytes (431), body bytes (413), JSON nesting (400), prompts per request, queued prompts
// (503), prompt tokens (the context length; 400) and concurrent connections (refused); a read
// timeout per request (none while a completion is generating).
//
// Not here: streaming, chat completions, logprobs, echo, n > 1, penalties, cancellation of a
// generation whose client went away (it runs to its end; its answer is dropped).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engines/engine_factory.h"

namespace adabench {

struct ServeEngineOptions {
    // The engine: model_dir, backend ("cpu" | "cuda"), n_threads, max_batch, max_seq_len (0 = the
    // model's max_position_embeddings = max_model_len), precision, kv_cache_dtype. adapters are
    // the --adapter list (DIR, default scale); lora_merged and merges must stay unset.
    EngineFactoryOptions engine;
    // vLLM --lora-modules: (NAME, DIR), each usable as `model` (that adapter at scale 1).
    std::vector<std::pair<std::string, std::string>> lora_modules;
    std::string served_model_name;  // "" = the last component of engine.model_dir

    std::string bind = "127.0.0.1";
    uint16_t port = 8000;  // 0 = any free port (see EngineServer::port())
    int http_threads = 4;
    std::string api_key;  // "" = none; else every route but GET /health needs "Authorization: Bearer KEY"

    size_t max_connections = 256;
    size_t max_header_bytes = 16 * 1024;
    size_t max_body_bytes = 8 * 1024 * 1024;
    size_t max_prompts_per_request = 256;
    size_t max_queued_prompts = 4096;  // prompts waiting or generating, all requests together
    double read_timeout_s = 60.0;      // to receive one whole request, and to write one response
};

// "NAME=DIR" -> (NAME, DIR). Throws adabench::UsageError.
std::pair<std::string, std::string> serve_engine_parse_lora_module(const std::string& arg);

class EngineServer {
public:
    explicit EngineServer(ServeEngineOptions options);
    ~EngineServer();  // stops
    EngineServer(const EngineServer&) = delete;
    EngineServer& operator=(const EngineServer&) = delete;

    // Builds the engine (throws adabench::Error: unreadable model or adapter, unknown backend,
    // duplicate names), binds (bad address, port in use) and starts the generator loop thread and
    // the HTTP threads.
    void start();
    uint16_t port() const;  // the bound port (after start)
    const std::string& served_model_name() const;
    int max_model_len() const;
    // Fails what is queued or generating (503), closes the listener, joins every thread; idempotent.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace adabench
