// Request and reply shapes per server flavour (see flavour.h; EXTERNAL_ENGINES.md S3 has the
// sources for every field).
#include "engines/http/flavour.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace adabench {

using json = nlohmann::json;

const char* http_flavour_name(HttpFlavour f) {
    switch (f) {
        case HTTP_FLAVOUR_VLLM:
            return "vllm";
        case HTTP_FLAVOUR_SGLANG:
            return "sglang";
        case HTTP_FLAVOUR_LLAMACPP:
            return "llamacpp";
        case HTTP_FLAVOUR_OPENAI:
            return "openai";
        case HTTP_FLAVOUR_ADABENCH:
            return "adabench";
    }
    return "unknown";
}

HttpFlavour http_flavour_parse(const std::string& name) {
    for (HttpFlavour f :
         {HTTP_FLAVOUR_VLLM, HTTP_FLAVOUR_SGLANG, HTTP_FLAVOUR_LLAMACPP, HTTP_FLAVOUR_OPENAI, HTTP_FLAVOUR_ADABENCH}) {
        if (name == http_flavour_name(f)) return f;
    }
    throw Error("unknown http flavour '" + name + "'", "use vllm, sglang, llamacpp, openai, adabench or auto");
}

bool http_flavour_token_ids(HttpFlavour f) { return f != HTTP_FLAVOUR_OPENAI; }

bool http_flavour_native_lora(HttpFlavour f) { return f == HTTP_FLAVOUR_LLAMACPP || f == HTTP_FLAVOUR_ADABENCH; }

const char* gen_finish_name(GenFinish f) {
    switch (f) {
        case GEN_FINISH_EOS:
            return "eos";
        case GEN_FINISH_STOP_ID:
            return "stop_id";
        case GEN_FINISH_STOP_STR:
            return "stop_str";
        case GEN_FINISH_LENGTH:
            return "length";
        case GEN_FINISH_ERROR:
            return "error";
    }
    return "unknown";
}

namespace {

json lora_json(const std::vector<float>& scales) {
    json a = json::array();
    for (size_t i = 0; i < scales.size(); ++i) a.push_back({{"id", i}, {"scale", scales[i]}});
    return a;
}

// The OpenAI-style completions body shared by vLLM, SGLang and serve-engine.
json completions_body(HttpFlavour f, const GenCall& c) {
    json b;
    b["model"] = c.model;
    b["prompt"] = c.prompt_ids;
    b["max_tokens"] = c.max_new;
    b["n"] = 1;
    b["seed"] = c.sampling.seed;
    b["temperature"] = c.sampling.temperature;
    b["top_p"] = c.sampling.top_p;
    b["top_k"] = c.sampling.top_k > 0 ? c.sampling.top_k : -1;
    b["min_p"] = 0.0;
    b["repetition_penalty"] = 1.0;
    b["presence_penalty"] = 0.0;
    b["frequency_penalty"] = 0.0;
    b["min_tokens"] = 0;
    b["stop"] = c.stop_strs;
    b["stop_token_ids"] = c.stop_ids;
    b["skip_special_tokens"] = false;
    b["return_token_ids"] = true;
    b["stream"] = false;
    if (f == HTTP_FLAVOUR_SGLANG) {
        b["no_stop_trim"] = true;
    } else {
        b["include_stop_str_in_output"] = true;
        b["spaces_between_special_tokens"] = false;
    }
    if (f == HTTP_FLAVOUR_ADABENCH && !c.lora_scales.empty()) b["lora"] = lora_json(c.lora_scales);
    if (f == HTTP_FLAVOUR_VLLM && c.server_think_budget >= 0) b["thinking_token_budget"] = c.server_think_budget;
    return b;
}

[[noreturn]] void bad_reply(HttpFlavour f, const std::string& what) {
    throw Error(std::string(http_flavour_name(f)) + " reply: " + what,
                "is the flavour right for this server? (http.flavour, or \"auto\" to probe)");
}

std::vector<int32_t> id_list(HttpFlavour f, const json& j, const char* field) {
    if (!j.is_array()) bad_reply(f, std::string("'") + field + "' is not a list of token ids");
    std::vector<int32_t> out;
    out.reserve(j.size());
    for (const auto& v : j) {
        if (!v.is_number_integer()) bad_reply(f, std::string("'") + field + "' holds a non-integer");
        int64_t x = v.get<int64_t>();
        if (x < 0 || x > INT32_MAX) bad_reply(f, std::string("'") + field + "' holds id " + std::to_string(x));
        out.push_back(static_cast<int32_t>(x));
    }
    return out;
}

int64_t opt_int(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return -1;
    return it->get<int64_t>();
}

bool contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// A stop the server reports but whose token is not the last output id (a server that drops stop
// tokens from the ids): append it so the sequence the next round continues is the one generated.
void complete_stop_id(GenReply& r) {
    if (r.matched_id < 0) return;
    if (!r.out_ids.empty() && r.out_ids.back() == r.matched_id) return;
    r.out_ids.push_back(r.matched_id);
    r.stop_id_appended = true;
}

void parse_completions(HttpFlavour f, const json& doc, const GenCall& call, const std::vector<int32_t>& eos_ids,
                       GenReply& r) {
    auto choices = doc.find("choices");
    if (choices == doc.end() || !choices->is_array() || choices->empty()) bad_reply(f, "no 'choices'");
    const json& c = (*choices)[0];
    if (!c.is_object()) bad_reply(f, "choices[0] is not an object");
    if (auto t = c.find("text"); t != c.end() && t->is_string()) r.text = t->get<std::string>();
    if (auto ids = c.find("token_ids"); ids != c.end() && !ids->is_null()) {
        r.out_ids = id_list(f, *ids, "token_ids");
        r.have_ids = true;
    }
    if (auto p = c.find("prompt_token_ids"); p != c.end() && !p->is_null()) {
        r.prompt_echo = id_list(f, *p, "prompt_token_ids");
        r.have_prompt_echo = true;
    }
    if (!r.have_prompt_echo) {
        if (auto p = doc.find("prompt_token_ids"); p != doc.end() && !p->is_null()) {
            r.prompt_echo = id_list(f, *p, "prompt_token_ids");
            r.have_prompt_echo = true;
        }
    }
    if (http_flavour_token_ids(f) && !r.have_ids)
        bad_reply(f, "no 'token_ids' in choices[0] (the server ignored return_token_ids)");
    std::string fr;
    if (auto x = c.find("finish_reason"); x != c.end() && x->is_string()) fr = x->get<std::string>();
    r.finish_raw = fr;
    // vLLM / serve-engine: stop_reason; SGLang: matched_stop. null = EOS, int = stop id, string = stop string.
    const json* matched = nullptr;
    if (auto m = c.find(f == HTTP_FLAVOUR_SGLANG ? "matched_stop" : "stop_reason"); m != c.end()) matched = &*m;
    if (fr == "length") {
        r.finish = GEN_FINISH_LENGTH;
    } else if (fr == "stop") {
        if (!matched || matched->is_null()) {
            r.finish = GEN_FINISH_EOS;
        } else if (matched->is_number_integer()) {
            int64_t id = matched->get<int64_t>();
            if (id < 0 || id > INT32_MAX) bad_reply(f, "stop id " + std::to_string(id) + " is out of range");
            r.matched_id = static_cast<int32_t>(id);
            // SGLang reports an EOS as its id; EOS wins when an id is both.
            r.finish = contains(eos_ids, r.matched_id) ? GEN_FINISH_EOS : GEN_FINISH_STOP_ID;
        } else if (matched->is_string()) {
            r.matched_str = matched->get<std::string>();
            r.finish = GEN_FINISH_STOP_STR;
        } else {
            bad_reply(f, "the stop reason is neither null, an id nor a string");
        }
        // EOS with ids: the last id should be an EOS; vLLM keeps it, others may not.
        if (r.finish == GEN_FINISH_EOS && r.matched_id < 0 && r.have_ids && !eos_ids.empty() &&
            (r.out_ids.empty() || !contains(eos_ids, r.out_ids.back())) &&
            (r.out_ids.empty() || !contains(call.stop_ids, r.out_ids.back()))) {
            r.matched_id = eos_ids.front();
        }
        if (r.have_ids) complete_stop_id(r);
    } else {
        r.finish = GEN_FINISH_ERROR;  // abort, error, repetition, content_filter, null, anything new
    }
    if (auto u = doc.find("usage"); u != doc.end() && u->is_object()) {
        r.usage_prompt = opt_int(*u, "prompt_tokens");
        r.usage_completion = opt_int(*u, "completion_tokens");
    }
}

void parse_llamacpp(const json& doc, const GenCall& call, const std::vector<int32_t>& eos_ids, GenReply& r) {
    const std::vector<std::string>& stop_id_texts = call.stop_id_texts;
    const HttpFlavour f = HTTP_FLAVOUR_LLAMACPP;
    if (auto t = doc.find("content"); t != doc.end() && t->is_string()) r.text = t->get<std::string>();
    if (auto ids = doc.find("tokens"); ids != doc.end() && !ids->is_null()) {
        r.out_ids = id_list(f, *ids, "tokens");
        r.have_ids = true;
    }
    if (!r.have_ids) bad_reply(f, "no 'tokens' (the server ignored return_tokens)");
    r.prompt_evaluated = opt_int(doc, "tokens_evaluated");
    r.usage_prompt = r.prompt_evaluated;
    r.usage_completion = opt_int(doc, "tokens_predicted");
    if (auto t = doc.find("truncated"); t != doc.end() && t->is_boolean()) r.truncated = t->get<bool>();
    std::string st;
    if (auto s = doc.find("stop_type"); s != doc.end() && s->is_string()) st = s->get<std::string>();
    r.finish_raw = st;
    if (r.truncated) {
        r.finish = GEN_FINISH_ERROR;
        r.finish_raw = "truncated";
        return;
    }
    if (st == "eos") {
        r.finish = GEN_FINISH_EOS;
        if (!eos_ids.empty() && (r.out_ids.empty() || !contains(eos_ids, r.out_ids.back()))) {
            r.matched_id = eos_ids.front();
            complete_stop_id(r);
            r.matched_id = -1;
        }
    } else if (st == "limit") {
        r.finish = GEN_FINISH_LENGTH;
    } else if (st == "word") {
        if (auto w = doc.find("stopping_word"); w != doc.end() && w->is_string()) r.matched_str = w->get<std::string>();
        r.finish = GEN_FINISH_STOP_STR;
        // A stop id sent as its text (llama.cpp has no stop_token_ids): report it as that id.
        for (size_t i = 0; i < call.stop_ids.size() && i < stop_id_texts.size(); ++i) {
            if (!stop_id_texts[i].empty() && r.matched_str == stop_id_texts[i]) {
                r.finish = GEN_FINISH_STOP_ID;
                r.matched_id = call.stop_ids[i];
                r.matched_str.clear();
                complete_stop_id(r);
                break;
            }
        }
    } else {
        r.finish = GEN_FINISH_ERROR;
    }
}

}  // namespace

HttpRequest http_flavour_request(HttpFlavour f, const GenCall& c) {
    const std::vector<std::string>& stop_id_texts = c.stop_id_texts;
    HttpRequest req;
    req.method = "POST";
    json b;
    switch (f) {
        case HTTP_FLAVOUR_VLLM:
        case HTTP_FLAVOUR_SGLANG:
        case HTTP_FLAVOUR_ADABENCH:
            req.target = "/v1/completions";
            b = completions_body(f, c);
            break;
        case HTTP_FLAVOUR_LLAMACPP: {
            req.target = "/completion";
            b["prompt"] = c.prompt_ids;
            b["n_predict"] = c.max_new;
            b["seed"] = c.sampling.seed;
            b["temperature"] = c.sampling.temperature;
            b["top_p"] = c.sampling.top_p;
            b["top_k"] = c.sampling.top_k;  // 0 = off in llama.cpp too
            b["min_p"] = 0.0;
            b["typical_p"] = 1.0;
            b["repeat_penalty"] = 1.0;
            b["repeat_last_n"] = 0;
            b["presence_penalty"] = 0.0;
            b["frequency_penalty"] = 0.0;
            b["dry_multiplier"] = 0.0;
            b["xtc_probability"] = 0.0;
            b["mirostat"] = 0;
            // top-k commutes with temperature, so this is adabench's temperature -> top-k -> top-p.
            b["samplers"] = {"top_k", "temperature", "top_p", "min_p"};
            std::vector<std::string> stops = c.stop_strs;
            for (size_t i = 0; i < c.stop_ids.size() && i < stop_id_texts.size(); ++i) {
                if (!stop_id_texts[i].empty()) stops.push_back(stop_id_texts[i]);
            }
            b["stop"] = stops;
            b["return_tokens"] = true;
            b["cache_prompt"] = c.lora_scales.empty() && c.cache_prompt;
            b["n_probs"] = 0;
            b["stream"] = false;
            if (!c.lora_scales.empty()) b["lora"] = lora_json(c.lora_scales);
            break;
        }
        case HTTP_FLAVOUR_OPENAI:
            req.target = "/v1/completions";
            b["model"] = c.model;
            b["prompt"] = c.prompt_text;
            b["max_tokens"] = c.max_new;
            b["n"] = 1;
            b["seed"] = c.sampling.seed;
            b["temperature"] = c.sampling.temperature;
            b["top_p"] = c.sampling.top_p;
            b["presence_penalty"] = 0.0;
            b["frequency_penalty"] = 0.0;
            b["stream"] = false;
            {
                std::vector<std::string> stops = c.stop_strs;
                for (const auto& t : stop_id_texts)
                    if (!t.empty()) stops.push_back(t);
                b["stop"] = stops;
            }
            break;
    }
    req.body = b.dump(-1, ' ', false, json::error_handler_t::replace);
    return req;
}

GenReply http_flavour_parse_reply(HttpFlavour f, const std::string& body, const GenCall& call,
                                  const std::vector<int32_t>& eos_ids) {
    json doc = json::parse(body, nullptr, false);
    if (doc.is_discarded()) bad_reply(f, "not JSON: " + http_error_message(body));
    if (!doc.is_object()) bad_reply(f, "not a JSON object");
    GenReply r;
    if (f == HTTP_FLAVOUR_LLAMACPP) {
        parse_llamacpp(doc, call, eos_ids, r);
    } else {
        parse_completions(f, doc, call, eos_ids, r);
    }
    return r;
}

std::string http_error_message(const std::string& body) {
    std::string msg;
    json doc = json::parse(body, nullptr, false);
    if (!doc.is_discarded() && doc.is_object()) {
        if (auto e = doc.find("error"); e != doc.end()) {
            if (e->is_object()) {
                if (auto m = e->find("message"); m != e->end() && m->is_string()) msg = m->get<std::string>();
            } else if (e->is_string()) {
                msg = e->get<std::string>();
            }
        }
        if (msg.empty()) {
            if (auto m = doc.find("message"); m != doc.end() && m->is_string()) msg = m->get<std::string>();
        }
        if (msg.empty()) {
            if (auto d = doc.find("detail"); d != doc.end()) msg = d->is_string() ? d->get<std::string>() : d->dump();
        }
    }
    if (msg.empty()) msg = body;
    std::string out;
    for (char ch : msg) {
        if (out.size() >= 300) {
            out += "...";
            break;
        }
        unsigned char u = static_cast<unsigned char>(ch);
        out += (u < 0x20 || u == 0x7f) ? ' ' : ch;
    }
    return out;
}

}  // namespace adabench
