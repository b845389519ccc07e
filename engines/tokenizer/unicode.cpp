// Unicode helpers: UTF-8 decoding, L/N classes, White_Space, NFC (see unicode.h).
#include "engines/tokenizer/unicode.h"

#include <algorithm>
#include <vector>

namespace adabench {
namespace {

struct UnicodeRange {
    uint32_t first;
    uint32_t last;
    uint8_t value;
};
struct UnicodeDecomposition {
    uint32_t cp;
    uint32_t to[4];  // zero-padded
};
struct UnicodeComposition {
    uint32_t first;
    uint32_t second;
    uint32_t composite;
};

#include "unicode_tables.inc"

template <size_t N>
uint8_t range_lookup(const UnicodeRange (&table)[N], uint32_t cp) {
    const UnicodeRange* end = table + N;
    const UnicodeRange* it =
        std::upper_bound(table, end, cp, [](uint32_t c, const UnicodeRange& r) { return c < r.first; });
    if (it == table) return 0;
    --it;
    return cp <= it->last ? it->value : 0;
}

// Invalid bytes travel through NFC as these markers: never composed, class "starter".
constexpr uint32_t RAW_BYTE_FLAG = 0x80000000u;

constexpr uint32_t HANGUL_S_BASE = 0xAC00, HANGUL_L_BASE = 0x1100, HANGUL_V_BASE = 0x1161, HANGUL_T_BASE = 0x11A7;
constexpr uint32_t HANGUL_L_COUNT = 19, HANGUL_V_COUNT = 21, HANGUL_T_COUNT = 28;
constexpr uint32_t HANGUL_N_COUNT = HANGUL_V_COUNT * HANGUL_T_COUNT, HANGUL_S_COUNT = HANGUL_L_COUNT * HANGUL_N_COUNT;

uint8_t combining_class(uint32_t cp) {
    if (cp < 0x300 || (cp & RAW_BYTE_FLAG)) return 0;
    return range_lookup(k_ccc_ranges, cp);
}

void decompose_into(uint32_t cp, std::vector<uint32_t>& out) {
    if (cp >= HANGUL_S_BASE && cp < HANGUL_S_BASE + HANGUL_S_COUNT) {
        uint32_t s = cp - HANGUL_S_BASE;
        out.push_back(HANGUL_L_BASE + s / HANGUL_N_COUNT);
        out.push_back(HANGUL_V_BASE + (s % HANGUL_N_COUNT) / HANGUL_T_COUNT);
        if (s % HANGUL_T_COUNT != 0) out.push_back(HANGUL_T_BASE + s % HANGUL_T_COUNT);
        return;
    }
    const auto* end = k_decompositions + std::size(k_decompositions);
    const auto* it =
        std::lower_bound(k_decompositions, end, cp, [](const UnicodeDecomposition& d, uint32_t c) { return d.cp < c; });
    if (it != end && it->cp == cp) {
        for (uint32_t c : it->to) {
            if (c != 0) out.push_back(c);
        }
        return;
    }
    out.push_back(cp);
}

uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= HANGUL_L_BASE && a < HANGUL_L_BASE + HANGUL_L_COUNT && b >= HANGUL_V_BASE &&
        b < HANGUL_V_BASE + HANGUL_V_COUNT) {
        return HANGUL_S_BASE + ((a - HANGUL_L_BASE) * HANGUL_V_COUNT + (b - HANGUL_V_BASE)) * HANGUL_T_COUNT;
    }
    if (a >= HANGUL_S_BASE && a < HANGUL_S_BASE + HANGUL_S_COUNT && (a - HANGUL_S_BASE) % HANGUL_T_COUNT == 0 &&
        b > HANGUL_T_BASE && b < HANGUL_T_BASE + HANGUL_T_COUNT) {
        return a + (b - HANGUL_T_BASE);
    }
    const auto* end = k_compositions + std::size(k_compositions);
    const auto* it = std::lower_bound(k_compositions, end, std::make_pair(a, b),
                                      [](const UnicodeComposition& c, const std::pair<uint32_t, uint32_t>& key) {
                                          return c.first != key.first ? c.first < key.first : c.second < key.second;
                                      });
    if (it != end && it->first == a && it->second == b) return it->composite;
    return 0;
}

}  // namespace

uint32_t unicode_decode_utf8(std::string_view s, size_t i, int* len) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
    size_t left = s.size() - i;
    unsigned char c = p[0];
    *len = 1;
    if (c < 0x80) return c;
    int n;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return UNICODE_INVALID;
    }
    if (left < static_cast<size_t>(n)) return UNICODE_INVALID;
    for (int k = 1; k < n; ++k) {
        if ((p[k] & 0xC0) != 0x80) return UNICODE_INVALID;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid like any other bad byte.
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return UNICODE_INVALID;
    *len = n;
    return cp;
}

void unicode_append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

UnicodeClass unicode_class(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return UNICODE_CLASS_LETTER;
        if (cp >= '0' && cp <= '9') return UNICODE_CLASS_NUMBER;
        return UNICODE_CLASS_OTHER;
    }
    if (cp == UNICODE_INVALID) return UNICODE_CLASS_OTHER;
    return static_cast<UnicodeClass>(range_lookup(k_letter_number_ranges, cp));
}

bool unicode_is_whitespace(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

bool unicode_nfc_may_change(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0xCC) {  // every code point below U+0300 is NFC-stable
            ++i;
            continue;
        }
        int len;
        uint32_t cp = unicode_decode_utf8(s, i, &len);
        if (cp != UNICODE_INVALID && range_lookup(k_nfc_unstable_ranges, cp)) return true;
        i += len;
    }
    return false;
}

std::string unicode_nfc(std::string_view s) {
    if (!unicode_nfc_may_change(s)) return std::string(s);
    // 1. Full canonical decomposition.
    std::vector<uint32_t> units;
    units.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        int len;
        uint32_t cp = unicode_decode_utf8(s, i, &len);
        if (cp == UNICODE_INVALID) {
            units.push_back(RAW_BYTE_FLAG | static_cast<unsigned char>(s[i]));
        } else {
            decompose_into(cp, units);
        }
        i += len;
    }
    // 2. Canonical ordering: stable sort of each run of non-starters by combining class.
    for (size_t i = 1; i < units.size(); ++i) {
        uint8_t c = combining_class(units[i]);
        if (c == 0) continue;
        size_t j = i;
        while (j > 0 && combining_class(units[j - 1]) > c) {
            std::swap(units[j], units[j - 1]);
            --j;
        }
    }
    // 3. Canonical composition.
    std::vector<uint32_t> out;
    out.reserve(units.size());
    long starter = -1;
    uint8_t last_ccc = 0;
    for (uint32_t u : units) {
        uint8_t ccc = combining_class(u);
        if (starter >= 0) {
            bool adjacent = out.size() == static_cast<size_t>(starter) + 1;
            bool blocked = !adjacent && (last_ccc == 0 || last_ccc >= ccc);
            if (!blocked) {
                uint32_t comp = compose_pair(out[starter], u);
                if (comp != 0) {
                    out[starter] = comp;
                    continue;
                }
            }
        }
        if (ccc == 0) starter = static_cast<long>(out.size());
        last_ccc = ccc;
        out.push_back(u);
    }
    std::string result;
    result.reserve(s.size());
    for (uint32_t u : out) {
        if (u & RAW_BYTE_FLAG) {
            result += static_cast<char>(u & 0xFF);
        } else {
            unicode_append_utf8(result, u);
        }
    }
    return result;
}

const char* unicode_version() { return ADABENCH_UNICODE_VERSION; }

}  // namespace adabench
