// Compositions that used to be accepted silently (#20 D11, D12): LoRA configs contradicting their
// tensors or with lora_alpha 0, merges across tokenizers, and NaN logits from extreme merge lambdas
// or LoRA coefficients, which now fail naming the model, the adapter and the coefficient.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/model/compose.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"

using namespace adabench;
namespace fs = std::filesystem;

namespace {

std::string src(const std::string& rel) { return std::string(ADABENCH_SOURCE_DIR) + "/" + rel; }

std::string copy_dir(const std::string& from_rel, const std::string& name) {
    fs::path d = fs::path(ADABENCH_BINARY_DIR) / "tests-tmp" / ("integrity-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    for (const auto& e : fs::directory_iterator(src(from_rel)))
        if (e.is_regular_file()) fs::copy_file(e.path(), d / e.path().filename());
    return d.string();
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// lora-short with adapter_config.json edited.
std::string adapter_with(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
    std::string dir = copy_dir("models/organism/lora-short", name);
    nlohmann::json j = io_read_json(dir + "/adapter_config.json");
    edit(j);
    io_write_file_atomic(dir + "/adapter_config.json", j.dump(2));
    return dir;
}

const std::shared_ptr<ModelWeights>& organism_base() {
    static auto w = model_load(src("models/organism/base"));
    return w;
}

// Logits of one short prompt, or the error the backend throws.
std::string forward_error(std::shared_ptr<const ModelWeights> w,
                          std::vector<std::shared_ptr<const LoraAdapter>> adapters = {},
                          std::vector<float> coefs = {}) {
    return error_of([&] {
        CpuBackendOptions opt;
        opt.n_threads = 1;
        CpuBackend b(w, opt);
        if (!adapters.empty()) b.set_lora_adapters(adapters);
        BackendBatch batch;
        batch.slots = {b.seq_alloc()};
        batch.tokens = {{1, 2, 3, 40, 50, 60}};
        if (!coefs.empty()) batch.lora_coefs = {coefs};
        std::vector<float> logits(size_t(w->config.vocab_size));
        b.forward(batch, logits.data());
    });
}

}  // namespace

// ---- D11: LoRA configs --------------------------------------------------------------------------

TEST(IntegrityLora, AlphaZeroIsRefused) {
    // PEFT scales by alpha / r = 0, llama.cpp by 1: neither reading is safe to guess.
    std::string dir = adapter_with("alpha0", [](nlohmann::json& j) { j["lora_alpha"] = 0; });
    std::string msg = error_of([&] { lora_load_adapter(dir, *organism_base()); });
    EXPECT_TRUE(contains(msg, dir + "/adapter_config.json: field 'lora_alpha' is 0")) << msg;

    dir = adapter_with("alpha-pattern0", [](nlohmann::json& j) { j["alpha_pattern"] = {{"v_proj", 0}}; });
    msg = error_of([&] { lora_load_adapter(dir, *organism_base()); });
    EXPECT_TRUE(contains(msg, dir + "/adapter_config.json: field 'alpha_pattern.v_proj' is 0")) << msg;
}

TEST(IntegrityLora, TargetModulesAreCheckedAgainstTheTensors) {
    ASSERT_NO_THROW(lora_load_adapter(src("models/organism/lora-short"), *organism_base()));

    // Tensors for a module the config does not list.
    std::string dir = adapter_with("targets-fewer", [](nlohmann::json& j) {
        j["target_modules"] = {"q_proj", "v_proj"};
    });
    std::string msg = error_of([&] { lora_load_adapter(dir, *organism_base()); });
    EXPECT_TRUE(contains(msg, dir + "/adapter_config.json: tensor 'base_model.model.model.layers.0.self_attn.k_proj"))
        << msg;
    EXPECT_TRUE(contains(msg, "which target_modules does not name")) << msg;

    // A listed module without tensors.
    dir = adapter_with("targets-more", [](nlohmann::json& j) { j["target_modules"].push_back("gate_proj"); });
    msg = error_of([&] { lora_load_adapter(dir, *organism_base()); });
    EXPECT_TRUE(contains(msg, dir + "/adapter_config.json: target_modules names 'gate_proj' but")) << msg;

    // PEFT's regex form: matched against the whole module name.
    dir = adapter_with("targets-regex", [](nlohmann::json& j) {
        j["target_modules"] = R"(model\.layers\.\d+\.self_attn\.[qkvo]_proj)";
    });
    EXPECT_NO_THROW(lora_load_adapter(dir, *organism_base()));
    dir = adapter_with("targets-regex-q", [](nlohmann::json& j) { j["target_modules"] = ".*q_proj"; });
    msg = error_of([&] { lora_load_adapter(dir, *organism_base()); });
    EXPECT_TRUE(contains(msg, "which target_modules does not name")) << msg;
    // Dotted suffixes name modules too.
    dir = adapter_with("targets-suffix", [](nlohmann::json& j) {
        j["target_modules"] = {"self_attn.q_proj", "self_attn.k_proj", "v_proj", "o_proj"};
    });
    EXPECT_NO_THROW(lora_load_adapter(dir, *organism_base()));
}

// ---- D11: merge partners share the tokenizer ----------------------------------------------------

TEST(IntegrityMerge, PartnerWithAnotherTokenizerIsRefused) {
    ComposeSources s;
    s.model = organism_base();
    s.merge_with = model_load(src("models/organism/short"));  // same tokenizer files
    EXPECT_NO_THROW(compose_check_sources(s));

    // Same vocabulary size, two tokens' ids swapped: every shape still matches.
    std::string dir = copy_dir("models/organism/short", "other-tokenizer");
    nlohmann::json tj = io_read_json(dir + "/tokenizer.json");
    auto& vocab = tj["model"]["vocab"];
    int a = vocab["a"], b = vocab["b"];
    vocab["a"] = b;
    vocab["b"] = a;
    io_write_file_atomic(dir + "/tokenizer.json", tj.dump());
    s.merge_with = model_load(dir);
    std::string msg = error_of([&] { compose_check_sources(s); });
    EXPECT_TRUE(contains(msg, dir + "/tokenizer.json: token " + std::to_string(std::min(a, b)))) << msg;
    EXPECT_TRUE(contains(msg, "the models of a merge must share a tokenizer")) << msg;

    // Reformatted but equal tokenizer files are fine.
    io_write_file_atomic(dir + "/tokenizer.json", io_read_json(src("models/organism/short/tokenizer.json")).dump());
    EXPECT_NO_THROW(compose_check_sources(s));
}

// ---- D12: where NaN can still arise, the error names its source -----------------------------------

TEST(IntegrityNan, ExtremeMergeLambdaNamesTheMerge) {
    auto other = model_load(src("models/organism/short"));
    // Finite inputs, finite lambda; the merge overflows fp32 (or its activations do).
    std::string msg = error_of([&] {
        auto merged = merge_linear(*organism_base(), *other, {3e38f});
        std::string e = forward_error(merged);
        if (!e.empty()) throw Error(e);
    });
    EXPECT_TRUE(contains(msg, "linear merge of " + src("models/organism/base") + " and " +
                                  src("models/organism/short") + ", lambda=[3e+38]"))
        << msg;
    EXPECT_EQ(forward_error(merge_linear(*organism_base(), *other, {0.5f})), "");
}

TEST(IntegrityNan, ExtremeLoraCoefficientNamesTheAdapter) {
    const std::string ad = src("models/organism/lora-short");
    std::shared_ptr<const LoraAdapter> a = lora_load_adapter(ad, *organism_base());
    // Unmerged: the backend's logits check names the model, the adapter and its coefficient.
    std::string msg = forward_error(organism_base(), {a}, {3e38f});
    EXPECT_TRUE(contains(msg, "cpu backend: logit of token")) << msg;
    EXPECT_TRUE(contains(msg, "model " + src("models/organism/base") + "; LoRA " + ad + " x 3e+38)")) << msg;
    EXPECT_EQ(forward_error(organism_base(), {a}, {1.0f}), "");

    // Merged: the merge itself or the forward over its result names both.
    msg = error_of([&] {
        auto merged = lora_merge_weights(*organism_base(), {a}, {3e38f});
        std::string e = forward_error(merged);
        if (!e.empty()) throw Error(e);
    });
    EXPECT_TRUE(contains(msg, ad + " x 3e+38")) << msg;
    EXPECT_TRUE(contains(msg, src("models/organism/base"))) << msg;
}

TEST(IntegrityNan, MixedBatchLeavesTheBadRowToItsOwnSequence) {
    // Per-sequence coefficients: a throw would fail the healthy sequence too, so the backend leaves
    // the bad row (its sequence fails when sampled) and the healthy row keeps its finite logits.
    std::shared_ptr<const LoraAdapter> a = lora_load_adapter(src("models/organism/lora-short"), *organism_base());
    CpuBackendOptions opt;
    opt.n_threads = 1;
    CpuBackend b(organism_base(), opt);
    b.set_lora_adapters({a});
    BackendBatch batch;
    batch.slots = {b.seq_alloc(), b.seq_alloc()};
    batch.tokens = {{1, 2, 3}, {1, 2, 3}};
    batch.lora_coefs = {{3e38f}, {0.5f}};
    const int V = organism_base()->config.vocab_size;
    std::vector<float> logits(2 * static_cast<size_t>(V));
    ASSERT_NO_THROW(b.forward(batch, logits.data()));
    bool row0_finite = true, row1_finite = true;
    for (int i = 0; i < V; ++i) {
        row0_finite = row0_finite && std::isfinite(logits[size_t(i)]);
        row1_finite = row1_finite && std::isfinite(logits[size_t(V + i)]);
    }
    EXPECT_FALSE(row0_finite);
    EXPECT_TRUE(row1_finite);
}
