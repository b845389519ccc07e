// Chat templates: rendered single-turn prompts against strings written by hand from each model's
// Jinja template (tests/fixtures/tokenizer/chat_templates/), detection from tokenizer_config.json /
// chat_template.jinja, and the special tokens of a rendered prompt tokenizing to single ids.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "common/io.h"
#include "engines/tokenizer/chat_template.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& rel) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    std::string root = env ? env : ADABENCH_SOURCE_DIR;
    return root + "/tests/fixtures/tokenizer/" + rel;
}

const std::string q = "What is 1+1? Use {user} literally.";

TEST(ChatTemplate, RendersAsTheJinjaTemplates) {
    // deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja: {{bos_token}}{{system}}'<｜User｜>' + content,
    // then '<｜Assistant｜><think>\n'.
    ChatTemplate r1 = chat_template_by_name("r1-distill");
    EXPECT_EQ(r1.render(q), "<｜begin▁of▁sentence｜><｜User｜>" + q + "<｜Assistant｜><think>\n");
    EXPECT_EQ(r1.render(q, "Be brief."), "<｜begin▁of▁sentence｜>Be brief.<｜User｜>" + q + "<｜Assistant｜><think>\n");
    EXPECT_TRUE(r1.prompt_opens_thinking);
    EXPECT_EQ(r1.think_end, "</think>");
    EXPECT_EQ(r1.stop_texts, std::vector<std::string>{"<｜end▁of▁sentence｜>"});

    ChatTemplate r1_legacy = chat_template_by_name("r1-distill-legacy");
    EXPECT_EQ(r1_legacy.render(q), "<｜begin▁of▁sentence｜><｜User｜>" + q + "<｜Assistant｜>");
    EXPECT_FALSE(r1_legacy.prompt_opens_thinking);

    // Qwen-Qwen2.5-7B-Instruct.jinja: the default system block when no system message is given.
    ChatTemplate qwen25 = chat_template_by_name("qwen2.5");
    EXPECT_EQ(qwen25.render(q),
              "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\n" +
                  q + "<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(qwen25.render(q, "Reason step by step."),
              "<|im_start|>system\nReason step by step.<|im_end|>\n<|im_start|>user\n" + q +
                  "<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(qwen25.render(q, ""),
              "<|im_start|>system\n<|im_end|>\n<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_TRUE(qwen25.think_begin.empty());
    EXPECT_EQ(qwen25.stop_texts, (std::vector<std::string>{"<|im_end|>", "<|endoftext|>"}));

    // Qwen-Qwen3-0.6B.jinja: no default system; enable_thinking=false adds an empty think block.
    EXPECT_EQ(chat_template_by_name("qwen3").render(q),
              "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n");
    EXPECT_EQ(chat_template_by_name("qwen3-nothink").render(q),
              "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    EXPECT_EQ(chat_template_by_name("qwen3").render(q, "S"),
              "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n");

    // Qwen-QwQ-32B.jinja: the generation prompt opens thinking.
    ChatTemplate qwq = chat_template_by_name("qwq");
    EXPECT_EQ(qwq.render(q), "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n<think>\n");
    EXPECT_TRUE(qwq.prompt_opens_thinking);

    ChatTemplate org = chat_template_by_name("organism");
    EXPECT_EQ(org.render(q), "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n<think>\n");
    EXPECT_TRUE(org.prompt_opens_thinking);
}

TEST(ChatTemplate, UnknownNameListsKnownOnes) {
    try {
        chat_template_by_name("llama-9");
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("unknown chat template 'llama-9'"), std::string::npos) << what;
        EXPECT_NE(what.find("r1-distill, r1-distill-legacy, qwen3"), std::string::npos) << what;
    }
}

TEST(ChatTemplate, DetectsFromJinjaAndTokenizerConfig) {
    const std::vector<std::pair<std::string, std::string>> files = {
        {"chat_templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "r1-distill"},
        {"chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja", "qwen2.5"},
        {"chat_templates/Qwen-Qwen3-0.6B.jinja", "qwen3"},
        {"chat_templates/Qwen-QwQ-32B.jinja", "qwq"},
    };
    for (const auto& [file, name] : files) {
        ChatTemplate t;
        ASSERT_TRUE(chat_template_detect(io_read_file(fixture(file)), &t)) << file;
        EXPECT_EQ(t.name, name) << file;
    }
    ChatTemplate t;
    EXPECT_FALSE(chat_template_detect("{{ messages }}", &t));

    // tokenizer_config.json with the chat template inline.
    EXPECT_EQ(chat_template_from_model_dir(fixture("qwen2")).name, "qwen2.5");
    fs::path dir = fs::temp_directory_path() / ("adabench-chat-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(fixture("chat_templates/deepseek-r1-distill-qwen-tokenizer_config.json"),
                  dir / "tokenizer_config.json");
    EXPECT_EQ(chat_template_from_model_dir(dir.string()).name, "r1-distill-legacy");
    // transformers-5 layout: no template in tokenizer_config.json, chat_template.jinja beside it.
    fs::copy_file(fixture("chat_templates/qwen2.5-instruct-resaved-tokenizer_config.json"),
                  dir / "tokenizer_config.json", fs::copy_options::overwrite_existing);
    fs::copy_file(fixture("chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja"), dir / "chat_template.jinja");
    EXPECT_EQ(chat_template_from_model_dir(dir.string()).name, "qwen2.5");
    io_write_file_atomic((dir / "chat_template.jinja").string(), "{{ messages[0].content }}");
    try {
        chat_template_from_model_dir(dir.string());
        ADD_FAILURE() << "unknown template accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("chat_template.jinja: the chat template matches none"), std::string::npos)
            << e.what();
    }
    fs::remove(dir / "chat_template.jinja");
    try {
        chat_template_from_model_dir(dir.string());
        ADD_FAILURE() << "missing template accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no chat template"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
}

TEST(ChatTemplate, RenderedPromptTokenizesWithSpecialTokens) {
    Tokenizer tok = Tokenizer::load(fixture("qwen2"));
    std::vector<int32_t> ids = tok.encode(chat_template_by_name("qwen2.5").render("Hi"));
    ASSERT_GE(ids.size(), 6u);
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + 3), (std::vector<int32_t>{151644, 8948, 198}));
    EXPECT_EQ(std::vector<int32_t>(ids.end() - 3, ids.end()), (std::vector<int32_t>{151644, 77091, 198}));
    EXPECT_EQ(std::count(ids.begin(), ids.end(), 151645), 2);
    for (const std::string& stop : chat_template_by_name("qwen2.5").stop_texts) {
        EXPECT_EQ(tok.encode(stop).size(), 1u) << stop;
    }
}

}  // namespace
}  // namespace adabench
