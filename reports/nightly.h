// The nightly regression gate: thresholds read from the sweep config's "nightly" block, a verdict
// over a run comparison (an accuracy drop with p below alpha, or mean tokens up by more than a set
// share), and the JUnit XML (one testcase per grid point) and markdown summary CI systems show.
// Failed_infra samples are never wrong answers: they are out of every figure (analysis.h) and the
// messages count them.
//
// Not here: running the sweep (harness/sweep.h, driven by cmd_nightly.cpp) or HTML (html.h).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/compare.h"

namespace adabench {

struct NightlyThresholds {
    double alpha = 0.05;                  // "alpha": significance level of the paired test
    double max_accuracy_drop = 0;         // "max_accuracy_drop": a significant drop larger than this fails
    double max_tokens_increase = 0.10;    // "max_tokens_increase": relative growth of mean total tokens that fails
    bool fail_on_missing_points = false;  // "fail_on_missing_points": base points absent from the new run fail
};

// Reads the "nightly" object (may be absent or null: defaults). Unknown keys and wrong types throw
// adabench::Error naming `source` and the key.
NightlyThresholds nightly_parse_thresholds(const nlohmann::json& nightly, const std::string& source);

struct NightlyCase {
    std::string name;       // "task B=64 c=[0.5]"
    std::string classname;  // "adabench.nightly.<task>"
    bool failed = false;
    std::string message;  // why it failed, or the figures when it passed
};

struct NightlyVerdict {
    bool regression = false;
    std::vector<NightlyCase> cases;
    std::vector<std::string> failures;  // one line per failure
};

NightlyVerdict nightly_evaluate(const CompareResult& c, const NightlyThresholds& t);
std::string nightly_junit_xml(const NightlyVerdict& v, const std::string& suite_name);
std::string nightly_summary_markdown(const CompareResult& c, const NightlyVerdict& v, const NightlyThresholds& t);

}  // namespace adabench
