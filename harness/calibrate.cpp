// RPAM-style per-layer λ calibration (see calibrate.h): labels from stored samples, the loss, and
// the greedy + coordinate-descent search over Backend::forward_hidden.
#include "harness/calibrate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "common/error.h"
#include "engines/model/compose.h"

namespace adabench {

// ---- labels ----

std::vector<CalibrateLabel> calibrate_label(const std::vector<SampleRecord>& long_samples,
                                            const std::vector<SampleRecord>& short_samples) {
    struct Acc {
        int n = 0, correct = 0;
        double tokens = 0;
    };
    std::map<std::string, Acc> by_long, by_short;
    auto tally = [](const std::vector<SampleRecord>& samples, std::map<std::string, Acc>& out) {
        for (const SampleRecord& s : samples) {
            if (!store_sample_ok(s)) continue;
            Acc& a = out[s.problem_id];
            ++a.n;
            a.correct += s.correct_strict ? 1 : 0;
            a.tokens += double(s.n_tokens_think + s.n_tokens_answer);
        }
    };
    tally(long_samples, by_long);
    tally(short_samples, by_short);
    std::vector<CalibrateLabel> out;
    for (const auto& [id, l] : by_long) {
        auto it = by_short.find(id);
        if (it == by_short.end()) continue;
        const Acc& s = it->second;
        CalibrateLabel c;
        c.problem_id = id;
        c.n_long = l.n;
        c.n_short = s.n;
        c.acc_long = double(l.correct) / l.n;
        c.acc_short = double(s.correct) / s.n;
        c.tokens_long = l.tokens / l.n;
        c.tokens_short = s.tokens / s.n;
        // Compare the counts exactly (k may differ per parent after failures): l.c/l.n vs s.c/s.n.
        const int64_t lhs = int64_t(l.correct) * s.n, rhs = int64_t(s.correct) * l.n;
        c.tie = lhs == rhs;
        c.pos_long = lhs > rhs;
        out.push_back(c);
    }
    return out;
}

// ---- loss ----

const char* calibrate_feature_name(CalibrateFeature f) { return f == CALIBRATE_FEATURE_MEAN ? "mean" : "last"; }

CalibrateFeature calibrate_feature_parse(const std::string& s) {
    if (s == "last") return CALIBRATE_FEATURE_LAST;
    if (s == "mean") return CALIBRATE_FEATURE_MEAN;
    throw UsageError("calibrate: feature '" + s + "' is not last or mean");
}

double calibrate_layer_loss(const float* z_m, const float* z_pos, const float* z_neg, int n, int C,
                            const CalibrateLossOptions& o) {
    if (n <= 0) return 0.0;
    auto norm = [C](const float* z) {
        double s = 0;
        for (int c = 0; c < C; ++c) s += double(z[c]) * z[c];
        return std::max(std::sqrt(s), 1e-12);
    };
    double total = 0;
    for (int i = 0; i < n; ++i) {
        const float *m = z_m + int64_t(i) * C, *p = z_pos + int64_t(i) * C, *q = z_neg + int64_t(i) * C;
        const double nm = norm(m), np = norm(p), nq = norm(q);
        double align = 0, s_pos = 0, s_neg = 0;
        for (int c = 0; c < C; ++c) {
            const double a = m[c] / nm, b = p[c] / np, d = q[c] / nq;
            align += (a - b) * (a - b);
            s_pos += a * b;
            s_neg += a * d;
        }
        // -log(e^{s_pos/τ} / (e^{s_pos/τ} + e^{s_neg/τ})) = softplus((s_neg - s_pos) / τ), computed stably
        const double x = (s_neg - s_pos) / o.tau;
        const double contrast = x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
        total += align + o.omega * contrast;
    }
    return total / n;
}

std::vector<float> calibrate_grid(double step) {
    if (!(step > 0 && step <= 1)) throw UsageError("calibrate: the λ grid step must be in (0, 1]");
    std::vector<float> g;
    const int n = int(std::floor(1.0 / step + 1e-9));
    for (int i = 0; i <= n; ++i) g.push_back(float(std::min(1.0, i * step)));
    if (g.back() < 1.0f) g.push_back(1.0f);
    return g;
}

// ---- search ----

Calibrator::Calibrator(Backend& backend, std::vector<std::vector<int32_t>> prompts, std::vector<bool> pos_long,
                       CalibrateSearchOptions options)
    : backend_(backend), prompts_(std::move(prompts)), pos_long_(std::move(pos_long)), options_(options) {
    if (prompts_.empty()) throw Error("calibrate: no calibration prompts");
    if (prompts_.size() != pos_long_.size())
        throw Error("calibrate: " + std::to_string(prompts_.size()) + " prompts but " +
                    std::to_string(pos_long_.size()) + " labels");
    if (options_.batch_size < 1) throw UsageError("calibrate: the batch size must be at least 1");
    n_layers_ = backend_.config().n_layers;
    C_ = backend_.config().hidden_size;
    for (const auto& p : prompts_) {
        if (p.empty()) throw Error("calibrate: an empty prompt");
        offsets_.push_back(n_tokens_);
        n_tokens_ += int64_t(p.size());
    }
}

void Calibrator::compose(const std::vector<float>& lambda) {
    if (int(lambda.size()) != n_layers_)
        throw Error("calibrate: " + std::to_string(lambda.size()) + " λ values for " + std::to_string(n_layers_) +
                    " layers");
    ComposeParams p;
    p.merge = COMPOSE_MERGE_LINEAR;
    p.lambda = lambda;
    backend_.compose(p);
}

std::vector<float> Calibrator::run_layers(int begin, int end, const float* input) {
    const int n_run = end - begin;
    std::vector<float> out(size_t(n_run) * size_t(n_tokens_) * size_t(C_));
    std::vector<float> part;
    const size_t n = prompts_.size();
    for (size_t g0 = 0; g0 < n; g0 += size_t(options_.batch_size)) {
        const size_t g1 = std::min(n, g0 + size_t(options_.batch_size));
        BackendBatch batch;
        int64_t T = 0;
        for (size_t i = g0; i < g1; ++i) {
            batch.slots.push_back(backend_.seq_alloc());
            batch.tokens.push_back(prompts_[i]);
            T += int64_t(prompts_[i].size());
        }
        BackendHiddenRequest req;
        req.layer_begin = begin;
        req.layer_end = end;
        req.input = input ? input + offsets_[g0] * C_ : nullptr;
        part.resize(size_t(n_run) * size_t(T) * size_t(C_));
        try {
            backend_.forward_hidden(batch, req, part.data());
        } catch (...) {
            for (int s : batch.slots) backend_.seq_free(s);
            throw;
        }
        for (int s : batch.slots) backend_.seq_free(s);
        for (int l = 0; l < n_run; ++l)
            std::copy_n(part.data() + int64_t(l) * T * C_, T * C_,
                        out.data() + (int64_t(l) * n_tokens_ + offsets_[g0]) * C_);
    }
    n_layer_runs_ += n_run;
    return out;
}

std::vector<float> Calibrator::pool(const float* act) const {
    std::vector<float> z(prompts_.size() * size_t(C_), 0.0f);
    for (size_t i = 0; i < prompts_.size(); ++i) {
        const int64_t len = int64_t(prompts_[i].size());
        float* dst = &z[i * size_t(C_)];
        if (options_.feature == CALIBRATE_FEATURE_LAST) {
            std::copy_n(act + (offsets_[i] + len - 1) * C_, C_, dst);
        } else {
            std::vector<double> acc(size_t(C_), 0.0);
            for (int64_t t = 0; t < len; ++t)
                for (int c = 0; c < C_; ++c) acc[size_t(c)] += act[(offsets_[i] + t) * C_ + c];
            for (int c = 0; c < C_; ++c) dst[c] = float(acc[size_t(c)] / double(len));
        }
    }
    return z;
}

const std::vector<float>& Calibrator::parent_features(bool long_parent, int layer) const {
    const auto& z = long_parent ? z_long_ : z_short_;
    if (z.empty()) throw Error("calibrate: the parents' features are not cached", "call cache_parents first");
    return z.at(size_t(layer));
}

double Calibrator::layer_loss(int layer, const std::vector<float>& z_m) const {
    const std::vector<float>& zl = parent_features(true, layer);
    const std::vector<float>& zs = parent_features(false, layer);
    // Rows of the preferred and the other parent, per prompt.
    std::vector<float> pos(zl.size()), neg(zl.size());
    for (size_t i = 0; i < prompts_.size(); ++i) {
        const size_t o = i * size_t(C_);
        const std::vector<float>& p = pos_long_[i] ? zl : zs;
        const std::vector<float>& q = pos_long_[i] ? zs : zl;
        std::copy_n(p.data() + o, C_, pos.data() + o);
        std::copy_n(q.data() + o, C_, neg.data() + o);
    }
    return calibrate_layer_loss(z_m.data(), pos.data(), neg.data(), int(prompts_.size()), C_, options_.loss);
}

void Calibrator::cache_parents() {
    for (int which = 0; which < 2; ++which) {
        compose(std::vector<float>(size_t(n_layers_), which == 0 ? 1.0f : 0.0f));
        std::vector<float> h = run_layers(0, n_layers_, nullptr);
        auto& z = which == 0 ? z_long_ : z_short_;
        z.clear();
        for (int l = 0; l < n_layers_; ++l) z.push_back(pool(h.data() + int64_t(l) * n_tokens_ * C_));
    }
}

double Calibrator::total_loss(const std::vector<float>& lambda, std::vector<double>* per_layer) {
    compose(lambda);
    std::vector<float> h = run_layers(0, n_layers_, nullptr);
    double total = 0;
    if (per_layer) per_layer->clear();
    for (int l = 0; l < n_layers_; ++l) {
        double v = layer_loss(l, pool(h.data() + int64_t(l) * n_tokens_ * C_));
        total += v;
        if (per_layer) per_layer->push_back(v);
    }
    return total;
}

namespace {

std::string fmt_lambda(const std::vector<float>& v) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
    os << ']';
    return os.str();
}

double sum(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return s;
}

}  // namespace

CalibrateResult Calibrator::search(const std::function<void(const std::string&)>& log) {
    auto say = [&](const std::string& s) {
        if (log) log(s);
    };
    const std::vector<float> grid = calibrate_grid(options_.grid_step);
    const int L = n_layers_;
    const int64_t layer_elems = n_tokens_ * C_;
    cache_parents();
    CalibrateResult r;
    for (int l = 0; l < L; ++l) {
        r.loss_long += layer_loss(l, z_long_[size_t(l)]);
        r.loss_short += layer_loss(l, z_short_[size_t(l)]);
    }
    say("parents: loss at λ≡1 (long) " + std::to_string(r.loss_long) + ", at λ≡0 (short) " +
        std::to_string(r.loss_short));

    // act[l] is the merged residual stream entering layer l (act[0] unused: layer 0 starts from the
    // embeddings, which take λ_0); loss[l] is l_l at the current λ.
    std::vector<float> lambda(size_t(L), 1.0f);
    std::vector<std::vector<float>> act(size_t(L) + 1);
    std::vector<double> loss(size_t(L), 0.0);

    // Greedy pass: λ_l minimises l_l given λ_0..λ_{l-1} (λ_l affects only layers >= l).
    for (int l = 0; l < L; ++l) {
        double best = std::numeric_limits<double>::infinity();
        float best_g = lambda[size_t(l)];
        std::vector<float> best_out;
        for (float g : grid) {
            lambda[size_t(l)] = g;
            compose(lambda);
            std::vector<float> out = run_layers(l, l + 1, l == 0 ? nullptr : act[size_t(l)].data());
            const double v = layer_loss(l, pool(out.data()));
            if (v < best) {
                best = v;
                best_g = g;
                best_out = std::move(out);
            }
        }
        lambda[size_t(l)] = best_g;
        act[size_t(l) + 1] = std::move(best_out);
        loss[size_t(l)] = best;
    }
    r.lambda_greedy = lambda;
    r.loss_greedy = sum(loss);
    say("greedy: λ " + fmt_lambda(lambda) + ", loss " + std::to_string(r.loss_greedy));

    // Refinement: cyclic coordinate descent on the total loss; a change of λ_l re-runs layers l..L-1
    // from the cached act[l]. A move must lower the total by more than rounding.
    for (int sweep = 0; sweep < options_.refine_sweeps; ++sweep) {
        bool moved = false;
        for (int l = 0; l < L; ++l) {
            double prefix = 0;
            for (int j = 0; j < l; ++j) prefix += loss[size_t(j)];
            double best = sum(loss);
            const double margin = 1e-9 * std::max(1.0, std::fabs(best));
            float best_g = lambda[size_t(l)];
            std::vector<float> best_out;
            std::vector<double> best_losses;
            // λ_l's grid neighbours within the radius (all of the grid with radius 0)
            const auto at = std::min_element(grid.begin(), grid.end(), [&](float a, float b) {
                return std::fabs(a - lambda[size_t(l)]) < std::fabs(b - lambda[size_t(l)]);
            });
            const int64_t i0 = at - grid.begin(), n_grid = int64_t(grid.size());
            const int64_t radius = options_.refine_radius > 0 ? options_.refine_radius : n_grid;
            for (int64_t gi = std::max<int64_t>(0, i0 - radius); gi <= std::min(n_grid - 1, i0 + radius); ++gi) {
                const float g = grid[size_t(gi)];
                if (g == lambda[size_t(l)]) continue;
                std::vector<float> trial = lambda;
                trial[size_t(l)] = g;
                compose(trial);
                std::vector<float> out = run_layers(l, L, l == 0 ? nullptr : act[size_t(l)].data());
                std::vector<double> ls;
                double total = prefix;
                for (int j = l; j < L; ++j) {
                    ls.push_back(layer_loss(j, pool(out.data() + int64_t(j - l) * layer_elems)));
                    total += ls.back();
                }
                if (total < best - margin) {
                    best = total;
                    best_g = g;
                    best_out = std::move(out);
                    best_losses = std::move(ls);
                }
            }
            if (best_out.empty()) continue;
            moved = true;
            lambda[size_t(l)] = best_g;
            for (int j = l; j < L; ++j) {
                act[size_t(j) + 1].assign(best_out.begin() + int64_t(j - l) * layer_elems,
                                          best_out.begin() + int64_t(j - l + 1) * layer_elems);
                loss[size_t(j)] = best_losses[size_t(j - l)];
            }
        }
        r.refine_sweeps_run = sweep + 1;
        say("refine sweep " + std::to_string(sweep + 1) + ": λ " + fmt_lambda(lambda) + ", loss " +
            std::to_string(sum(loss)));
        if (!moved) break;
    }

    // The cache check: a fresh forward of the final merge against the propagated activations.
    compose(lambda);
    std::vector<float> fresh = run_layers(0, L, nullptr);
    r.layer_loss.clear();
    for (int l = 0; l < L; ++l) {
        const float* f = fresh.data() + int64_t(l) * layer_elems;
        const std::vector<float>& a = act[size_t(l) + 1];
        for (int64_t i = 0; i < layer_elems; ++i)
            r.cache_max_abs_diff = std::max(r.cache_max_abs_diff, double(std::fabs(f[i] - a[size_t(i)])));
        r.layer_loss.push_back(layer_loss(l, pool(f)));
    }
    r.lambda = lambda;
    r.loss = sum(r.layer_loss);
    r.n_layer_runs = n_layer_runs_;
    return r;
}

}  // namespace adabench
