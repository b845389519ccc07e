// The real SweepEngineProvider over the organism: one engine reused across every composition of a
// sweep (Backend::compose) gives the same greedy tokens as a fresh engine_make per composition, for
// a linear merge with merged LoRA (scalar and per-layer lambdas, several coefficient vectors) and
// for task arithmetic with unmerged adapters (per-request coefficients kept across compositions).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engines/engine_factory.h"
#include "harness/engine_provider.h"
#include "harness/grid.h"
#include "harness/sweep_config.h"

using namespace adabench;
using json = nlohmann::json;

namespace {

std::string src(const std::string& rel) { return std::string(ADABENCH_SOURCE_DIR) + "/" + rel; }

SweepConfig config_of(json j) {
    j["engine"] = "cpu";
    j["model"] = src("models/organism/long");
    j["tasks"] = json::array({{{"name", "arith"}}});
    j["threads"] = 2;
    j["batch_size"] = 2;
    j["chat_template"] = "organism";
    SweepConfig c = sweep_config_parse(j, "test.json");
    sweep_config_validate(c, "test.json");
    return c;
}

std::vector<int32_t> greedy(Engine& e, const SweepPrompt& p, std::vector<float> lora_coefs = {}) {
    GenerateRequest r;
    r.prompt_ids = p.ids;
    r.max_tokens = 96;
    r.lora_coefs = std::move(lora_coefs);
    return e.generate({r}).at(0).at(0).output_ids;
}

// What the provider built for every composition before it reused engines.
EngineFactoryOptions fresh_options(const SweepConfig& c, const SweepComposition& comp) {
    EngineFactoryOptions o;
    o.model_dir = c.model;
    for (size_t i = 0; i < c.adapters.size(); ++i)
        o.adapters.emplace_back(c.adapters[i].path, comp.merged_lora ? float(comp.merged_coefs.at(i)) : 0.0f);
    o.lora_merged = comp.merged_lora;
    if (comp.has_merge) {
        o.merge_with = c.merge.with;
        o.merge_base = c.merge.base;
        for (double x : comp.merge_lambda) o.lambda.push_back(float(x));
    }
    o.n_threads = 2;
    return o;
}

const char* kQuestion = "Mia has 47 marbles. In January, Mia finds 8 more. How many marbles does Mia have at the end?";

}  // namespace

TEST(EngineProvider, ReusedEngineEqualsFreshEnginesForMergesAndMergedLora) {
    SweepConfig c = config_of({
        {"adapters", json::array({{{"path", src("models/organism/lora-short")}, {"coefs", {0, 0.5}}}})},
        {"lora_mode", "merged"},
        {"merge", {{"with", src("models/organism/short")}, {"lambdas", json::array({0.65, {0.2, 0.9}, 1.0})}}},
    });
    SweepPlan plan = sweep_plan(c, {1});
    ASSERT_EQ(plan.compositions.size(), 6u);
    auto provider = sweep_make_engine_provider(c);
    SweepPrompt p = provider->format_prompt(kQuestion);
    const Engine* first = nullptr;
    std::vector<std::vector<int32_t>> seen;
    for (const auto& comp : plan.compositions) {
        Engine& e = provider->engine_for(comp);
        if (!first) first = &e;
        EXPECT_EQ(&e, first) << "the engine is reused";
        auto got = greedy(e, p);
        EXPECT_EQ(got, greedy(*engine_make(fresh_options(c, comp)), p)) << comp.label;
        seen.push_back(got);
    }
    // The compositions give different outputs, so the reuse is not trivially right.
    std::sort(seen.begin(), seen.end());
    EXPECT_GT(std::unique(seen.begin(), seen.end()) - seen.begin(), 1);
}

TEST(EngineProvider, ReusedEngineKeepsUnmergedAdaptersAcrossTaskArithmetic) {
    SweepConfig c = config_of({
        {"adapters", json::array({{{"path", src("models/organism/lora-short")}, {"coefs", {0, 0.75}}}})},
        {"lora_mode", "unmerged"},
        {"merge",
         {{"with", src("models/organism/short")},
          {"base", src("models/organism/base")},
          {"lambdas", json::array({0.3, {1.0, 0.0}, -0.5})}}},
    });
    SweepPlan plan = sweep_plan(c, {1});
    ASSERT_EQ(plan.compositions.size(), 3u);
    auto provider = sweep_make_engine_provider(c);
    SweepPrompt p = provider->format_prompt(kQuestion);
    for (const auto& comp : plan.compositions) {
        Engine& e = provider->engine_for(comp);
        auto fresh = engine_make(fresh_options(c, comp));
        for (float coef : {0.0f, 0.75f}) EXPECT_EQ(greedy(e, p, {coef}), greedy(*fresh, p, {coef})) << comp.label;
    }
}
