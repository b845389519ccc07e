// Sweep config tests: parsing every section, strict keys and types, grid expansion, cartesian
// products and explicit vectors, the canonical hash, and grid planning / shard slicing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.h"
#include "harness/grid.h"
#include "harness/search_run.h"
#include "harness/sweep_config.h"

using namespace adabench;
using json = nlohmann::json;

namespace {

SweepConfig parse_ok(const json& j) {
    SweepConfig c = sweep_config_parse(j, "test.json");
    sweep_config_validate(c, "test.json");
    return c;
}

std::string error_of(const json& j) {
    try {
        parse_ok(j);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

json base() { return {{"model", "models/organism/base"}, {"tasks", {"arith"}}}; }

}  // namespace

TEST(SweepGrid, RangesListsAndScalars) {
    EXPECT_EQ(sweep_parse_grid_text("0:1:0.25", "x"), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
    EXPECT_EQ(sweep_parse_grid_text("0:1:0.1", "x").size(), 11u);
    EXPECT_DOUBLE_EQ(sweep_parse_grid_text("0:1:0.1", "x")[3], 0.3);
    EXPECT_EQ(sweep_parse_grid_text("0:0.9:0.25", "x"), (std::vector<double>{0, 0.25, 0.5, 0.75}));
    EXPECT_EQ(sweep_parse_grid_text(" 1, 2 ,3", "x"), (std::vector<double>{1, 2, 3}));
    EXPECT_EQ(sweep_parse_grid(json(0.5), "x"), (std::vector<double>{0.5}));
    EXPECT_EQ(sweep_parse_grid(json::array({1, 2}), "x"), (std::vector<double>{1, 2}));
    EXPECT_THROW(sweep_parse_grid_text("0:1", "x"), Error);
    EXPECT_THROW(sweep_parse_grid_text("0:1:0", "x"), Error);
    EXPECT_THROW(sweep_parse_grid_text("1:0:0.1", "x"), Error);
    EXPECT_THROW(sweep_parse_grid_text("0:1e9:1e-9", "x"), Error);
    EXPECT_THROW(sweep_parse_grid_text("a,b", "x"), Error);
    EXPECT_THROW(sweep_parse_grid(json("nan"), "x"), Error);
    EXPECT_THROW(sweep_parse_grid(json::array({"1"}), "x"), Error);
    EXPECT_EQ(sweep_parse_int_list("32,64,128", "x"), (std::vector<int>{32, 64, 128}));
    EXPECT_EQ(sweep_parse_int_list("32:128:32", "x"), (std::vector<int>{32, 64, 96, 128}));
    EXPECT_THROW(sweep_parse_int_list("32.5", "x"), Error);
}

TEST(SweepConfigParse, FullExample) {
    json j = json::parse(R"({
      "_comment": "ignored",
      "engine": "cpu",
      "model": "models/organism/base",
      "adapters": [{"path": "models/organism/lora-long", "coefs": "0:1:0.5"},
                   {"path": "models/organism/lora-short/", "name": "short", "coefs": [0, 1]}],
      "lora_mode": "merged",
      "merge": {"with": "models/organism/long", "lambdas": [0.5, [0.1, 0.9], "0:1:1"]},
      "tasks": [{"name": "arith", "limit": 50}, {"name": "gsm8k", "ids": ["1", 7], "prompt_template": "r1"}],
      "budgets": [{"mechanism": "hard_cut", "think_budgets": [128, 32, 64, 64], "answer_budget": 64},
                  {"mechanism": "none", "max_tokens": 512}],
      "sampling": {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "n": 4, "seed": 7},
      "batch_size": 8, "threads": 2, "prompt_template": "plain", "chat_template": "organism"
    })");
    SweepConfig c = parse_ok(j);
    ASSERT_EQ(c.adapters.size(), 2u);
    EXPECT_EQ(c.adapters[0].name, "lora-long");
    EXPECT_EQ(c.adapters[1].name, "short");
    ASSERT_EQ(c.coef_vectors.size(), 6u);  // 3 x 2, first adapter slowest
    EXPECT_EQ(c.coef_vectors[1], (std::vector<double>{0, 1}));
    EXPECT_EQ(c.coef_vectors[2], (std::vector<double>{0.5, 0}));
    EXPECT_EQ(c.merge.method, "linear");
    ASSERT_EQ(c.merge.lambdas.size(), 4u);
    EXPECT_EQ(c.merge.lambdas[1], (std::vector<double>{0.1, 0.9}));
    EXPECT_EQ(c.merge.lambdas[3], (std::vector<double>{1}));
    EXPECT_EQ(c.tasks[0].limit, 50);
    EXPECT_EQ(c.tasks[1].ids, (std::vector<std::string>{"1", "7"}));
    EXPECT_EQ(c.budgets[0].think_budgets, (std::vector<int>{32, 64, 128}));  // sorted, unique
    EXPECT_EQ(c.budgets[1].max_tokens, 512);
    EXPECT_EQ(c.sampling.n, 4);
    EXPECT_EQ(c.sampling.seed, 7u);
    EXPECT_EQ(c.batch_size, 8);

    SweepPlan plan = sweep_plan(c, {50, 2});
    // points: tasks 2 x lambdas 4 x coefs 6 x (3 budgets + 1 none)
    EXPECT_EQ(plan.points.size(), 2u * 4 * 6 * 4);
    EXPECT_EQ(plan.compositions.size(), 4u * 6);  // merged LoRA: one build per (lambda, coefs)
    EXPECT_EQ(plan.n_samples, (50 + 2) * 4 * 4 * 6 * 4);
}

TEST(SweepConfigParse, StrictKeysAndTypes) {
    json j = base();
    j["budgets"] = {{"think_budget", {32}}};
    std::string e = error_of(j);
    EXPECT_NE(e.find("test.json"), std::string::npos) << e;
    EXPECT_NE(e.find("unknown key 'budgets.think_budget'"), std::string::npos) << e;
    EXPECT_NE(e.find("think_budgets"), std::string::npos) << e;  // the hint lists known keys

    j = base();
    j["sampling"] = {{"temperature", "hot"}};
    e = error_of(j);
    EXPECT_NE(e.find("key 'sampling.temperature' must be a number, got a string"), std::string::npos) << e;

    j = base();
    j["batch_size"] = 0;
    EXPECT_NE(error_of(j).find("batch_size"), std::string::npos);
    j = base();
    j["modle"] = "x";
    EXPECT_NE(error_of(j).find("unknown key 'modle'"), std::string::npos);
    j = base();
    j["tasks"] = "arith";
    EXPECT_NE(error_of(j).find("key 'tasks' must be a list"), std::string::npos);
    j = base();
    j["engine"] = "tpu";
    EXPECT_NE(error_of(j).find("engine 'tpu'"), std::string::npos);
    j = base();
    j.erase("model");
    EXPECT_NE(error_of(j).find("no model"), std::string::npos);
    j = base();
    j["budgets"] = {{"mechanism", "none"}, {"think_budgets", {32}}};
    EXPECT_NE(error_of(j).find("mechanism none"), std::string::npos);
    j = base();
    j["budgets"] = {{"mechanism", "hard_cut"}};
    EXPECT_NE(error_of(j).find("think_budgets is empty"), std::string::npos);
    EXPECT_THROW(sweep_config_parse(json::array(), "test.json"), Error);
}

TEST(SweepConfigParse, CoefficientVectors) {
    json j = base();
    j["adapters"] = {{{"path", "a"}}, {{"path", "b"}}};
    j["adapter_grid"] = "vectors";
    j["coef_vectors"] = {{1, 0}, {0.5, 0.5}, {0, 1}};
    SweepConfig c = parse_ok(j);
    EXPECT_EQ(c.coef_vectors.size(), 3u);
    j["coef_vectors"] = {{1, 0}, {0.5}};
    EXPECT_NE(error_of(j).find("coef_vectors[1] has 1 entries for 2 adapters"), std::string::npos);
    j["adapter_grid"] = "product";
    EXPECT_NE(error_of(j).find("adapter_grid"), std::string::npos);
    j = base();
    j["adapters"] = {"x/lora=0:1:0.5", "y/lora=0,1"};
    EXPECT_NE(error_of(j).find("two adapters are named 'lora'"), std::string::npos);
    j["adapters"] = {"x/lora=0:1:0.5", "y/other=0,1"};
    EXPECT_EQ(parse_ok(j).coef_vectors.size(), 6u);
    j = base();
    j["merge"] = {{"lambdas", {0.5}}};
    EXPECT_NE(error_of(j).find("no \"with\""), std::string::npos);
    j["merge"] = {{"with", "m"}, {"base", "b"}, {"method", "linear"}, {"lambdas", {0.5}}};
    EXPECT_NE(error_of(j).find("task_arithmetic"), std::string::npos);
}

TEST(SweepConfigHash, IgnoresExecutionDetailsAndSpelling) {
    json a = base();
    a["adapters"] = {{{"path", "x"}, {"coefs", "0:1:0.5"}}};
    a["budgets"] = {{"think_budgets", {64, 32}}};
    json b = a;
    b["adapters"] = {{{"path", "x"}, {"coefs", {0, 0.5, 1}}}};
    b["budgets"] = {{"think_budgets", "32,64"}};
    b["batch_size"] = 3;
    b["threads"] = 1;
    EXPECT_EQ(sweep_config_hash(parse_ok(a)), sweep_config_hash(parse_ok(b)));
    json d = a;
    d["sampling"] = {{"seed", 1}};
    EXPECT_NE(sweep_config_hash(parse_ok(a)), sweep_config_hash(parse_ok(d)));
    EXPECT_EQ(sweep_config_hash(parse_ok(a)).size(), 64u);
}

TEST(SweepPlan, ForkUnitsAndShardsPartitionTheGrid) {
    json j = base();
    j["adapters"] = {"x/long=0:1:0.5"};
    j["budgets"] = {{{"think_budgets", {16, 32, 64}}}, {{"mechanism", "prompt"}, {"think_budgets", {16, 32}}}};
    j["sampling"] = {{"n", 2}};
    SweepConfig c = parse_ok(j);
    SweepPlan plan = sweep_plan(c, {5});
    EXPECT_EQ(plan.points.size(), 3u * (3 + 2));
    EXPECT_EQ(plan.compositions.size(), 1u);  // unmerged: one engine for every coefficient vector
    // hard_cut: one unit per (problem, sample, coefs) carrying 3 budgets; prompt: one per budget.
    EXPECT_EQ(plan.units.size(), 5u * 2 * 3 * (1 + 2));
    int64_t samples = 0;
    std::set<std::tuple<int64_t, size_t, int>> keys;
    for (const auto& u : plan.units) {
        if (u.prompt_budget < 0) {
            EXPECT_EQ(u.think_budgets, (std::vector<int>{16, 32, 64}));
        } else {
            EXPECT_TRUE(u.think_budgets.empty());
        }
        for (int64_t p : u.point_ids) {
            EXPECT_EQ(plan.points[p].coef_index, u.coef_index);
            EXPECT_TRUE(keys.emplace(p, u.problem_index, u.sample_index).second) << "sample planned twice";
        }
        samples += static_cast<int64_t>(u.point_ids.size());
    }
    EXPECT_EQ(samples, plan.n_samples);
    // Shards: disjoint, complete, balanced.
    std::set<int64_t> seen;
    for (int i = 0; i < 4; ++i) {
        auto part = sweep_shard_units(plan, sweep_parse_shard(std::to_string(i) + "/4"));
        EXPECT_NEAR(static_cast<double>(part.size()), plan.units.size() / 4.0, 1.0);
        for (const auto& u : part) EXPECT_TRUE(seen.insert(u.ordinal).second);
    }
    EXPECT_EQ(seen.size(), plan.units.size());
    EXPECT_THROW(sweep_parse_shard("4/4"), UsageError);
    EXPECT_THROW(sweep_parse_shard("1"), UsageError);
    EXPECT_THROW(sweep_parse_shard("-1/4"), UsageError);
    EXPECT_THROW(sweep_parse_shard("1/0"), UsageError);
    EXPECT_EQ(sweep_parse_shard("2/8").text(), "2/8");
}

TEST(SweepConfigFiles, ShippedConfigsParse) {
    namespace fs = std::filesystem;
    std::string root = ADABENCH_SOURCE_DIR;
    std::vector<std::string> files = {root + "/configs/default.json"};
    for (const auto& e : fs::directory_iterator(root + "/configs/examples"))
        if (e.path().extension() == ".json") files.push_back(e.path().string());
    EXPECT_GE(files.size(), 4u);
    for (const auto& f : files) {
        SCOPED_TRACE(f);
        std::ifstream in(f);
        nlohmann::json doc = nlohmann::json::parse(in);
        if (doc.contains("search")) {  // an `adabench search` config: its sweep block is checked there
            EXPECT_NO_THROW(search_config_load(f));
            continue;
        }
        SweepConfig c = sweep_config_load(f);
        EXPECT_NO_THROW(sweep_config_validate(c, f));
    }
    SweepConfig d = sweep_config_load(root + "/configs/default.json");
    sweep_config_validate(d, "default.json");
    EXPECT_EQ(d.coef_vectors.size(), 5u);
    EXPECT_EQ(d.tasks.size(), 2u);
}
