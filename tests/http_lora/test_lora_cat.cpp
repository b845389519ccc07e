// http_lora: the LoRA rank-concatenation materialiser (engines/http/lora_cat.h). The written adapter
// is read back with our own loader and must reproduce the multi-adapter composition: the exact
// A' / B' blocks, the merged weights (every adapted matrix), and the unmerged engine (greedy logits
// and tokens on the organism base with its two adapters). Also: mixed ranks / targets / rsLoRA /
// rank_pattern on the tiny random Qwen2 in both rank layouts and bf16, name stability and reuse of
// an intact directory, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "common/sha256.h"
#include "engines/engine_factory.h"
#include "engines/generation/generator.h"
#include "engines/http/lora_cat.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/model/safetensors.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {
namespace {

namespace fs = std::filesystem;

std::string src(const std::string& rel) {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return std::string(env ? env : ADABENCH_SOURCE_DIR) + "/" + rel;
}

// A fresh directory per test, emptied first (ctest runs test cases as separate processes, possibly in
// parallel, so each test case has its own name).
std::string tmp_dir(const std::string& name) {
    fs::path d = fs::path(ADABENCH_BINARY_DIR) / "tests-tmp" / ("http_lora-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d.string();
}

const std::string k_organism = "models/organism/";

struct Organism {
    std::shared_ptr<ModelWeights> base = model_load(src(k_organism + "base"));
    std::shared_ptr<const LoraAdapter> lng = lora_load_adapter(src(k_organism + "lora-long"), *base);
    std::shared_ptr<const LoraAdapter> shrt = lora_load_adapter(src(k_organism + "lora-short"), *base);
};

const std::vector<std::pair<float, float>> k_vectors = {{1.0f, 0.0f}, {0.5f, 0.5f}, {0.3f, -0.7f}, {2.0f, 1.0f}};

// max |got - want| / max(|want|) over one matrix.
double rel_diff(const Tensor& got, const Tensor& want) {
    std::vector<float> g = tensor_to_f32(got), w = tensor_to_f32(want);
    EXPECT_EQ(g.size(), w.size());
    double worst = 0, scale = 1e-30;
    for (size_t i = 0; i < g.size() && i < w.size(); ++i) {
        worst = std::max(worst, std::fabs((double)g[i] - w[i]));
        scale = std::max(scale, std::fabs((double)w[i]));
    }
    return worst / scale;
}

// Every adapted matrix of `a` (merged with the cat adapter) against `b` (merged with the inputs);
// returns how many matrices were compared.
int expect_same_merge(const ModelWeights& base, const ModelWeights& a, const ModelWeights& b, double tol) {
    int n = 0;
    for (size_t l = 0; l < base.layers.size(); ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const Tensor& w0 = lora_target_weight(base.layers[l], (LoraTarget)t);
            const Tensor& wa = lora_target_weight(a.layers[l], (LoraTarget)t);
            const Tensor& wb = lora_target_weight(b.layers[l], (LoraTarget)t);
            // Adapted exactly where the reference is.
            EXPECT_EQ(wa.data == w0.data, wb.data == w0.data)
                << "layer " << l << " " << lora_target_name((LoraTarget)t);
            if (wb.data == w0.data) continue;
            EXPECT_LE(rel_diff(wa, wb), tol) << "layer " << l << " " << lora_target_name((LoraTarget)t);
            ++n;
        }
    }
    return n;
}

// The cat pair against its definition: A' = [A_i; ...; 0], B' = [c_i s_i B_i | ... | 0], bit for bit.
void expect_blocks(const LoraPair& cat, const std::vector<std::pair<const LoraPair*, float>>& parts, int w_rank) {
    ASSERT_EQ(cat.r, w_rank);
    int off = 0;
    for (const auto& [p, c] : parts) {
        if (p->empty()) continue;
        ASSERT_EQ(cat.n_in, p->n_in);
        ASSERT_EQ(cat.n_out, p->n_out);
        for (int k = 0; k < p->r; ++k)
            for (int64_t j = 0; j < p->n_in; ++j)
                ASSERT_EQ(cat.a[(size_t)((off + k) * cat.n_in + j)], p->a[(size_t)(k * p->n_in + j)]);
        const float s = c * p->base_scale;
        for (int64_t o = 0; o < p->n_out; ++o)
            for (int k = 0; k < p->r; ++k)
                ASSERT_EQ(cat.b[(size_t)(o * cat.r + off + k)], s * p->b[(size_t)(o * p->r + k)]);
        off += p->r;
    }
    for (size_t i = (size_t)off * (size_t)cat.n_in; i < cat.a.size(); ++i) ASSERT_EQ(cat.a[i], 0.0f);
    for (int64_t o = 0; o < cat.n_out; ++o)
        for (int k = off; k < cat.r; ++k) ASSERT_EQ(cat.b[(size_t)(o * cat.r + k)], 0.0f);
}

TEST(LoraCat, OrganismMergedCompositionMatchesBothAdapters) {
    Organism m;
    const std::string out = tmp_dir("organism-merged");
    for (auto [c1, c2] : k_vectors) {
        SCOPED_TRACE("c = (" + std::to_string(c1) + ", " + std::to_string(c2) + ")");
        LoraCatResult res = lora_cat_write({m.lng.get(), m.shrt.get()}, {c1, c2}, out);
        const int want_rank = (c1 != 0.0f ? 8 : 0) + (c2 != 0.0f ? 8 : 0);
        EXPECT_EQ(res.max_rank, want_rank);
        EXPECT_EQ(res.kept.size(), (size_t)want_rank / 8);
        ASSERT_EQ(res.ranks.size(), 4u);
        EXPECT_EQ(res.ranks[3][LORA_TARGET_V], want_rank);
        EXPECT_EQ(res.ranks[3][LORA_TARGET_UP], 0);
        EXPECT_EQ(res.dir, out + "/" + res.name);
        EXPECT_EQ(res.sha256, lora_cat_files_sha256(res.dir));
        EXPECT_FALSE(res.reused);

        nlohmann::json cfg = io_read_json(res.dir + "/adapter_config.json");
        EXPECT_EQ(cfg.at("r"), want_rank);
        EXPECT_EQ(cfg.at("lora_alpha"), want_rank);
        EXPECT_EQ(cfg.at("use_rslora"), false);
        EXPECT_EQ(cfg.at("peft_type"), "LORA");
        EXPECT_EQ(cfg.at("task_type"), "CAUSAL_LM");
        EXPECT_EQ(cfg.at("base_model_name_or_path"), "../base");  // copied from lora-long
        EXPECT_TRUE(cfg.at("rank_pattern").empty());

        auto cat = lora_load_adapter(res.dir, *m.base);
        EXPECT_EQ(cat->target_modules, std::vector<std::string>({"q_proj", "k_proj", "v_proj", "o_proj"}));
        for (size_t l = 0; l < 4; ++l) {
            for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
                const LoraPair& p = cat->layers[l][t];
                if (t > LORA_TARGET_O) {
                    EXPECT_TRUE(p.empty());
                    continue;
                }
                EXPECT_FLOAT_EQ(p.base_scale, 1.0f);
                std::vector<std::pair<const LoraPair*, float>> parts;
                if (c1 != 0.0f) parts.push_back({&m.lng->layers[l][t], c1});
                if (c2 != 0.0f) parts.push_back({&m.shrt->layers[l][t], c2});
                expect_blocks(p, parts, want_rank);
            }
        }

        auto want = lora_merge_weights(*m.base, {m.lng, m.shrt}, {c1, c2});
        auto got = lora_merge_weights(*m.base, {cat}, {1.0f});
        EXPECT_EQ(expect_same_merge(*m.base, *got, *want, 1e-5), 16);  // 4 layers x q, k, v, o
        // The deltas are real (a test that cannot fail would pass with an empty adapter too).
        EXPECT_GT(rel_diff(got->layers[0].q_proj, m.base->layers[0].q_proj), 1e-3);
    }
}

// Greedy runs of an engine: tokens and every logits row, per request.
struct GreedyRun {
    std::vector<std::vector<int32_t>> tokens;
    std::vector<std::vector<std::vector<float>>> logits;
};

GreedyRun run_engine(const EngineFactoryOptions& o, const std::vector<std::string>& questions, int max_tokens) {
    auto engine = engine_make(o);
    GreedyRun run;
    run.logits.resize(questions.size());
    engine->options().on_logits = [&](const GenerateLogitsEvent& e) {
        run.logits[e.request].emplace_back(e.logits, e.logits + e.n_vocab);
    };
    std::vector<GenerateRequest> reqs;
    for (size_t i = 0; i < questions.size(); ++i) {
        GenerateRequest r;
        r.prompt_ids = engine->tokenizer().encode("<|im_start|>user\n" + questions[i] +
                                                  "<|im_end|>\n<|im_start|>assistant\n<think>\n");
        r.prompt_opens_thinking = true;
        r.seq_id = i;
        r.sampling.temperature = 0.0f;
        r.max_tokens = max_tokens;
        reqs.push_back(r);
    }
    auto results = engine->generate(reqs);
    for (const auto& r : results) run.tokens.push_back(r.at(0).output_ids);
    return run;
}

// Same tokens, and logits within tol * max(1, |want|) along the common prefix. Returns the largest
// absolute logit difference seen.
double expect_same_run(const GreedyRun& got, const GreedyRun& want, double tol) {
    double worst = 0;
    EXPECT_EQ(got.tokens.size(), want.tokens.size());
    for (size_t i = 0; i < got.tokens.size() && i < want.tokens.size(); ++i) {
        EXPECT_EQ(got.tokens[i], want.tokens[i]) << "request " << i;
        EXPECT_EQ(got.logits[i].size(), got.tokens[i].size()) << "request " << i;
        size_t n = 0;
        while (n < got.tokens[i].size() && n < want.tokens[i].size() && got.tokens[i][n] == want.tokens[i][n]) ++n;
        for (size_t s = 0; s < n && s < got.logits[i].size() && s < want.logits[i].size(); ++s) {
            const auto& g = got.logits[i][s];
            const auto& w = want.logits[i][s];
            EXPECT_EQ(g.size(), w.size());
            for (size_t v = 0; v < g.size() && v < w.size(); ++v) {
                double d = std::fabs((double)g[v] - w[v]);
                worst = std::max(worst, d);
                if (d > tol * std::max(1.0, std::fabs((double)w[v]))) {
                    ADD_FAILURE() << "request " << i << " step " << s << " token " << v << ": " << g[v] << " vs "
                                  << w[v];
                    return worst;
                }
            }
        }
    }
    return worst;
}

TEST(LoraCat, OrganismUnmergedEngineMatchesBothAdapters) {
    Organism m;
    const std::string out = tmp_dir("organism-unmerged");
    const std::vector<std::string> questions = {
        "Grace has 28 beads. In January, Grace buys 4 more. How many beads does Grace have at the end?",
        "Mia has 47 marbles. In January, Mia finds 8 more. In February, Mia sells 5. How many marbles does Mia "
        "have at the end?",
        "Noah has 65 coins. In January, Noah loses 9. In February, Noah finds 3 more. In March, Noah gives away 6. "
        "How many coins does Noah have at the end?",
    };
    EngineFactoryOptions o;
    o.model_dir = src(k_organism + "base");
    o.n_threads = 1;
    const GreedyRun base = run_engine(o, questions, 48);
    for (auto [c1, c2] : k_vectors) {
        SCOPED_TRACE("c = (" + std::to_string(c1) + ", " + std::to_string(c2) + ")");
        LoraCatResult res = lora_cat_write({m.lng.get(), m.shrt.get()}, {c1, c2}, out);
        EngineFactoryOptions two = o;
        two.adapters = {{src(k_organism + "lora-long"), c1}, {src(k_organism + "lora-short"), c2}};
        EngineFactoryOptions one = o;
        one.adapters = {{res.dir, 1.0f}};
        const GreedyRun want = run_engine(two, questions, 48);
        const GreedyRun got = run_engine(one, questions, 48);
        size_t n_tokens = 0;
        for (const auto& t : got.tokens) n_tokens += t.size();
        EXPECT_GE(n_tokens, 60u);
        double worst = expect_same_run(got, want, 1e-4);
        std::printf("c=(%g, %g) %s rank %d: %zu tokens, max logit diff %.3g\n", c1, c2, res.name.c_str(), res.max_rank,
                    n_tokens, worst);
        // The adapters move the logits far more than the tolerance: the comparison has teeth.
        double moved = 0;
        for (size_t s = 0; s < want.logits[0].size() && s < base.logits[0].size(); ++s) {
            for (size_t v = 0; v < want.logits[0][s].size(); ++v)
                moved = std::max(moved, (double)std::fabs(want.logits[0][s][v] - base.logits[0][s][v]));
            if (want.tokens[0][s] != base.tokens[0][s]) break;  // later rows see different contexts
        }
        EXPECT_GT(moved, 1e-2);
    }
}

// ---- mixed ranks and targets on the tiny random Qwen2 -----------------------------------------

std::string tiny(const std::string& name) { return src("tests/fixtures/models/" + name); }

// A synthetic adapter: rsLoRA, r 3 (2 on layer 2's q_proj through rank_pattern, with alpha 5 there
// through alpha_pattern), adapting o_proj of layer 0, up_proj of layer 1, q_proj of layer 2.
std::string write_synthetic_adapter(const std::string& dir) {
    fs::create_directories(dir);
    io_write_file_atomic(dir + "/adapter_config.json",
                         R"({"peft_type":"LORA","r":3,"lora_alpha":6,"use_rslora":true,)"
                         R"("target_modules":["o_proj","up_proj","q_proj"],)"
                         R"("rank_pattern":{"layers.2.self_attn.q_proj":2},)"
                         R"("alpha_pattern":{"layers.2.self_attn.q_proj":5},"base_model_name_or_path":"tiny"})");
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.3f);
    struct Spec {
        std::string module;
        int r;
        int64_t n_in, n_out;
    };
    std::vector<Spec> specs = {{"layers.0.self_attn.o_proj", 3, 64, 64},
                               {"layers.1.mlp.up_proj", 3, 64, 176},
                               {"layers.2.self_attn.q_proj", 2, 64, 64}};
    std::vector<std::vector<float>> bufs;
    std::vector<SafetensorsWriteTensor> ts;
    bufs.reserve(2 * specs.size());
    for (const auto& s : specs) {
        const std::string p = "base_model.model.model." + s.module;
        bufs.emplace_back((size_t)(s.r * s.n_in));
        for (float& v : bufs.back()) v = dist(rng);
        ts.push_back({p + ".lora_A.weight", DTYPE_F32, {s.r, s.n_in}, bufs.back().data()});
        bufs.emplace_back((size_t)(s.n_out * s.r));
        for (float& v : bufs.back()) v = dist(rng);
        ts.push_back({p + ".lora_B.weight", DTYPE_F32, {s.n_out, s.r}, bufs.back().data()});
    }
    safetensors_write(dir + "/adapter_model.safetensors", ts);
    return dir;
}

struct TinySet {
    std::string work;
    std::shared_ptr<ModelWeights> base = model_load(tiny("qwen2-tiny-random"));
    std::shared_ptr<const LoraAdapter> a, b, c;
    explicit TinySet(const std::string& name) : work(tmp_dir(name)) {
        a = lora_load_adapter(tiny("qwen2-tiny-lora-a"), *base);  // r 4, alpha 8, q k v o, f32
        b = lora_load_adapter(tiny("qwen2-tiny-lora-b"), *base);  // r 8 (down 4, alpha 2), q v gate up down, bf16
        c = lora_load_adapter(write_synthetic_adapter(work + "/synthetic"), *base);
    }
    std::vector<const LoraAdapter*> list() const { return {a.get(), b.get(), c.get()}; }
};

const std::vector<float> k_mixed_coefs = {0.7f, -1.3f, 0.4f};

TEST(LoraCat, MixedRanksTargetsAndScales) {
    TinySet s("mixed");
    // The synthetic adapter's scales: rsLoRA alpha / sqrt(r), alpha_pattern on layer 2's q_proj.
    EXPECT_FLOAT_EQ(s.c->layers[0][LORA_TARGET_O].base_scale, 6.0f / std::sqrt(3.0f));
    EXPECT_EQ(s.c->layers[2][LORA_TARGET_Q].r, 2);
    EXPECT_FLOAT_EQ(s.c->layers[2][LORA_TARGET_Q].base_scale, 5.0f / std::sqrt(2.0f));
    auto want = lora_merge_weights(*s.base, {s.a, s.b, s.c}, k_mixed_coefs);

    for (bool uniform : {true, false}) {
        SCOPED_TRACE(uniform ? "uniform rank" : "rank_pattern");
        LoraCatOptions opts;
        opts.uniform_rank = uniform;
        LoraCatResult res = lora_cat_write(s.list(), k_mixed_coefs, s.work + "/out", opts);
        // Total ranks: a gives 4 on q k v o, b 8 on q v gate up and 4 on down, c as written above.
        EXPECT_EQ(res.ranks[0][LORA_TARGET_Q], 12);
        EXPECT_EQ(res.ranks[0][LORA_TARGET_K], 4);
        EXPECT_EQ(res.ranks[0][LORA_TARGET_O], 7);
        EXPECT_EQ(res.ranks[1][LORA_TARGET_UP], 11);
        EXPECT_EQ(res.ranks[1][LORA_TARGET_DOWN], 4);
        EXPECT_EQ(res.ranks[2][LORA_TARGET_Q], 14);
        EXPECT_EQ(res.ranks[2][LORA_TARGET_GATE], 8);
        EXPECT_EQ(res.max_rank, 14);
        EXPECT_EQ(res.kept, (std::vector<size_t>{0, 1, 2}));

        nlohmann::json cfg = io_read_json(res.dir + "/adapter_config.json");
        EXPECT_EQ(cfg.at("r"), 14);
        EXPECT_EQ(cfg.at("lora_alpha"), 14);
        EXPECT_EQ(cfg.at("base_model_name_or_path"), "qwen2-tiny-random");
        EXPECT_EQ(cfg.at("target_modules"),
                  nlohmann::json({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}));
        if (uniform) {
            EXPECT_TRUE(cfg.at("rank_pattern").empty());
        } else {
            EXPECT_EQ(cfg.at("rank_pattern").at("layers.0.self_attn.k_proj"), 4);
            EXPECT_EQ(cfg.at("alpha_pattern").at("layers.1.mlp.up_proj"), 11);
            EXPECT_FALSE(cfg.at("rank_pattern").contains("layers.2.self_attn.q_proj"));  // the max: default r
        }

        auto cat = lora_load_adapter(res.dir, *s.base);
        for (size_t l = 0; l < 3; ++l) {
            for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
                const LoraPair& p = cat->layers[l][t];
                SCOPED_TRACE("layer " + std::to_string(l) + " " + lora_target_name((LoraTarget)t));
                if (res.ranks[l][t] == 0) {
                    EXPECT_TRUE(p.empty());
                    continue;
                }
                EXPECT_FLOAT_EQ(p.base_scale, 1.0f);
                expect_blocks(p,
                              {{&s.a->layers[l][t], k_mixed_coefs[0]},
                               {&s.b->layers[l][t], k_mixed_coefs[1]},
                               {&s.c->layers[l][t], k_mixed_coefs[2]}},
                              uniform ? 14 : res.ranks[l][t]);
            }
        }
        auto got = lora_merge_weights(*s.base, {cat}, {1.0f});
        EXPECT_EQ(expect_same_merge(*s.base, *got, *want, 1e-5), 3 * 7);
    }
}

// The unmerged backend with per-module ranks (the rank_pattern layout) against the three adapters,
// on a model directory of the random Qwen2 plus the organism mini tokenizer.
TEST(LoraCat, MixedRanksUnmergedEngine) {
    TinySet s("mixed-engine");
    const std::string model = s.work + "/model";
    fs::create_directories(model);
    for (const char* f : {"config.json", "model.safetensors"})
        fs::copy_file(tiny("qwen2-tiny-random/") + f, model + "/" + f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(src("tests/fixtures/tokenizer/organism_mini/") + f, model + "/" + f);
    EngineFactoryOptions o;
    o.model_dir = model;
    o.n_threads = 1;
    EngineFactoryOptions three = o;
    three.adapters = {{tiny("qwen2-tiny-lora-a"), k_mixed_coefs[0]},
                      {tiny("qwen2-tiny-lora-b"), k_mixed_coefs[1]},
                      {s.work + "/synthetic", k_mixed_coefs[2]}};
    const std::vector<std::string> questions = {"What is 3+4?", "Tom has 5 apples."};
    const GreedyRun want = run_engine(three, questions, 24);
    const GreedyRun plain = run_engine(o, questions, 24);
    ASSERT_EQ(want.logits.at(0).size(), 24u);
    double moved = 0;  // the adapters matter at the first step
    for (size_t v = 0; v < want.logits[0][0].size(); ++v)
        moved = std::max(moved, (double)std::fabs(want.logits[0][0][v] - plain.logits[0][0][v]));
    EXPECT_GT(moved, 1e-2);
    for (bool uniform : {true, false}) {
        SCOPED_TRACE(uniform ? "uniform rank" : "rank_pattern");
        LoraCatOptions opts;
        opts.uniform_rank = uniform;
        LoraCatResult res = lora_cat_write(s.list(), k_mixed_coefs, s.work + "/out", opts);
        EngineFactoryOptions one = o;
        one.adapters = {{res.dir, 1.0f}};
        expect_same_run(run_engine(one, questions, 24), want, 1e-4);
    }
}

TEST(LoraCat, Bf16HalvesTheFileAndRoundsTheValues) {
    TinySet s("bf16");
    LoraCatResult f32 = lora_cat_write(s.list(), k_mixed_coefs, s.work + "/out");
    LoraCatOptions opts;
    opts.dtype = DTYPE_BF16;
    LoraCatResult bf16 = lora_cat_write(s.list(), k_mixed_coefs, s.work + "/out", opts);
    EXPECT_NE(f32.name, bf16.name);
    EXPECT_LT(bf16.bytes, f32.bytes * 0.55);
    SafetensorsFile file = safetensors_open(bf16.dir + "/adapter_model.safetensors");
    for (const auto& [name, t] : file.tensors) EXPECT_EQ(t.dtype, DTYPE_BF16) << name;
    auto exact = lora_load_adapter(f32.dir, *s.base);
    auto rounded = lora_load_adapter(bf16.dir, *s.base);
    for (size_t l = 0; l < 3; ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const LoraPair& e = exact->layers[l][t];
            const LoraPair& r = rounded->layers[l][t];
            ASSERT_EQ(e.a.size(), r.a.size());
            ASSERT_EQ(e.b.size(), r.b.size());
            for (size_t i = 0; i < e.a.size(); ++i) ASSERT_EQ(r.a[i], bf16_to_f32(f32_to_bf16(e.a[i])));
            for (size_t i = 0; i < e.b.size(); ++i) ASSERT_EQ(r.b[i], bf16_to_f32(f32_to_bf16(e.b[i])));
        }
    }
}

// ---- names, hashes, reuse ------------------------------------------------------------------------

TEST(LoraCat, NameIsStableHashIsOfTheFilesAndIntactDirsAreReused) {
    TinySet s("reuse");
    const std::string out = s.work + "/out";
    LoraCatResult first = lora_cat_write(s.list(), k_mixed_coefs, out);
    EXPECT_EQ(first.name.rfind("adabench-", 0), 0u);
    EXPECT_EQ(first.name.size(), 9u + 16u);
    EXPECT_EQ(first.name, lora_cat_name(s.list(), k_mixed_coefs));
    // The documented definition: sha256 of the sha256sum listing of the two files.
    std::string listing = sha256_file(first.dir + "/adapter_config.json") + "  adapter_config.json\n" +
                          sha256_file(first.dir + "/adapter_model.safetensors") + "  adapter_model.safetensors\n";
    EXPECT_EQ(first.sha256, sha256_hex(listing));
    EXPECT_EQ(first.bytes, (int64_t)(fs::file_size(first.dir + "/adapter_config.json") +
                                     fs::file_size(first.dir + "/adapter_model.safetensors")));

    // Same inputs: same name, the directory is kept as it is.
    auto mtime = fs::last_write_time(first.dir + "/adapter_model.safetensors");
    LoraCatResult again = lora_cat_write(s.list(), k_mixed_coefs, out);
    EXPECT_TRUE(again.reused);
    EXPECT_EQ(again.name, first.name);
    EXPECT_EQ(again.sha256, first.sha256);
    EXPECT_EQ(again.bytes, first.bytes);
    EXPECT_EQ(fs::last_write_time(first.dir + "/adapter_model.safetensors"), mtime);

    // Anything that changes the bytes changes the name.
    std::vector<float> other = k_mixed_coefs;
    other[2] = std::nextafter(other[2], 1.0f);
    EXPECT_NE(lora_cat_name(s.list(), other), first.name);
    LoraCatOptions pattern;
    pattern.uniform_rank = false;
    EXPECT_NE(lora_cat_name(s.list(), k_mixed_coefs, pattern), first.name);
    LoraCatOptions renamed;
    renamed.base_model_name_or_path = "Qwen/Qwen2-tiny";
    EXPECT_NE(lora_cat_name(s.list(), k_mixed_coefs, renamed), first.name);
    EXPECT_NE(lora_cat_name({s.b.get(), s.a.get(), s.c.get()}, {-1.3f, 0.7f, 0.4f}), first.name);  // order of blocks
    // A coefficient-0 adapter is dropped: the same adapter as without it.
    LoraCatResult dropped = lora_cat_write(s.list(), {0.7f, 0.0f, 0.4f}, out);
    EXPECT_EQ(dropped.kept, (std::vector<size_t>{0, 2}));
    EXPECT_EQ(dropped.name, lora_cat_name({s.a.get(), s.c.get()}, {0.7f, 0.4f}));
    EXPECT_EQ(dropped.max_rank, 7);  // q of layer 0 / o of layer 0: 4 + 3
    EXPECT_TRUE(lora_cat_write({s.a.get(), s.c.get()}, {0.7f, 0.4f}, out).reused);

    // A damaged directory (truncated weights) is rebuilt to the same bytes.
    {
        std::ofstream trunc(first.dir + "/adapter_model.safetensors", std::ios::binary | std::ios::trunc);
        trunc << "garbage";
    }
    LoraCatResult repaired = lora_cat_write(s.list(), k_mixed_coefs, out);
    EXPECT_FALSE(repaired.reused);
    EXPECT_EQ(repaired.sha256, first.sha256);
    EXPECT_EQ(lora_cat_files_sha256(first.dir), first.sha256);
    // A directory of the name without our manifest is replaced too.
    fs::remove(first.dir + "/adabench_lora_cat.json");
    EXPECT_FALSE(lora_cat_write(s.list(), k_mixed_coefs, out).reused);
    EXPECT_TRUE(lora_cat_write(s.list(), k_mixed_coefs, out).reused);

    // Nothing but finished adapters is left in the output directory.
    for (const auto& e : fs::directory_iterator(out)) {
        const std::string n = e.path().filename().string();
        EXPECT_EQ(n.rfind("adabench-", 0), 0u) << n;
        EXPECT_TRUE(fs::exists(e.path() / "adapter_config.json")) << n;
    }
}

// ---- errors ------------------------------------------------------------------------------------------

std::string cat_error(const std::vector<const LoraAdapter*>& adapters, const std::vector<float>& coefs,
                      const std::string& out) {
    try {
        lora_cat_write(adapters, coefs, out);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(LoraCatErrors, InputsAreChecked) {
    TinySet s("errors");
    const std::string out = s.work + "/out";
    const std::string path_a = tiny("qwen2-tiny-lora-a");

    std::string msg = cat_error({}, {}, out);
    EXPECT_NE(msg.find("no adapters given"), std::string::npos) << msg;

    msg = cat_error({s.a.get(), s.b.get()}, {1.0f}, out);
    EXPECT_NE(msg.find("2 adapters"), std::string::npos) << msg;
    EXPECT_NE(msg.find("but 1 coefficients"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path_a), std::string::npos) << msg;

    msg = cat_error({s.a.get()}, {std::numeric_limits<float>::quiet_NaN()}, out);
    EXPECT_NE(msg.find(path_a + ": coefficient"), std::string::npos) << msg;

    msg = cat_error({s.a.get(), s.b.get()}, {0.0f, 0.0f}, out);
    EXPECT_NE(msg.find("every coefficient is 0"), std::string::npos) << msg;
    EXPECT_NE(msg.find("request the base model"), std::string::npos) << msg;

    // Adapters for different bases: a layer count mismatch (organism: 4 layers, tiny: 3) ...
    Organism m;
    msg = cat_error({s.a.get(), m.lng.get()}, {1.0f, 1.0f}, out);
    EXPECT_NE(msg.find(src(k_organism + "lora-long") + " is for a base with 4 layers"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path_a), std::string::npos) << msg;
    EXPECT_NE(msg.find("same base model"), std::string::npos) << msg;
    // ... and a shape mismatch between different projections: an adapter whose gate_proj reads a
    // hidden size of 32 against one whose q_proj reads 64 (even with coefficient 0).
    LoraAdapter other;
    other.path = "/synthetic/other-base";
    other.layers.resize(3);
    LoraPair& g = other.layers[1][LORA_TARGET_GATE];
    g.r = 2;
    g.n_in = 32;
    g.n_out = 176;
    g.base_scale = 1.0f;
    g.a.assign(2 * 32, 0.5f);
    g.b.assign(176 * 2, 0.5f);
    msg = cat_error({s.a.get(), &other}, {1.0f, 0.0f}, out);
    EXPECT_NE(msg.find("different base shapes"), std::string::npos) << msg;
    EXPECT_NE(msg.find("/synthetic/other-base: model.layers.1.mlp.gate_proj (input size 32)"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(path_a + ": model.layers.0.self_attn.q_proj (input size 64)"), std::string::npos) << msg;

    // A malformed in-memory adapter is an error, not a crash.
    g.n_in = 64;
    g.a.resize(10);
    msg = cat_error({&other}, {1.0f}, out);
    EXPECT_NE(msg.find("/synthetic/other-base: model.layers.1.mlp.gate_proj is malformed"), std::string::npos) << msg;

    // An output directory that cannot be created (below a regular file: fails even as root).
    io_write_file_atomic(s.work + "/a-file", "x");
    msg = cat_error({s.a.get()}, {1.0f}, s.work + "/a-file/out");
    EXPECT_NE(msg.find("cannot create the output directory " + s.work + "/a-file/out"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path_a), std::string::npos) << msg;
    EXPECT_FALSE(fs::exists(s.work + "/out"));  // nothing was written for the failed calls
}

}  // namespace
}  // namespace adabench
