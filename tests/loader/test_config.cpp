// loader: config.json parsing — every real config in tests/fixtures/configs with its numbers written
// out literally, transformers-5 rope_parameters, head_dim override, eos lists, family defaults, and
// errors that name the file and field.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "engines/model/config.h"

using namespace adabench;
using nlohmann::json;

namespace {

std::string cfg_path(const std::string& name) {
    return std::string(ADABENCH_SOURCE_DIR) + "/tests/fixtures/configs/" + name + ".json";
}

// Expects config_from_json to throw an Error whose message contains every needle.
void expect_error(const json& j, std::initializer_list<const char*> needles) {
    try {
        config_from_json(j, "cfg/config.json");
        FAIL() << "expected an error for " << j.dump();
    } catch (const Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("cfg/config.json"), std::string::npos) << msg;
        for (const char* n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
    }
}

json minimal_qwen2() {
    return json{{"architectures", {"Qwen2ForCausalLM"}},
                {"model_type", "qwen2"},
                {"vocab_size", 100},
                {"hidden_size", 32},
                {"intermediate_size", 64},
                {"num_hidden_layers", 2},
                {"num_attention_heads", 4}};
}

}  // namespace

TEST(Config, DeepSeekR1DistillQwen1_5B) {
    ModelConfig c = config_load(cfg_path("DeepSeek-R1-Distill-Qwen-1.5B"));
    EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
    EXPECT_EQ(c.model_type, "qwen2");
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_EQ(c.hidden_size, 1536);
    EXPECT_EQ(c.intermediate_size, 8960);
    EXPECT_EQ(c.n_layers, 28);
    EXPECT_EQ(c.n_heads, 12);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.max_position_embeddings, 131072);
    EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
    EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_TRUE(c.attention_bias);  // Qwen2 default
    EXPECT_EQ(c.bos_token_id, 151643);
    EXPECT_EQ(c.eos_token_ids, std::vector<int>({151643}));
    EXPECT_EQ(c.torch_dtype, "bfloat16");
}

TEST(Config, DeepSeekR1DistillQwen7B) {
    ModelConfig c = config_load(cfg_path("DeepSeek-R1-Distill-Qwen-7B"));
    EXPECT_EQ(c.vocab_size, 152064);
    EXPECT_EQ(c.hidden_size, 3584);
    EXPECT_EQ(c.intermediate_size, 18944);
    EXPECT_EQ(c.n_layers, 28);
    EXPECT_EQ(c.n_heads, 28);
    EXPECT_EQ(c.n_kv_heads, 4);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
    EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(Config, DeepSeekR1DistillQwen32B) {
    ModelConfig c = config_load(cfg_path("DeepSeek-R1-Distill-Qwen-32B"));
    EXPECT_EQ(c.vocab_size, 152064);
    EXPECT_EQ(c.hidden_size, 5120);
    EXPECT_EQ(c.intermediate_size, 27648);
    EXPECT_EQ(c.n_layers, 64);
    EXPECT_EQ(c.n_heads, 40);
    EXPECT_EQ(c.n_kv_heads, 8);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
    EXPECT_FLOAT_EQ(c.rope_theta, 1000000.0f);
    EXPECT_EQ(c.max_position_embeddings, 131072);
}

TEST(Config, Qwen25Instruct) {
    ModelConfig c = config_load(cfg_path("Qwen2.5-1.5B-Instruct"));
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_EQ(c.hidden_size, 1536);
    EXPECT_EQ(c.n_layers, 28);
    EXPECT_EQ(c.n_kv_heads, 2);
    EXPECT_FLOAT_EQ(c.rope_theta, 1000000.0f);
    EXPECT_EQ(c.max_position_embeddings, 32768);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(c.eos_token_ids, std::vector<int>({151645}));
}

TEST(Config, Qwen25InstructResavedByTransformers5) {
    // rope_theta only inside rope_parameters, "dtype" instead of torch_dtype, pad_token_id null.
    ModelConfig c = config_load(cfg_path("Qwen2.5-1.5B-Instruct-resaved-transformers-5.1.0"));
    ModelConfig old = config_load(cfg_path("Qwen2.5-1.5B-Instruct"));
    EXPECT_FLOAT_EQ(c.rope_theta, 1000000.0f);
    EXPECT_EQ(c.torch_dtype, "float16");
    EXPECT_EQ(c.hidden_size, old.hidden_size);
    EXPECT_EQ(c.n_layers, old.n_layers);
    EXPECT_EQ(c.n_heads, old.n_heads);
    EXPECT_EQ(c.n_kv_heads, old.n_kv_heads);
    EXPECT_EQ(c.head_dim, old.head_dim);
    EXPECT_EQ(c.tie_word_embeddings, old.tie_word_embeddings);
    EXPECT_EQ(c.attention_bias, old.attention_bias);
    EXPECT_EQ(c.eos_token_ids, old.eos_token_ids);
}

TEST(Config, Qwen25Math) {
    ModelConfig c = config_load(cfg_path("Qwen2.5-Math-1.5B-Instruct"));
    EXPECT_EQ(c.max_position_embeddings, 4096);
    EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(c.eos_token_ids, std::vector<int>({151645}));
}

TEST(Config, Qwen3HeadDimOverride) {
    // hidden 1024 / 16 heads would be 64; config.json says head_dim 128.
    ModelConfig c = config_load(cfg_path("Qwen3-0.6B"));
    EXPECT_EQ(c.architecture, "Qwen3ForCausalLM");
    EXPECT_EQ(c.model_type, "qwen3");
    EXPECT_EQ(c.hidden_size, 1024);
    EXPECT_EQ(c.n_heads, 16);
    EXPECT_EQ(c.n_kv_heads, 8);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.intermediate_size, 3072);
    EXPECT_FALSE(c.attention_bias);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_FLOAT_EQ(c.rope_theta, 1000000.0f);  // integer 1000000 in the file
    EXPECT_EQ(c.max_position_embeddings, 40960);
}

TEST(Config, EosAsListAndLlamaDefaults) {
    json j = {{"architectures", {"LlamaForCausalLM"}},
              {"vocab_size", 128256},  // Llama 3's: the eos ids below must be inside it
              {"hidden_size", 64},
              {"intermediate_size", 172},
              {"num_hidden_layers", 5},
              {"num_attention_heads", 8},
              {"num_key_value_heads", 4},
              {"eos_token_id", {128001, 128008, 128009}},
              {"rope_scaling", nullptr}};
    ModelConfig c = config_from_json(j, "x/config.json");
    EXPECT_EQ(c.model_type, "llama");
    EXPECT_EQ(c.eos_token_ids, std::vector<int>({128001, 128008, 128009}));
    EXPECT_FALSE(c.attention_bias);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_EQ(c.head_dim, 8);
    EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
    EXPECT_EQ(c.bos_token_id, -1);
}

TEST(Config, ExplicitAttentionBiasAndTieOverrideDefaults) {
    json j = minimal_qwen2();
    j["attention_bias"] = false;
    j["tie_word_embeddings"] = true;
    ModelConfig c = config_from_json(j, "x");
    EXPECT_FALSE(c.attention_bias);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(c.n_kv_heads, 4);  // defaults to num_attention_heads
}

TEST(Config, RoundTripThroughJson) {
    ModelConfig c = config_load(cfg_path("DeepSeek-R1-Distill-Qwen-32B"));
    ModelConfig d = config_from_json(config_to_json(c), "roundtrip");
    EXPECT_EQ(d.architecture, c.architecture);
    EXPECT_EQ(d.vocab_size, c.vocab_size);
    EXPECT_EQ(d.head_dim, c.head_dim);
    EXPECT_EQ(d.n_kv_heads, c.n_kv_heads);
    EXPECT_FLOAT_EQ(d.rope_theta, c.rope_theta);
    EXPECT_FLOAT_EQ(d.rms_norm_eps, c.rms_norm_eps);
    EXPECT_EQ(d.attention_bias, c.attention_bias);
    EXPECT_EQ(d.eos_token_ids, c.eos_token_ids);
}

TEST(ConfigErrors, UnknownArchitecture) {
    json j = minimal_qwen2();
    j["architectures"] = {"MistralForCausalLM"};
    expect_error(j, {"unsupported architecture", "MistralForCausalLM"});
}

TEST(ConfigErrors, MissingField) {
    json j = minimal_qwen2();
    j.erase("hidden_size");
    expect_error(j, {"'hidden_size'", "missing"});
}

TEST(ConfigErrors, WrongTypes) {
    json j = minimal_qwen2();
    j["num_hidden_layers"] = "28";
    expect_error(j, {"'num_hidden_layers'", "integer", "string"});
    j = minimal_qwen2();
    j["rope_theta"] = "big";
    expect_error(j, {"'rope_theta'", "number"});
    j = minimal_qwen2();
    j["tie_word_embeddings"] = 1;
    expect_error(j, {"'tie_word_embeddings'", "true or false"});
    j = minimal_qwen2();
    j["eos_token_id"] = {1, "two"};
    expect_error(j, {"'eos_token_id[1]'"});
    j = minimal_qwen2();
    j["architectures"] = "Qwen2ForCausalLM";
    expect_error(j, {"'architectures'"});
    j = minimal_qwen2();
    j["vocab_size"] = 1.5;
    expect_error(j, {"'vocab_size'", "integer"});
}

TEST(ConfigErrors, InconsistentValues) {
    json j = minimal_qwen2();
    j["num_key_value_heads"] = 3;
    expect_error(j, {"'num_key_value_heads'", "divide"});
    j = minimal_qwen2();
    j["num_attention_heads"] = 5;
    expect_error(j, {"'hidden_size'", "not divisible"});
    j = minimal_qwen2();
    j["hidden_size"] = -4;
    expect_error(j, {"'hidden_size'", "out of range"});
    j = minimal_qwen2();
    j["num_hidden_layers"] = 1000000;
    expect_error(j, {"'num_hidden_layers'", "out of range"});
    j = minimal_qwen2();
    j["model_type"] = "llama";
    expect_error(j, {"'model_type'"});
}

TEST(ConfigErrors, UnimplementedFeaturesAreRefused) {
    json j = minimal_qwen2();
    j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
    expect_error(j, {"rope_scaling.rope_type", "yarn"});
    j = minimal_qwen2();
    j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}};
    expect_error(j, {"rope_parameters.rope_type", "llama3"});
    j = minimal_qwen2();
    j["use_sliding_window"] = true;
    expect_error(j, {"'use_sliding_window'"});
    j = minimal_qwen2();
    j["hidden_act"] = "gelu";
    expect_error(j, {"'hidden_act'", "gelu"});
}

TEST(ConfigErrors, NotAnObjectAndMissingFile) {
    expect_error(json::array({1, 2}), {"expected a JSON object"});
    try {
        config_load("/nonexistent/config.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/config.json"), std::string::npos);
    }
}
