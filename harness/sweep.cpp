// The sweep runner (see sweep.h): run bookkeeping, batching, grading, batched commits, and
// merge-db. Batches never span two weight compositions; within one, they mix tasks, problems,
// coefficient vectors (unmerged LoRA) and carry every think budget of a prompt as one fork sweep.
#include "harness/sweep.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <tuple>

#include "common/error.h"
#include "common/version.h"
#include "engines/generation/sampling.h"
#include "graders/grader.h"
#include "harness/switching.h"

namespace adabench {

uint64_t sweep_fnv1a(const std::string& s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::string sweep_host_name() {
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0) return "";
    return buf;
}

namespace {

std::string merge_shards(const std::string& a, const std::string& b) {
    std::set<std::string> parts;
    for (const std::string& s : {a, b}) {
        size_t start = 0;
        while (start < s.size()) {
            size_t p = s.find(',', start);
            std::string part = s.substr(start, p == std::string::npos ? std::string::npos : p - start);
            if (!part.empty()) parts.insert(part);
            if (p == std::string::npos) break;
            start = p + 1;
        }
    }
    // Sort i/N numerically by i.
    std::vector<std::string> v(parts.begin(), parts.end());
    std::sort(v.begin(), v.end(), [](const std::string& x, const std::string& y) {
        return std::atoi(x.c_str()) < std::atoi(y.c_str()) || (std::atoi(x.c_str()) == std::atoi(y.c_str()) && x < y);
    });
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
    return out;
}

BudgetParams budget_params(const SweepBudget& b) {
    BudgetParams p;
    p.mechanism = budget_mechanism_parse(b.mechanism);
    p.answer_budget = b.answer_budget;
    p.min_think = b.min_think;
    p.max_waits = b.max_waits;
    p.wait_text = b.wait_text;
    return p;
}

std::string point_label(const SweepConfig& c, const SweepPoint& p, const std::string& task) {
    std::string s = task;
    const auto& blk = c.budgets[p.budget_index];
    s += " " + blk.mechanism;
    if (p.think_budget >= 0) s += " B=" + std::to_string(p.think_budget);
    if (!c.coef_vectors.empty()) s += " c=" + sweep_vector_json(c.coef_vectors[p.coef_index]);
    if (!c.merge.with.empty()) {
        const auto& l = c.merge.lambdas[p.lambda_index];
        s += " lambda=" + (l.size() == 1 ? nlohmann::json(l[0]).dump() : sweep_vector_json(l));
        if (p.lambda_index < c.merge.lambda_tags.size() && !c.merge.lambda_tags[p.lambda_index].empty())
            s += " tag=" + c.merge.lambda_tags[p.lambda_index];
    }
    if (c.prefill_base) s += " prefill=base";
    return s;
}

std::string task_template(const SweepConfig& c, const SweepTaskSpec& t) {
    return !t.prompt_template.empty() ? t.prompt_template : c.prompt_template;
}

// What a failing engine batch was running, for its error (#20 D12: "logit of token 0 is NaN"
// alone names no model, adapter or λ): the model, the composition (merge λ, merged coefficients),
// the adapters and the coefficient vectors of the batch's requests, and its tasks.
std::string sweep_batch_context(const SweepConfig& c, const SweepComposition& comp,
                                const std::vector<const SweepUnit*>& pending, size_t i, size_t j) {
    std::string out = "model " + c.model;
    if (!c.merge.with.empty()) out += " merged with " + c.merge.with;
    if (comp.label != "base") out += " (" + comp.label + ")";
    if (!c.adapters.empty()) {
        out += ", adapters ";
        for (size_t a = 0; a < c.adapters.size(); ++a) out += (a ? "," : "") + c.adapters[a].path;
        if (c.lora_mode == "unmerged") {
            std::set<size_t> coefs;
            for (size_t k = i; k < j; ++k) coefs.insert(pending[k]->coef_index);
            out += " with coefficients ";
            size_t n = 0;
            for (size_t k : coefs) {
                if (n++ == 4) {
                    out += " and " + std::to_string(coefs.size() - 4) + " more";
                    break;
                }
                out += (n > 1 ? " " : "") + sweep_vector_json(c.coef_vectors[k]);
            }
        }
    }
    std::set<size_t> tasks;
    for (size_t k = i; k < j; ++k) tasks.insert(pending[k]->task_index);
    out += ", task";
    for (size_t t : tasks) out += " " + c.tasks[t].name;
    return out;
}

}  // namespace

uint64_t sweep_sample_seed(uint64_t seed, const std::string& task, const std::string& problem_id, int sample_index) {
    uint64_t h = sampling_splitmix64(seed);
    h = sampling_splitmix64(h ^ sweep_fnv1a(task));
    h = sampling_splitmix64(h ^ sweep_fnv1a(problem_id));
    h = sampling_splitmix64(h ^ static_cast<uint64_t>(sample_index));
    return h;
}

std::vector<Dataset> sweep_load_tasks(const SweepConfig& config, const std::string& root) {
    std::vector<Dataset> out;
    for (const auto& t : config.tasks) {
        TaskConfig tc = dataset_load_task(t.name, root);
        DatasetLoadOptions o;
        if (t.limit >= 0) o.limit = static_cast<size_t>(t.limit);
        o.ids = t.ids;
        out.push_back(dataset_load(tc, o));
        if (out.back().problems.empty())
            throw Error("task " + t.name + ": no problems after the limit and id filters", "check limit and ids");
    }
    return out;
}

SweepSummary sweep_run(const SweepConfig& c, const std::vector<Dataset>& tasks, SweepEngineProvider& provider,
                       Store& store, const SweepOptions& opt) {
    if (tasks.size() != c.tasks.size()) throw Error("sweep_run: the loaded tasks do not match the config");
    std::vector<size_t> counts;
    std::vector<GraderDataset> graders;
    for (const auto& d : tasks) {
        counts.push_back(d.problems.size());
        graders.push_back(grader_dataset_from_name(d.task.grader));
    }
    SweepPlan plan = sweep_plan(c, counts);
    std::vector<SweepUnit> units = sweep_shard_units(plan, opt.shard);
    const std::vector<SwitchPoint> switch_points = switch_plan(c, plan);

    // ---- the run: new, continued (same config hash) or resumed by id ----
    nlohmann::json canonical = sweep_config_canonical(c);
    std::string hash = sweep_config_hash(c);
    nlohmann::json ident = provider.identity();
    nlohmann::json datasets = nlohmann::json::array();
    for (const auto& d : tasks) datasets.push_back(dataset_identity_json(d));
    RunRecord run;
    run.config_json = canonical.dump();
    run.config_hash = hash;
    run.git_sha = version_git_sha();
    run.host = sweep_host_name();
    run.model_hash = ident.value("model_hash", "");
    run.adapters_json = ident.value("adapters", nlohmann::json::array()).dump();
    run.merges_json = ident.value("merges", nlohmann::json::array()).dump();
    run.datasets_json = datasets.dump();
    run.shards = opt.shard.text();
    run.n_points = static_cast<int64_t>(plan.points.size() + switch_points.size());
    // A switch point holds one sample per (problem, sample index) of its task.
    int64_t n_switch_samples = 0;
    for (const auto& sp : switch_points) n_switch_samples += static_cast<int64_t>(counts[sp.task_index]) * c.sampling.n;
    run.n_samples_planned = plan.n_samples + n_switch_samples;

    SweepSummary summary;
    std::optional<RunRecord> existing;
    if (opt.resume_run_id > 0) {
        existing = store.get_run(opt.resume_run_id);
        if (!existing)
            throw Error(store.path() + ": no run " + std::to_string(opt.resume_run_id) + " to resume",
                        "adabench runs --db " + store.path() + " lists the runs");
        if (existing->config_hash != hash)
            throw Error("cannot resume run " + std::to_string(opt.resume_run_id) + " of " + store.path() +
                            ": it was made with config hash " + existing->config_hash.substr(0, 12) + ", but " +
                            opt.config_source + " hashes to " + hash.substr(0, 12),
                        "the config changed; drop --resume to start a new run, or rerun with the run's own config "
                        "(stored in runs.config_json)");
    }
    bool claimed = false;  // this session inserted the run (claim_run) and owns it from the start
    if (!existing && opt.resume_run_id <= 0 && !opt.new_run) {
        // The latest run with this config, or a new one, in one transaction: a second sweep of the
        // same config starting at the same moment joins this run instead of making another.
        RunRecord fresh = run;
        fresh.started_at = store_now_iso8601();
        fresh.status = "running";
        auto [r, found] = store.claim_run(fresh);
        if (found) {
            existing = r;
        } else {
            run.id = r.id;
            run.started_at = fresh.started_at;
            claimed = true;
        }
    }
    if (existing) {
        auto check = [&](const char* what, const std::string& was, const std::string& now) {
            if (was != now)
                throw Error("cannot continue run " + std::to_string(existing->id) + " of " + store.path() + ": the " +
                                what + " changed since it started (" + was.substr(0, 80) + " -> " + now.substr(0, 80) +
                                ")",
                            "results would mix two versions; pass --new-run to start a fresh run");
        };
        check("model files", existing->model_hash, run.model_hash);
        check("adapter files", existing->adapters_json, run.adapters_json);
        check("merge model files", existing->merges_json, run.merges_json);
        check("task data", existing->datasets_json, run.datasets_json);
        run.id = existing->id;
        run.started_at = existing->started_at;
        run.engine = existing->engine;
        run.device = existing->device;
        run.engine_json = existing->engine_json;
        run.shards = existing->shards.empty() && run.shards.empty() ? "" : merge_shards(existing->shards, run.shards);
        summary.resumed = true;
    } else if (!claimed) {
        run.started_at = store_now_iso8601();
    }
    run.status = "running";
    run.finished_at = "";
    if (existing || claimed)
        store.update_run(run);
    else
        run.id = store.insert_run(run);
    summary.run_id = run.id;

    std::vector<PointRecord> point_records;
    for (const auto& p : plan.points) {
        PointRecord r;
        r.run_id = run.id;
        r.point_id = p.point_id;
        const auto& blk = c.budgets[p.budget_index];
        r.task = tasks[p.task_index].task.name;
        r.mechanism = blk.mechanism;
        r.think_budget = p.think_budget;
        r.answer_budget = blk.answer_budget;
        r.min_think = blk.min_think;
        r.max_waits = blk.max_waits;
        r.max_tokens = blk.max_tokens;
        nlohmann::json names = nlohmann::json::array();
        for (const auto& a : c.adapters) names.push_back(a.name);
        r.adapters_json = names.dump();
        r.coefs_json = c.coef_vectors.empty() ? "[]" : sweep_vector_json(c.coef_vectors[p.coef_index]);
        r.lora_mode = c.adapters.empty() ? "" : c.lora_mode;
        if (!c.merge.with.empty()) {
            r.merge_method = c.merge.method;
            const auto& l = c.merge.lambdas[p.lambda_index];
            r.merge_lambda_json = l.size() == 1 ? nlohmann::json(l[0]).dump() : sweep_vector_json(l);
        }
        r.temperature = c.sampling.temperature;
        r.top_p = c.sampling.top_p;
        r.top_k = c.sampling.top_k;
        r.n_samples = c.sampling.n;
        r.base_seed = static_cast<int64_t>(c.sampling.seed);
        std::string tmpl = task_template(c, c.tasks[p.task_index]);
        r.prompt_template = tmpl.empty() ? tasks[p.task_index].task.default_template : tmpl;
        if (c.chat_template != "auto") r.prompt_template += " | chat:" + c.chat_template;
        r.label = point_label(c, p, r.task);
        point_records.push_back(std::move(r));
    }
    for (const auto& sp : switch_points) {
        // The target's record with the switch's mechanism and label.
        PointRecord r = point_records[static_cast<size_t>(sp.target_point)];
        const PointRecord& probe = point_records[static_cast<size_t>(sp.probe_point)];
        r.point_id = sp.point_id;
        r.mechanism = switch_mechanism(c.switching, sp.threshold);
        r.label = r.task + " " + r.mechanism + " probe[" + probe.label.substr(probe.task.size() + 1) + "] target[" +
                  point_records[static_cast<size_t>(sp.target_point)].label.substr(r.task.size() + 1) + "]";
        point_records.push_back(std::move(r));
    }
    store.insert_points(point_records);

    // ---- what is left: every key without an ok row (failed_infra samples are re-issued) ----
    std::set<SampleKey> done = store.sample_keys(run.id);
    auto unit_done = [&](const SweepUnit& u) {
        const std::string& pid = tasks[u.task_index].problems[u.problem_index].id;
        for (int64_t p : u.point_ids)
            if (!done.count(SampleKey{p, pid, u.sample_index})) return false;
        return true;
    };
    std::vector<const SweepUnit*> pending;
    for (const auto& u : units) {
        summary.n_planned += static_cast<int64_t>(u.point_ids.size());
        if (unit_done(u))
            summary.n_done_before += static_cast<int64_t>(u.point_ids.size());
        else
            pending.push_back(&u);
    }
    int64_t n_done = summary.n_done_before;
    done.clear();

    SweepProgress progress(opt.progress, stderr, opt.progress_interval_s);
    progress.start(summary.n_planned, n_done,
                   "run " + std::to_string(run.id) + (run.shards.empty() ? "" : " shard " + opt.shard.text()));

    auto mark = [&](const std::string& status) {
        if (auto cur = store.get_run(run.id)) {
            cur->status = status;
            cur->finished_at = store_now_iso8601();
            store.update_run(*cur);
        }
    };
    if (provider.wants_longest_prompt()) {
        // Each distinct prompt once: (task, problem, budget stated in the prompt).
        std::set<std::tuple<size_t, size_t, int>> seen;
        int longest = 0;
        for (const SweepUnit* u : pending) {
            if (!seen.insert({u->task_index, u->problem_index, u->prompt_budget}).second) continue;
            const Dataset& d = tasks[u->task_index];
            std::map<std::string, std::string> vars;
            if (u->prompt_budget >= 0) vars["budget"] = std::to_string(u->prompt_budget);
            std::string user = dataset_render_prompt(d.task, d.problems[u->problem_index],
                                                     task_template(c, c.tasks[u->task_index]), vars);
            longest = std::max(longest, static_cast<int>(provider.format_prompt(user).ids.size()));
        }
        provider.set_longest_prompt(longest);
    }
    try {
        bool stopped = false;
        bool engine_recorded = false;
        size_t i = 0;
        while (i < pending.size()) {
            if (opt.stop && opt.stop->load()) {
                stopped = true;
                break;
            }
            size_t comp_index = pending[i]->composition_index;
            Engine& engine = provider.engine_for(plan.compositions[comp_index]);
            // The run keeps the engine of its first session; a run stored before engines had a
            // manifest gains one from the first session that has it.
            if (!engine_recorded && (run.engine.empty() || run.engine_json.empty())) {
                EngineInfo info = engine.info();
                auto cur = store.get_run(run.id);
                if (run.engine.empty()) {
                    run.engine = cur->engine = info.backend;
                    run.device = cur->device = info.device;
                }
                if (run.engine_json.empty()) run.engine_json = cur->engine_json = info.manifest_json;
                store.update_run(*cur);
            }
            engine_recorded = true;
            while (i < pending.size() && pending[i]->composition_index == comp_index) {
                if (opt.stop && opt.stop->load()) {
                    stopped = true;
                    break;
                }
                // One batch: up to batch_size requests.
                size_t end = std::min(pending.size(), i + static_cast<size_t>(c.batch_size));
                size_t j = i;
                while (j < end && pending[j]->composition_index == comp_index) ++j;
                std::vector<GenerateRequest> requests;
                std::vector<SweepPrompt> prompts;
                for (size_t k = i; k < j; ++k) {
                    const SweepUnit& u = *pending[k];
                    const Dataset& d = tasks[u.task_index];
                    const Problem& prob = d.problems[u.problem_index];
                    const SweepBudget& blk = c.budgets[u.budget_index];
                    std::map<std::string, std::string> vars;
                    if (u.prompt_budget >= 0) vars["budget"] = std::to_string(u.prompt_budget);
                    std::string user =
                        dataset_render_prompt(d.task, prob, task_template(c, c.tasks[u.task_index]), vars);
                    SweepPrompt sp = provider.format_prompt(user);
                    GenerateRequest rq;
                    rq.prompt_ids = sp.ids;
                    rq.prompt_opens_thinking = sp.opens_thinking;
                    rq.sampling.temperature = static_cast<float>(c.sampling.temperature);
                    rq.sampling.top_p = static_cast<float>(c.sampling.top_p);
                    rq.sampling.top_k = c.sampling.top_k;
                    rq.sampling.seed = sweep_sample_seed(c.sampling.seed, d.task.name, prob.id, u.sample_index);
                    rq.seq_id = 0;  // the seed already identifies the sequence
                    rq.budget = budget_params(blk);
                    if (!sp.think_begin.empty()) rq.budget.think_begin = sp.think_begin;
                    if (!sp.think_end.empty()) {
                        // The forced text closes thinking with the family's own marker.
                        std::string& ft = rq.budget.forced_text;
                        size_t at = ft.find(rq.budget.think_end);
                        if (at != std::string::npos) ft.replace(at, rq.budget.think_end.size(), sp.think_end);
                        rq.budget.think_end = sp.think_end;
                    }
                    rq.stop = sp.stop;
                    rq.think_budgets = u.think_budgets;
                    rq.max_tokens = blk.max_tokens;
                    if (!c.coef_vectors.empty() && c.lora_mode == "unmerged")
                        for (double x : c.coef_vectors[u.coef_index]) rq.lora_coefs.push_back(static_cast<float>(x));
                    rq.measure_answer_conf = c.signals.answer_confidence;
                    rq.measure_prompt_ppl = c.signals.prompt_ppl;
                    rq.prefill_base = c.prefill_base;
                    requests.push_back(std::move(rq));
                    prompts.push_back(std::move(sp));
                }
                std::vector<std::vector<GenerateResult>> results;
                try {
                    results = engine.generate(requests);
                } catch (const Error& e) {
                    throw Error(sweep_batch_context(c, plan.compositions[comp_index], pending, i, j) + ": " + e.what());
                }
                if (results.size() != requests.size())
                    throw Error("engine " + engine.info().backend + " returned " + std::to_string(results.size()) +
                                " results for " + std::to_string(requests.size()) + " requests");
                std::vector<SampleRecord> rows;
                int64_t tokens = 0, n_ok = 0;
                for (size_t k = i; k < j; ++k) {
                    const SweepUnit& u = *pending[k];
                    const auto& res = results[k - i];
                    if (res.size() != u.point_ids.size())
                        throw Error("engine " + engine.info().backend + " returned " + std::to_string(res.size()) +
                                    " results for a request with " + std::to_string(u.point_ids.size()) + " budgets");
                    const Dataset& d = tasks[u.task_index];
                    const Problem& prob = d.problems[u.problem_index];
                    const GenerateRequest& rq = requests[k - i];
                    int max_think = 0;
                    for (size_t b = 0; b < res.size(); ++b) {
                        const GenerateResult& r = res[b];
                        SampleRecord s;
                        s.run_id = run.id;
                        s.point_id = u.point_ids[b];
                        s.problem_id = prob.id;
                        s.sample_index = u.sample_index;
                        s.seed = static_cast<int64_t>(rq.sampling.seed);
                        s.n_tokens_prompt = r.n_tokens_prompt;
                        s.n_tokens_think = r.n_tokens_think;
                        s.n_tokens_answer = r.n_tokens_answer;
                        s.latency_s = r.latency_s;
                        s.token_exact = r.token_exact;
                        s.engine_json = r.engine_json;
                        s.n_tokens_prefilled = r.n_tokens_prefilled;
                        s.answer_conf = r.answer_conf;
                        s.answer_ppl = r.answer_ppl;
                        s.prompt_ppl = r.prompt_ppl;
                        s.prompt_text = prompts[k - i].text;
                        s.response_text = r.text;
                        s.gold = grader_extract_gold(prob.gold);
                        if (r.status != SAMPLE_STATUS_OK) {
                            // Not a model result: stored so that it is counted and shown, never graded
                            // (no extraction, not correct, not censored); resume re-issues it.
                            s.status = sample_status_name(r.status);
                            s.error = r.error.empty() ? std::string("engine gave no reason") : r.error;
                            rows.push_back(std::move(s));
                            continue;
                        }
                        max_think = std::max(max_think, r.n_tokens_think);
                        tokens += r.n_tokens_answer;
                        ++n_ok;
                        GradeOptions go;
                        go.dataset = graders[u.task_index];
                        go.think_begin = rq.budget.think_begin;
                        go.think_end = rq.budget.think_end;
                        // A prompt that opens thinking leaves "<think>" out of the output; grade the
                        // segment as the model saw it so an unclosed thinking is censored.
                        std::string graded = (prompts[k - i].opens_thinking ? rq.budget.think_begin : "") + r.text;
                        GradeResult g = grader_grade(graded, prob.gold, go);
                        s.finish_reason = finish_reason_name(r.finish_reason);
                        s.forced = r.forced;
                        s.n_wait = r.n_wait;
                        s.censored = r.censored || g.censored;
                        s.extracted_strict = g.strict_extracted;
                        s.extracted_flexible = g.flexible_extracted;
                        s.correct_strict = g.strict_correct && !s.censored;
                        s.correct_flexible = g.flexible_correct && !s.censored;
                        rows.push_back(std::move(s));
                    }
                    tokens += max_think;
                }
                summary.n_written += store.insert_samples(rows);
                summary.n_generated_tokens += tokens;
                n_done += n_ok;  // n_done_before counted whole units only, so this stays <= n_planned
                progress.update(n_done, tokens);
                if (opt.on_commit) opt.on_commit(n_done);
                i = j;
            }
            if (stopped) break;
        }
        // Switch points: assembled from whatever probe and target samples are stored by now.
        if (!switch_points.empty()) {
            int64_t missing = 0;
            summary.n_switch_written = switch_compose(store, run.id, c.switching, switch_points, &missing);
            summary.n_written += summary.n_switch_written;
            summary.n_switch_missing_signal = missing;
        }
        // What this shard holds now: samples stored ok, and failed ones (this session's failures
        // and, when stopped early, earlier ones not yet re-issued).
        std::set<SampleKey> ok = store.sample_keys(run.id), failed = store.failed_sample_keys(run.id);
        for (const auto& u : units) {
            const std::string& pid = tasks[u.task_index].problems[u.problem_index].id;
            for (int64_t p : u.point_ids) {
                SampleKey key{p, pid, u.sample_index};
                summary.n_done += ok.count(key) ? 1 : 0;
                summary.n_failed += failed.count(key) ? 1 : 0;
            }
        }
        summary.status = stopped ? "interrupted" : summary.n_failed > 0 ? "partial" : "finished";
    } catch (...) {
        try {
            mark("failed");
        } catch (...) {
        }
        progress.finish("failed");
        throw;
    }
    mark(summary.status);
    progress.finish(summary.status + ", " + std::to_string(summary.n_written) + " samples written" +
                    (summary.n_failed > 0 ? ", " + std::to_string(summary.n_failed) + " failed (infrastructure)" : ""));
    return summary;
}

MergeDbReport sweep_merge_db(Store& out, const Store& in, bool allow_new) {
    MergeDbReport rep;
    for (const auto& r : in.list_runs()) {
        std::optional<RunRecord> target;
        for (const auto& o : out.list_runs())
            if (o.config_hash == r.config_hash) target = o;
        if (target) {
            auto check = [&](const char* what, const std::string& a, const std::string& b) {
                if (a != b)
                    throw Error(in.path() + " run " + std::to_string(r.id) + " has the config of run " +
                                    std::to_string(target->id) + " in " + out.path() + " but different " + what,
                                "shards must run the same files; rerun the odd shard");
            };
            check("model files", target->model_hash, r.model_hash);
            check("adapter files", target->adapters_json, r.adapters_json);
            check("merge model files", target->merges_json, r.merges_json);
            check("task data", target->datasets_json, r.datasets_json);
            target->shards = merge_shards(target->shards, r.shards);
            if (!r.started_at.empty() && (target->started_at.empty() || r.started_at < target->started_at))
                target->started_at = r.started_at;
            if (r.finished_at > target->finished_at) target->finished_at = r.finished_at;
            if (target->engine.empty()) {
                target->engine = r.engine;
                target->device = r.device;
            }
            if (target->engine_json.empty()) target->engine_json = r.engine_json;
            ++rep.runs_merged;
        } else {
            if (!allow_new)
                throw Error(in.path() + " run " + std::to_string(r.id) + " (config hash " +
                                r.config_hash.substr(0, 12) + ") matches no run of the other inputs",
                            "merge-db combines shards of one sweep: every input must hold runs with the same configs");
            RunRecord copy = r;
            copy.id = 0;
            copy.id = out.insert_run(copy);
            target = copy;
            ++rep.runs_added;
        }
        std::vector<PointRecord> pts = in.list_points(r.id);
        for (auto& p : pts) p.run_id = target->id;
        out.insert_points(pts);
        rep.points += static_cast<int64_t>(pts.size());
        SampleFilter f;
        f.run_id = r.id;
        std::vector<SampleRecord> samples = in.list_samples(f);
        for (auto& s : samples) s.run_id = target->id;
        rep.samples_seen += static_cast<int64_t>(samples.size());
        rep.samples_inserted += out.insert_samples(samples);
        // "partial": some shards are missing or did not finish, or hold failed_infra samples (an ok
        // sample from any input replaces a failed one: Store::insert_samples); running merge-db again
        // with the completed shards adds the rest.
        target->status = out.count_samples(target->id) >= target->n_samples_planned ? "finished" : "partial";
        out.update_run(*target);
    }
    return rep;
}

}  // namespace adabench
