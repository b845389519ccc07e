// libFuzzer target: chat-template detection from a model directory (parts separated by a
// "\n----\n" line: tokenizer_config.json, chat_template.jinja, a user message), as
// chat_template_from_model_dir reads them; a detected template renders the user message.
#include <cstdint>
#include <optional>
#include <string>
#include "common/error.h"
#include "engines/tokenizer/chat_template.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = adabench_fuzz::split_parts(data, size, 3);
    if (!parts[0].empty()) {
        adabench_fuzz::write_scratch("tokenizer_config.json", parts[0]);
    } else {
        adabench_fuzz::remove_scratch("tokenizer_config.json");
    }
    if (!parts[1].empty()) {
        adabench_fuzz::write_scratch("chat_template.jinja", parts[1]);
    } else {
        adabench_fuzz::remove_scratch("chat_template.jinja");
    }
    std::string user(parts[2]);
    try {
        adabench::ChatTemplate t = adabench::chat_template_from_model_dir(adabench_fuzz::scratch_dir());
        (void)t.render(user);
        (void)t.render(user, std::string(parts[1]));
    } catch (const adabench::Error&) {
    }
    adabench::ChatTemplate t;
    if (adabench::chat_template_detect(std::string(parts[1]), &t)) (void)t.render(user, std::nullopt);
    return 0;
}
