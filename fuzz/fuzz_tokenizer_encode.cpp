// libFuzzer target: encode and decode arbitrary bytes with a real byte-level BPE tokenizer (the
// organism's, from tests/fixtures/tokenizer/organism_mini, loaded once). Checks the byte-level
// round trip: decode(encode(text)) == text for any bytes when special tokens are not split out.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include "common/error.h"
#include "engines/tokenizer/tokenizer.h"

namespace {
std::unique_ptr<adabench::Tokenizer> g_tok;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* root = std::getenv("ADABENCH_SOURCE_DIR");
    std::string dir = std::string(root ? root : ADABENCH_SOURCE_DIR) + "/tests/fixtures/tokenizer/organism_mini";
    g_tok = std::make_unique<adabench::Tokenizer>(adabench::Tokenizer::load(dir));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    std::vector<int32_t> with_special = g_tok->encode(text, true);
    std::vector<int32_t> plain = g_tok->encode(text, false);
    (void)g_tok->decode(with_special, true);
    // NFC normalisation may change the bytes; the round trip is exact only without it.
    if (!g_tok->normalizes_nfc() && g_tok->decode(plain) != text) {
        std::fprintf(stderr, "decode(encode(text)) != text for %zu input bytes\n", size);
        std::abort();
    }
    // The same bytes read as token ids (in and out of range) must decode without error.
    std::vector<int32_t> ids(size / 4);
    if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
    (void)g_tok->decode(ids);
    (void)g_tok->decode(ids, true);
    return 0;
}
