// Budget control state machine: see budget.h for the semantics it implements. Every decision here
// depends only on the tokens this sequence has seen and its own spec, never on the batch, so a
// fork that copies a controller continues exactly like a separate run would.
#include "engines/generation/budget.h"

#include <algorithm>

#include "common/error.h"

namespace adabench {

namespace {

BudgetMarker resolve_marker(const std::string& text, const TokenText& tt) {
    BudgetMarker m;
    m.text = text;
    if (text.empty()) return m;
    auto ids = tt.encode_text(text);
    if (ids.size() == 1 && tt.token_bytes(ids[0]) == text) m.id = ids[0];
    return m;
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool all_space(const std::string& s, size_t from, size_t to) {
    for (size_t i = from; i < to && i < s.size(); ++i) {
        if (!is_space(s[i])) return false;
    }
    return true;
}

}  // namespace

BudgetSweep budget_plan_sweep(const std::vector<int>& think_budgets) {
    BudgetSweep s;
    for (int b : think_budgets)
        if (b < 0) throw Error("think budget " + std::to_string(b) + " is negative");
    s.budgets = think_budgets;
    std::sort(s.budgets.begin(), s.budgets.end());
    s.budgets.erase(std::unique(s.budgets.begin(), s.budgets.end()), s.budgets.end());
    s.where.resize(s.budgets.size());
    for (size_t j = 0; j < think_budgets.size(); ++j) {
        auto it = std::lower_bound(s.budgets.begin(), s.budgets.end(), think_budgets[j]);
        s.where[static_cast<size_t>(it - s.budgets.begin())].push_back(static_cast<int>(j));
    }
    return s;
}

BudgetSpec budget_make_spec(const GenerateRequest& req, int think_budget, const TokenText& text,
                            const std::vector<int32_t>& eos_ids) {
    const BudgetParams& bp = req.budget;
    if (think_budget < -1) throw Error("budget: think budget " + std::to_string(think_budget) + " is negative");
    if (bp.answer_budget < 0) throw Error("budget: answer_budget " + std::to_string(bp.answer_budget) + " is negative");
    if (bp.min_think < 0 || bp.max_waits < 0) throw Error("budget: min_think and max_waits must be >= 0");
    if (req.max_tokens <= 0) {
        throw Error("budget: max_tokens " + std::to_string(req.max_tokens) + " must be positive");
    }
    BudgetSpec s;
    s.mechanism = bp.mechanism;
    s.think_budget = bp.mechanism == BUDGET_MECHANISM_HARD_CUT ? think_budget : -1;
    s.answer_budget = bp.answer_budget;
    s.min_think = bp.min_think;
    s.max_waits = bp.max_waits;
    s.max_tokens = req.max_tokens;
    s.n_tokens_prompt = static_cast<int>(req.prompt_ids.size());
    s.prompt_opens_thinking = req.prompt_opens_thinking;
    s.think_begin = resolve_marker(bp.think_begin, text);
    s.think_end = resolve_marker(bp.think_end, text);
    // Without a begin marker and a prompt that opens thinking, a sequence never thinks, so it never
    // looks for an end marker either.
    const bool can_think = !s.think_begin.text.empty() || s.prompt_opens_thinking;
    if (s.think_end.text.empty() && can_think) {
        throw Error("budget: think_end marker is empty", "set it to the model's end-of-thinking text, e.g. </think>");
    }
    if (s.think_budget >= 0) {
        if (bp.forced_text.empty()) throw Error("budget: forced_text is empty but mechanism is hard_cut");
        s.forced_text = bp.forced_text;
        s.forced_ids = text.encode_text(bp.forced_text);
        if (s.forced_ids.empty()) throw Error("budget: forced_text encodes to no tokens");
    }
    if (s.min_think > 0 && s.max_waits > 0) {
        s.wait_ids = text.encode_text(bp.wait_text);
        if (s.wait_ids.empty()) {
            throw Error("budget: wait_text is empty but min_think > 0", "set wait_text, e.g. \"Wait\"");
        }
    }
    s.eos_ids = eos_ids;
    for (const auto& st : req.stop) {
        if (st.empty()) throw Error("budget: empty stop string", "drop it from the stop list");
    }
    s.stop = req.stop;
    for (int32_t id : req.stop_token_ids) {
        if (id < 0) throw Error("budget: stop token id " + std::to_string(id) + " is negative");
    }
    s.stop_token_ids = req.stop_token_ids;
    return s;
}

BudgetController::BudgetController(const BudgetSpec& spec, const TokenText& text) : spec_(spec), text_(&text) {
    if (spec_.prompt_opens_thinking) {
        phase_ = BUDGET_PHASE_THINKING;
    } else if (spec_.think_begin.text.empty()) {
        phase_ = BUDGET_PHASE_ANSWER;
        answer_byte_ = 0;
    }
}

BudgetAction BudgetController::next_action() const {
    if (finished_) return BUDGET_ACTION_DONE;
    if (phase_ == BUDGET_PHASE_THINKING && spec_.think_budget >= 0 && n_think_ >= spec_.think_budget) {
        return BUDGET_ACTION_FORCE_END;
    }
    return BUDGET_ACTION_SAMPLE;
}

bool BudgetController::may_wait() const {
    return phase_ == BUDGET_PHASE_THINKING && n_wait_ < spec_.max_waits && n_think_ < spec_.min_think &&
           !spec_.wait_ids.empty();
}

void BudgetController::append(int32_t token, bool with_text) {
    output_.push_back(token);
    offsets_.push_back(text_out_.size());
    if (with_text) text_out_ += text_->token_bytes(token);
    if (phase_ != BUDGET_PHASE_ANSWER) ++n_think_;  // PRE counts tentatively as thinking
}

void BudgetController::finish(FinishReason r) {
    finished_ = true;
    reason_ = r;
}

std::vector<int32_t> BudgetController::force_end() {
    if (finished_ || phase_ != BUDGET_PHASE_THINKING) {
        throw Error("budget: force_end called on a sequence that is not thinking (internal error)");
    }
    phase_ = BUDGET_PHASE_ANSWER;
    forced_ = true;
    for (int32_t t : spec_.forced_ids) append(t, true);
    answer_byte_ = text_out_.size();
    if (spec_.answer_budget == 0) {
        finish(FINISH_REASON_ANSWER_BUDGET);
    } else if (n_output() >= spec_.max_tokens) {
        finish(FINISH_REASON_MAX_TOKENS);
    }
    return spec_.forced_ids;
}

int BudgetController::token_index_at_byte(size_t byte) const {
    // The last token starting at or before `byte` (tokens with empty text share an offset).
    auto it = std::upper_bound(offsets_.begin(), offsets_.end(), byte);
    return static_cast<int>(it - offsets_.begin()) - 1;
}

void BudgetController::classify_pre() {
    const std::string& m = spec_.think_begin.text;
    size_t first = 0;
    while (first < text_out_.size() && is_space(text_out_[first])) ++first;
    if (spec_.think_begin.id >= 0 && output_.back() == spec_.think_begin.id &&
        all_space(text_out_, 0, offsets_.back())) {
        phase_ = BUDGET_PHASE_THINKING;
        return;
    }
    std::string rest = text_out_.substr(first);
    if (spec_.think_begin.id < 0 && rest.compare(0, m.size(), m) == 0 && rest.size() >= m.size()) {
        phase_ = BUDGET_PHASE_THINKING;
        // Text after the marker in the same token is thinking text; nothing to re-count.
        return;
    }
    bool still_prefix = spec_.think_begin.id < 0 ? m.compare(0, rest.size(), rest) == 0 : rest.empty();
    if (still_prefix) return;
    // No thinking segment: everything so far is answer.
    phase_ = BUDGET_PHASE_ANSWER;
    n_think_ = 0;
    answer_byte_ = 0;
}

bool BudgetController::detect_think_end(int* marker_first, size_t* marker_end_byte) {
    const BudgetMarker& m = spec_.think_end;
    if (m.id >= 0) {
        if (output_.back() != m.id) return false;
        *marker_first = n_output() - 1;
        *marker_end_byte = text_out_.size();
        return true;
    }
    size_t think_from = think_start_ < n_output() ? offsets_[static_cast<size_t>(think_start_)] : text_out_.size();
    size_t tok_from = offsets_.back();
    size_t from = tok_from >= m.text.size() - 1 ? tok_from - (m.text.size() - 1) : 0;
    from = std::max(from, think_from);
    size_t pos = text_out_.find(m.text, from);
    if (pos == std::string::npos) return false;
    *marker_first = token_index_at_byte(pos);
    *marker_end_byte = pos + m.text.size();
    return true;
}

bool BudgetController::match_stop() {
    if (spec_.stop.empty()) return false;
    size_t tok_from = offsets_.back();
    size_t best = std::string::npos;
    for (const auto& s : spec_.stop) {
        size_t from = tok_from >= s.size() - 1 ? tok_from - (s.size() - 1) : 0;
        size_t pos = text_out_.find(s, from);
        if (pos != std::string::npos && pos < best) best = pos;
    }
    if (best == std::string::npos) return false;
    stop_byte_ = best;
    return true;
}

BudgetOutcome BudgetController::accept(int32_t token) {
    BudgetOutcome out;
    if (finished_) throw Error("budget: accept called on a finished sequence (internal error)");
    bool is_eos = std::find(spec_.eos_ids.begin(), spec_.eos_ids.end(), token) != spec_.eos_ids.end();
    if (forced_) ++n_answer_sampled_;
    if (is_eos) {
        append(token, false);
        finish(forced_ ? FINISH_REASON_THINK_BUDGET : FINISH_REASON_EOS);
        out.finished = true;
        return out;
    }
    if (std::find(spec_.stop_token_ids.begin(), spec_.stop_token_ids.end(), token) != spec_.stop_token_ids.end()) {
        append(token, false);
        matched_stop_id_ = token;
        finish(forced_ ? FINISH_REASON_THINK_BUDGET : FINISH_REASON_STOP);
        out.finished = true;
        return out;
    }
    append(token, true);

    if (phase_ == BUDGET_PHASE_PRE) {
        classify_pre();
        if (phase_ == BUDGET_PHASE_THINKING) think_start_ = 0;
    } else if (phase_ == BUDGET_PHASE_THINKING) {
        int marker_first = -1;
        size_t marker_end = 0;
        if (detect_think_end(&marker_first, &marker_end)) {
            int think_before = marker_first - think_start_;
            if (think_before < 0) think_before = 0;
            int fit = static_cast<int>(spec_.wait_ids.size());
            if (spec_.think_budget >= 0) fit = std::min(fit, spec_.think_budget - think_before);
            if (think_before < spec_.min_think && n_wait_ < spec_.max_waits && fit > 0) {
                // s1 "Wait": the end of thinking leaves the output (and the cache), the wait goes in.
                output_.resize(static_cast<size_t>(marker_first));
                text_out_.resize(offsets_[static_cast<size_t>(marker_first)]);
                offsets_.resize(static_cast<size_t>(marker_first));
                n_think_ = think_before;
                ++n_wait_;
                out.wait = true;
                out.keep_output = marker_first;
                out.wait_tokens.assign(spec_.wait_ids.begin(), spec_.wait_ids.begin() + fit);
                for (int32_t t : out.wait_tokens) append(t, true);
                if (n_output() >= spec_.max_tokens) {
                    finish(FINISH_REASON_MAX_TOKENS);
                    out.finished = true;
                }
                return out;
            }
            phase_ = BUDGET_PHASE_ANSWER;
            n_think_ = think_before;
            answer_byte_ = marker_end;
        }
    }

    if (match_stop()) {
        finish(forced_ ? FINISH_REASON_THINK_BUDGET : FINISH_REASON_STOP);
    } else if (forced_ && n_answer_sampled_ >= spec_.answer_budget) {
        finish(FINISH_REASON_ANSWER_BUDGET);
    } else if (n_output() >= spec_.max_tokens) {
        finish(FINISH_REASON_MAX_TOKENS);
    }
    out.finished = finished_;
    out.feed_token = !finished_;
    return out;
}

GenerateResult BudgetController::result() const {
    GenerateResult r;
    r.think_budget = spec_.think_budget;
    r.output_ids = output_;
    size_t end = std::min(stop_byte_, text_out_.size());
    r.text = text_out_.substr(0, end);
    r.n_tokens_prompt = spec_.n_tokens_prompt;
    r.n_tokens_think = phase_ == BUDGET_PHASE_PRE ? 0 : n_think_;
    r.n_tokens_answer = n_output() - r.n_tokens_think;
    r.finish_reason = finished_ ? reason_ : FINISH_REASON_MAX_TOKENS;
    r.forced = forced_;
    r.n_wait = n_wait_;
    r.matched_stop_id = matched_stop_id_;
    size_t answer_from = phase_ == BUDGET_PHASE_PRE ? 0 : answer_byte_;
    r.censored = phase_ == BUDGET_PHASE_THINKING || answer_from >= end || all_space(text_out_, answer_from, end);
    return r;
}

}  // namespace adabench
