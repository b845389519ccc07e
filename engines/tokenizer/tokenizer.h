// Byte-level BPE tokenizer (GPT-2 / Qwen2 family), loaded from a Hugging Face model directory.
//
// Reads `tokenizer.json` (model.type "BPE", byte-level pre-tokenizer and decoder, NFC normalizer
// when declared) or `vocab.json` + `merges.txt` (+ `added_tokens.json`), and in both cases
// `tokenizer_config.json` for the bos/eos tokens and added tokens. Encoding: added tokens are split
// out first (longest match), the rest is NFC-normalised (when declared), pre-tokenized
// (engines/tokenizer/pretokenize.h) and merged by rank with a per-piece cache. Decoding concatenates each
// token's raw bytes; invalid UTF-8 from partial tokens is kept as bytes, never an error.
// Not supported (clear error at load): WordPiece/Unigram models, byte fallback, subword prefixes,
// other normalizers and split patterns. Added tokens' lstrip/rstrip/single_word flags are ignored
// (all false in the Qwen family).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engines/tokenizer/pretokenize.h"

namespace adabench {

struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool special = false;  // special tokens are treated as text when encode(..., allow_special=false)
};

struct TokenizerImpl;

class Tokenizer {
public:
    // A model directory (tokenizer.json, else vocab.json + merges.txt) or a tokenizer.json path.
    // tokenizer_config.json next to it is read when present. Throws adabench::Error.
    static Tokenizer load(const std::string& path);
    // Explicit files (config_path may be empty).
    static Tokenizer load_tokenizer_json(const std::string& tokenizer_json_path, const std::string& config_path = "");
    static Tokenizer load_vocab_merges(const std::string& vocab_path, const std::string& merges_path,
                                       const std::string& config_path = "", const std::string& added_tokens_path = "");

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // Text to ids. Never adds bos/eos (chat templates write them as text). With allow_special
    // false, special added tokens are encoded as ordinary text (non-special ones still match).
    std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const;
    // Ids to text: the concatenated raw bytes of the tokens. Ids without a token (negative, past
    // the end, or the padded embedding rows of a model) decode to nothing, as in HF.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;
    // The raw bytes of one token (may be a partial UTF-8 sequence); empty for ids without a token.
    const std::string& decode_token(int32_t id) const;

    // Vocabulary form ("Ġthe", byte-level characters) or an added token's content; -1 if unknown.
    int32_t token_to_id(std::string_view token) const;
    std::string id_to_token(int32_t id) const;  // empty for ids without a token
    // Largest token id + 1 (regular and added tokens).
    int vocab_size() const;

    int32_t bos_id() const;      // -1 when the model has none
    int32_t eos_id() const;      // -1 when none is configured
    bool add_bos_token() const;  // tokenizer_config.json add_bos_token (a hint to callers)
    // Added token by its exact text ("<think>", "<|im_end|>"); -1 if there is none.
    int32_t special_token_id(std::string_view text) const;
    bool is_special(int32_t id) const;
    const std::vector<AddedToken>& added_tokens() const;

    PretokenizerKind pretokenizer() const;
    bool normalizes_nfc() const;
    const std::string& source() const;  // the file it was loaded from, for messages

    // Drops the per-piece BPE cache (benchmarks measure cold and warm encoding).
    void clear_cache() const;

    // The pieces BPE runs on (after added-token splitting and normalisation), for tests and tools.
    std::vector<std::string> pretokenize(std::string_view text) const;

private:
    explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
    std::unique_ptr<TokenizerImpl> impl_;
};

// Throws when the tokenizer has ids at or past the model's embedding rows (`model_vocab_size`,
// from `model_config`, named in the message): such ids would be fed to the model out of range or
// never come out of it (#20 D11).
void tokenizer_check_model_vocab(const Tokenizer& t, int model_vocab_size, const std::string& model_config);

}  // namespace adabench
