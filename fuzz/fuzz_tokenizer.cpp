// libFuzzer target: a tokenizer.json and its tokenizer_config.json (input parts separated by a
// "\n----\n" line: tokenizer.json, tokenizer_config.json, text), loaded from files as
// Tokenizer::load does; a tokenizer that loads must then encode the text part and decode every id.
#include <cstdint>
#include <string>
#include <vector>
#include "common/error.h"
#include "engines/tokenizer/tokenizer.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = adabench_fuzz::split_parts(data, size, 3);
    std::string tok_path = adabench_fuzz::write_scratch("tokenizer.json", parts[0]);
    std::string cfg_path;
    if (!parts[1].empty()) {
        cfg_path = adabench_fuzz::write_scratch("tokenizer_config.json", parts[1]);
    } else {
        adabench_fuzz::remove_scratch("tokenizer_config.json");
    }
    try {
        adabench::Tokenizer tok = adabench::Tokenizer::load_tokenizer_json(tok_path, cfg_path);
        std::string text(parts[2]);
        std::vector<int32_t> ids = tok.encode(text, true);
        std::vector<int32_t> plain = tok.encode(text, false);
        (void)tok.decode(ids);
        (void)tok.decode(plain, true);
        int n = tok.vocab_size();
        for (int32_t id = -1; id <= n && id < 4096; ++id) {
            (void)tok.decode_token(id);
            (void)tok.id_to_token(id);
            (void)tok.is_special(id);
        }
        (void)tok.pretokenize(text);
    } catch (const adabench::Error&) {
    }
    return 0;
}
