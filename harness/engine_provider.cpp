// SweepEngineProvider over the engine factory (see engine_provider.h).
#include "harness/engine_provider.h"

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/sha256.h"
#include "engines/engine_factory.h"
#include "engines/http/http_engine.h"
#include "engines/model/config.h"
#include "engines/tokenizer/chat_template.h"
#include "engines/tokenizer/tokenizer.h"
#include "harness/grid.h"

namespace adabench {

namespace fs = std::filesystem;

std::string sweep_hash_model_dir(const std::string& dir) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw Error(dir + ": not a directory", "pass a Hugging Face model or PEFT adapter directory");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (!e.is_regular_file()) continue;
        std::string n = e.path().filename().string();
        bool wanted = n == "config.json" || n == "tokenizer.json" || n == "tokenizer_config.json" ||
                      n == "vocab.json" || n == "merges.txt" || n == "adapter_config.json" ||
                      n == "generation_config.json" || n == "chat_template.jinja" ||
                      (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) ||
                      (n.size() > 11 && n.compare(n.size() - 11, 11, ".index.json") == 0);
        if (wanted) names.push_back(n);
    }
    if (ec) throw Error(dir + ": cannot list: " + ec.message());
    if (names.empty())
        throw Error(dir + ": no model files (config.json, *.safetensors, adapter_config.json)",
                    "is this a model or adapter directory?");
    std::sort(names.begin(), names.end());
    Sha256 h;
    for (const auto& n : names) h.update(n + " " + sha256_file((fs::path(dir) / n).string()) + "\n");
    return h.hex();
}

namespace {

class FactoryProvider : public SweepEngineProvider {
public:
    explicit FactoryProvider(const SweepConfig& c) : c_(c) {
        tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(c.model));
        if (c.chat_template == "none") {
            use_chat_ = false;
        } else {
            chat_ = c.chat_template == "auto" ? chat_template_from_model_dir(c.model)
                                              : chat_template_by_name(c.chat_template);
        }
    }

    // The first composition builds the engine with the composition sources kept in its backend;
    // every later one is a Backend::compose on that engine (no reload, no new backend, and on a
    // device the merge runs there). Unmerged adapters stay loaded across compositions.
    Engine& engine_for(const SweepComposition& comp) override {
        if (c_.engine == "http") {
            // One engine for the whole sweep: the server owns the weights, coefficient vectors go
            // per request (validation refused merges and merged LoRA).
            if (!http_) http_ = std::make_unique<HttpEngine>(http_options(c_));
            return *http_;
        }
        EngineFactoryOptions o = options_for(comp);
        if (engine_ && composable_) {
            engine_->backend().compose(engine_compose_params(o));
            return *engine_;
        }
        engine_.reset();  // free the previous engine first: two sets of weights may not fit
        o.compose_in_backend = true;
        engine_ = engine_make(o);
        composable_ = !o.merge_with.empty() || (o.lora_merged && !o.adapters.empty());
        return *engine_;
    }

    EngineFactoryOptions options_for(const SweepComposition& comp) const {
        EngineFactoryOptions o;
        o.backend = c_.engine;
        o.model_dir = c_.model;
        for (size_t i = 0; i < c_.adapters.size(); ++i) {
            float coef = comp.merged_lora ? static_cast<float>(comp.merged_coefs.at(i)) : 0.0f;
            o.adapters.emplace_back(c_.adapters[i].path, coef);
        }
        o.lora_merged = comp.merged_lora;
        if (comp.has_merge) {
            o.merge_with = c_.merge.with;
            o.merge_base = c_.merge.base;
            for (double x : comp.merge_lambda) o.lambda.push_back(static_cast<float>(x));
        }
        o.n_threads = c_.threads;
        // The CUDA cache holds a fixed number of positions per sequence: what the plan needs (the
        // longest prompt plus max_tokens), not the backend's default (#20 D2).
        if (c_.engine == "cuda" && longest_prompt_ > 0)
            o.max_seq_len =
                sweep_kv_positions(c_, longest_prompt_, config_load(c_.model + "/config.json").max_position_embeddings);
        // Forks decode alongside their parent: room for every budget of every request in a batch.
        size_t forks = 1;
        for (const auto& b : c_.budgets)
            if (b.mechanism == "hard_cut") forks = std::max(forks, b.think_budgets.size());
        o.max_batch = static_cast<int>(std::min<size_t>(1024, static_cast<size_t>(c_.batch_size) * forks));
        o.share_prompts = c_.prefix_sharing;
        return o;
    }

    bool wants_longest_prompt() const override { return c_.engine == "cuda"; }
    void set_longest_prompt(int n_tokens) override { longest_prompt_ = n_tokens; }

    SweepPrompt format_prompt(const std::string& user) override {
        SweepPrompt p;
        if (use_chat_) {
            p.text = chat_.render(user);
            p.opens_thinking = chat_.prompt_opens_thinking;
            p.think_begin = chat_.think_begin;
            p.think_end = chat_.think_end;
            p.stop = chat_.stop_texts;
        } else {
            p.text = user;
        }
        p.ids = tokenizer_->encode(p.text, true);
        if (!use_chat_ && tokenizer_->add_bos_token() && tokenizer_->bos_id() >= 0)
            p.ids.insert(p.ids.begin(), tokenizer_->bos_id());
        if (p.ids.empty()) throw Error("a prompt encodes to no tokens", "check the task's prompt template");
        return p;
    }

    nlohmann::json identity() override {
        nlohmann::json j;
        j["model_hash"] = sweep_hash_model_dir(c_.model);
        nlohmann::json ads = nlohmann::json::array();
        for (const auto& a : c_.adapters)
            ads.push_back({{"name", a.name}, {"path", a.path}, {"sha256", sweep_hash_model_dir(a.path)}});
        j["adapters"] = ads;
        nlohmann::json merges = nlohmann::json::array();
        if (!c_.merge.with.empty())
            merges.push_back({{"path", c_.merge.with}, {"sha256", sweep_hash_model_dir(c_.merge.with)}});
        if (!c_.merge.base.empty())
            merges.push_back({{"path", c_.merge.base}, {"sha256", sweep_hash_model_dir(c_.merge.base)}});
        j["merges"] = merges;
        return j;
    }

private:
    static HttpEngineOptions http_options(const SweepConfig& c) {
        HttpEngineOptions h;
        h.flavour = c.http.flavour;
        h.urls = c.http.urls;
        h.model = c.http.model;
        h.api_key_env = c.http.api_key_env;
        h.tokenizer_dir = c.http.tokenizer.empty() ? c.model : c.http.tokenizer;
        h.concurrency_per_url = c.http.concurrency_per_url;
        h.connect_timeout_s = c.http.connect_timeout_s;
        h.base_timeout_s = c.http.base_timeout_s;
        h.per_token_timeout_ms = c.http.per_token_timeout_ms;
        h.retry.max_attempts = c.http.retry_max_attempts;
        h.retry.base_s = c.http.retry_base_s;
        h.retry.factor = c.http.retry_factor;
        h.retry.cap_s = c.http.retry_cap_s;
        h.tls_ca_file = c.http.tls_ca_file;
        h.tls_verify = c.http.tls_verify;
        h.allow_retokenized_seams = c.http.allow_retokenized_seams;
        for (const auto& a : c.adapters) h.adapter_paths.push_back(a.path);
        h.lora_realisation = c.http.lora_realisation;
        h.lora_dir = c.http.lora_dir;
        h.lora_server_dir = c.http.lora_server_dir;
        h.max_lora_rank = c.http.lora_max_rank;
        return h;
    }

    SweepConfig c_;
    std::unique_ptr<HttpEngine> http_;
    std::unique_ptr<Tokenizer> tokenizer_;
    bool use_chat_ = true;
    ChatTemplate chat_;
    std::unique_ptr<Generator> engine_;
    int longest_prompt_ = 0;   // set_longest_prompt (engine cuda)
    bool composable_ = false;  // engine_'s backend holds the composition sources
};

}  // namespace

std::unique_ptr<SweepEngineProvider> sweep_make_engine_provider(const SweepConfig& config) {
    return std::make_unique<FactoryProvider>(config);
}

}  // namespace adabench
