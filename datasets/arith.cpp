// arith generator: word problems and their LONG/SHORT traces (see arith.h). The wording is kept
// regular on purpose: every sentence opens with its month ("In March, ...") so a tiny model can
// find what to copy, and every LONG/SHORT trace line first restates the problem's sentence for its
// step ("In March, Mia sells 5.") and then the equation with its operands ("So 55 - 5 = 50."), so the
// sign of a step is read from a verb a few tokens back and a step is a copy plus a lookup. Randomness is splitmix64 with modulo reduction, never <random>
// distributions, whose output differs between standard libraries.
#include "datasets/arith.h"

#include <array>
#include <string_view>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace adabench {
namespace {

constexpr std::array<std::string_view, 20> k_names = {"Sam",  "Mia", "Leo",  "Ava",  "Tom",  "Zoe",  "Ben",
                                                      "Lily", "Max", "Emma", "Jack", "Nora", "Owen", "Ruby",
                                                      "Finn", "Ivy", "Noah", "Ella", "Luke", "Grace"};
constexpr std::array<std::string_view, 10> k_items = {"coins",  "apples", "stamps",  "marbles",  "books",
                                                      "shells", "cards",  "pencils", "stickers", "beads"};
constexpr std::array<std::string_view, 8> k_months = {"January", "February", "March", "April",
                                                      "May",     "June",     "July",  "August"};
constexpr std::array<std::string_view, 4> k_add_verbs = {"gets", "finds", "buys", "receives"};
constexpr std::array<std::string_view, 4> k_sub_verbs = {"loses", "gives away", "sells", "uses"};

struct Rng {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    // Uniform enough for data generation; modulo keeps it identical on every platform.
    int range(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<uint64_t>(hi - lo + 1)); }
};

uint64_t mix_seed(uint64_t seed, int level, int index) {
    Rng r{seed};
    uint64_t a = r.next();
    Rng r2{a ^ (static_cast<uint64_t>(level) * 0xD1B54A32D192ED03ULL)};
    uint64_t b = r2.next();
    Rng r3{b ^ (static_cast<uint64_t>(index) * 0x8CB92BA72F3D8DD7ULL)};
    return r3.next();
}

ArithStep pick_step(Rng& rng, int value) {
    // Single-digit operands keep a step learnable by a tiny model (units digit plus at most a carry);
    // depth, not operand size, is the difficulty. Results stay in 0..99.
    int k = rng.range(2, 9);
    bool add = rng.range(0, 1) == 0;
    if (add && value + k > ARITH_MAX_VALUE) add = false;
    if (!add && value - k < 0) add = true;
    return add ? ArithStep{ARITH_OP_ADD, k, value + k} : ArithStep{ARITH_OP_SUB, k, value - k};
}

std::string step_sentence(const ArithStep& s, std::string_view month, std::string_view name, Rng& rng) {
    std::string verb(s.kind == ARITH_OP_ADD ? k_add_verbs[rng.range(0, 3)] : k_sub_verbs[rng.range(0, 3)]);
    return "In " + std::string(month) + ", " + std::string(name) + " " + verb + " " + std::to_string(s.operand) +
           (s.kind == ARITH_OP_ADD ? " more." : ".");
}

std::string step_equation(int value, const ArithStep& s) {
    return std::to_string(value) + (s.kind == ARITH_OP_ADD ? " + " : " - ") + std::to_string(s.operand) + " = " +
           std::to_string(s.result);
}

ArithProblem make_problem(uint64_t seed, int level, int index) {
    Rng rng{mix_seed(seed, level, index)};
    ArithProblem p;
    p.id = "arith-s" + std::to_string(seed) + "-l" + std::to_string(level) + "-" + std::to_string(index);
    p.level = level;
    std::string n(k_names[rng.range(0, static_cast<int>(k_names.size()) - 1)]);
    std::string it(k_items[rng.range(0, static_cast<int>(k_items.size()) - 1)]);
    p.start = rng.range(10, 89);
    p.question = n + " has " + std::to_string(p.start) + " " + it + ".";
    p.long_trace = "Start: " + std::to_string(p.start) + ".\n";
    int value = p.start;
    for (int i = 0; i < level; ++i) {
        ArithStep s = pick_step(rng, value);
        std::string month(k_months[i]);
        std::string sentence = step_sentence(s, month, n, rng);
        p.question += " " + sentence;
        std::string line = sentence + " So " + step_equation(value, s) + ".\n";
        p.long_trace += line;
        if (i == level - 1) {
            p.short_trace = line;
            // A deterministic re-check of the last step (greedy decoding never reproduces random
            // ones), so LONG carries redundant tokens the way real long chains of thought do.
            p.long_trace += "Wait, let me check: " + step_equation(value, s) + ". Yes.\n";
        }
        value = s.result;
        p.steps.push_back(s);
    }
    p.question += " How many " + it + " does " + n + " have at the end?";
    p.long_trace += "So " + n + " has " + std::to_string(value) + " " + it + ".\n";
    p.answer = value;
    return p;
}

void check_args(int level, int count) {
    if (level < ARITH_MIN_LEVEL || level > ARITH_MAX_LEVEL)
        throw Error("arith: level " + std::to_string(level) + " is out of range",
                    "levels are 1.." + std::to_string(ARITH_MAX_LEVEL));
    if (count < 0) throw Error("arith: count " + std::to_string(count) + " is negative");
}

const std::unordered_set<uint64_t>& test_question_hashes() {
    static const std::unordered_set<uint64_t> hashes = [] {
        std::unordered_set<uint64_t> h;
        for (const ArithProblem& p : arith_generate_test_split()) h.insert(arith_hash_question(p.question));
        return h;
    }();
    return hashes;
}

}  // namespace

std::vector<ArithProblem> arith_generate(uint64_t seed, int level, int count) {
    check_args(level, count);
    std::vector<ArithProblem> out;
    out.reserve(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) out.push_back(make_problem(seed, level, i));
    return out;
}

std::vector<ArithProblem> arith_generate_training(uint64_t seed, int level, int count) {
    if (seed == ARITH_TEST_SEED)
        throw Error("arith: seed " + std::to_string(seed) + " is reserved for the test split",
                    "pick any other training seed");
    check_args(level, count);
    const auto& test = test_question_hashes();
    std::vector<ArithProblem> out;
    out.reserve(static_cast<size_t>(count));
    for (int i = 0; static_cast<int>(out.size()) < count; ++i) {
        ArithProblem p = make_problem(seed, level, i);
        if (test.count(arith_hash_question(p.question)) == 0) out.push_back(std::move(p));
    }
    return out;
}

std::vector<ArithProblem> arith_generate_test_split() {
    std::vector<ArithProblem> out;
    for (int level = ARITH_MIN_LEVEL; level <= ARITH_MAX_LEVEL; ++level) {
        std::vector<ArithProblem> part = arith_generate(ARITH_TEST_SEED, level, ARITH_TEST_COUNT_PER_LEVEL);
        out.insert(out.end(), part.begin(), part.end());
    }
    return out;
}

int arith_check_problem(const ArithProblem& p) {
    if (static_cast<int>(p.steps.size()) != p.level)
        throw Error("arith: problem " + p.id + " has " + std::to_string(p.steps.size()) + " steps for level " +
                    std::to_string(p.level));
    int value = p.start;
    for (const ArithStep& s : p.steps) {
        int expect = s.kind == ARITH_OP_ADD   ? value + s.operand
                     : s.kind == ARITH_OP_SUB ? value - s.operand
                                              : value * s.operand;
        if (expect != s.result || expect < 0 || expect > ARITH_MAX_VALUE)
            throw Error("arith: problem " + p.id + " has a wrong or out-of-range step result " +
                        std::to_string(s.result));
        value = expect;
    }
    if (value != p.answer) throw Error("arith: problem " + p.id + " answer does not match its steps");
    return value;
}

std::string arith_format_jsonl(const ArithProblem& p, bool with_long, bool with_short) {
    nlohmann::ordered_json j;
    j["id"] = p.id;
    j["level"] = p.level;
    j["question"] = p.question;
    j["answer"] = p.answer;
    j["start"] = p.start;
    std::vector<int> values{p.start};
    for (const ArithStep& s : p.steps) values.push_back(s.result);
    j["values"] = values;
    if (with_long) j["long_trace"] = p.long_trace;
    if (with_short) j["short_trace"] = p.short_trace;
    return j.dump();
}

uint64_t arith_hash_question(const std::string& question) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : question) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

}  // namespace adabench
