// compose: the composition contract (engines/model/compose.h, Backend::set_compose_sources / compose).
// The host composition equals the merge.h / lora.h calls engine_compose_weights made before it was
// factored (bit for bit), the default Backend::compose on the CPU backend gives the same logits as
// a backend built on those weights, composing again replaces the previous result, engine_make with
// compose_in_backend equals the host path, and errors name the files. Models: the bundled organism
// (long / short / base, lora-short) and the random Qwen2 fixtures.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/model/compose.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/engine_factory.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"
#include "engines/tokenizer/tokenizer.h"

using namespace adabench;

namespace {

std::string src(const std::string& rel) { return std::string(ADABENCH_SOURCE_DIR) + "/" + rel; }

struct Organism {
    std::shared_ptr<const ModelWeights> longm = model_load(src("models/organism/long"));
    std::shared_ptr<const ModelWeights> shortm = model_load(src("models/organism/short"));
    std::shared_ptr<const ModelWeights> base = model_load(src("models/organism/base"));
    std::shared_ptr<const LoraAdapter> lora_short = lora_load_adapter(src("models/organism/lora-short"), *base);
    std::shared_ptr<const LoraAdapter> lora_long = lora_load_adapter(src("models/organism/lora-long"), *base);
};

Organism& organism() {
    static Organism o;
    return o;
}

// Every tensor of a model in merge.h's order, as fp32 values.
std::vector<std::vector<float>> all_values(const ModelWeights& w) {
    std::vector<std::vector<float>> out{tensor_to_f32(w.embed_tokens)};
    for (const auto& L : w.layers)
        for (const Tensor* t : {&L.attn_norm, &L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.q_bias, &L.k_bias,
                                &L.v_bias, &L.ffn_norm, &L.gate_proj, &L.up_proj, &L.down_proj})
            out.push_back(t->empty() ? std::vector<float>{} : tensor_to_f32(*t));
    out.push_back(tensor_to_f32(w.final_norm));
    out.push_back(tensor_to_f32(w.lm_head.empty() ? w.embed_tokens : w.lm_head));
    return out;
}

bool bitwise_equal(const ModelWeights& a, const ModelWeights& b) {
    auto x = all_values(a), y = all_values(b);
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
        if (x[i].size() != y[i].size() || std::memcmp(x[i].data(), y[i].data(), x[i].size() * sizeof(float)) != 0)
            return false;
    return true;
}

CpuBackendOptions cpu_opts() {
    CpuBackendOptions o;
    o.n_threads = 2;
    return o;
}

const std::vector<int32_t>& prompt() {
    static const std::vector<int32_t> p = [] {
        Tokenizer tok = Tokenizer::load(src("models/organism/base"));
        return tok.encode(
            "<|im_start|>user\nMia has 47 marbles. In January, Mia finds 8 more. How many marbles does Mia have "
            "at the end?<|im_end|>\n<|im_start|>assistant\n<think>\n");
    }();
    return p;
}

// Logits of the prompt and of two decode steps, concatenated.
std::vector<float> run_logits(Backend& b) {
    const size_t V = size_t(b.config().vocab_size);
    std::vector<float> out;
    int slot = b.seq_alloc();
    for (const auto& toks : {prompt(), std::vector<int32_t>{40}, std::vector<int32_t>{7}}) {
        std::vector<float> l(V);
        BackendBatch batch;
        batch.slots = {slot};
        batch.tokens = {toks};
        b.forward(batch, l.data());
        out.insert(out.end(), l.begin(), l.end());
    }
    b.seq_free(slot);
    return out;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

ComposeParams linear(std::vector<float> lambda, std::vector<float> coefs = {}) {
    return {COMPOSE_MERGE_LINEAR, std::move(lambda), std::move(coefs)};
}

// The cases every test walks: (sources, params, what engine_compose_weights did before).
struct Case {
    std::string name;
    ComposeSources sources;
    ComposeParams params;
    std::function<std::shared_ptr<const ModelWeights>()> before;
};

std::vector<Case> cases() {
    Organism& o = organism();
    std::vector<Case> out;
    ComposeSources lin{o.longm, o.shortm, nullptr, {}};
    out.push_back({"linear 0.65", lin, linear({0.65f}), [&o] { return merge_linear(*o.longm, *o.shortm, {0.65f}); }});
    out.push_back({"linear per-layer", lin, linear({0.9f, 0.2f, 0.5f}), [&o] {
                       return merge_linear(*o.longm, *o.shortm, {0.9f, 0.2f, 0.5f});
                   }});
    ComposeSources task{o.longm, o.shortm, o.base, {}};
    out.push_back({"task arithmetic", task, {COMPOSE_MERGE_TASK_ARITHMETIC, {0.4f}, {}}, [&o] {
                       return merge_task_arithmetic(*o.base, {o.longm.get(), o.shortm.get()}, {{1.0f}, {0.4f}});
                   }});
    ComposeSources lora{o.base, nullptr, nullptr, {o.lora_short}};
    out.push_back({"merged lora 0.5", lora, {COMPOSE_MERGE_NONE, {}, {0.5f}}, [&o] {
                       return lora_merge_weights(*o.base, {o.lora_short}, {0.5f});
                   }});
    ComposeSources both{o.longm, o.shortm, nullptr, {o.lora_short, o.lora_long}};
    out.push_back({"linear then two merged adapters", both, linear({0.3f, 0.8f}, {0.5f, -0.25f}), [&o] {
                       auto m = merge_linear(*o.longm, *o.shortm, {0.3f, 0.8f});
                       return lora_merge_weights(*m, {o.lora_short, o.lora_long}, {0.5f, -0.25f});
                   }});
    return out;
}

}  // namespace

TEST(ComposeHost, EqualsTheMergeAndLoraCallsBitForBit) {
    for (const Case& c : cases()) {
        compose_check_sources(c.sources);
        auto got = compose_weights_host(c.sources, c.params);
        EXPECT_TRUE(bitwise_equal(*got, *c.before())) << c.name;
    }
    // Nothing to compose: the model itself.
    Organism& o = organism();
    EXPECT_EQ(compose_weights_host({o.base, nullptr, nullptr, {}}, {}), o.base);
}

TEST(ComposeBackend, DefaultComposeGivesTheLogitsOfTheHostWeights) {
    for (const Case& c : cases()) {
        CpuBackend reused(c.sources.model, cpu_opts());
        reused.set_compose_sources(c.sources);
        reused.compose(c.params);
        CpuBackend fresh(c.before(), cpu_opts());
        EXPECT_EQ(run_logits(reused), run_logits(fresh)) << c.name;
    }
}

TEST(ComposeBackend, ComposingAgainReplacesThePreviousResult) {
    Organism& o = organism();
    CpuBackend b(o.longm, cpu_opts());
    b.set_compose_sources({o.longm, o.shortm, nullptr, {o.lora_short}});
    const std::vector<float> first_logits = [&] {
        b.compose(linear({0.1f}, {1.0f}));
        return run_logits(b);
    }();
    int stale = b.seq_alloc();
    b.compose(linear({0.65f}, {0.5f}));
    EXPECT_THROW(b.seq_len(stale), Error);  // compose clears the cache
    CpuBackend fresh(lora_merge_weights(*merge_linear(*o.longm, *o.shortm, {0.65f}), {o.lora_short}, {0.5f}),
                     cpu_opts());
    const auto second = run_logits(b);
    EXPECT_EQ(second, run_logits(fresh));
    EXPECT_NE(second, first_logits);
    // Back to the first parameters: the first result again.
    b.compose(linear({0.1f}, {1.0f}));
    EXPECT_EQ(run_logits(b), first_logits);
}

TEST(ComposeBackend, UnmergedAdaptersSurviveCompose) {
    Organism& o = organism();
    CpuBackend reused(o.longm, cpu_opts());
    reused.set_lora_adapters({o.lora_long});
    reused.set_compose_sources({o.longm, o.shortm, nullptr, {}});
    reused.compose(linear({0.7f}));
    CpuBackend fresh(merge_linear(*o.longm, *o.shortm, {0.7f}), cpu_opts());
    fresh.set_lora_adapters({o.lora_long});
    auto with_lora = [](Backend& b) {
        std::vector<float> l(size_t(b.config().vocab_size));
        BackendBatch batch;
        batch.slots = {b.seq_alloc()};
        batch.tokens = {prompt()};
        batch.lora_coefs = {{0.75f}};
        b.forward(batch, l.data());
        return l;
    };
    EXPECT_EQ(with_lora(reused), with_lora(fresh));
}

TEST(ComposeErrors, NameTheProblemAndTheFiles) {
    Organism& o = organism();
    CpuBackend b(o.base, cpu_opts());
    EXPECT_NE(error_of([&] { b.compose(linear({0.5f})); }).find("call set_compose_sources first"), std::string::npos);
    b.set_compose_sources({o.base, nullptr, nullptr, {o.lora_short}});
    EXPECT_NE(error_of([&] { b.compose(linear({0.5f}, {1.0f})); }).find("needs a model to merge with"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  b.compose({COMPOSE_MERGE_NONE, {}, {}});
              }).find("1 merged LoRA adapters but 0"),
              std::string::npos);
    EXPECT_NE(error_of([&] { b.compose({COMPOSE_MERGE_NONE, {}, {NAN}}); }).find("not finite"), std::string::npos);
    b.set_compose_sources({o.base, o.shortm, nullptr, {}});
    EXPECT_NE(error_of([&] { b.compose(linear({})); }).find("needs lambda"), std::string::npos);
    EXPECT_NE(error_of([&] {
                  b.compose({COMPOSE_MERGE_NONE, {0.5f}, {}});
              }).find("without a merge"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                  b.compose({COMPOSE_MERGE_TASK_ARITHMETIC, {0.5f}, {}});
              }).find("and a base"),
              std::string::npos);

    // Sources of another architecture: the merge check names both directories.
    auto tiny = model_load(src("tests/fixtures/models/qwen2-tiny-random"));
    std::string e = error_of([&] { b.set_compose_sources({o.base, tiny, nullptr, {}}); });
    EXPECT_NE(e.find("models/organism/base"), std::string::npos) << e;
    EXPECT_NE(e.find("qwen2-tiny-random"), std::string::npos) << e;
    e = error_of([&] { b.set_compose_sources({tiny, nullptr, nullptr, {}}); });
    EXPECT_NE(e.find("another architecture"), std::string::npos) << e;
    EXPECT_NE(e.find("qwen2-tiny-random"), std::string::npos) << e;
    e = error_of([&] { b.set_compose_sources({o.base, nullptr, o.longm, {}}); });
    EXPECT_NE(e.find("without a model to merge with"), std::string::npos) << e;
    // The failed calls left the previous sources in place.
    b.compose(linear({0.5f}));

    // Through the factory: the merge model's directory is named.
    EngineFactoryOptions opt;
    opt.model_dir = src("models/organism/base");
    opt.merge_with = src("tests/fixtures/models/qwen2-tiny-random");
    opt.lambda = {0.5f};
    e = error_of([&] { engine_load_compose_sources(opt); });
    EXPECT_NE(e.find("qwen2-tiny-random"), std::string::npos) << e;
    opt.merge_with.clear();
    e = error_of([&] { engine_compose_params(opt); });
    EXPECT_NE(e.find("without --merge-with"), std::string::npos) << e;
}

TEST(ComposeFactory, ComposeInBackendEqualsTheHostPath) {
    EngineFactoryOptions o;
    o.model_dir = src("models/organism/long");
    o.merge_with = src("models/organism/short");
    o.lambda = {0.65f};
    o.adapters = {{src("models/organism/lora-short"), 0.5f}};
    o.lora_merged = true;
    o.n_threads = 2;
    o.max_batch = 2;
    // The factored engine_compose_weights equals the direct calls.
    Organism& org = organism();
    auto want = lora_merge_weights(*merge_linear(*org.longm, *org.shortm, {0.65f}), {org.lora_short}, {0.5f});
    EXPECT_TRUE(bitwise_equal(*engine_compose_weights(o), *want));
    EXPECT_EQ(engine_compose_params(o).merge, COMPOSE_MERGE_LINEAR);
    o.merge_base = src("models/organism/base");
    EXPECT_EQ(engine_compose_params(o).merge, COMPOSE_MERGE_TASK_ARITHMETIC);
    o.merge_base.clear();

    auto greedy = [](Engine& e) {
        GenerateRequest r;
        r.prompt_ids = prompt();
        r.max_tokens = 48;
        return e.generate({r}).at(0).at(0).output_ids;
    };
    auto host = engine_make(o);
    o.compose_in_backend = true;
    auto in_backend = engine_make(o);
    EXPECT_EQ(greedy(*in_backend), greedy(*host));
    // Recompose the same engine for another lambda: equals a fresh engine at that lambda.
    o.lambda = {0.2f, 0.9f};
    in_backend->backend().compose(engine_compose_params(o));
    o.compose_in_backend = false;
    EXPECT_EQ(greedy(*in_backend), greedy(*engine_make(o)));
}
