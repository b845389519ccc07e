// harness/calibrate.h: the loss on hand-made vectors, the labels (ties to the short parent), the
// calibration identities on the organism (λ ≡ 1 is the long model, λ ≡ 0 the short one, for the
// hidden states and the logits), the search (incremental propagation = a fresh forward of the final
// merge, refinement never worse than greedy, one-sided labels give the parent's λ), and the tagged
// λ entries of sweep configs.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/sanitizers.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/model/loader.h"
#include "harness/calibrate.h"
#include "harness/sweep_config.h"

namespace adabench {
namespace {

std::string src(const std::string& rel) { return std::string(ADABENCH_SOURCE_DIR) + "/" + rel; }

// ---- loss ----

TEST(CalibrateLoss, AlignmentIsZeroOnThePreferredParentAndScaleFree) {
    const float pos[4] = {1, 2, 3, 4}, neg[4] = {4, 3, 2, 1}, twice[4] = {2, 4, 6, 8};
    CalibrateLossOptions no_contrast;
    no_contrast.omega = 0;
    EXPECT_EQ(calibrate_layer_loss(pos, pos, neg, 1, 4, no_contrast), 0.0);
    EXPECT_NEAR(calibrate_layer_loss(twice, pos, neg, 1, 4, no_contrast), 0.0, 1e-12);
    // ||ẑ_m - ẑ_pos||² = 2 - 2 cos: cos(neg, pos) = 20 / 30
    EXPECT_NEAR(calibrate_layer_loss(neg, pos, neg, 1, 4, no_contrast), 2.0 - 2.0 * 20.0 / 30.0, 1e-9);
}

TEST(CalibrateLoss, ContrastIsTwoWayInfoNce) {
    const float m[2] = {1, 0}, pos[2] = {1, 1}, neg[2] = {0, 1};
    CalibrateLossOptions o;
    o.omega = 1.0;
    o.tau = 0.5;
    const double s_pos = 1 / std::sqrt(2.0), s_neg = 0.0;
    const double align = 2 - 2 * s_pos;
    const double contrast = -std::log(std::exp(s_pos / o.tau) / (std::exp(s_pos / o.tau) + std::exp(s_neg / o.tau)));
    EXPECT_NEAR(calibrate_layer_loss(m, pos, neg, 1, 2, o), align + contrast, 1e-9);
    // Rows are averaged.
    const float m2[4] = {1, 0, 1, 0}, pos2[4] = {1, 1, 1, 1}, neg2[4] = {0, 1, 0, 1};
    EXPECT_NEAR(calibrate_layer_loss(m2, pos2, neg2, 2, 2, o), align + contrast, 1e-9);
    // Far from the preferred parent and on the other: large but finite (stable softplus).
    CalibrateLossOptions sharp;
    sharp.tau = 1e-4;
    const float a[2] = {0, 1}, b[2] = {1, 0};
    double v = calibrate_layer_loss(a, b, a, 1, 2, sharp);
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_NEAR(v, 2.0 + sharp.omega * 1e4, 1.0);
}

TEST(CalibrateGrid, StepsIncludeBothEnds) {
    EXPECT_EQ(calibrate_grid(0.25), (std::vector<float>{0, 0.25f, 0.5f, 0.75f, 1}));
    EXPECT_EQ(calibrate_grid(0.3).back(), 1.0f);
    EXPECT_EQ(calibrate_grid(0.05).size(), 21u);
    EXPECT_THROW(calibrate_grid(0), UsageError);
    EXPECT_THROW(calibrate_grid(1.5), UsageError);
}

// ---- labels ----

SampleRecord sample(const std::string& id, bool correct, int tokens, const std::string& status = "ok") {
    SampleRecord s;
    s.problem_id = id;
    s.correct_strict = correct;
    s.n_tokens_think = tokens;
    s.status = status;
    return s;
}

TEST(CalibrateLabel, BetterParentWinsAndTiesGoToShort) {
    std::vector<SampleRecord> lo = {
        sample("a", true, 100), sample("a", true, 120), sample("b", false, 90), sample("b", true, 90),
        sample("c", true, 80),  sample("c", false, 80), sample("d", true, 50),  sample("e", true, 10, "failed_infra")};
    std::vector<SampleRecord> sh = {sample("a", false, 10), sample("a", true, 10), sample("b", true, 12),
                                    sample("b", true, 14),  sample("c", true, 10), sample("c", false, 10),
                                    sample("e", true, 10)};
    std::vector<CalibrateLabel> l = calibrate_label(lo, sh);
    ASSERT_EQ(l.size(), 3u);  // d has no short sample, e no ok long sample
    EXPECT_EQ(l[0].problem_id, "a");
    EXPECT_TRUE(l[0].pos_long);
    EXPECT_FALSE(l[0].tie);
    EXPECT_DOUBLE_EQ(l[0].acc_long, 1.0);
    EXPECT_DOUBLE_EQ(l[0].acc_short, 0.5);
    EXPECT_DOUBLE_EQ(l[0].tokens_long, 110.0);
    EXPECT_FALSE(l[1].pos_long);  // b: short is better
    EXPECT_FALSE(l[1].tie);
    EXPECT_FALSE(l[2].pos_long);  // c: a tie goes to the short parent
    EXPECT_TRUE(l[2].tie);
}

// ---- identities on the organism ----

struct Organism {
    std::shared_ptr<const ModelWeights> longm = model_load(src("models/organism/long"));
    std::shared_ptr<const ModelWeights> shortm = model_load(src("models/organism/short"));
};

const Organism& organism() {
    static const Organism o;
    return o;
}

// The same weights widened to fp32 (exact), so the CPU runs them through the same fp32 kernels as
// the merged (fp32) weights: the identities must then hold bit for bit.
std::shared_ptr<const ModelWeights> widened(const ModelWeights& w) {
    auto out = std::make_shared<ModelWeights>(w);
    auto widen = [](Tensor& t) {
        if (t.empty() || t.dtype == DTYPE_F32) return;
        t.owned = std::make_shared<std::vector<float>>(tensor_to_f32(t));
        t.data = t.owned->data();
        t.dtype = DTYPE_F32;
    };
    const bool tied = w.lm_head.data == w.embed_tokens.data;
    widen(out->embed_tokens);
    widen(out->final_norm);
    if (tied)
        out->lm_head = out->embed_tokens;
    else
        widen(out->lm_head);
    for (LayerWeights& l : out->layers)
        for (Tensor* t : {&l.attn_norm, &l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.q_bias, &l.k_bias, &l.v_bias,
                          &l.ffn_norm, &l.gate_proj, &l.up_proj, &l.down_proj})
            widen(*t);
    return out;
}

double max_abs(const std::vector<float>& a) {
    double m = 0;
    for (float x : a) m = std::max(m, double(std::fabs(x)));
    return m;
}

std::unique_ptr<CpuBackend> merge_backend() {
    const Organism& o = organism();
    auto b = std::make_unique<CpuBackend>(o.longm);
    ComposeSources s;
    s.model = o.longm;
    s.merge_with = o.shortm;
    b->set_compose_sources(s);
    return b;
}

std::vector<std::vector<int32_t>> random_prompts(int n, int vocab, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::vector<int32_t>> p(static_cast<size_t>(n));
    for (auto& v : p) {
        v.resize(size_t(6 + rng() % 14));
        for (auto& t : v) t = int32_t(rng() % uint64_t(vocab));
    }
    return p;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
    return m;
}

TEST(CalibrateIdentities, LambdaOneIsLongAndZeroIsShort) {
    const Organism& o = organism();
    const int L = o.longm->config.n_layers;
    auto prompts = random_prompts(5, o.longm->config.vocab_size, 1);
    auto merged = merge_backend();
    Calibrator cal(*merged, prompts, std::vector<bool>(prompts.size(), true), {});
    for (int which = 0; which < 2; ++which) {
        SCOPED_TRACE(which == 0 ? "λ ≡ 1 vs long" : "λ ≡ 0 vs short");
        const auto& w = which == 0 ? o.longm : o.shortm;
        // exact: the parent widened to fp32 (the merge's own dtype); stored: the parent's bf16
        // weights, which take other kernels (another summation order), so equal to rounding.
        CpuBackend exact(widened(*w)), stored(w);
        cal.compose(std::vector<float>(size_t(L), which == 0 ? 1.0f : 0.0f));
        std::vector<float> h = cal.run_layers(0, L, nullptr);
        std::vector<float> want =
            Calibrator(exact, prompts, std::vector<bool>(prompts.size(), true), {}).run_layers(0, L, nullptr);
        std::vector<float> near =
            Calibrator(stored, prompts, std::vector<bool>(prompts.size(), true), {}).run_layers(0, L, nullptr);
        EXPECT_EQ(max_abs_diff(h, want), 0.0);
        EXPECT_LE(max_abs_diff(h, near), 1e-5 * max_abs(near));
        // The logits too (the head takes the last layer's λ).
        const int V = o.longm->config.vocab_size;
        std::vector<float> l1(static_cast<size_t>(V)), l2(static_cast<size_t>(V)), l3(static_cast<size_t>(V));
        int s1 = merged->seq_alloc(), s2 = exact.seq_alloc(), s3 = stored.seq_alloc();
        merged->forward(BackendBatch{{s1}, {prompts[0]}, {}}, l1.data());
        exact.forward(BackendBatch{{s2}, {prompts[0]}, {}}, l2.data());
        stored.forward(BackendBatch{{s3}, {prompts[0]}, {}}, l3.data());
        merged->seq_free(s1);
        EXPECT_EQ(max_abs_diff(l1, l2), 0.0);
        EXPECT_LE(max_abs_diff(l1, l3), 1e-5 * max_abs(l3));
    }
    // And the alignment term against the long parent is 0 at λ ≡ 1.
    CalibrateSearchOptions so;
    so.loss.omega = 0;
    Calibrator al(*merged, prompts, std::vector<bool>(prompts.size(), true), so);
    al.cache_parents();
    EXPECT_LE(al.total_loss(std::vector<float>(size_t(L), 1.0f)), 1e-9);
    EXPECT_GT(al.total_loss(std::vector<float>(size_t(L), 0.0f)), 1e-3);
}

// Under the sanitizers (unoptimised, instrumented) the searches below use a coarser grid and fewer
// prompts: the same checks, a fraction of the compose calls.
#if defined(ADABENCH_ASAN)
constexpr double kGridStep = 0.5;
constexpr int kPrompts = 8;
#else
constexpr double kGridStep = 0.25;
constexpr int kPrompts = 16;
#endif

TEST(CalibrateSearch, IncrementalPropagationMatchesAFreshForward) {
    const Organism& o = organism();
    auto prompts = random_prompts(kPrompts, o.longm->config.vocab_size, 2);
    std::vector<bool> pos;
    for (size_t i = 0; i < prompts.size(); ++i) pos.push_back(i % 3 == 0);
    auto merged = merge_backend();
    CalibrateSearchOptions so;
    so.grid_step = kGridStep;
    so.refine_sweeps = 2;
    so.batch_size = 5;  // several batches per pass
    Calibrator cal(*merged, prompts, pos, so);
    CalibrateResult r = cal.search();
    ASSERT_EQ(r.lambda.size(), size_t(o.longm->config.n_layers));
    EXPECT_LE(r.cache_max_abs_diff, 1e-5);
    EXPECT_LE(r.loss, r.loss_greedy + 1e-9);
    EXPECT_GT(r.n_layer_runs, 0);
    std::vector<double> per;
    EXPECT_NEAR(cal.total_loss(r.lambda, &per), r.loss, 1e-9);
    for (size_t l = 0; l < per.size(); ++l) EXPECT_NEAR(per[l], r.layer_loss[l], 1e-9);
    for (float v : r.lambda) {
        EXPECT_GE(v, 0.0f);
        EXPECT_LE(v, 1.0f);
    }
}

TEST(CalibrateSearch, OneSidedLabelsGiveThatParent) {
    const Organism& o = organism();
    const int L = o.longm->config.n_layers;
    auto prompts = random_prompts(8, o.longm->config.vocab_size, 3);
    auto merged = merge_backend();
    CalibrateSearchOptions so;
    so.grid_step = kGridStep;
    so.loss.omega = 0;  // alignment only: the preferred parent has loss exactly 0
    for (bool to_long : {true, false}) {
        SCOPED_TRACE(to_long ? "all long" : "all short");
        Calibrator cal(*merged, prompts, std::vector<bool>(prompts.size(), to_long), so);
        CalibrateResult r = cal.search();
        EXPECT_EQ(r.lambda, std::vector<float>(size_t(L), to_long ? 1.0f : 0.0f));
        EXPECT_LE(r.loss, 1e-9);
    }
}

TEST(CalibrateSearch, RefusesMismatchedInputs) {
    auto merged = merge_backend();
    EXPECT_THROW(Calibrator(*merged, {}, {}, {}), Error);
    EXPECT_THROW(Calibrator(*merged, {{1, 2}}, {true, false}, {}), Error);
    EXPECT_THROW(Calibrator(*merged, std::vector<std::vector<int32_t>>(1), {true}, {}), Error);
    Calibrator cal(*merged, {{1, 2}}, {true}, {});
    EXPECT_THROW(cal.compose({1.0f}), Error);                         // one value for 4 layers
    EXPECT_THROW(cal.layer_loss(0, std::vector<float>(256)), Error);  // parents not cached
}

// ---- tagged λ entries in sweep configs ----

TEST(CalibrateConfig, TaggedLambdasParseAndLabel) {
    nlohmann::json doc = nlohmann::json::parse(R"({
        "model": "models/organism/long",
        "merge": {"with": "models/organism/short",
                  "lambdas": ["0:1:0.5", {"lambda": [1, 0.5, 0.25, 0], "tag": "calibrated"}]},
        "tasks": [{"name": "arith", "limit": 4}]})");
    SweepConfig c = sweep_config_parse(doc, "t.json");
    sweep_config_validate(c, "t.json");
    ASSERT_EQ(c.merge.lambdas.size(), 4u);
    EXPECT_EQ(c.merge.lambda_tags, (std::vector<std::string>{"", "", "", "calibrated"}));
    EXPECT_EQ(c.merge.lambdas[3], (std::vector<double>{1, 0.5, 0.25, 0}));
    nlohmann::json canon = sweep_config_canonical(c);
    EXPECT_EQ(canon["merge"]["lambda_tags"][3], "calibrated");
    // Untagged configs keep their canonical form (and hash).
    doc["merge"]["lambdas"] = nlohmann::json::array({"0:1:0.5", nlohmann::json::array({1, 0.5, 0.25, 0})});
    SweepConfig plain = sweep_config_parse(doc, "t.json");
    EXPECT_FALSE(sweep_config_canonical(plain)["merge"].contains("lambda_tags"));
    EXPECT_NE(sweep_config_hash(plain), sweep_config_hash(c));
    // Bad entries are named.
    doc["merge"]["lambdas"] = nlohmann::json::parse(R"([{"lambda": 0.5, "tag": "Bad Tag"}])");
    EXPECT_THROW(sweep_config_parse(doc, "t.json"), Error);
    doc["merge"]["lambdas"] = nlohmann::json::parse(R"([{"tag": "x"}])");
    EXPECT_THROW(sweep_config_parse(doc, "t.json"), Error);
    doc["merge"]["lambdas"] = nlohmann::json::parse(R"([{"lambda": 0.5, "tag": "x", "extra": 1}])");
    EXPECT_THROW(sweep_config_parse(doc, "t.json"), Error);
}

}  // namespace
}  // namespace adabench
