// Request and reply shapes per flavour, from literal bodies (EXTERNAL_ENGINES.md S3, S9 "finish_reason
// variants"): every sampling field is sent, token ids go out verbatim, and each server's way of
// saying why it stopped maps to one GenFinish.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "engines/http/flavour.h"

namespace adabench {
namespace {

using json = nlohmann::json;

GenCall call() {
    GenCall c;
    c.prompt_ids = {1, 2, 3};
    c.prompt_text = "abc";
    c.max_new = 7;
    c.stop_ids = {99, 42};
    c.stop_id_texts = {"", "</think>"};
    c.stop_strs = {"<|im_end|>"};
    c.sampling.temperature = 0.7f;
    c.sampling.top_p = 0.9f;
    c.sampling.top_k = 0;
    c.sampling.seed = 1234;
    c.model = "m";
    return c;
}

const std::vector<int32_t> kEos = {99};

TEST(Flavour, VllmRequestSendsEverySamplingFieldAndIds) {
    HttpRequest r = http_flavour_request(HTTP_FLAVOUR_VLLM, call());
    EXPECT_EQ(r.target, "/v1/completions");
    json b = json::parse(r.body);
    EXPECT_EQ(b["prompt"], json({1, 2, 3}));
    EXPECT_EQ(b["max_tokens"], 7);
    EXPECT_EQ(b["seed"], 1234);
    EXPECT_EQ(b["top_k"], -1);  // adabench's 0 = off is vLLM's -1
    EXPECT_FLOAT_EQ(b["temperature"].get<float>(), 0.7f);
    EXPECT_FLOAT_EQ(b["top_p"].get<float>(), 0.9f);
    for (const char* k : {"min_p", "presence_penalty", "frequency_penalty", "min_tokens"}) EXPECT_EQ(b[k], 0) << k;
    EXPECT_EQ(b["repetition_penalty"], 1.0);
    EXPECT_EQ(b["stop_token_ids"], json({99, 42}));
    EXPECT_EQ(b["stop"], json({"<|im_end|>"}));
    EXPECT_EQ(b["return_token_ids"], true);
    EXPECT_EQ(b["include_stop_str_in_output"], true);
    EXPECT_EQ(b["skip_special_tokens"], false);
    EXPECT_EQ(b["n"], 1);
    EXPECT_FALSE(b.contains("lora"));
    EXPECT_FALSE(b.contains("thinking_token_budget"));
}

TEST(Flavour, SglangUsesNoStopTrimAndAdabenchSendsLoraScales) {
    json s = json::parse(http_flavour_request(HTTP_FLAVOUR_SGLANG, call()).body);
    EXPECT_EQ(s["no_stop_trim"], true);
    EXPECT_FALSE(s.contains("include_stop_str_in_output"));
    GenCall c = call();
    c.lora_scales = {0.25f, 0.0f};
    json a = json::parse(http_flavour_request(HTTP_FLAVOUR_ADABENCH, c).body);
    EXPECT_EQ(a["lora"], json::parse(R"([{"id":0,"scale":0.25},{"id":1,"scale":0.0}])"));
    json v = json::parse(http_flavour_request(HTTP_FLAVOUR_VLLM, c).body);
    EXPECT_FALSE(v.contains("lora")) << "vLLM takes adapters by name, never scales";
}

TEST(Flavour, LlamacppRequestStopsOnTheThinkEndTextAndTurnsTheCacheOffWithLora) {
    GenCall c = call();
    json b = json::parse(http_flavour_request(HTTP_FLAVOUR_LLAMACPP, c).body);
    EXPECT_EQ(http_flavour_request(HTTP_FLAVOUR_LLAMACPP, c).target, "/completion");
    EXPECT_EQ(b["prompt"], json({1, 2, 3}));
    EXPECT_EQ(b["n_predict"], 7);
    EXPECT_EQ(b["stop"], json({"<|im_end|>", "</think>"}));
    EXPECT_EQ(b["return_tokens"], true);
    EXPECT_EQ(b["top_k"], 0);
    EXPECT_EQ(b["min_p"], 0.0);
    EXPECT_EQ(b["repeat_penalty"], 1.0);
    EXPECT_EQ(b["cache_prompt"], true);
    EXPECT_EQ(b["samplers"], json({"top_k", "temperature", "top_p", "min_p"}));
    c.lora_scales = {1.0f, 0.5f};
    json l = json::parse(http_flavour_request(HTTP_FLAVOUR_LLAMACPP, c).body);
    EXPECT_EQ(l["cache_prompt"], false) << "llama.cpp #26207: the prompt cache mixes LoRA configurations";
    EXPECT_EQ(l["lora"].size(), 2u);
}

TEST(Flavour, OpenaiSendsTextOnly) {
    json b = json::parse(http_flavour_request(HTTP_FLAVOUR_OPENAI, call()).body);
    EXPECT_EQ(b["prompt"], "abc");
    EXPECT_FALSE(b.contains("stop_token_ids"));
    EXPECT_FALSE(http_flavour_token_ids(HTTP_FLAVOUR_OPENAI));
}

struct ReplyCase {
    HttpFlavour flavour;
    const char* body;
    GenFinish finish;
    std::vector<int32_t> ids;
    int32_t matched_id;
    const char* matched_str;
};

TEST(Flavour, FinishReasonShapes) {
    const ReplyCase cases[] = {
        // 1 vLLM: EOS is stop with stop_reason null; the EOS id is the last token id
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"text":"x","token_ids":[5,99],"finish_reason":"stop","stop_reason":null}]})",
         GEN_FINISH_EOS,
         {5, 99},
         -1,
         ""},
        // 2 vLLM: a stop token id
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"token_ids":[5,42],"finish_reason":"stop","stop_reason":42}]})",
         GEN_FINISH_STOP_ID,
         {5, 42},
         42,
         ""},
        // 3 vLLM: a stop string; the token completing it stays in the ids
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"token_ids":[5,6],"finish_reason":"stop","stop_reason":"<|im_end|>"}]})",
         GEN_FINISH_STOP_STR,
         {5, 6},
         -1,
         "<|im_end|>"},
        // 4 vLLM: the cap
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"token_ids":[5,6,7],"finish_reason":"length","stop_reason":null}]})",
         GEN_FINISH_LENGTH,
         {5, 6, 7},
         -1,
         ""},
        // 5 vLLM: abort / repetition / error are errors
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"token_ids":[5],"finish_reason":"abort"}]})",
         GEN_FINISH_ERROR,
         {5},
         -1,
         ""},
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"token_ids":[5],"finish_reason":"repetition"}]})",
         GEN_FINISH_ERROR,
         {5},
         -1,
         ""},
        // 7 vLLM: a stop token the server left out of the ids is appended (the seam stays exact)
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"token_ids":[5],"finish_reason":"stop","stop_reason":42}]})",
         GEN_FINISH_STOP_ID,
         {5, 42},
         42,
         ""},
        // 8 SGLang: EOS reported as its id through matched_stop
        {HTTP_FLAVOUR_SGLANG,
         R"({"choices":[{"token_ids":[5,99],"finish_reason":"stop","matched_stop":99}]})",
         GEN_FINISH_EOS,
         {5, 99},
         99,
         ""},
        {HTTP_FLAVOUR_SGLANG,
         R"({"choices":[{"token_ids":[5,42],"finish_reason":"stop","matched_stop":42}]})",
         GEN_FINISH_STOP_ID,
         {5, 42},
         42,
         ""},
        {HTTP_FLAVOUR_SGLANG,
         R"({"choices":[{"token_ids":[5],"finish_reason":"stop","matched_stop":"<|im_end|>"}]})",
         GEN_FINISH_STOP_STR,
         {5},
         -1,
         "<|im_end|>"},
        // 11 llama.cpp: eos, limit, word (the end-of-thinking text is reported as its id)
        {HTTP_FLAVOUR_LLAMACPP,
         R"({"content":"x","tokens":[5,99],"stop_type":"eos","tokens_evaluated":3})",
         GEN_FINISH_EOS,
         {5, 99},
         -1,
         ""},
        {HTTP_FLAVOUR_LLAMACPP, R"({"content":"x","tokens":[5],"stop_type":"eos"})", GEN_FINISH_EOS, {5, 99}, -1, ""},
        {HTTP_FLAVOUR_LLAMACPP, R"({"tokens":[5,6],"stop_type":"limit"})", GEN_FINISH_LENGTH, {5, 6}, -1, ""},
        {HTTP_FLAVOUR_LLAMACPP,
         R"({"tokens":[5,42],"stop_type":"word","stopping_word":"</think>"})",
         GEN_FINISH_STOP_ID,
         {5, 42},
         42,
         ""},
        {HTTP_FLAVOUR_LLAMACPP,
         R"({"tokens":[5],"stop_type":"word","stopping_word":"</think>"})",
         GEN_FINISH_STOP_ID,
         {5, 42},
         42,
         ""},
        {HTTP_FLAVOUR_LLAMACPP,
         R"({"tokens":[5,6],"stop_type":"word","stopping_word":"<|im_end|>"})",
         GEN_FINISH_STOP_STR,
         {5, 6},
         -1,
         "<|im_end|>"},
        // 17 llama.cpp: a context overflow is an error, whatever the stop type
        {HTTP_FLAVOUR_LLAMACPP,
         R"({"tokens":[5],"stop_type":"limit","truncated":true})",
         GEN_FINISH_ERROR,
         {5},
         -1,
         ""},
        // 18 adabench serve-engine speaks vLLM
        {HTTP_FLAVOUR_ADABENCH,
         R"({"choices":[{"token_ids":[7,42],"finish_reason":"stop","stop_reason":42}]})",
         GEN_FINISH_STOP_ID,
         {7, 42},
         42,
         ""},
        // 19 an empty output with EOS (reasoning-only content, all-EOS) is recorded, not crashed on
        {HTTP_FLAVOUR_VLLM,
         R"({"choices":[{"text":null,"token_ids":[],"finish_reason":"stop","stop_reason":null}]})",
         GEN_FINISH_EOS,
         {99},
         99,
         ""},
    };
    int n = 0;
    for (const auto& c : cases) {
        ++n;
        GenReply r = http_flavour_parse_reply(c.flavour, c.body, call(), kEos);
        EXPECT_EQ(r.finish, c.finish) << "case " << n << ": " << gen_finish_name(r.finish);
        EXPECT_EQ(r.out_ids, c.ids) << "case " << n;
        EXPECT_EQ(r.matched_id, c.matched_id) << "case " << n;
        EXPECT_EQ(r.matched_str, c.matched_str) << "case " << n;
    }
}

TEST(Flavour, EchoAndUsageAreRead) {
    GenReply r = http_flavour_parse_reply(
        HTTP_FLAVOUR_VLLM,
        R"({"choices":[{"token_ids":[5],"prompt_token_ids":[1,2,3],"finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":1}})",
        call(), kEos);
    EXPECT_TRUE(r.have_prompt_echo);
    EXPECT_EQ(r.prompt_echo, std::vector<int32_t>({1, 2, 3}));
    EXPECT_EQ(r.usage_prompt, 3);
    EXPECT_EQ(r.usage_completion, 1);
}

TEST(Flavour, MalformedRepliesAreClearErrors) {
    const char* bad[] = {
        "",
        "not json",
        "[1,2]",
        R"({"choices":[]})",
        R"({"choices":[{"text":"x","finish_reason":"stop"}]})",  // token ids not returned
        R"({"choices":[{"token_ids":[1,-2],"finish_reason":"length"}]})",
        R"({"choices":[{"token_ids":[1,"a"],"finish_reason":"length"}]})",
        R"({"choices":[{"token_ids":[1,5000000000],"finish_reason":"length"}]})",
        R"({"choices":[{"token_ids":{"a":1},"finish_reason":"length"}]})",
        R"({"choices":[{"token_ids":[1],"finish_reason":"stop","stop_reason":[1]}]})",
        R"({"choices":[5]})",
    };
    for (const char* b : bad) {
        try {
            http_flavour_parse_reply(HTTP_FLAVOUR_VLLM, b, call(), kEos);
            ADD_FAILURE() << "accepted: " << b;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("vllm reply"), std::string::npos) << e.what();
        }
    }
    EXPECT_THROW(http_flavour_parse_reply(HTTP_FLAVOUR_LLAMACPP, R"({"content":"x","stop_type":"eos"})", call(), kEos),
                 Error);
}

TEST(Flavour, ErrorMessages) {
    EXPECT_EQ(http_error_message(R"({"error":{"message":"bad model","type":"x"}})"), "bad model");
    EXPECT_EQ(http_error_message(R"({"object":"error","message":"too long","code":400})"), "too long");
    EXPECT_EQ(http_error_message(R"({"detail":"Not Found"})"), "Not Found");
    EXPECT_EQ(http_error_message("plain\ntext"), "plain text");
    EXPECT_EQ(http_error_message(std::string(1000, 'a')).size(), 303u);
    EXPECT_THROW(http_flavour_parse("tgi"), Error);
    EXPECT_EQ(http_flavour_parse("llamacpp"), HTTP_FLAVOUR_LLAMACPP);
}

}  // namespace
}  // namespace adabench
