// RPAM-style calibration of per-layer merge coefficients without autograd (ADAPTIVE_METHODS.md
// a.1, b.5). The merged model is theta(λ) = λ_l * long + (1 - λ_l) * short per decoder layer l
// (engines/model/merge.h with a list of one value per layer: layer l gets λ_l exactly, the
// embeddings λ_0, the final norm and lm_head λ_{L-1}).
//
// 1. Labels: every calibration query gets the parent that answers it better over k samples
//    (E_long vs E_short, the mean strict-correctness of each parent's samples); ties go to the
//    short (cheaper) parent. The samples come from two ordinary sweeps in the store.
// 2. Features: z^(l)(x) is the residual stream after decoder layer l, pooled over the prompt
//    (its last token, or the mean over its tokens), from Backend::forward_hidden.
// 3. Loss per layer: l_l(λ) = mean_i [ ||ẑ_M - ẑ_pos||² + ω · softplus((s(z_M, z_neg) - s(z_M, z_pos)) / τ) ]
//    (ẑ = z / ||z||, s = cosine; the second term is the two-way InfoNCE against the other parent).
// 4. Search: greedy layer by layer over a λ grid (each step minimises its own layer's loss given the
//    earlier λ, propagating the merged activations from layer to layer), then cyclic coordinate
//    descent on the total loss sum_l l_l (each step tries λ_l's grid neighbours), re-running only
//    layers l.. from the cached activations.
//
// Not here: running sweeps or writing configs (harness/cli/cmd_calibrate.cpp), autograd.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engines/backend.h"
#include "store/store.h"

namespace adabench {

// ---- labels ----

struct CalibrateLabel {
    std::string problem_id;
    double acc_long = 0, acc_short = 0;        // E over the parent's ok samples
    double tokens_long = 0, tokens_short = 0;  // mean thinking + answer tokens
    int n_long = 0, n_short = 0;               // ok samples per parent
    bool pos_long = false;                     // the preferred parent
    bool tie = false;                          // E_long == E_short (the short parent is preferred)
};

// Labels from the two parents' samples (each: the samples of one run's single point). A problem
// must have at least one ok sample from each parent; problems with none from either are left
// out. Ordered by problem id.
std::vector<CalibrateLabel> calibrate_label(const std::vector<SampleRecord>& long_samples,
                                            const std::vector<SampleRecord>& short_samples);

// ---- loss ----

enum CalibrateFeature {
    CALIBRATE_FEATURE_LAST,  // the residual stream at the prompt's last token
    CALIBRATE_FEATURE_MEAN,  // its mean over the prompt's tokens
};
const char* calibrate_feature_name(CalibrateFeature f);
CalibrateFeature calibrate_feature_parse(const std::string& s);  // "last" | "mean"; throws UsageError

struct CalibrateLossOptions {
    double omega = 0.5;  // weight of the contrastive term
    double tau = 0.1;    // its temperature
};

// l_l for n pooled features of width C (rows of z_m, z_pos, z_neg), the mean over the rows.
double calibrate_layer_loss(const float* z_m, const float* z_pos, const float* z_neg, int n, int C,
                            const CalibrateLossOptions& options);

// ---- search ----

struct CalibrateSearchOptions {
    CalibrateFeature feature = CALIBRATE_FEATURE_LAST;
    CalibrateLossOptions loss;
    double grid_step = 0.05;  // λ grid 0, step, ..., 1
    int refine_sweeps = 3;    // coordinate-descent sweeps after the greedy pass (stops early when none moves)
    // A refinement step tries λ_l ± 1..refine_radius grid steps (0 = the whole grid).
    int refine_radius = 2;
    int batch_size = 64;  // prompts per forward_hidden call
};

struct CalibrateResult {
    std::vector<float> lambda;             // per layer, after refinement
    std::vector<float> lambda_greedy;      // after the greedy pass
    std::vector<double> layer_loss;        // l_l at lambda
    double loss = 0;                       // sum of layer_loss
    double loss_greedy = 0;                // total loss at lambda_greedy
    double loss_long = 0, loss_short = 0;  // total loss at λ ≡ 1 and λ ≡ 0 (the parents)
    int refine_sweeps_run = 0;
    int64_t n_layer_runs = 0;  // single-layer forward passes over the calibration set
    // Max |difference| between the incrementally propagated activations the search ended with and
    // a fresh forward of the final merge (should be ~0: the cache is consistent).
    double cache_max_abs_diff = 0;
};

// The calibration set on a backend whose composition sources are model = long, merge_with = short
// (Backend::set_compose_sources): prompts, the preferred parent of each, and the search.
class Calibrator {
public:
    // prompts[i] are token ids; pos_long[i] the label of prompt i.
    Calibrator(Backend& backend, std::vector<std::vector<int32_t>> prompts, std::vector<bool> pos_long,
               CalibrateSearchOptions options);

    int n_layers() const { return n_layers_; }
    int64_t n_tokens() const { return n_tokens_; }
    // Composes the linear merge with per-layer λ (one per layer).
    void compose(const std::vector<float>& lambda);
    // Layers [begin, end) of the current composition over every prompt, entered by `input` (the
    // residual stream before `begin`, n_tokens x C) or the embeddings (begin 0, input null):
    // (end - begin, n_tokens, C).
    std::vector<float> run_layers(int begin, int end, const float* input);
    // The pooled features (n_prompts, C) of one layer's activations (n_tokens, C).
    std::vector<float> pool(const float* activations) const;
    // l_l of pooled merged features against the parents' features at layer l.
    double layer_loss(int layer, const std::vector<float>& z_m) const;
    // Caches both parents' features (composing λ ≡ 1 and λ ≡ 0); search() calls it first.
    void cache_parents();
    const std::vector<float>& parent_features(bool long_parent, int layer) const;
    // The whole search (greedy, then refinement). `log` gets one line per stage (may be empty).
    CalibrateResult search(const std::function<void(const std::string&)>& log = {});
    // The total loss and per-layer losses of λ (a fresh forward).
    double total_loss(const std::vector<float>& lambda, std::vector<double>* per_layer = nullptr);

private:
    Backend& backend_;
    std::vector<std::vector<int32_t>> prompts_;
    std::vector<bool> pos_long_;
    CalibrateSearchOptions options_;
    int n_layers_ = 0, C_ = 0;
    int64_t n_tokens_ = 0;
    std::vector<int64_t> offsets_;                      // first token of each prompt
    std::vector<std::vector<float>> z_long_, z_short_;  // [layer] (n_prompts, C)
    int64_t n_layer_runs_ = 0;
};

// The λ grid 0, step, ..., 1 (1 always included). Throws UsageError unless 0 < step <= 1.
std::vector<float> calibrate_grid(double step);

}  // namespace adabench
