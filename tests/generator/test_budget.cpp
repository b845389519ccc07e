// BudgetController on hand-written token streams: every rule of ARCHITECTURE.md "Budget semantics"
// (and the definitions in engines/generation/budget.h) with literal counts.
#include <gtest/gtest.h>

#include "common/error.h"
#include "engines/generation/budget.h"
#include "tests/generator/mock_backend.h"

namespace adabench {
namespace {

using testing::MockText;

enum : int32_t {
    EOS = 0,
    BEGIN = 1,  // "<think>"
    END = 2,    // "</think>"
    NL = 3,
    SP = 4,
    A = 5,
    B = 6,
    C = 7,
    D = 8,
    E = 9,
    WAIT = 10,
    FINAL = 11,  // "**Final Answer:**"
    LT_SLASH = 12,
    THINK_GT = 13,
    X = 14,
    STOP = 15,
};

std::vector<std::string> table() {
    return {"<eos>", "<think>", "</think>",          "\n", " ",      "a", "b",   "c", "d",
            "e",     "Wait",    "**Final Answer:**", "</", "think>", "x", "STOP"};
}

// Same vocabulary without a single "</think>" token: the end marker must be found by text.
std::vector<std::string> split_table() {
    auto t = table();
    t[END] = "zz";
    return t;
}

GenerateRequest request(bool opens = true) {
    GenerateRequest r;
    r.prompt_ids = {A, B, C};
    r.prompt_opens_thinking = opens;
    r.budget.forced_text = "\n</think>\n\n**Final Answer:**\n\n";
    r.max_tokens = 100;
    return r;
}

struct Ctl {
    MockText text{table()};
    BudgetSpec spec;
    std::unique_ptr<BudgetController> ctl;
    Ctl(const GenerateRequest& r, int budget, std::vector<std::string> t = table()) : text(std::move(t)) {
        spec = budget_make_spec(r, budget, text, {EOS});
        ctl = std::make_unique<BudgetController>(spec, text);
    }
};

TEST(Budget, MarkersResolveToIdsWhenSingleTokens) {
    Ctl r(request(), -1);
    EXPECT_EQ(r.spec.think_end.id, END);
    EXPECT_EQ(r.spec.think_begin.id, BEGIN);
    Ctl s(request(), -1, split_table());
    EXPECT_EQ(s.spec.think_end.id, -1);  // "</" "think>": text detection
    EXPECT_EQ(r.spec.n_tokens_prompt, 3);
}

TEST(Budget, NaturalEndOfThinking) {
    Ctl r(request(), -1);
    auto& c = *r.ctl;
    EXPECT_TRUE(c.thinking());
    for (int32_t t : {A, B}) EXPECT_TRUE(c.accept(t).feed_token);
    EXPECT_TRUE(c.accept(END).feed_token);
    EXPECT_EQ(c.phase(), BUDGET_PHASE_ANSWER);
    EXPECT_TRUE(c.accept(C).feed_token);
    auto o = c.accept(EOS);
    EXPECT_TRUE(o.finished);
    EXPECT_FALSE(o.feed_token);
    auto res = c.result();
    EXPECT_EQ(res.output_ids, (std::vector<int32_t>{A, B, END, C, EOS}));
    EXPECT_EQ(res.text, "ab</think>c");  // EOS is not text
    EXPECT_EQ(res.n_tokens_prompt, 3);
    EXPECT_EQ(res.n_tokens_think, 2);
    EXPECT_EQ(res.n_tokens_answer, 3);
    EXPECT_EQ(res.finish_reason, FINISH_REASON_EOS);
    EXPECT_FALSE(res.forced);
    EXPECT_FALSE(res.censored);
    EXPECT_EQ(res.think_budget, -1);
}

TEST(Budget, HardCutForcesAtTheBudgetThenAnswerBudget) {
    auto req = request();
    req.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    req.budget.answer_budget = 2;
    Ctl r(req, 2);
    auto& c = *r.ctl;
    EXPECT_EQ(r.spec.forced_ids, (std::vector<int32_t>{NL, END, NL, NL, FINAL, NL, NL}));
    EXPECT_EQ(c.next_action(), BUDGET_ACTION_SAMPLE);
    c.accept(A);
    EXPECT_EQ(c.next_action(), BUDGET_ACTION_SAMPLE);
    c.accept(B);
    EXPECT_EQ(c.next_action(), BUDGET_ACTION_FORCE_END);
    auto feed = c.force_end();
    EXPECT_EQ(feed, r.spec.forced_ids);
    EXPECT_EQ(c.next_action(), BUDGET_ACTION_SAMPLE);
    c.accept(D);
    auto o = c.accept(E);
    EXPECT_TRUE(o.finished);
    auto res = c.result();
    EXPECT_EQ(res.n_tokens_think, 2);
    EXPECT_EQ(res.n_tokens_answer, 7 + 2);
    EXPECT_EQ(res.finish_reason, FINISH_REASON_ANSWER_BUDGET);
    EXPECT_TRUE(res.forced);
    EXPECT_FALSE(res.censored);
    EXPECT_EQ(res.think_budget, 2);
    EXPECT_EQ(res.text, "ab\n</think>\n\n**Final Answer:**\n\nde");
}

TEST(Budget, ForcedThenEosIsThinkBudgetAndAnEmptyAnswerIsCensored) {
    auto req = request();
    req.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    Ctl r(req, 1);
    auto& c = *r.ctl;
    c.accept(A);
    c.force_end();
    c.accept(EOS);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_THINK_BUDGET);
    EXPECT_TRUE(res.forced);
    EXPECT_TRUE(res.censored);  // only the forced prefix, nothing sampled after it
}

TEST(Budget, ZeroBudgetAndZeroAnswerBudget) {
    auto req = request();
    req.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    req.budget.answer_budget = 0;
    Ctl r(req, 0);
    auto& c = *r.ctl;
    EXPECT_EQ(c.next_action(), BUDGET_ACTION_FORCE_END);
    c.force_end();
    EXPECT_EQ(c.next_action(), BUDGET_ACTION_DONE);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_ANSWER_BUDGET);
    EXPECT_EQ(res.n_tokens_think, 0);
    EXPECT_EQ(res.n_tokens_answer, 7);
    EXPECT_TRUE(res.censored);
}

TEST(Budget, MechanismsOtherThanHardCutNeverForce) {
    for (auto m : {BUDGET_MECHANISM_NONE, BUDGET_MECHANISM_PROMPT}) {
        auto req = request();
        req.budget.mechanism = m;
        Ctl r(req, 1);
        for (int i = 0; i < 5; ++i) {
            EXPECT_EQ(r.ctl->next_action(), BUDGET_ACTION_SAMPLE);
            r.ctl->accept(A);
        }
        EXPECT_FALSE(r.ctl->result().forced);
    }
}

TEST(Budget, NeverClosedIsCensoredMaxTokens) {
    auto req = request();
    req.max_tokens = 3;
    Ctl r(req, -1);
    r.ctl->accept(A);
    r.ctl->accept(B);
    EXPECT_TRUE(r.ctl->accept(C).finished);
    auto res = r.ctl->result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_MAX_TOKENS);
    EXPECT_TRUE(res.censored);
    EXPECT_EQ(res.n_tokens_think, 3);
    EXPECT_EQ(res.n_tokens_answer, 0);
}

TEST(Budget, ClosedWithOnlyWhitespaceAfterIsCensored) {
    Ctl r(request(), -1);
    r.ctl->accept(A);
    r.ctl->accept(END);
    r.ctl->accept(NL);
    r.ctl->accept(EOS);
    auto res = r.ctl->result();
    EXPECT_TRUE(res.censored);
    EXPECT_EQ(res.finish_reason, FINISH_REASON_EOS);
}

TEST(Budget, MinThinkReplacesAnEarlyEndWithWait) {
    auto req = request();
    req.budget.min_think = 3;
    req.budget.max_waits = 1;
    Ctl r(req, -1);
    auto& c = *r.ctl;
    EXPECT_TRUE(c.may_wait());
    c.accept(A);
    auto o = c.accept(END);
    EXPECT_TRUE(o.wait);
    EXPECT_FALSE(o.feed_token);
    EXPECT_EQ(o.keep_output, 1);
    EXPECT_EQ(o.wait_tokens, (std::vector<int32_t>{WAIT}));
    EXPECT_EQ(c.output_ids(), (std::vector<int32_t>{A, WAIT}));
    EXPECT_EQ(c.n_think(), 2);
    EXPECT_FALSE(c.may_wait());  // max_waits used up
    c.accept(B);
    // Still under min_think, but no waits left: the end is accepted.
    auto o2 = c.accept(END);
    EXPECT_FALSE(o2.wait);
    EXPECT_EQ(c.phase(), BUDGET_PHASE_ANSWER);
    c.accept(C);
    c.accept(EOS);
    auto res = c.result();
    EXPECT_EQ(res.n_wait, 1);
    EXPECT_EQ(res.n_tokens_think, 3);  // a Wait b
    EXPECT_EQ(res.text, "aWaitb</think>c");
}

TEST(Budget, WaitIsCutToFitTheThinkingBudget) {
    auto req = request();
    req.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    req.budget.min_think = 10;
    req.budget.max_waits = 2;
    req.budget.wait_text = "Wait ab";  // 4 tokens: Wait, " ", a, b
    Ctl r(req, 3);
    auto& c = *r.ctl;
    c.accept(A);
    auto o = c.accept(END);
    ASSERT_TRUE(o.wait);
    EXPECT_EQ(o.wait_tokens, (std::vector<int32_t>{WAIT, SP}));
    EXPECT_EQ(c.n_think(), 3);
    EXPECT_EQ(c.next_action(), BUDGET_ACTION_FORCE_END);
}

TEST(Budget, EndMarkerFoundByTextWhenItIsSeveralTokens) {
    Ctl r(request(), -1, split_table());
    auto& c = *r.ctl;
    c.accept(A);
    c.accept(B);
    c.accept(LT_SLASH);
    EXPECT_TRUE(c.thinking());
    c.accept(THINK_GT);
    EXPECT_EQ(c.phase(), BUDGET_PHASE_ANSWER);
    c.accept(C);
    c.accept(EOS);
    auto res = c.result();
    EXPECT_EQ(res.n_tokens_think, 2);
    EXPECT_EQ(res.n_tokens_answer, 4);  // "</" "think>" c EOS
    EXPECT_FALSE(res.censored);
}

TEST(Budget, TextMarkerWaitDropsTheMarkerTokens) {
    auto req = request();
    req.budget.min_think = 5;
    req.budget.max_waits = 1;
    Ctl r(req, -1, split_table());
    auto& c = *r.ctl;
    c.accept(A);
    c.accept(LT_SLASH);
    auto o = c.accept(THINK_GT);
    ASSERT_TRUE(o.wait);
    EXPECT_EQ(o.keep_output, 1);  // the cache is cut back to the prompt + "a"
    EXPECT_EQ(c.output_ids(), (std::vector<int32_t>{A, WAIT}));
    EXPECT_EQ(c.result().text, "aWait");
}

TEST(Budget, ModelOpensThinkingItself) {
    Ctl r(request(false), -1);
    auto& c = *r.ctl;
    EXPECT_EQ(c.phase(), BUDGET_PHASE_PRE);
    c.accept(BEGIN);
    EXPECT_TRUE(c.thinking());
    c.accept(A);
    c.accept(END);
    c.accept(B);
    c.accept(EOS);
    auto res = c.result();
    EXPECT_EQ(res.n_tokens_think, 2);  // <think> a
    EXPECT_EQ(res.n_tokens_answer, 3);
    EXPECT_FALSE(res.censored);
}

TEST(Budget, NoThinkingSegmentMeansEverythingIsAnswer) {
    Ctl r(request(false), -1);
    auto& c = *r.ctl;
    c.accept(NL);  // leading whitespace keeps the question open
    EXPECT_EQ(c.phase(), BUDGET_PHASE_PRE);
    c.accept(A);
    EXPECT_EQ(c.phase(), BUDGET_PHASE_ANSWER);
    c.accept(B);
    c.accept(EOS);
    auto res = c.result();
    EXPECT_EQ(res.n_tokens_think, 0);
    EXPECT_EQ(res.n_tokens_answer, 4);
    EXPECT_FALSE(res.censored);
}

TEST(Budget, ThinkBeginByText) {
    // "<" "think>" with no single "<think>" token: the begin marker is matched by text.
    auto t = table();
    t[BEGIN] = "<";
    auto req = request(false);
    req.budget.think_begin = "<think>";
    Ctl r(req, -1, t);
    EXPECT_EQ(r.spec.think_begin.id, -1);
    auto& c = *r.ctl;
    c.accept(BEGIN);
    EXPECT_EQ(c.phase(), BUDGET_PHASE_PRE);
    c.accept(THINK_GT);
    EXPECT_TRUE(c.thinking());
}

TEST(Budget, StopStringsEndTheTextBeforeTheMatch) {
    auto req = request();
    req.stop = {"cd", "STOP"};
    Ctl r(req, -1);
    auto& c = *r.ctl;
    c.accept(A);
    c.accept(END);
    c.accept(B);
    c.accept(C);
    auto o = c.accept(D);  // "cd" spans two tokens
    EXPECT_TRUE(o.finished);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_STOP);
    EXPECT_EQ(res.text, "a</think>b");
    EXPECT_EQ(res.output_ids, (std::vector<int32_t>{A, END, B, C, D}));
}

TEST(Budget, StopAfterForcedEndIsThinkBudget) {
    auto req = request();
    req.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    req.stop = {"STOP"};
    Ctl r(req, 1);
    auto& c = *r.ctl;
    c.accept(A);
    c.force_end();
    c.accept(X);
    EXPECT_TRUE(c.accept(STOP).finished);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_THINK_BUDGET);
    EXPECT_EQ(res.text, "a\n</think>\n\n**Final Answer:**\n\nx");
    EXPECT_FALSE(res.censored);
}

TEST(Budget, InvalidSpecsAreErrors) {
    MockText text(table());
    auto req = request();
    EXPECT_THROW(budget_make_spec(req, -5, text, {EOS}), Error);
    auto bad = req;
    bad.max_tokens = 0;
    EXPECT_THROW(budget_make_spec(bad, -1, text, {EOS}), Error);
    bad = req;
    bad.budget.min_think = 4;
    bad.budget.max_waits = 1;
    bad.budget.wait_text = "";
    EXPECT_THROW(budget_make_spec(bad, -1, text, {EOS}), Error);
    bad = req;
    bad.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    bad.budget.forced_text = "";
    EXPECT_THROW(budget_make_spec(bad, 4, text, {EOS}), Error);
    bad = req;
    bad.stop = {""};
    EXPECT_THROW(budget_make_spec(bad, -1, text, {EOS}), Error);
    bad = req;
    bad.budget.answer_budget = -1;
    EXPECT_THROW(budget_make_spec(bad, -1, text, {EOS}), Error);
    bad = req;
    bad.budget.think_end = "";
    EXPECT_THROW(budget_make_spec(bad, -1, text, {EOS}), Error);
}

TEST(Budget, AcceptAfterFinishIsAnError) {
    Ctl r(request(), -1);
    r.ctl->accept(EOS);
    EXPECT_THROW(r.ctl->accept(A), Error);
}

// vLLM's stop_token_ids: the id ends the sequence like an EOS (kept in output_ids, not in the
// text) with finish reason stop and matched_stop_id set.
TEST(Budget, StopTokenIdEndsLikeEosWithFinishStop) {
    auto req = request();
    req.stop_token_ids = {X, D};
    Ctl r(req, -1);
    EXPECT_EQ(r.spec.stop_token_ids, (std::vector<int32_t>{X, D}));
    auto& c = *r.ctl;
    c.accept(A);
    c.accept(END);
    c.accept(B);
    auto o = c.accept(D);
    EXPECT_TRUE(o.finished);
    EXPECT_FALSE(o.feed_token);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_STOP);
    EXPECT_EQ(res.matched_stop_id, D);
    EXPECT_EQ(res.output_ids, (std::vector<int32_t>{A, END, B, D}));
    EXPECT_EQ(res.text, "a</think>b");  // "d" is not part of the text
    EXPECT_EQ(res.n_tokens_think, 1);
    EXPECT_EQ(res.n_tokens_answer, 3);  // </think> b d
    EXPECT_FALSE(res.censored);
}

TEST(Budget, EosTakesPrecedenceOverAStopTokenId) {
    auto req = request();
    req.stop_token_ids = {EOS, X};
    Ctl r(req, -1);
    r.ctl->accept(A);
    EXPECT_TRUE(r.ctl->accept(EOS).finished);
    auto res = r.ctl->result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_EOS);
    EXPECT_EQ(res.matched_stop_id, -1);
    EXPECT_EQ(res.output_ids, (std::vector<int32_t>{A, EOS}));
}

TEST(Budget, StopTokenIdWhileThinkingIsNeitherAnEndNorAWait) {
    auto req = request();
    req.stop_token_ids = {X};
    req.budget.min_think = 5;
    req.budget.max_waits = 2;
    Ctl r(req, -1);
    auto& c = *r.ctl;
    c.accept(A);
    auto o = c.accept(X);
    EXPECT_TRUE(o.finished);
    EXPECT_FALSE(o.wait);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_STOP);
    EXPECT_EQ(res.matched_stop_id, X);
    EXPECT_EQ(res.n_wait, 0);
    EXPECT_EQ(res.n_tokens_think, 2);
    EXPECT_TRUE(res.censored);  // thinking never closed
    EXPECT_EQ(res.text, "a");
}

TEST(Budget, StopTokenIdAfterForcedEndIsThinkBudget) {
    auto req = request();
    req.budget.mechanism = BUDGET_MECHANISM_HARD_CUT;
    req.stop_token_ids = {X};
    Ctl r(req, 1);
    auto& c = *r.ctl;
    c.accept(A);
    ASSERT_EQ(c.next_action(), BUDGET_ACTION_FORCE_END);
    c.force_end();
    c.accept(B);
    EXPECT_TRUE(c.accept(X).finished);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_THINK_BUDGET);
    EXPECT_EQ(res.matched_stop_id, X);
    EXPECT_EQ(res.text, "a\n</think>\n\n**Final Answer:**\n\nb");
}

TEST(Budget, StopTokenIdBeatsAStopStringAndMaxTokens) {
    // The last allowed token is a stop id: stop (not max_tokens), and the stop string it would
    // complete never sees it (its text is not decoded).
    auto req = request(false);
    req.budget.think_begin = "";
    req.budget.think_end = "";
    req.stop = {"bx"};
    req.stop_token_ids = {X};
    req.max_tokens = 2;
    Ctl r(req, -1);
    auto& c = *r.ctl;
    c.accept(B);
    EXPECT_TRUE(c.accept(X).finished);
    auto res = c.result();
    EXPECT_EQ(res.finish_reason, FINISH_REASON_STOP);
    EXPECT_EQ(res.matched_stop_id, X);
    EXPECT_EQ(res.text, "b");
    EXPECT_EQ(res.output_ids, (std::vector<int32_t>{B, X}));
}

TEST(Budget, EmptyMarkersMeanNoThinkingAtAll) {
    // serve-engine: no markers and a prompt that does not open thinking = everything is answer,
    // even a "<think>" the model writes.
    auto req = request(false);
    req.budget.think_begin = "";
    req.budget.think_end = "";
    Ctl r(req, -1);
    auto& c = *r.ctl;
    EXPECT_EQ(c.phase(), BUDGET_PHASE_ANSWER);
    c.accept(BEGIN);
    c.accept(A);
    c.accept(END);
    EXPECT_EQ(c.phase(), BUDGET_PHASE_ANSWER);
    c.accept(EOS);
    auto res = c.result();
    EXPECT_EQ(res.n_tokens_think, 0);
    EXPECT_EQ(res.n_tokens_answer, 4);
    EXPECT_EQ(res.text, "<think>a</think>");
    EXPECT_EQ(res.finish_reason, FINISH_REASON_EOS);
    EXPECT_EQ(res.matched_stop_id, -1);
    // A prompt that opens thinking still needs an end marker.
    auto opens = request(true);
    opens.budget.think_begin = "";
    opens.budget.think_end = "";
    MockText text(table());
    EXPECT_THROW(budget_make_spec(opens, -1, text, {EOS}), Error);
}

TEST(Budget, NegativeStopTokenIdIsAnError) {
    MockText text(table());
    auto req = request();
    req.stop_token_ids = {X, -2};
    try {
        budget_make_spec(req, -1, text, {EOS});
        ADD_FAILURE() << "no error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("stop token id -2"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace adabench
