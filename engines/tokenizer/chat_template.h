// Chat templates as small configured strings (no Jinja engine): the single-turn prompt
// `bos + system + user + generation prompt` of each supported model family, with the family's
// think markers, whether the generation prompt already opens thinking, and its stop texts.
//
// Each template was written by hand from the model's Jinja template for one user message with
// add_generation_prompt=true, and is tested against expected strings derived from those templates
// (tests/fixtures/tokenizer/chat_templates/). Multi-turn conversations, tools and assistant
// history are deliberately not supported: the harness only ever asks one question.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace adabench {

struct ChatTemplate {
    std::string name;            // "r1-distill", "qwen2.5", ...
    std::string description;     // one line for --help and reports
    std::string bos_text;        // written first (R1: "<｜begin▁of▁sentence｜>"); empty for ChatML
    std::string system_format;   // "{system}" is replaced by the system prompt
    std::string default_system;  // used when render() gets no system prompt; empty = no system block
    std::string user_format;     // "{user}" is replaced by the question
    std::string generation_prompt;
    std::string think_begin;  // empty when the family has no thinking segment
    std::string think_end;
    bool prompt_opens_thinking = false;   // the generation prompt ends inside <think>
    std::vector<std::string> stop_texts;  // end-of-turn / end-of-sequence texts

    // The prompt for one user message. system: nullopt = the template's default (if any);
    // a value (even "") = that system prompt.
    std::string render(const std::string& user, const std::optional<std::string>& system = std::nullopt) const;
};

std::vector<std::string> chat_template_names();
// Throws adabench::Error listing the known names when name is unknown.
ChatTemplate chat_template_by_name(const std::string& name);
// The template whose distinguishing text appears in a Jinja chat template; false if none.
bool chat_template_detect(const std::string& jinja_text, ChatTemplate* out);
// Reads the model directory's chat template (tokenizer_config.json "chat_template", or
// chat_template.jinja) and detects it. Throws adabench::Error naming the file when there is none or
// it matches no known template (the message lists the known names: pass one explicitly).
ChatTemplate chat_template_from_model_dir(const std::string& dir);

}  // namespace adabench
