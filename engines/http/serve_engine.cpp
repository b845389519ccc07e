// serve-engine (see serve_engine.h): request parsing and validation, the completion -> Generator
// mapping and back, the generator loop thread with its LoRA admin tasks, and an asynchronous Beast
// HTTP/1.1 front end on a fixed pool of threads. A completion never blocks an HTTP thread: its
// prompts go into the GeneratorQueue and the last callback posts the reply back to the connection.
#include "engines/http/serve_engine.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>  // before Boost 1.74 Asio, whose awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/host_check.h"
#include "common/version.h"
#include "engines/generation/generator.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {

using json = nlohmann::json;

namespace {

constexpr int kMaxJsonDepth = 32;
constexpr size_t kMaxStopStrings = 64;
constexpr size_t kMaxStopStringBytes = 1024;
constexpr size_t kMaxStopTokenIds = 1024;
constexpr size_t kMaxNameBytes = 256;

struct Reply {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};
// Delivers a reply to its connection; thread-safe; called exactly once per request.
using ReplyFn = std::function<void(Reply)>;

// A request the server refuses, with its HTTP status.
struct HttpError {
    int status = 400;
    std::string message;
};
[[noreturn]] void bad(const std::string& message) { throw HttpError{400, message}; }

const char* error_type(int status) {
    switch (status) {
        case 400:
            return "BadRequestError";
        case 401:
            return "AuthenticationError";
        case 404:
            return "NotFoundError";
        case 405:
            return "MethodNotAllowed";
        case 413:
            return "RequestEntityTooLarge";
        case 431:
            return "RequestHeaderFieldsTooLarge";
        case 503:
            return "ServiceUnavailableError";
        default:
            return "InternalServerError";
    }
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Reply json_reply(const json& j, int status = 200) {
    Reply r;
    r.status = status;
    r.body = dump(j);
    return r;
}

// vLLM's ErrorResponse body.
Reply error_reply(int status, const std::string& message) {
    return json_reply(json{{"object", "error"},
                           {"message", message},
                           {"type", error_type(status)},
                           {"param", nullptr},
                           {"code", status}},
                      status);
}

Reply text_reply(const std::string& text) {
    Reply r;
    r.content_type = "text/plain; charset=utf-8";
    r.body = text;
    return r;
}

// nlohmann's parser recurses once per nesting level: refuse deep bodies before parsing.
bool json_depth_ok(const std::string& s, int max_depth) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (char c : s) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return false;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return true;
}

json parse_object(const std::string& body) {
    if (!json_depth_ok(body, kMaxJsonDepth)) {
        bad("the JSON body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    json j;
    try {
        j = json::parse(body);
    } catch (const json::exception& e) {
        bad(std::string("malformed JSON body: ") + e.what());
    }
    if (!j.is_object()) bad("the JSON body must be an object");
    return j;
}

std::string type_name(const json& v) { return v.type_name(); }

// The fields of one request object: each is taken at most once; whatever is left is unknown.
// A JSON null counts as absent (the default), as in vLLM's pydantic models.
class Fields {
public:
    explicit Fields(const json& obj) : obj_(obj) {}

    const json* take(const std::string& name) {
        taken_.push_back(name);
        auto it = obj_.find(name);
        if (it == obj_.end() || it->is_null()) return nullptr;
        return &*it;
    }
    bool present(const std::string& name) const {
        auto it = obj_.find(name);
        return it != obj_.end() && !it->is_null();
    }
    // Every field not taken is an error naming it.
    void finish(const std::string& accepted) const {
        for (auto it = obj_.begin(); it != obj_.end(); ++it) {
            bool known = false;
            for (const auto& t : taken_) known = known || t == it.key();
            if (!known) bad("unknown field '" + it.key() + "' (hint: this endpoint accepts " + accepted + ")");
        }
    }

private:
    const json& obj_;
    std::vector<std::string> taken_;
};

bool get_bool(const json* v, const std::string& name, bool fallback) {
    if (!v) return fallback;
    if (!v->is_boolean()) bad("'" + name + "' must be a boolean, got " + type_name(*v));
    return v->get<bool>();
}

double get_number(const json* v, const std::string& name, double fallback) {
    if (!v) return fallback;
    if (!v->is_number()) bad("'" + name + "' must be a number, got " + type_name(*v));
    double d = v->get<double>();
    if (!std::isfinite(d)) bad("'" + name + "' must be finite");
    return d;
}

// An integer (an integral float such as 16.0 too, as pydantic accepts) in [lo, hi].
int64_t get_int(const json* v, const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
    if (!v) return fallback;
    int64_t x = 0;
    if (v->is_number_unsigned()) {
        uint64_t u = v->get<uint64_t>();
        if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            bad("'" + name + "' = " + std::to_string(u) + " is out of range [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
        }
        x = static_cast<int64_t>(u);
    } else if (v->is_number_integer()) {
        x = v->get<int64_t>();
    } else if (v->is_number_float()) {
        double d = v->get<double>();
        if (!(std::floor(d) == d && std::fabs(d) < 9.0e15)) bad("'" + name + "' must be an integer, got " + dump(*v));
        x = static_cast<int64_t>(d);
    } else {
        bad("'" + name + "' must be an integer, got " + type_name(*v));
    }
    if (x < lo || x > hi) {
        bad("'" + name + "' = " + std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " +
            std::to_string(hi) + "]");
    }
    return x;
}

std::string get_string(const json* v, const std::string& name) {
    if (!v) return "";
    if (!v->is_string()) bad("'" + name + "' must be a string, got " + type_name(*v));
    return v->get<std::string>();
}

// A field we accept only at its neutral value (vLLM sampling options we do not implement).
void require_neutral_number(Fields& f, const std::string& name, double neutral) {
    const json* v = f.take(name);
    if (!v) return;
    double d = get_number(v, name, neutral);
    if (d != neutral) {
        bad("'" + name + "' = " + dump(*v) + " is not supported by adabench serve-engine (only " + dump(json(neutral)) +
            " is accepted)");
    }
}

std::vector<int32_t> get_token_ids(const json& v, const std::string& name, int vocab) {
    if (!v.is_array()) bad("'" + name + "' must be a list of token ids");
    std::vector<int32_t> ids;
    ids.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        const json& e = v[i];
        if (!e.is_number_integer()) {
            bad("'" + name + "[" + std::to_string(i) + "]' must be an integer token id, got " + type_name(e));
        }
        int64_t id = e.is_number_unsigned() && e.get<uint64_t>() >= static_cast<uint64_t>(vocab)
                         ? static_cast<int64_t>(vocab)  // out of range either way; no overflow
                         : e.get<int64_t>();
        if (id < 0 || id >= vocab) {
            bad("'" + name + "[" + std::to_string(i) + "]' = " + dump(e) + " is outside the vocabulary [0, " +
                std::to_string(vocab) + ")");
        }
        ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
}

// A completion request, validated.
struct CompletionParams {
    std::string model;   // as the response names it
    std::string module;  // "" = the base model, else a LoRA module name
    std::vector<std::vector<int32_t>> prompts;
    std::vector<int> max_tokens;  // per prompt, clamped to the context
    SamplingParams sampling;
    std::vector<std::string> stop;
    std::vector<int32_t> stop_token_ids;
    bool return_token_ids = false;
    bool include_stop_str_in_output = false;
    bool skip_special_tokens = true;
    bool has_lora = false;
    std::vector<std::pair<int, float>> lora;  // (--adapter id, scale)
};

const char* kCompletionFields =
    "model, prompt, max_tokens, temperature, top_p, top_k, seed, stop, stop_token_ids, return_token_ids, "
    "include_stop_str_in_output, skip_special_tokens, spaces_between_special_tokens, add_special_tokens, lora, n, "
    "stream, and at their neutral values min_p, repetition_penalty, presence_penalty, frequency_penalty, "
    "min_tokens, logprobs, echo";

// What the text of a choice is, from the engine's result (vLLM's rules): the stop string cut (kept
// with include_stop_str_in_output), a final EOS / stop token kept only with
// include_stop_str_in_output (vLLM V1 detokenizes it then), special tokens dropped with
// skip_special_tokens. Stop strings are matched on the text with special tokens (the engine's).
struct ChoiceOut {
    std::string text;
    json stop_reason;
    std::string finish_reason;
};

ChoiceOut choice_out(const Tokenizer& tok, const GenerateResult& r, const CompletionParams& q) {
    ChoiceOut out;
    const auto& ids = r.output_ids;
    size_t n_text = ids.size();
    int32_t tail = -1;
    out.stop_reason = nullptr;
    if (r.finish_reason == FINISH_REASON_EOS || r.matched_stop_id >= 0) {
        if (ids.empty()) throw Error("serve-engine: a result ended by a token has no tokens (internal error)");
        tail = ids.back();
        --n_text;
        if (r.matched_stop_id >= 0) out.stop_reason = r.matched_stop_id;
    }
    std::vector<size_t> off(n_text + 1, 0);
    std::string raw;
    for (size_t i = 0; i < n_text; ++i) {
        off[i] = raw.size();
        raw += tok.decode_token(ids[i]);
    }
    off[n_text] = raw.size();
    if (raw.compare(0, r.text.size(), r.text) != 0 || r.text.size() > raw.size()) {
        throw Error("serve-engine: the engine's text is not a prefix of its decoded tokens (internal error)");
    }
    size_t cut = raw.size();
    if (r.finish_reason == FINISH_REASON_STOP && r.matched_stop_id < 0) {
        const size_t pos = r.text.size();
        const std::string* hit = nullptr;
        for (const auto& s : q.stop) {
            if (pos + s.size() <= raw.size() && raw.compare(pos, s.size(), s) == 0) {
                hit = &s;
                break;
            }
        }
        if (!hit) throw Error("serve-engine: no stop string at the engine's cut (internal error)");
        out.stop_reason = *hit;
        cut = q.include_stop_str_in_output ? pos + hit->size() : pos;
    }
    for (size_t i = 0; i < n_text && off[i] < cut; ++i) {
        if (q.skip_special_tokens && tok.is_special(ids[i])) continue;
        out.text.append(raw, off[i], std::min(off[i + 1], cut) - off[i]);
    }
    if (tail >= 0 && q.include_stop_str_in_output && !(q.skip_special_tokens && tok.is_special(tail))) {
        out.text += tok.decode_token(tail);
    }
    out.finish_reason =
        r.finish_reason == FINISH_REASON_MAX_TOKENS || r.finish_reason == FINISH_REASON_CONTEXT ? "length" : "stop";
    return out;
}

// One /v1/completions request in flight: its prompts' results as they come from the loop.
struct CompletionCall {
    std::mutex mu;
    CompletionParams params;
    std::vector<GenerateResult> results;
    size_t remaining = 0;
    int error_status = 0;
    std::string error;
    std::string id;
    int64_t created = 0;
    ReplyFn reply;
};

Reply completion_reply(const Tokenizer& tok, CompletionCall& call) {
    if (call.error_status != 0) return error_reply(call.error_status, call.error);
    const CompletionParams& q = call.params;
    json choices = json::array();
    int64_t n_prompt = 0, n_completion = 0;
    for (size_t i = 0; i < call.results.size(); ++i) {
        const GenerateResult& r = call.results[i];
        ChoiceOut c = choice_out(tok, r, q);
        json choice = {{"index", i}, {"text", c.text}};
        if (q.return_token_ids) {
            choice["token_ids"] = r.output_ids;
            choice["prompt_token_ids"] = q.prompts[i];
        }
        choice["logprobs"] = nullptr;
        choice["finish_reason"] = c.finish_reason;
        choice["stop_reason"] = c.stop_reason;
        choices.push_back(std::move(choice));
        n_prompt += static_cast<int64_t>(q.prompts[i].size());
        n_completion += static_cast<int64_t>(r.output_ids.size());
    }
    return json_reply(json{{"id", call.id},
                           {"object", "text_completion"},
                           {"created", call.created},
                           {"model", q.model},
                           {"choices", std::move(choices)},
                           {"usage",
                            {{"prompt_tokens", n_prompt},
                             {"completion_tokens", n_completion},
                             {"total_tokens", n_prompt + n_completion}}}});
}

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > kMaxNameBytes) return false;
    for (unsigned char c : s) {
        if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
}

std::string last_component(std::string path) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Compares the API key without an early exit on the first differing byte.
bool same_secret(const std::string& given, const std::string& key) {
    if (key.empty()) return false;
    unsigned char diff = given.size() == key.size() ? 0 : 1;
    for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i % key.size()]);
    return diff == 0;
}

}  // namespace

std::pair<std::string, std::string> serve_engine_parse_lora_module(const std::string& arg) {
    size_t eq = arg.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size()) {
        throw UsageError("--lora-modules '" + arg + "' is not NAME=DIR",
                         "e.g. --lora-modules short=models/organism/lora-short");
    }
    std::string name = arg.substr(0, eq);
    if (!valid_name(name))
        throw UsageError("--lora-modules: the name '" + name + "' is empty, too long or has control characters");
    return {name, arg.substr(eq + 1)};
}

// ---- one connection: read a request, hand it to the router, write its (possibly later) reply ----

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct HttpRequestView {
    std::string method;
    std::string path;
    std::string body;
    std::string authorization;
};
using Handler = std::function<void(const HttpRequestView&, ReplyFn)>;

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(tcp::socket socket, const ServeEngineOptions& options, Handler handler,
            std::shared_ptr<std::atomic<size_t>> active)
        : stream_(std::move(socket)), options_(options), handler_(std::move(handler)), active_(std::move(active)) {
        ++*active_;
    }
    ~Session() { --*active_; }
    void start() {
        asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
    }

private:
    beast::tcp_stream stream_;
    const ServeEngineOptions& options_;
    Handler handler_;
    std::shared_ptr<std::atomic<size_t>> active_;
    beast::flat_buffer buffer_{1 << 16};
    std::optional<http::request_parser<http::string_body>> parser_;
    http::response<http::string_body> res_;
    bool keep_alive_ = false;
    unsigned version_ = 11;

    std::chrono::milliseconds timeout() const {
        return std::chrono::milliseconds(static_cast<int64_t>(options_.read_timeout_s * 1000));
    }

    void do_read() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
        parser_->body_limit(options_.max_body_bytes);
        stream_.expires_after(timeout());
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
            ec == asio::error::connection_reset || ec == asio::error::eof)
            return close();
        keep_alive_ = false;
        version_ = 11;
        if (ec) {
            int status = 400;
            std::string msg = "malformed HTTP request: " + ec.message();
            if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
                status = 431;
                msg = "request header fields too large (limit " + std::to_string(options_.max_header_bytes) + " bytes)";
            } else if (ec == http::error::body_limit) {
                status = 413;
                msg = "request body too large (limit " + std::to_string(options_.max_body_bytes) + " bytes)";
            }
            return send(error_reply(status, msg));
        }
        const auto& req = parser_->get();
        keep_alive_ = req.keep_alive();
        version_ = req.version();
        auto host = req.find(http::field::host);
        std::string host_value = host != req.end() ? std::string(host->value()) : "";
        if (!http_host_allowed(host_value, host != req.end(), req.version() == 10, options_.bind)) {
            keep_alive_ = false;
            return send(error_reply(403, "Host '" + http_host_name(host_value) +
                                             "' is not this server (DNS rebinding protection); use its IP address"));
        }
        HttpRequestView view;
        view.method = std::string(req.method_string());
        std::string target(req.target());
        view.path = target.substr(0, target.find('?'));
        view.body = std::move(parser_->get().body());  // not a copy: a body may be 8 MiB
        auto auth = req.find(http::field::authorization);
        if (auth != req.end()) view.authorization = std::string(auth->value());
        // A completion may generate for a long time: no timeout until the reply is written.
        stream_.expires_never();
        auto self = shared_from_this();
        ReplyFn reply = [self](Reply r) {
            asio::post(self->stream_.get_executor(), [self, r = std::move(r)]() mutable { self->send(std::move(r)); });
        };
        try {
            handler_(view, reply);
        } catch (const HttpError& e) {
            reply(error_reply(e.status, e.message));
        } catch (const std::exception& e) {
            reply(error_reply(500, std::string("internal error: ") + e.what()));
        }
    }

    void send(Reply r) {
        res_ = {};
        res_.version(version_);
        res_.result(static_cast<http::status>(r.status));
        res_.set(http::field::server, "adabench-serve-engine");
        res_.set(http::field::content_type, r.content_type);
        res_.set(http::field::cache_control, "no-store");
        for (const auto& [k, v] : r.headers) res_.set(k, v);
        // After an error in the request's framing the connection's state is unknown: close it.
        bool keep = keep_alive_ && r.status != 413 && r.status != 431 && !(r.status == 400 && !parser_->is_done());
        res_.keep_alive(keep);
        res_.body() = std::move(r.body);
        res_.prepare_payload();
        stream_.expires_after(timeout());
        http::async_write(stream_, res_, beast::bind_front_handler(&Session::on_write, shared_from_this(), keep));
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec || !keep_alive) return close();
        do_read();
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.socket().close(ec);
    }
};

}  // namespace

// The server: the engine, the generator loop thread with the LoRA registry and admin tasks, the
// routes, and the listener.
struct EngineServer::Impl {
    ServeEngineOptions opt;
    std::string served_name;
    int max_model_len = 0;
    int vocab = 0;
    std::unique_ptr<Generator> gen;
    std::shared_ptr<const ModelWeights> base;  // header-only (model_load_meta): shapes to check adapters against
    int64_t created = 0;

    // The LoRA registry. The --adapter list is fixed; modules change on the loop thread only (admin
    // tasks), under reg_mu because HTTP threads read it.
    struct AdapterEntry {
        std::string path;
        float scale = 1.0f;
        std::shared_ptr<const LoraAdapter> adapter;
    };
    struct ModuleEntry {
        std::string name, path;
        std::shared_ptr<const LoraAdapter> adapter;
    };
    mutable std::mutex reg_mu;
    std::vector<AdapterEntry> adapters;
    std::vector<ModuleEntry> modules;

    GeneratorQueue queue;
    std::thread loop_thread;
    std::mutex admin_mu;
    std::condition_variable admin_cv;
    std::vector<std::function<void(bool stopping)>> admin_tasks;
    bool stopping = false;
    std::atomic<size_t> queued_prompts{0};
    std::atomic<uint64_t> n_completions{0};

    asio::io_context ioc;
    tcp::acceptor acceptor{ioc};
    asio::steady_timer accept_retry{ioc};
    std::vector<std::thread> threads;
    std::shared_ptr<std::atomic<size_t>> active_conns = std::make_shared<std::atomic<size_t>>(0);
    uint16_t port = 0;
    bool running = false;

    // ---- engine ----

    // The backend's adapter set = --adapter list, then the modules. Loop thread (or before it starts).
    void apply_adapters(const std::vector<ModuleEntry>& mods) {
        std::vector<std::shared_ptr<const LoraAdapter>> list;
        std::vector<float> defaults;
        for (const auto& a : adapters) {
            list.push_back(a.adapter);
            defaults.push_back(a.scale);
        }
        for (const auto& m : mods) {
            list.push_back(m.adapter);
            defaults.push_back(0.0f);
        }
        gen->backend().set_lora_adapters(list);
        gen->options().n_lora_adapters = static_cast<int>(list.size());
        gen->options().default_lora_coefs = defaults;
    }

    void build_engine() {
        if (opt.engine.lora_merged || !opt.engine.merge_with.empty() || !opt.engine.lambda.empty() ||
            !opt.engine.merge_base.empty()) {
            throw Error("serve-engine: merged LoRA and model merges are not served",
                        "serve a merged model directory instead, or use unmerged adapters");
        }
        served_name = opt.served_model_name.empty() ? last_component(opt.engine.model_dir) : opt.served_model_name;
        if (!valid_name(served_name))
            throw Error("serve-engine: the served model name '" + served_name + "' is not usable");
        for (size_t i = 0; i < opt.lora_modules.size(); ++i) {
            const std::string& n = opt.lora_modules[i].first;
            if (!valid_name(n)) throw Error("serve-engine: LoRA module name '" + n + "' is not usable");
            if (n == served_name) throw Error("serve-engine: LoRA module name '" + n + "' is the served model's name");
            for (size_t j = 0; j < i; ++j) {
                if (opt.lora_modules[j].first == n)
                    throw Error("serve-engine: LoRA module name '" + n + "' given twice");
            }
        }
        // Shapes only: engine_make reads the weights; a second full read would double load time and memory.
        base = model_load_meta(opt.engine.model_dir);
        const ModelConfig& c = base->config;
        EngineFactoryOptions fo = opt.engine;
        fo.adapters.clear();  // loaded below, with the modules, through one path
        if (fo.max_seq_len <= 0) {
            // The context each backend gives by default (cpu: the model's; cuda: at most 4096).
            int mp = c.max_position_embeddings > 0 ? c.max_position_embeddings : (fo.backend == "cuda" ? 4096 : 32768);
            fo.max_seq_len = fo.backend == "cuda" ? std::min(mp, 4096) : mp;
        }
        max_model_len = fo.max_seq_len;
        gen = engine_make(fo);
        vocab = gen->backend().config().vocab_size;
        for (const auto& [dir, scale] : opt.engine.adapters) {
            adapters.push_back(AdapterEntry{dir, scale, lora_load_adapter(dir, *base)});
        }
        for (const auto& [name, dir] : opt.lora_modules) {
            modules.push_back(ModuleEntry{name, dir, lora_load_adapter(dir, *base)});
        }
        apply_adapters(modules);
        created = static_cast<int64_t>(std::time(nullptr));
    }

    void loop() {
        while (true) {
            try {
                gen->serve(queue);
            } catch (const std::exception& e) {
                // Only the source can throw here (GeneratorQueue does not); the jobs were failed.
                std::fprintf(stderr, "serve-engine: generator loop: %s\n", e.what());
            }
            std::vector<std::function<void(bool)>> tasks;
            bool stop_now = false;
            {
                std::unique_lock<std::mutex> lock(admin_mu);
                admin_cv.wait(lock, [&] { return !admin_tasks.empty() || stopping; });
                tasks.swap(admin_tasks);
                stop_now = stopping;
            }
            // No sequence is active now: the backend may change.
            for (auto& t : tasks) {
                t(stop_now);
                queue.resume();
            }
            if (stop_now) break;
        }
    }

    // Runs `task` on the loop thread once no sequence is active; admission waits meanwhile.
    void run_when_idle(std::function<void(bool stopping)> task) {
        queue.pause();
        {
            std::lock_guard<std::mutex> lock(admin_mu);
            admin_tasks.push_back(std::move(task));
        }
        admin_cv.notify_all();
    }

    // ---- routes ----

    void handle(const HttpRequestView& req, ReplyFn reply) {
        struct Route {
            const char* path;
            const char* method;
        };
        static const Route routes[] = {
            {"/v1/completions", "POST"},
            {"/tokenize", "POST"},
            {"/detokenize", "POST"},
            {"/v1/models", "GET"},
            {"/health", "GET"},
            {"/version", "GET"},
            {"/lora-adapters", "GET"},
            {"/v1/load_lora_adapter", "POST"},
            {"/v1/unload_lora_adapter", "POST"},
        };
        // Authentication first, so an unauthenticated client learns nothing about the routes.
        if (!opt.api_key.empty() && !(req.path == "/health" && req.method == "GET")) {
            const std::string prefix = "Bearer ";
            bool ok = req.authorization.compare(0, prefix.size(), prefix) == 0 &&
                      same_secret(req.authorization.substr(prefix.size()), opt.api_key);
            if (!ok) {
                Reply r = error_reply(401, "Unauthorized: this server needs 'Authorization: Bearer <key>'");
                r.headers.emplace_back("WWW-Authenticate", "Bearer");
                return reply(r);
            }
        }
        const Route* route = nullptr;
        for (const auto& r : routes) {
            if (req.path == r.path) route = &r;
        }
        if (!route) return reply(error_reply(404, "Not Found: " + req.path.substr(0, 200)));
        if (req.method != route->method) {
            Reply r = error_reply(405, "Method Not Allowed: " + req.path + " takes " + route->method);
            r.headers.emplace_back("Allow", route->method);
            return reply(r);
        }
        const std::string& p = req.path;
        if (p == "/health") return reply(text_reply(""));
        if (p == "/version") {
            return reply(json_reply(json{{"version", version_string()}, {"server", "adabench-serve-engine"}}));
        }
        if (p == "/v1/models") return reply(json_reply(models_json()));
        if (p == "/lora-adapters") return reply(json_reply(lora_adapters_json()));
        if (p == "/tokenize") return reply(tokenize(parse_object(req.body)));
        if (p == "/detokenize") return reply(detokenize(parse_object(req.body)));
        if (p == "/v1/load_lora_adapter") return load_adapter(parse_object(req.body), std::move(reply));
        if (p == "/v1/unload_lora_adapter") return unload_adapter(parse_object(req.body), std::move(reply));
        return completions(parse_object(req.body), std::move(reply));
    }

    json model_entry(const std::string& id, const std::string& root, const json& parent) const {
        return json{{"id", id},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "adabench"},
                    {"root", root},
                    {"parent", parent},
                    {"max_model_len", max_model_len},
                    {"permission", json::array()}};
    }

    json models_json() const {
        json data = json::array();
        data.push_back(model_entry(served_name, opt.engine.model_dir, nullptr));
        std::lock_guard<std::mutex> lock(reg_mu);
        for (const auto& m : modules) data.push_back(model_entry(m.name, m.path, served_name));
        return json{{"object", "list"}, {"data", data}};
    }

    json lora_adapters_json() const {
        json out = json::array();
        for (size_t i = 0; i < adapters.size(); ++i) {
            out.push_back(json{{"id", i}, {"path", adapters[i].path}, {"scale", adapters[i].scale}});
        }
        return out;
    }

    // model -> "" (the base) or a module name; 404 for anything else.
    std::string resolve_model(const json* v) const {
        if (!v) return "";
        std::string name = get_string(v, "model");
        if (name == served_name) return "";
        std::lock_guard<std::mutex> lock(reg_mu);
        for (const auto& m : modules) {
            if (m.name == name) return name;
        }
        throw HttpError{404, "The model `" + name.substr(0, kMaxNameBytes) + "` does not exist."};
    }

    // Text -> ids as vLLM does for a prompt: special tokens in the text are recognised; with
    // add_special_tokens a BOS is prepended when the tokenizer asks for one.
    std::vector<int32_t> encode_prompt(const std::string& text, bool add_special) const {
        const Tokenizer& tok = gen->tokenizer();
        std::vector<int32_t> ids = tok.encode(text, true);
        if (add_special && tok.add_bos_token() && tok.bos_id() >= 0) ids.insert(ids.begin(), tok.bos_id());
        return ids;
    }

    Reply tokenize(const json& body) {
        Fields f(body);
        resolve_model(f.take("model"));
        const json* prompt = f.take("prompt");
        bool add_special = get_bool(f.take("add_special_tokens"), "add_special_tokens", true);
        bool strs = get_bool(f.take("return_token_strs"), "return_token_strs", false);
        f.finish("model, prompt, add_special_tokens, return_token_strs");
        if (!prompt) bad("'prompt' is required");
        std::string text = get_string(prompt, "prompt");
        std::vector<int32_t> ids = encode_prompt(text, add_special);
        json token_strs = nullptr;
        if (strs) {
            token_strs = json::array();
            for (int32_t id : ids) token_strs.push_back(gen->tokenizer().id_to_token(id));
        }
        return json_reply(
            json{{"count", ids.size()}, {"max_model_len", max_model_len}, {"tokens", ids}, {"token_strs", token_strs}});
    }

    Reply detokenize(const json& body) {
        Fields f(body);
        resolve_model(f.take("model"));
        const json* tokens = f.take("tokens");
        f.finish("model, tokens");
        if (!tokens) bad("'tokens' is required");
        std::vector<int32_t> ids = get_token_ids(*tokens, "tokens", vocab);
        return json_reply(json{{"prompt", gen->tokenizer().decode(ids)}});
    }

    CompletionParams parse_completion(const json& body) {
        Fields f(body);
        CompletionParams q;
        const json* model = f.take("model");
        q.module = resolve_model(model);
        q.model = model ? model->get<std::string>() : served_name;
        const json* prompt = f.take("prompt");
        const json* max_tokens = f.take("max_tokens");
        const bool max_tokens_null = !f.present("max_tokens") && body.contains("max_tokens");
        q.sampling.temperature = static_cast<float>(get_number(f.take("temperature"), "temperature", 1.0));
        if (q.sampling.temperature < 0.0f)
            bad("'temperature' must be non-negative, got " + dump(body.at("temperature")));
        q.sampling.top_p = static_cast<float>(get_number(f.take("top_p"), "top_p", 1.0));
        if (!(q.sampling.top_p > 0.0f && q.sampling.top_p <= 1.0f)) {
            bad("'top_p' must be in (0, 1], got " + dump(body.at("top_p")));
        }
        int64_t top_k = get_int(f.take("top_k"), "top_k", 0, -1, std::numeric_limits<int32_t>::max());
        q.sampling.top_k = top_k <= 0 ? 0 : static_cast<int>(top_k);
        if (const json* seed = f.take("seed")) {
            if (!seed->is_number_integer() || (!seed->is_number_unsigned() && seed->get<int64_t>() < 0)) {
                bad("'seed' must be a non-negative integer, got " + dump(*seed));
            }
            q.sampling.seed = seed->get<uint64_t>();
        }
        if (const json* stop = f.take("stop")) {
            if (stop->is_string()) {
                q.stop.push_back(stop->get<std::string>());
            } else if (stop->is_array()) {
                for (const auto& s : *stop) {
                    if (!s.is_string()) bad("'stop' must be a string or a list of strings");
                    q.stop.push_back(s.get<std::string>());
                }
            } else {
                bad("'stop' must be a string or a list of strings, got " + type_name(*stop));
            }
            if (q.stop.size() > kMaxStopStrings)
                bad("'stop' has more than " + std::to_string(kMaxStopStrings) + " strings");
            for (const auto& s : q.stop) {
                if (s.empty()) bad("'stop' contains an empty string");
                if (s.size() > kMaxStopStringBytes)
                    bad("'stop' contains a string over " + std::to_string(kMaxStopStringBytes) + " bytes");
            }
        }
        if (const json* ids = f.take("stop_token_ids")) {
            q.stop_token_ids = get_token_ids(*ids, "stop_token_ids", vocab);
            if (q.stop_token_ids.size() > kMaxStopTokenIds) bad("'stop_token_ids' has too many entries");
        }
        q.return_token_ids = get_bool(f.take("return_token_ids"), "return_token_ids", false);
        q.include_stop_str_in_output =
            get_bool(f.take("include_stop_str_in_output"), "include_stop_str_in_output", false);
        q.skip_special_tokens = get_bool(f.take("skip_special_tokens"), "skip_special_tokens", true);
        // Accepted: with a fast (tokenizer.json) tokenizer vLLM's text does not depend on it either.
        get_bool(f.take("spaces_between_special_tokens"), "spaces_between_special_tokens", true);
        const json* add_special = f.take("add_special_tokens");
        if (const json* n = f.take("n")) {
            if (get_int(n, "n", 1, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()) != 1) {
                bad("'n' = " + dump(*n) +
                    " is not supported by adabench serve-engine (only 1); send n requests with seeds");
            }
        }
        if (get_bool(f.take("stream"), "stream", false))
            bad("'stream' = true is not supported by adabench serve-engine");
        require_neutral_number(f, "min_p", 0.0);
        require_neutral_number(f, "repetition_penalty", 1.0);
        require_neutral_number(f, "presence_penalty", 0.0);
        require_neutral_number(f, "frequency_penalty", 0.0);
        require_neutral_number(f, "min_tokens", 0.0);
        if (const json* lp = f.take("logprobs")) {
            bad("'logprobs' = " + dump(*lp) + " is not supported by adabench serve-engine (only null)");
        }
        if (get_bool(f.take("echo"), "echo", false)) bad("'echo' = true is not supported by adabench serve-engine");
        if (const json* lora = f.take("lora")) {
            if (!lora->is_array()) bad("'lora' must be a list of {\"id\": N, \"scale\": S}");
            q.has_lora = true;
            for (size_t i = 0; i < lora->size(); ++i) {
                const json& e = (*lora)[i];
                std::string where = "lora[" + std::to_string(i) + "]";
                if (!e.is_object()) bad("'" + where + "' must be an object {\"id\": N, \"scale\": S}");
                Fields ef(e);
                const json* id = ef.take("id");
                const json* scale = ef.take("scale");
                ef.finish("id, scale (in " + where + ")");
                if (!id || !scale) bad("'" + where + "' needs both 'id' and 'scale'");
                int64_t a = get_int(id, where + ".id", 0, 0, std::numeric_limits<int32_t>::max());
                if (a >= static_cast<int64_t>(adapters.size())) {
                    bad("'" + where + ".id' = " + std::to_string(a) + " is not a loaded adapter (this server has " +
                        std::to_string(adapters.size()) + "; see GET /lora-adapters)");
                }
                for (const auto& [prev, s] : q.lora) {
                    if (prev == a) bad("'" + where + ".id' = " + std::to_string(a) + " is listed twice");
                }
                q.lora.emplace_back(static_cast<int>(a), static_cast<float>(get_number(scale, where + ".scale", 0.0)));
            }
        }
        f.finish(kCompletionFields);

        // Prompts, after add_special_tokens is known: its default is true for text, false for ids.
        if (!prompt) bad("'prompt' is required");
        auto add = [&](std::vector<int32_t> ids, bool text) {
            bool add_bos = get_bool(add_special, "add_special_tokens", text);
            const Tokenizer& tok = gen->tokenizer();
            if (!text && add_bos && tok.add_bos_token() && tok.bos_id() >= 0) ids.insert(ids.begin(), tok.bos_id());
            q.prompts.push_back(std::move(ids));
        };
        auto add_text = [&](const std::string& s) {
            bool add_bos = get_bool(add_special, "add_special_tokens", true);
            q.prompts.push_back(encode_prompt(s, add_bos));
        };
        if (prompt->is_string()) {
            add_text(prompt->get<std::string>());
        } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
            add(get_token_ids(*prompt, "prompt", vocab), false);
        } else if (prompt->is_array() && !prompt->empty()) {
            if (prompt->size() > opt.max_prompts_per_request) {
                bad("'prompt' has " + std::to_string(prompt->size()) + " prompts; the limit is " +
                    std::to_string(opt.max_prompts_per_request));
            }
            for (size_t i = 0; i < prompt->size(); ++i) {
                const json& e = (*prompt)[i];
                if (e.is_string()) {
                    add_text(e.get<std::string>());
                } else if (e.is_array()) {
                    add(get_token_ids(e, "prompt[" + std::to_string(i) + "]", vocab), false);
                } else {
                    bad("'prompt[" + std::to_string(i) + "]' must be a string or a list of token ids, got " +
                        type_name(e));
                }
            }
        } else {
            bad("'prompt' must be a string, a list of token ids, or a list of those (an empty list is not a prompt)");
        }
        int64_t mt = max_tokens_null ? -1
                                     : get_int(max_tokens, "max_tokens", 16, std::numeric_limits<int64_t>::min(),
                                               std::numeric_limits<int64_t>::max());
        if (!max_tokens_null && mt < 1) bad("max_tokens must be at least 1, got " + std::to_string(mt) + ".");
        for (size_t i = 0; i < q.prompts.size(); ++i) {
            const int64_t n = static_cast<int64_t>(q.prompts[i].size());
            if (n == 0) bad("prompt " + std::to_string(i) + " is empty (hint: it encodes to no tokens)");
            if (n >= max_model_len) {
                bad("This model's maximum context length is " + std::to_string(max_model_len) +
                    " tokens. However, your request has " + std::to_string(n) +
                    " input tokens. Please reduce the length of the input.");
            }
            int64_t room = max_model_len - n;
            q.max_tokens.push_back(static_cast<int>(mt < 0 ? room : std::min(mt, room)));
        }
        return q;
    }

    // The engine request of one prompt (coefficients are filled at admission: prepare_lora).
    static GenerateRequest engine_request(const CompletionParams& q, size_t i) {
        GenerateRequest r;
        r.prompt_ids = q.prompts[i];
        r.seq_id = 0;
        r.sampling = q.sampling;
        r.budget.mechanism = BUDGET_MECHANISM_NONE;
        r.budget.think_begin = "";
        r.budget.think_end = "";
        r.prompt_opens_thinking = false;
        r.max_tokens = q.max_tokens[i];
        r.stop = q.stop;
        r.stop_token_ids = q.stop_token_ids;
        return r;
    }

    // On the loop thread, just before admission: the coefficient vector over the current adapter
    // set. A module unloaded since the request was accepted is a 404 for it.
    std::string prepare_lora(const CompletionParams& q, GenerateRequest& r, int* status) const {
        std::lock_guard<std::mutex> lock(reg_mu);
        const size_t n = adapters.size() + modules.size();
        r.lora_coefs.clear();
        if (n == 0 && q.module.empty()) return "";
        std::vector<float> coefs(n, 0.0f);
        for (size_t i = 0; i < adapters.size(); ++i) coefs[i] = q.has_lora ? 0.0f : adapters[i].scale;
        for (const auto& [id, scale] : q.lora) coefs[static_cast<size_t>(id)] = scale;
        if (!q.module.empty()) {
            size_t at = modules.size();
            for (size_t m = 0; m < modules.size(); ++m) {
                if (modules[m].name == q.module) at = m;
            }
            if (at == modules.size()) {
                *status = 404;
                return "The model `" + q.module + "` does not exist.";
            }
            coefs[adapters.size() + at] = 1.0f;
        }
        r.lora_coefs = std::move(coefs);
        return "";
    }

    void completions(const json& body, ReplyFn reply) {
        auto call = std::make_shared<CompletionCall>();
        call->params = parse_completion(body);
        const size_t n = call->params.prompts.size();
        if (queued_prompts.load() + n > opt.max_queued_prompts) {
            throw HttpError{503, "server busy: " + std::to_string(queued_prompts.load()) +
                                     " prompts are queued or generating (limit " +
                                     std::to_string(opt.max_queued_prompts) + "); retry later"};
        }
        call->results.resize(n);
        call->remaining = n;
        call->id = "cmpl-adabench-" + std::to_string(created) + "-" + std::to_string(n_completions.fetch_add(1));
        call->created = static_cast<int64_t>(std::time(nullptr));
        call->reply = std::move(reply);
        queued_prompts += n;
        for (size_t i = 0; i < n; ++i) {
            // Result of prompt i (called once, on the loop thread, or here when the queue is closed).
            auto done = [this, call, i](std::vector<GenerateResult> res, std::string error, int status) {
                --queued_prompts;
                std::lock_guard<std::mutex> lock(call->mu);
                if (!error.empty() && call->error_status == 0) {
                    call->error_status = status;
                    call->error = error;
                } else if (error.empty()) {
                    call->results[i] = std::move(res.at(0));
                }
                if (--call->remaining == 0) {
                    // Build the body on an HTTP thread, not on the generator loop.
                    asio::post(ioc, [this, call] {
                        Reply r;
                        try {
                            std::lock_guard<std::mutex> l(call->mu);
                            r = completion_reply(gen->tokenizer(), *call);
                        } catch (const std::exception& e) {
                            r = error_reply(500, std::string("internal error: ") + e.what());
                        }
                        call->reply(std::move(r));
                    });
                }
            };
            auto status = std::make_shared<int>(500);
            GeneratorJob job;
            job.request = engine_request(call->params, i);
            job.prepare = [this, call, status](GenerateRequest& r) {
                return prepare_lora(call->params, r, status.get());
            };
            job.on_done = [done, status](std::vector<GenerateResult> res, std::string error) {
                int st = *status;
                if (error.find("aborted") != std::string::npos) st = 503;
                if (st == 500 && error.rfind("generate: request: ", 0) == 0) st = 400;  // the engine's validation
                done(std::move(res), std::move(error), st);
            };
            if (!queue.push(std::move(job))) done({}, "the server is stopping", 503);
        }
    }

    // ---- runtime LoRA (vLLM's API) ----

    void load_adapter(const json& body, ReplyFn reply) {
        Fields f(body);
        std::string name = get_string(f.take("lora_name"), "lora_name");
        std::string path = get_string(f.take("lora_path"), "lora_path");
        f.finish("lora_name, lora_path");
        if (name.empty() || path.empty()) bad("Both 'lora_name' and 'lora_path' must be provided.");
        if (!valid_name(name)) bad("'lora_name' is too long or has control characters");
        run_when_idle([this, name, path, reply](bool stopping) {
            if (stopping) return reply(error_reply(503, "the server is stopping"));
            reply(do_load(name, path));
        });
    }

    Reply do_load(const std::string& name, const std::string& path) {
        std::vector<ModuleEntry> mods;
        {
            std::lock_guard<std::mutex> lock(reg_mu);
            mods = modules;
        }
        bool taken = name == served_name;
        for (const auto& m : mods) taken = taken || m.name == name;
        if (taken) return error_reply(400, "The lora adapter '" + name + "' has already been loaded.");
        std::shared_ptr<const LoraAdapter> adapter;
        try {
            adapter = lora_load_adapter(path, *base);
        } catch (const std::exception& e) {
            return error_reply(400, "Loading lora adapter '" + name + "' failed: " + e.what());
        }
        mods.push_back(ModuleEntry{name, path, adapter});
        return swap_modules(std::move(mods), "Success: LoRA adapter '" + name + "' added successfully.");
    }

    void unload_adapter(const json& body, ReplyFn reply) {
        Fields f(body);
        std::string name = get_string(f.take("lora_name"), "lora_name");
        f.finish("lora_name");
        if (name.empty()) bad("'lora_name' must be provided.");
        run_when_idle([this, name, reply](bool stopping) {
            if (stopping) return reply(error_reply(503, "the server is stopping"));
            std::vector<ModuleEntry> mods;
            {
                std::lock_guard<std::mutex> lock(reg_mu);
                mods = modules;
            }
            size_t at = mods.size();
            for (size_t m = 0; m < mods.size(); ++m) {
                if (mods[m].name == name) at = m;
            }
            if (at == mods.size()) return reply(error_reply(400, "The lora adapter '" + name + "' cannot be found."));
            mods.erase(mods.begin() + static_cast<std::ptrdiff_t>(at));
            reply(swap_modules(std::move(mods), "Success: LoRA adapter '" + name + "' removed successfully."));
        });
    }

    // Loop thread, no sequence active: the backend's adapters become --adapter + mods.
    Reply swap_modules(std::vector<ModuleEntry> mods, const std::string& ok) {
        try {
            apply_adapters(mods);
        } catch (const std::exception& e) {
            std::vector<ModuleEntry> old;
            {
                std::lock_guard<std::mutex> lock(reg_mu);
                old = modules;
            }
            try {
                apply_adapters(old);
            } catch (const std::exception&) {
                // The backend refused the set it held a moment ago; requests will report its errors.
            }
            return error_reply(400, std::string("changing the LoRA adapters failed: ") + e.what());
        }
        {
            std::lock_guard<std::mutex> lock(reg_mu);
            modules = std::move(mods);
        }
        return text_reply(ok);
    }

    // ---- network ----

    void do_accept() {
        acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
            if (ec) {
                // Out of file descriptors (EMFILE) or memory: accepting again at once would spin.
                accept_retry.expires_after(std::chrono::milliseconds(50));
                accept_retry.async_wait([this](beast::error_code e) {
                    if (!e && acceptor.is_open()) do_accept();
                });
                return;
            }
            {
                if (active_conns->load() >= opt.max_connections) {
                    beast::error_code ignore;
                    socket.close(ignore);  // over the connection cap: refuse rather than queue without bound
                } else {
                    Handler h = [this](const HttpRequestView& req, ReplyFn reply) { handle(req, std::move(reply)); };
                    std::make_shared<Session>(std::move(socket), opt, std::move(h), active_conns)->start();
                }
            }
            do_accept();
        });
    }
};

EngineServer::EngineServer(ServeEngineOptions options) : impl_(std::make_unique<Impl>()) {
    impl_->opt = std::move(options);
}

EngineServer::~EngineServer() { stop(); }

void EngineServer::start() {
    Impl& m = *impl_;
    if (m.running) return;
    if (m.opt.http_threads < 1 || m.opt.http_threads > 64) throw Error("serve-engine: http_threads must be in [1, 64]");
    if (!(m.opt.read_timeout_s > 0)) throw Error("serve-engine: read_timeout_s must be positive");
    beast::error_code ec;
    auto addr = asio::ip::make_address(m.opt.bind, ec);
    if (ec) throw Error("serve-engine: '" + m.opt.bind + "' is not an IP address", "use e.g. 127.0.0.1 or ::1");
    m.build_engine();
    tcp::endpoint ep(addr, m.opt.port);
    m.acceptor.open(ep.protocol(), ec);
    if (!ec) m.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) m.acceptor.bind(ep, ec);
    if (!ec) m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        throw Error(
            "serve-engine: cannot listen on " + m.opt.bind + ":" + std::to_string(m.opt.port) + ": " + ec.message(),
            "is the port in use? try --port 0 or another port");
    }
    m.port = m.acceptor.local_endpoint().port();
    m.running = true;
    m.loop_thread = std::thread([&m] { m.loop(); });
    m.do_accept();
    for (int i = 0; i < m.opt.http_threads; ++i) m.threads.emplace_back([&m] { m.ioc.run(); });
}

uint16_t EngineServer::port() const { return impl_->port; }

const std::string& EngineServer::served_model_name() const { return impl_->served_name; }

int EngineServer::max_model_len() const { return impl_->max_model_len; }

void EngineServer::stop() {
    Impl& m = *impl_;
    if (!m.running) return;
    asio::post(m.ioc, [&m] {
        beast::error_code ec;
        m.acceptor.close(ec);
    });
    {
        std::lock_guard<std::mutex> lock(m.admin_mu);
        m.stopping = true;
    }
    m.admin_cv.notify_all();
    // Jobs never started get their 503 here; running ones are aborted by the loop.
    for (auto& job : m.queue.close(true)) {
        if (job.on_done) job.on_done({}, "aborted: the server is stopping");
    }
    m.loop_thread.join();
    m.ioc.stop();
    for (auto& t : m.threads) t.join();
    m.threads.clear();
    m.running = false;
}

}  // namespace adabench
