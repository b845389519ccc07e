// Per-point metrics, per-task frontiers and the console / JSON / CSV reporters (see analysis.h).
#include "reports/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <map>
#include <sstream>

#include "common/error.h"

namespace adabench {

using json = nlohmann::json;

std::string report_fmt(double v, int digits) {
    if (std::isnan(v)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

namespace {

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json token_means_json(const TokenMeans& t) {
    return json{{"all", num(t.all)}, {"correct", num(t.correct)}, {"incorrect", num(t.incorrect)},
                {"n_all", t.n_all},  {"n_correct", t.n_correct},  {"n_incorrect", t.n_incorrect}};
}

json parse_or_text(const std::string& s) {
    if (s.empty()) return json(nullptr);
    json j = json::parse(s, nullptr, false);
    return j.is_discarded() ? json(s) : j;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

void compute_frontiers(AnalysisRun& r, const std::map<std::string, double>& reference_tokens) {
    for (auto& p : r.points) p.on_frontier = false;
    for (AnalysisTask& t : r.tasks) {
        std::vector<ParetoPoint> pts;
        std::vector<size_t> idx;
        for (size_t i : t.points) {
            const AnalysisPoint& p = r.points[i];
            if (p.empty()) continue;
            pts.push_back({p.summary.accuracy.estimate, p.tokens.total.all});
            idx.push_back(i);
        }
        t.frontier.clear();
        t.dominated_area = 0;
        auto it = reference_tokens.find(t.task);
        t.reference = {0.0, it == reference_tokens.end() ? 0.0 : it->second};
        if (pts.empty()) continue;
        for (size_t k : metrics_pareto_frontier(pts)) {
            t.frontier.push_back(idx[k]);
            r.points[idx[k]].on_frontier = true;
        }
        t.dominated_area = metrics_hypervolume(pts, t.reference);
    }
}

std::map<std::string, double> max_tokens_by_task(const std::vector<AnalysisRun>& runs, const AnalysisOptions& o) {
    std::map<std::string, double> out;
    for (const AnalysisRun& r : runs)
        for (const AnalysisTask& t : r.tasks) {
            double& m = out[t.task];
            for (size_t i : t.points)
                if (!r.points[i].empty() && std::isfinite(r.points[i].tokens.total.all))
                    m = std::max(m, r.points[i].tokens.total.all);
        }
    for (auto& [task, m] : out) m = o.reference_tokens > 0 ? o.reference_tokens : std::max(1.0, m * 1.05);
    return out;
}

}  // namespace

std::string analysis_point_coefs(const PointRecord& p) {
    if (!p.merge_method.empty()) return "λ=" + p.merge_lambda_json;
    if (p.coefs_json.empty() || p.coefs_json == "[]") return "base";
    return p.coefs_json;
}

std::string analysis_point_method(const PointRecord& p) {
    const size_t at = p.label.rfind(" tag=");
    if (at == std::string::npos) return "grid";
    const size_t start = at + 5, end = p.label.find(' ', start);
    std::string tag = p.label.substr(start, end == std::string::npos ? std::string::npos : end - start);
    return tag.empty() ? "grid" : tag;
}

std::string analysis_point_label(const PointRecord& p) {
    std::string s = p.think_budget < 0 ? "B=none" : "B=" + std::to_string(p.think_budget);
    if (p.mechanism != "hard_cut" && !p.mechanism.empty() && p.mechanism != "none") s += " " + p.mechanism;
    std::string c = analysis_point_coefs(p);
    if (c != "base") s += (p.merge_method.empty() ? " c=" : " ") + c;
    return s;
}

void analysis_split_response(const std::string& response, bool censored, std::string* thinking, std::string* answer) {
    static const std::string kBegin = "<think>", kEnd = "</think>";
    size_t end = response.rfind(kEnd);
    if (end == std::string::npos) {
        std::string body = response;
        if (censored) {
            if (body.compare(0, kBegin.size(), kBegin) == 0) body = body.substr(kBegin.size());
            *thinking = body;
            answer->clear();
        } else {
            thinking->clear();
            *answer = body;
        }
        return;
    }
    std::string t = response.substr(0, end);
    size_t b = t.find(kBegin);
    if (b != std::string::npos) t = t.substr(b + kBegin.size());
    *thinking = t;
    *answer = response.substr(end + kEnd.size());
}

AnalysisRun analysis_run(const Store& store, int64_t run_id, const AnalysisOptions& options) {
    std::optional<RunRecord> rec = store.get_run(run_id);
    if (!rec)
        throw Error(store.path() + ": no run " + std::to_string(run_id) + " (hint: adabench runs --db " + store.path() +
                    ")");
    AnalysisRun r;
    r.run = *rec;
    std::vector<PointRecord> points = store.list_points(run_id);
    std::sort(points.begin(), points.end(),
              [](const PointRecord& a, const PointRecord& b) { return a.point_id < b.point_id; });
    SampleFilter f;
    f.run_id = run_id;
    f.with_text = false;
    std::vector<SampleRecord> samples = store.list_samples(f);
    std::map<int64_t, std::vector<const SampleRecord*>> by_point;
    std::map<int64_t, size_t> failed_by_point;
    for (const SampleRecord& s : samples) {
        if (store_sample_ok(s)) {
            by_point[s.point_id].push_back(&s);
            ++r.n_samples;
        } else {
            ++failed_by_point[s.point_id];
            ++r.n_failed;
        }
    }

    std::map<std::string, size_t> task_index;
    for (const PointRecord& pr : points) {
        AnalysisPoint ap;
        ap.point = pr;
        if (auto ft = failed_by_point.find(pr.point_id); ft != failed_by_point.end()) ap.n_failed = ft->second;
        auto it = by_point.find(pr.point_id);
        if (it != by_point.end()) {
            std::vector<const SampleRecord*> ss = it->second;
            std::stable_sort(ss.begin(), ss.end(), [](const SampleRecord* a, const SampleRecord* b) {
                return a->problem_id != b->problem_id ? a->problem_id < b->problem_id
                                                      : a->sample_index < b->sample_index;
            });
            std::vector<MetricsSample> ms;
            std::vector<double> think, answer, total, budgets;
            std::vector<bool> correct;
            for (const SampleRecord* s : ss) {
                MetricsSample m;
                m.problem_id = s->problem_id;
                m.correct = options.verdict == REPORT_VERDICT_STRICT ? s->correct_strict : s->correct_flexible;
                m.censored = s->censored;
                m.n_tokens = static_cast<double>(s->n_tokens_think + s->n_tokens_answer);
                const std::string& key =
                    options.verdict == REPORT_VERDICT_STRICT ? s->extracted_strict : s->extracted_flexible;
                m.answer_key = (s->censored || key == "[invalid]") ? "" : key;
                ms.push_back(m);
                think.push_back(static_cast<double>(s->n_tokens_think));
                answer.push_back(static_cast<double>(s->n_tokens_answer));
                total.push_back(m.n_tokens);
                correct.push_back(m.correct);
                budgets.push_back(static_cast<double>(pr.think_budget));
            }
            MetricsSummaryOptions mo;
            mo.pass_k = options.pass_k;
            mo.maj_k = options.maj_k;
            mo.bootstrap = options.bootstrap;
            ap.summary = metrics_summarize(ms, mo);
            ap.tokens.think = metrics_token_means(think, correct);
            ap.tokens.answer = metrics_token_means(answer, correct);
            ap.tokens.total = metrics_token_means(total, correct);
            if (pr.think_budget > 0) ap.compliance = metrics_budget_compliance(think, budgets);
        }
        auto [ti, inserted] = task_index.emplace(pr.task, r.tasks.size());
        if (inserted) r.tasks.push_back(AnalysisTask{pr.task, {}, {}, {}, 0});
        r.tasks[ti->second].points.push_back(r.points.size());
        r.points.push_back(std::move(ap));
    }
    std::vector<AnalysisRun> one;
    one.push_back(std::move(r));
    analysis_align_references(one, options);
    return std::move(one[0]);
}

void analysis_align_references(std::vector<AnalysisRun>& runs, const AnalysisOptions& options) {
    std::map<std::string, double> ref = max_tokens_by_task(runs, options);
    for (AnalysisRun& r : runs) compute_frontiers(r, ref);
}

// ---- JSON ----

json analysis_point_json(const AnalysisPoint& a) {
    const PointRecord& p = a.point;
    const MetricsSummary& s = a.summary;
    json j{{"point_id", p.point_id},
           {"task", p.task},
           {"label", analysis_point_label(p)},
           {"method", analysis_point_method(p)},
           {"mechanism", p.mechanism},
           {"think_budget", p.think_budget},
           {"answer_budget", p.answer_budget},
           {"adapters", parse_or_text(p.adapters_json)},
           {"coefs", parse_or_text(p.coefs_json)},
           {"lora_mode", p.lora_mode},
           {"merge_method", p.merge_method},
           {"merge_lambda", parse_or_text(p.merge_lambda_json)},
           {"temperature", p.temperature},
           {"top_p", p.top_p},
           {"top_k", p.top_k},
           {"n_samples_per_problem", p.n_samples},
           {"n_problems", s.n_problems},
           {"n_samples", s.n_samples},
           {"n_failed", a.n_failed},
           {"on_frontier", a.on_frontier}};
    if (a.empty()) {
        j["accuracy"] = nullptr;
        return j;
    }
    j["accuracy"] = {{"estimate", num(s.accuracy.estimate)}, {"lo", num(s.accuracy.lo)}, {"hi", num(s.accuracy.hi)}};
    json pk = json::object(), mk = json::object();
    for (auto& [k, v] : s.pass_at_k) pk[std::to_string(k)] = num(v);
    for (auto& [k, v] : s.maj_at_k) mk[k == 0 ? "all" : std::to_string(k)] = num(v);
    j["pass_at_k"] = pk;
    j["maj_at_k"] = mk;
    j["censored_rate"] = num(s.censored_rate);
    j["tokens"] = {{"think", token_means_json(a.tokens.think)},
                   {"answer", token_means_json(a.tokens.answer)},
                   {"total", token_means_json(a.tokens.total)}};
    if (a.compliance)
        j["budget_compliance"] = {{"share_within", num(a.compliance->share_within)},
                                  {"mean_relative_deviation", num(a.compliance->mean_relative_deviation)},
                                  {"mean_relative_excess", num(a.compliance->mean_relative_excess)}};
    else
        j["budget_compliance"] = nullptr;
    return j;
}

json analysis_run_meta_json(const RunRecord& r) {
    return json{{"id", r.id},
                {"config_hash", r.config_hash},
                {"git_sha", r.git_sha},
                {"engine", r.engine},
                {"device", r.device},
                {"engine_manifest", parse_or_text(r.engine_json)},
                {"host", r.host},
                {"model_hash", r.model_hash},
                {"adapters", parse_or_text(r.adapters_json)},
                {"merges", parse_or_text(r.merges_json)},
                {"datasets", parse_or_text(r.datasets_json)},
                {"shards", r.shards},
                {"started_at", r.started_at},
                {"finished_at", r.finished_at},
                {"status", r.status},
                {"n_points", r.n_points},
                {"n_samples_planned", r.n_samples_planned}};
}

json analysis_run_json(const AnalysisRun& r) {
    json j{{"run", analysis_run_meta_json(r.run)}, {"n_samples", r.n_samples}, {"n_failed", r.n_failed}};
    json pts = json::array();
    for (const auto& p : r.points) pts.push_back(analysis_point_json(p));
    j["points"] = pts;
    json tasks = json::array();
    for (const AnalysisTask& t : r.tasks) {
        json fr = json::array();
        for (size_t i : t.frontier) fr.push_back(r.points[i].point.point_id);
        tasks.push_back({{"task", t.task},
                         {"frontier_point_ids", fr},
                         {"reference", {{"accuracy", t.reference.accuracy}, {"tokens", t.reference.tokens}}},
                         {"dominated_area", t.dominated_area}});
    }
    j["tasks"] = tasks;
    return j;
}

void JsonReporter::report(const std::vector<AnalysisRun>& runs, std::ostream& out) {
    json arr = json::array();
    for (const auto& r : runs) arr.push_back(analysis_run_json(r));
    out << json{{"runs", arr}}.dump(2) << "\n";
}

// ---- CSV: one row per grid point ----

void CsvReporter::report(const std::vector<AnalysisRun>& runs, std::ostream& out) {
    out << "run_id,point_id,task,label,mechanism,think_budget,coefs,n_problems,n_samples,n_failed,accuracy,accuracy_lo,"
           "accuracy_hi,pass_at_1,censored_rate,tokens_think,tokens_answer,tokens_total,tokens_total_correct,"
           "tokens_total_incorrect,budget_share_within,budget_mean_rel_dev,on_frontier\n";
    for (const auto& r : runs)
        for (const auto& a : r.points) {
            const PointRecord& p = a.point;
            const MetricsSummary& s = a.summary;
            auto v = [&](double x) { return a.empty() || std::isnan(x) ? std::string() : report_fmt(x, 6); };
            auto it = s.pass_at_k.find(1);
            out << r.run.id << ',' << p.point_id << ',' << csv_field(p.task) << ','
                << csv_field(analysis_point_label(p)) << ',' << csv_field(p.mechanism) << ',' << p.think_budget << ','
                << csv_field(analysis_point_coefs(p)) << ',' << s.n_problems << ',' << s.n_samples << ',' << a.n_failed
                << ',' << v(s.accuracy.estimate) << ',' << v(s.accuracy.lo) << ',' << v(s.accuracy.hi) << ','
                << (it == s.pass_at_k.end() ? "" : v(it->second)) << ',' << v(s.censored_rate) << ','
                << v(a.tokens.think.all) << ',' << v(a.tokens.answer.all) << ',' << v(a.tokens.total.all) << ','
                << v(a.tokens.total.correct) << ',' << v(a.tokens.total.incorrect) << ','
                << (a.compliance ? v(a.compliance->share_within) : "") << ','
                << (a.compliance ? v(a.compliance->mean_relative_deviation) : "") << ',' << (a.on_frontier ? 1 : 0)
                << "\n";
        }
}

// ---- console: one table per run and task ----

void ConsoleReporter::report(const std::vector<AnalysisRun>& runs, std::ostream& out) {
    for (const auto& r : runs) {
        out << "run " << r.run.id << "  " << r.run.status << "  engine=" << r.run.engine << " device=" << r.run.device
            << " git=" << r.run.git_sha << "  samples=" << r.n_samples;
        if (r.n_failed > 0) out << "  failed=" << r.n_failed << " (infrastructure; not in any figure)";
        out << "\n";
        for (const AnalysisTask& t : r.tasks) {
            out << "task " << t.task << "  frontier points=" << t.frontier.size()
                << "  dominated area=" << report_fmt(t.dominated_area, 2) << " (ref tokens "
                << report_fmt(t.reference.tokens, 1) << ")\n";
            out << std::left << std::setw(30) << "  point" << std::right << std::setw(8) << "n" << std::setw(6)
                << "fail" << std::setw(8) << "acc" << std::setw(17) << "95% CI" << std::setw(9) << "think"
                << std::setw(8) << "answer" << std::setw(9) << "total" << std::setw(8) << "cens" << std::setw(8)
                << "within"
                << "  F\n";
            for (size_t i : t.points) {
                const AnalysisPoint& a = r.points[i];
                std::string name = "  " + std::to_string(a.point.point_id) + " " + analysis_point_label(a.point);
                if (name.size() > 29) name = name.substr(0, 29);
                out << std::left << std::setw(30) << name << std::right << std::setw(8) << a.summary.n_samples
                    << std::setw(6) << a.n_failed;
                if (a.empty()) {
                    out << "  (no samples)\n";
                    continue;
                }
                std::string ci =
                    "[" + report_fmt(a.summary.accuracy.lo) + "," + report_fmt(a.summary.accuracy.hi) + "]";
                out << std::setw(8) << report_fmt(a.summary.accuracy.estimate) << std::setw(17) << ci << std::setw(9)
                    << report_fmt(a.tokens.think.all, 1) << std::setw(8) << report_fmt(a.tokens.answer.all, 1)
                    << std::setw(9) << report_fmt(a.tokens.total.all, 1) << std::setw(8)
                    << report_fmt(a.summary.censored_rate) << std::setw(8)
                    << (a.compliance ? report_fmt(a.compliance->share_within) : "-") << "  "
                    << (a.on_frontier ? "*" : "") << "\n";
            }
        }
    }
}

}  // namespace adabench
