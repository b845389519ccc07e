// Names of the Engine enums, as stored in the database and printed by the CLI.
#include "engines/engine.h"

#include "common/error.h"

namespace adabench {

const char* finish_reason_name(FinishReason r) {
    switch (r) {
        case FINISH_REASON_EOS:
            return "eos";
        case FINISH_REASON_STOP:
            return "stop";
        case FINISH_REASON_THINK_BUDGET:
            return "think_budget";
        case FINISH_REASON_ANSWER_BUDGET:
            return "answer_budget";
        case FINISH_REASON_MAX_TOKENS:
            return "max_tokens";
        case FINISH_REASON_CONTEXT:
            return "context";
    }
    return "unknown";
}

const char* sample_status_name(SampleStatus s) {
    switch (s) {
        case SAMPLE_STATUS_OK:
            return "ok";
        case SAMPLE_STATUS_FAILED_INFRA:
            return "failed_infra";
    }
    return "unknown";
}

const char* budget_mechanism_name(BudgetMechanism m) {
    switch (m) {
        case BUDGET_MECHANISM_NONE:
            return "none";
        case BUDGET_MECHANISM_HARD_CUT:
            return "hard_cut";
        case BUDGET_MECHANISM_PROMPT:
            return "prompt";
        case BUDGET_MECHANISM_SERVER:
            return "server";
    }
    return "unknown";
}

BudgetMechanism budget_mechanism_parse(const std::string& s) {
    if (s == "none") return BUDGET_MECHANISM_NONE;
    if (s == "hard_cut") return BUDGET_MECHANISM_HARD_CUT;
    if (s == "prompt") return BUDGET_MECHANISM_PROMPT;
    if (s == "server") return BUDGET_MECHANISM_SERVER;
    throw Error("unknown budget mechanism '" + s + "'", "use none, hard_cut, prompt or server (engine http only)");
}

}  // namespace adabench
