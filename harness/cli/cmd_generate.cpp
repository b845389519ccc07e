// adabench generate: one prompt through the built-in engine, with budgets, LoRA and merges; prints
// the text (or one JSON object per result with --json) and can dump the logits of every sampled
// position. A thin layer: engines/engine_factory builds the engine, engines/generator runs it.
// Not here: datasets, grading, storing (that is `adabench sweep`).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "engines/cpu/thread_pool.h"
#include "engines/engine_factory.h"
#include "engines/generation/sampling.h"
#include "engines/http/http_engine.h"
#include "engines/tokenizer/chat_template.h"
#include "engines/tokenizer/tokenizer.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"

namespace adabench {

namespace {

int to_int(const ArgParser& a, const std::string& name, long fallback, long min) {
    long v = a.get_int(name, fallback);
    if (v < min || v > 100000000) {
        throw UsageError("adabench generate: --" + name + " " + std::to_string(v) + " is out of range (min " +
                         std::to_string(min) + ")");
    }
    return static_cast<int>(v);
}

bool ends_with_marker(const std::string& text, const std::string& marker) {
    if (marker.empty()) return false;
    size_t end = text.size();
    while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == ' ')) --end;
    return end >= marker.size() && text.compare(end - marker.size(), marker.size(), marker) == 0;
}

nlohmann::json result_json(const std::vector<int32_t>& prompt_ids, const GenerateResult& r) {
    nlohmann::json j;
    j["prompt_ids"] = prompt_ids;
    j["output_ids"] = r.output_ids;
    j["text"] = r.text;
    j["n_tokens_prompt"] = r.n_tokens_prompt;
    j["n_tokens_think"] = r.n_tokens_think;
    j["n_tokens_answer"] = r.n_tokens_answer;
    j["finish_reason"] = finish_reason_name(r.finish_reason);
    j["forced"] = r.forced;
    j["n_wait"] = r.n_wait;
    j["censored"] = r.censored;
    if (r.think_budget >= 0) {
        j["think_budget"] = r.think_budget;
    } else {
        j["think_budget"] = nullptr;
    }
    if (r.status != SAMPLE_STATUS_OK) {
        j["status"] = sample_status_name(r.status);
        j["error"] = r.error;
    }
    if (!r.engine_json.empty()) j["engine"] = nlohmann::json::parse(r.engine_json, nullptr, false);
    return j;
}

}  // namespace

int cmd_generate(int argc, char** argv) {
    ArgParser args("generate",
                   "Generate text for one prompt with the built-in engine: thinking budgets (hard cut with a forced\n"
                   "end of thinking), fork sweeps over several budgets, LoRA adapters with coefficients and model\n"
                   "merges, composed in memory.");
    args.option("model", "DIR", "Hugging Face model directory (config.json, *.safetensors, tokenizer)")
        .option("adapter", "DIR=COEF", "PEFT LoRA adapter with its coefficient (scale COEF*alpha/r)", true)
        .option("lora-mode", "MODE", "unmerged (default: per-token B(Ax)) or merged (W + sBA materialised)")
        .option("merge-with", "DIR", "merge --model with this model (linear unless --merge-base)")
        .option("lambda", "L|L1,L2,..", "merge weight of --model (linear) or of the task vector; a list = per layer")
        .option("merge-base", "DIR", "task arithmetic: theta_model + lambda * (theta_with - theta_base)")
        .option("prompt", "TEXT", "the prompt (the user message with --chat)")
        .flag("chat", "wrap the prompt in the model's chat template (from tokenizer_config.json)")
        .option("chat-template", "NAME", "use this chat template instead of detecting it (implies --chat)")
        .option("think-budget", "N", "thinking budget in tokens (hard cut: force the end of thinking at N)")
        .option("think-budgets", "A,B,..", "fork sweep: one result per budget, sharing one thinking pass")
        .option("answer-budget", "N", "tokens decoded after a forced end of thinking (default 512)")
        .option("mechanism", "M", "none | hard_cut | prompt (default: hard_cut with a budget, else none)")
        .option("min-think", "N", "replace an end of thinking before N tokens by --wait-text (s1)")
        .option("max-waits", "N", "at most N wait insertions (default 1 when --min-think is set)")
        .option("wait-text", "TEXT", "text inserted instead of an early end of thinking (default \"Wait\")")
        .option("forced-text", "TEXT",
                "text appended when the budget is spent (default \"\\n</think>\\n\\n**Final Answer:**\\n\\n\")")
        .option("max-tokens", "N", "cap on generated tokens, forced text included (default 4096)")
        .option("stop", "TEXT", "stop string (not part of the returned text)", true)
        .option("temperature", "T", "0 = greedy (default 0)")
        .option("top-p", "P", "nucleus sampling (default 1)")
        .option("top-k", "K", "top-k sampling (default 0 = off)")
        .option("seed", "S", "random seed; sampling is a pure function of (seed, sequence, position)")
        .flag("json", "print one JSON object per result (prompt_ids, output_ids, text, counts, finish_reason, forced)")
        .option("dump-logits", "FILE", "write float32 logits of every sampled position: [n, vocab] row-major, LE")
        .option("engine", "NAME", "backend: cpu (default), cuda (CUDA builds, NVIDIA GPU) or http (a server: --url)")
        .option("url", "URL", "engine http: server URL (vLLM, SGLang, llama-server, serve-engine); repeatable", true)
        .option("flavour", "NAME", "engine http: vllm, sglang, llamacpp, openai, adabench or auto (default)")
        .option("served-model", "NAME", "engine http: the served model name (default: the server's first)")
        .option("api-key-env", "VAR", "engine http: environment variable holding the API key")
        .option("threads", "N", "CPU threads (default: all cores)")
        .option("precision", "P", "cpu matmul precision: exact (fp32, default) | fast (bf16 activations)")
        .option("kv-cache", "DTYPE", "cuda KV cache element type: f32 (default) | bf16 (half the memory)")
        .epilog(
            "finish_reason: eos (EOS sampled), stop (stop string), think_budget (end of thinking forced, then\n"
            "the answer ended by eos/stop), answer_budget (forced, then --answer-budget tokens), max_tokens.\n"
            "n_tokens_think counts tokens inside thinking (waits included, end marker excluded); n_tokens_answer\n"
            "counts the rest (end marker or forced text, then the answer).\n\n"
            "example: adabench generate --model models/organism/long --chat --prompt 'What is 3+4?' \\\n"
            "           --think-budgets 16,64,256 --json");
    if (!args.parse(argc, argv)) return 0;

    if (!args.has("model")) throw UsageError("adabench generate: --model DIR is required");
    if (!args.has("prompt")) throw UsageError("adabench generate: --prompt TEXT is required");
    if (args.has("think-budget") && args.has("think-budgets")) {
        throw UsageError("adabench generate: give --think-budget or --think-budgets, not both");
    }

    EngineFactoryOptions fo;
    fo.model_dir = args.get("model");
    for (const auto& a : args.get_all("adapter")) fo.adapters.push_back(engine_parse_adapter_arg(a));
    std::string lora_mode = args.get("lora-mode", "unmerged");
    if (lora_mode != "merged" && lora_mode != "unmerged") {
        throw UsageError("adabench generate: --lora-mode must be merged or unmerged, got '" + lora_mode + "'");
    }
    fo.lora_merged = lora_mode == "merged";
    fo.merge_with = args.get("merge-with");
    fo.merge_base = args.get("merge-base");
    if (args.has("lambda")) fo.lambda = engine_parse_float_list(args.get("lambda"), "--lambda");
    if (!fo.merge_with.empty() && fo.lambda.empty()) throw UsageError("adabench generate: --merge-with needs --lambda");
    if (fo.merge_with.empty() && (args.has("lambda") || args.has("merge-base"))) {
        throw UsageError("adabench generate: --lambda and --merge-base need --merge-with");
    }
    fo.backend = args.get("engine", "cpu");
    fo.n_threads = to_int(args, "threads", 0, 0);
    if (fo.n_threads > kCpuThreadPoolMaxThreads)
        throw UsageError("adabench generate: --threads " + std::to_string(fo.n_threads) + " is more than " +
                             std::to_string(kCpuThreadPoolMaxThreads) + " CPU threads",
                         "use 0 (all cores) or at most the number of cores");
    fo.precision = args.get("precision", "exact");
    if (fo.precision != "exact" && fo.precision != "fast") {
        throw UsageError("adabench generate: --precision must be exact or fast, got '" + fo.precision + "'");
    }
    fo.kv_cache_dtype = args.get("kv-cache", "f32");
    if (fo.kv_cache_dtype != "f32" && fo.kv_cache_dtype != "bf16") {
        throw UsageError("adabench generate: --kv-cache must be f32 or bf16, got '" + fo.kv_cache_dtype + "'");
    }
    if (fo.kv_cache_dtype != "f32" && fo.backend != "cuda") {
        throw UsageError("adabench generate: --kv-cache " + fo.kv_cache_dtype + " needs --engine cuda");
    }
    fo.max_batch = 16;

    GenerateRequest req;
    std::vector<int> budgets;
    if (args.has("think-budget")) budgets.push_back(to_int(args, "think-budget", 0, 0));
    if (args.has("think-budgets")) {
        for (float b : engine_parse_float_list(args.get("think-budgets"), "--think-budgets")) {
            if (b < 0 || b != static_cast<float>(static_cast<int>(b))) {
                throw UsageError("adabench generate: --think-budgets takes non-negative integers");
            }
            budgets.push_back(static_cast<int>(b));
        }
    }
    req.think_budgets = budgets;
    std::string mech = args.get("mechanism", budgets.empty() ? "none" : "hard_cut");
    try {
        req.budget.mechanism = budget_mechanism_parse(mech);
    } catch (const Error& e) {
        throw UsageError(std::string("adabench generate: --mechanism: ") + e.what());
    }
    req.budget.answer_budget = to_int(args, "answer-budget", 512, 0);
    req.budget.min_think = to_int(args, "min-think", 0, 0);
    req.budget.max_waits = to_int(args, "max-waits", req.budget.min_think > 0 ? 1 : 0, 0);
    if (args.has("wait-text")) req.budget.wait_text = args.get("wait-text");
    if (args.has("forced-text")) req.budget.forced_text = args.get("forced-text");
    req.max_tokens = to_int(args, "max-tokens", 4096, 1);
    req.stop = args.get_all("stop");
    req.sampling.temperature = static_cast<float>(args.get_double("temperature", 0.0));
    req.sampling.top_p = static_cast<float>(args.get_double("top-p", 1.0));
    req.sampling.top_k = to_int(args, "top-k", 0, 0);
    long seed = args.get_int("seed", 0);
    req.sampling.seed = static_cast<uint64_t>(seed);
    try {
        sampling_validate_params(req.sampling);
    } catch (const Error& e) {
        throw UsageError(std::string("adabench generate: ") + e.what());
    }
    std::string dump_path = args.get("dump-logits");
    if (!dump_path.empty() && budgets.size() > 1) {
        throw UsageError("adabench generate: --dump-logits works with one budget, not a --think-budgets sweep");
    }

    const bool http = fo.backend == "http";
    std::unique_ptr<Generator> gen_engine;
    std::unique_ptr<HttpEngine> http_engine;
    if (http) {
        if (!fo.merge_with.empty())
            throw UsageError("adabench generate: --merge-with cannot run on a server (it owns the weights)",
                             "merge offline and serve the merged model");
        if (fo.lora_merged) throw UsageError("adabench generate: --lora-mode merged has no meaning with --engine http");
        if (!dump_path.empty())
            throw UsageError("adabench generate: --dump-logits needs an in-process engine (cpu, cuda)");
        if (!args.has("url")) throw UsageError("adabench generate: --engine http needs --url");
        HttpEngineOptions ho;
        ho.urls = args.get_all("url");
        ho.flavour = args.get("flavour", "auto");
        ho.model = args.get("served-model");
        ho.api_key_env = args.get("api-key-env");
        ho.tokenizer_dir = fo.model_dir;
        for (const auto& a : fo.adapters) {
            ho.adapter_paths.push_back(a.first);
            req.lora_coefs.push_back(a.second);
        }
        http_engine = std::make_unique<HttpEngine>(ho);
    } else {
        gen_engine = engine_make(fo);
    }
    Engine& engine_ref = http ? static_cast<Engine&>(*http_engine) : static_cast<Engine&>(*gen_engine);
    const Tokenizer& tok = engine_ref.tokenizer();

    std::string prompt = args.get("prompt");
    bool chat = args.has("chat") || args.has("chat-template");
    if (chat) {
        ChatTemplate tpl = args.has("chat-template") ? chat_template_by_name(args.get("chat-template"))
                                                     : chat_template_from_model_dir(fo.model_dir);
        prompt = tpl.render(prompt);
        if (!tpl.think_begin.empty()) req.budget.think_begin = tpl.think_begin;
        if (!tpl.think_end.empty()) req.budget.think_end = tpl.think_end;
        req.prompt_opens_thinking = tpl.prompt_opens_thinking;
        for (const auto& s : tpl.stop_texts) req.stop.push_back(s);
    } else {
        req.prompt_opens_thinking = ends_with_marker(prompt, req.budget.think_begin);
    }
    req.prompt_ids = tok.encode(prompt, true);
    if (!chat && tok.add_bos_token() && tok.bos_id() >= 0 &&
        (req.prompt_ids.empty() || req.prompt_ids.front() != tok.bos_id())) {
        req.prompt_ids.insert(req.prompt_ids.begin(), tok.bos_id());
    }
    if (req.prompt_ids.empty()) throw UsageError("adabench generate: the prompt encodes to no tokens");

    // Logits rows stream to a temporary file beside the path (a long generation over a 150k vocabulary
    // is gigabytes), renamed over it once complete (IoOutputFile; a device such as /dev/null is
    // written in place). Little-endian on every machine we build for: plain fwrite.
    int64_t n_rows = 0;
    std::unique_ptr<IoOutputFile> dump;
    bool dump_failed = false;  // its error names the file; the engine context below would mislead
    if (!dump_path.empty()) {
        dump = std::make_unique<IoOutputFile>(dump_path);
        gen_engine->options().on_logits = [&](const GenerateLogitsEvent& e) {
            if (e.fork_budget >= 0) return;
            try {
                dump->write(e.logits, sizeof(float) * static_cast<size_t>(e.n_vocab));
            } catch (...) {
                dump_failed = true;
                throw;
            }
            ++n_rows;
        };
    }
    std::vector<std::vector<GenerateResult>> results;
    try {
        results = engine_ref.generate({req});
    } catch (const Error& e) {
        if (dump_failed) throw;
        // Name what ran (#20 D12): "logit of token 0 is NaN" alone names no model, adapter or λ.
        std::string what = "model " + fo.model_dir;
        for (const auto& a : fo.adapters) what += ", adapter " + a.first + "=" + nlohmann::json(a.second).dump();
        if (!fo.merge_with.empty()) {
            what += ", merged with " + fo.merge_with + (fo.merge_base.empty() ? "" : " over " + fo.merge_base) +
                    " at lambda " + args.get("lambda");
        }
        throw Error(what + ": " + e.what());
    }
    if (dump) {
        dump->commit();
        std::fprintf(stderr, "wrote %lld x %d float32 logits to %s\n", static_cast<long long>(n_rows),
                     gen_engine->backend().config().vocab_size, dump_path.c_str());
    }

    int rc = 0;
    for (const auto& r : results[0]) {
        if (r.status != SAMPLE_STATUS_OK) {
            std::fprintf(stderr, "error: think_budget %d: %s: %s\n", r.think_budget, sample_status_name(r.status),
                         r.error.c_str());
            rc = 1;
        }
        if (args.has("json")) {
            std::string line =
                result_json(req.prompt_ids, r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            std::printf("%s\n", line.c_str());
        } else {
            if (results[0].size() > 1 || r.think_budget >= 0) {
                std::printf("== think_budget %d: finish=%s think=%d answer=%d forced=%s\n", r.think_budget,
                            finish_reason_name(r.finish_reason), r.n_tokens_think, r.n_tokens_answer,
                            r.forced ? "true" : "false");
            }
            std::printf("%s\n", r.text.c_str());
        }
    }
    return rc;
}

}  // namespace adabench
