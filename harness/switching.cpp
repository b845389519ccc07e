// Adapter switching: switch points of a plan and their samples assembled from the probe's and the
// target's stored samples (see switching.h).
#include "harness/switching.h"

#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace adabench {

namespace {

bool same_vector(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::fabs(a[i] - b[i]) > 1e-9) return false;
    return true;
}

// The grid point of task t and merge λ index l with this side's coefficients and budget (the
// first budget block that has it).
int64_t find_point(const SweepConfig& c, const SweepPlan& plan, size_t t, size_t l, const SweepSwitchSide& side,
                   const char* which) {
    for (const auto& p : plan.points) {
        if (p.task_index != t || p.lambda_index != l || p.think_budget != side.think_budget) continue;
        if (!c.coef_vectors.empty() && !same_vector(c.coef_vectors[p.coef_index], side.coefs)) continue;
        return p.point_id;
    }
    throw Error(std::string("switching: the ") + which + " configuration (coefs " + nlohmann::json(side.coefs).dump() +
                    ", think budget " + std::to_string(side.think_budget) + ") is not a point of the grid",
                "use a coefficient vector and a budget the sweep runs");
}

bool switches(const SweepSwitching& s, double signal, double threshold) {
    return s.switch_below() ? signal < threshold : signal > threshold;
}

// The probe's signal, or NaN when it was not measured.
double probe_signal(const SweepSwitching& s, const SampleRecord& probe) {
    if (s.signal == "answer_conf") return probe.answer_conf >= 0 ? probe.answer_conf : NAN;
    if (s.signal == "answer_ppl") return probe.answer_ppl > 0 ? probe.answer_ppl : NAN;
    return probe.prompt_ppl > 0 ? probe.prompt_ppl : NAN;
}

}  // namespace

std::string switch_mechanism(const SweepSwitching& s, double threshold) {
    std::string t = nlohmann::json(threshold).dump();
    return "switch:" + s.signal + (s.switch_below() ? "<" : ">") + t;
}

std::vector<SwitchPoint> switch_plan(const SweepConfig& c, const SweepPlan& plan) {
    std::vector<SwitchPoint> out;
    if (!c.switching.enabled) return out;
    const size_t n_lambdas = c.merge.with.empty() ? 1 : c.merge.lambdas.size();
    int64_t next = static_cast<int64_t>(plan.points.size());
    for (size_t t = 0; t < c.tasks.size(); ++t)
        for (size_t l = 0; l < n_lambdas; ++l) {
            int64_t probe = find_point(c, plan, t, l, c.switching.probe, "probe");
            int64_t target = find_point(c, plan, t, l, c.switching.target, "target");
            for (double th : c.switching.thresholds) {
                SwitchPoint sp;
                sp.point_id = next++;
                sp.task_index = t;
                sp.lambda_index = l;
                sp.threshold = th;
                sp.probe_point = probe;
                sp.target_point = target;
                out.push_back(sp);
            }
        }
    return out;
}

int64_t switch_compose(Store& store, int64_t run_id, const SweepSwitching& s, const std::vector<SwitchPoint>& points,
                       int64_t* missing_signal) {
    if (missing_signal) *missing_signal = 0;
    if (points.empty()) return 0;
    const bool probe_paid = s.signal != "prompt_ppl";
    // The samples of each probe / target point once, keyed by (problem, sample index).
    using Key = std::pair<std::string, int64_t>;
    std::map<int64_t, std::map<Key, SampleRecord>> by_point;
    auto load = [&](int64_t point) -> const std::map<Key, SampleRecord>& {
        auto it = by_point.find(point);
        if (it != by_point.end()) return it->second;
        SampleFilter f;
        f.run_id = run_id;
        f.point_id = point;
        auto& m = by_point[point];
        for (auto& x : store.list_samples(f))
            if (store_sample_ok(x)) m.emplace(Key{x.problem_id, x.sample_index}, std::move(x));
        return m;
    };
    std::set<SampleKey> done = store.sample_keys(run_id);
    std::vector<SampleRecord> rows;
    int64_t skipped = 0;
    for (const auto& sp : points) {
        const auto& probes = load(sp.probe_point);
        const auto& targets = load(sp.target_point);
        for (const auto& [key, probe] : probes) {
            if (done.count(SampleKey{sp.point_id, key.first, key.second})) continue;
            auto t = targets.find(key);
            if (t == targets.end()) continue;  // the target sample is not stored yet
            const SampleRecord& target = t->second;
            const double v = probe_signal(s, probe);
            if (!std::isfinite(v)) {
                ++skipped;
                continue;
            }
            const bool sw = switches(s, v, sp.threshold);
            SampleRecord r = sw ? target : probe;
            r.point_id = sp.point_id;
            if (sw && probe_paid) {
                r.n_tokens_think = probe.n_tokens_think + target.n_tokens_think;
                r.n_tokens_answer = probe.n_tokens_answer + target.n_tokens_answer;
                r.n_wait = probe.n_wait + target.n_wait;
                r.latency_s = probe.latency_s + target.latency_s;
                if (probe.n_tokens_prefilled >= 0 && target.n_tokens_prefilled >= 0)
                    r.n_tokens_prefilled = probe.n_tokens_prefilled + target.n_tokens_prefilled;
                r.token_exact = probe.token_exact && target.token_exact;
            }
            r.engine_json = nlohmann::json{{"switch",
                                            {{"switched", sw},
                                             {"signal", s.signal},
                                             {"value", v},
                                             {"threshold", sp.threshold},
                                             {"probe_point", sp.probe_point},
                                             {"target_point", sp.target_point}}}}
                                .dump();
            r.created_at.clear();
            rows.push_back(std::move(r));
        }
    }
    if (missing_signal) *missing_signal = skipped;
    if (rows.empty()) return 0;
    return store.insert_samples(rows);
}

}  // namespace adabench
