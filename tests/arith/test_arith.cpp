// Tests for the arith generator (datasets/arith.h): pinned literal problems (cross-platform
// determinism), level = number of steps, answers recomputed independently from the question text,
// traces, the training/test split separation, and the shipped test JSONL.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/sha256.h"
#include "datasets/arith.h"

namespace adabench {
namespace {

std::string source_dir() {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return env ? env : ADABENCH_SOURCE_DIR;
}

std::vector<std::string> split(const std::string& s, const std::string& sep) {
    std::vector<std::string> out;
    size_t pos = 0;
    for (;;) {
        size_t next = s.find(sep, pos);
        if (next == std::string::npos) {
            out.push_back(s.substr(pos));
            return out;
        }
        out.push_back(s.substr(pos, next - pos));
        pos = next + sep.size();
    }
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// Solves a problem from its question text alone (not from the generator's structure), so a
// generator whose text and answer disagree fails here.
int solve_from_text(const std::string& q, int* n_steps) {
    std::vector<std::string> sentences = split(q, ". ");
    std::istringstream first(sentences.at(0));
    std::string name, has;
    int value = -1;
    first >> name >> has >> value;
    EXPECT_EQ(has, "has") << q;
    *n_steps = 0;
    for (size_t i = 1; i < sentences.size(); ++i) {
        const std::string& s = sentences[i];
        if (!starts_with(s, "In ")) {
            EXPECT_TRUE(starts_with(s, "How many ")) << s;
            continue;
        }
        std::string rest = s.substr(s.find(", ") + 2 + name.size() + 1);  // after "In May, Name "
        ++*n_steps;
        auto number_after = [&](const std::string& verb) { return std::stoi(rest.substr(verb.size() + 1)); };
        bool done = false;
        for (const char* v : {"gets", "finds", "buys", "receives"})
            if (!done && starts_with(rest, v)) value += number_after(v), done = true;
        for (const char* v : {"loses", "gives away", "sells", "uses"})
            if (!done && starts_with(rest, v)) value -= number_after(v), done = true;
        EXPECT_TRUE(done) << "unknown verb in: " << s;
        EXPECT_GE(value, 0) << q;
        EXPECT_LE(value, ARITH_MAX_VALUE) << q;
    }
    return value;
}

TEST(arith, PinnedProblems) {
    // Literal expectations: these change only if the generator changes (bump the task version).
    auto l1 = arith_generate(42, 1, 2);
    EXPECT_EQ(l1[0].id, "arith-s42-l1-0");
    EXPECT_EQ(l1[0].question,
              "Jack has 86 stamps. In January, Jack gives away 9. How many stamps does Jack have at the end?");
    EXPECT_EQ(l1[0].answer, 77);
    EXPECT_EQ(l1[0].long_trace,
              "Start: 86.\nIn January, Jack gives away 9. So 86 - 9 = 77.\nWait, let me check: 86 - 9 = 77. Yes.\nSo Jack has 77 stamps.\n");
    EXPECT_EQ(l1[0].short_trace, "In January, Jack gives away 9. So 86 - 9 = 77.\n");
    EXPECT_EQ(l1[1].question,
              "Grace has 64 shells. In January, Grace gives away 3. How many shells does Grace have at the end?");
    EXPECT_EQ(l1[1].answer, 61);
    auto l8 = arith_generate(42, 8, 1);
    EXPECT_EQ(l8[0].answer, 10);
    std::vector<int> values{l8[0].start};
    for (const auto& s : l8[0].steps) values.push_back(s.result);
    EXPECT_EQ(values, (std::vector<int>{63, 59, 54, 48, 39, 30, 24, 18, 10}));
}

TEST(arith, Deterministic) {
    for (int level = 1; level <= 8; ++level) {
        auto a = arith_generate(7, level, 20), b = arith_generate(7, level, 20);
        ASSERT_EQ(a.size(), 20u);
        for (size_t i = 0; i < a.size(); ++i) {
            EXPECT_EQ(a[i].question, b[i].question);
            EXPECT_EQ(a[i].long_trace, b[i].long_trace);
        }
        // A prefix of a larger request is the same problems (index-addressed, not a stream).
        auto c = arith_generate(7, level, 5);
        for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(a[i].question, c[i].question);
    }
    EXPECT_NE(arith_generate(7, 3, 1)[0].question, arith_generate(8, 3, 1)[0].question);
}

TEST(arith, LevelIsNumberOfStepsAndAnswersAreCorrect) {
    for (int level = 1; level <= 8; ++level) {
        for (const ArithProblem& p : arith_generate(1234, level, 200)) {
            ASSERT_EQ(p.level, level);
            ASSERT_EQ(static_cast<int>(p.steps.size()), level);
            EXPECT_EQ(arith_check_problem(p), p.answer);
            int n_steps = 0;
            EXPECT_EQ(solve_from_text(p.question, &n_steps), p.answer) << p.question;
            EXPECT_EQ(n_steps, level) << p.question;
        }
    }
}

TEST(arith, TracesWriteEveryStepLongAndOnlyTheLastShort) {
    for (const ArithProblem& p : arith_generate(99, 6, 50)) {
        std::vector<std::string> lines = split(p.long_trace, "\n");
        ASSERT_EQ(lines.back(), "");  // every line ends with a newline
        int n_step_lines = 0, n_checks = 0;
        for (const auto& l : lines) {
            n_step_lines += starts_with(l, "In ");
            n_checks += starts_with(l, "Wait, let me check: ");
        }
        EXPECT_EQ(n_step_lines, 6);
        EXPECT_EQ(n_checks, 1);  // a deterministic re-check of the last step
        EXPECT_EQ(lines[lines.size() - 3], "Wait, let me check: " + lines[lines.size() - 4].substr(lines[lines.size() - 4].find(" So ") + 4) + " Yes.");
        // Every intermediate value is written out.
        for (const auto& s : p.steps)
            EXPECT_NE(p.long_trace.find("= " + std::to_string(s.result) + ".\n"), std::string::npos);
        EXPECT_EQ(lines[lines.size() - 2].find("So "), 0u);
        EXPECT_NE(lines[lines.size() - 2].find(" " + std::to_string(p.answer) + " "), std::string::npos);
        // SHORT is exactly LONG's last step line.
        EXPECT_NE(p.long_trace.find(p.short_trace), std::string::npos);
        EXPECT_TRUE(starts_with(p.short_trace, "In June, "));
        // Each step line restates the problem's own sentence for that step.
        EXPECT_NE(p.question.find(p.short_trace.substr(0, p.short_trace.find(" So "))), std::string::npos);
        EXPECT_EQ(split(p.short_trace, "\n").size(), 2u);
    }
}

TEST(arith, TrainingSeedsDoNotOverlapTestSplit) {
    std::set<uint64_t> test;
    for (const ArithProblem& p : arith_generate_test_split()) test.insert(arith_hash_question(p.question));
    ASSERT_EQ(test.size(), 400u);  // the test split has no duplicates either
    // The seeds the trainer uses (tools/train/train.py: stage seed + chunk index).
    for (uint64_t seed : {100000ull, 100001ull, 200000ull, 300000ull, 400000ull, 500000ull, 7ull, 999ull}) {
        for (int level = 1; level <= 8; ++level)
            for (const ArithProblem& p : arith_generate_training(seed, level, 300))
                EXPECT_EQ(test.count(arith_hash_question(p.question)), 0u) << p.question;
    }
    // The check can fail: the test seed itself produces test questions, and is refused for training.
    EXPECT_EQ(test.count(arith_hash_question(arith_generate(ARITH_TEST_SEED, 2, 1)[0].question)), 1u);
    EXPECT_THROW(arith_generate_training(ARITH_TEST_SEED, 1, 1), Error);
}

TEST(arith, ShippedTestSplitMatchesGenerator) {
    std::string path = source_dir() + "/datasets/data/arith_test.jsonl";
    std::ifstream f(path);
    ASSERT_TRUE(f) << "cannot open " << path;
    std::string expect;
    for (const ArithProblem& p : arith_generate_test_split()) expect += arith_format_jsonl(p, false, false) + "\n";
    std::stringstream got;
    got << f.rdbuf();
    EXPECT_EQ(got.str(), expect) << "regenerate with: arith_gen --test --style none > " << path;
    // The task config pins this digest; a generator change must bump it and the task version.
    EXPECT_EQ(sha256_hex(expect), "7049910c509dc80f0324b2302b4bfbd2da8babd9bb7af32078de76bb190f272b");
}

TEST(arith, BadArgumentsAreErrors) {
    EXPECT_THROW(arith_generate(1, 0, 1), Error);
    EXPECT_THROW(arith_generate(1, 9, 1), Error);
    EXPECT_THROW(arith_generate(1, 3, -1), Error);
    EXPECT_TRUE(arith_generate(1, 3, 0).empty());
    ArithProblem p = arith_generate(1, 3, 1)[0];
    p.steps[1].result += 1;
    EXPECT_THROW(arith_check_problem(p), Error);
    p = arith_generate(1, 3, 1)[0];
    p.steps.pop_back();
    EXPECT_THROW(arith_check_problem(p), Error);
}

TEST(arith, JsonlFields) {
    ArithProblem p = arith_generate(42, 1, 1)[0];
    EXPECT_EQ(arith_format_jsonl(p, false, false),
              "{\"id\":\"arith-s42-l1-0\",\"level\":1,\"question\":\"Jack has 86 stamps. In January, Jack gives away "
              "9. How many stamps does Jack have at the end?\",\"answer\":77,\"start\":86,\"values\":[86,77]}");
    EXPECT_NE(arith_format_jsonl(p, true, true).find("\"short_trace\":\"In January, Jack gives away 9. So 86 - 9 = 77.\\n\""),
              std::string::npos);
}

}  // namespace
}  // namespace adabench
