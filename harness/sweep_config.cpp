// Sweep config parsing: strict keys, typed values, grid expansion, canonical JSON and its hash.
// Keys starting with "_" are comments and ignored, as in task configs.
#include "harness/sweep_config.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/error.h"
#include "common/io.h"
#include "common/sha256.h"
#include "harness/grid.h"

namespace adabench {

namespace {

using json = nlohmann::json;

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null:
            return "null";
        case json::value_t::boolean:
            return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "an integer";
        case json::value_t::number_float:
            return "a number";
        case json::value_t::string:
            return "a string";
        case json::value_t::array:
            return "a list";
        case json::value_t::object:
            return "an object";
        default:
            return "an unsupported value";
    }
}

// Walks one JSON object, remembering which keys were read, so leftovers are reported as unknown.
class Obj {
public:
    Obj(const json& v, std::string source, std::string prefix) : v_(v), source_(std::move(source)), prefix_(prefix) {
        if (!v.is_object())
            throw Error(source_ + ": " + (prefix_.empty() ? "the config" : "key '" + prefix_ + "'") +
                        " must be an object, got " + type_name(v));
    }
    bool has(const std::string& k) const { return v_.contains(k) && !v_.at(k).is_null(); }
    const json* get(const std::string& k) {
        seen_.insert(k);
        if (!has(k)) return nullptr;
        return &v_.at(k);
    }
    std::string key(const std::string& k) const { return prefix_.empty() ? k : prefix_ + "." + k; }
    [[noreturn]] void type_error(const std::string& k, const char* want, const json& got) const {
        throw Error(source_ + ": key '" + key(k) + "' must be " + want + ", got " + type_name(got));
    }
    std::string str(const std::string& k, const std::string& def) {
        const json* v = get(k);
        if (!v) return def;
        if (!v->is_string()) type_error(k, "a string", *v);
        return v->get<std::string>();
    }
    // max_value defaults to what an int holds: every integer field but the seed is stored as one.
    long integer(const std::string& k, long def, long min_value, long max_value = INT_MAX) {
        const json* v = get(k);
        if (!v) return def;
        if (!v->is_number_integer()) type_error(k, "an integer", *v);
        if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(LONG_MAX))
            throw Error(source_ + ": key '" + key(k) + "' must be at most " + std::to_string(max_value) + ", got " +
                        v->dump());
        long x = v->get<long>();
        if (x < min_value)
            throw Error(source_ + ": key '" + key(k) + "' must be at least " + std::to_string(min_value) + ", got " +
                        std::to_string(x));
        if (x > max_value)
            throw Error(source_ + ": key '" + key(k) + "' must be at most " + std::to_string(max_value) + ", got " +
                        std::to_string(x));
        return x;
    }
    bool boolean(const std::string& k, bool def) {
        const json* v = get(k);
        if (!v) return def;
        if (!v->is_boolean()) type_error(k, "a boolean", *v);
        return v->get<bool>();
    }
    double number(const std::string& k, double def) {
        const json* v = get(k);
        if (!v) return def;
        if (!v->is_number()) type_error(k, "a number", *v);
        double x = v->get<double>();
        if (!std::isfinite(x)) throw Error(source_ + ": key '" + key(k) + "' must be finite");
        return x;
    }
    void finish(const std::vector<std::string>& known) const {
        for (auto it = v_.begin(); it != v_.end(); ++it) {
            if (!it.key().empty() && it.key()[0] == '_') continue;
            if (seen_.count(it.key())) continue;
            std::string list;
            for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
            throw Error(source_ + ": unknown key '" + key(it.key()) + "'", "known keys here: " + list);
        }
    }
    const std::string& source() const { return source_; }

private:
    const json& v_;
    std::string source_, prefix_;
    std::set<std::string> seen_;
};

double parse_double(const std::string& s, const std::string& what) {
    char* end = nullptr;
    errno = 0;
    // Plain decimals only: strtod would also read hex ("0x10" = 16), "nan" and "inf".
    bool decimal = s.find_first_not_of("0123456789+-.eE") == std::string::npos;
    double x = decimal ? std::strtod(s.c_str(), &end) : 0.0;
    if (s.empty() || !decimal || *end != '\0' || errno != 0 || !std::isfinite(x))
        throw Error(what + ": '" + s + "' is not a decimal number");
    return x;
}

std::string trim(const std::string& s) {
    size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
    return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    while (true) {
        size_t p = s.find(sep, start);
        out.push_back(trim(s.substr(start, p == std::string::npos ? std::string::npos : p - start)));
        if (p == std::string::npos) break;
        start = p + 1;
    }
    return out;
}

std::string default_adapter_name(const std::string& path) {
    std::filesystem::path p(path);
    while (!p.empty() && p.filename().empty()) p = p.parent_path();
    std::string n = p.filename().string();
    return n.empty() ? path : n;
}

}  // namespace

std::vector<double> sweep_parse_grid_text(const std::string& text, const std::string& what) {
    std::string t = trim(text);
    if (t.empty()) throw Error(what + ": empty grid", "write a list like 0,0.5,1 or a range start:stop:step");
    if (t.find(':') != std::string::npos) {
        auto parts = split(t, ':');
        if (parts.size() != 3) throw Error(what + ": range '" + t + "' must be start:stop:step");
        double a = parse_double(parts[0], what), b = parse_double(parts[1], what), step = parse_double(parts[2], what);
        if (!(step > 0)) throw Error(what + ": range '" + t + "' needs a positive step");
        if (b < a) throw Error(what + ": range '" + t + "' has stop < start");
        double n_steps = std::floor((b - a) / step + 1e-9);
        if (n_steps > 100000) throw Error(what + ": range '" + t + "' has more than 100000 values");
        std::vector<double> out;
        for (long i = 0; i <= static_cast<long>(n_steps); ++i) {
            double x = a + static_cast<double>(i) * step;
            // Snap values like 0.30000000000000004 to the decimal the user meant.
            x = std::round(x * 1e9) / 1e9;
            out.push_back(x);
        }
        return out;
    }
    std::vector<double> out;
    for (const auto& p : split(t, ',')) out.push_back(parse_double(p, what));
    return out;
}

std::vector<double> sweep_parse_grid(const json& v, const std::string& what) {
    if (v.is_number()) return {v.get<double>()};
    if (v.is_string()) return sweep_parse_grid_text(v.get<std::string>(), what);
    if (v.is_array()) {
        std::vector<double> out;
        for (const auto& x : v) {
            if (!x.is_number()) throw Error(what + ": list entries must be numbers, got " + type_name(x));
            out.push_back(x.get<double>());
        }
        if (out.empty()) throw Error(what + ": empty list");
        return out;
    }
    throw Error(what + " must be a number, a list of numbers or \"start:stop:step\", got " + type_name(v));
}

std::vector<int> sweep_parse_int_list(const std::string& text, const std::string& what) {
    std::vector<int> out;
    for (double x : sweep_parse_grid_text(text, what)) {
        if (x != std::floor(x) || x < 0 || x > 1e9) throw Error(what + ": '" + text + "' must hold whole numbers >= 0");
        out.push_back(static_cast<int>(x));
    }
    return out;
}

namespace {

std::vector<int> parse_int_grid(const json& v, const std::string& what) {
    std::vector<double> xs;
    if (v.is_string()) {
        return sweep_parse_int_list(v.get<std::string>(), what);
    }
    xs = sweep_parse_grid(v, what);
    std::vector<int> out;
    for (double x : xs) {
        if (x != std::floor(x) || x < 0 || x > 1e9) throw Error(what + ": values must be whole numbers >= 0");
        out.push_back(static_cast<int>(x));
    }
    return out;
}

SweepBudget parse_budget(const json& v, const std::string& source, const std::string& prefix) {
    Obj o(v, source, prefix);
    SweepBudget b;
    b.mechanism = o.str("mechanism", b.mechanism);
    if (const json* t = o.get("think_budgets"))
        b.think_budgets = parse_int_grid(*t, source + ": key '" + o.key("think_budgets") + "'");
    b.answer_budget = static_cast<int>(o.integer("answer_budget", b.answer_budget, 0));
    b.min_think = static_cast<int>(o.integer("min_think", b.min_think, 0));
    b.max_waits = static_cast<int>(o.integer("max_waits", b.max_waits, 0));
    b.wait_text = o.str("wait_text", b.wait_text);
    b.max_tokens = static_cast<int>(o.integer("max_tokens", b.max_tokens, 1));
    o.finish({"mechanism", "think_budgets", "answer_budget", "min_think", "max_waits", "wait_text", "max_tokens"});
    return b;
}

}  // namespace

namespace {

SweepHttp parse_http(const json& v, const std::string& source) {
    SweepHttp h;
    Obj o(v, source, "http");
    h.flavour = o.str("flavour", h.flavour);
    if (const json* u = o.get("urls")) {
        if (u->is_string()) {
            h.urls.push_back(u->get<std::string>());
        } else if (u->is_array()) {
            for (const auto& e : *u) {
                if (!e.is_string()) o.type_error("urls", "a list of URL strings", *u);
                h.urls.push_back(e.get<std::string>());
            }
        } else {
            o.type_error("urls", "a URL or a list of URLs", *u);
        }
    }
    h.model = o.str("model", "");
    h.api_key_env = o.str("api_key_env", "");
    h.tokenizer = o.str("tokenizer", "");
    h.concurrency_per_url = static_cast<int>(o.integer("concurrency_per_url", 0, 0));
    if (const json* t = o.get("timeout")) {
        Obj to(*t, source, "http.timeout");
        h.connect_timeout_s = to.number("connect_s", h.connect_timeout_s);
        h.base_timeout_s = to.number("base_s", h.base_timeout_s);
        h.per_token_timeout_ms = to.number("per_token_ms", h.per_token_timeout_ms);
        to.finish({"connect_s", "base_s", "per_token_ms"});
        if (h.connect_timeout_s <= 0 || h.base_timeout_s <= 0 || h.per_token_timeout_ms < 0)
            throw Error(source + ": http.timeout values must be positive");
    }
    if (const json* r = o.get("retry")) {
        Obj ro(*r, source, "http.retry");
        h.retry_max_attempts = static_cast<int>(ro.integer("max_attempts", h.retry_max_attempts, 1));
        h.retry_base_s = ro.number("base_s", h.retry_base_s);
        h.retry_factor = ro.number("factor", h.retry_factor);
        h.retry_cap_s = ro.number("cap_s", h.retry_cap_s);
        ro.finish({"max_attempts", "base_s", "factor", "cap_s"});
        if (h.retry_base_s < 0 || h.retry_factor < 1 || h.retry_cap_s < 0)
            throw Error(source + ": http.retry needs base_s >= 0, factor >= 1, cap_s >= 0");
    }
    if (const json* l = o.get("lora")) {
        Obj lo(*l, source, "http.lora");
        h.lora_realisation = lo.str("realisation", h.lora_realisation);
        h.lora_dir = lo.str("dir", "");
        h.lora_server_dir = lo.str("server_dir", "");
        h.lora_max_rank = static_cast<int>(lo.integer("max_rank", 0, 0));
        lo.finish({"realisation", "dir", "server_dir", "max_rank"});
    }
    if (const json* a = o.get("allow_retokenized_seams")) {
        if (!a->is_boolean()) o.type_error("allow_retokenized_seams", "a boolean", *a);
        h.allow_retokenized_seams = a->get<bool>();
    }
    if (const json* t = o.get("tls")) {
        Obj to(*t, source, "http.tls");
        h.tls_ca_file = to.str("ca_file", "");
        if (const json* vf = to.get("verify")) {
            if (!vf->is_boolean()) to.type_error("verify", "a boolean", *vf);
            h.tls_verify = vf->get<bool>();
        }
        to.finish({"ca_file", "verify"});
    }
    o.finish({"flavour", "urls", "model", "api_key_env", "tokenizer", "concurrency_per_url", "timeout", "retry", "lora",
              "allow_retokenized_seams", "tls"});
    return h;
}

}  // namespace

SweepConfig sweep_config_parse(const json& doc, const std::string& source) {
    Obj o(doc, source, "");
    SweepConfig c;
    c.engine = o.str("engine", c.engine);
    c.model = o.str("model", c.model);
    if (const json* a = o.get("adapters")) {
        if (!a->is_array()) o.type_error("adapters", "a list", *a);
        for (size_t i = 0; i < a->size(); ++i) {
            std::string pre = "adapters[" + std::to_string(i) + "]";
            const json& e = a->at(i);
            SweepAdapter ad;
            if (e.is_string()) {  // shorthand: "DIR" or "DIR=GRID"
                std::string s = e.get<std::string>();
                size_t eq = s.find('=');
                ad.path = s.substr(0, eq);
                if (eq != std::string::npos)
                    ad.coefs = sweep_parse_grid_text(s.substr(eq + 1), source + ": key '" + pre + "'");
            } else {
                Obj ao(e, source, pre);
                ad.path = ao.str("path", "");
                ad.name = ao.str("name", "");
                if (const json* g = ao.get("coefs"))
                    ad.coefs = sweep_parse_grid(*g, source + ": key '" + pre + ".coefs'");
                ao.finish({"path", "name", "coefs"});
            }
            if (ad.path.empty()) throw Error(source + ": key '" + pre + ".path' is required");
            if (ad.name.empty()) ad.name = default_adapter_name(ad.path);
            c.adapters.push_back(std::move(ad));
        }
    }
    c.adapter_grid = o.str("adapter_grid", c.adapter_grid);
    if (const json* v = o.get("coef_vectors")) {
        if (!v->is_array()) o.type_error("coef_vectors", "a list of lists of numbers", *v);
        for (size_t i = 0; i < v->size(); ++i) {
            const json& row = v->at(i);
            std::string what = source + ": key 'coef_vectors[" + std::to_string(i) + "]'";
            if (!row.is_array()) throw Error(what + " must be a list of numbers, got " + type_name(row));
            c.coef_vectors.push_back(sweep_parse_grid(row, what));
        }
    }
    c.lora_mode = o.str("lora_mode", c.lora_mode);
    if (const json* m = o.get("merge")) {
        Obj mo(*m, source, "merge");
        c.merge.with = mo.str("with", "");
        c.merge.base = mo.str("base", "");
        c.merge.method = mo.str("method", "");
        if (const json* l = mo.get("lambdas")) {
            std::string what = source + ": key 'merge.lambdas'";
            if (l->is_array()) {
                for (const auto& e : *l) {
                    const json* value = &e;
                    std::string tag;
                    if (e.is_object()) {  // {"lambda": value, "tag": "name"}: a tagged grid entry
                        Obj eo(e, source, "merge.lambdas[]");
                        tag = eo.str("tag", "");
                        if (tag.empty() ||
                            tag.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
                            throw Error(what + ": a tag must be a non-empty name of [a-z0-9_-], got '" + tag + "'");
                        value = eo.get("lambda");
                        if (!value) throw Error(what + ": a tagged entry needs \"lambda\"");
                        eo.finish({"lambda", "tag"});
                    }
                    if (value->is_array()) {
                        c.merge.lambdas.push_back(sweep_parse_grid(*value, what));  // one per-layer vector
                        c.merge.lambda_tags.push_back(tag);
                    } else {
                        for (double x : sweep_parse_grid(*value, what)) {
                            c.merge.lambdas.push_back({x});
                            c.merge.lambda_tags.push_back(tag);
                        }
                    }
                }
            } else {
                for (double x : sweep_parse_grid(*l, what)) c.merge.lambdas.push_back({x});
            }
            c.merge.lambda_tags.resize(c.merge.lambdas.size());
        }
        mo.finish({"with", "base", "method", "lambdas"});
    }
    if (const json* t = o.get("tasks")) {
        if (!t->is_array()) o.type_error("tasks", "a list", *t);
        for (size_t i = 0; i < t->size(); ++i) {
            const json& e = t->at(i);
            std::string pre = "tasks[" + std::to_string(i) + "]";
            SweepTaskSpec ts;
            if (e.is_string()) {
                ts.name = e.get<std::string>();
            } else {
                Obj to(e, source, pre);
                ts.name = to.str("name", "");
                ts.limit = to.integer("limit", -1, 0, LONG_MAX);
                if (const json* ids = to.get("ids")) {
                    if (!ids->is_array()) to.type_error("ids", "a list of strings", *ids);
                    for (const auto& id : *ids) {
                        if (id.is_string())
                            ts.ids.push_back(id.get<std::string>());
                        else if (id.is_number_integer())
                            ts.ids.push_back(std::to_string(id.get<long long>()));
                        else
                            throw Error(source + ": key '" + pre + ".ids' entries must be strings, got " +
                                        type_name(id));
                    }
                }
                ts.prompt_template = to.str("prompt_template", "");
                to.finish({"name", "limit", "ids", "prompt_template"});
            }
            if (ts.name.empty()) throw Error(source + ": key '" + pre + ".name' is required");
            c.tasks.push_back(std::move(ts));
        }
    }
    if (const json* b = o.get("budgets")) {
        if (b->is_array()) {
            for (size_t i = 0; i < b->size(); ++i)
                c.budgets.push_back(parse_budget(b->at(i), source, "budgets[" + std::to_string(i) + "]"));
        } else {
            c.budgets.push_back(parse_budget(*b, source, "budgets"));
        }
    }
    if (const json* s = o.get("sampling")) {
        Obj so(*s, source, "sampling");
        c.sampling.temperature = so.number("temperature", c.sampling.temperature);
        c.sampling.top_p = so.number("top_p", c.sampling.top_p);
        c.sampling.top_k = static_cast<int>(so.integer("top_k", c.sampling.top_k, 0));
        c.sampling.n = static_cast<int>(so.integer("n", c.sampling.n, 1));
        c.sampling.seed = static_cast<uint64_t>(so.integer("seed", 0, 0, LONG_MAX));
        so.finish({"temperature", "top_p", "top_k", "n", "seed"});
    }
    if (const json* h = o.get("http")) c.http = parse_http(*h, source);
    // The nightly gate's thresholds (read by `adabench nightly`, which checks them): a sweep of the
    // same file ignores them, and they are not part of the run's identity.
    if (const json* n = o.get("nightly"))
        if (!n->is_object()) o.type_error("nightly", "an object of thresholds", *n);
    c.prompt_template = o.str("prompt_template", c.prompt_template);
    c.chat_template = o.str("chat_template", c.chat_template);
    if (const json* sg = o.get("signals")) {
        Obj so(*sg, source, "signals");
        c.signals.answer_confidence = so.boolean("answer_confidence", c.signals.answer_confidence);
        c.signals.prompt_ppl = so.boolean("prompt_ppl", c.signals.prompt_ppl);
        so.finish({"answer_confidence", "prompt_ppl"});
    }
    if (const json* sw = o.get("switching")) {
        Obj so(*sw, source, "switching");
        c.switching.enabled = true;
        auto side = [&](const char* key, SweepSwitchSide& out) {
            const json* v = so.get(key);
            if (!v)
                throw Error(source + ": key 'switching." + std::string(key) + "' is required",
                            "e.g. {\"coefs\": [0, 1], \"think_budget\": 16}");
            Obj side_obj(*v, source, std::string("switching.") + key);
            if (const json* cv = side_obj.get("coefs"))
                out.coefs = sweep_parse_grid(*cv, std::string("switching.") + key + ".coefs");
            out.think_budget = static_cast<int>(side_obj.integer("think_budget", -1, -1));
            side_obj.finish({"coefs", "think_budget"});
        };
        side("probe", c.switching.probe);
        side("target", c.switching.target);
        c.switching.signal = so.str("signal", c.switching.signal);
        c.switching.when = so.str("when", c.switching.when);
        const json* th = so.get("thresholds");
        if (!th)
            throw Error(source + ": key 'switching.thresholds' is required", "e.g. \"thresholds\": [0.5, 0.8, 0.9]");
        c.switching.thresholds = sweep_parse_grid(*th, "switching.thresholds");
        so.finish({"probe", "target", "signal", "when", "thresholds"});
    }
    c.prefill_base = o.boolean("prefill_base", c.prefill_base);
    c.prefix_sharing = o.boolean("prefix_sharing", c.prefix_sharing);
    c.batch_size = static_cast<int>(o.integer("batch_size", c.batch_size, 1));
    c.threads = static_cast<int>(o.integer("threads", c.threads, 0, kSweepMaxThreads));
    o.finish({"engine",       "model",          "adapters",        "adapter_grid",  "coef_vectors",
              "lora_mode",    "merge",          "tasks",           "budgets",       "sampling",
              "http",         "nightly",        "prompt_template", "chat_template", "signals",
              "prefill_base", "prefix_sharing", "switching",       "batch_size",    "threads"});
    return c;
}

SweepConfig sweep_config_load(const std::string& path) {
    json doc = io_read_json(path);
    return sweep_config_parse(doc, path);
}

namespace {

// The switching block against the grid: its probe and target must be points of it, its signal
// measured by the sweep.
template <class Fail>
void validate_switching(const SweepConfig& c, const Fail& fail) {
    const SweepSwitching& s = c.switching;
    if (s.signal != "answer_conf" && s.signal != "answer_ppl" && s.signal != "prompt_ppl")
        fail("switching.signal '" + s.signal + "' is not answer_conf, answer_ppl or prompt_ppl");
    if (s.signal == "prompt_ppl" ? !c.signals.prompt_ppl : !c.signals.answer_confidence)
        fail("switching.signal " + s.signal + " needs the sweep to measure it",
             s.signal == "prompt_ppl" ? "set \"signals\": {\"prompt_ppl\": true}"
                                      : "set \"signals\": {\"answer_confidence\": true}");
    if (!s.when.empty() && s.when != "below" && s.when != "above")
        fail("switching.when '" + s.when + "' is not below or above");
    if (s.thresholds.empty() || s.thresholds.size() > 64) fail("switching.thresholds needs 1 to 64 values");
    for (const char* which : {"probe", "target"}) {
        const SweepSwitchSide& side = std::string(which) == "probe" ? s.probe : s.target;
        const std::string key = std::string("switching.") + which;
        if (c.coef_vectors.empty()) {
            if (!side.coefs.empty()) fail(key + ".coefs given but the sweep has no adapters");
        } else {
            if (side.coefs.empty())
                fail(key + ".coefs is required: the sweep has adapters", "one of the grid's coefficient vectors");
            bool found = false;
            for (const auto& v : c.coef_vectors) {
                if (v.size() != side.coefs.size()) continue;
                bool same = true;
                for (size_t i = 0; i < v.size(); ++i) same = same && std::fabs(v[i] - side.coefs[i]) <= 1e-9;
                found = found || same;
            }
            if (!found)
                fail(key + ".coefs " + nlohmann::json(side.coefs).dump() + " is not a coefficient vector of the grid");
        }
        bool budget_found = false;
        for (const auto& b : c.budgets) {
            if (side.think_budget < 0) {
                budget_found = budget_found || b.think_budgets.empty();
            } else if (b.mechanism == "hard_cut" || b.mechanism.empty()) {
                for (int tb : b.think_budgets) budget_found = budget_found || tb == side.think_budget;
            }
        }
        if (!budget_found)
            fail(key + (side.think_budget < 0 ? " has no think_budget but every budget block has budgets"
                                              : ".think_budget " + std::to_string(side.think_budget) +
                                                    " is not a hard_cut budget of the grid"));
    }
    if (s.probe.coefs == s.target.coefs && s.probe.think_budget == s.target.think_budget)
        fail("switching.probe and switching.target are the same configuration");
}

}  // namespace

void sweep_config_validate(SweepConfig& c, const std::string& source) {
    auto fail = [&](const std::string& what, const std::string& hint = "") { throw Error(source + ": " + what, hint); };
    if (c.engine != "cpu" && c.engine != "cuda" && c.engine != "http")
        fail("engine '" + c.engine + "' is not cpu, cuda or http");
    if (c.engine == "http") {
        if (c.http.urls.empty())
            fail("engine http needs http.urls", "e.g. \"http\": {\"urls\": [\"http://127.0.0.1:8000\"]}");
        if (c.model.empty()) c.model = c.http.tokenizer;
        if (c.http.tokenizer.empty()) c.http.tokenizer = c.model;
        if (c.model.empty())
            fail("engine http needs the model's tokenizer locally",
                 "set \"model\" (or http.tokenizer) to its Hugging Face directory");
        if (!c.merge.with.empty())
            fail("model merges cannot run on an external server (the server owns the weights)",
                 "merge offline (mergekit) and serve the merged model, or use engine cpu/cuda");
        if (!c.adapters.empty() && c.lora_mode == "merged")
            fail("lora_mode \"merged\" has no meaning for engine http",
                 "use \"unmerged\": the server realises each coefficient vector per request (see http.lora)");
        if (c.http.lora_realisation != "auto" && c.http.lora_realisation != "native" &&
            c.http.lora_realisation != "materialise" && c.http.lora_realisation != "refuse")
            fail("http.lora.realisation '" + c.http.lora_realisation + "' is not auto, native, materialise or refuse");
    }
    // With another engine an http block is ignored (and not hashed): the same config file runs in
    // process with --engine cpu, for comparison.
    if (c.model.empty()) fail("no model", "set \"model\" or pass --model DIR");
    if (c.tasks.empty()) fail("no tasks", "set \"tasks\" or pass --task NAME");
    if (c.lora_mode != "unmerged" && c.lora_mode != "merged")
        fail("lora_mode '" + c.lora_mode + "' is not unmerged or merged");
    if (c.adapter_grid != "product" && c.adapter_grid != "vectors")
        fail("adapter_grid '" + c.adapter_grid + "' is not product or vectors");
    if (c.adapter_grid == "product") {
        if (!c.coef_vectors.empty())
            fail("coef_vectors is given but adapter_grid is \"product\"", "set \"adapter_grid\": \"vectors\"");
        for (const auto& a : c.adapters)
            if (a.coefs.empty())
                fail("adapter '" + a.name + "' has no coefs", "give a grid, e.g. \"coefs\": \"0:1:0.25\"");
        // The product's size first, arithmetically: 10001 x 10001 vectors would be gigabytes.
        uint64_t n_product = 1;
        std::string factors;
        for (const auto& a : c.adapters) {
            n_product = sweep_count_mul(n_product, a.coefs.size());
            factors += (factors.empty() ? "" : " x ") + std::to_string(a.coefs.size());
        }
        if (n_product > kSweepMaxCoefVectors)
            fail("the adapter coefficient product has " + sweep_count_text(n_product) + " vectors (" + factors +
                     "), more than the cap of " + std::to_string(kSweepMaxCoefVectors),
                 "use coarser coefficient steps, or adapter_grid \"vectors\" with the vectors you need");
        // The cartesian product, first adapter slowest.
        std::vector<std::vector<double>> vecs = {{}};
        for (const auto& a : c.adapters) {
            std::vector<std::vector<double>> next;
            for (const auto& v : vecs)
                for (double x : a.coefs) {
                    auto w = v;
                    w.push_back(x);
                    next.push_back(std::move(w));
                }
            vecs = std::move(next);
        }
        c.coef_vectors = c.adapters.empty() ? std::vector<std::vector<double>>{} : vecs;
    } else {
        if (c.adapters.empty()) fail("adapter_grid is \"vectors\" but there are no adapters");
        if (c.coef_vectors.empty()) fail("adapter_grid is \"vectors\" but coef_vectors is empty");
        for (const auto& a : c.adapters)
            if (!a.coefs.empty())
                fail("adapter '" + a.name + "' has its own coefs but adapter_grid is \"vectors\"",
                     "give the coefficients in coef_vectors only");
        for (size_t i = 0; i < c.coef_vectors.size(); ++i)
            if (c.coef_vectors[i].size() != c.adapters.size())
                fail("coef_vectors[" + std::to_string(i) + "] has " + std::to_string(c.coef_vectors[i].size()) +
                     " entries for " + std::to_string(c.adapters.size()) + " adapters");
    }
    std::set<std::string> names;
    for (const auto& a : c.adapters)
        if (!names.insert(a.name).second)
            fail("two adapters are named '" + a.name + "'", "set \"name\" on one of them");
    if (!c.merge.with.empty()) {
        std::string derived = c.merge.base.empty() ? "linear" : "task_arithmetic";
        if (c.merge.method.empty()) c.merge.method = derived;
        if (c.merge.method != derived)
            fail("merge.method '" + c.merge.method + "' does not fit: " +
                 (c.merge.base.empty() ? "linear merges take no base" : "a base means task_arithmetic"));
        if (c.merge.lambdas.empty()) fail("merge.lambdas is empty", "give a grid, e.g. \"lambdas\": \"0:1:0.25\"");
    } else if (!c.merge.lambdas.empty() || !c.merge.base.empty()) {
        fail("merge has lambdas or a base but no \"with\" model");
    }
    if (c.budgets.empty()) c.budgets.push_back(SweepBudget{});
    for (size_t i = 0; i < c.budgets.size(); ++i) {
        auto& b = c.budgets[i];
        std::string pre = "budgets[" + std::to_string(i) + "]";
        if (b.mechanism.empty()) b.mechanism = b.think_budgets.empty() ? "none" : "hard_cut";
        if (b.mechanism != "none" && b.mechanism != "hard_cut" && b.mechanism != "prompt" && b.mechanism != "server")
            fail(pre + ".mechanism '" + b.mechanism + "' is not none, hard_cut, prompt or server");
        if (b.mechanism == "server" && c.engine != "http")
            fail(pre + ".mechanism server needs engine http",
                 "the server (vLLM thinking_token_budget) enforces the budget");
        if (b.mechanism == "server" && b.min_think > 0)
            fail(pre + ": Waits (min_think) cannot be realised by a server-side budget", "use mechanism hard_cut");
        if (b.mechanism == "none" && !b.think_budgets.empty())
            fail(pre + " has think_budgets but mechanism none", "use mechanism hard_cut or prompt");
        if (b.mechanism != "none" && b.think_budgets.empty())
            fail(pre + ".think_budgets is empty for mechanism " + b.mechanism, "e.g. \"think_budgets\": [32, 64, 128]");
        std::vector<int> sorted = b.think_budgets;
        std::sort(sorted.begin(), sorted.end());
        sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
        b.think_budgets = sorted;  // ascending, unique: the fork sweep's order
        if (b.min_think > 0 && b.max_waits == 0) b.max_waits = 1;
    }
    // A task listed twice would run (and be stored) twice under one name.
    for (size_t i = 0; i < c.tasks.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if (c.tasks[i].name == c.tasks[j].name)
                fail("task '" + c.tasks[i].name + "' is listed twice (tasks[" + std::to_string(j) + "] and tasks[" +
                         std::to_string(i) + "])",
                     "list each task once; compare prompt templates in separate sweeps");
    if (c.coef_vectors.size() > kSweepMaxCoefVectors)
        fail("coef_vectors has " + std::to_string(c.coef_vectors.size()) + " vectors, more than the cap of " +
             std::to_string(kSweepMaxCoefVectors));
    if (c.merge.lambdas.size() > kSweepMaxCoefVectors)
        fail("merge.lambdas has " + std::to_string(c.merge.lambdas.size()) + " values, more than the cap of " +
             std::to_string(kSweepMaxCoefVectors));
    if (c.sampling.temperature < 0) fail("sampling.temperature is negative");
    if (c.sampling.top_p <= 0 || c.sampling.top_p > 1) fail("sampling.top_p must be in (0, 1]");
    if (c.sampling.n < 1) fail("sampling.n must be at least 1");
    if (c.batch_size < 1) fail("batch_size must be at least 1");
    if (c.engine == "http" && (c.signals.answer_confidence || c.signals.prompt_ppl))
        fail("signals (answer_confidence, prompt_ppl) are measured by the in-process engines only",
             "run the sweep with engine cpu or cuda, or leave \"signals\" out");
    if (c.switching.enabled) validate_switching(c, fail);
    if (c.prefill_base && (c.adapters.empty() || c.lora_mode != "unmerged" || c.engine == "http"))
        fail("prefill_base encodes the prompt without the adapters: it needs unmerged adapters on engine cpu or cuda",
             "add adapters with lora_mode \"unmerged\", or leave prefill_base out");
}

nlohmann::json sweep_config_canonical(const SweepConfig& c) {
    json j = json::object();
    j["engine"] = c.engine;
    j["model"] = c.model;
    json ads = json::array();
    for (const auto& a : c.adapters) ads.push_back({{"path", a.path}, {"name", a.name}});
    j["adapters"] = ads;
    j["coef_vectors"] = c.coef_vectors;
    j["lora_mode"] = c.adapters.empty() ? "" : c.lora_mode;
    if (!c.merge.with.empty()) {
        j["merge"] = {
            {"with", c.merge.with}, {"base", c.merge.base}, {"method", c.merge.method}, {"lambdas", c.merge.lambdas}};
        // Only when some value is tagged, so untagged configs keep their hash.
        if (std::any_of(c.merge.lambda_tags.begin(), c.merge.lambda_tags.end(),
                        [](const std::string& t) { return !t.empty(); }))
            j["merge"]["lambda_tags"] = c.merge.lambda_tags;
    }
    json tasks = json::array();
    for (const auto& t : c.tasks)
        tasks.push_back({{"name", t.name}, {"limit", t.limit}, {"ids", t.ids}, {"prompt_template", t.prompt_template}});
    j["tasks"] = tasks;
    json budgets = json::array();
    for (const auto& b : c.budgets)
        budgets.push_back({{"mechanism", b.mechanism},
                           {"think_budgets", b.think_budgets},
                           {"answer_budget", b.answer_budget},
                           {"min_think", b.min_think},
                           {"max_waits", b.max_waits},
                           {"wait_text", b.wait_text},
                           {"max_tokens", b.max_tokens}});
    j["budgets"] = budgets;
    j["sampling"] = {{"temperature", c.sampling.temperature},
                     {"top_p", c.sampling.top_p},
                     {"top_k", c.sampling.top_k},
                     {"n", c.sampling.n},
                     {"seed", c.sampling.seed}};
    j["prompt_template"] = c.prompt_template;
    j["chat_template"] = c.chat_template;
    // Only when set, so configs without them keep their hash. prefix_sharing changes no result.
    if (c.signals.answer_confidence || c.signals.prompt_ppl)
        j["signals"] = {{"answer_confidence", c.signals.answer_confidence}, {"prompt_ppl", c.signals.prompt_ppl}};
    if (c.prefill_base) j["prefill_base"] = true;
    if (c.switching.enabled)
        j["switching"] = {
            {"probe", {{"coefs", c.switching.probe.coefs}, {"think_budget", c.switching.probe.think_budget}}},
            {"target", {{"coefs", c.switching.target.coefs}, {"think_budget", c.switching.target.think_budget}}},
            {"signal", c.switching.signal},
            {"when", c.switching.switch_below() ? "below" : "above"},
            {"thresholds", c.switching.thresholds}};
    // URLs, timeouts, retries and concurrency do not change results: not part of the identity.
    if (c.engine == "http")
        j["http"] = {{"flavour", c.http.flavour},
                     {"model", c.http.model},
                     {"allow_retokenized_seams", c.http.allow_retokenized_seams}};
    return j;
}

std::string sweep_config_hash(const SweepConfig& c) { return sha256_hex(sweep_config_canonical(c).dump()); }

}  // namespace adabench
