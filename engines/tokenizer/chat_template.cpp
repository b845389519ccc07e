// Configured chat templates (see chat_template.h). One table row per family; the Jinja sources
// they were written from are named next to each row.
#include "engines/tokenizer/chat_template.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/json_strict.h"

namespace adabench {
namespace {

const char* const k_im_end = "<|im_end|>";
const char* const k_endoftext = "<|endoftext|>";
const char* const k_chatml_system = "<|im_start|>system\n{system}<|im_end|>\n";
const char* const k_chatml_user = "<|im_start|>user\n{user}<|im_end|>\n";

struct TemplateRow {
    ChatTemplate t;
    // Text found in the Jinja source (as stored: "\n" is backslash-n) that identifies this family.
    // Rows are tried in order, so a more specific row comes before a more general one.
    const char* detect;
};

const std::vector<TemplateRow>& template_rows() {
    static const std::vector<TemplateRow> rows = {
        // deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja (current HF template, same for 1.5B/7B).
        {{"r1-distill",
          "DeepSeek-R1-Distill-Qwen: <｜User｜>q<｜Assistant｜><think>\\n",
          "<｜begin▁of▁sentence｜>",
          "{system}",
          "",
          "<｜User｜>{user}",
          "<｜Assistant｜><think>\n",
          "<think>",
          "</think>",
          true,
          {"<｜end▁of▁sentence｜>"}},
         R"(<｜Assistant｜><think>\n)"},
        // tokenizer_config.json of the January 2025 R1-Distill release: no <think> in the prompt.
        {{"r1-distill-legacy",
          "DeepSeek-R1-Distill-Qwen, January 2025 template (model opens <think> itself)",
          "<｜begin▁of▁sentence｜>",
          "{system}",
          "",
          "<｜User｜>{user}",
          "<｜Assistant｜>",
          "<think>",
          "</think>",
          false,
          {"<｜end▁of▁sentence｜>"}},
         "<｜Assistant｜>"},
        // Qwen-Qwen3-0.6B.jinja, thinking enabled (the default): the model writes <think> itself.
        {{"qwen3",
          "Qwen3 (thinking on): ChatML, no default system prompt",
          "",
          k_chatml_system,
          "",
          k_chatml_user,
          "<|im_start|>assistant\n",
          "<think>",
          "</think>",
          false,
          {k_im_end, k_endoftext}},
         "enable_thinking"},
        // Qwen-Qwen3-0.6B.jinja with enable_thinking=false: an empty, closed thinking block.
        {{"qwen3-nothink",
          "Qwen3 (enable_thinking=false): empty closed <think> block",
          "",
          k_chatml_system,
          "",
          k_chatml_user,
          "<|im_start|>assistant\n<think>\n\n</think>\n\n",
          "<think>",
          "</think>",
          false,
          {k_im_end, k_endoftext}},
         nullptr},
        // Qwen-QwQ-32B.jinja.
        {{"qwq",
          "QwQ-32B: ChatML, generation prompt opens <think>",
          "",
          k_chatml_system,
          "",
          k_chatml_user,
          "<|im_start|>assistant\n<think>\n",
          "<think>",
          "</think>",
          true,
          {k_im_end, k_endoftext}},
         R"('<|im_start|>assistant\n<think>\n')"},
        // Qwen-Qwen2.5-7B-Instruct.jinja (identical for 1.5B-Instruct): default system prompt.
        {{"qwen2.5",
          "Qwen2.5-Instruct: ChatML with the default Qwen system prompt",
          "",
          k_chatml_system,
          "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
          k_chatml_user,
          "<|im_start|>assistant\n",
          "",
          "",
          false,
          {k_im_end, k_endoftext}},
         "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."},
        // The bundled model organism (models/organism, tools/train/organism.py render_prompt):
        // ChatML user/assistant without a system prompt; the generation prompt opens thinking.
        // Its style tags (" Think step by step.", " Answer briefly.") are part of the question.
        {{"organism",
          "adabench model organism: ChatML, no system prompt, generation prompt opens <think>",
          "",
          k_chatml_system,
          "",
          k_chatml_user,
          "<|im_start|>assistant\n<think>\n",
          "<think>",
          "</think>",
          true,
          {k_im_end, k_endoftext}},
         // CHAT_TEMPLATE in tools/train/organism.py (real newlines, unlike the Qwen sources).
         "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"},
    };
    return rows;
}

void replace_all(std::string& s, const std::string& key, const std::string& value) {
    for (size_t pos = s.find(key); pos != std::string::npos; pos = s.find(key, pos + value.size())) {
        s.replace(pos, key.size(), value);
    }
}

std::string known_names() {
    std::string out;
    for (const std::string& n : chat_template_names()) out += (out.empty() ? "" : ", ") + n;
    return out;
}

}  // namespace

std::string ChatTemplate::render(const std::string& user, const std::optional<std::string>& system) const {
    std::string out = bos_text;
    const std::string& sys = system ? *system : default_system;
    if (system || !default_system.empty()) {
        std::string block = system_format;
        replace_all(block, "{system}", sys);
        out += block;
    }
    std::string u = user_format;
    // Replace the placeholder once, so "{user}" inside the question stays as it is.
    size_t pos = u.find("{user}");
    u.replace(pos, 6, user);
    out += u;
    out += generation_prompt;
    return out;
}

std::vector<std::string> chat_template_names() {
    std::vector<std::string> names;
    for (const TemplateRow& r : template_rows()) names.push_back(r.t.name);
    return names;
}

ChatTemplate chat_template_by_name(const std::string& name) {
    for (const TemplateRow& r : template_rows()) {
        if (r.t.name == name) return r.t;
    }
    throw Error("unknown chat template '" + name + "' (known: " + known_names() + ")");
}

bool chat_template_detect(const std::string& jinja_text, ChatTemplate* out) {
    for (const TemplateRow& r : template_rows()) {
        if (r.detect && jinja_text.find(r.detect) != std::string::npos) {
            *out = r.t;
            return true;
        }
    }
    return false;
}

ChatTemplate chat_template_from_model_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    std::string config = (fs::path(dir) / "tokenizer_config.json").string();
    std::string jinja_file = (fs::path(dir) / "chat_template.jinja").string();
    std::string text, source;
    if (io_file_exists(config)) {
        nlohmann::json cfg = json_read_strict(config);
        const nlohmann::json* ct = cfg.is_object() && cfg.contains("chat_template") ? &cfg["chat_template"] : nullptr;
        if (ct && ct->is_string()) {
            text = ct->get<std::string>();
            source = config;
        } else if (ct && ct->is_array()) {  // [{"name": "default", "template": "..."}, ...]
            for (const nlohmann::json& e : *ct) {
                // A "name" that is not a string is no match (json::value would throw on it).
                if (e.is_object() && e.contains("name") && e.at("name") == "default" && e.contains("template") &&
                    e["template"].is_string()) {
                    text = e["template"].get<std::string>();
                    source = config;
                }
            }
        }
    }
    if (text.empty() && io_file_exists(jinja_file)) {
        text = io_read_file(jinja_file);
        source = jinja_file;
    }
    if (text.empty()) {
        throw Error(dir + ": no chat template in tokenizer_config.json or chat_template.jinja",
                    "choose one by name: " + known_names());
    }
    ChatTemplate t;
    if (!chat_template_detect(text, &t)) {
        throw Error(source + ": the chat template matches none of the known templates",
                    "choose one by name: " + known_names());
    }
    return t;
}

}  // namespace adabench
