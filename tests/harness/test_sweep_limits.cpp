// Issue 20 (D3, D11, D12) on the sweep's config and plan: grid sizes are computed arithmetically
// and refused above the caps before anything is built; a hex coefficient, a task listed twice and
// an out-of-range integer are errors; an engine error during a sweep names the model, adapters,
// coefficients and task it was running.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>

#include "common/error.h"
#include "fake_engine.h"
#include "fake_task.h"
#include "harness/grid.h"
#include "harness/sweep.h"
#include "harness/sweep_config.h"
#include "sweep_test_util.h"

using namespace adabench;
using namespace adabench::testing;
using json = nlohmann::json;

namespace {

SweepConfig config_of(json j) {
    SweepConfig c = sweep_config_parse(j, "test.json");
    sweep_config_validate(c, "test.json");
    return c;
}

json base_doc() {
    return {{"model", "fake-model"}, {"tasks", {"a", "b"}}, {"budgets", {{"think_budgets", {16, 32, 64}}}}};
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST(SweepPlanSize, EqualsWhatTheBuiltPlanHolds) {
    std::vector<json> extras = {
        json::object(),
        {{"adapters", {"x=0:1:0.5", "y=0,1"}}},
        {{"adapters", {"x=0:1:0.5", "y=0,1"}}, {"lora_mode", "merged"}, {"sampling", {{"n", 3}}}},
        {{"merge", {{"with", "m2"}, {"lambdas", "0:1:0.25"}}},
         {"budgets", json::array({{{"mechanism", "prompt"}, {"think_budgets", {8, 16}}}, {{"mechanism", "none"}}})}},
    };
    for (const auto& extra : extras) {
        json doc = base_doc();
        doc.update(extra);
        SweepConfig c = config_of(doc);
        std::vector<size_t> counts = {5, 7};
        SweepPlanSize z = sweep_plan_size(c, counts);
        SweepPlan plan = sweep_plan(c, counts);
        EXPECT_EQ(z.n_points, plan.points.size()) << extra.dump();
        EXPECT_EQ(z.n_compositions, plan.compositions.size()) << extra.dump();
        EXPECT_EQ(z.n_units, plan.units.size()) << extra.dump();
        EXPECT_EQ(z.n_samples, static_cast<uint64_t>(plan.n_samples)) << extra.dump();
    }
}

TEST(SweepPlanSize, AHugeAdapterProductIsRefusedWithItsSizeBeforeItIsBuilt) {
    // 10001 x 10001 vectors: the old code built all 10^8 of them (3 GB) before checking.
    json doc = base_doc();
    doc["adapters"] = {"lora-long=0:1:0.0001", "lora-short=0:1:0.0001"};
    std::string w = error_of([&] { config_of(doc); });
    EXPECT_NE(w.find("test.json: the adapter coefficient product has 100020001 vectors (10001 x 10001)"),
              std::string::npos)
        << w;
}

TEST(SweepPlanSize, AHugeSampleCountIsRefusedBeforeTheUnitsAreBuilt) {
    json doc = base_doc();
    doc["sampling"] = {{"n", 1000000000}};
    SweepConfig c = config_of(doc);
    std::vector<size_t> counts = {500, 500};
    SweepPlanSize z = sweep_plan_size(c, counts);
    EXPECT_EQ(z.n_units, 1000000000000ull);
    EXPECT_EQ(z.n_samples, 3000000000000ull);
    std::string w = error_of([&] { sweep_plan(c, counts); });
    EXPECT_NE(w.find("1000000000000 engine requests (3000000000000 samples), more than the cap"), std::string::npos)
        << w;
    // Saturation instead of wrap-around.
    EXPECT_EQ(sweep_count_mul(UINT64_MAX / 2, 3), UINT64_MAX);
    EXPECT_EQ(sweep_count_text(UINT64_MAX), "more than 18446744073709551614");
}

TEST(SweepConfigChecks, HexAndNonFiniteCoefficientsAreRefused) {
    for (const char* grid : {"0x10", "0,0x1p3", "nan", "inf", "0:0x1:0.5"}) {
        json doc = base_doc();
        doc["adapters"] = {std::string("lora=") + grid};
        std::string w = error_of([&] { config_of(doc); });
        EXPECT_NE(w.find("is not a decimal number"), std::string::npos) << grid << ": " << w;
    }
    json doc = base_doc();
    doc["adapters"] = {"lora=0,1e-1,+0.5"};
    EXPECT_EQ(config_of(doc).coef_vectors.size(), 3u);
}

TEST(SweepConfigChecks, ATaskListedTwiceIsRefused) {
    json doc = base_doc();
    doc["tasks"] = {"a", {{"name", "b"}}, {{"name", "a"}, {"limit", 3}}};
    std::string w = error_of([&] { config_of(doc); });
    EXPECT_NE(w.find("test.json: task 'a' is listed twice (tasks[0] and tasks[2])"), std::string::npos) << w;
}

TEST(SweepConfigChecks, IntegersBeyondTheirRangeAreRefusedNotWrapped) {
    json doc = base_doc();
    doc["sampling"] = {{"n", 4294967297LL}};  // 2^32 + 1 was read as n = 1
    std::string w = error_of([&] { config_of(doc); });
    EXPECT_NE(w.find("key 'sampling.n' must be at most 2147483647"), std::string::npos) << w;
    doc = base_doc();
    doc["threads"] = 2000;
    w = error_of([&] { config_of(doc); });
    EXPECT_NE(w.find("key 'threads' must be at most 1024"), std::string::npos) << w;
}

TEST(SweepEngineErrors, NameTheModelAdaptersCoefficientsAndTask) {
    std::string dir = temp_dir("limits-nan");
    std::string task = fake_task_write(dir, "fake", 2);
    SweepConfig c = config_of({{"model", "models/organism/base"},
                               {"tasks", {task}},
                               {"prompt_template", "plain"},
                               {"adapters", {"models/organism/lora-long=0,0.5"}},
                               {"budgets", {{"think_budgets", {16}}}},
                               {"batch_size", 1}});
    std::vector<Dataset> tasks = sweep_load_tasks(c);
    struct NanEngine : FakeEngine {
        NanEngine() : FakeEngine(nullptr, 0.0, 0) {}
        std::vector<std::vector<GenerateResult>> generate(const std::vector<GenerateRequest>& rq) override {
            if (!rq[0].lora_coefs.empty() && rq[0].lora_coefs[0] == 0.5f)
                throw Error("sampling: logit of token 0 is NaN");
            return FakeEngine::generate(rq);
        }
    };
    struct NanProvider : FakeProvider {
        NanEngine engine;
        Engine& engine_for(const SweepComposition&) override { return engine; }
    } provider;
    Store store(dir + "/r.db");
    SweepOptions o;
    o.progress = PROGRESS_MODE_NONE;
    std::string w = error_of([&] { sweep_run(c, tasks, provider, store, o); });
    EXPECT_NE(w.find("model models/organism/base, adapters models/organism/lora-long with coefficients [0.5], task "),
              std::string::npos)
        << w;
    EXPECT_NE(w.find("logit of token 0 is NaN"), std::string::npos) << w;
}

// D2: the shipped CUDA example asks 16,384 generated tokens; the cache defaulted to 4,096 positions.
TEST(SweepKvPositions, CoverTheLongestPromptPlusMaxTokens) {
    SweepConfig c =
        sweep_config_load(std::string(ADABENCH_SOURCE_DIR) + "/configs/examples/r1-distill-math500-cuda.json");
    sweep_config_validate(c, "r1");
    EXPECT_EQ(sweep_kv_positions(c, 300, 131072), 300 + 16384);
    EXPECT_EQ(sweep_kv_positions(c, 300, 0), 300 + 16384);  // model limit unknown
    EXPECT_EQ(sweep_kv_positions(c, 300, 8192), 8192);      // never past the model's positions
    json doc = base_doc();
    doc["budgets"] = json::array({{{"think_budgets", {16}}, {"max_tokens", 100}}, {{"max_tokens", 7000}}});
    EXPECT_EQ(sweep_kv_positions(config_of(doc), 50, 0), 7050);  // the largest block
}

TEST(SweepKvPositions, SweepRunPassesTheLongestFormattedPrompt) {
    std::string dir = temp_dir("limits-kv");
    std::string task = fake_task_write(dir, "fake", 5);
    SweepConfig c = config_of({{"model", "m"},
                               {"tasks", {task}},
                               {"prompt_template", "budget"},
                               {"budgets", {{"mechanism", "prompt"}, {"think_budgets", {8, 1024}}}}});
    std::vector<Dataset> tasks = sweep_load_tasks(c);
    struct Sizing : FakeProvider {
        int told = -1, longest_seen = 0, calls_before_engine = 0;
        bool engine_built = false;
        bool wants_longest_prompt() const override { return true; }
        void set_longest_prompt(int n) override {
            told = n;
            if (!engine_built) ++calls_before_engine;
        }
        Engine& engine_for(const SweepComposition& comp) override {
            engine_built = true;
            return FakeProvider::engine_for(comp);
        }
        SweepPrompt format_prompt(const std::string& user) override {
            SweepPrompt p = FakeProvider::format_prompt(user);
            longest_seen = std::max(longest_seen, static_cast<int>(p.ids.size()));
            return p;
        }
    } provider;
    Store store(dir + "/r.db");
    SweepOptions o;
    o.progress = PROGRESS_MODE_NONE;
    sweep_run(c, tasks, provider, store, o);
    EXPECT_EQ(provider.calls_before_engine, 1);
    EXPECT_GT(provider.told, 0);
    EXPECT_EQ(provider.told, provider.longest_seen);  // the "1024" prompts, the longest
}
