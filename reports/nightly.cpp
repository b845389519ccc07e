// Nightly gate: thresholds, verdict, JUnit XML and markdown summary (see nightly.h).
#include "reports/nightly.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include "common/error.h"
#include "reports/html.h"

namespace adabench {

using json = nlohmann::json;

namespace {

std::string signed_pct(double rel) { return std::string(rel >= 0 ? "+" : "") + report_fmt(100 * rel, 1) + "%"; }

double read_share(const json& j, const std::string& key, const std::string& source, double lo, double hi) {
    if (!j.is_number()) throw Error(source + ": nightly." + key + " must be a number");
    double v = j.get<double>();
    if (!(v >= lo && v <= hi))
        throw Error(source + ": nightly." + key + " = " + report_fmt(v, 4) + " is outside [" + report_fmt(lo, 2) +
                    ", " + report_fmt(hi, 2) + "]");
    return v;
}

std::string xml_escape(const std::string& s) {
    std::string out;
    for (unsigned char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                // XML 1.0 forbids most control characters even as references.
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    out += '?';
                else
                    out += static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace

NightlyThresholds nightly_parse_thresholds(const json& n, const std::string& source) {
    NightlyThresholds t;
    if (n.is_null()) return t;
    if (!n.is_object()) throw Error(source + ": \"nightly\" must be an object (hint: {\"max_tokens_increase\": 0.1})");
    for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string& k = it.key();
        if (k == "alpha")
            t.alpha = read_share(*it, k, source, 1e-9, 0.5);
        else if (k == "max_accuracy_drop")
            t.max_accuracy_drop = read_share(*it, k, source, 0, 1);
        else if (k == "max_tokens_increase")
            t.max_tokens_increase = read_share(*it, k, source, 0, 1e6);
        else if (k == "fail_on_missing_points") {
            if (!it->is_boolean()) throw Error(source + ": nightly.fail_on_missing_points must be true or false");
            t.fail_on_missing_points = it->get<bool>();
        } else
            throw Error(source + ": unknown key nightly." + k +
                        " (known: alpha, max_accuracy_drop, max_tokens_increase, fail_on_missing_points)");
    }
    return t;
}

NightlyVerdict nightly_evaluate(const CompareResult& c, const NightlyThresholds& t) {
    NightlyVerdict v;
    for (const PointDelta& d : c.deltas) {
        NightlyCase k;
        k.name = d.task + " " + d.label;
        k.classname = "adabench.nightly." + d.task;
        std::vector<std::string> why;
        bool base_has = !c.base.points[d.base_index].empty(), new_has = !c.new_run.points[d.new_index].empty();
        size_t new_failed = c.new_run.points[d.new_index].n_failed;
        std::string failed_note =
            new_failed > 0 ? " (" + std::to_string(new_failed) + " failed_infra samples in the new run, not counted)"
                           : "";
        if (base_has && !new_has) why.push_back("no samples in the new run" + failed_note);
        bool acc_fail = d.n_pairs > 0 && d.delta_acc < -t.max_accuracy_drop && d.p_value < t.alpha;
        if (acc_fail)
            why.push_back("accuracy " + report_fmt(d.acc_base, 3) + " -> " + report_fmt(d.acc_new, 3) + " (" +
                          report_fmt(d.delta_acc, 3) + ", paired p=" + report_fmt(d.p_value, 4) + " < " +
                          report_fmt(t.alpha, 3) + ")");
        if (base_has && new_has && d.delta_tokens_rel > t.max_tokens_increase)
            why.push_back("mean tokens " + report_fmt(d.tokens_base, 1) + " -> " + report_fmt(d.tokens_new, 1) + " (" +
                          signed_pct(d.delta_tokens_rel) + " > " + signed_pct(t.max_tokens_increase) + ")");
        k.failed = !why.empty();
        if (k.failed) {
            for (size_t i = 0; i < why.size(); ++i) k.message += (i ? "; " : "") + why[i];
            v.failures.push_back(k.name + ": " + k.message);
        } else {
            k.message = "accuracy " + report_fmt(d.acc_base, 3) + " -> " + report_fmt(d.acc_new, 3) +
                        " (p=" + report_fmt(d.p_value, 4) + "), tokens " + signed_pct(d.delta_tokens_rel) + failed_note;
        }
        v.cases.push_back(k);
    }
    for (const std::string& name : c.only_base) {
        NightlyCase k;
        k.name = name;
        k.classname = "adabench.nightly.missing";
        k.failed = t.fail_on_missing_points;
        k.message = "point of the baseline is not in the new run";
        if (k.failed) v.failures.push_back(name + ": " + k.message);
        v.cases.push_back(k);
    }
    if (c.deltas.empty()) {
        // Nothing was compared (the grids share no point: a changed config, another task): passing
        // would gate nothing. A failure the CI sees, saying why.
        NightlyCase k;
        k.name = "matched points";
        k.classname = "adabench.nightly";
        k.failed = true;
        k.message = "no grid point of run " + std::to_string(c.new_run.run.id) + " matches the baseline run " +
                    std::to_string(c.base.run.id) + " (" + std::to_string(c.only_base.size()) + " baseline and " +
                    std::to_string(c.only_new.size()) + " new points): nothing was compared";
        v.failures.push_back(k.name + ": " + k.message);
        v.cases.push_back(k);
    }
    v.regression = !v.failures.empty();
    return v;
}

std::string nightly_junit_xml(const NightlyVerdict& v, const std::string& suite_name) {
    size_t n_fail = 0;
    for (const auto& k : v.cases) n_fail += k.failed;
    std::ostringstream o;
    o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    o << "<testsuites tests=\"" << v.cases.size() << "\" failures=\"" << n_fail << "\">\n";
    o << "  <testsuite name=\"" << xml_escape(suite_name) << "\" tests=\"" << v.cases.size() << "\" failures=\""
      << n_fail << "\" errors=\"0\">\n";
    for (const auto& k : v.cases) {
        o << "    <testcase classname=\"" << xml_escape(k.classname) << "\" name=\"" << xml_escape(k.name) << "\"";
        if (k.failed)
            o << ">\n      <failure message=\"" << xml_escape(k.message) << "\">" << xml_escape(k.message)
              << "</failure>\n    </testcase>\n";
        else
            o << ">\n      <system-out>" << xml_escape(k.message) << "</system-out>\n    </testcase>\n";
    }
    o << "  </testsuite>\n</testsuites>\n";
    return o.str();
}

std::string nightly_summary_markdown(const CompareResult& c, const NightlyVerdict& v, const NightlyThresholds& t) {
    std::ostringstream o;
    o << "# adabench nightly: " << (v.regression ? "REGRESSION" : "OK") << "\n\n";
    o << "New run " << c.new_run.run.id << " (git " << c.new_run.run.git_sha << ", " << c.new_run.run.engine << " on "
      << c.new_run.run.device << ") against baseline run " << c.base.run.id << " (git " << c.base.run.git_sha
      << ").\n\n";
    o << "Thresholds: accuracy drop > " << report_fmt(t.max_accuracy_drop, 3) << " with paired p < "
      << report_fmt(t.alpha, 3) << "; mean tokens up by more than " << report_fmt(100 * t.max_tokens_increase, 1)
      << "%.\n\n";
    if (c.base.n_failed > 0 || c.new_run.n_failed > 0)
        o << "**Warning:** failed samples (infrastructure: the server gave up after its retries) are left out "
             "of every figure: "
          << c.base.n_failed << " in the baseline, " << c.new_run.n_failed << " in the new run.\n\n";
    if (!v.failures.empty()) {
        o << "## Failures\n\n";
        for (const auto& f : v.failures) o << "- " << f << "\n";
        o << "\n";
    }
    o << "## Frontiers\n\n| task | dominated area (base) | dominated area (new) |\n|---|---:|---:|\n";
    for (const auto& k : c.tasks)
        o << "| " << k.task << " | " << report_fmt(k.area_base, 2) << " | " << report_fmt(k.area_new, 2) << " |\n";
    o << "\n## Points\n\n| task | point | acc base | acc new | Δ | p | tokens base | tokens new | Δ tokens |\n"
         "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const PointDelta& d : c.deltas)
        o << "| " << d.task << " | " << d.label << " | " << report_fmt(d.acc_base, 3) << " | "
          << report_fmt(d.acc_new, 3) << " | " << report_fmt(d.delta_acc, 3) << " | " << report_fmt(d.p_value, 4)
          << (d.significant ? " *" : "") << " | " << report_fmt(d.tokens_base, 1) << " | "
          << report_fmt(d.tokens_new, 1) << " | " << signed_pct(d.delta_tokens_rel) << " |\n";
    if (!c.only_base.empty() || !c.only_new.empty())
        o << "\n"
          << c.only_base.size() << " point(s) only in the baseline, " << c.only_new.size() << " only in the new run.\n";
    return o.str();
}

}  // namespace adabench
