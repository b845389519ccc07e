// Budget control for one sequence (ARCHITECTURE.md "Budget semantics"): a small state machine that
// the generator feeds every token a sequence receives (sampled or inserted) and that says what to
// do next — sample, force the end of thinking, insert the wait text, or stop — and keeps the
// per-sample counts stored with every result. It knows nothing of KV caches or logits; the
// generator (engines/generation/generator.*) turns its decisions into backend calls.
//
// Definitions (these are the stored semantics; the README repeats them):
//  * Phases. A sequence starts THINKING when the request says the prompt already opens thinking
//    (R1/organism templates end with "<think>\n"); otherwise it starts in PRE, and enters THINKING
//    only if its first non-whitespace output is the think-begin marker (those tokens count as
//    thinking), else it has no thinking segment and everything it writes is answer.
//  * End of thinking is detected by token id when the think-end marker encodes to one token,
//    else by text on the decoded output (the tokens that carry the marker count as answer).
//  * n_tokens_think: output tokens inside the thinking segment, excluding the end marker;
//    waits included. n_tokens_answer: every output token after it — the end marker or the forced
//    text, then the answer. n_tokens_think + n_tokens_answer == output_ids.size().
//  * think_budget B (mechanism hard_cut only): before each sample, a sequence still thinking with
//    n_tokens_think >= B gets the forced text appended (forced = true) and then samples at most
//    answer_budget tokens. The forced text and waits are inserted whole as one block.
//  * min_think M: a natural end of thinking with n_tokens_think < M (and fewer than max_waits
//    waits so far) is removed (its tokens leave the output and the KV cache) and the wait text is
//    appended instead — cut to the tokens that fit when a thinking budget would be overrun, after
//    which the budget forces the end.
//  * max_tokens caps output_ids.size(): checked before each sample; an inserted block is never
//    cut, so a forced text may overrun max_tokens by its own length.
//  * finish_reason: eos (an EOS id was sampled), stop (a stop string matched), think_budget (the
//    end was forced and the answer then ended by eos or stop), answer_budget (forced, then
//    answer_budget tokens sampled), max_tokens (max_tokens reached, forced or not).
//    Precedence when several hold at once: eos, stop, answer_budget, max_tokens.
//  * EOS tokens stay in output_ids and the counts but not in the text; stop strings: the text ends
//    before the match, output_ids keep every generated token (the one completing the match too).
//  * stop_token_ids (vLLM's): sampling one ends the sequence like an EOS does (it stays in
//    output_ids and the counts, not in the text), with finish_reason stop (think_budget after a
//    forced end) and matched_stop_id = the id. An id that is also an EOS id counts as EOS. They are
//    never an end of thinking (no wait replaces them).
//  * No thinking at all: with think_begin empty and a prompt that does not open thinking, every
//    output token is answer from the start and think_end may be empty too (serve-engine).
//  * censored: no answer text — thinking never closed, or only whitespace after the end marker
//    (after the forced text when forced; the stop string excluded).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engines/engine.h"

namespace adabench {

// What budget control needs from a tokenizer (engines/generation/generator.cpp adapts Tokenizer to it; tests
// use a hand-made table).
class TokenText {
public:
    virtual ~TokenText() = default;
    // Raw bytes of one token (special tokens: their content). May be partial UTF-8.
    virtual std::string token_bytes(int32_t id) const = 0;
    // Tokenizes text with special/added tokens recognised.
    virtual std::vector<int32_t> encode_text(const std::string& text) const = 0;
};

// A marker (think begin/end): matched by id when it is one token, else by text.
struct BudgetMarker {
    std::string text;
    int32_t id = -1;  // >= 0: detect by this id
};

// The per-request constants, tokenized once.
struct BudgetSpec {
    BudgetMechanism mechanism = BUDGET_MECHANISM_NONE;
    int think_budget = -1;  // -1 = none (also when mechanism != hard_cut)
    int answer_budget = 512;
    int min_think = 0;
    int max_waits = 0;
    int max_tokens = 4096;
    int n_tokens_prompt = 0;
    bool prompt_opens_thinking = false;
    BudgetMarker think_begin, think_end;
    std::string forced_text;
    std::vector<int32_t> forced_ids;
    std::vector<int32_t> wait_ids;
    std::vector<int32_t> eos_ids;
    std::vector<int32_t> stop_token_ids;  // end like EOS, finish reason stop (see above)
    std::vector<std::string> stop;
};

// The distinct thinking budgets of a request, ascending (what a fork sweep runs), and for each the
// indices into the request's own think_budgets that it answers (a budget may be listed twice).
// Throws adabench::Error "think budget N is negative".
struct BudgetSweep {
    std::vector<int> budgets;
    std::vector<std::vector<int>> where;
};
BudgetSweep budget_plan_sweep(const std::vector<int>& think_budgets);

// Builds the spec of a request for one thinking budget (-1 = none). Throws adabench::Error on
// invalid values (negative budgets, empty forced text with hard_cut, empty wait text with
// min_think > 0, max_tokens <= 0, empty stop string, a negative stop token id, an empty think_end
// while the sequence can think). Ids past the vocabulary are the generator's check (it knows it).
BudgetSpec budget_make_spec(const GenerateRequest& req, int think_budget, const TokenText& text,
                            const std::vector<int32_t>& eos_ids);

enum BudgetPhase { BUDGET_PHASE_PRE, BUDGET_PHASE_THINKING, BUDGET_PHASE_ANSWER };

enum BudgetAction {
    BUDGET_ACTION_SAMPLE,     // sample the next token
    BUDGET_ACTION_FORCE_END,  // call force_end() and feed its tokens
    BUDGET_ACTION_DONE,       // finished
};

// What accept() decided about a sampled token.
struct BudgetOutcome {
    bool finished = false;
    // The token goes into the KV cache next (false when finished or replaced by a wait).
    bool feed_token = false;
    // When a natural end of thinking was replaced by a wait: the sequence's cache must be cut to
    // n_tokens_prompt + keep_output tokens, then wait_tokens appended.
    bool wait = false;
    int keep_output = 0;
    std::vector<int32_t> wait_tokens;
};

class BudgetController {
public:
    BudgetController(const BudgetSpec& spec, const TokenText& text);

    // What to do before the next sample.
    BudgetAction next_action() const;
    // Appends the forced text (end of thinking + answer prefix) and returns the tokens to feed.
    // Afterwards next_action() may already be DONE (answer_budget 0, max_tokens reached).
    std::vector<int32_t> force_end();
    // Records a sampled token.
    BudgetOutcome accept(int32_t token);

    // A fork of a budget sweep: this copy answers think budget `b` (<= the current one).
    void set_think_budget(int b) { spec_.think_budget = b; }
    // True when accept() might replace an end of thinking by a wait (so a sweep must keep a copy
    // of this state: the wait is cut differently under smaller budgets).
    bool may_wait() const;

    BudgetPhase phase() const { return phase_; }
    bool thinking() const { return phase_ == BUDGET_PHASE_THINKING; }
    bool finished() const { return finished_; }
    int n_output() const { return static_cast<int>(output_.size()); }
    int n_think() const { return n_think_; }
    int context_length() const { return spec_.n_tokens_prompt + n_output(); }
    const BudgetSpec& spec() const { return spec_; }
    const std::vector<int32_t>& output_ids() const { return output_; }

    // Ends the sequence because the engine's context is full (FINISH_REASON_CONTEXT); no-op when
    // it already finished.
    void finish_context() {
        if (!finished_) finish(FINISH_REASON_CONTEXT);
    }

    // The result as stored (think_budget field = the spec's budget).
    GenerateResult result() const;

private:
    void append(int32_t token, bool sampled);
    void finish(FinishReason r);
    bool match_stop();
    void classify_pre();
    bool detect_think_end(int* marker_first, size_t* marker_end_byte);
    int token_index_at_byte(size_t byte) const;

    BudgetSpec spec_;
    const TokenText* text_;
    BudgetPhase phase_ = BUDGET_PHASE_PRE;
    std::vector<int32_t> output_;
    std::vector<size_t> offsets_;  // byte offset in text_out_ where each output token starts
    std::string text_out_;         // decoded output (EOS excluded)
    int n_think_ = 0;
    int n_answer_sampled_ = 0;                // sampled after a forced end (answer_budget counts these)
    int think_start_ = 0;                     // output index where thinking started
    size_t answer_byte_ = std::string::npos;  // where the answer text starts
    size_t stop_byte_ = std::string::npos;    // where a matched stop string starts
    bool forced_ = false;
    int n_wait_ = 0;
    int32_t matched_stop_id_ = -1;
    bool finished_ = false;
    FinishReason reason_ = FINISH_REASON_EOS;
};

}  // namespace adabench
