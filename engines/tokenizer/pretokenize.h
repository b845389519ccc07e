// Pre-tokenizers of byte-level BPE tokenizers: split text into the pieces BPE runs on.
//
// Hand-written scanners equivalent to the split regexes (RE2 has no look-ahead and std::regex is
// slow and not Unicode-aware), over Unicode classes from engines/tokenizer/unicode.h:
//   QWEN2:    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
//   ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ ORGANISM: the QWEN2 pattern with \p{N} replaced by ` ?\p{N}` (the
//   bundled model organism) GPT2:     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Pieces are byte ranges of the input: invalid UTF-8 bytes are kept, each as a one-byte "other"
// character, so the pieces always concatenate back to the input. Not here: normalisation, added
// tokens, the byte-to-unicode mapping (engines/tokenizer/tokenizer.cpp).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace adabench {

enum PretokenizerKind {
    PRETOKENIZER_QWEN2,
    PRETOKENIZER_ORGANISM,
    PRETOKENIZER_GPT2,
};

const char* pretokenizer_name(PretokenizerKind kind);     // "qwen2", "organism", "gpt2"
const char* pretokenizer_pattern(PretokenizerKind kind);  // the regex it implements
// The kind whose regex is exactly `pattern`; false when none is.
bool pretokenizer_from_pattern(const std::string& pattern, PretokenizerKind* kind);

// Appends the pieces of text (views into text) to pieces.
void pretokenize_split(PretokenizerKind kind, std::string_view text, std::vector<std::string_view>& pieces);

}  // namespace adabench
