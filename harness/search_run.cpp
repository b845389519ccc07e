// adabench search (see search_run.h): config parsing, the genome, the split, the cached evaluator
// over sweep_run, and the NSGA-II / CMA-ES drivers.
#include "harness/search_run.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "common/error.h"
#include "common/io.h"
#include "common/sha256.h"
#include "common/version.h"
#include "engines/generation/sampling.h"
#include "search/cmaes.h"
#include "search/nsga2.h"
#include "search/pareto.h"
#include "search/scalarize.h"

namespace adabench {

namespace {

using json = nlohmann::json;

std::string fmt(double v, int digits = 4) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", digits, v);
    return buf;
}

// Strict reading of one JSON object: every key read is recorded; finish() refuses the others
// (keys starting with "_" are comments).
class Reader {
public:
    Reader(const json& j, std::string source, std::string path) : j_(j), source_(std::move(source)), path_(path) {
        if (!j_.is_object()) fail("must be an object");
    }
    [[noreturn]] void fail(const std::string& what, const std::string& key = "") const {
        std::string where = path_.empty() ? key : key.empty() ? path_ : path_ + "." + key;
        throw Error(source_ + (where.empty() ? "" : ": key '" + where + "'") + ": " + what,
                    "see configs/examples/search-organism.json");
    }
    const json* get(const std::string& key) {
        seen_.insert(key);
        auto it = j_.find(key);
        return it == j_.end() || it->is_null() ? nullptr : &*it;
    }
    double number(const std::string& key, double fallback) {
        const json* v = get(key);
        if (!v) return fallback;
        if (!v->is_number()) fail("expects a number, got " + v->dump(), key);
        double x = v->get<double>();
        if (!std::isfinite(x)) fail("expects a finite number", key);
        return x;
    }
    long integer(const std::string& key, long fallback, long min_value) {
        const json* v = get(key);
        if (!v) return fallback;
        if (!v->is_number_integer()) fail("expects an integer, got " + v->dump(), key);
        long x = v->get<long>();
        if (x < min_value) fail("expects an integer >= " + std::to_string(min_value) + ", got " + v->dump(), key);
        return x;
    }
    std::string str(const std::string& key, const std::string& fallback) {
        const json* v = get(key);
        if (!v) return fallback;
        if (!v->is_string()) fail("expects a string, got " + v->dump(), key);
        return v->get<std::string>();
    }
    bool boolean(const std::string& key, bool fallback) {
        const json* v = get(key);
        if (!v) return fallback;
        if (!v->is_boolean()) fail("expects true or false, got " + v->dump(), key);
        return v->get<bool>();
    }
    std::vector<double> numbers(const std::string& key, size_t n) {
        const json* v = get(key);
        if (!v) return {};
        if (!v->is_array() || v->size() != n) fail("expects a list of " + std::to_string(n) + " numbers", key);
        std::vector<double> out;
        for (const auto& x : *v) {
            if (!x.is_number() || !std::isfinite(x.get<double>()))
                fail("expects a list of " + std::to_string(n) + " numbers", key);
            out.push_back(x.get<double>());
        }
        return out;
    }
    Reader child(const std::string& key) {
        const json* v = get(key);
        static const json empty = json::object();
        return Reader(v ? *v : empty, source_, path_.empty() ? key : path_ + "." + key);
    }
    bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }
    void finish() const {
        for (auto it = j_.begin(); it != j_.end(); ++it)
            if (!seen_.count(it.key()) && (it.key().empty() || it.key()[0] != '_'))
                fail("is not a known key", it.key());
    }

private:
    const json& j_;
    std::string source_, path_;
    std::set<std::string> seen_;
};

double round_to(double x, int decimals) {
    const double s = std::pow(10.0, decimals);
    return std::round(x * s) / s;
}

const char* kHoldoutSuffix = ":holdout";

// What the store records of a candidate's point: the cache key.
std::string point_key(const std::string& task, const std::string& lambda_json, const std::string& coefs_json,
                      int64_t think_budget) {
    return task + "|" + lambda_json + "|" + coefs_json + "|" + std::to_string(think_budget);
}

std::string lambda_json(const std::vector<double>& l) {
    if (l.empty()) return "";
    return l.size() == 1 ? json(l[0]).dump() : sweep_vector_json(l);
}

}  // namespace

std::string SearchGoal::text() const {
    if (kind == "chebyshev") return "chebyshev w=" + sweep_vector_json(weights);
    return "tokens<=" + fmt(tokens, 1);
}

size_t SearchConfig::n_genes() const {
    return static_cast<size_t>(lambda_points) + (coef_genes ? sweep.adapters.size() : 0) + (budget_gene ? 1 : 0);
}

std::string SearchCandidate::text() const {
    std::string s;
    if (!lambda.empty()) s += "lambda=" + lambda_json(lambda);
    if (!coefs.empty()) s += std::string(s.empty() ? "" : " ") + "c=" + sweep_vector_json(coefs);
    if (think_budget >= 0) s += std::string(s.empty() ? "" : " ") + "B=" + std::to_string(think_budget);
    return s.empty() ? "base" : s;
}

SearchConfig search_config_parse(const json& doc, const std::string& source) {
    Reader top(doc, source, "");
    SearchConfig c;
    const json* sweep_doc = top.get("sweep");
    if (!sweep_doc || !sweep_doc->is_object()) top.fail("is required: an object holding a sweep config", "sweep");
    const json* search_doc = top.get("search");
    if (!search_doc || !search_doc->is_object()) top.fail("is required: an object", "search");
    top.finish();
    c.search_doc = *search_doc;

    Reader s(*search_doc, source, "search");
    Reader g = s.child("genome");
    if (g.has("merge_lambda")) {
        Reader m = g.child("merge_lambda");
        c.lambda_points = static_cast<int>(m.integer("points", 1, 1));
        c.lambda_min = m.number("min", 0.0);
        c.lambda_max = m.number("max", 1.0);
        if (c.lambda_points > 64) m.fail("at most 64 control points", "points");
        if (!(c.lambda_min < c.lambda_max)) m.fail("min must be below max");
        m.finish();
    } else {
        g.get("merge_lambda");
    }
    if (g.has("adapter_coefs")) {
        Reader a = g.child("adapter_coefs");
        c.coef_genes = true;
        c.coef_min = a.number("min", 0.0);
        c.coef_max = a.number("max", 1.0);
        if (!(c.coef_min < c.coef_max)) a.fail("min must be below max");
        a.finish();
    } else {
        g.get("adapter_coefs");
    }
    if (g.has("think_budget")) {
        Reader b = g.child("think_budget");
        c.budget_gene = true;
        c.budget_min = static_cast<int>(b.integer("min", 0, 0));
        c.budget_max = static_cast<int>(b.integer("max", 0, 1));
        if (c.budget_min >= c.budget_max) b.fail("min must be below max");
        b.finish();
    } else {
        g.get("think_budget");
    }
    if (c.lambda_points == 0 && !c.coef_genes && !c.budget_gene)
        throw Error(source + ": search.genome declares no gene", "give merge_lambda, adapter_coefs or think_budget");
    c.decimals = static_cast<int>(g.integer("decimals", 3, 0));
    if (c.decimals > 12) g.fail("at most 12", "decimals");
    g.finish();

    Reader sp = s.child("split");
    c.n_calibration = static_cast<int>(sp.integer("calibration", 64, 1));
    c.n_holdout = static_cast<int>(sp.integer("holdout", 0, 0));
    c.split_seed = static_cast<uint64_t>(sp.integer("seed", 0, 0));
    sp.finish();

    c.optimizer = s.str("optimizer", "nsga2");
    if (c.optimizer != "nsga2" && c.optimizer != "cmaes") s.fail("must be \"nsga2\" or \"cmaes\"", "optimizer");
    Reader n = s.child("nsga2");
    c.pop_size = static_cast<size_t>(n.integer("pop_size", 16, 2));
    c.generations = static_cast<int>(n.integer("generations", 10, 0));
    const long nsga_seed = n.integer("seed", 1, 0);
    n.finish();
    Reader cm = s.child("cmaes");
    c.sigma0 = cm.number("sigma0", 0.15);
    if (!(c.sigma0 > 0)) cm.fail("must be positive", "sigma0");
    c.cmaes_popsize = static_cast<size_t>(cm.integer("popsize", 0, 0));
    c.evals_per_goal = static_cast<int>(cm.integer("evals_per_goal", 40, 1));
    const long cma_seed = cm.integer("seed", 1, 0);
    if (const json* goals = cm.get("goals")) {
        if (!goals->is_array()) cm.fail("expects a list of goals", "goals");
        for (size_t i = 0; i < goals->size(); ++i) {
            Reader gr((*goals)[i], source, "search.cmaes.goals[" + std::to_string(i) + "]");
            SearchGoal goal;
            if (gr.has("chebyshev")) {
                goal.kind = "chebyshev";
                goal.weights = gr.numbers("chebyshev", 2);
                if (goal.weights[0] < 0 || goal.weights[1] < 0 || goal.weights[0] + goal.weights[1] <= 0)
                    gr.fail("weights must be >= 0 and not both 0", "chebyshev");
            } else if (gr.has("tokens_at_most")) {
                goal.kind = "tokens_at_most";
                goal.tokens = gr.number("tokens_at_most", 0);
                if (!(goal.tokens > 0)) gr.fail("must be positive", "tokens_at_most");
                goal.penalty = gr.number("penalty", 10.0);
            } else {
                gr.fail("needs \"chebyshev\": [w_accuracy, w_tokens] or \"tokens_at_most\": T");
            }
            gr.finish();
            c.goals.push_back(goal);
        }
    }
    cm.finish();
    if (c.goals.empty())
        for (const auto& w : scalarize_weights_2d(5)) c.goals.push_back(SearchGoal{"chebyshev", w, 0, 10});
    c.seed = static_cast<uint64_t>(c.optimizer == "nsga2" ? nsga_seed : cma_seed);
    c.reference_tokens = s.number("reference_tokens", 0);
    if (const json* rp = s.get("reference_point")) {
        (void)rp;
        c.reference_point = s.numbers("reference_point", 2);
        if (!(c.reference_point[0] > 0 && c.reference_point[1] > 0)) s.fail("must be positive", "reference_point");
    }
    c.baseline_grid = s.boolean("baseline_grid", false);
    s.finish();

    // The sweep block: the genome supplies λ, coefficients and the budget, so placeholders stand
    // in for them here and each candidate replaces them (search_candidate_sweep).
    json sw = *sweep_doc;
    if (c.lambda_points > 0) {
        if (!sw.contains("merge") || !sw["merge"].is_object() || !sw["merge"].contains("with"))
            throw Error(source + ": search.genome.merge_lambda needs sweep.merge.with (the merge partner)");
        sw["merge"]["lambdas"] = json::array({0.5});
    } else if (sw.contains("merge") && sw["merge"].is_object() && !sw["merge"].contains("lambdas")) {
        throw Error(source + ": sweep.merge has no lambdas and the genome has no merge_lambda gene",
                    "add \"merge_lambda\" to search.genome, or fixed lambdas to sweep.merge");
    }
    if (c.coef_genes) {
        if (!sw.contains("adapters") || !sw["adapters"].is_array() || sw["adapters"].empty())
            throw Error(source + ": search.genome.adapter_coefs needs sweep.adapters");
        for (auto& ad : sw["adapters"]) {
            if (ad.is_string())
                ad = ad.get<std::string>().substr(0, ad.get<std::string>().find('='));
            else if (ad.is_object())
                ad.erase("coefs");
        }
        sw["adapter_grid"] = "vectors";
        sw["coef_vectors"] = json::array({json(std::vector<double>(sw["adapters"].size(), 0.5))});
    }
    if (sw.contains("budgets") && sw["budgets"].is_array()) {
        if (sw["budgets"].size() != 1) throw Error(source + ": sweep.budgets must be one block in a search");
        sw["budgets"] = sw["budgets"][0];
    }
    if (c.budget_gene) {
        if (!sw.contains("budgets") || !sw["budgets"].is_object()) sw["budgets"] = json::object();
        sw["budgets"]["think_budgets"] = json::array({c.budget_max});
        if (!sw["budgets"].contains("mechanism")) sw["budgets"]["mechanism"] = "hard_cut";
    }
    if (sw.contains("tasks") && sw["tasks"].is_array())
        for (auto& t : sw["tasks"]) {
            if (t.is_string()) t = json{{"name", t}};
            if (t.is_object() && !t.contains("limit") && !t.contains("ids")) t["limit"] = 0;  // the whole pool
        }
    c.sweep = sweep_config_parse(sw, source + " (sweep)");
    sweep_config_validate(c.sweep, source + " (sweep)");
    if (!c.budget_gene && !c.sweep.budgets.empty() && c.sweep.budgets[0].think_budgets.size() > 1)
        throw Error(source + ": sweep.budgets has several think_budgets; a search candidate takes one",
                    "add a think_budget gene to search.genome, or give one budget");
    if (c.budget_gene && c.sweep.budgets[0].mechanism == "none")
        throw Error(source + ": the think_budget gene needs a budget mechanism (hard_cut or prompt)");
    if (c.sweep.sampling.n < 1) throw Error(source + ": sampling.n must be at least 1");
    return c;
}

SearchConfig search_config_load(const std::string& path) {
    json doc = io_read_json(path);
    if (!doc.is_object()) throw Error(path + ": the search config must be a JSON object");
    return search_config_parse(doc, path);
}

json search_config_canonical(const SearchConfig& c) {
    json j = sweep_config_canonical(c.sweep);
    j["search"] = c.search_doc;
    j["kind"] = "search";
    return j;
}

SearchCandidate search_decode(const SearchConfig& c, const std::vector<double>& genes) {
    if (genes.size() != c.n_genes())
        throw Error("search: a genome of " + std::to_string(genes.size()) + " genes for a config declaring " +
                    std::to_string(c.n_genes()));
    SearchCandidate cand;
    size_t k = 0;
    auto unit = [&](size_t i) { return std::clamp(genes[i], 0.0, 1.0); };
    for (int i = 0; i < c.lambda_points; ++i, ++k)
        cand.lambda.push_back(round_to(c.lambda_min + unit(k) * (c.lambda_max - c.lambda_min), c.decimals));
    if (c.coef_genes)
        for (size_t i = 0; i < c.sweep.adapters.size(); ++i, ++k)
            cand.coefs.push_back(round_to(c.coef_min + unit(k) * (c.coef_max - c.coef_min), c.decimals));
    else if (!c.sweep.coef_vectors.empty())
        cand.coefs = c.sweep.coef_vectors[0];  // fixed by the sweep block
    if (c.budget_gene)
        cand.think_budget = static_cast<int>(std::lround(c.budget_min + unit(k++) * (c.budget_max - c.budget_min)));
    else if (!c.sweep.budgets.empty() && !c.sweep.budgets[0].think_budgets.empty())
        cand.think_budget = c.sweep.budgets[0].think_budgets[0];
    if (c.lambda_points == 0 && !c.sweep.merge.with.empty()) cand.lambda = c.sweep.merge.lambdas.at(0);
    return cand;
}

SweepConfig search_candidate_sweep(const SearchConfig& c, const SearchCandidate& cand,
                                   const std::vector<std::vector<std::string>>& ids) {
    SweepConfig s = c.sweep;
    if (!cand.lambda.empty()) {
        s.merge.lambdas = {cand.lambda};
        s.merge.lambda_tags = {""};
    }
    if (!cand.coefs.empty()) s.coef_vectors = {cand.coefs};
    if (cand.think_budget >= 0) s.budgets[0].think_budgets = {cand.think_budget};
    for (size_t t = 0; t < s.tasks.size(); ++t) {
        s.tasks[t].limit = 0;
        s.tasks[t].ids = ids.at(t);
    }
    sweep_config_validate(s, "search candidate " + cand.text());
    return s;
}

SearchSplit search_split(const SearchConfig& c, const std::vector<Dataset>& all) {
    SearchSplit out;
    for (const auto& d : all) {
        std::vector<std::pair<uint64_t, std::string>> order;
        for (const auto& p : d.problems)
            order.emplace_back(sampling_splitmix64(sampling_splitmix64(c.split_seed) ^ sweep_fnv1a(p.id)), p.id);
        std::sort(order.begin(), order.end());
        const size_t need = static_cast<size_t>(c.n_calibration) + static_cast<size_t>(c.n_holdout);
        if (order.size() < need)
            throw Error("task " + d.task.name + " has " + std::to_string(order.size()) + " problems, fewer than the " +
                            std::to_string(need) + " the split asks for (calibration + holdout)",
                        "lower search.split.calibration / holdout, or raise the task's limit");
        std::vector<std::string> cal, hold;
        for (size_t i = 0; i < need; ++i)
            (i < static_cast<size_t>(c.n_calibration) ? cal : hold).push_back(order[i].second);
        out.calibration.push_back(cal);
        out.holdout.push_back(hold);
    }
    return out;
}

std::vector<double> SearchEvaluation::objectives() const { return {f1, f2}; }

json SearchSummary::json() const {
    auto eval_json = [](const SearchEvaluation& e) {
        nlohmann::json j = {{"config", e.candidate.text()},
                            {"tag", e.tag},
                            {"accuracy", e.accuracy},
                            {"mean_tokens", e.mean_tokens},
                            {"f1", e.f1},
                            {"f2", e.f2},
                            {"n_samples", e.n_samples},
                            {"point_ids", e.point_ids}};
        if (!e.candidate.lambda.empty()) j["lambda"] = e.candidate.lambda;
        if (!e.candidate.coefs.empty()) j["coefs"] = e.candidate.coefs;
        if (e.candidate.think_budget >= 0) j["think_budget"] = e.candidate.think_budget;
        return j;
    };
    nlohmann::json j = {{"run_id", run_id},
                        {"status", status},
                        {"reference_tokens", reference_tokens},
                        {"reference_point", reference_point},
                        {"n_evaluations", n_evaluations},
                        {"n_distinct", n_distinct},
                        {"n_engine", n_engine},
                        {"hypervolume", hypervolume}};
    nlohmann::json front_j = nlohmann::json::array();
    for (const auto& r : front) {
        nlohmann::json row = {{"calibration", eval_json(r.calibration)}};
        if (r.has_holdout) row["holdout"] = eval_json(r.holdout);
        front_j.push_back(row);
    }
    j["front"] = front_j;
    if (n_grid > 0) {
        j["grid"] = {{"n_configs", n_grid}, {"hypervolume", grid_hypervolume}};
        nlohmann::json gf = nlohmann::json::array();
        for (const auto& e : grid_front) gf.push_back(eval_json(e));
        j["grid"]["front"] = gf;
    }
    return j;
}

namespace {

// The evaluator: one candidate = one sweep of one configuration into the scratch store, copied into
// the search run; cached by what the store records of it.
class Evaluator {
public:
    Evaluator(const SearchConfig& c, const std::vector<Dataset>& all, const SearchSplit& split,
              SweepEngineProvider& provider, Store& store, Store& scratch, RunRecord& run, const SearchOptions& opt)
        : c_(c), split_(split), provider_(provider), store_(store), scratch_(scratch), run_(run), opt_(opt) {
        for (int h = 0; h < 2; ++h) {
            const auto& ids = h ? split.holdout : split.calibration;
            std::vector<Dataset> sub;
            for (size_t t = 0; t < all.size(); ++t) {
                Dataset d = all[t];
                std::set<std::string> keep(ids[t].begin(), ids[t].end());
                d.problems.clear();
                for (const auto& p : all[t].problems)
                    if (keep.count(p.id)) d.problems.push_back(p);
                sub.push_back(std::move(d));
            }
            (h ? hold_tasks_ : cal_tasks_) = std::move(sub);
        }
        for (const auto& p : store_.list_points(run_.id)) {
            cache_[point_key(p.task, p.merge_lambda_json, p.coefs_json, p.think_budget)] = p.point_id;
            next_point_id_ = std::max(next_point_id_, p.point_id + 1);
            n_samples_planned_ += expected_samples(p.task);
        }
    }

    size_t n_engine() const { return n_engine_; }
    bool interrupted() const { return interrupted_; }

    // Throws on engine errors; sets interrupted() (and returns an unusable evaluation) when stopped.
    SearchEvaluation evaluate(const SearchCandidate& cand, bool holdout, const std::string& tag) {
        SearchEvaluation e;
        e.candidate = cand;
        e.tag = tag;
        e.holdout = holdout;
        const auto& tasks = holdout ? hold_tasks_ : cal_tasks_;
        std::vector<std::string> keys;
        bool complete = true;
        for (const auto& d : tasks) {
            std::string task = d.task.name + (holdout ? kHoldoutSuffix : "");
            keys.push_back(point_key(task, lambda_json(cand.lambda),
                                     cand.coefs.empty() ? "[]" : sweep_vector_json(cand.coefs), cand.think_budget));
            auto it = cache_.find(keys.back());
            if (it == cache_.end() || store_.count_samples(run_.id, it->second) < expected_samples(task))
                complete = false;
        }
        if (!complete) {
            if (opt_.stop && opt_.stop->load()) {
                interrupted_ = true;
                return e;
            }
            SweepConfig sc = search_candidate_sweep(c_, cand, holdout ? split_.holdout : split_.calibration);
            SweepOptions so;
            so.progress = opt_.progress;
            so.stop = opt_.stop;
            so.config_source = "search candidate " + cand.text();
            SweepSummary sum = sweep_run(sc, tasks, provider_, scratch_, so);
            if (sum.status == "interrupted") {
                interrupted_ = true;
                return e;
            }
            if (sum.status != "finished")
                throw Error("search candidate " + cand.text() + ": " + std::to_string(sum.n_failed) +
                                " samples failed (infrastructure)",
                            "run the same command again to re-issue them");
            copy_into_run(sum.run_id, keys, holdout, tag);
            ++n_engine_;
        } else {
            e.cached = true;
        }
        double correct = 0, tokens = 0;
        int64_t n = 0;
        for (const auto& k : keys) {
            const int64_t pid = cache_.at(k);
            e.point_ids.push_back(pid);
            SampleFilter f;
            f.run_id = run_.id;
            f.point_id = pid;
            f.with_text = false;
            for (const auto& s : store_.list_samples(f)) {
                if (!store_sample_ok(s)) continue;
                correct += s.correct_strict ? 1.0 : 0.0;
                tokens += static_cast<double>(s.n_tokens_think + s.n_tokens_answer);
                ++n;
            }
        }
        if (n == 0) throw Error("search candidate " + cand.text() + ": no sample stored");
        e.n_samples = n;
        e.accuracy = correct / static_cast<double>(n);
        e.mean_tokens = tokens / static_cast<double>(n);
        return e;
    }

private:
    int64_t expected_samples(const std::string& task) const {
        const bool hold =
            task.size() > std::string(kHoldoutSuffix).size() &&
            task.compare(task.size() - std::string(kHoldoutSuffix).size(), std::string::npos, kHoldoutSuffix) == 0;
        const auto& ids = hold ? split_.holdout : split_.calibration;
        std::string name = hold ? task.substr(0, task.size() - std::string(kHoldoutSuffix).size()) : task;
        for (size_t t = 0; t < cal_tasks_.size(); ++t)
            if (cal_tasks_[t].task.name == name) return static_cast<int64_t>(ids[t].size()) * c_.sweep.sampling.n;
        return 0;
    }

    void copy_into_run(int64_t scratch_run, const std::vector<std::string>& keys, bool holdout,
                       const std::string& tag) {
        std::vector<PointRecord> pts = scratch_.list_points(scratch_run);
        if (pts.size() != keys.size())
            throw Error("search: a candidate's sweep planned " + std::to_string(pts.size()) + " points for " +
                        std::to_string(keys.size()) + " tasks");
        std::map<int64_t, int64_t> remap;
        std::vector<PointRecord> out_pts;
        for (size_t i = 0; i < pts.size(); ++i) {
            PointRecord p = pts[i];
            auto it = cache_.find(keys[i]);
            const int64_t id = it != cache_.end() ? it->second : next_point_id_++;
            remap[p.point_id] = id;
            std::string old_task = p.task;
            p.run_id = run_.id;
            p.point_id = id;
            if (holdout) {
                p.task += kHoldoutSuffix;
                if (p.label.compare(0, old_task.size(), old_task) == 0)
                    p.label = p.task + p.label.substr(old_task.size());
            }
            if (p.label.find(" tag=") == std::string::npos) p.label += " tag=" + tag;
            const std::string key = point_key(p.task, p.merge_lambda_json, p.coefs_json, p.think_budget);
            if (key != keys[i]) throw Error("search: internal key mismatch (" + key + " vs " + keys[i] + ")");
            if (it == cache_.end()) n_samples_planned_ += expected_samples(p.task);
            out_pts.push_back(std::move(p));
        }
        SampleFilter f;
        f.run_id = scratch_run;
        std::vector<SampleRecord> samples = scratch_.list_samples(f);
        for (auto& s : samples) {
            s.run_id = run_.id;
            s.point_id = remap.at(s.point_id);
        }
        {
            StoreTransaction tx(store_);
            store_.insert_points(out_pts);
            store_.insert_samples(samples);
            run_.n_points = next_point_id_;
            run_.n_samples_planned = n_samples_planned_;
            store_.update_run(run_);
            tx.commit();
        }
        for (size_t i = 0; i < keys.size(); ++i) cache_[keys[i]] = out_pts[i].point_id;
    }

    const SearchConfig& c_;
    const SearchSplit& split_;
    SweepEngineProvider& provider_;
    Store& store_;
    Store& scratch_;
    RunRecord& run_;
    const SearchOptions& opt_;
    std::vector<Dataset> cal_tasks_, hold_tasks_;
    std::map<std::string, int64_t> cache_;
    int64_t next_point_id_ = 0;
    int64_t n_samples_planned_ = 0;
    size_t n_engine_ = 0;
    bool interrupted_ = false;
};

struct Interrupted {};

}  // namespace

SearchSummary search_run(const SearchConfig& c, const std::vector<Dataset>& tasks, SweepEngineProvider& provider,
                         Store& store, const SearchOptions& opt) {
    auto log = [&](const std::string& line) {
        if (opt.log) opt.log(line);
    };
    const SearchSplit split = search_split(c, tasks);

    // ---- the search run: the latest with this config, or a new one ----
    json canonical = search_config_canonical(c);
    RunRecord run;
    run.config_json = canonical.dump();
    run.config_hash = sha256_hex(run.config_json);
    run.git_sha = version_git_sha();
    run.host = sweep_host_name();
    json ident = provider.identity();
    run.model_hash = ident.value("model_hash", "");
    run.adapters_json = ident.value("adapters", json::array()).dump();
    run.merges_json = ident.value("merges", json::array()).dump();
    json datasets = json::array();
    for (const auto& d : tasks) datasets.push_back(dataset_identity_json(d));
    run.datasets_json = datasets.dump();
    run.engine = c.sweep.engine;
    run.started_at = store_now_iso8601();
    run.status = "running";
    SearchSummary summary;
    if (opt.new_run) {
        run.id = store.insert_run(run);
    } else {
        auto [r, found] = store.claim_run(run);
        if (found) {
            // r.id copied: clang before 16 cannot capture a structured binding.
            auto check = [&, run_id = r.id](const char* what, const std::string& was, const std::string& now) {
                if (was != now)
                    throw Error("cannot continue search run " + std::to_string(run_id) + " of " + store.path() +
                                    ": the " + what + " changed since it started",
                                "pass --new-run to start a fresh search");
            };
            check("model files", r.model_hash, run.model_hash);
            check("adapter files", r.adapters_json, run.adapters_json);
            check("merge model files", r.merges_json, run.merges_json);
            check("task data", r.datasets_json, run.datasets_json);
            summary.resumed = true;
        }
        run = r;
        run.status = "running";
        run.finished_at = "";
        store.update_run(run);
    }
    summary.run_id = run.id;
    summary.reference_point = c.reference_point;

    const std::string scratch_path = opt.scratch_path.empty() ? store.path() + ".search-scratch" : opt.scratch_path;
    auto mark = [&](const std::string& status) {
        if (auto cur = store.get_run(run.id)) {
            cur->status = status;
            cur->finished_at = store_now_iso8601();
            store.update_run(*cur);
        }
    };
    try {
        Store scratch(scratch_path);
        Evaluator ev(c, tasks, split, provider, store, scratch, run, opt);
        auto eval = [&](const SearchCandidate& cand, bool holdout, const std::string& tag) {
            SearchEvaluation e = ev.evaluate(cand, holdout, tag);
            if (ev.interrupted()) throw Interrupted{};
            return e;
        };

        // ---- reference tokens: given, or those of the upper-bound genome ----
        std::map<std::string, SearchEvaluation> seen;  // calibration evaluations of the search, by config
        std::vector<std::string> seen_order;
        auto remember = [&](const SearchEvaluation& e) {
            if (seen.emplace(e.candidate.text(), e).second) seen_order.push_back(e.candidate.text());
        };
        double ref_tokens = c.reference_tokens;
        auto objectives = [&](SearchEvaluation& e) {
            e.f1 = 1.0 - e.accuracy;
            e.f2 = e.mean_tokens / ref_tokens;
        };
        const std::vector<double> upper(c.n_genes(), 1.0);
        if (ref_tokens <= 0) {
            SearchEvaluation e = eval(search_decode(c, upper), false, "reference");
            ref_tokens = e.mean_tokens;
            if (!(ref_tokens > 0))
                throw Error("search: the upper-bound configuration " + e.candidate.text() +
                                " generates no tokens, so tokens cannot be normalised",
                            "set search.reference_tokens");
            log("reference " + e.candidate.text() + ": accuracy " + fmt(e.accuracy, 3) + ", " + fmt(e.mean_tokens, 1) +
                " tokens (objective f2 = tokens / " + fmt(ref_tokens, 1) + ")");
            objectives(e);
            remember(e);
        }
        summary.reference_tokens = ref_tokens;
        auto evaluate_genes = [&](const std::vector<double>& x, const std::string& tag) {
            SearchEvaluation e = eval(search_decode(c, x), false, tag);
            objectives(e);
            remember(e);
            ++summary.n_evaluations;
            return e;
        };
        auto front_of = [&](const std::vector<SearchEvaluation>& evals, std::vector<SearchEvaluation>* front) {
            SearchMatrix F;
            for (const auto& e : evals) F.push_back(e.objectives());
            if (front) {
                // Configurations with equal objectives: the first evaluated stands for them all.
                front->clear();
                std::set<std::vector<double>> taken;
                for (size_t i : search_front_indices(F))
                    if (taken.insert(F[i]).second) front->push_back(evals[i]);
                std::sort(front->begin(), front->end(),
                          [](const SearchEvaluation& a, const SearchEvaluation& b) { return a.f2 < b.f2; });
            }
            return search_hypervolume_2d(F, c.reference_point);
        };
        auto all_seen = [&]() {
            std::vector<SearchEvaluation> v;
            for (const auto& k : seen_order) v.push_back(seen.at(k));
            return v;
        };
        auto progress_line = [&](const std::string& head) {
            std::vector<SearchEvaluation> front;
            const double hv = front_of(all_seen(), &front);
            log(head + ": " + std::to_string(summary.n_evaluations) + " evaluations, " + std::to_string(seen.size()) +
                " distinct configurations (" + std::to_string(ev.n_engine()) + " run by the engine), front " +
                std::to_string(front.size()) + ", best hypervolume " + fmt(hv) + " (reference point " +
                fmt(c.reference_point[0], 2) + ", " + fmt(c.reference_point[1], 2) + ")");
        };

        // ---- the optimiser ----
        const size_t n_genes = c.n_genes();
        if (c.optimizer == "nsga2") {
            Nsga2Options o;
            o.pop_size = c.pop_size;
            o.seed = c.seed;
            Nsga2 algo(std::vector<double>(n_genes, 0.0), std::vector<double>(n_genes, 1.0), o);
            for (int gen = 0; gen <= c.generations; ++gen) {
                SearchMatrix X = algo.ask();
                SearchMatrix F;
                for (const auto& x : X) F.push_back(evaluate_genes(x, "nsga2").objectives());
                algo.tell(F);
                progress_line("generation " + std::to_string(gen) + "/" + std::to_string(c.generations));
            }
        } else {
            for (size_t gi = 0; gi < c.goals.size(); ++gi) {
                const SearchGoal& goal = c.goals[gi];
                CmaesOptions o;
                o.popsize = c.cmaes_popsize;
                o.seed = c.seed + gi;
                Cmaes es(std::vector<double>(n_genes, 0.5), c.sigma0, o);
                int used = 0, gen = 0;
                while (used < c.evals_per_goal && es.stop().empty()) {
                    auto X = es.ask();
                    std::vector<double> v;
                    for (const auto& x : X) {
                        SearchEvaluation e = evaluate_genes(x, "cmaes");
                        v.push_back(
                            goal.kind == "chebyshev"
                                ? scalarize_chebyshev(e.objectives(), goal.weights, {0.0, 0.0})
                                : scalarize_epsilon_constraint(e.objectives(), goal.tokens / ref_tokens, goal.penalty));
                    }
                    es.tell(X, v);
                    used += static_cast<int>(X.size());
                    progress_line("goal " + std::to_string(gi + 1) + "/" + std::to_string(c.goals.size()) + " (" +
                                  goal.text() + ") generation " + std::to_string(gen++) + ", best " + fmt(es.best_f()) +
                                  " at " + search_decode(c, es.best_x()).text());
                }
            }
        }
        summary.n_distinct = seen.size();

        // ---- the front, re-evaluated on the held-out split ----
        std::vector<SearchEvaluation> front;
        summary.hypervolume = front_of(all_seen(), &front);
        for (const auto& e : front) {
            SearchFrontRow row;
            row.calibration = e;
            if (c.n_holdout > 0) {
                row.holdout = eval(e.candidate, true, e.tag);
                objectives(row.holdout);
                row.has_holdout = true;
            }
            summary.front.push_back(row);
        }

        // ---- the static grid with as many configurations ----
        if (c.baseline_grid) {
            // What a sweep would run: one λ for every layer (the control points tied), each adapter
            // coefficient, the budget; evenly spaced values, as many combinations as the search
            // evaluated distinct configurations (never more).
            std::vector<std::vector<size_t>> dims;  // gene indices each grid axis sets
            size_t k = 0;
            if (c.lambda_points > 0) {
                dims.emplace_back();
                for (int i = 0; i < c.lambda_points; ++i) dims.back().push_back(k++);
            }
            if (c.coef_genes)
                for (size_t i = 0; i < c.sweep.adapters.size(); ++i) dims.push_back({k++});
            if (c.budget_gene) dims.push_back({k++});
            std::vector<size_t> m(dims.size(), 1);
            auto product = [&]() {
                size_t p = 1;
                for (size_t v : m) p *= v;
                return p;
            };
            for (bool grew = true; grew;) {
                grew = false;
                for (size_t d = 0; d < m.size(); ++d) {
                    ++m[d];
                    if (product() <= summary.n_distinct) {
                        grew = true;
                    } else {
                        --m[d];
                    }
                }
            }
            std::vector<SearchEvaluation> grid;
            std::set<std::string> grid_seen;
            std::vector<size_t> idx(dims.size(), 0);
            while (true) {
                std::vector<double> x(n_genes, 1.0);
                for (size_t d = 0; d < dims.size(); ++d)
                    for (size_t g : dims[d])
                        x[g] = m[d] == 1 ? 1.0 : static_cast<double>(idx[d]) / static_cast<double>(m[d] - 1);
                SearchEvaluation e = eval(search_decode(c, x), false, "grid");
                objectives(e);
                if (grid_seen.insert(e.candidate.text()).second) grid.push_back(e);
                size_t d = 0;
                while (d < dims.size() && ++idx[d] == m[d]) idx[d++] = 0;
                if (d == dims.size()) break;
            }
            summary.n_grid = grid.size();
            summary.grid_hypervolume = front_of(grid, &summary.grid_front);
            std::string shape;
            for (size_t v : m) shape += (shape.empty() ? "" : " x ") + std::to_string(v);
            log("static grid (" + shape + "): " + std::to_string(grid.size()) + " configurations, hypervolume " +
                fmt(summary.grid_hypervolume) + " (search: " + std::to_string(summary.n_distinct) +
                " configurations, hypervolume " + fmt(summary.hypervolume) + ")");
        }
        summary.n_engine = ev.n_engine();
        summary.status = "finished";
    } catch (const Interrupted&) {
        summary.status = "interrupted";
        mark("interrupted");
        return summary;
    } catch (...) {
        try {
            mark("failed");
        } catch (...) {
        }
        throw;
    }
    mark("finished");
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(scratch_path + suffix, ec);
    return summary;
}

}  // namespace adabench
