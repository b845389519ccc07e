// Fast tokenizer tests that need no real vocabulary: pre-tokenizer splits, NFC, UTF-8 decoding,
// BPE on a tiny synthetic tokenizer.json, arbitrary-byte round trips, malformed files.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "engines/tokenizer/pretokenize.h"
#include "engines/tokenizer/tokenizer.h"
#include "engines/tokenizer/unicode.h"

namespace adabench {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> split(PretokenizerKind kind, std::string_view text) {
    std::vector<std::string_view> views;
    pretokenize_split(kind, text, views);
    return std::vector<std::string>(views.begin(), views.end());
}
using Pieces = std::vector<std::string>;

TEST(Pretokenize, Qwen2Alternatives) {
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, ""), Pieces{});
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "Hello world"), (Pieces{"Hello", " world"}));
    // Contractions are case-insensitive in Qwen2.
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "you'RE it's"), (Pieces{"you", "'RE", " it", "'s"}));
    // Numbers one digit at a time; a space before a number stands alone.
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "x 123"), (Pieces{"x", " ", "1", "2", "3"}));
    // Punctuation runs take trailing newlines.
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "a!!\n\nb"), (Pieces{"a", "!!\n\n", "b"}));
    // A non-letter, non-newline character prefixes a word.
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "(foo\tbar"), (Pieces{"(foo", "\tbar"}));
    // Whitespace: runs end at their last newline; the last space of a run joins the next word.
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "a  \n  b"), (Pieces{"a", "  \n", " ", " b"}));
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "   Hello"), (Pieces{"  ", " Hello"}));
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "end   "), (Pieces{"end", "   "}));
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "a \u00a0b"), (Pieces{"a", " ", "\u00a0b"}));
    // Letters and numbers of other scripts.
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "ok٣Ωmega"), (Pieces{"ok", "٣", "Ωmega"}));
    // Invalid UTF-8 bytes are "other" characters and keep their bytes.
    EXPECT_EQ(split(PRETOKENIZER_QWEN2, "a\xff\xfe b"), (Pieces{"a", "\xff\xfe", " b"}));
}

TEST(Pretokenize, OrganismAndGpt2) {
    // Organism: ` ?\p{N}` keeps the space with the first digit.
    EXPECT_EQ(split(PRETOKENIZER_ORGANISM, "x 123"), (Pieces{"x", " 1", "2", "3"}));
    EXPECT_EQ(split(PRETOKENIZER_ORGANISM, "= 42."), (Pieces{"=", " 4", "2", "."}));
    // GPT-2: digit runs, case-sensitive contractions, no newline alternative.
    EXPECT_EQ(split(PRETOKENIZER_GPT2, "x 123 you'RE"), (Pieces{"x", " 123", " you", "'", "RE"}));
    EXPECT_EQ(split(PRETOKENIZER_GPT2, "a  \n  b"), (Pieces{"a", "  \n ", " b"}));
    PretokenizerKind k;
    EXPECT_TRUE(pretokenizer_from_pattern(pretokenizer_pattern(PRETOKENIZER_ORGANISM), &k));
    EXPECT_EQ(k, PRETOKENIZER_ORGANISM);
    EXPECT_FALSE(pretokenizer_from_pattern("\\w+", &k));
}

std::string fixture(const std::string& rel) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    std::string root = env ? env : ADABENCH_SOURCE_DIR;
    return root + "/tests/fixtures/tokenizer/" + rel;
}

// 400 random strings split by the Python `regex` module (tools/gen_tokenizer_cases.py).
TEST(Pretokenize, MatchesPythonRegexModule) {
    json j = io_read_json(fixture("pretokenize_cases.json"));
    ASSERT_EQ(j["cases"].size(), 400u);
    int n = 0;
    for (const json& c : j["cases"]) {
        std::string text = c["text"];
        EXPECT_EQ(split(PRETOKENIZER_QWEN2, text), c["qwen2"].get<Pieces>()) << json(text).dump();
        EXPECT_EQ(split(PRETOKENIZER_ORGANISM, text), c["organism"].get<Pieces>()) << json(text).dump();
        EXPECT_EQ(split(PRETOKENIZER_GPT2, text), c["gpt2"].get<Pieces>()) << json(text).dump();
        ++n;
    }
    EXPECT_EQ(n, 400);
}

TEST(Pretokenize, PiecesAlwaysConcatenateToInput) {
    std::mt19937 rng(7);
    const std::vector<std::string> atoms = {"a", "Z",    " ",        "  ",     "\n",     "\r\n",     "\t",
                                            "1", "'s",   "'LL",      "!",      "é",      "\xcc\x81", "中",
                                            "😀", "\xff", "\xe4\xb8", "\u00a0", "\u3000", "_"};
    for (int iter = 0; iter < 2000; ++iter) {
        std::string s;
        int n = static_cast<int>(rng() % 24);
        for (int i = 0; i < n; ++i) s += atoms[rng() % atoms.size()];
        for (PretokenizerKind kind : {PRETOKENIZER_QWEN2, PRETOKENIZER_ORGANISM, PRETOKENIZER_GPT2}) {
            std::string joined;
            for (const std::string& p : split(kind, s)) {
                ASSERT_FALSE(p.empty());
                joined += p;
            }
            ASSERT_EQ(joined, s) << pretokenizer_name(kind);
        }
    }
}

TEST(Unicode, DecodeUtf8IsLenient) {
    int len;
    EXPECT_EQ(unicode_decode_utf8("é", 0, &len), 0xE9u);
    EXPECT_EQ(len, 2);
    EXPECT_EQ(unicode_decode_utf8("😀", 0, &len), 0x1F600u);
    EXPECT_EQ(len, 4);
    EXPECT_EQ(unicode_decode_utf8("\xe4\xb8", 0, &len), UNICODE_INVALID);  // truncated
    EXPECT_EQ(len, 1);
    EXPECT_EQ(unicode_decode_utf8("\xc0\xaf", 0, &len), UNICODE_INVALID);      // overlong
    EXPECT_EQ(unicode_decode_utf8("\xed\xa0\x80", 0, &len), UNICODE_INVALID);  // surrogate
    EXPECT_EQ(unicode_class('a'), UNICODE_CLASS_LETTER);
    EXPECT_EQ(unicode_class(0x4E2D), UNICODE_CLASS_LETTER);  // 中
    EXPECT_EQ(unicode_class(0x0663), UNICODE_CLASS_NUMBER);  // ٣
    EXPECT_EQ(unicode_class(0x00BD), UNICODE_CLASS_NUMBER);  // ½ (No)
    EXPECT_EQ(unicode_class(0x1F600), UNICODE_CLASS_OTHER);
    EXPECT_EQ(unicode_class(0x31350), UNICODE_CLASS_LETTER);  // CJK Extension H (Unicode 15.0)
    EXPECT_TRUE(unicode_is_whitespace(0x3000));
    EXPECT_FALSE(unicode_is_whitespace(0x200B));  // zero width space is not White_Space
}

// Expected strings from Python's unicodedata.normalize("NFC", ...).
TEST(Unicode, Nfc) {
    EXPECT_EQ(unicode_nfc("e\xcc\x81"), "é");                              // e + U+0301
    EXPECT_EQ(unicode_nfc("A\xcc\x8a\xcc\x81"), "\xc7\xba");               // A ring acute -> U+01FA
    EXPECT_EQ(unicode_nfc("a\xcc\xa3\xcc\x82"), "\xe1\xba\xad");           // reorder-free: U+1EAD
    EXPECT_EQ(unicode_nfc("a\xcc\x82\xcc\xa3"), "\xe1\xba\xad");           // marks reordered by ccc first
    EXPECT_EQ(unicode_nfc("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"), "각");  // Hangul L V T
    EXPECT_EQ(unicode_nfc("\xe2\x84\xab"), "Å");                           // U+212B Angstrom singleton
    EXPECT_EQ(unicode_nfc("\xe0\xa5\x98"), "\xe0\xa4\x95\xe0\xa4\xbc");    // U+0958 is excluded
    EXPECT_EQ(unicode_nfc("\xef\xbd\x9c"), "\xef\xbd\x9c");                // fullwidth | is NFC already
    EXPECT_EQ(unicode_nfc("x\xff\xcc\x81"), "x\xff\xcc\x81");              // invalid byte blocks composing
    EXPECT_FALSE(unicode_nfc_may_change("plain ASCII and 中文 and é"));
    EXPECT_TRUE(unicode_nfc_may_change("e\xcc\x81"));
}

// A tiny byte-level BPE: the 256 byte tokens (ids 0..255 in byte order) plus a few merges.
json tiny_tokenizer_json() {
    // GPT-2 bytes_to_unicode, as in the tokenizer.
    json vocab = json::object();
    int n = 0;
    for (int b = 0; b < 256; ++b) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        uint32_t cp = printable ? b : 256 + n++;
        std::string s;
        unicode_append_utf8(s, cp);
        vocab[s] = b;
    }
    vocab["Ġt"] = 256;
    vocab["he"] = 257;
    vocab["Ġthe"] = 258;
    vocab["aa"] = 259;
    vocab["Ċ"] = 10;  // already there; keeps the byte id
    json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"Ġ t", "h e", "Ġt he", "a a"}}}},
              {"added_tokens", json::array({{{"id", 260}, {"content", "<|end|>"}, {"special", true}},
                                            {{"id", 261}, {"content", "<|end|>x"}, {"special", false}}})},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
              {"decoder", {{"type", "ByteLevel"}}}};
    return j;
}

struct TempDir {
    fs::path path;
    TempDir() {
        static int counter = 0;
        path = fs::temp_directory_path() /
               ("adabench-tok-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~TempDir() { fs::remove_all(path); }
    std::string write(const std::string& name, const std::string& content) const {
        std::string p = (path / name).string();
        io_write_file_atomic(p, content);
        return p;
    }
};

TEST(TokenizerTiny, BpeMergesByRankAndAddedTokens) {
    TempDir d;
    Tokenizer tok = Tokenizer::load(d.write("tokenizer.json", tiny_tokenizer_json().dump()));
    EXPECT_EQ(tok.pretokenizer(), PRETOKENIZER_GPT2);
    EXPECT_FALSE(tok.normalizes_nfc());
    EXPECT_EQ(tok.vocab_size(), 262);
    EXPECT_EQ(tok.encode(" the"), std::vector<int32_t>{258});
    EXPECT_EQ(tok.encode("the"), (std::vector<int32_t>{'t', 257}));
    // Equal ranks merge left to right: "aaa" -> aa a; "aaaa" -> aa aa.
    EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{259, 'a'}));
    EXPECT_EQ(tok.encode("aaaa"), (std::vector<int32_t>{259, 259}));
    // Longest added token first; special ones only with allow_special.
    EXPECT_EQ(tok.encode("<|end|>x<|end|>"), (std::vector<int32_t>{261, 260}));
    EXPECT_EQ(tok.encode("a<|end|>", false).size(), 8u);
    EXPECT_EQ(tok.id_to_token(256), "Ġt");
    EXPECT_EQ(tok.token_to_id("Ġthe"), 258);
    EXPECT_EQ(tok.decode_token(258), " the");
}

TEST(TokenizerTiny, ArbitraryBytesRoundTrip) {
    TempDir d;
    Tokenizer tok = Tokenizer::load(d.write("tokenizer.json", tiny_tokenizer_json().dump()));
    std::mt19937 rng(11);
    for (int iter = 0; iter < 3000; ++iter) {
        std::string s(rng() % 40, '\0');
        for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? "ath <|>\n"[rng() % 8] : rng() % 256);
        std::vector<int32_t> ids = tok.encode(s);
        ASSERT_EQ(tok.decode(ids), s);
        std::string streamed;
        for (int32_t id : ids) streamed += tok.decode_token(id);
        ASSERT_EQ(streamed, s);
    }
    // Long runs stay fast (heap BPE, not quadratic).
    std::string big(200000, 'a');
    EXPECT_EQ(tok.encode(big).size(), 100000u);
}

// Each malformed file gives an Error naming the file and the problem.
void expect_load_error(const std::string& path, const std::string& needle) {
    try {
        Tokenizer::load(path);
        ADD_FAILURE() << "no error for " << path << " (expected '" << needle << "')";
    } catch (const Error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find(needle), std::string::npos) << what;
        EXPECT_NE(what.find(fs::path(path).filename().string()), std::string::npos) << what;
    }
}

TEST(TokenizerTiny, MalformedFilesGiveClearErrors) {
    TempDir d;
    std::string good = tiny_tokenizer_json().dump();
    expect_load_error(d.write("truncated.json", good.substr(0, good.size() / 2)), "truncated.json");
    json j = tiny_tokenizer_json();
    j["model"]["type"] = "WordPiece";
    expect_load_error(d.write("wordpiece.json", j.dump()), "model.type \"WordPiece\" is not supported");
    j = tiny_tokenizer_json();
    j["model"]["merges"].push_back("Ġthe xyz");
    expect_load_error(d.write("badmerge.json", j.dump()), "names \"xyz\", which is not in the vocab");
    j = tiny_tokenizer_json();
    j["model"]["merges"].push_back("t h");  // "th" is not a vocab token
    expect_load_error(d.write("badresult.json", j.dump()), "names \"th\"");
    j = tiny_tokenizer_json();
    j["model"]["merges"].push_back(7);
    expect_load_error(d.write("mergetype.json", j.dump()), "merge 5 must be");
    j = tiny_tokenizer_json();
    j["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           {{{"type", "Split"}, {"pattern", {{"Regex", "\\w+|\\s+"}}}, {"behavior", "Isolated"}},
                            {{"type", "ByteLevel"}, {"use_regex", false}}}}};
    expect_load_error(d.write("pattern.json", j.dump()), "unknown pre-tokenizer split pattern \"\\\\w+|\\\\s+\"");
    j = tiny_tokenizer_json();
    j["model"]["vocab"].erase("A");
    expect_load_error(d.write("nobyte.json", j.dump()), "no token for byte 0x41");
    j = tiny_tokenizer_json();
    j["normalizer"] = {{"type", "Lowercase"}};
    expect_load_error(d.write("norm.json", j.dump()), "normalizer");
    j = tiny_tokenizer_json();
    j["model"]["vocab"]["Ġthe"] = -3;
    expect_load_error(d.write("negid.json", j.dump()), "outside [0,");
    j = tiny_tokenizer_json();
    j["model"]["vocab"]["zz"] = 5;
    expect_load_error(d.write("dupid.json", j.dump()), "vocab id 5 is used by two tokens");
    expect_load_error(d.write("array.json", "[1, 2]"), "no \"model\" object");
    expect_load_error((d.path / "missing-dir").string(), "no such tokenizer file or model directory");
    fs::create_directories(d.path / "empty");
    expect_load_error((d.path / "empty").string(), "no tokenizer.json and no vocab.json + merges.txt");
}

// Mutated and truncated files load or throw adabench::Error: never another exception, a crash or
// a hang (run under the sanitizers in CI).
TEST(TokenizerTiny, MutatedFilesLoadOrThrowError) {
    TempDir d;
    std::string good = tiny_tokenizer_json().dump(1);
    std::string config = R"({"tokenizer_class": "Qwen2Tokenizer", "eos_token": {"content": "<|end|>"},
        "added_tokens_decoder": {"260": {"content": "<|end|>", "special": true}}, "add_bos_token": false})";
    std::mt19937 rng(5);
    const std::string noise = "{}[]\",:0123456789-.e truefalsenull\\u";
    int n_ok = 0, n_error = 0;
    for (int iter = 0; iter < 200; ++iter) {
        std::string t = iter % 2 ? good : config;
        int kind = static_cast<int>(rng() % 3);
        if (kind == 0) {
            t.resize(rng() % t.size());
        } else {
            for (int k = 1 + static_cast<int>(rng() % 4); k > 0; --k) {
                size_t pos = rng() % t.size();
                if (kind == 1) {
                    t[pos] = noise[rng() % noise.size()];
                } else {
                    t.erase(pos, 1 + rng() % 8);
                }
                if (t.empty()) break;
            }
        }
        d.write("tokenizer.json", iter % 2 ? t : good);
        d.write("tokenizer_config.json", iter % 2 ? config : t);
        try {
            Tokenizer tok = Tokenizer::load(d.path.string());
            EXPECT_EQ(tok.decode(tok.encode("the <|end|> aaa")), "the <|end|> aaa");
            ++n_ok;
        } catch (const Error&) {
            ++n_error;
        } catch (const std::exception& e) {
            ADD_FAILURE() << "iteration " << iter << ": not an adabench::Error: " << e.what();
        }
    }
    EXPECT_GT(n_error, 50);
    EXPECT_GT(n_ok, 5);
}

TEST(TokenizerTiny, VocabMergesFilesAndConfig) {
    TempDir d;
    json j = tiny_tokenizer_json();
    d.write("vocab.json", j["model"]["vocab"].dump());
    d.write("merges.txt", "#version: 0.2\nĠ t\nh e\r\nĠt he\na a\n\n");
    d.write("added_tokens.json", R"({"<|end|>": 260})");
    d.write("tokenizer_config.json",
            R"({"tokenizer_class": "Qwen2Tokenizer", "eos_token": {"content": "<|end|>"}, "bos_token": null,
                "added_tokens_decoder": {"261": {"content": "<x>", "special": false}}})");
    Tokenizer tok = Tokenizer::load(d.path.string());
    EXPECT_EQ(tok.pretokenizer(), PRETOKENIZER_QWEN2);
    EXPECT_EQ(tok.eos_id(), 260);
    EXPECT_EQ(tok.bos_id(), -1);
    EXPECT_EQ(tok.encode(" the<x>"), (std::vector<int32_t>{258, 261}));
    EXPECT_TRUE(tok.is_special(260));
    EXPECT_FALSE(tok.is_special(261));

    d.write("merges.txt", "#version: 0.2\nĠ t\nbogus line here\n");
    expect_load_error((d.path / "merges.txt").string(), "merges.txt");  // a file path: loads as tokenizer.json
    try {
        Tokenizer::load(d.path.string());
        ADD_FAILURE() << "bad merges line accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("merges.txt:3: expected two tokens"), std::string::npos) << e.what();
    }
    d.write("merges.txt", "Ġ t\n");
    d.write("tokenizer_config.json", R"({"tokenizer_class": "Qwen2Tokenizer", "eos_token": "<|nope|>"})");
    expect_load_error(d.path.string() + "/", "eos_token \"<|nope|>\" is not a token");
    d.write("tokenizer_config.json", R"({"tokenizer_class": "BertTokenizer"})");
    expect_load_error(d.path.string() + "/", "tokenizer_class \"BertTokenizer\" is not known");
}

}  // namespace
}  // namespace adabench
