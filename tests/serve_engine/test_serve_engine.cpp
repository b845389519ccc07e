// serve-engine end to end on loopback: the server runs in-process on port 0 over the organism
// (models/organism/long; models/organism/base with lora-long / lora-short for LoRA), a small
// blocking Beast client (socket timeouts, so nothing can hang) sends requests, and every
// completion is checked against an in-process engine_make Generator run of the same ids: greedy,
// sampled with a seed, stop_token_ids, stop strings, EOS, max_tokens, LoRA scales, LoRA modules
// loaded and unloaded at run time, 16 concurrent requests. Then the refusals: unknown fields,
// malformed JSON, neutral-only fields, context overflow, 404 / 405 / 413 / 431 / 401.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <cstdlib>
#include <map>
#include <set>
#include <thread>
#include <utility>  // before Boost 1.74 Asio, whose awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "engines/engine_factory.h"
#include "engines/http/serve_engine.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {
namespace {

using json = nlohmann::json;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string src(const std::string& rel) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return std::string(env ? env : ADABENCH_SOURCE_DIR) + "/" + rel;
}

const int kEos = 530;       // <|im_end|>
const int kThinkEnd = 532;  // </think>

struct Resp {
    int status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
    json j() const { return json::parse(body, nullptr, false); }
};

void set_timeouts(tcp::socket& s, int seconds) {
    timeval tv{seconds, 0};
    setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Resp read_response(tcp::socket& s) {
    beast::flat_buffer buf;
    http::response_parser<http::string_body> p;
    p.body_limit(64 << 20);
    http::read(s, buf, p);
    Resp r;
    r.status = static_cast<int>(p.get().result_int());
    r.body = p.get().body();
    for (const auto& h : p.get()) {
        std::string k(h.name_string());
        for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        r.headers[k] = std::string(h.value());
    }
    return r;
}

// One request on a fresh connection (a 60 s socket timeout: a broken server fails, never hangs).
Resp request(uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    set_timeouts(s, 60);
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST") {
        req.set(http::field::content_type, "application/json");
        req.body() = body;
    }
    req.prepare_payload();
    http::write(s, req);
    return read_response(s);
}

// Raw bytes in, response out (for framing the Beast client would not send).
Resp raw_request(uint16_t port, const std::string& bytes) {
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    set_timeouts(s, 30);
    asio::write(s, asio::buffer(bytes));
    return read_response(s);
}

Resp post(uint16_t port, const std::string& target, const json& body) {
    return request(port, "POST", target, body.dump());
}

std::string error_message(const Resp& r) {
    json j = r.j();
    if (!j.is_object() || !j.contains("message")) return "<no error body: " + r.body + ">";
    return j["message"].get<std::string>();
}

std::vector<std::string> questions() {
    return {"Grace has 28 beads. In January, Grace buys 4 more. How many beads does Grace have at the end?",
            "Noah has 65 coins. In January, Noah loses 9. How many coins does Noah have at the end?",
            "Ava has 55 cards. In January, Ava receives 9 more. In February, Ava gives away 7. How many cards does "
            "Ava have at the end?",
            "Mia has 47 marbles. In January, Mia finds 8 more. How many marbles does Mia have at the end?"};
}

std::string chat(const std::string& q) {
    return "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n<think>\n";
}

EngineFactoryOptions engine_options(const std::string& model,
                                    std::vector<std::pair<std::string, float>> adapters = {}) {
    EngineFactoryOptions fo;
    fo.model_dir = src(model);
    fo.n_threads = 1;
    fo.max_batch = 16;
    fo.adapters = std::move(adapters);
    return fo;
}

// The in-process reference: what the server must reproduce for a token-id prompt.
GenerateRequest ref_request(const std::vector<int32_t>& prompt, int max_tokens) {
    GenerateRequest r;
    r.prompt_ids = prompt;
    r.max_tokens = max_tokens;
    r.budget.mechanism = BUDGET_MECHANISM_NONE;
    r.budget.think_begin = "";
    r.budget.think_end = "";
    r.sampling.temperature = 0.0f;
    return r;
}

class ServeEngine : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        ServeEngineOptions o;
        o.engine = engine_options("models/organism/long");
        o.port = 0;
        o.http_threads = 2;
        o.max_body_bytes = 1 << 20;
        server_ = new EngineServer(o);
        server_->start();
        ref_ = engine_make(engine_options("models/organism/long")).release();
    }
    static void TearDownTestSuite() {
        delete server_;
        delete ref_;
        server_ = nullptr;
        ref_ = nullptr;
    }
    static uint16_t port() { return server_->port(); }
    static const Tokenizer& tok() { return ref_->tokenizer(); }
    static std::vector<int32_t> ids(const std::string& q) { return tok().encode(chat(q)); }
    static GenerateResult ref(const GenerateRequest& r) { return ref_->generate({r})[0][0]; }

    static EngineServer* server_;
    static Generator* ref_;
};
EngineServer* ServeEngine::server_ = nullptr;
Generator* ServeEngine::ref_ = nullptr;

json completion(const std::vector<int32_t>& prompt, int max_tokens) {
    return json{{"prompt", prompt},
                {"max_tokens", max_tokens},
                {"temperature", 0},
                {"return_token_ids", true},
                {"skip_special_tokens", false}};
}

void expect_choice_matches(const json& choice, const GenerateResult& ref, const std::string& what) {
    ASSERT_TRUE(choice.is_object()) << what;
    EXPECT_EQ(choice["token_ids"].get<std::vector<int32_t>>(), ref.output_ids) << what;
    const char* finish = ref.finish_reason == FINISH_REASON_MAX_TOKENS ? "length" : "stop";
    EXPECT_EQ(choice["finish_reason"], finish) << what;
    EXPECT_EQ(choice["text"], ref.text) << what;
}

TEST_F(ServeEngine, GreedyTokenPromptEqualsTheInProcessEngineEosAndLength) {
    int n_eos = 0, n_length = 0;
    for (const auto& q : questions()) {
        for (int max_tokens : {12, 400}) {
            auto p = ids(q);
            Resp r = post(port(), "/v1/completions", completion(p, max_tokens));
            ASSERT_EQ(r.status, 200) << r.body;
            json j = r.j();
            GenerateResult want = ref(ref_request(p, max_tokens));
            expect_choice_matches(j["choices"][0], want, q);
            EXPECT_EQ(j["object"], "text_completion");
            EXPECT_EQ(j["model"], "long");
            EXPECT_EQ(j["choices"][0]["index"], 0);
            EXPECT_EQ(j["choices"][0]["prompt_token_ids"].get<std::vector<int32_t>>(), p);
            EXPECT_TRUE(j["choices"][0]["stop_reason"].is_null());  // EOS or length
            EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
            EXPECT_EQ(j["usage"]["prompt_tokens"], p.size());
            EXPECT_EQ(j["usage"]["completion_tokens"], want.output_ids.size());
            EXPECT_EQ(j["usage"]["total_tokens"], p.size() + want.output_ids.size());
            if (want.finish_reason == FINISH_REASON_EOS) {
                ++n_eos;
                EXPECT_EQ(want.output_ids.back(), kEos);
                EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
            } else {
                ++n_length;
                EXPECT_EQ(static_cast<int>(want.output_ids.size()), max_tokens);
            }
        }
    }
    EXPECT_GT(n_eos, 0);     // the comparison covers an EOS ending ...
    EXPECT_GT(n_length, 0);  // ... and a max_tokens one
}

TEST_F(ServeEngine, SampledWithSeedEqualsTheInProcessEngine) {
    auto p = ids(questions()[2]);
    std::set<std::vector<int32_t>> distinct;
    for (uint64_t seed : {0ull, 7ull, 99ull, 123456789ull}) {
        json body = completion(p, 60);
        body["temperature"] = 2.5;
        body["top_p"] = 0.95;
        body["top_k"] = 100;
        body["seed"] = seed;
        Resp r = post(port(), "/v1/completions", body);
        ASSERT_EQ(r.status, 200) << r.body;
        GenerateRequest want_req = ref_request(p, 60);
        want_req.sampling.temperature = 2.5f;
        want_req.sampling.top_p = 0.95f;
        want_req.sampling.top_k = 100;
        want_req.sampling.seed = seed;
        GenerateResult want = ref(want_req);
        expect_choice_matches(r.j()["choices"][0], want, "seed " + std::to_string(seed));
        distinct.insert(want.output_ids);
    }
    EXPECT_GT(distinct.size(), 1u);  // the seeds matter, so the comparison means something
    // top_k -1 is "off", as 0.
    json body = completion(p, 20);
    body["temperature"] = 1.0;
    body["top_k"] = -1;
    body["seed"] = 3;
    Resp r = post(port(), "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    GenerateRequest want_req = ref_request(p, 20);
    want_req.sampling.temperature = 1.0f;
    want_req.sampling.seed = 3;
    expect_choice_matches(r.j()["choices"][0], ref(want_req), "top_k -1");
}

TEST_F(ServeEngine, StopTokenIdEndsWithAnIntegerStopReasonAndTheTokenKept) {
    auto p = ids(questions()[0]);
    json body = completion(p, 400);
    body["stop_token_ids"] = {kThinkEnd};
    Resp r = post(port(), "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    json c = r.j()["choices"][0];
    GenerateRequest want_req = ref_request(p, 400);
    want_req.stop_token_ids = {kThinkEnd};
    GenerateResult want = ref(want_req);
    ASSERT_EQ(want.matched_stop_id, kThinkEnd);  // the organism closes its thinking
    expect_choice_matches(c, want, "stop_token_ids");
    EXPECT_EQ(c["finish_reason"], "stop");
    EXPECT_EQ(c["stop_reason"], kThinkEnd);
    EXPECT_EQ(c["token_ids"].back(), kThinkEnd);
    EXPECT_EQ(c["text"].get<std::string>().find("</think>"), std::string::npos);
    // include_stop_str_in_output keeps the stop token's text (vLLM V1).
    body["include_stop_str_in_output"] = true;
    Resp r2 = post(port(), "/v1/completions", body);
    ASSERT_EQ(r2.status, 200) << r2.body;
    EXPECT_EQ(r2.j()["choices"][0]["text"], want.text + "</think>");
}

TEST_F(ServeEngine, StopStringCutsTheTextAndKeepsEveryToken) {
    auto p = ids(questions()[3]);
    GenerateResult full = ref(ref_request(p, 400));
    // A stop string from the middle of the greedy answer, spanning a token boundary or not.
    const std::string stop = " = ";
    size_t at = full.text.find(stop);
    ASSERT_NE(at, std::string::npos) << full.text;
    json body = completion(p, 400);
    body["stop"] = json::array({"never-there", stop});
    Resp r = post(port(), "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    json c = r.j()["choices"][0];
    GenerateRequest want_req = ref_request(p, 400);
    want_req.stop = {"never-there", stop};
    GenerateResult want = ref(want_req);
    expect_choice_matches(c, want, "stop string");
    EXPECT_EQ(c["stop_reason"], stop);
    EXPECT_EQ(c["text"], full.text.substr(0, at));
    // Every token up to the one completing the match, which is a prefix of the unstopped run.
    auto got = c["token_ids"].get<std::vector<int32_t>>();
    ASSERT_LE(got.size(), full.output_ids.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), full.output_ids.begin()));
    std::string decoded;
    for (int32_t id : got) decoded += tok().decode_token(id);
    EXPECT_GE(decoded.size(), at + stop.size());
    EXPECT_LT(decoded.size() - tok().decode_token(got.back()).size(), at + stop.size());
    // With include_stop_str_in_output the stop string stays.
    body["include_stop_str_in_output"] = true;
    body["stop"] = stop;  // a single string is a list of one
    Resp r2 = post(port(), "/v1/completions", body);
    ASSERT_EQ(r2.status, 200) << r2.body;
    EXPECT_EQ(r2.j()["choices"][0]["text"], full.text.substr(0, at + stop.size()));
}

TEST_F(ServeEngine, SeveralPromptsGiveOneChoiceEachInOrderAndTextPrompts) {
    auto qs = questions();
    json prompts = json::array();
    for (const auto& q : qs) prompts.push_back(ids(q));
    json body = completion({}, 30);
    body["prompt"] = prompts;
    Resp r = post(port(), "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.j();
    ASSERT_EQ(j["choices"].size(), qs.size());
    size_t total = 0;
    for (size_t i = 0; i < qs.size(); ++i) {
        EXPECT_EQ(j["choices"][i]["index"], i);
        GenerateResult want = ref(ref_request(ids(qs[i]), 30));
        expect_choice_matches(j["choices"][i], want, qs[i]);
        total += want.output_ids.size();
    }
    EXPECT_EQ(j["usage"]["completion_tokens"], total);
    // Text prompts: tokenized by the model's tokenizer (special tokens recognised, no BOS here).
    body["prompt"] = json::array({chat(qs[0]), chat(qs[1])});
    Resp t = post(port(), "/v1/completions", body);
    ASSERT_EQ(t.status, 200) << t.body;
    EXPECT_EQ(t.j()["choices"][1]["prompt_token_ids"].get<std::vector<int32_t>>(), ids(qs[1]));
    expect_choice_matches(t.j()["choices"][1], ref(ref_request(ids(qs[1]), 30)), "text prompt");
    // skip_special_tokens (vLLM's default true) drops <think> / </think> from the text only.
    body["prompt"] = ids(qs[0]);
    body["max_tokens"] = 400;
    body.erase("skip_special_tokens");
    Resp s = post(port(), "/v1/completions", body);
    ASSERT_EQ(s.status, 200) << s.body;
    GenerateResult want = ref(ref_request(ids(qs[0]), 400));
    ASSERT_NE(want.text.find("</think>"), std::string::npos);
    std::string skipped = want.text;
    skipped.erase(skipped.find("</think>"), 8);
    EXPECT_EQ(s.j()["choices"][0]["text"], skipped);
    EXPECT_EQ(s.j()["choices"][0]["token_ids"].get<std::vector<int32_t>>(), want.output_ids);
}

TEST_F(ServeEngine, SixteenConcurrentRequestsEqualOneByOne) {
    auto qs = questions();
    std::vector<json> bodies;
    for (int i = 0; i < 16; ++i) {
        json b = completion(ids(qs[static_cast<size_t>(i) % qs.size()]), 40 + 10 * (i % 3));
        if (i % 2) {
            b["temperature"] = 0.9;
            b["seed"] = 100 + i;
        }
        if (i % 5 == 0) b["stop_token_ids"] = {kThinkEnd};
        bodies.push_back(b);
    }
    std::vector<Resp> together(bodies.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < bodies.size(); ++i) {
        threads.emplace_back([&, i] { together[i] = post(port(), "/v1/completions", bodies[i]); });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < bodies.size(); ++i) {
        Resp alone = post(port(), "/v1/completions", bodies[i]);
        ASSERT_EQ(together[i].status, 200) << together[i].body;
        ASSERT_EQ(alone.status, 200) << alone.body;
        EXPECT_EQ(together[i].j()["choices"], alone.j()["choices"]) << i;
        EXPECT_EQ(together[i].j()["usage"], alone.j()["usage"]) << i;
    }
}

TEST_F(ServeEngine, MaxTokensIsClampedToTheContextAndAPromptOverItIsA400) {
    const int ctx = server_->max_model_len();
    ASSERT_EQ(ctx, 1024);
    std::vector<int32_t> p(static_cast<size_t>(ctx - 5), 65);  // "b" repeated: a valid, long prompt
    json body = completion(p, 100);
    Resp r = post(port(), "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_LE(r.j()["choices"][0]["token_ids"].size(), 5u);
    GenerateResult want = ref(ref_request(p, 5));
    expect_choice_matches(r.j()["choices"][0], want, "clamped");
    body["max_tokens"] = nullptr;  // null = up to the context
    Resp n = post(port(), "/v1/completions", body);
    ASSERT_EQ(n.status, 200) << n.body;
    expect_choice_matches(n.j()["choices"][0], want, "max_tokens null");
    p.resize(static_cast<size_t>(ctx), 65);
    Resp over = post(port(), "/v1/completions", completion(p, 1));
    EXPECT_EQ(over.status, 400);
    EXPECT_NE(error_message(over).find("maximum context length is 1024"), std::string::npos) << over.body;
}

TEST_F(ServeEngine, DefaultsAreMaxTokens16AndTheServedName) {
    auto p = ids(questions()[0]);
    Resp r = post(port(), "/v1/completions", json{{"prompt", p}, {"temperature", 0}});
    ASSERT_EQ(r.status, 200) << r.body;
    json j = r.j();
    EXPECT_EQ(j["model"], "long");
    EXPECT_FALSE(j["choices"][0].contains("token_ids"));
    EXPECT_EQ(j["usage"]["completion_tokens"], 16);
    EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
}

TEST_F(ServeEngine, RefusalsNameTheField) {
    auto p = ids(questions()[0]);
    auto expect_400 = [&](json body, const std::string& needle) {
        Resp r = post(port(), "/v1/completions", body);
        EXPECT_EQ(r.status, 400) << body.dump() << " -> " << r.body;
        EXPECT_NE(error_message(r).find(needle), std::string::npos) << body.dump() << " -> " << r.body;
        json j = r.j();
        EXPECT_EQ(j["object"], "error");
        EXPECT_EQ(j["type"], "BadRequestError");
        EXPECT_EQ(j["code"], 400);
    };
    json ok = completion(p, 4);
    auto with = [&](const std::string& k, json v) {
        json b = ok;
        b[k] = std::move(v);
        return b;
    };
    expect_400(with("best_of", 2), "unknown field 'best_of'");
    expect_400(with("ignore_eos", true), "unknown field 'ignore_eos'");
    expect_400(with("min_p", 0.1), "'min_p'");
    expect_400(with("repetition_penalty", 1.2), "'repetition_penalty'");
    expect_400(with("presence_penalty", 0.5), "'presence_penalty'");
    expect_400(with("frequency_penalty", -0.5), "'frequency_penalty'");
    expect_400(with("min_tokens", 3), "'min_tokens'");
    expect_400(with("logprobs", 1), "'logprobs'");
    expect_400(with("echo", true), "'echo'");
    expect_400(with("n", 2), "'n'");
    expect_400(with("stream", true), "'stream'");
    expect_400(with("max_tokens", 0), "max_tokens must be at least 1");
    expect_400(with("temperature", -1), "'temperature'");
    expect_400(with("top_p", 0), "'top_p'");
    expect_400(with("top_k", -2), "'top_k'");
    expect_400(with("seed", -1), "'seed'");
    expect_400(with("stop", json::array({""})), "'stop'");
    expect_400(with("stop_token_ids", json::array({533})), "'stop_token_ids[0]' = 533 is outside the vocabulary");
    expect_400(with("prompt", json::array({1, 999})), "'prompt[1]' = 999 is outside the vocabulary [0, 533)");
    expect_400(with("prompt", json::array()), "'prompt'");
    expect_400(with("prompt", ""), "prompt 0 is empty");
    expect_400(with("lora", json::array({{{"id", 0}, {"scale", 1}}})), "not a loaded adapter");
    expect_400(json::object({{"max_tokens", 3}}), "'prompt' is required");
    // The neutral values are accepted.
    json neutral = ok;
    neutral.update(json{{"min_p", 0},
                        {"repetition_penalty", 1},
                        {"presence_penalty", 0},
                        {"frequency_penalty", 0.0},
                        {"min_tokens", 0},
                        {"logprobs", nullptr},
                        {"echo", false},
                        {"n", 1},
                        {"stream", false},
                        {"spaces_between_special_tokens", true},
                        {"add_special_tokens", false}});
    Resp r = post(port(), "/v1/completions", neutral);
    EXPECT_EQ(r.status, 200) << r.body;
    // Malformed JSON, a non-object, deep nesting.
    Resp m = request(port(), "POST", "/v1/completions", "{\"prompt\": [1, 2,");
    EXPECT_EQ(m.status, 400);
    EXPECT_NE(error_message(m).find("malformed JSON"), std::string::npos) << m.body;
    EXPECT_EQ(request(port(), "POST", "/v1/completions", "[1, 2]").status, 400);
    Resp deep = request(port(), "POST", "/v1/completions", std::string(100000, '['));
    EXPECT_EQ(deep.status, 400);
    EXPECT_NE(error_message(deep).find("nests deeper"), std::string::npos) << deep.body;
    // Unknown model: 404 as vLLM.
    Resp unknown = post(port(), "/v1/completions", with("model", "gpt-4"));
    EXPECT_EQ(unknown.status, 404);
    EXPECT_NE(error_message(unknown).find("The model `gpt-4` does not exist."), std::string::npos);
}

TEST_F(ServeEngine, RoutesMethodsAndLimits) {
    EXPECT_EQ(request(port(), "GET", "/health").status, 200);
    Resp v = request(port(), "GET", "/version");
    ASSERT_EQ(v.status, 200);
    EXPECT_EQ(v.j()["server"], "adabench-serve-engine");
    EXPECT_TRUE(v.j()["version"].is_string());
    Resp models = request(port(), "GET", "/v1/models");
    ASSERT_EQ(models.status, 200);
    json mj = models.j();
    EXPECT_EQ(mj["object"], "list");
    ASSERT_EQ(mj["data"].size(), 1u);
    EXPECT_EQ(mj["data"][0]["id"], "long");
    EXPECT_EQ(mj["data"][0]["object"], "model");
    EXPECT_EQ(mj["data"][0]["owned_by"], "adabench");
    EXPECT_EQ(mj["data"][0]["max_model_len"], 1024);
    EXPECT_EQ(mj["data"][0]["root"], src("models/organism/long"));
    Resp la = request(port(), "GET", "/lora-adapters");
    ASSERT_EQ(la.status, 200);
    EXPECT_EQ(la.j(), json::array());

    Resp nf = request(port(), "GET", "/v1/chat/completions");
    EXPECT_EQ(nf.status, 404);
    EXPECT_EQ(nf.j()["code"], 404);
    Resp wrong = request(port(), "GET", "/v1/completions");
    EXPECT_EQ(wrong.status, 405);
    EXPECT_EQ(wrong.headers["allow"], "POST");
    EXPECT_EQ(request(port(), "DELETE", "/health").status, 405);
    // A body over the limit (1 MiB here): refused from its Content-Length, before it is read.
    Resp big = raw_request(port(),
                           "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           "Content-Length: 2000000\r\n\r\n{\"prompt\": [");
    EXPECT_EQ(big.status, 413);
    EXPECT_NE(error_message(big).find("body too large"), std::string::npos) << big.body;
    Resp hdr = raw_request(port(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(40000, 'a') + "\r\n\r\n");
    EXPECT_EQ(hdr.status, 431);
    // DNS rebinding (issue 20 D13): a Host that is neither an IP literal, localhost nor the bind address.
    Resp rebound = raw_request(port(), "GET /v1/models HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    EXPECT_EQ(rebound.status, 403);
    EXPECT_NE(error_message(rebound).find("DNS rebinding"), std::string::npos) << rebound.body;
    EXPECT_EQ(raw_request(port(), "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 200);
    Resp junk = raw_request(port(), "NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(junk.status, 400);
    // The server is still fine.
    EXPECT_EQ(request(port(), "GET", "/health").status, 200);
}

TEST_F(ServeEngine, TokenizeDetokenizeRoundTrip) {
    const std::string text = chat(questions()[1]) + "Start: 65.\n";
    Resp t = post(port(), "/tokenize", json{{"prompt", text}, {"add_special_tokens", true}});
    ASSERT_EQ(t.status, 200) << t.body;
    json j = t.j();
    auto toks = j["tokens"].get<std::vector<int32_t>>();
    EXPECT_EQ(toks, tok().encode(text));  // the organism has no BOS to add
    EXPECT_EQ(j["count"], toks.size());
    EXPECT_EQ(j["max_model_len"], 1024);
    Resp d = post(port(), "/detokenize", json{{"tokens", toks}});
    ASSERT_EQ(d.status, 200) << d.body;
    EXPECT_EQ(d.j()["prompt"], text);
    Resp strs = post(port(), "/tokenize", json{{"prompt", "<think>"}, {"return_token_strs", true}});
    ASSERT_EQ(strs.status, 200) << strs.body;
    EXPECT_EQ(strs.j()["tokens"], json::array({531}));
    EXPECT_EQ(strs.j()["token_strs"], json::array({"<think>"}));
    EXPECT_EQ(post(port(), "/detokenize", json{{"tokens", {1, 5000}}}).status, 400);
    EXPECT_EQ(post(port(), "/tokenize", json{{"prompt", "x"}, {"messages", json::array()}}).status, 400);
    EXPECT_EQ(post(port(), "/tokenize", json{{"prompt", 5}}).status, 400);
}

// ---- LoRA: the base organism with its two adapters ----

TEST(ServeEngineLora, RequestScalesEqualInProcessUnmergedCoefficients) {
    const std::string lora_long = src("models/organism/lora-long"), lora_short = src("models/organism/lora-short");
    ServeEngineOptions o;
    o.engine = engine_options("models/organism/base", {{lora_long, 0.0f}, {lora_short, 0.0f}});
    o.lora_modules = {{"short", lora_short}};
    o.served_model_name = "organism";
    o.port = 0;
    EngineServer server(o);
    server.start();
    const uint16_t port = server.port();
    auto ref = engine_make(engine_options("models/organism/base", {{lora_long, 0.0f}, {lora_short, 0.0f}}));
    auto p = ref->tokenizer().encode(chat(questions()[2]));

    Resp la = request(port, "GET", "/lora-adapters");
    ASSERT_EQ(la.status, 200);
    EXPECT_EQ(la.j(), json::parse("[{\"id\":0,\"path\":\"" + lora_long + "\",\"scale\":0.0},{\"id\":1,\"path\":\"" +
                                  lora_short + "\",\"scale\":0.0}]"));
    std::set<std::vector<int32_t>> distinct;
    for (auto coefs : std::vector<std::vector<float>>{{0.0f, 0.0f}, {1.0f, 0.0f}, {0.0f, 1.0f}, {0.5f, 0.25f}}) {
        json body = completion(p, 120);
        body["model"] = "organism";
        json lora = json::array();
        for (size_t i = 0; i < coefs.size(); ++i) {
            if (coefs[i] != 0.0f) lora.push_back({{"id", i}, {"scale", coefs[i]}});
        }
        body["lora"] = lora;  // unlisted ids are 0
        Resp r = post(port, "/v1/completions", body);
        ASSERT_EQ(r.status, 200) << r.body;
        GenerateRequest want_req = ref_request(p, 120);
        want_req.lora_coefs = coefs;
        GenerateResult want = ref->generate({want_req})[0][0];
        expect_choice_matches(r.j()["choices"][0], want,
                              "coefs " + std::to_string(coefs[0]) + "," + std::to_string(coefs[1]));
        distinct.insert(want.output_ids);
    }
    EXPECT_GT(distinct.size(), 1u);  // the adapters change the output
    // model = a LoRA module: base + that adapter at scale 1 (= lora-short at 1 in process).
    json body = completion(p, 120);
    body["model"] = "short";
    Resp r = post(port, "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.j()["model"], "short");
    GenerateRequest want_req = ref_request(p, 120);
    want_req.lora_coefs = {0.0f, 1.0f};
    expect_choice_matches(r.j()["choices"][0], ref->generate({want_req})[0][0], "module short");
    Resp models = request(port, "GET", "/v1/models");
    ASSERT_EQ(models.j()["data"].size(), 2u);
    EXPECT_EQ(models.j()["data"][1]["id"], "short");
    EXPECT_EQ(models.j()["data"][1]["parent"], "organism");
    // Bad lora entries.
    body["lora"] = json::array({{{"id", 0}, {"scale", 1}}, {{"id", 0}, {"scale", 2}}});
    EXPECT_EQ(post(port, "/v1/completions", body).status, 400);
    body["lora"] = json::array({{{"id", 0}, {"scale", 1}, {"alpha", 3}}});
    Resp extra = post(port, "/v1/completions", body);
    EXPECT_EQ(extra.status, 400);
    EXPECT_NE(error_message(extra).find("unknown field 'alpha'"), std::string::npos) << extra.body;
}

TEST(ServeEngineLora, LoadAndUnloadAtRunTime) {
    const std::string lora_long = src("models/organism/lora-long"), lora_short = src("models/organism/lora-short");
    ServeEngineOptions o;
    o.engine = engine_options("models/organism/base");
    o.port = 0;
    EngineServer server(o);
    server.start();
    const uint16_t port = server.port();
    auto ref = engine_make(engine_options("models/organism/base", {{lora_short, 0.0f}}));
    auto p = ref->tokenizer().encode(chat(questions()[1]));

    Resp bad = post(port, "/v1/load_lora_adapter", json{{"lora_name", "x"}, {"lora_path", "/nonexistent/adapter"}});
    EXPECT_EQ(bad.status, 400);
    EXPECT_NE(error_message(bad).find("Loading lora adapter 'x' failed"), std::string::npos) << bad.body;
    EXPECT_EQ(post(port, "/v1/load_lora_adapter", json{{"lora_name", "x"}}).status, 400);

    // Load while requests are generating: they finish on the old set, the load waits for them.
    std::vector<Resp> busy(4);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < busy.size(); ++i) {
        threads.emplace_back([&, i] { busy[i] = post(port, "/v1/completions", completion(p, 80)); });
    }
    Resp load = post(port, "/v1/load_lora_adapter", json{{"lora_name", "short"}, {"lora_path", lora_short}});
    for (auto& t : threads) t.join();
    ASSERT_EQ(load.status, 200) << load.body;
    EXPECT_NE(load.body.find("Success"), std::string::npos);
    GenerateRequest base_req = ref_request(p, 80);
    base_req.lora_coefs = {0.0f};
    GenerateResult base_want = ref->generate({base_req})[0][0];
    for (const auto& b : busy) {
        ASSERT_EQ(b.status, 200) << b.body;
        expect_choice_matches(b.j()["choices"][0], base_want, "base during load");
    }
    Resp dup = post(port, "/v1/load_lora_adapter", json{{"lora_name", "short"}, {"lora_path", lora_long}});
    EXPECT_EQ(dup.status, 400);
    EXPECT_NE(error_message(dup).find("has already been loaded"), std::string::npos) << dup.body;

    json body = completion(p, 80);
    body["model"] = "short";
    Resp r = post(port, "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    GenerateRequest want_req = ref_request(p, 80);
    want_req.lora_coefs = {1.0f};
    GenerateResult want = ref->generate({want_req})[0][0];
    expect_choice_matches(r.j()["choices"][0], want, "loaded module");
    EXPECT_NE(want.output_ids, base_want.output_ids);
    // The base is still the base.
    Resp b = post(port, "/v1/completions", completion(p, 80));
    expect_choice_matches(b.j()["choices"][0], base_want, "base after load");

    Resp unload = post(port, "/v1/unload_lora_adapter", json{{"lora_name", "short"}});
    ASSERT_EQ(unload.status, 200) << unload.body;
    EXPECT_EQ(post(port, "/v1/completions", body).status, 404);
    Resp again = post(port, "/v1/unload_lora_adapter", json{{"lora_name", "short"}});
    EXPECT_EQ(again.status, 400);
    EXPECT_NE(error_message(again).find("cannot be found"), std::string::npos) << again.body;
    EXPECT_EQ(request(port, "GET", "/v1/models").j()["data"].size(), 1u);
}

TEST(ServeEngineAuth, ApiKeyIsRequiredExceptForHealth) {
    ServeEngineOptions o;
    o.engine = engine_options("models/organism/long");
    o.port = 0;
    o.api_key = "s3cret-key";
    EngineServer server(o);
    server.start();
    EXPECT_EQ(request(server.port(), "GET", "/health").status, 200);
    Resp no = request(server.port(), "GET", "/v1/models");
    EXPECT_EQ(no.status, 401);
    EXPECT_EQ(no.body.find("s3cret"), std::string::npos);
    EXPECT_EQ(request(server.port(), "GET", "/v1/models", "", {{"Authorization", "Bearer wrong"}}).status, 401);
    EXPECT_EQ(request(server.port(), "GET", "/no/such/route").status, 401);  // nothing is revealed before the key
    EXPECT_EQ(request(server.port(), "GET", "/v1/models", "", {{"Authorization", "Bearer s3cret-key"}}).status, 200);
}

void start_server(const ServeEngineOptions& o) {
    EngineServer s(o);
    s.start();
}

TEST(ServeEngineStart, BadOptionsAreClearErrors) {
    ServeEngineOptions o;
    o.engine = engine_options("models/organism/long");
    o.port = 0;
    o.bind = "not-an-ip";
    EXPECT_THROW(start_server(o), Error);
    o.bind = "127.0.0.1";
    o.lora_modules = {{"long", src("models/organism/lora-long")}};  // the served name
    EXPECT_THROW(start_server(o), Error);
    o.lora_modules = {{"a", "/nonexistent"}};
    EXPECT_THROW(start_server(o), Error);
    o.lora_modules.clear();
    o.engine.model_dir = "/nonexistent/model";
    EXPECT_THROW(start_server(o), Error);
    EXPECT_THROW(serve_engine_parse_lora_module("noequals"), UsageError);
    EXPECT_EQ(serve_engine_parse_lora_module("a=b=c"), (std::pair<std::string, std::string>{"a", "b=c"}));
}

}  // namespace
}  // namespace adabench
