// adabench serve-engine: our engine behind the vLLM-compatible API subset (engines/http/serve_engine.h)
// until SIGINT or SIGTERM. Loopback by default; another --bind prints a warning. The API key, when
// wanted, comes from an environment variable (never a flag: flags show up in `ps`) and is never
// printed.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "engines/engine_factory.h"
#include "engines/http/serve_engine.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "harness/cli/stop_signals.h"

namespace adabench {

namespace {

int int_flag(const ArgParser& a, const std::string& name, long fallback, long lo, long hi) {
    long v = a.get_int(name, fallback);
    if (v < lo || v > hi) {
        throw UsageError("adabench serve-engine: --" + name + " must be in [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "], got " + std::to_string(v));
    }
    return static_cast<int>(v);
}

}  // namespace

int cmd_serve_engine(int argc, char** argv) {
    ArgParser args("serve-engine",
                   "Serve the built-in engine behind the vLLM-compatible OpenAI API subset (/v1/completions,\n"
                   "/tokenize, /detokenize, /v1/models, runtime LoRA), with continuous batching of concurrent\n"
                   "requests. A completion is token-identical to the in-process engine on the same token ids.");
    args.option("model", "DIR", "Hugging Face model directory (required)")
        .option("adapter", "DIR[=SCALE]",
                "LoRA adapter, llama-server style: id = its position (0, 1, ..); SCALE (default 0: loaded, not "
                "applied) is what requests without a `lora` field get",
                true)
        .option("lora-modules", "NAME=DIR", "vLLM style LoRA module: `model: NAME` = base + that adapter at scale 1",
                true)
        .option("served-model-name", "NAME", "the base model's name in the API (default: the --model dir's last part)")
        .option("engine", "NAME", "backend: cpu (default) or cuda (CUDA builds, NVIDIA GPU)")
        .option("threads", "N", "CPU threads of the cpu engine (default: all cores)")
        .option("max-batch", "N", "sequences decoding together (default 16)")
        .option("max-model-len", "N", "context length (default: the model's; cuda at most 4096)")
        .option("bind", "ADDR", "address to listen on (default 127.0.0.1; anything else is reachable by others)")
        .option("port", "PORT", "TCP port (default 8000; 0 = any free port)")
        .option("api-key-env", "VAR",
                "require 'Authorization: Bearer KEY' with KEY read from this environment variable")
        .option("http-threads", "N", "HTTP worker threads (default 4)")
        .option("timeout", "SECONDS",
                "to receive one whole request (headers and body) and to write one reply; a slow or idle "
                "connection is closed after it; none while a completion generates (default 60)")
        .option("max-connections", "N", "open connections at most; more are closed at once (default 256)")
        .option("max-header-bytes", "N", "request line and headers at most, else 431 (default 16384)")
        .option("max-body-bytes", "N", "request body at most, else 413 (default 8388608)")
        .option("max-queued-prompts", "N", "prompts queued or generating at most, else 503 (default 4096)")
        .epilog(
            "Endpoints: POST /v1/completions, /tokenize, /detokenize, /v1/load_lora_adapter,\n"
            "/v1/unload_lora_adapter; GET /v1/models, /health, /version, /lora-adapters.\n"
            "Unknown request fields are a 400, never ignored. Defaults: max_tokens 16, temperature 1, seed 0.\n"
            "Example:\n"
            "  adabench serve-engine --model models/organism/base --adapter models/organism/lora-long \\\n"
            "      --adapter models/organism/lora-short --port 8000\n"
            "  curl -s localhost:8000/v1/completions -d '{\"prompt\": \"1+1=\", \"max_tokens\": 8, "
            "\"temperature\": 0}'");
    if (!args.parse(argc, argv)) return 0;
    if (!args.has("model")) throw UsageError("adabench serve-engine: --model DIR is required");

    ServeEngineOptions o;
    o.engine.model_dir = args.get("model");
    for (const auto& a : args.get_all("adapter")) {
        auto ad = engine_parse_adapter_arg(a);
        // Bare DIR: loaded but not applied (llama-server's --lora-init-without-apply), so a request
        // without a `lora` field is the base model.
        if (a.find('=') == std::string::npos) ad.second = 0.0f;
        o.engine.adapters.push_back(ad);
    }
    for (const auto& m : args.get_all("lora-modules")) o.lora_modules.push_back(serve_engine_parse_lora_module(m));
    o.served_model_name = args.get("served-model-name");
    o.engine.backend = args.get("engine", "cpu");
    o.engine.n_threads = int_flag(args, "threads", 0, 0, 1024);
    o.engine.max_batch = int_flag(args, "max-batch", 16, 1, 4096);
    o.engine.max_seq_len = int_flag(args, "max-model-len", 0, 0, 1 << 24);
    o.bind = args.get("bind", "127.0.0.1");
    o.port = static_cast<uint16_t>(int_flag(args, "port", 8000, 0, 65535));
    o.http_threads = int_flag(args, "http-threads", 4, 1, 64);
    o.read_timeout_s = args.get_double("timeout", 60.0);
    if (!(o.read_timeout_s > 0 && o.read_timeout_s <= 3600)) {
        throw UsageError("adabench serve-engine: --timeout must be in (0, 3600]");
    }
    o.max_connections = static_cast<size_t>(int_flag(args, "max-connections", 256, 1, 100000));
    o.max_header_bytes = static_cast<size_t>(int_flag(args, "max-header-bytes", 16384, 1024, 1 << 20));
    o.max_body_bytes = static_cast<size_t>(int_flag(args, "max-body-bytes", 8 << 20, 1024, 1 << 30));
    o.max_queued_prompts = static_cast<size_t>(int_flag(args, "max-queued-prompts", 4096, 1, 1 << 20));
    if (args.has("api-key-env")) {
        std::string var = args.get("api-key-env");
        const char* key = std::getenv(var.c_str());
        if (!key || !*key) {
            throw UsageError("adabench serve-engine: --api-key-env " + var + ": the variable is unset or empty");
        }
        o.api_key = key;
    }
    if (o.bind == "localhost") o.bind = "127.0.0.1";
    if (o.bind != "127.0.0.1" && o.bind != "::1") {
        std::fprintf(stderr, "warning: listening on %s: anyone who can reach it can use the engine%s\n", o.bind.c_str(),
                     o.api_key.empty() ? " (no API key: see --api-key-env)" : "");
    }

    const sigset_t set = cli_block_stop_signals();  // before any server thread starts
    EngineServer server(o);
    server.start();
    const std::string host = o.bind.find(':') != std::string::npos ? "[" + o.bind + "]" : o.bind;
    std::printf("serving %s as '%s' (max_model_len %d, engine %s)\n", o.engine.model_dir.c_str(),
                server.served_model_name().c_str(), server.max_model_len(), o.engine.backend.c_str());
    for (size_t i = 0; i < o.engine.adapters.size(); ++i) {
        std::printf("lora adapter %zu: %s (scale without a `lora` field: %g)\n", i, o.engine.adapters[i].first.c_str(),
                    static_cast<double>(o.engine.adapters[i].second));
    }
    for (const auto& [name, dir] : o.lora_modules) std::printf("lora module '%s': %s\n", name.c_str(), dir.c_str());
    std::printf("listening on http://%s:%u\n", host.c_str(), server.port());
    std::fflush(stdout);
    int sig = cli_wait_stop_signal(set);
    server.stop();
    std::printf("stopped (signal %d)\n", sig);
    return 0;
}

}  // namespace adabench
