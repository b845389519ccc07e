// Matching, paired tests and summaries for two runs (see compare.h).
#include "reports/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "common/error.h"

namespace adabench {

using json = nlohmann::json;

namespace {

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

struct Outcome {
    bool correct = false;
    int64_t seed = 0;
};
using SampleMap = std::map<std::pair<std::string, int64_t>, Outcome>;

std::map<int64_t, SampleMap> outcomes_by_point(const Store& store, int64_t run_id, ReportVerdict verdict) {
    SampleFilter f;
    f.run_id = run_id;
    f.with_text = false;
    std::map<int64_t, SampleMap> out;
    for (const SampleRecord& s : store.list_samples(f)) {
        // A failed_infra sample is no outcome: it pairs with nothing, so it is neither a win nor a loss.
        if (!store_sample_ok(s)) continue;
        out[s.point_id][{s.problem_id, s.sample_index}] =
            Outcome{verdict == REPORT_VERDICT_STRICT ? s.correct_strict : s.correct_flexible, s.seed};
    }
    return out;
}

}  // namespace

std::string compare_point_key(const PointRecord& p) {
    return p.task + "|" + p.mechanism + "|" + std::to_string(p.think_budget) + "|" + std::to_string(p.answer_budget) +
           "|" + p.adapters_json + "|" + p.coefs_json + "|" + p.merge_method + "|" + p.merge_lambda_json;
}

CompareResult compare_runs(const Store& store, int64_t base_run, int64_t new_run, const CompareOptions& options) {
    CompareResult c;
    c.alpha = options.alpha;
    std::vector<AnalysisRun> runs;
    runs.push_back(analysis_run(store, base_run, options.analysis));
    runs.push_back(analysis_run(store, new_run, options.analysis));
    analysis_align_references(runs, options.analysis);
    c.base = std::move(runs[0]);
    c.new_run = std::move(runs[1]);

    std::map<std::string, size_t> new_by_key;
    for (size_t i = 0; i < c.new_run.points.size(); ++i)
        new_by_key.emplace(compare_point_key(c.new_run.points[i].point), i);
    std::map<int64_t, SampleMap> so_base = outcomes_by_point(store, base_run, options.analysis.verdict);
    std::map<int64_t, SampleMap> so_new = outcomes_by_point(store, new_run, options.analysis.verdict);

    std::vector<bool> matched_new(c.new_run.points.size(), false);
    for (size_t bi = 0; bi < c.base.points.size(); ++bi) {
        const AnalysisPoint& b = c.base.points[bi];
        std::string key = compare_point_key(b.point);
        auto it = new_by_key.find(key);
        if (it == new_by_key.end() || matched_new[it->second]) {
            c.only_base.push_back(b.point.task + ": " + analysis_point_label(b.point));
            continue;
        }
        matched_new[it->second] = true;
        const AnalysisPoint& n = c.new_run.points[it->second];
        PointDelta d;
        d.key = key;
        d.task = b.point.task;
        d.label = analysis_point_label(b.point);
        d.base_index = bi;
        d.new_index = it->second;
        d.acc_base = b.empty() ? NAN : b.summary.accuracy.estimate;
        d.acc_new = n.empty() ? NAN : n.summary.accuracy.estimate;
        d.delta_acc = d.acc_new - d.acc_base;
        d.tokens_base = b.empty() ? NAN : b.tokens.total.all;
        d.tokens_new = n.empty() ? NAN : n.tokens.total.all;
        d.delta_tokens_rel = d.tokens_base > 0 ? (d.tokens_new - d.tokens_base) / d.tokens_base : 0.0;

        // Pair samples by (problem, sample index); per-problem accuracy over the paired samples.
        const SampleMap& sb = so_base[b.point.point_id];
        const SampleMap& sn = so_new[n.point.point_id];
        std::vector<bool> vb, vn;
        std::map<std::string, std::pair<std::vector<bool>, std::vector<bool>>> per_problem;
        for (const auto& [k, ob] : sb) {
            auto jt = sn.find(k);
            if (jt == sn.end()) continue;
            vb.push_back(ob.correct);
            vn.push_back(jt->second.correct);
            if (ob.seed == jt->second.seed) ++d.n_same_seed;
            per_problem[k.first].first.push_back(ob.correct);
            per_problem[k.first].second.push_back(jt->second.correct);
        }
        d.n_pairs = vb.size();
        d.n_problems_paired = per_problem.size();
        if (!vb.empty()) {
            d.mcnemar = metrics_mcnemar(vn, vb);
            std::vector<std::vector<bool>> pb, pn;
            for (auto& [pid, v] : per_problem) {
                pb.push_back(v.first);
                pn.push_back(v.second);
            }
            d.bootstrap = metrics_paired_bootstrap(metrics_per_problem_accuracy(pn), metrics_per_problem_accuracy(pb),
                                                   options.analysis.bootstrap);
            d.p_value = std::min(d.mcnemar.p_value, d.bootstrap->p_value);
            // A paired difference of exactly zero cannot be significant, whatever the resampling says.
            if (d.mcnemar.n_a_only == 0 && d.mcnemar.n_b_only == 0) d.p_value = 1;
            d.significant = d.p_value < options.alpha;
        }
        c.deltas.push_back(d);
    }
    for (size_t i = 0; i < c.new_run.points.size(); ++i)
        if (!matched_new[i])
            c.only_new.push_back(c.new_run.points[i].point.task + ": " +
                                 analysis_point_label(c.new_run.points[i].point));

    std::map<std::string, size_t> task_pos;
    auto task_entry = [&](const std::string& name) -> CompareTask& {
        auto [it, ins] = task_pos.emplace(name, c.tasks.size());
        if (ins) c.tasks.push_back(CompareTask{name, 0, 0, 0});
        return c.tasks[it->second];
    };
    for (const AnalysisTask& t : c.base.tasks) {
        CompareTask& ct = task_entry(t.task);
        ct.area_base = t.dominated_area;
        ct.reference_tokens = t.reference.tokens;
    }
    for (const AnalysisTask& t : c.new_run.tasks) {
        CompareTask& ct = task_entry(t.task);
        ct.area_new = t.dominated_area;
        ct.reference_tokens = t.reference.tokens;
    }
    return c;
}

std::string compare_summary_text(const CompareResult& c) {
    std::ostringstream o;
    o << "compare base run " << c.base.run.id << " -> new run " << c.new_run.run.id << ": " << c.deltas.size()
      << " matched points";
    if (!c.only_base.empty() || !c.only_new.empty())
        o << " (" << c.only_base.size() << " only in base, " << c.only_new.size() << " only in new)";
    o << "\n";
    for (const CompareTask& t : c.tasks)
        o << "task " << t.task << ": dominated area " << report_fmt(t.area_base, 2) << " -> "
          << report_fmt(t.area_new, 2) << " (ref tokens " << report_fmt(t.reference_tokens, 1) << ")\n";
    size_t up = 0, down = 0;
    for (const PointDelta& d : c.deltas) {
        if (!d.significant) continue;
        (d.delta_acc < 0 ? down : up)++;
        o << (d.delta_acc < 0 ? "WORSE  " : "BETTER ") << d.task << " " << d.label << ": accuracy "
          << report_fmt(d.acc_base, 3) << " -> " << report_fmt(d.acc_new, 3) << " (" << (d.delta_acc >= 0 ? "+" : "")
          << report_fmt(d.delta_acc, 3) << ", p=" << report_fmt(d.p_value, 4) << ", pairs=" << d.n_pairs << "), tokens "
          << report_fmt(d.tokens_base, 1) << " -> " << report_fmt(d.tokens_new, 1) << " ("
          << (d.delta_tokens_rel >= 0 ? "+" : "") << report_fmt(100 * d.delta_tokens_rel, 1) << "%)\n";
    }
    o << "significant changes (p < " << report_fmt(c.alpha, 3) << "): " << up << " better, " << down << " worse\n";
    if (c.base.n_failed > 0 || c.new_run.n_failed > 0)
        o << "failed samples (infrastructure, left out of every figure and pair): base " << c.base.n_failed << ", new "
          << c.new_run.n_failed << "\n";
    return o.str();
}

json compare_json(const CompareResult& c) {
    json deltas = json::array();
    for (const PointDelta& d : c.deltas) {
        json j{{"task", d.task},
               {"label", d.label},
               {"base_point_id", c.base.points[d.base_index].point.point_id},
               {"new_point_id", c.new_run.points[d.new_index].point.point_id},
               {"n_pairs", d.n_pairs},
               {"n_same_seed", d.n_same_seed},
               {"n_problems_paired", d.n_problems_paired},
               {"accuracy_base", num(d.acc_base)},
               {"accuracy_new", num(d.acc_new)},
               {"delta_accuracy", num(d.delta_acc)},
               {"tokens_base", num(d.tokens_base)},
               {"tokens_new", num(d.tokens_new)},
               {"delta_tokens_rel", num(d.delta_tokens_rel)},
               {"mcnemar",
                {{"new_only", d.mcnemar.n_a_only}, {"base_only", d.mcnemar.n_b_only}, {"p_value", d.mcnemar.p_value}}},
               {"p_value", d.p_value},
               {"significant", d.significant},
               {"n_failed_base", c.base.points[d.base_index].n_failed},
               {"n_failed_new", c.new_run.points[d.new_index].n_failed}};
        if (d.bootstrap)
            j["paired_bootstrap"] = {{"diff", d.bootstrap->diff},
                                     {"lo", d.bootstrap->lo},
                                     {"hi", d.bootstrap->hi},
                                     {"p_value", d.bootstrap->p_value}};
        deltas.push_back(j);
    }
    json tasks = json::array();
    for (const CompareTask& t : c.tasks)
        tasks.push_back({{"task", t.task},
                         {"area_base", t.area_base},
                         {"area_new", t.area_new},
                         {"reference_tokens", t.reference_tokens}});
    return json{{"base_run", c.base.run.id},
                {"new_run", c.new_run.run.id},
                {"n_failed_base", c.base.n_failed},
                {"n_failed_new", c.new_run.n_failed},
                {"alpha", c.alpha},
                {"deltas", deltas},
                {"tasks", tasks},
                {"only_base", c.only_base},
                {"only_new", c.only_new}};
}

}  // namespace adabench
