// The http engine (see http_engine.h): the capability probe, LoRA realisation, and the per-sample
// round loop that turns server replies into BudgetController decisions exactly as the Generator
// does for its own sampled tokens (engines/generation/generator.cpp, Runner::step): forks at the
// smaller budgets of a sweep, forced ends, Waits cut to fit a budget, stop strings and EOS.
#include "engines/http/http_engine.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <list>
#include <map>
#include <optional>
#include <set>

#include "common/error.h"
#include "engines/engine_factory.h"
#include "engines/generation/budget.h"
#include "engines/generation/generator.h"
#include "engines/generation/sampling.h"
#include "engines/http/lora_cat.h"
#include "engines/model/config.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {

using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// A fixed probe text: digits, spaces, punctuation, a non-ASCII letter and the think markers.
const char* kProbeText =
    "Probe 12 + 7 = 19. Wait, let me check: <think>x</think> caf\xc3\xa9 \xe2\x88\x9a"
    "2";

std::string trim_url(std::string u) {
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
}

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

struct HttpEngine::Impl {
    HttpEngineOptions o;
    std::shared_ptr<Tokenizer> tok;
    std::unique_ptr<TokenizerText> text;
    std::vector<int32_t> eos_ids;
    HttpFlavour flavour = HTTP_FLAVOUR_VLLM;
    std::unique_ptr<HttpClient> client;
    json manifest = json::object();
    std::string device;
    std::string served_model;
    int64_t ctx_len = -1;   // smallest context length over the URLs (-1 = unknown)
    std::string lora_mode;  // "", "native", "materialise"
    // materialise: loaded combined adapters by coefficient vector, most recently used first
    std::list<std::pair<std::vector<float>, std::string>> loaded;
    std::shared_ptr<ModelWeights> lora_base;
    std::vector<std::shared_ptr<LoraAdapter>> lora_adapters;
    int64_t n_requested = 0, n_rounds = 0, n_generated = 0, n_prompt_sent = 0;

    // ---- helpers ----
    HttpRequest get(const std::string& target, int url) const {
        HttpRequest r;
        r.method = "GET";
        r.target = target;
        r.url_index = url;
        r.timeout_s = o.connect_timeout_s + 30.0;
        return r;
    }
    HttpRequest post(const std::string& target, const json& body, int url) const {
        HttpRequest r;
        r.method = "POST";
        r.target = target;
        r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
        r.url_index = url;
        r.timeout_s = o.connect_timeout_s + 60.0;
        return r;
    }
    static std::optional<json> json_of(const HttpResponse& r) {
        if (r.status < 200 || r.status >= 300) return std::nullopt;
        json j = json::parse(r.body, nullptr, false);
        if (j.is_discarded()) return std::nullopt;
        return j;
    }
    std::string where(int url) const { return "http engine: " + client->url(url); }

    // ---- set-up ----
    void load_tokenizer() {
        if (o.tokenizer_dir.empty())
            throw Error("http engine: no tokenizer directory",
                        "set http.tokenizer (or --tokenizer) to a local copy of the model's Hugging Face directory");
        tok = std::make_shared<Tokenizer>(Tokenizer::load(o.tokenizer_dir));
        text = std::make_unique<TokenizerText>(*tok);
        fs::path cfg = fs::path(o.tokenizer_dir) / "config.json";
        std::error_code ec;
        if (fs::exists(cfg, ec)) {
            ModelConfig c = config_load(cfg.string());
            eos_ids = engine_eos_ids(c, *tok);
        } else if (tok->eos_id() >= 0) {
            eos_ids = {tok->eos_id()};
        }
        if (eos_ids.empty())
            throw Error("http engine: " + o.tokenizer_dir +
                            " names no EOS token (config.json eos_token_id or tokenizer_config.json eos_token)",
                        "without it adabench cannot tell an end of sequence from a stop");
    }

    HttpFlavour detect_flavour(int url) {
        HttpResponse v = client->send(get("/version", url));
        if (auto j = json_of(v)) {
            if (j->is_object() && j->value("server", "") == "adabench-serve-engine") return HTTP_FLAVOUR_ADABENCH;
        }
        if (json_of(client->send(get("/get_server_info", url)))) return HTTP_FLAVOUR_SGLANG;
        if (auto j = json_of(client->send(get("/props", url)))) {
            if (j->is_object() && (j->contains("default_generation_settings") || j->contains("build_info")))
                return HTTP_FLAVOUR_LLAMACPP;
        }
        if (auto j = json_of(v)) {
            if (j->is_object() && j->contains("version")) return HTTP_FLAVOUR_VLLM;
        }
        return HTTP_FLAVOUR_OPENAI;
    }

    // A greedy round on `url` (the probe's generations).
    GenReply probe_gen(int url, const std::vector<int32_t>& prompt, int max_new, const std::vector<int32_t>& stop_ids,
                       float temperature, int top_k, uint64_t seed, json& checks) {
        GenCall c;
        c.prompt_ids = prompt;
        c.prompt_text = tok->decode(prompt);
        c.max_new = max_new;
        c.stop_ids = stop_ids;
        for (int32_t id : stop_ids) c.stop_id_texts.push_back(tok->decode_token(id));
        c.sampling.temperature = temperature;
        c.sampling.top_k = top_k;
        c.sampling.seed = seed;
        c.model = served_model;
        HttpRequest req = http_flavour_request(flavour, c);
        req.url_index = url;
        req.timeout_s = o.base_timeout_s;
        HttpResponse r = client->send(req);
        if (r.status < 200 || r.status >= 300) {
            checks["generation"] = "failed";
            throw Error(
                where(url) + ": the probe's generation request failed: " +
                    (r.status ? "HTTP " + std::to_string(r.status) + ": " + http_error_message(r.body) : r.error),
                "check http.model (the served name) and the server's log");
        }
        GenReply g = http_flavour_parse_reply(flavour, r.body, c, eos_ids);
        if (!http_flavour_token_ids(flavour)) g.out_ids = tok->encode(g.text, true);
        return g;
    }

    json probe(int url, bool first) {
        json m;
        m["url"] = client->url(url);
        if (first && o.flavour == "auto") flavour = detect_flavour(url);
        m["flavour"] = http_flavour_name(flavour);
        // Identity and version.
        std::string version;
        if (flavour == HTTP_FLAVOUR_LLAMACPP) {
            HttpResponse p = client->send(get("/props", url));
            auto j = json_of(p);
            if (!j)
                throw Error(where(url) + ": GET /props failed: " + (p.status ? http_error_message(p.body) : p.error),
                            "is this a llama-server? (http.flavour)");
            if (auto b = j->find("build_info"); b != j->end() && b->is_string()) version = b->get<std::string>();
            if (auto d = j->find("default_generation_settings"); d != j->end() && d->is_object()) {
                if (auto n = d->find("n_ctx"); n != d->end() && n->is_number_integer())
                    m["max_model_len"] = n->get<int64_t>();
            }
            if (auto n = j->find("n_ctx"); n != j->end() && n->is_number_integer())
                m["max_model_len"] = n->get<int64_t>();
            if (auto s = j->find("total_slots"); s != j->end() && s->is_number_integer())
                m["total_slots"] = s->get<int64_t>();
            if (auto mp = j->find("model_path"); mp != j->end() && mp->is_string()) m["model"] = mp->get<std::string>();
        } else {
            const char* vt = flavour == HTTP_FLAVOUR_SGLANG ? "/get_server_info" : "/version";
            if (auto j = json_of(client->send(get(vt, url)))) {
                if (j->is_object()) version = j->value("version", "");
            }
            HttpResponse ms = client->send(get("/v1/models", url));
            auto j = json_of(ms);
            if (!j) {
                throw Error(where(url) + ": GET /v1/models failed: " +
                                (ms.status ? "HTTP " + std::to_string(ms.status) + ": " + http_error_message(ms.body)
                                           : ms.error),
                            ms.status == 401 || ms.status == 403
                                ? "set http.api_key_env to the variable holding the key"
                                : "is the server up and is the URL right?");
            }
            json ids = json::array();
            int64_t max_len = -1;
            std::string match;
            if (auto d = j->find("data"); d != j->end() && d->is_array()) {
                for (const auto& e : *d) {
                    if (!e.is_object()) continue;
                    // Fields of the wrong type are treated as absent (json::value would throw on them).
                    std::string id = e.contains("id") && e["id"].is_string() ? e["id"].get<std::string>() : "";
                    ids.push_back(id);
                    int64_t len = -1;
                    if (auto ml = e.find("max_model_len"); ml != e.end() && ml->is_number_integer())
                        len = ml->get<int64_t>();
                    if ((o.model.empty() && match.empty()) || id == o.model) {
                        match = id;
                        max_len = len;
                    }
                }
            }
            m["models"] = ids;
            if (match.empty()) {
                throw Error(
                    where(url) + ": the server does not serve model '" + o.model + "' (it lists " + ids.dump() + ")",
                    "set http.model to the served name");
            }
            if (served_model.empty()) served_model = match;
            m["model"] = match;
            if (max_len > 0) m["max_model_len"] = max_len;
        }
        m["version"] = version;
        if (m.contains("max_model_len")) {
            int64_t len = m["max_model_len"].get<int64_t>();
            ctx_len = ctx_len < 0 ? len : std::min(ctx_len, len);
        }
        if (!o.probe) return m;
        json checks;
        // Tokenizer agreement.
        std::vector<int32_t> ours = tok->encode(kProbeText, true);
        {
            json body;
            if (flavour == HTTP_FLAVOUR_LLAMACPP) {
                body = {{"content", kProbeText}, {"add_special", false}, {"parse_special", true}};
            } else {
                body = {{"model", served_model}, {"prompt", kProbeText}, {"add_special_tokens", false}};
            }
            HttpResponse t = client->send(post("/tokenize", body, url));
            auto j = json_of(t);
            if (!j || !j->is_object() || !j->contains("tokens") || !(*j)["tokens"].is_array()) {
                checks["tokenizer"] = "unavailable";
            } else {
                std::vector<int32_t> theirs;
                for (const auto& v : (*j)["tokens"]) {
                    if (v.is_number_integer())
                        theirs.push_back(v.get<int32_t>());
                    else if (v.is_object() && v.contains("id") && v["id"].is_number_integer())
                        theirs.push_back(v["id"].get<int32_t>());
                }
                if (theirs != ours) {
                    throw Error(where(url) + ": the server's tokenizer disagrees with " + o.tokenizer_dir +
                                    " on a probe text (" + std::to_string(theirs.size()) + " vs " +
                                    std::to_string(ours.size()) + " tokens)",
                                "point http.tokenizer at the served model's own directory");
                }
                checks["tokenizer"] = "ok";
            }
        }
        // Token-id prompt echoed as sent (no extra BOS), output ids present, decode matches text.
        std::vector<int32_t> prompt(ours.begin(), ours.begin() + std::min<size_t>(16, ours.size()));
        GenReply g = probe_gen(url, prompt, 4, {}, 0.0f, 0, 0, checks);
        if (http_flavour_token_ids(flavour)) {
            if (g.have_prompt_echo) {
                if (g.prompt_echo != prompt) {
                    throw Error(where(url) + ": the server changed the token-id prompt (sent " +
                                    std::to_string(prompt.size()) + " ids, it evaluated " +
                                    std::to_string(g.prompt_echo.size()) +
                                    (g.prompt_echo.size() == prompt.size() + 1 ? ": an added BOS" : "") + ")",
                                "the server must take prompt ids verbatim; a double BOS changes every result");
                }
                checks["prompt_echo"] = "ok";
            } else if (g.prompt_evaluated >= 0) {
                // llama.cpp reports a count only (prompt cache hits lower it, so only more is wrong).
                if (g.prompt_evaluated > static_cast<int64_t>(prompt.size()))
                    throw Error(where(url) + ": the server evaluated " + std::to_string(g.prompt_evaluated) +
                                " prompt tokens for " + std::to_string(prompt.size()) + " sent (an added BOS?)");
                checks["prompt_echo"] = "count";
            } else {
                checks["prompt_echo"] = "not reported";
            }
            std::vector<int32_t> body_ids = g.out_ids;
            while (!body_ids.empty() && contains(eos_ids, body_ids.back())) body_ids.pop_back();
            checks["output_ids"] = tok->decode(body_ids) == g.text ? "ok" : "text differs from the decoded ids";
            if (static_cast<int>(g.out_ids.size()) > 4 + (g.stop_id_appended ? 1 : 0))
                throw Error(
                    where(url) + ": asked for 4 tokens, the server returned " + std::to_string(g.out_ids.size()),
                    "the server ignores max_tokens");
            // Stop ids honoured: stopping on the third greedy token must end the output there.
            GenReply ref = probe_gen(url, prompt, 8, {}, 0.0f, 0, 0, checks);
            std::vector<int32_t> gen = ref.out_ids;
            if (flavour == HTTP_FLAVOUR_LLAMACPP) {
                // No stop_token_ids there: the end of thinking is a stop word. Nothing depends on it
                // firing (a round that runs on is cut by the budget controller), so it is not checked.
                checks["stop_ids"] = "stop words (not checked)";
            } else if (gen.size() >= 3 && !contains(eos_ids, gen[2])) {
                int32_t stop = gen[2];
                size_t first = static_cast<size_t>(std::find(gen.begin(), gen.end(), stop) - gen.begin());
                GenReply s = probe_gen(url, prompt, 8, {stop}, 0.0f, 0, 0, checks);
                std::vector<int32_t> want(gen.begin(), gen.begin() + static_cast<long>(first) + 1);
                if (s.out_ids != want || s.finish != GEN_FINISH_STOP_ID) {
                    throw Error(where(url) + ": the server ignored a stop token id (" + std::to_string(stop) +
                                    "): it returned " + std::to_string(s.out_ids.size()) + " tokens, finish '" +
                                    s.finish_raw + "'",
                                "budgets need the end-of-thinking token to stop a round; check the flavour");
                }
                checks["stop_ids"] = "ok";
            } else {
                checks["stop_ids"] = "not verified (the probe text ends too soon)";
            }
            // top_k honoured: temperature 1 with top_k 1 must be greedy (an ignored top_k samples).
            bool same = true;
            for (uint64_t seed : {1u, 2u, 3u}) {
                GenReply k = probe_gen(url, prompt, 8, {}, 1.0f, 1, seed, checks);
                if (k.out_ids != gen) same = false;
            }
            checks["top_k"] = same ? "ok" : "ignored";
            if (!same)
                throw Error(
                    where(url) + ": top_k 1 at temperature 1 did not give the greedy tokens: the server ignores top_k",
                    "adabench sends every sampling field; a server that drops one gives other results");
            // Same seed twice: the same tokens (a determinism rate is the report's business).
            GenReply a = probe_gen(url, prompt, 8, {}, 1.0f, 0, 7, checks);
            GenReply b = probe_gen(url, prompt, 8, {}, 1.0f, 0, 7, checks);
            checks["seed_repeatable"] = a.out_ids == b.out_ids;
        } else {
            checks["output_ids"] = "text only (counts re-tokenized)";
        }
        m["checks"] = checks;
        return m;
    }

    void set_up_lora() {
        if (o.adapter_paths.empty()) return;
        std::string want = o.lora_realisation;
        if (want == "refuse")
            throw Error("http engine: LoRA adapters are configured but http.lora.realisation is \"refuse\"");
        if (want == "auto") want = http_flavour_native_lora(flavour) ? "native" : "materialise";
        if (want == "native" && !http_flavour_native_lora(flavour))
            throw Error(
                std::string("http engine: flavour ") + http_flavour_name(flavour) + " has no per-request LoRA scales",
                "use lora realisation \"materialise\" (vllm, sglang) or a llama-server / serve-engine");
        if (want == "materialise" && flavour != HTTP_FLAVOUR_VLLM && flavour != HTTP_FLAVOUR_SGLANG &&
            flavour != HTTP_FLAVOUR_ADABENCH)
            throw Error(std::string("http engine: flavour ") + http_flavour_name(flavour) +
                            " cannot load adapters at run time, so a coefficient vector cannot be materialised",
                        "run llama-server with --lora-init-without-apply (per-request scales) or vLLM/SGLang");
        if (want != "native" && want != "materialise")
            throw Error("http engine: unknown LoRA realisation '" + o.lora_realisation + "'",
                        "use auto, native, materialise or refuse");
        lora_mode = want;
        json info;
        info["realisation"] = lora_mode;
        if (lora_mode == "native") {
            // Every URL must have the adapters loaded, in the configured order.
            for (int u = 0; u < client->n_urls(); ++u) {
                HttpResponse r = client->send(get("/lora-adapters", u));
                auto j = json_of(r);
                if (!j || !j->is_array())
                    throw Error(where(u) + ": GET /lora-adapters failed" +
                                    (r.status ? ": " + http_error_message(r.body) : ": " + r.error),
                                "start llama-server with --lora A.gguf --lora B.gguf --lora-init-without-apply");
                if (j->size() < o.adapter_paths.size())
                    throw Error(where(u) + ": the server has " + std::to_string(j->size()) +
                                    " LoRA adapters loaded, the config names " + std::to_string(o.adapter_paths.size()),
                                "load the same adapters, in the same order, on every server");
                json paths = json::array();
                for (const auto& a : *j)
                    paths.push_back(a.is_object() && a.contains("path") && a["path"].is_string() ? a["path"]
                                                                                                 : json(""));
                info["server_adapters"] = paths;
            }
        } else {
            if (o.lora_dir.empty())
                throw Error("http engine: materialising LoRA coefficient vectors needs http.lora.dir",
                            "a directory adabench writes and the server can read (shared filesystem)");
            // Header-only: the shapes to check the adapters against, not the served model's weights
            // (reading a 70B base would take 140 GB of RAM for a check).
            lora_base = model_load_meta(o.tokenizer_dir);
            for (const auto& p : o.adapter_paths) lora_adapters.push_back(lora_load_adapter(p, *lora_base));
            info["dir"] = o.lora_dir;
            info["server_dir"] = o.lora_server_dir.empty() ? o.lora_dir : o.lora_server_dir;
        }
        manifest["lora"] = info;
    }

    // The served name of the combined adapter for `coefs` (materialise), loading it on every URL
    // when it is not loaded yet.
    std::string materialised(const std::vector<float>& coefs) {
        for (auto it = loaded.begin(); it != loaded.end(); ++it) {
            if (it->first == coefs) {
                loaded.splice(loaded.begin(), loaded, it);
                return loaded.front().second;
            }
        }
        std::vector<const LoraAdapter*> ads;
        for (const auto& a : lora_adapters) ads.push_back(a.get());
        LoraCatOptions lo;
        LoraCatResult cat = lora_cat_write(ads, coefs, o.lora_dir, lo);
        if (o.max_lora_rank > 0 && cat.max_rank > o.max_lora_rank)
            throw Error("http engine: the combined adapter for coefficients " + json(coefs).dump() + " has rank " +
                            std::to_string(cat.max_rank) + ", above http.lora.max_rank " +
                            std::to_string(o.max_lora_rank),
                        "start the server with a larger --max-lora-rank (vLLM/SGLang) and raise http.lora.max_rank");
        std::string server_path = cat.dir;
        if (!o.lora_server_dir.empty())
            server_path = (fs::path(o.lora_server_dir) / fs::path(cat.dir).filename()).string();
        while (static_cast<int>(loaded.size()) >= std::max(1, o.max_loaded_adapters)) {
            unload(loaded.back().second);
            loaded.pop_back();
        }
        for (int u = 0; u < client->n_urls(); ++u) {
            json body = {{"lora_name", cat.name}, {"lora_path", server_path}};
            HttpResponse r = client->send(
                post(flavour == HTTP_FLAVOUR_SGLANG ? "/load_lora_adapter" : "/v1/load_lora_adapter", body, u));
            if (r.status < 200 || r.status >= 300) {
                std::string msg =
                    r.status ? "HTTP " + std::to_string(r.status) + ": " + http_error_message(r.body) : r.error;
                throw Error(
                    where(u) + ": loading the combined adapter " + server_path + " (rank " +
                        std::to_string(cat.max_rank) + ") failed: " + msg,
                    "vLLM needs --enable-lora, --max-lora-rank >= the rank and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; "
                    "the path must be readable by the server (http.lora.server_dir)");
            }
        }
        loaded.emplace_front(coefs, cat.name);
        return cat.name;
    }

    void unload(const std::string& name) {
        for (int u = 0; u < client->n_urls(); ++u) {
            json body = {{"lora_name", name}};
            client->send(
                post(flavour == HTTP_FLAVOUR_SGLANG ? "/unload_lora_adapter" : "/v1/unload_lora_adapter", body, u));
        }
    }
};

// ---------------------------------------------------------------------------------------------
// The round loop.

namespace {

struct Track;

struct SampleRun {
    size_t req = 0;
    std::vector<int> budgets;             // unique ascending
    std::vector<std::vector<int>> where;  // budgets[u] -> indices into think_budgets
    BudgetSpec spec;
    std::vector<float> lora_scales;  // native
    std::string model;               // served name (materialised adapter's name or the base)
    int server_budget = -1;          // mechanism server: the budget the server enforces
    int server_budget_sent = -1;     // what is sent (the server counts prompt tokens after <think> too)
    Clock::time_point started;
    int url = -1;
};

struct Track {
    SampleRun* sample = nullptr;
    BudgetController ctl;
    bool fork = false;
    std::vector<int> pending;   // budget indices this track answers
    int forced_at_output = -1;  // n_output right after the forced text (answer_budget bookkeeping)
    // what this track (and the main track before it forked) did
    int rounds = 0, attempts = 0;
    int64_t usage_completion = 0;
    bool url_changed = false, clamped = false, stop_appended = false;
    explicit Track(const BudgetController& c) : ctl(c) {}
};

}  // namespace

HttpEngine::HttpEngine(HttpEngineOptions options) : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.o = std::move(options);
    if (m.o.urls.empty()) throw Error("http engine: no server URL", "set http.urls (or --url)");
    m.load_tokenizer();
    HttpClientOptions co;
    for (const auto& u : m.o.urls) co.urls.push_back(trim_url(u));
    co.connect_timeout_s = m.o.connect_timeout_s;
    co.retry = m.o.retry;
    co.tls_ca_file = m.o.tls_ca_file;
    co.tls_verify = m.o.tls_verify;
    if (!m.o.api_key_env.empty()) {
        const char* key = std::getenv(m.o.api_key_env.c_str());
        if (!key || !*key)
            throw Error("http engine: the environment variable " + m.o.api_key_env + " (http.api_key_env) is not set",
                        "export it with the server's API key");
        co.bearer_token = key;
    }
    if (m.o.flavour != "auto") m.flavour = http_flavour_parse(m.o.flavour);
    co.concurrency_per_url = m.o.concurrency_per_url > 0 ? m.o.concurrency_per_url : 64;
    m.client = std::make_unique<HttpClient>(co);
    json urls = json::array();
    for (int u = 0; u < m.client->n_urls(); ++u) urls.push_back(m.probe(u, u == 0));
    m.manifest["flavour"] = http_flavour_name(m.flavour);
    m.manifest["model"] = m.served_model;
    m.manifest["urls"] = urls;
    m.manifest["context_length"] = m.ctx_len;
    m.manifest["token_exact"] = http_flavour_token_ids(m.flavour);
    m.manifest["seed_per_round"] = m.flavour != HTTP_FLAVOUR_ADABENCH;
    m.manifest["eos_ids"] = m.eos_ids;
    if (m.o.concurrency_per_url <= 0 && m.flavour == HTTP_FLAVOUR_LLAMACPP && urls[0].contains("total_slots") &&
        urls[0]["total_slots"].is_number_unsigned()) {
        // llama.cpp serves as many requests at once as it has slots; more only queue there.
        co.concurrency_per_url = (int)std::clamp<uint64_t>(urls[0]["total_slots"].get<uint64_t>(), 1, 4096);
        m.client = std::make_unique<HttpClient>(co);
    }
    m.manifest["concurrency_per_url"] = co.concurrency_per_url;
    m.set_up_lora();
    std::string v =
        urls[0].contains("version") && urls[0]["version"].is_string() ? urls[0]["version"].get<std::string>() : "";
    m.device = std::string(http_flavour_name(m.flavour)) + (v.empty() ? "" : " " + v) + " @ " + m.client->url(0) +
               (m.client->n_urls() > 1 ? " (+" + std::to_string(m.client->n_urls() - 1) + " more)" : "");
}

HttpEngine::~HttpEngine() {
    if (!impl_) return;
    try {
        for (const auto& l : impl_->loaded) impl_->unload(l.second);
    } catch (...) {
    }
}

EngineInfo HttpEngine::info() const {
    return EngineInfo{"http", impl_->device, impl_->manifest.dump(-1, ' ', false, json::error_handler_t::replace)};
}
const Tokenizer& HttpEngine::tokenizer() const { return *impl_->tok; }
HttpFlavour HttpEngine::flavour() const { return impl_->flavour; }
const nlohmann::json& HttpEngine::manifest() const { return impl_->manifest; }
int64_t HttpEngine::n_tokens_requested() const { return impl_->n_requested; }
int64_t HttpEngine::n_rounds() const { return impl_->n_rounds; }
int64_t HttpEngine::n_tokens_generated() const { return impl_->n_generated; }
int64_t HttpEngine::n_tokens_prompt_sent() const { return impl_->n_prompt_sent; }
const HttpClientStats& HttpEngine::client_stats() const { return impl_->client->stats(); }

namespace {

// One generate() call: every sample's tracks, driven by client callbacks on one thread.
class RoundLoop {
public:
    RoundLoop(HttpEngine::Impl& m, const std::vector<GenerateRequest>& requests) : m_(m), requests_(requests) {}

    std::vector<std::vector<GenerateResult>> run() {
        plan();
        for (auto& s : samples_) {
            s.started = Clock::now();
            auto t = std::make_unique<Track>(BudgetController(s.spec, *m_.text));
            t->sample = &s;
            for (size_t u = 0; u < s.budgets.size(); ++u) t->pending.push_back(static_cast<int>(u));
            Track* raw = t.get();
            tracks_.push_back(std::move(t));
            advance(*raw);
        }
        m_.client->run();
        if (!fatal_.empty()) throw Error(fatal_, fatal_hint_);
        return std::move(results_);
    }

private:
    void plan() {
        const int vocab = m_.tok->vocab_size();
        samples_.resize(requests_.size());
        results_.resize(requests_.size());
        for (size_t r = 0; r < requests_.size(); ++r) {
            const GenerateRequest& req = requests_[r];
            auto where = [&](const std::string& msg) {
                return "http engine: request " + std::to_string(r) + ": " + msg;
            };
            if (req.prompt_ids.empty()) throw Error(where("the prompt is empty"));
            for (int32_t id : req.prompt_ids)
                if (id < 0 || id >= vocab)
                    throw Error(where("prompt token " + std::to_string(id) + " is outside the vocabulary"));
            try {
                sampling_validate_params(req.sampling);
            } catch (const Error& e) {
                throw Error(where(e.what()));
            }
            SampleRun& s = samples_[r];
            s.req = r;
            try {
                BudgetSweep sweep = budget_plan_sweep(req.think_budgets);
                s.budgets = std::move(sweep.budgets);
                s.where = std::move(sweep.where);
                s.spec = budget_make_spec(req, s.budgets.empty() ? -1 : s.budgets.back(), *m_.text, m_.eos_ids);
            } catch (const Error& e) {
                throw Error(where(e.what()));
            }
            if (req.budget.mechanism == BUDGET_MECHANISM_SERVER) {
                if (m_.flavour != HTTP_FLAVOUR_VLLM)
                    throw Error(
                        where(std::string("budget mechanism server needs a vLLM server (thinking_token_budget); ") +
                              http_flavour_name(m_.flavour) +
                              " has no per-request thinking budget on token-id prompts"),
                        "use mechanism hard_cut: adabench forces the budget itself, token-exactly, on any server");
                if (s.budgets.size() != 1)
                    throw Error(
                        where("budget mechanism server takes one thinking budget per request (a server cannot fork)"));
                if (req.budget.min_think > 0 && req.budget.max_waits > 0)
                    throw Error(where("Waits cannot be realised with a server-side budget"), "use mechanism hard_cut");
                s.server_budget = s.budgets[0];
                // vLLM counts thinking from the last start marker, prompt tokens included ("<think>\n"
                // of an R1 prompt): send the budget plus those, so it caps generated thinking at B
                // as adabench's own budgets do.
                s.server_budget_sent = s.server_budget;
                if (s.spec.think_begin.id >= 0) {
                    auto it = std::find(req.prompt_ids.rbegin(), req.prompt_ids.rend(), s.spec.think_begin.id);
                    if (it != req.prompt_ids.rend())
                        s.server_budget_sent += static_cast<int>(it - req.prompt_ids.rbegin());
                }
                check_server_budget(req);
            }
            bool needs_seams = s.spec.think_budget >= 0 || (s.spec.min_think > 0 && s.spec.max_waits > 0);
            if (!http_flavour_token_ids(m_.flavour) && needs_seams && !m_.o.allow_retokenized_seams)
                throw Error(where(std::string("flavour ") + http_flavour_name(m_.flavour) +
                                  " takes text prompts only, so a forced answer or a Wait would be re-tokenized"),
                            "use a flavour that takes token ids (vllm, sglang, llamacpp), or set "
                            "http.allow_retokenized_seams (such samples are stored with token_exact = false)");
            if (!http_flavour_token_ids(m_.flavour) && s.spec.min_think > 0 && s.spec.max_waits > 0)
                throw Error(where("Waits need the end-of-thinking token to stop a round; a text-only flavour cannot"));
            s.model = m_.served_model;
            if (!req.lora_coefs.empty()) {
                if (req.lora_coefs.size() != m_.o.adapter_paths.size())
                    throw Error(where("lora_coefs has " + std::to_string(req.lora_coefs.size()) + " entries but " +
                                      std::to_string(m_.o.adapter_paths.size()) + " adapters are configured"));
                bool all_zero =
                    std::all_of(req.lora_coefs.begin(), req.lora_coefs.end(), [](float c) { return c == 0.0f; });
                if (m_.lora_mode == "native") {
                    s.lora_scales = req.lora_coefs;
                } else if (!all_zero) {
                    s.model = m_.materialised(req.lora_coefs);
                }
            }
            results_[r].resize(std::max<size_t>(1, req.think_budgets.size()));
        }
    }

    // Once per engine: a budget of 0 must end thinking within a few tokens, else the server ignores
    // the field (vLLM drops unknown fields silently; it also needs --reasoning-parser / --reasoning-config).
    void check_server_budget(const GenerateRequest& req) {
        if (m_.manifest.contains("server_budget")) return;
        const int32_t end =
            m_.text->encode_text(req.budget.think_end).size() == 1 ? m_.text->encode_text(req.budget.think_end)[0] : -1;
        if (end < 0) throw Error("http engine: budget mechanism server needs a one-token end-of-thinking marker");
        GenCall c;
        c.prompt_ids = req.prompt_ids;
        c.max_new = 64;
        c.stop_ids = m_.eos_ids;
        c.model = m_.served_model;
        c.server_think_budget = 0;
        // Where greedy decoding ends thinking with budget 0 and without a budget: the first must be
        // earlier (the forced phrase may take a few tokens, the model's own thinking more).
        auto end_at = [&](int budget) -> int64_t {
            c.server_think_budget = budget;
            HttpRequest hr = http_flavour_request(m_.flavour, c);
            hr.url_index = 0;
            hr.timeout_s = m_.o.base_timeout_s;
            HttpResponse r = m_.client->send(hr);
            if (r.status < 200 || r.status >= 300)
                throw Error(
                    "http engine: the server-budget check failed: " +
                    (r.status ? "HTTP " + std::to_string(r.status) + ": " + http_error_message(r.body) : r.error));
            GenReply g = http_flavour_parse_reply(m_.flavour, r.body, c, m_.eos_ids);
            return std::find(g.out_ids.begin(), g.out_ids.end(), end) - g.out_ids.begin();
        };
        int64_t forced = end_at(0), natural = end_at(-1);
        if (forced >= c.max_new || forced >= natural)
            throw Error(
                "http engine: thinking_token_budget 0 did not end thinking earlier than no budget (end at token " +
                    std::to_string(forced) + " vs " + std::to_string(natural) + "): the server ignores it",
                "start vLLM with --reasoning-parser (and --reasoning-config naming </think>), or use mechanism "
                "hard_cut");
        m_.manifest["server_budget"] = {{"check", "ok"}, {"end_at_budget_0", forced}, {"end_without_budget", natural}};
    }

    int budget_of(const Track& t, size_t i) const { return t.sample->budgets[static_cast<size_t>(t.pending[i])]; }
    bool sweep(const Track& t) const { return !t.fork && t.ctl.spec().think_budget >= 0; }

    void record(const Track& t, const BudgetController& ctl, const std::vector<int>& idx) {
        const SampleRun& s = *t.sample;
        GenerateResult res = ctl.result();
        res.latency_s = std::chrono::duration<double>(Clock::now() - s.started).count();
        res.token_exact = http_flavour_token_ids(m_.flavour);
        json e;
        e["rounds"] = t.rounds;
        e["attempts"] = t.attempts;
        e["url"] = s.url >= 0 ? m_.client->url(s.url) : "";
        if (t.url_changed) e["url_changed"] = true;
        if (t.clamped) e["clamped"] = true;
        if (t.stop_appended) e["stop_id_appended"] = true;
        e["usage_completion"] = t.usage_completion;
        e["seam"] = res.token_exact ? "ids" : "retokenized";
        if (s.server_budget >= 0) {
            // The server forced the end of thinking when thinking reached its budget.
            res.forced = res.n_tokens_think >= s.server_budget;
            e["budget"] = "server_vllm";
            e["thinking_token_budget_sent"] = s.server_budget_sent;
        }
        if (!s.lora_scales.empty())
            e["lora"] = "native";
        else if (s.model != m_.served_model)
            e["lora"] = "materialised_cat:" + s.model;
        res.engine_json = e.dump();
        auto& out = results_[s.req];
        if (s.budgets.empty()) {
            res.think_budget = -1;
            out[0] = res;
            return;
        }
        for (int u : idx) {
            res.think_budget = s.budgets[static_cast<size_t>(u)];
            for (int j : s.where[static_cast<size_t>(u)]) out[static_cast<size_t>(j)] = res;
        }
    }

    void fail(const Track& t, const std::string& error) {
        const SampleRun& s = *t.sample;
        auto& out = results_[s.req];
        for (int u : s.budgets.empty() ? std::vector<int>{-1} : t.pending) {
            GenerateResult res;
            res.status = SAMPLE_STATUS_FAILED_INFRA;
            res.error = error;
            res.n_tokens_prompt = s.spec.n_tokens_prompt;
            res.latency_s = std::chrono::duration<double>(Clock::now() - s.started).count();
            res.token_exact = http_flavour_token_ids(m_.flavour);
            json e = {{"rounds", t.rounds}, {"attempts", t.attempts}, {"url", s.url >= 0 ? m_.client->url(s.url) : ""}};
            res.engine_json = e.dump();
            if (u < 0) {
                out[0] = res;
            } else {
                res.think_budget = s.budgets[static_cast<size_t>(u)];
                for (int j : s.where[static_cast<size_t>(u)]) out[static_cast<size_t>(j)] = res;
            }
        }
    }

    Track& spawn(Track& main, int u, BudgetController ctl) {
        auto f = std::make_unique<Track>(ctl);
        f->sample = main.sample;
        f->fork = true;
        f->pending = {u};
        f->rounds = main.rounds;
        f->attempts = main.attempts;
        f->usage_completion = main.usage_completion;
        f->url_changed = main.url_changed;
        Track& ref = *f;
        tracks_.push_back(std::move(f));
        return ref;
    }

    // Decisions before a sample (Runner::step's first half): forks at smaller budgets, forced ends.
    // Returns false when the track is finished.
    bool decide(Track& t) {
        while (true) {
            while (sweep(t) && t.pending.size() > 1 && t.ctl.thinking() && t.ctl.n_think() >= budget_of(t, 0)) {
                BudgetController c = t.ctl;
                c.set_think_budget(budget_of(t, 0));
                c.force_end();
                int u = t.pending[0];
                t.pending.erase(t.pending.begin());
                if (c.finished()) {
                    record(t, c, {u});
                } else {
                    Track& f = spawn(t, u, c);
                    f.forced_at_output = f.ctl.n_output();
                    advance(f);
                }
            }
            BudgetAction act = t.ctl.next_action();
            if (act == BUDGET_ACTION_DONE) {
                record(t, t.ctl, t.pending);
                return false;
            }
            if (act == BUDGET_ACTION_FORCE_END) {
                t.ctl.force_end();
                t.forced_at_output = t.ctl.n_output();
                if (t.ctl.finished()) {
                    record(t, t.ctl, t.pending);
                    return false;
                }
                continue;
            }
            return true;
        }
    }

    // Issues the next round of a track (after its decisions).
    void advance(Track& t) {
        if (!decide(t)) return;
        SampleRun& s = *t.sample;
        const GenerateRequest& req = requests_[s.req];
        const BudgetSpec& spec = t.ctl.spec();
        int n_out = t.ctl.n_output();
        int64_t cap = spec.max_tokens - n_out;
        bool thinking_phase = t.ctl.phase() != BUDGET_PHASE_ANSWER;
        if (thinking_phase && spec.think_budget >= 0) {
            int next_budget = sweep(t) && !t.pending.empty() ? budget_of(t, 0) : spec.think_budget;
            cap = std::min<int64_t>(cap, next_budget - t.ctl.n_think());
        }
        if (t.forced_at_output >= 0) cap = std::min<int64_t>(cap, spec.answer_budget - (n_out - t.forced_at_output));
        int64_t prompt_len = static_cast<int64_t>(req.prompt_ids.size()) + n_out;
        bool context_full = false;
        if (m_.ctx_len > 0 && prompt_len + cap > m_.ctx_len) {
            cap = m_.ctx_len - prompt_len;
            t.clamped = true;
            context_full = cap <= 0;
        }
        if (context_full) {
            // The server's context is full: the sample ends there, as in process (finish reason context).
            t.clamped = true;
            t.ctl.finish_context();
            record(t, t.ctl, t.pending);
            return;
        }
        if (cap <= 0) {  // nothing left to ask (the controller decides before this): end as it stands
            record(t, t.ctl, t.pending);
            return;
        }
        GenCall c;
        c.prompt_ids = req.prompt_ids;
        c.prompt_ids.insert(c.prompt_ids.end(), t.ctl.output_ids().begin(), t.ctl.output_ids().end());
        if (!http_flavour_token_ids(m_.flavour)) c.prompt_text = m_.tok->decode(c.prompt_ids);
        c.max_new = static_cast<int>(cap);
        c.stop_ids = m_.eos_ids;
        // Stop at the end of thinking when a decision depends on it (a budget, or a Wait).
        if (thinking_phase && spec.think_end.id >= 0 && (spec.think_budget >= 0 || t.ctl.may_wait()) &&
            http_flavour_token_ids(m_.flavour))
            c.stop_ids.push_back(spec.think_end.id);
        for (int32_t id : req.stop_token_ids) c.stop_ids.push_back(id);
        for (int32_t id : c.stop_ids)
            c.stop_id_texts.push_back(
                m_.flavour == HTTP_FLAVOUR_LLAMACPP && !contains(m_.eos_ids, id) ? m_.tok->decode_token(id) : "");
        c.stop_strs = req.stop;
        c.sampling = req.sampling;
        uint64_t seed = req.seq_id == 0 ? req.sampling.seed
                                        : sampling_splitmix64(req.sampling.seed ^ sampling_splitmix64(req.seq_id));
        // serve-engine keys randomness on positions: the same seed continues the same stream.
        c.sampling.seed = m_.flavour == HTTP_FLAVOUR_ADABENCH || t.rounds == 0
                              ? seed
                              : sampling_splitmix64(seed + static_cast<uint64_t>(t.rounds));
        c.model = s.model;
        c.lora_scales = s.lora_scales;
        c.server_think_budget = s.server_budget_sent;
        HttpRequest hr = http_flavour_request(m_.flavour, c);
        if (s.url < 0) s.url = m_.client->pick_url();
        hr.url_index = s.url;
        hr.timeout_s = m_.o.base_timeout_s + m_.o.per_token_timeout_ms * 1e-3 * static_cast<double>(cap);
        ++t.rounds;
        m_.n_requested += cap;
        m_.n_prompt_sent += static_cast<int64_t>(prompt_len);
        ++m_.n_rounds;
        Track* tp = &t;
        auto call = std::make_shared<GenCall>(std::move(c));
        m_.client->submit(std::move(hr), [this, tp, call](HttpResponse r) { on_reply(*tp, *call, std::move(r)); });
    }

    void on_reply(Track& t, const GenCall& call, HttpResponse r) {
        if (!fatal_.empty()) return;
        t.attempts += r.attempts;
        if (r.url_index >= 0 && r.url_index != t.sample->url) {
            t.url_changed = true;
            t.sample->url = r.url_index;  // later rounds follow the move
        }
        if (r.status == 0 || r.retries_exhausted || http_status_retryable(r.status)) {
            std::string why =
                r.status ? "HTTP " + std::to_string(r.status) + ": " + http_error_message(r.body) : r.error;
            fail(t, "server " + (r.url_index >= 0 ? m_.client->url(r.url_index) : std::string("?")) + " failed after " +
                        std::to_string(r.attempts) + " attempts: " + why);
            return;
        }
        if (r.status < 200 || r.status >= 300) {
            fatal_ = "http engine: " + m_.client->url(r.url_index >= 0 ? r.url_index : 0) + " answered HTTP " +
                     std::to_string(r.status) + ": " + http_error_message(r.body);
            fatal_hint_ = r.status == 401 || r.status == 403 ? "check http.api_key_env"
                          : r.status == 404                  ? "check http.model and the flavour"
                                            : "a request the server refuses will not work on retry; fix the config";
            m_.client->stop();
            return;
        }
        GenReply g;
        try {
            g = http_flavour_parse_reply(m_.flavour, r.body, call, m_.eos_ids);
        } catch (const Error& e) {
            fail(t, e.what());
            return;
        }
        if (g.finish == GEN_FINISH_ERROR) {
            fail(t, "the server ended the generation with '" + g.finish_raw + "'");
            return;
        }
        if (!http_flavour_token_ids(m_.flavour)) {
            g.out_ids = m_.tok->encode(g.text, true);
            if (g.finish == GEN_FINISH_EOS) g.out_ids.push_back(m_.eos_ids.front());
        }
        if (g.usage_completion > 0) t.usage_completion += g.usage_completion;
        m_.n_generated += static_cast<int64_t>(g.out_ids.size());
        if (g.stop_id_appended) t.stop_appended = true;
        if (g.out_ids.empty()) {
            fail(t, "the server returned no tokens (finish '" + g.finish_raw + "', max_tokens " +
                        std::to_string(call.max_new) + ")");
            return;
        }
        consume(t, g.out_ids);
    }

    // Feeds a round's tokens to the track's controller (Runner::step's second half, per token).
    void consume(Track& t, const std::vector<int32_t>& ids) {
        for (int32_t token : ids) {
            // Decisions the Generator makes before each sample.
            while (sweep(t) && t.pending.size() > 1 && t.ctl.thinking() && t.ctl.n_think() >= budget_of(t, 0)) {
                // A round never runs past the next budget; a server that did is cut here.
                advance(t);
                return;
            }
            if (t.ctl.next_action() != BUDGET_ACTION_SAMPLE) {
                advance(t);
                return;
            }
            std::optional<BudgetController> before;
            if (sweep(t) && t.pending.size() > 1 && t.ctl.may_wait()) before = t.ctl;
            BudgetOutcome out = t.ctl.accept(token);
            if (out.wait) {
                while (before && t.pending.size() > 1 && t.ctl.n_think() > budget_of(t, 0)) {
                    BudgetController c = *before;
                    c.set_think_budget(budget_of(t, 0));
                    c.accept(token);
                    int u = t.pending[0];
                    t.pending.erase(t.pending.begin());
                    if (c.finished()) {
                        record(t, c, {u});
                    } else {
                        advance(spawn(t, u, c));
                    }
                }
                if (out.finished) {
                    record(t, t.ctl, t.pending);
                    return;
                }
                advance(t);  // the rest of this round was generated after the removed end: dropped
                return;
            }
            if (out.finished) {
                record(t, t.ctl, t.pending);
                return;
            }
        }
        advance(t);
    }

    HttpEngine::Impl& m_;
    const std::vector<GenerateRequest>& requests_;
    std::vector<SampleRun> samples_;
    std::vector<std::unique_ptr<Track>> tracks_;
    std::vector<std::vector<GenerateResult>> results_;
    std::string fatal_, fatal_hint_;
};

}  // namespace

std::vector<std::vector<GenerateResult>> HttpEngine::generate(const std::vector<GenerateRequest>& requests) {
    RoundLoop loop(*impl_, requests);
    return loop.run();
}

}  // namespace adabench
