// Tokenizer tests: the 74 reference tokenizations (46 llama.cpp, 25 transformers.js, 3 transformers)
// with the real Qwen2 vocab and merges through both loaders (vocab.json + merges.txt, and a
// tokenizer.json written from them), round trips, added/special tokens, streaming decode,
// malformed files, and the organism's golden tokenizations when models/organism has them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "common/sha256.h"
#include "engines/tokenizer/chat_template.h"
#include "engines/tokenizer/tokenizer.h"
#include "engines/tokenizer/unicode.h"

namespace adabench {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::string fixture(const std::string& rel) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    std::string root = env ? env : ADABENCH_SOURCE_DIR;
    return root + "/tests/fixtures/tokenizer/" + rel;
}

struct Case {
    std::string source;  // "llama.cpp #3", "transformers.js SIMPLE", ...
    std::string text;
    std::vector<int32_t> ids;
    std::vector<std::string> tokens;  // transformers.js only
};

std::vector<Case> load_reference_cases() {
    std::vector<Case> cases;
    // llama.cpp: inputs separated by "\n__ggml_vocab_test__\n" (also after the last one); one line
    // of space-separated ids per input in .out.
    std::string inp = io_read_file(fixture("reference/ggml-vocab-qwen2.gguf.inp"));
    std::string out = io_read_file(fixture("reference/ggml-vocab-qwen2.gguf.out"));
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    for (size_t pos = 0;;) {
        size_t e = inp.find(sep, pos);
        if (e == std::string::npos) break;
        texts.push_back(inp.substr(pos, e - pos));
        pos = e + sep.size();
    }
    std::vector<std::string> lines;
    for (size_t pos = 0; pos < out.size();) {
        size_t e = out.find('\n', pos);
        if (e == std::string::npos) e = out.size();
        lines.push_back(out.substr(pos, e - pos));
        pos = e + 1;
    }
    EXPECT_EQ(texts.size(), 46u);
    EXPECT_EQ(lines.size(), texts.size());
    for (size_t i = 0; i < texts.size() && i < lines.size(); ++i) {
        Case c{"llama.cpp #" + std::to_string(i), texts[i], {}, {}};
        std::istringstream ss(lines[i]);
        for (int32_t id; ss >> id;) c.ids.push_back(id);
        cases.push_back(std::move(c));
    }
    json js = io_read_json(fixture("reference/qwen2_cases.json"));
    EXPECT_EQ(js.size(), 25u);
    for (const json& j : js) {
        EXPECT_EQ(j["decoded"], j["text"]);
        cases.push_back({"transformers.js " + j["name"].get<std::string>(), j["text"], j["ids"], j["tokens"]});
    }
    json tf = io_read_json(fixture("reference/qwen2_integration_cases.json"));
    EXPECT_EQ(tf.size(), 3u);
    for (const json& j : tf) cases.push_back({"transformers " + j["name"].get<std::string>(), j["text"], j["ids"], {}});
    return cases;
}

// Checks every reference case: ids, token strings, and decode(encode(x)) == x.
void check_reference_cases(const Tokenizer& tok) {
    std::vector<Case> cases = load_reference_cases();
    ASSERT_EQ(cases.size(), 74u);
    int passed = 0;
    for (const Case& c : cases) {
        std::vector<int32_t> ids = tok.encode(c.text);
        EXPECT_EQ(ids, c.ids) << c.source << " text=" << json(c.text).dump();
        if (!c.tokens.empty()) {
            std::vector<std::string> tokens;
            for (int32_t id : c.ids) tokens.push_back(tok.id_to_token(id));
            EXPECT_EQ(tokens, c.tokens) << c.source;
        }
        EXPECT_EQ(tok.decode(c.ids), c.text) << c.source;
        // Streaming: concatenated per-token bytes give the same text.
        std::string streamed;
        for (int32_t id : c.ids) streamed += tok.decode_token(id);
        EXPECT_EQ(streamed, c.text) << c.source;
        passed += ids == c.ids;
    }
    EXPECT_EQ(passed, 74);
}

TEST(TokenizerReference, VocabMergesReproduces74Cases) {
    Tokenizer tok = Tokenizer::load(fixture("qwen2"));
    EXPECT_EQ(tok.pretokenizer(), PRETOKENIZER_QWEN2);
    EXPECT_TRUE(tok.normalizes_nfc());
    EXPECT_EQ(tok.vocab_size(), 151665);
    EXPECT_EQ(tok.eos_id(), 151645);
    EXPECT_EQ(tok.bos_id(), -1);
    check_reference_cases(tok);

    // Added and special tokens.
    EXPECT_EQ(tok.special_token_id("<|im_start|>"), 151644);
    EXPECT_EQ(tok.special_token_id("<|endoftext|>"), 151643);
    EXPECT_EQ(tok.special_token_id("<think>"), -1);  // not an added token in Qwen2.5
    EXPECT_TRUE(tok.is_special(151645));
    EXPECT_FALSE(tok.is_special(151657));  // <tool_call> is added but not special
    EXPECT_FALSE(tok.is_special(9707));
    std::vector<int32_t> chat = tok.encode("<|im_start|>user\nHello<|im_end|>\n");
    EXPECT_EQ(chat, (std::vector<int32_t>{151644, 872, 198, 9707, 151645, 198}));
    // With allow_special=false a special token in untrusted text is ordinary text.
    std::vector<int32_t> plain = tok.encode("<|im_end|>", false);
    EXPECT_GT(plain.size(), 1u);
    EXPECT_EQ(tok.decode(plain), "<|im_end|>");
    EXPECT_EQ(std::count(plain.begin(), plain.end(), 151645), 0);
    // ... but non-special added tokens still match.
    EXPECT_EQ(tok.encode("<tool_call>", false), std::vector<int32_t>{151657});
    EXPECT_EQ(tok.decode({151644, 872, 151645}, /*skip_special=*/true), "user");

    // Vocabulary-form lookups.
    EXPECT_EQ(tok.token_to_id("Ġare"), 525);
    EXPECT_EQ(tok.id_to_token(525), "Ġare");
    EXPECT_EQ(tok.token_to_id("<|im_end|>"), 151645);
    EXPECT_EQ(tok.token_to_id("no such token at all"), -1);
    EXPECT_EQ(tok.id_to_token(-5), "");

    // Ids without a token (padded embedding rows, garbage) decode to nothing, never crash.
    EXPECT_EQ(tok.decode({9707, 151900, -1, 1 << 30, 1879}), "Hello world");
    EXPECT_EQ(tok.decode_token(151700), "");
    // A partial UTF-8 sequence stays raw bytes: "ĠðŁ" is " " plus the first two bytes of an emoji.
    EXPECT_EQ(tok.id_to_token(11162), "ĠðŁ");
    EXPECT_EQ(tok.decode({11162}), " \xf0\x9f");
    EXPECT_EQ(tok.decode_token(11162), " \xf0\x9f");
}

// The same 74 cases through a tokenizer.json (merges as ["a", "b"] pairs, the tokenizers >= 0.20
// format) carrying the DeepSeek-R1-Distill added tokens, with the R1 tokenizer_config.json.
TEST(TokenizerReference, TokenizerJsonReproduces74CasesWithR1Tokens) {
    // The vocab object is vocab.json's text as it is; merges become ["a", "b"] pairs. The JSON is
    // assembled as text because a 7 MB nlohmann DOM is slow under the sanitizers.
    std::string vocab_text = io_read_file(fixture("qwen2/vocab.json"));
    std::string merges_txt = io_read_file(fixture("qwen2/merges.txt"));
    std::string merges = "[";
    std::istringstream ms(merges_txt);
    for (std::string line; std::getline(ms, line);) {
        if (line.empty() || line.rfind("#version", 0) == 0) continue;
        size_t sp = line.find(' ');
        if (merges.size() > 1) merges += ',';
        merges += "[" + json(line.substr(0, sp)).dump() + "," + json(line.substr(sp + 1)).dump() + "]";
    }
    merges += "]";
    json added = json::array();
    const std::vector<std::tuple<int, std::string, bool>> r1 = {{151643, "<｜end▁of▁sentence｜>", true},
                                                                {151644, "<｜User｜>", false},
                                                                {151645, "<｜Assistant｜>", false},
                                                                {151646, "<｜begin▁of▁sentence｜>", true},
                                                                {151647, "<|EOT|>", false},
                                                                {151648, "<think>", false},
                                                                {151649, "</think>", false}};
    for (const auto& [id, content, special] : r1) {
        added.push_back({{"id", id},
                         {"content", content},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", false},
                         {"special", special}});
    }
    json split = {{"type", "Split"},
                  {"pattern", {{"Regex", pretokenizer_pattern(PRETOKENIZER_QWEN2)}}},
                  {"behavior", "Isolated"},
                  {"invert", false}};
    json byte_level = {
        {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
    json head = {{"version", "1.0"},
                 {"added_tokens", added},
                 {"normalizer", {{"type", "NFC"}}},
                 {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}}},
                 {"decoder", byte_level}};
    json model_head = {{"type", "BPE"},
                       {"dropout", nullptr},
                       {"unk_token", nullptr},
                       {"continuing_subword_prefix", ""},
                       {"end_of_word_suffix", ""},
                       {"fuse_unk", false},
                       {"byte_fallback", false},
                       {"ignore_merges", false}};
    std::string text = head.dump();
    std::string model_text = model_head.dump();
    model_text.pop_back();  // drop '}'
    text.pop_back();
    text += ",\"model\":" + model_text + ",\"vocab\":" + vocab_text + ",\"merges\":" + merges + "}}";
    fs::path dir = fs::temp_directory_path() / ("adabench-tok-r1-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    io_write_file_atomic((dir / "tokenizer.json").string(), text);
    fs::copy_file(fixture("chat_templates/deepseek-r1-distill-qwen-tokenizer_config.json"),
                  dir / "tokenizer_config.json", fs::copy_options::overwrite_existing);
    Tokenizer tok = Tokenizer::load(dir.string());
    fs::remove_all(dir);

    check_reference_cases(tok);
    EXPECT_EQ(tok.bos_id(), 151646);
    EXPECT_EQ(tok.eos_id(), 151643);
    EXPECT_TRUE(tok.add_bos_token());
    EXPECT_EQ(tok.special_token_id("<think>"), 151648);
    EXPECT_EQ(tok.special_token_id("</think>"), 151649);
    // From a public bug report using the R1-Distill-Qwen-1.5B tokenizer.json.
    EXPECT_EQ(tok.encode("<｜begin▁of▁sentence｜><｜User｜>Hello, world!<｜Assistant｜>"),
              (std::vector<int32_t>{151646, 151644, 9707, 11, 1879, 0, 151645}));
    EXPECT_EQ(tok.encode("<think>\nok</think>"), (std::vector<int32_t>{151648, 198, 562, 151649}));
}

}  // namespace
}  // namespace adabench

namespace adabench {
namespace {

// Golden file: [{"text": ..., "ids": [...]}, ...] or {"cases": [...]} (texts: "text" or "input").
void check_golden(const Tokenizer& tok, const json& golden, const std::string& what) {
    const json& cases = golden.is_object() && golden.contains("cases") ? golden["cases"] : golden;
    ASSERT_TRUE(cases.is_array()) << what;
    ASSERT_FALSE(cases.empty()) << what;
    for (const json& c : cases) {
        std::string text = c.contains("text") ? c["text"].get<std::string>() : c["input"].get<std::string>();
        std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(tok.encode(text), want) << what << " text=" << json(text).dump();
        EXPECT_EQ(tok.decode(want), text) << what;
        if (c.contains("tokens")) {
            std::vector<std::string> tokens;
            for (int32_t id : want) tokens.push_back(tok.id_to_token(id));
            EXPECT_EQ(tokens, c["tokens"].get<std::vector<std::string>>()) << what << " text=" << json(text).dump();
        }
    }
}

// A small tokenizer trained and written by the organism's own code (tools/train/organism.py via
// tools/gen_tokenizer_cases.py), with the ids that code's Python encoder produced.
TEST(TokenizerOrganism, MiniTokenizerMatchesOrganismPythonEncoder) {
    Tokenizer tok = Tokenizer::load(fixture("organism_mini"));
    EXPECT_EQ(tok.pretokenizer(), PRETOKENIZER_ORGANISM);
    EXPECT_FALSE(tok.normalizes_nfc());
    EXPECT_EQ(tok.eos_id(), tok.special_token_id("<|im_end|>"));
    EXPECT_GE(tok.special_token_id("</think>"), 0);
    check_golden(tok, io_read_json(fixture("organism_mini_golden.json")), "organism_mini");
    EXPECT_EQ(chat_template_from_model_dir(fixture("organism_mini")).name, "organism");
}

// The real organism (models/organism), once its trainer has written it.
TEST(TokenizerOrganism, ReproducesOrganismGolden) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    std::string root = std::string(env ? env : ADABENCH_SOURCE_DIR) + "/models/organism/";
    if (!io_file_exists(root + "tokenizer_golden.json") || !io_file_exists(root + "base/tokenizer.json")) {
        GTEST_SKIP() << "models/organism/tokenizer_golden.json or base/tokenizer.json not there yet";
    }
    json golden = io_read_json(root + "tokenizer_golden.json");
    if (golden.contains("tokenizer_sha256")) {
        ASSERT_EQ(sha256_file(root + "base/tokenizer.json"), golden["tokenizer_sha256"].get<std::string>())
            << "tokenizer_golden.json was written for another tokenizer.json (rerun tools/train/golden.py)";
    }
    Tokenizer tok = Tokenizer::load(root + "base");
    EXPECT_EQ(tok.pretokenizer(), PRETOKENIZER_ORGANISM);
    if (golden.contains("vocab_size")) {
        EXPECT_EQ(tok.vocab_size(), golden["vocab_size"].get<int>());
    }
    if (golden.contains("special_tokens")) {
        for (auto it = golden["special_tokens"].begin(); it != golden["special_tokens"].end(); ++it) {
            EXPECT_EQ(tok.special_token_id(it.key()), it.value().get<int32_t>()) << it.key();
        }
    }
    EXPECT_EQ(tok.eos_id(), tok.special_token_id("<|im_end|>"));
    check_golden(tok, golden, "models/organism/tokenizer_golden.json");
    EXPECT_EQ(chat_template_from_model_dir(root + "base").name, "organism");
}

// NFC (declared by Qwen2): decomposed input encodes like its composed form; random mixed text
// round-trips through the real vocabulary.
TEST(TokenizerReference, NfcAndRandomRoundTrips) {
    Tokenizer tok = Tokenizer::load(fixture("qwen2"));
    EXPECT_EQ(tok.encode("UNwante\xcc\x81"
                         "d,running"),
              tok.encode("UNwantéd,running"));
    EXPECT_EQ(tok.encode("UNwantéd,running"), (std::vector<int32_t>{1861, 52657, 15083, 11, 27173}));
    std::mt19937 rng(3);
    const std::vector<std::string> atoms = {"The ", "cat",      " 12",           "3", "\n\n", "  ",         "\t",
                                            "'s",   "!!",       "中文",          "😀", "é",    "<|im_end|>", "<think>",
                                            "\xff", "\xe4\xb8", "$\\frac{1}{2}$"};
    for (int iter = 0; iter < 300; ++iter) {
        std::string s;
        for (int i = static_cast<int>(rng() % 20); i > 0; --i) s += atoms[rng() % atoms.size()];
        std::vector<int32_t> ids = tok.encode(s);
        ASSERT_EQ(tok.decode(ids), s) << "iteration " << iter;
    }
}

}  // namespace
}  // namespace adabench
