// arith: the synthetic word-problem task of the bundled model organism (models/organism/).
// A problem has a starting amount and `level` monthly changes (add or subtract a single digit),
// all values in 0..99, so depth is the difficulty. Each problem carries two reasoning traces: LONG
// writes every step (and re-checks the last one), SHORT writes only the last step.
// Generation is a pure function of (seed, level, index) through our own splitmix64, so the same
// seed gives the same problems on every platform. It does not tokenize, grade or write files.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace adabench {

inline constexpr int ARITH_MIN_LEVEL = 1;
inline constexpr int ARITH_MAX_LEVEL = 8;
inline constexpr int ARITH_MAX_VALUE = 99;
// The seed of the shipped test split (datasets/data/arith_test.jsonl); training never uses it.
inline constexpr uint64_t ARITH_TEST_SEED = 20261122;
inline constexpr int ARITH_TEST_COUNT_PER_LEVEL = 50;

enum ArithOpKind { ARITH_OP_ADD, ARITH_OP_SUB };

struct ArithStep {
    ArithOpKind kind = ARITH_OP_ADD;
    int operand = 0;  // k in "+ k", "- k" (2..9)
    int result = 0;   // the value after this step
};

struct ArithProblem {
    std::string id;  // "arith-s<seed>-l<level>-<index>"
    int level = 0;   // number of steps
    std::string question;
    int answer = 0;
    int start = 0;                 // the starting amount
    std::vector<ArithStep> steps;  // level entries
    std::string long_trace;        // thinking text, every line ends with '\n'
    std::string short_trace;
};

// count problems of one level (1..8); throws Error for a bad level or a negative count.
std::vector<ArithProblem> arith_generate(uint64_t seed, int level, int count);
// Like arith_generate, but skips any problem whose question is in the test split, so training data
// can never contain a test question (the seed alone already makes overlap unlikely).
std::vector<ArithProblem> arith_generate_training(uint64_t seed, int level, int count);
// The shipped test split: levels 1..8, ARITH_TEST_COUNT_PER_LEVEL each, seed ARITH_TEST_SEED.
std::vector<ArithProblem> arith_generate_test_split();
// Recomputes the answer from start and steps; throws Error if a step is out of range or wrong.
int arith_check_problem(const ArithProblem& p);
// One JSON object (one JSONL line, no newline): id, level, question, answer, start, values, and
// long_trace / short_trace when asked for.
std::string arith_format_jsonl(const ArithProblem& p, bool with_long, bool with_short);
// FNV-1a 64 of the question text, used to prove that splits do not overlap.
uint64_t arith_hash_question(const std::string& question);

}  // namespace adabench
