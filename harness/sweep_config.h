// Sweep configuration: what to run (engine, model, adapters and coefficient grids, merges and λ
// grids, tasks, budgets, sampling) read from a JSON file and/or command-line flags, validated
// strictly (an unknown key or a wrong type is an error naming the file and the key), with grids
// expanded ("0:1:0.25" -> 0, 0.25, 0.5, 0.75, 1) and a canonical JSON form whose sha256 identifies
// the run in the store.
//
// Not here: planning the grid (harness/grid.h), loading anything the paths point at, running.
// The file format is documented in configs/examples/README.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace adabench {

struct SweepAdapter {
    std::string path;
    std::string name;           // default: the directory's last component
    std::vector<double> coefs;  // this adapter's grid (adapter_grid "product")
};

struct SweepMerge {
    std::string with;    // the second model; "" = no merge
    std::string base;    // task arithmetic around this base; "" = linear
    std::string method;  // "linear" or "task_arithmetic" (derived from base when not given)
    // Each entry is one grid value: a scalar (size 1) or a per-layer list (mergekit's convention:
    // a short list is interpolated across layers by the engine).
    std::vector<std::vector<double>> lambdas;
    // Aligned with lambdas: a name marking where a value came from ("calibrated" for adabench
    // calibrate), "" for a plain grid value. Written as {"lambda": ..., "tag": "..."} entries of
    // "lambdas"; a tagged point's stored label ends with " tag=NAME".
    std::vector<std::string> lambda_tags;
};

struct SweepTaskSpec {
    std::string name;  // task name or path to a task config
    long limit = -1;   // -1 = the task's default; 0 = all
    std::vector<std::string> ids;
    std::string prompt_template;  // "" = the sweep's prompt_template, else the task's default
};

struct SweepBudget {
    std::string mechanism;           // none, hard_cut, prompt; "" = hard_cut with budgets, else none
    std::vector<int> think_budgets;  // ascending; empty with mechanism none
    int answer_budget = 512;
    int min_think = 0;
    int max_waits = 0;
    std::string wait_text = "Wait";
    int max_tokens = 4096;
};

struct SweepSampling {
    double temperature = 0.0;
    double top_p = 1.0;
    int top_k = 0;
    int n = 1;  // samples per problem
    uint64_t seed = 0;
};

// The http engine's block ("engine": "http"; engines/http/http_engine.h has the semantics).
struct SweepHttp {
    std::string flavour = "auto";   // vllm, sglang, llamacpp, openai, adabench, auto
    std::vector<std::string> urls;  // replicas
    std::string model;              // served model name ("" = the first the server lists)
    std::string api_key_env;        // environment variable holding the API key (never stored)
    std::string tokenizer;          // local model directory for tokenizer and template ("" = "model")
    int concurrency_per_url = 0;    // 0 = the flavour's default
    double connect_timeout_s = 10.0, base_timeout_s = 300.0, per_token_timeout_ms = 60.0;
    int retry_max_attempts = 6;
    double retry_base_s = 1.0, retry_factor = 2.0, retry_cap_s = 60.0;
    std::string lora_realisation = "auto";  // auto, native, materialise, refuse
    std::string lora_dir, lora_server_dir;
    int lora_max_rank = 0;
    bool allow_retokenized_seams = false;
    std::string tls_ca_file;
    bool tls_verify = true;
};

// Per-sample signals the in-process engines measure (engines/engine.h GenerateRequest).
struct SweepSignals {
    bool answer_confidence = false;  // answer_conf, answer_ppl of every result (DEER's confidence)
    bool prompt_ppl = false;         // the prompt's perplexity under the prompt's weights
};

// Adapter switching (harness/switching.h): a probe configuration and a target configuration of
// the grid, a signal and thresholds.
struct SweepSwitchSide {
    std::vector<double> coefs;  // a coefficient vector of the grid (empty without adapters)
    int think_budget = -1;      // a think budget of the grid; -1 = the point without one
};
struct SweepSwitching {
    bool enabled = false;
    SweepSwitchSide probe, target;
    std::string signal = "answer_conf";  // answer_conf, answer_ppl, prompt_ppl
    // Switch when the signal is "below" or "above" θ; "" = the signal's own sense (confidence:
    // below, perplexities: above).
    std::string when;
    std::vector<double> thresholds;
    bool switch_below() const { return when.empty() ? signal == "answer_conf" : when == "below"; }
};

struct SweepConfig {
    std::string engine = "cpu";
    std::string model;
    std::vector<SweepAdapter> adapters;
    std::string adapter_grid = "product";           // "product" or "vectors"
    std::vector<std::vector<double>> coef_vectors;  // the coefficient vectors, expanded
    std::string lora_mode = "unmerged";             // "unmerged" (mixed coefficients in one batch) or "merged"
    SweepMerge merge;
    std::vector<SweepTaskSpec> tasks;
    std::vector<SweepBudget> budgets;  // one or more budget blocks
    SweepSampling sampling;
    std::string prompt_template;         // task template name; "" = each task's default
    std::string chat_template = "auto";  // engine chat template name; "auto" = the model's; "none"
    SweepHttp http;                      // engine "http" only
    SweepSignals signals;
    // Unmerged LoRA: encode the prompt with the base weights, generate with the coefficients.
    bool prefill_base = false;
    SweepSwitching switching;
    // Execution details: they do not change results, so they are not part of the config hash.
    int batch_size = 16;
    int threads = 0;             // 0 = all cores
    bool prefix_sharing = true;  // prefill a prompt shared by several requests of a batch once
};

// Caps checked by sweep_config_validate (the grid's own caps are in harness/grid.h).
constexpr size_t kSweepMaxCoefVectors = 100000;  // coefficient vectors (an adapter product) or merge λ values
constexpr int kSweepMaxThreads = 1024;           // "threads": the CPU thread pool's cap

// Parses a config document. `source` names it in errors (the file path, or "command line").
// Relative paths are kept as written.
SweepConfig sweep_config_parse(const nlohmann::json& doc, const std::string& source);
SweepConfig sweep_config_load(const std::string& path);
// Checks cross-field rules (a model is given, tasks non-empty, budgets ascending, coefficient
// vectors match the adapters, ...). Throws adabench::Error naming `source`.
void sweep_config_validate(SweepConfig& config, const std::string& source);

// The canonical form: every field, grids expanded, execution details left out, keys sorted.
nlohmann::json sweep_config_canonical(const SweepConfig& config);
std::string sweep_config_hash(const SweepConfig& config);  // sha256 hex of canonical().dump()

// Grid values: a number, a list of numbers, "start:stop:step" (stop included when it lands on
// the grid within 1e-9), or "a,b,c". `what` names the key in errors.
std::vector<double> sweep_parse_grid(const nlohmann::json& v, const std::string& what);
std::vector<double> sweep_parse_grid_text(const std::string& text, const std::string& what);
std::vector<int> sweep_parse_int_list(const std::string& text, const std::string& what);

}  // namespace adabench
