// Self-contained HTML pages: the run report (per-task scatter with frontier and CI whiskers, tables,
// run metadata, per-sample drill-down) and the comparison of two runs. Inline SVG, inline CSS and a
// little inline JS; no external resource, so a file opens offline. Every string from the store
// (model text above all) is escaped: HTML text through html_escape, data embedded for the
// drill-down through html_script_json (no "</script>" or "<!--" can close the block).
//
// Not here: computing metrics (analysis.h / compare.h), HTTP (server.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reports/analysis.h"
#include "reports/compare.h"
#include "reports/nightly.h"

namespace adabench {

struct HtmlOptions {
    // Samples embedded per run for the drill-down (spread evenly over points); 0 = none.
    int64_t max_samples = 2000;
    // Per text field (prompt, thinking, answer), longer text is cut with a note.
    size_t max_text_chars = 20000;
    // Links for the server's pages ("" in a stand-alone file).
    std::string link_prefix;
    // A log10 token axis on each task's accuracy-vs-tokens chart (budgets spanning decades).
    bool log_tokens = false;
};

// &, <, >, " and ' as entities; invalid UTF-8 is left for the browser to replace.
std::string html_escape(const std::string& s);
// JSON text safe inside <script type="application/json">: '<', '>' and '&' as \u escapes, invalid
// UTF-8 replaced by U+FFFD.
std::string html_script_json(const nlohmann::json& j);

// The samples embedded for the drill-down of one run (text split into prompt / thinking / answer).
nlohmann::json html_samples_json(const Store& store, const AnalysisRun& run, const HtmlOptions& options,
                                 int64_t* n_total = nullptr);

// The report page for one or more runs (analysed together: shared reference points).
std::string html_report(const Store& store, const std::vector<AnalysisRun>& runs, const HtmlOptions& options = {});
// The comparison page; `gate` (may be null) adds the nightly verdict at the top.
std::string html_compare(const CompareResult& c, const NightlyVerdict* gate = nullptr, const HtmlOptions& options = {});

class HtmlReporter : public AnalysisReporter {
public:
    HtmlReporter(const Store& store, HtmlOptions options) : store_(store), options_(std::move(options)) {}
    void report(const std::vector<AnalysisRun>& runs, std::ostream& out) override;

private:
    const Store& store_;
    HtmlOptions options_;
};

}  // namespace adabench
