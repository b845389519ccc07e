// golden: the whole composition path (model_load -> LoRA merged / unmerged, linear and task-arithmetic
// merges -> CpuBackend) against the independent PyTorch reference in tools/reference/reference.py.
// Each golden file (tests/golden/*.json) gives prompts, greedy ids and the fp32 logits that chose
// them; every case of a file runs in ONE batch (prompts of different lengths prefilled together,
// then decoded together), and we require max |logit diff| <= 1e-4 and identical greedy tokens,
// printing `OK maxdiff=...` or the first differing step. Also: merged and unmerged LoRA agree, and
// per-sequence LoRA coefficients in one batch reproduce both the base and the LoRA-mix goldens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engines/cpu/cpu_backend.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"

using namespace adabench;
using nlohmann::json;

namespace {

constexpr double k_tol = 1e-4;

std::string src(const std::string& rel) { return std::string(ADABENCH_SOURCE_DIR) + "/" + rel; }

json read_golden(const std::string& name) {
    std::ifstream f(src("tests/golden/" + name + ".json"));
    if (!f) throw std::runtime_error("cannot open golden " + name);
    json g = json::parse(f);
    if (g.value("version", 0) != 1) throw std::runtime_error("golden " + name + ": unknown version");
    return g;
}

struct Composed {
    std::shared_ptr<const ModelWeights> weights;
    std::vector<std::shared_ptr<const LoraAdapter>> adapters;  // for the unmerged path
    std::vector<float> coefs;
};

// Builds what a golden describes. merged_lora: fold the adapters into the weights instead.
Composed compose(const json& g, bool merged_lora) {
    Composed c;
    auto model = model_load(src(g.at("model").get<std::string>()));
    std::shared_ptr<const ModelWeights> w = model;
    if (g.contains("merge")) {
        const json& m = g.at("merge");
        std::vector<float> lam = m.at("lambda").get<std::vector<float>>();
        if (m.at("method") == "linear") {
            auto other = model_load(src(m.at("with").get<std::string>()));
            w = merge_linear(*model, *other, lam);
        } else {
            auto base = model_load(src(m.at("base").get<std::string>()));
            w = merge_task_arithmetic(*base, {model.get()}, {lam});
        }
    }
    if (g.contains("adapters")) {
        for (const auto& a : g.at("adapters")) {
            c.adapters.push_back(lora_load_adapter(src(a.at("path").get<std::string>()), *w));
            c.coefs.push_back(a.at("coef").get<float>());
        }
        if (merged_lora) {
            w = lora_merge_weights(*w, c.adapters, c.coefs);
            c.adapters.clear();
            c.coefs.clear();
        }
    }
    c.weights = w;
    return c;
}

struct RunResult {
    std::vector<std::vector<int32_t>> ids;              // per sequence
    std::vector<std::vector<std::vector<float>>> rows;  // per sequence, per step: logits
};

// Greedy decoding of all prompts in one batch; per_seq_coefs[i] are sequence i's LoRA coefficients.
RunResult run_batch(CpuBackend& b, const std::vector<std::vector<int32_t>>& prompts, int n_steps, int n_rows,
                    const std::vector<std::vector<float>>& per_seq_coefs) {
    const size_t V = (size_t)b.config().vocab_size;
    const size_t n = prompts.size();
    RunResult r;
    r.ids.resize(n);
    r.rows.resize(n);
    BackendBatch batch;
    for (size_t i = 0; i < n; ++i) batch.slots.push_back(b.seq_alloc());
    batch.tokens = prompts;
    batch.lora_coefs = per_seq_coefs;
    std::vector<float> logits(n * V);
    for (int step = 0; step < n_steps; ++step) {
        b.forward(batch, logits.data());
        for (size_t i = 0; i < n; ++i) {
            const float* row = logits.data() + i * V;
            if (step < n_rows) r.rows[i].emplace_back(row, row + V);
            int32_t next = (int32_t)(std::max_element(row, row + V) - row);
            r.ids[i].push_back(next);
            batch.tokens[i] = {next};
        }
    }
    for (int s : batch.slots) b.seq_free(s);
    return r;
}

// Compares a run with the golden's cases; prints OK maxdiff=... or the first difference.
void expect_matches_golden(const std::string& label, const json& g, const RunResult& r,
                           const std::vector<size_t>& case_of_seq) {
    double maxdiff = 0;
    bool ok = true;
    for (size_t i = 0; i < case_of_seq.size(); ++i) {
        const json& c = g.at("cases").at(case_of_seq[i]);
        std::vector<int32_t> want = c.at("greedy_ids").get<std::vector<int32_t>>();
        const json& want_rows = c.at("logits");
        for (size_t s = 0; s < want_rows.size() && s < r.rows[i].size(); ++s) {
            std::vector<float> ref = want_rows[s].get<std::vector<float>>();
            ASSERT_EQ(ref.size(), r.rows[i][s].size());
            for (size_t v = 0; v < ref.size(); ++v) {
                double d = std::fabs((double)ref[v] - r.rows[i][s][v]);
                if (d > k_tol && ok) {
                    std::printf("%s: case %zu step %zu token %zu: got %.7g, reference %.7g (diff %.3g)\n",
                                label.c_str(), case_of_seq[i], s, v, r.rows[i][s][v], ref[v], d);
                    ok = false;
                }
                maxdiff = std::max(maxdiff, d);
            }
        }
        for (size_t s = 0; s < want.size(); ++s) {
            if (s >= r.ids[i].size() || r.ids[i][s] != want[s]) {
                std::printf("%s: case %zu first differing greedy token at step %zu: got %d, reference %d\n",
                            label.c_str(), case_of_seq[i], s, s < r.ids[i].size() ? r.ids[i][s] : -1, want[s]);
                ok = false;
                break;
            }
        }
        EXPECT_EQ(r.ids[i], want) << label << " case " << case_of_seq[i];
    }
    EXPECT_LE(maxdiff, k_tol) << label;
    if (ok) std::printf("%s: OK maxdiff=%.3g\n", label.c_str(), maxdiff);
}

// Runs every case of a golden in one batch with the composed weights.
void check_golden(const std::string& name, bool merged_lora = false) {
    json g = read_golden(name);
    Composed c = compose(g, merged_lora);
    CpuBackendOptions o;
    o.n_threads = 2;
    CpuBackend b(c.weights, o);
    if (!c.adapters.empty()) b.set_lora_adapters(c.adapters);
    std::vector<std::vector<int32_t>> prompts;
    std::vector<size_t> case_of_seq;
    size_t n_steps = 0, n_rows = 0;
    for (size_t i = 0; i < g.at("cases").size(); ++i) {
        const json& cs = g.at("cases")[i];
        prompts.push_back(cs.at("prompt_ids").get<std::vector<int32_t>>());
        case_of_seq.push_back(i);
        n_steps = std::max(n_steps, cs.at("greedy_ids").size());
        n_rows = std::max(n_rows, cs.at("logits").size());
    }
    std::vector<std::vector<float>> coefs;
    if (!c.coefs.empty()) coefs.assign(prompts.size(), c.coefs);
    RunResult r = run_batch(b, prompts, (int)n_steps, (int)n_rows, coefs);
    expect_matches_golden(name + (merged_lora ? " (merged LoRA)" : ""), g, r, case_of_seq);
}

}  // namespace

TEST(Golden, Qwen2TinyRandom) { check_golden("qwen2-tiny-random"); }
TEST(Golden, Qwen2TinyLoraMixUnmerged) { check_golden("qwen2-tiny-lora-mix", false); }
TEST(Golden, Qwen2TinyLoraMixMerged) { check_golden("qwen2-tiny-lora-mix", true); }
TEST(Golden, Qwen2TinyMergeLinear) { check_golden("qwen2-tiny-merge-linear"); }
TEST(Golden, Qwen2TinyMergeTaskArithmetic) { check_golden("qwen2-tiny-merge-task-arithmetic"); }
TEST(Golden, Stories260K) { check_golden("stories260K"); }

TEST(Golden, Stories260KReproducesReferenceGreedyJson) {
    // The fixture bundle's own reference (float64, llama2.c semantics), independent of our goldens.
    std::ifstream f(src("tests/fixtures/models/stories260K/reference_greedy.json"));
    json ref = json::parse(f);
    auto w = model_load(src("tests/fixtures/models/stories260K"));
    CpuBackend b(w, {});
    RunResult r = run_batch(b, {{ref.at("bos_id").get<int32_t>()}}, (int)ref.at("greedy_ids").size(), 8, {});
    EXPECT_EQ(r.ids[0], ref.at("greedy_ids").get<std::vector<int32_t>>());
    double worst = 0;
    for (const auto& step : ref.at("first_steps_top5_logits")) {
        size_t pos = step.at("pos").get<size_t>();
        for (const auto& tv : step.at("top5")) {
            worst = std::max(worst, std::fabs(r.rows[0][pos][tv[0].get<size_t>()] - tv[1].get<double>()));
        }
    }
    EXPECT_LE(worst, 1e-4);
    std::printf("stories260K vs reference_greedy.json: %zu ids identical, top-5 logits maxdiff=%.3g\n", r.ids[0].size(),
                worst);
}

TEST(Golden, MergedAndUnmergedLoraAgree) {
    json g = read_golden("qwen2-tiny-lora-mix");
    Composed merged = compose(g, true), unmerged = compose(g, false);
    CpuBackendOptions o;
    o.n_threads = 2;
    CpuBackend bm(merged.weights, o), bu(unmerged.weights, o);
    bu.set_lora_adapters(unmerged.adapters);
    std::vector<std::vector<int32_t>> prompts = {{1, 17, 42, 99, 5, 256, 3}, {1, 300, 7}, {9}};
    RunResult rm = run_batch(bm, prompts, 20, 20, {});
    RunResult ru = run_batch(bu, prompts, 20, 20, std::vector<std::vector<float>>(prompts.size(), unmerged.coefs));
    double worst = 0;
    for (size_t i = 0; i < prompts.size(); ++i) {
        EXPECT_EQ(rm.ids[i], ru.ids[i]) << "sequence " << i;
        for (size_t s = 0; s < rm.rows[i].size(); ++s) {
            for (size_t v = 0; v < rm.rows[i][s].size(); ++v) {
                worst = std::max(worst, (double)std::fabs(rm.rows[i][s][v] - ru.rows[i][s][v]));
            }
        }
    }
    EXPECT_LE(worst, k_tol);
    std::printf("merged vs unmerged LoRA: maxdiff=%.3g over 3 sequences x 20 steps\n", worst);
}

TEST(Golden, PerSequenceLoraCoefficientsInOneBatch) {
    // Sequence 0 with the LoRA mix, sequence 1 with coefficients 0 (the base model), same batch:
    // each must match its own golden.
    json gm = read_golden("qwen2-tiny-lora-mix");
    json gb = read_golden("qwen2-tiny-random");
    Composed c = compose(gm, false);
    CpuBackendOptions o;
    o.n_threads = 2;
    CpuBackend b(c.weights, o);
    b.set_lora_adapters(c.adapters);
    std::vector<std::vector<int32_t>> prompts = {gm.at("cases")[0].at("prompt_ids").get<std::vector<int32_t>>(),
                                                 gb.at("cases")[1].at("prompt_ids").get<std::vector<int32_t>>()};
    RunResult r = run_batch(b, prompts, 12, 12, {c.coefs, std::vector<float>(c.coefs.size(), 0.0f)});
    RunResult mix, base;
    mix.ids = {r.ids[0]};
    mix.rows = {r.rows[0]};
    base.ids = {r.ids[1]};
    base.rows = {r.rows[1]};
    expect_matches_golden("per-sequence coefs: LoRA mix", gm, mix, {0});
    expect_matches_golden("per-sequence coefs: base", gb, base, {1});
}

// The bundled organism (models/organism, trained by tools/train/train.py): goldens are written by
// `reference.py organism-goldens` once the organism exists; until then these tests are skipped.
TEST(Golden, Organism) {
    int n = 0;
    for (const char* name :
         {"organism-base", "organism-lora-mix", "organism-merge-linear", "organism-merge-task-arithmetic"}) {
        if (!std::ifstream(src(std::string("tests/golden/") + name + ".json"))) continue;
        // The organism's stages land one by one; a golden whose inputs are not in this checkout waits.
        json g = read_golden(name);
        std::vector<std::string> needs = {g.at("model").get<std::string>() + "/config.json"};
        if (g.contains("adapters")) {
            for (const auto& a : g.at("adapters"))
                needs.push_back(a.at("path").get<std::string>() + "/adapter_config.json");
        }
        if (g.contains("merge")) {
            for (const char* k : {"with", "base"}) {
                if (g.at("merge").contains(k)) needs.push_back(g.at("merge").at(k).get<std::string>() + "/config.json");
            }
        }
        bool present = true;
        for (const auto& p : needs) present = present && std::ifstream(src(p)).good();
        if (!present) {
            std::printf("%s: skipped, its models are not in this checkout\n", name);
            continue;
        }
        check_golden(name);
        if (std::string(name) == "organism-lora-mix") check_golden(name, true);
        ++n;
    }
    if (n == 0) GTEST_SKIP() << "no organism goldens (run tools/reference/reference.py organism-goldens)";
}
