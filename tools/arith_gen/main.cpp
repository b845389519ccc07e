// arith_gen: print arith problems (datasets/arith.h) as JSONL on stdout, one problem per line.
// Training data comes from any seed except the reserved test seed and never contains a test
// question; --test prints the shipped test split. It does not tokenize or shuffle.
#include <cstdio>
#include <iostream>
#include <string>

#include "common/error.h"
#include "datasets/arith.h"
#include "harness/cli/args.h"

namespace {

// "3" or "1-8" -> [lo, hi]
void parse_levels(const std::string& text, int& lo, int& hi) {
    size_t dash = text.find('-');
    try {
        size_t used = 0;
        if (dash == std::string::npos) {
            lo = hi = std::stoi(text, &used);
            if (used != text.size()) throw std::invalid_argument(text);
        } else {
            lo = std::stoi(text.substr(0, dash), &used);
            if (used != dash) throw std::invalid_argument(text);
            std::string rest = text.substr(dash + 1);
            hi = std::stoi(rest, &used);
            if (used != rest.size()) throw std::invalid_argument(text);
        }
    } catch (const std::logic_error&) {
        throw adabench::UsageError("arith_gen: --levels '" + text + "' is not N or LO-HI", "e.g. --levels 1-8");
    }
    if (lo < adabench::ARITH_MIN_LEVEL || hi > adabench::ARITH_MAX_LEVEL || lo > hi)
        throw adabench::UsageError("arith_gen: --levels '" + text + "' is outside 1-8");
}

int run(int argc, char** argv) {
    adabench::ArgParser args("arith_gen", "print arith word problems as JSONL");
    args.option("seed", "N", "training seed (any but the test seed " + std::to_string(adabench::ARITH_TEST_SEED) + ")")
        .option("levels", "LO-HI", "levels to generate, e.g. 1-8 (default 1-8)")
        .option("count", "N", "problems per level (default 10)")
        .option("style", "long|short|both|none", "which traces to include (default both)")
        .flag("test", "print the shipped test split (seed and counts fixed)");
    if (!args.parse(argc, argv, 1)) return 0;
    std::string style = args.get("style", "both");
    if (style != "long" && style != "short" && style != "both" && style != "none")
        throw adabench::UsageError("arith_gen: --style must be long, short, both or none, not '" + style + "'");
    bool with_long = style == "long" || style == "both";
    bool with_short = style == "short" || style == "both";
    if (args.has("test")) {
        for (const auto& p : adabench::arith_generate_test_split())
            std::cout << adabench::arith_format_jsonl(p, with_long, with_short) << '\n';
        return 0;
    }
    if (!args.has("seed")) throw adabench::UsageError("arith_gen: --seed is required (or --test)");
    long seed = args.get_int("seed", 0);
    if (seed < 0) throw adabench::UsageError("arith_gen: --seed must be >= 0");
    long count = args.get_int("count", 10);
    if (count < 0 || count > 10000000) throw adabench::UsageError("arith_gen: --count must be in 0..10000000");
    int lo = 1, hi = 8;
    parse_levels(args.get("levels", "1-8"), lo, hi);
    for (int level = lo; level <= hi; ++level)
        for (const auto& p :
             adabench::arith_generate_training(static_cast<uint64_t>(seed), level, static_cast<int>(count)))
            std::cout << adabench::arith_format_jsonl(p, with_long, with_short) << '\n';
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const adabench::UsageError& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
