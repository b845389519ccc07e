// Pre-tokenizer scanners (see pretokenize.h). Each scanner mirrors its regex alternative by
// alternative, in order, so the first alternative that matches wins, as in a backtracking engine.
#include "engines/tokenizer/pretokenize.h"

#include <cstdint>

#include "engines/tokenizer/unicode.h"

namespace adabench {
namespace {

const char* const k_pattern_qwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const k_pattern_organism =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const k_pattern_gpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum : uint8_t {
    CH_LETTER = 1,
    CH_NUMBER = 2,
    CH_SPACE = 4,    // White_Space
    CH_NEWLINE = 8,  // \r or \n
};

// The text as code points: flags per character and its byte offset (offsets has n + 1 entries).
struct Chars {
    std::vector<uint32_t> cps;
    std::vector<uint8_t> flags;
    std::vector<uint32_t> offsets;
    size_t n = 0;

    explicit Chars(std::string_view s) {
        cps.reserve(s.size());
        flags.reserve(s.size());
        offsets.reserve(s.size() + 1);
        for (size_t i = 0; i < s.size();) {
            int len;
            uint32_t cp = unicode_decode_utf8(s, i, &len);
            uint8_t f = 0;
            UnicodeClass c = unicode_class(cp);
            if (c == UNICODE_CLASS_LETTER) f |= CH_LETTER;
            if (c == UNICODE_CLASS_NUMBER) f |= CH_NUMBER;
            if (cp != UNICODE_INVALID && unicode_is_whitespace(cp)) f |= CH_SPACE;
            if (cp == '\r' || cp == '\n') f |= CH_NEWLINE;
            cps.push_back(cp);
            flags.push_back(f);
            offsets.push_back(static_cast<uint32_t>(i));
            i += len;
        }
        n = cps.size();
        offsets.push_back(static_cast<uint32_t>(s.size()));
    }
    bool letter(size_t i) const { return i < n && (flags[i] & CH_LETTER); }
    bool number(size_t i) const { return i < n && (flags[i] & CH_NUMBER); }
    bool space(size_t i) const { return i < n && (flags[i] & CH_SPACE); }
    bool newline(size_t i) const { return i < n && (flags[i] & CH_NEWLINE); }
    // [^\s\p{L}\p{N}]
    bool other(size_t i) const { return i < n && !(flags[i] & (CH_LETTER | CH_NUMBER | CH_SPACE)); }
    bool is(size_t i, uint32_t cp) const { return i < n && cps[i] == cp; }
};

// Case-insensitive ASCII letter test for (?i:...). Unicode case folding also maps U+017F (long s)
// to 's'; no other character folds to a letter of the contractions.
bool fold_is(uint32_t cp, char lower, bool ignore_case) {
    if (!ignore_case) return cp == static_cast<uint32_t>(lower);
    if (cp < 0x80) return (cp | 0x20) == static_cast<uint32_t>(lower) && cp >= 'A';
    return lower == 's' && cp == 0x17F;
}

// 's|'t|'re|'ve|'m|'ll|'d at i: the match length in characters, 0 when none.
size_t match_contraction(const Chars& c, size_t i, bool ignore_case) {
    if (!c.is(i, '\'') || i + 1 >= c.n) return 0;
    uint32_t a = c.cps[i + 1];
    for (char x : {'s', 't', 'm', 'd'}) {
        if (fold_is(a, x, ignore_case)) return 2;
    }
    if (i + 2 >= c.n) return 0;
    uint32_t b = c.cps[i + 2];
    static const char* const two[] = {"re", "ve", "ll"};
    for (const char* t : two) {
        if (fold_is(a, t[0], ignore_case) && fold_is(b, t[1], ignore_case)) return 3;
    }
    return 0;
}

// The whitespace alternatives. Qwen2: \s*[\r\n]+|\s+(?!\S)|\s+ ; GPT-2: \s+(?!\S)|\s+ .
size_t match_whitespace(const Chars& c, size_t i, bool newline_alternative) {
    size_t e = i;
    while (c.space(e)) ++e;
    if (e == i) return 0;
    if (newline_alternative) {
        // \s* backtracks to the last newline of the run; [\r\n]+ then ends right after it.
        for (size_t p = e; p > i; --p) {
            if (c.newline(p - 1)) return p - i;
        }
    }
    if (e == c.n) return e - i;       // \s+(?!\S) at the end of the text
    if (e - 1 > i) return e - 1 - i;  // leave the last space to prefix the next word
    return 1;                         // \s+
}

size_t match_qwen2(const Chars& c, size_t i, bool organism) {
    if (size_t m = match_contraction(c, i, true)) return m;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    size_t j = i;
    if (!c.letter(j) && !c.newline(j) && !c.number(j)) ++j;
    if (c.letter(j)) {
        while (c.letter(j)) ++j;
        return j - i;
    }
    // \p{N}  (organism: ` ?\p{N}`)
    if (c.number(i)) return 1;
    if (organism && c.is(i, ' ') && c.number(i + 1)) return 2;
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    j = c.is(i, ' ') ? i + 1 : i;
    if (c.other(j)) {
        while (c.other(j)) ++j;
        while (c.newline(j)) ++j;
        return j - i;
    }
    if (size_t m = match_whitespace(c, i, true)) return m;
    return 1;  // unreachable: every character is a letter, number, space or other
}

size_t match_gpt2(const Chars& c, size_t i) {
    if (size_t m = match_contraction(c, i, false)) return m;
    size_t j = c.is(i, ' ') ? i + 1 : i;
    if (c.letter(j)) {
        while (c.letter(j)) ++j;
        return j - i;
    }
    if (c.number(j)) {
        while (c.number(j)) ++j;
        return j - i;
    }
    if (c.other(j)) {
        while (c.other(j)) ++j;
        return j - i;
    }
    if (size_t m = match_whitespace(c, i, false)) return m;
    return 1;
}

}  // namespace

const char* pretokenizer_name(PretokenizerKind kind) {
    switch (kind) {
        case PRETOKENIZER_QWEN2:
            return "qwen2";
        case PRETOKENIZER_ORGANISM:
            return "organism";
        case PRETOKENIZER_GPT2:
            return "gpt2";
    }
    return "?";
}

const char* pretokenizer_pattern(PretokenizerKind kind) {
    switch (kind) {
        case PRETOKENIZER_QWEN2:
            return k_pattern_qwen2;
        case PRETOKENIZER_ORGANISM:
            return k_pattern_organism;
        case PRETOKENIZER_GPT2:
            return k_pattern_gpt2;
    }
    return "";
}

bool pretokenizer_from_pattern(const std::string& pattern, PretokenizerKind* kind) {
    for (PretokenizerKind k : {PRETOKENIZER_QWEN2, PRETOKENIZER_ORGANISM, PRETOKENIZER_GPT2}) {
        if (pattern == pretokenizer_pattern(k)) {
            *kind = k;
            return true;
        }
    }
    return false;
}

void pretokenize_split(PretokenizerKind kind, std::string_view text, std::vector<std::string_view>& pieces) {
    if (text.empty()) return;
    Chars c(text);
    for (size_t i = 0; i < c.n;) {
        size_t m = kind == PRETOKENIZER_GPT2 ? match_gpt2(c, i) : match_qwen2(c, i, kind == PRETOKENIZER_ORGANISM);
        pieces.push_back(text.substr(c.offsets[i], c.offsets[i + m] - c.offsets[i]));
        i += m;
    }
}

}  // namespace adabench
