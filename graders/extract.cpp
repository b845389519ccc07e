// graders/extract.cpp: find the final answer in the answer text (thinking already stripped).
// Strict pipeline: only explicit answer markers (\boxed{}, and for GSM8K "#### N" and "The answer
// is N"). Flexible pipeline: \boxed{}, "Final Answer:", "the answer is", "####", markdown bold,
// the last inline math (MATH), then the last number. A miss is "[invalid]", never an exception.
// Everything is linear in the text: RE2 (no backtracking) and single-pass scanners; no recursion.
#include <re2/re2.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "graders/grader.h"
#include "graders/internal.h"

namespace adabench {
namespace {

// Longest text kept after a marker such as "The answer is": answers are short, prose is not.
constexpr size_t MAX_SEGMENT = 1000;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && is_space(s[b])) ++b;
    while (e > b && is_space(s[e - 1])) --e;
    return std::string(s.substr(b, e - b));
}

// Position of the last match of re in text (start, end), or npos.
std::pair<size_t, size_t> find_last(std::string_view text, const RE2& re) {
    re2::StringPiece input(text.data(), text.size());
    re2::StringPiece m;
    size_t start = std::string::npos, end = std::string::npos;
    size_t pos = 0;
    while (pos <= text.size() && re.Match(input, pos, text.size(), RE2::UNANCHORED, &m, 1)) {
        start = static_cast<size_t>(m.data() - text.data());
        end = start + m.size();
        pos = end > start ? end : end + 1;
    }
    return {start, end};
}

// The answer written right after a marker: a $...$ / \(...\) / \[...\] group when it opens with
// one, else the rest of the line (skipping blank lines), cut at the end of the sentence.
std::string segment_after(std::string_view text, size_t pos) {
    while (pos < text.size() && (is_space(text[pos]) || text[pos] == '*' || text[pos] == ':')) ++pos;
    std::string_view rest = text.substr(pos, MAX_SEGMENT);
    auto group = [&](std::string_view open, std::string_view close) -> std::optional<std::string> {
        if (rest.substr(0, open.size()) != open) return std::nullopt;
        size_t e = rest.find(close, open.size());
        if (e == std::string_view::npos) return std::nullopt;
        return trim(rest.substr(open.size(), e - open.size()));
    };
    for (auto [o, c] :
         {std::pair<std::string_view, std::string_view>{"$$", "$$"}, {"$", "$"}, {"\\[", "\\]"}, {"\\(", "\\)"}})
        if (auto g = group(o, c)) return *g;
    size_t e = rest.find('\n');
    std::string_view line = rest.substr(0, e);
    // A sentence ends at ". " or a final "."; a decimal point has a digit after it.
    for (size_t i = 0; i < line.size(); ++i)
        if (line[i] == '.' && (i + 1 == line.size() || is_space(line[i + 1]))) {
            line = line.substr(0, i);
            break;
        }
    std::string out = trim(line);
    // Strip markdown bold and surrounding math delimiters of a short answer.
    while (out.size() >= 4 && out.rfind("**", 0) == 0 && out.compare(out.size() - 2, 2, "**") == 0)
        out = trim(std::string_view(out).substr(2, out.size() - 4));
    if (out.size() >= 2 && out.front() == '$' && out.back() == '$') {
        size_t k = 0;
        while (k < out.size() / 2 && out[k] == '$' && out[out.size() - 1 - k] == '$') ++k;
        out = trim(std::string_view(out).substr(k, out.size() - 2 * k));
    }
    return out;
}

std::optional<std::string> extract_marker(std::string_view text, const RE2& re) {
    auto [s, e] = find_last(text, re);
    if (s == std::string::npos) return std::nullopt;
    std::string seg = segment_after(text, e);
    if (seg.empty()) return std::nullopt;
    if (auto b = grader_find_last_boxed(seg)) return *b;
    return seg;
}

std::optional<std::string> extract_hashes(std::string_view text) {
    size_t p = text.rfind("####");
    if (p == std::string_view::npos) return std::nullopt;
    size_t b = p + 4;
    size_t e = text.find('\n', b);
    std::string seg = trim(text.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
    if (seg.size() > MAX_SEGMENT) seg.resize(MAX_SEGMENT);
    if (seg.empty()) return std::nullopt;
    return seg;
}

// The last number in text (sign, thousands commas, decimals), scanned from the end.
std::optional<std::string> extract_last_number(std::string_view text) {
    size_t i = text.size();
    while (i > 0 && !is_digit(text[i - 1])) --i;
    if (i == 0) return std::nullopt;
    size_t end = i;
    size_t b = i;
    while (b > 0 && b > end - MAX_SEGMENT) {
        char c = text[b - 1];
        if (is_digit(c)) {
            --b;
        } else if ((c == ',' || c == '.') && b >= 2 && is_digit(text[b - 2])) {
            --b;
        } else {
            break;
        }
    }
    if (b > 0 && text[b - 1] == '.') --b;  // ".5"
    if (b > 0 && text[b - 1] == '-') --b;
    std::string num(text.substr(b, end - b));
    // A comma directly after the number is punctuation, not part of it.
    while (!num.empty() && (num.back() == ',' || num.back() == '.')) num.pop_back();
    if (num.empty() || num == "-") return std::nullopt;
    return num;
}

// The last $...$, \(...\) or \[...\] group; when it is an equation, the part after the last '='.
std::optional<std::string> extract_last_math(std::string_view text) {
    size_t best_start = std::string::npos, best_end = 0;
    std::string_view best;
    // $...$ pairs: scan left to right pairing dollars (a $$ counts as one delimiter).
    size_t open = std::string::npos;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '$' || (i > 0 && text[i - 1] == '\\')) continue;
        size_t j = i;
        while (j + 1 < text.size() && text[j + 1] == '$') ++j;
        if (open == std::string::npos) {
            open = j + 1;
        } else {
            if (i > open && (best_start == std::string::npos || i > best_end)) {
                best_start = open;
                best_end = i;
                best = text.substr(open, i - open);
            }
            open = std::string::npos;
        }
        i = j;
    }
    for (auto [o, c] : {std::pair<std::string_view, std::string_view>{"\\(", "\\)"}, {"\\[", "\\]"}}) {
        size_t ce = text.rfind(c);
        if (ce == std::string_view::npos) continue;
        size_t os = text.rfind(o, ce);
        if (os == std::string_view::npos) continue;
        if (best_start == std::string::npos || ce > best_end) {
            best_start = os + o.size();
            best_end = ce;
            best = text.substr(best_start, ce - best_start);
        }
    }
    if (best_start == std::string::npos) return std::nullopt;
    if (best.size() > MAX_SEGMENT) best = best.substr(best.size() - MAX_SEGMENT);
    // Take the right-hand side of a top-level '=' (outside braces).
    int depth = 0;
    size_t eq = std::string_view::npos;
    for (size_t i = 0; i < best.size(); ++i) {
        char c = best[i];
        if (c == '{' || c == '(' || c == '[') ++depth;
        if (c == '}' || c == ')' || c == ']') --depth;
        if (c == '=' && depth == 0) eq = i;
    }
    if (eq != std::string_view::npos) best = best.substr(eq + 1);
    std::string out = trim(best);
    if (out.empty()) return std::nullopt;
    return out;
}

std::optional<std::string> extract_bold(std::string_view text) {
    static const RE2 re(R"(\*\*([^*\n]{1,200})\*\*)");
    re2::StringPiece input(text.data(), text.size());
    re2::StringPiece m[2];
    std::optional<std::string> last;
    size_t pos = 0;
    while (pos < text.size() && re.Match(input, pos, text.size(), RE2::UNANCHORED, m, 2)) {
        std::string inner = trim(std::string_view(m[1].data(), m[1].size()));
        // Headings such as "**Final Answer:**" are labels, not answers.
        if (!inner.empty() && inner.back() != ':') last = inner;
        pos = static_cast<size_t>(m[0].data() - text.data()) + m[0].size();
    }
    if (!last) return std::nullopt;
    if (auto b = grader_find_last_boxed(*last)) return *b;
    std::string s = *last;
    if (s.size() >= 2 && s.front() == '$' && s.back() == '$') s = trim(std::string_view(s).substr(1, s.size() - 2));
    return s;
}

const RE2& final_answer_re() {
    static const RE2 re(R"((?i)final\s+answer\s*(?:\*\*)?\s*(?:is|:|=)?\s*(?:\*\*)?\s*:?)");
    return re;
}
const RE2& answer_is_re() {
    static const RE2 re(R"((?i)\banswer\s*(?:\*\*)?\s*(?:is|:|=)\s*(?:\*\*)?\s*:?)");
    return re;
}
const RE2& gsm8k_answer_is_re() {
    static const RE2 re(R"((?i)the answer is\s*)");
    return re;
}

}  // namespace

std::optional<std::string> grader_find_last_boxed(std::string_view text) {
    // Positions of each "\boxed" / "\fbox" command, then one pass that matches every brace.
    std::vector<std::pair<size_t, size_t>> cmds;  // (command start, position after the name)
    for (std::string_view name : {std::string_view("\\boxed"), std::string_view("\\fbox")}) {
        size_t p = text.find(name);
        while (p != std::string_view::npos) {
            size_t after = p + name.size();
            if (after >= text.size() || !is_alpha(text[after])) cmds.push_back({p, after});
            p = text.find(name, after);
        }
    }
    if (cmds.empty()) return std::nullopt;
    size_t first = text.size();
    for (auto& c : cmds) first = std::min(first, c.first);
    std::vector<uint32_t> match(text.size() - first, UINT32_MAX);
    std::vector<uint32_t> stack;
    for (size_t i = first; i < text.size(); ++i) {
        char c = text[i];
        if ((c == '{' || c == '}') && i > 0 && text[i - 1] == '\\' && !(i > 1 && text[i - 2] == '\\')) continue;
        if (c == '{') {
            stack.push_back(static_cast<uint32_t>(i - first));
        } else if (c == '}' && !stack.empty()) {
            match[stack.back()] = static_cast<uint32_t>(i - first);
            stack.pop_back();
        }
    }
    std::sort(cmds.begin(), cmds.end());
    for (size_t k = cmds.size(); k-- > 0;) {
        size_t i = cmds[k].second;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        if (i >= text.size()) continue;
        if (text[i] == '{') {
            uint32_t close = match[i - first];
            if (close == UINT32_MAX) continue;
            std::string inner = trim(text.substr(i + 1, close + first - i - 1));
            if (!inner.empty()) return inner;
            continue;
        }
        if (i == cmds[k].second) continue;  // "\boxedx": not the command
        // "\boxed 5": one token up to whitespace or '$'.
        size_t e = i;
        while (e < text.size() && !is_space(text[e]) && text[e] != '$') ++e;
        std::string tok(text.substr(i, e - i));
        while (!tok.empty() && (tok.back() == '.' || tok.back() == ',')) tok.pop_back();
        if (!tok.empty()) return tok;
    }
    return std::nullopt;
}

std::string grader_extract(const std::string& text, GraderDataset dataset, GraderPipeline pipeline) {
    if (auto b = grader_find_last_boxed(text)) return *b;
    if (pipeline == GRADER_PIPELINE_STRICT) {
        if (dataset == GRADER_DATASET_GSM8K) {
            if (auto h = extract_hashes(text)) return *h;
            if (auto a = extract_marker(text, gsm8k_answer_is_re())) return *a;
        }
        return grader_invalid();
    }
    // Whichever explicit marker comes last wins: "the answer is 3 ... Final Answer: 4" is 4.
    auto [fs, fe] = find_last(text, final_answer_re());
    auto [as, ae] = find_last(text, answer_is_re());
    std::vector<std::pair<size_t, size_t>> marks;
    if (fs != std::string::npos) marks.push_back({fs, fe});
    if (as != std::string::npos) marks.push_back({as, ae});
    std::sort(marks.begin(), marks.end(), [](auto& a, auto& b) { return a.first > b.first; });
    for (auto& [s, e] : marks) {
        std::string seg = segment_after(text, e);
        if (seg.empty()) continue;
        if (auto b = grader_find_last_boxed(seg)) return *b;
        return seg;
    }
    if (auto h = extract_hashes(text)) return *h;
    if (auto b = extract_bold(text)) return *b;
    if (dataset == GRADER_DATASET_MATH) {
        if (auto m = extract_last_math(text)) return *m;
    }
    if (auto n = extract_last_number(text)) return *n;
    return grader_invalid();
}

std::string grader_extract_gold(const std::string& gold) {
    if (gold.find("####") != std::string::npos) {
        if (auto h = extract_hashes(gold)) return *h;
    }
    if (gold.find("\\boxed") != std::string::npos || gold.find("\\fbox") != std::string::npos) {
        if (auto b = grader_find_last_boxed(gold)) return *b;
    }
    return trim(gold);
}

}  // namespace adabench
