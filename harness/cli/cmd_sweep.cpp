// adabench sweep: runs a grid of budgets, LoRA coefficients and merge λ over tasks into a SQLite
// store, resumably. Flags override the config file's fields (or make the whole config when there
// is no file). SIGINT / SIGTERM finish the batch in flight, commit it, mark the run "interrupted"
// and exit 130; a second signal kills at once (nothing committed is lost either way). Samples an
// external engine gave up on (failed_infra) leave the run "partial" and exit 3: run it again.
//
// cmd_sweep_with() takes the engine provider factory, so tests can drive this exact command with a
// deterministic fake engine (tests/harness/sweep_driver.cpp).
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "harness/engine_provider.h"
#include "harness/sweep.h"

namespace adabench {

using SweepProviderFactory = std::function<std::unique_ptr<SweepEngineProvider>(const SweepConfig&)>;
int cmd_sweep_with(int argc, char** argv, const SweepProviderFactory& factory);

namespace {

using json = nlohmann::json;

std::atomic<bool> g_stop{false};

extern "C" void sweep_on_signal(int sig) {
    if (g_stop.exchange(true)) {
        // Second signal: the user really wants out. Committed batches are safe in the WAL.
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

void install_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = sweep_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

long flag_int(const ArgParser& a, const std::string& name, long min_value) {
    std::string v = a.get(name);
    char* end = nullptr;
    errno = 0;
    long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno != 0 || x < min_value)
        throw UsageError("adabench sweep: --" + name + " expects an integer >= " + std::to_string(min_value) +
                         ", got '" + v + "'");
    return x;
}

double flag_double(const ArgParser& a, const std::string& name) {
    std::string v = a.get(name);
    char* end = nullptr;
    errno = 0;
    bool decimal = v.find_first_not_of("0123456789+-.eE") == std::string::npos;  // not hex, nan, inf
    double x = decimal ? std::strtod(v.c_str(), &end) : 0.0;
    if (v.empty() || !decimal || *end != '\0' || errno != 0 || !std::isfinite(x))
        throw UsageError("adabench sweep: --" + name + " expects a number, got '" + v + "'");
    return x;
}

std::vector<std::string> split_list(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t p = s.find(sep, start);
        std::string part = s.substr(start, p == std::string::npos ? std::string::npos : p - start);
        if (!part.empty()) out.push_back(part);
        if (p == std::string::npos) break;
        start = p + 1;
    }
    return out;
}

// The one budget block flags may edit.
json& budget_block(json& doc) {
    if (!doc.contains("budgets") || doc["budgets"].is_null()) doc["budgets"] = json::object();
    json& b = doc["budgets"];
    if (b.is_array()) {
        if (b.size() != 1)
            throw UsageError("adabench sweep: budget flags are ambiguous with " + std::to_string(b.size()) +
                                 " budget blocks in the config",
                             "edit the config file instead");
        return b[0];
    }
    return b;
}

// Applies command-line overrides onto the config document, so one strict parser checks both.
void apply_overrides(const ArgParser& a, json& doc) {
    auto set_str = [&](const char* flag, const char* key) {
        if (a.has(flag)) doc[key] = a.get(flag);
    };
    set_str("engine", "engine");
    set_str("model", "model");
    set_str("lora-mode", "lora_mode");
    set_str("prompt-template", "prompt_template");
    set_str("chat-template", "chat_template");
    if (a.has("batch-size")) doc["batch_size"] = flag_int(a, "batch-size", 1);
    if (a.has("threads")) doc["threads"] = flag_int(a, "threads", 0);
    auto signal_on = [&](const char* flag, const char* key) {
        if (!a.has(flag)) return;
        json& sg = doc["signals"];
        if (sg.is_null()) sg = json::object();
        if (sg.is_object()) sg[key] = true;  // anything else: the parser names the wrong type
    };
    signal_on("answer-conf", "answer_confidence");
    signal_on("prompt-ppl", "prompt_ppl");
    if (a.has("prefill-base")) doc["prefill_base"] = true;
    if (a.has("no-prefix-sharing")) doc["prefix_sharing"] = false;
    if (a.has("task")) {
        doc["tasks"] = json::array();
        for (const auto& t : a.get_all("task")) doc["tasks"].push_back({{"name", t}});
    }
    if (a.has("limit") || a.has("ids")) {
        if (!doc.contains("tasks") || !doc["tasks"].is_array())
            throw UsageError("adabench sweep: --limit / --ids need tasks", "pass --task NAME");
        for (auto& t : doc["tasks"]) {
            if (t.is_string()) t = json{{"name", t}};
            if (!t.is_object()) continue;  // the parser reports the bad entry
            if (a.has("limit")) t["limit"] = flag_int(a, "limit", 0);
            if (a.has("ids")) t["ids"] = split_list(a.get("ids"), ',');
        }
    }
    if (a.has("think-budgets")) budget_block(doc)["think_budgets"] = a.get("think-budgets");
    if (a.has("mechanism")) budget_block(doc)["mechanism"] = a.get("mechanism");
    if (a.has("answer-budget")) budget_block(doc)["answer_budget"] = flag_int(a, "answer-budget", 0);
    if (a.has("min-think")) budget_block(doc)["min_think"] = flag_int(a, "min-think", 0);
    if (a.has("max-waits")) budget_block(doc)["max_waits"] = flag_int(a, "max-waits", 0);
    if (a.has("wait-text")) budget_block(doc)["wait_text"] = a.get("wait-text");
    if (a.has("max-tokens")) budget_block(doc)["max_tokens"] = flag_int(a, "max-tokens", 1);
    if (a.has("adapter")) {
        doc["adapters"] = json::array();
        for (const auto& s : a.get_all("adapter")) doc["adapters"].push_back(s);
        doc.erase("coef_vectors");
        doc["adapter_grid"] = "product";
    }
    if (a.has("coef-vectors")) {
        json vecs = json::array();
        for (const auto& row : split_list(a.get("coef-vectors"), ';')) {
            json v = json::array();
            for (const auto& x : split_list(row, ',')) {
                char* end = nullptr;
                bool decimal = !x.empty() && x.find_first_not_of("0123456789+-.eE") == std::string::npos;
                double d = decimal ? std::strtod(x.c_str(), &end) : 0.0;
                if (!decimal || *end != '\0' || !std::isfinite(d))
                    throw UsageError("adabench sweep: --coef-vectors: '" + x + "' is not a number",
                                     "write vectors as 1,0;0.5,0.5;0,1");
                v.push_back(d);
            }
            vecs.push_back(v);
        }
        doc["coef_vectors"] = vecs;
        doc["adapter_grid"] = "vectors";
        if (doc.contains("adapters") && doc["adapters"].is_array())
            for (auto& ad : doc["adapters"]) {
                if (ad.is_string())
                    ad = ad.get<std::string>().substr(0, ad.get<std::string>().find('='));
                else if (ad.is_object())
                    ad.erase("coefs");
            }
    }
    if (a.has("merge-with") || a.has("merge-base") || a.has("lambdas")) {
        if (!doc.contains("merge") || !doc["merge"].is_object()) doc["merge"] = json::object();
        if (a.has("merge-with")) doc["merge"]["with"] = a.get("merge-with");
        if (a.has("merge-base")) doc["merge"]["base"] = a.get("merge-base");
        if (a.has("lambdas")) doc["merge"]["lambdas"] = a.get("lambdas");
    }
    if (a.has("temperature") || a.has("top-p") || a.has("top-k") || a.has("n") || a.has("seed")) {
        if (!doc.contains("sampling") || !doc["sampling"].is_object()) doc["sampling"] = json::object();
        if (a.has("temperature")) doc["sampling"]["temperature"] = flag_double(a, "temperature");
        if (a.has("top-p")) doc["sampling"]["top_p"] = flag_double(a, "top-p");
        if (a.has("top-k")) doc["sampling"]["top_k"] = flag_int(a, "top-k", 0);
        if (a.has("n")) doc["sampling"]["n"] = flag_int(a, "n", 1);
        if (a.has("seed")) doc["sampling"]["seed"] = flag_int(a, "seed", 0);
    }
    if (a.has("url") || a.has("flavour") || a.has("served-model") || a.has("api-key-env") || a.has("tokenizer")) {
        if (!doc.contains("http") || !doc["http"].is_object()) doc["http"] = json::object();
        json& h = doc["http"];
        if (a.has("url")) h["urls"] = a.get_all("url");
        if (a.has("flavour")) h["flavour"] = a.get("flavour");
        if (a.has("served-model")) h["model"] = a.get("served-model");
        if (a.has("api-key-env")) h["api_key_env"] = a.get("api-key-env");
        if (a.has("tokenizer")) h["tokenizer"] = a.get("tokenizer");
    }
}

}  // namespace

int cmd_sweep_with(int argc, char** argv, const SweepProviderFactory& factory) {
    ArgParser args("sweep",
                   "Run a grid of thinking budgets, LoRA coefficients and merge weights over tasks, grading\n"
                   "every sample into a SQLite store. Re-running the same sweep on the same --db resumes it.");
    args.option("config", "FILE", "sweep config (JSON; see configs/examples/README.md); flags below override it")
        .option("db", "FILE", "the SQLite store to write (created if missing; required)")
        .option("engine", "NAME", "cpu (default), cuda, or http (an external server: --url)")
        .option("model", "DIR", "model directory (Hugging Face layout; engine http: the local tokenizer and template)")
        .option("url", "URL", "engine http: a server replica, e.g. http://127.0.0.1:8000; repeatable", true)
        .option("flavour", "NAME", "engine http: vllm, sglang, llamacpp, openai, adabench or auto (default)")
        .option("served-model", "NAME", "engine http: the model name the server serves (default: its first)")
        .option("api-key-env", "VAR", "engine http: environment variable holding the API key (never stored)")
        .option("tokenizer", "DIR", "engine http: local tokenizer directory when it is not --model")
        .option("task", "NAME|PATH", "task name (configs/tasks/NAME.json) or task config path; repeatable", true)
        .option("limit", "N", "first N problems of every task (0 = all)")
        .option("ids", "ID,...", "only these problem ids (every task)")
        .option("think-budgets", "LIST", "thinking budgets, e.g. 32,64,128 or 32:256:32 (one fork sweep)")
        .option("mechanism", "M", "none, hard_cut (default with budgets) or prompt")
        .option("answer-budget", "N", "tokens after a forced end of thinking (default 512)")
        .option("min-think", "N", "s1 'Wait': an end of thinking before N tokens is replaced")
        .option("max-waits", "N", "at most N wait insertions (default 1 with --min-think)")
        .option("wait-text", "TEXT", "the wait text (default \"Wait\")")
        .option("max-tokens", "N", "hard cap on generated tokens (default 4096)")
        .option("adapter", "DIR=GRID",
                "LoRA adapter with a coefficient grid (0:1:0.25 or 0,0.5,1); repeatable; "
                "several adapters form a cartesian product",
                true)
        .option("coef-vectors", "V;V;...", "explicit coefficient vectors instead of a product, e.g. 1,0;0.5,0.5;0,1")
        .option("lora-mode", "MODE", "unmerged (default: mixed coefficients in one batch) or merged")
        .option("merge-with", "DIR", "merge the model with this one (linear, or task arithmetic with --merge-base)")
        .option("merge-base", "DIR", "base model for task arithmetic")
        .option("lambdas", "GRID", "merge weights, e.g. 0:1:0.25 (per-layer lists: in the config file)")
        .option("temperature", "T", "sampling temperature (0 = greedy, the default)")
        .option("top-p", "P", "nucleus sampling (default 1)")
        .option("top-k", "K", "top-k sampling (0 = off)")
        .option("n", "N", "samples per problem (default 1)")
        .option("seed", "S", "base seed; per-sample seeds derive from it (default 0)")
        .option("batch-size", "N", "requests per engine call (default 16; does not change results)")
        .option("threads", "N", "CPU threads (0 = all cores)")
        .flag("answer-conf", "store each answer's confidence and perplexity (signals.answer_confidence; DEER replay)")
        .flag("prompt-ppl", "store each prompt's perplexity under the model (signals.prompt_ppl; a router signal)")
        .flag("prefill-base", "unmerged LoRA: encode prompts with the base weights, generate with the adapters")
        .flag("no-prefix-sharing", "prefill every request's prompt whole (default: a prompt shared in a batch once)")
        .option("prompt-template", "NAME", "task prompt template (default: each task's own)")
        .option("chat-template", "NAME", "auto (the model's, default), none, or a template name")
        .option("shard", "I/N", "run only shard I of N (0-based); combine shard stores with adabench merge-db")
        .option("resume", "RUN_ID", "continue this run; refused when the config hash differs")
        .flag("new-run", "start a new run even when the store has one with this config")
        .option("progress", "MODE", "auto (bar on a terminal, else plain lines), bar, plain or none")
        .flag("dry-run", "print the plan (points, samples, config hash) and exit without running")
        .flag("print-config", "print the canonical config JSON and exit")
        .epilog(
            "Example:\n"
            "  adabench sweep --model models/organism/base --task arith --limit 50 \\\n"
            "      --think-budgets 32,64,128 --adapter models/organism/lora-long=0:1:0.25 --db results.db\n"
            "  adabench sweep --config configs/default.json --db results.db --shard 0/4");
    if (!args.parse(argc, argv)) return 0;

    json doc = json::object();
    std::string source = "command line";
    if (args.has("config")) {
        source = args.get("config");
        doc = io_read_json(source);
        if (!doc.is_object()) throw Error(source + ": the config must be a JSON object");
    }
    apply_overrides(args, doc);
    SweepConfig config = sweep_config_parse(doc, source);
    sweep_config_validate(config, source);

    if (args.has("print-config")) {
        std::printf("%s\n", sweep_config_canonical(config).dump(2).c_str());
        return 0;
    }
    SweepOptions opt;
    opt.config_source = source;
    if (args.has("shard")) opt.shard = sweep_parse_shard(args.get("shard"));
    if (args.has("resume")) opt.resume_run_id = flag_int(args, "resume", 1);
    opt.new_run = args.has("new-run");
    if (opt.new_run && opt.resume_run_id > 0)
        throw UsageError("adabench sweep: --new-run and --resume exclude each other");
    opt.progress = progress_mode_parse(args.get("progress", "auto"));
    if (const char* iv = std::getenv("ADABENCH_PROGRESS_INTERVAL")) opt.progress_interval_s = std::atof(iv);

    std::vector<Dataset> tasks = sweep_load_tasks(config);
    if (args.has("dry-run")) {
        std::vector<size_t> counts;
        for (const auto& d : tasks) counts.push_back(d.problems.size());
        std::printf("config hash %s\n", sweep_config_hash(config).c_str());
        for (const auto& d : tasks) std::printf("task %s: %zu problems\n", d.task.name.c_str(), d.problems.size());
        // The sizes come first and arithmetically, so a grid too large to build is still described.
        SweepPlanSize size = sweep_plan_size(config, counts);
        std::string sizes = sweep_count_text(size.n_points) + " grid points, " + sweep_count_text(size.n_compositions) +
                            " weight compositions, " + sweep_count_text(size.n_samples) + " samples";
        if (size.n_points > kSweepMaxPoints || size.n_units > kSweepMaxUnits) {
            std::printf("%s (%s engine requests)\n", sizes.c_str(), sweep_count_text(size.n_units).c_str());
            std::fflush(stdout);
            sweep_plan_check_size(size, source);  // throws: a run of this grid is refused
        }
        SweepPlan plan = sweep_plan(config, counts);
        auto units = sweep_shard_units(plan, opt.shard);
        int64_t shard_samples = 0;
        for (const auto& u : units) shard_samples += static_cast<int64_t>(u.point_ids.size());
        std::printf("%s (%lld in this shard, %zu engine requests)\n", sizes.c_str(),
                    static_cast<long long>(shard_samples), units.size());
        return 0;
    }
    if (!args.has("db")) throw UsageError("adabench sweep: --db FILE is required", "e.g. --db results.db");

    Store store(args.get("db"));
    std::unique_ptr<SweepEngineProvider> provider = factory(config);
    opt.stop = &g_stop;
    install_signal_handlers();
    SweepSummary s = sweep_run(config, tasks, *provider, store, opt);
    std::printf("run %lld: %s, %lld/%lld samples stored (%lld written now) in %s\n", static_cast<long long>(s.run_id),
                s.status.c_str(), static_cast<long long>(s.n_done), static_cast<long long>(s.n_planned),
                static_cast<long long>(s.n_written), store.path().c_str());
    if (s.n_switch_written > 0)
        std::printf("adapter switching: %lld switch samples assembled from the probe and target samples\n",
                    static_cast<long long>(s.n_switch_written));
    if (s.n_switch_missing_signal > 0)
        std::fprintf(stderr, "adapter switching: %lld probe samples have no measured %s; they were left out\n",
                     static_cast<long long>(s.n_switch_missing_signal), config.switching.signal.c_str());
    if (s.n_failed > 0)
        std::fprintf(stderr,
                     "%lld samples failed (infrastructure): stored as failed_infra, left out of every metric; run "
                     "the same command again to re-issue them\n",
                     static_cast<long long>(s.n_failed));
    if (s.status == "interrupted") {
        std::fprintf(stderr, "interrupted: every finished batch is stored; run the same command again to resume\n");
        return 130;
    }
    return s.status == "partial" ? 3 : 0;  // 3: samples failed (infrastructure); the same command re-issues them
}

int cmd_sweep(int argc, char** argv) { return cmd_sweep_with(argc, argv, sweep_make_engine_provider); }

}  // namespace adabench
