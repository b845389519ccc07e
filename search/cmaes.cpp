// CMA-ES (see cmaes.h), following purecma.py's CMAESParameters, CMAES.ask/tell/stop and
// DecomposingPositiveMatrix line by line; the eigensolver is a Jacobi sweep instead of purecma's
// Householder/QL port, which changes nothing but rounding.
#include "search/cmaes.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/error.h"

namespace adabench {

void cmaes_eigen_symmetric(size_t n, std::vector<double> A, std::vector<double>& w, std::vector<double>& B) {
    B.assign(n * n, 0.0);
    for (size_t i = 0; i < n; ++i) B[i * n + i] = 1.0;
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0.0;
        for (size_t p = 0; p < n; ++p)
            for (size_t q = p + 1; q < n; ++q) off += A[p * n + q] * A[p * n + q];
        if (off < 1e-300) break;
        for (size_t p = 0; p < n; ++p) {
            for (size_t q = p + 1; q < n; ++q) {
                const double apq = A[p * n + q];
                if (std::fabs(apq) < 1e-300) continue;
                const double theta = (A[q * n + q] - A[p * n + p]) / (2.0 * apq);
                const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1.0));
                const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
                for (size_t k = 0; k < n; ++k) {  // A ← A·J
                    const double akp = A[k * n + p], akq = A[k * n + q];
                    A[k * n + p] = c * akp - s * akq;
                    A[k * n + q] = s * akp + c * akq;
                }
                for (size_t k = 0; k < n; ++k) {  // A ← Jᵀ·A
                    const double apk = A[p * n + k], aqk = A[q * n + k];
                    A[p * n + k] = c * apk - s * aqk;
                    A[q * n + k] = s * apk + c * aqk;
                }
                for (size_t k = 0; k < n; ++k) {  // B ← B·J
                    const double bkp = B[k * n + p], bkq = B[k * n + q];
                    B[k * n + p] = c * bkp - s * bkq;
                    B[k * n + q] = s * bkp + c * bkq;
                }
            }
        }
    }
    w.resize(n);
    for (size_t i = 0; i < n; ++i) w[i] = A[i * n + i];
}

Cmaes::Cmaes(std::vector<double> xstart, double sigma, CmaesOptions options)
    : n_(xstart.size()), xmean_(std::move(xstart)), sigma_(sigma), rng_(options.seed) {
    if (n_ == 0) throw Error("cmaes: the start point is empty");
    if (!(sigma > 0)) throw Error("cmaes: sigma must be positive");
    const double N = static_cast<double>(n_);
    lam_ = options.popsize > 0 ? options.popsize : 4 + static_cast<size_t>(std::floor(3.0 * std::log(N)));
    if (lam_ < 2) throw Error("cmaes: popsize must be at least 2");
    mu_ = lam_ / 2;
    const double lam = static_cast<double>(lam_);
    weights_.assign(lam_, 0.0);
    for (size_t i = 0; i < mu_; ++i) weights_[i] = std::log(lam / 2.0 + 0.5) - std::log(static_cast<double>(i + 1));
    const double wsum = std::accumulate(weights_.begin(), weights_.begin() + mu_, 0.0);
    double w2 = 0.0;
    for (auto& w : weights_) {
        w /= wsum;
        w2 += w * w;
    }
    mueff_ = 1.0 / w2;
    cc_ = (4.0 + mueff_ / N) / (N + 4.0 + 2.0 * mueff_ / N);
    cs_ = (mueff_ + 2.0) / (N + mueff_ + 5.0);
    c1_ = 2.0 / ((N + 1.3) * (N + 1.3) + mueff_);
    cmu_ = std::min(1.0 - c1_, 2.0 * (mueff_ - 2.0 + 1.0 / mueff_) / ((N + 2.0) * (N + 2.0) + mueff_));
    damps_ = 2.0 * mueff_ / lam + 0.3 + cs_;
    lazy_gap_evals_ = 0.5 * N * lam / (c1_ + cmu_) / (N * N);
    maxfevals_ =
        options.maxfevals > 0 ? options.maxfevals : 100.0 * lam + 150.0 * (N + 3.0) * (N + 3.0) * std::sqrt(lam);
    ftarget_ = options.ftarget;
    pc_.assign(n_, 0.0);
    ps_.assign(n_, 0.0);
    C_.assign(n_ * n_, 0.0);
    for (size_t i = 0; i < n_; ++i) C_[i * n_ + i] = 1.0;
    B_ = C_;
    invsqrt_ = C_;
    eigenvalues_.assign(n_, 1.0);
}

void Cmaes::update_eigensystem() {
    if (static_cast<double>(counteval_) <= static_cast<double>(updated_eval_) + lazy_gap_evals_) return;
    for (size_t i = 0; i < n_; ++i)  // enforce symmetry
        for (size_t j = i + 1; j < n_; ++j) C_[i * n_ + j] = C_[j * n_ + i] = 0.5 * (C_[i * n_ + j] + C_[j * n_ + i]);
    cmaes_eigen_symmetric(n_, C_, eigenvalues_, B_);
    const double emax = *std::max_element(eigenvalues_.begin(), eigenvalues_.end());
    const double emin = *std::min_element(eigenvalues_.begin(), eigenvalues_.end());
    if (!(emin > 0)) throw Error("cmaes: the covariance matrix lost positive definiteness");
    condition_ = emax / emin;
    for (size_t i = 0; i < n_; ++i)
        for (size_t j = 0; j < n_; ++j) {
            double s = 0.0;
            for (size_t k = 0; k < n_; ++k) s += B_[i * n_ + k] * B_[j * n_ + k] / std::sqrt(eigenvalues_[k]);
            invsqrt_[i * n_ + j] = s;
        }
    updated_eval_ = counteval_;
}

std::vector<std::vector<double>> Cmaes::ask() {
    update_eigensystem();
    std::vector<std::vector<double>> out;
    std::vector<double> z(n_);
    for (size_t k = 0; k < lam_; ++k) {
        for (size_t i = 0; i < n_; ++i) z[i] = sigma_ * std::sqrt(eigenvalues_[i]) * rng_.normal();
        std::vector<double> x = xmean_;
        for (size_t i = 0; i < n_; ++i)
            for (size_t j = 0; j < n_; ++j) x[i] += B_[i * n_ + j] * z[j];
        out.push_back(std::move(x));
    }
    return out;
}

void Cmaes::tell(const std::vector<std::vector<double>>& X, const std::vector<double>& f) {
    if (X.size() != f.size() || X.empty()) throw Error("cmaes: tell() needs one value per point");
    counteval_ += f.size();
    const double N = static_cast<double>(n_);
    std::vector<size_t> order(f.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return f[a] < f[b]; });
    fitvals_.clear();
    for (size_t k : order) fitvals_.push_back(f[k]);
    if (fitvals_[0] < best_f_) {
        best_f_ = fitvals_[0];
        best_x_ = X[order[0]];
        best_eval_ = counteval_;
    }
    const std::vector<double> xold = xmean_;
    for (size_t i = 0; i < n_; ++i) {
        double s = 0.0;
        for (size_t k = 0; k < mu_ && k < order.size(); ++k) s += weights_[k] * X[order[k]][i];
        xmean_[i] = s;
    }
    std::vector<double> y(n_), z(n_, 0.0);
    for (size_t i = 0; i < n_; ++i) y[i] = xmean_[i] - xold[i];
    for (size_t i = 0; i < n_; ++i)
        for (size_t j = 0; j < n_; ++j) z[i] += invsqrt_[i * n_ + j] * y[j];
    const double csn = std::sqrt(cs_ * (2.0 - cs_) * mueff_) / sigma_;
    for (size_t i = 0; i < n_; ++i) ps_[i] = (1.0 - cs_) * ps_[i] + csn * z[i];
    const double ccn = std::sqrt(cc_ * (2.0 - cc_) * mueff_) / sigma_;
    double sum_ps2 = 0.0;
    for (double v : ps_) sum_ps2 += v * v;
    const double denom = 1.0 - std::pow(1.0 - cs_, 2.0 * static_cast<double>(counteval_) / static_cast<double>(lam_));
    const double hsig = (sum_ps2 / N / denom < 2.0 + 4.0 / (N + 1.0)) ? 1.0 : 0.0;
    for (size_t i = 0; i < n_; ++i) pc_[i] = (1.0 - cc_) * pc_[i] + ccn * hsig * y[i];
    const double c1a = c1_ * (1.0 - (1.0 - hsig * hsig) * cc_ * (2.0 - cc_));
    const double wsum = std::accumulate(weights_.begin(), weights_.end(), 0.0);
    const double shrink = 1.0 - c1a - cmu_ * wsum;
    for (auto& c : C_) c *= shrink;
    for (size_t i = 0; i < n_; ++i)
        for (size_t j = 0; j < n_; ++j) C_[i * n_ + j] += c1_ * pc_[i] * pc_[j];
    for (size_t k = 0; k < mu_ && k < order.size(); ++k) {
        const double a = weights_[k] * cmu_ / (sigma_ * sigma_);
        const auto& xk = X[order[k]];
        for (size_t i = 0; i < n_; ++i)
            for (size_t j = 0; j < n_; ++j) C_[i * n_ + j] += a * (xk[i] - xold[i]) * (xk[j] - xold[j]);
    }
    sum_ps2 = 0.0;
    for (double v : ps_) sum_ps2 += v * v;
    sigma_ *= std::exp(std::min(1.0, (cs_ / damps_) * (sum_ps2 / N - 1.0) / 2.0));
}

std::string Cmaes::stop() const {
    if (counteval_ == 0) return "";
    if (static_cast<double>(counteval_) >= maxfevals_) return "maxfevals";
    if (!fitvals_.empty() && fitvals_[0] <= ftarget_) return "ftarget";
    if (condition_ > 1e14) return "condition";
    if (fitvals_.size() > 1 && fitvals_.back() - fitvals_.front() < 1e-12) return "tolfun";
    const double emax = *std::max_element(eigenvalues_.begin(), eigenvalues_.end());
    if (sigma_ * std::sqrt(emax) < 1e-11) return "tolx";
    return "";
}

}  // namespace adabench
