// Linear and task-arithmetic merges over every tensor of ModelWeights, lambda by depth position.
#include "engines/model/merge.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <sstream>
#include <thread>

#include "common/error.h"
#include "engines/cpu/thread_pool.h"
#include "engines/model/loader.h"

namespace adabench {

float merge_lambda_at(const std::vector<float>& lambdas, double t) {
    if (lambdas.empty()) throw Error("merge: empty lambda list");
    if (lambdas.size() == 1) return lambdas[0];
    double scaled = t * (double)(lambdas.size() - 1);
    size_t i0 = (size_t)scaled;
    if (i0 > lambdas.size() - 1) i0 = lambdas.size() - 1;
    size_t i1 = std::min(lambdas.size() - 1, i0 + 1);
    double frac = scaled - (double)i0;
    return (float)((1.0 - frac) * lambdas[i0] + frac * lambdas[i1]);
}

double merge_layer_t(int layer, int n_layers) { return n_layers > 1 ? (double)layer / (double)(n_layers - 1) : 1.0; }

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

// Visits every tensor slot of a model with its depth position t. `fn(index, tensor, t)`.
void for_each_tensor(const ModelWeights& w, const std::function<void(const Tensor&, double)>& fn) {
    fn(w.embed_tokens, 0.0);
    const int n = (int)w.layers.size();
    for (int l = 0; l < n; ++l) {
        const LayerWeights& L = w.layers[(size_t)l];
        double t = merge_layer_t(l, n);
        for (const Tensor* x : {&L.attn_norm, &L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.q_bias, &L.k_bias,
                                &L.v_bias, &L.ffn_norm, &L.gate_proj, &L.up_proj, &L.down_proj}) {
            fn(*x, t);
        }
    }
    fn(w.final_norm, 1.0);
    if (!w.config.tie_word_embeddings) fn(w.lm_head, 1.0);
}

std::vector<Tensor*> tensor_slots(ModelWeights& w) {
    std::vector<Tensor*> out{&w.embed_tokens};
    for (auto& L : w.layers) {
        for (Tensor* x : {&L.attn_norm, &L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.q_bias, &L.k_bias, &L.v_bias,
                          &L.ffn_norm, &L.gate_proj, &L.up_proj, &L.down_proj}) {
            out.push_back(x);
        }
    }
    out.push_back(&w.final_norm);
    if (!w.config.tie_word_embeddings) out.push_back(&w.lm_head);
    return out;
}

std::vector<const Tensor*> tensor_list(const ModelWeights& w) {
    std::vector<const Tensor*> out;
    for_each_tensor(w, [&](const Tensor& t, double) { out.push_back(&t); });
    return out;
}

std::string lambda_str(const std::vector<float>& l) {
    std::ostringstream os;
    os << '[';
    for (size_t i = 0; i < l.size(); ++i) os << (i ? "," : "") << l[i];
    os << ']';
    return os.str();
}

void check_lambdas(const std::vector<float>& l, const char* what) {
    if (l.empty()) throw Error(std::string("merge: ") + what + " is empty");
    for (float v : l) {
        if (!std::isfinite(v)) throw Error(std::string("merge: ") + what + " has a non-finite value");
    }
}

// Hot loops compiled for AVX-512 and AVX2+FMA with a generic fallback; the loader picks one at run
// time (GCC function multi-versioning), so the binary still runs on any x86-64.
#define ADABENCH_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// Fixed-size blocks with a scalar tail: GCC's -O2 cost model vectorises only known trip counts.
ADABENCH_CLONES void combine_linear(const float* __restrict a, const float* __restrict b, float la, float lb,
                                    float* __restrict dst, int64_t n) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int j = 0; j < 64; ++j) dst[i + j] = la * a[i + j] + lb * b[i + j];
    }
    for (; i < n; ++i) dst[i] = la * a[i] + lb * b[i];
}

ADABENCH_CLONES void add_task_vector(float* __restrict dst, const float* __restrict x, const float* __restrict base,
                                     float l, int64_t n) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        for (int j = 0; j < 64; ++j) dst[i + j] += l * (x[i + j] - base[i + j]);
    }
    for (; i < n; ++i) dst[i] += l * (x[i] - base[i]);
}

using CombineFn = std::function<void(const std::vector<const float*>&, float*, int64_t, double)>;

constexpr int64_t k_chunk = int64_t(1) << 15;  // elements per job: a few hundred KB of inputs

// Every tensor slot of `like` becomes an owned fp32 tensor computed chunk by chunk from the inputs
// (converted to fp32 a chunk at a time, so no whole-model fp32 copy of the inputs is made), on all
// cores. The result depends only on element values, never on how chunks were scheduled.
// `describe` ("linear merge of A and B, lambda=[0.5]") becomes the result's source and names the
// merge when a value overflows (finite inputs and lambdas can still give inf: |lambda| ~ 1e38).
std::shared_ptr<ModelWeights> merge_apply(const ModelWeights& like, const std::vector<const ModelWeights*>& inputs,
                                          const CombineFn& combine, const std::string& describe) {
    auto out = std::make_shared<ModelWeights>(like);
    out->mappings.clear();  // every tensor becomes owned; no file needs to stay mapped
    out->source = describe;
    std::vector<std::vector<const Tensor*>> in_lists;
    for (const auto* m : inputs) in_lists.push_back(tensor_list(*m));
    std::vector<Tensor*> slots = tensor_slots(*out);
    std::vector<double> ts;
    for_each_tensor(like, [&](const Tensor&, double t) { ts.push_back(t); });

    struct Job {
        size_t slot;
        int64_t begin, end;
    };
    std::vector<Job> jobs;
    for (size_t i = 0; i < slots.size(); ++i) {
        if (in_lists[0][i]->empty()) continue;  // absent bias
        *slots[i] = tensor_new_f32(in_lists[0][i]->shape, in_lists[0][i]->name);
        for (int64_t b = 0; b < slots[i]->numel(); b += k_chunk)
            jobs.push_back({i, b, std::min(slots[i]->numel(), b + k_chunk)});
    }
    const int n_threads = (int)std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
    CpuThreadPool pool(n_threads);
    std::vector<char> job_finite(jobs.size(), 1);
    pool.run((int)jobs.size(), [&](int j) {
        std::vector<std::vector<float>> bufs(inputs.size());  // per job: a few small allocations
        const Job& job = jobs[(size_t)j];
        const int64_t n = job.end - job.begin;
        std::vector<const float*> srcs(inputs.size());
        for (size_t k = 0; k < inputs.size(); ++k) {
            const Tensor& t = *in_lists[k][job.slot];
            const auto* base = static_cast<const unsigned char*>(t.data) + (size_t)job.begin * dtype_size(t.dtype);
            if (t.dtype == DTYPE_F32 && reinterpret_cast<uintptr_t>(base) % alignof(float) == 0) {
                srcs[k] = reinterpret_cast<const float*>(base);
            } else {
                bufs[k].resize((size_t)k_chunk);
                tensor_convert_f32(t.dtype, base, bufs[k].data(), n);
                srcs[k] = bufs[k].data();
            }
        }
        float* dst = tensor_f32_mut(*slots[job.slot]) + job.begin;
        combine(srcs, dst, n, ts[job.slot]);
        job_finite[(size_t)j] = tensor_data_finite(DTYPE_F32, dst, n);  // in cache: about free
    });
    for (size_t j = 0; j < jobs.size(); ++j) {
        if (job_finite[j]) continue;
        const Tensor& t = *slots[jobs[j].slot];
        throw Error("merge: tensor '" + t.name + "' holds " +
                        tensor_data_describe_nonfinite(DTYPE_F32, t.data, t.numel()) + " after the " + describe,
                    "the inputs are finite; a lambda this large overflows fp32");
    }
    if (out->config.tie_word_embeddings) out->lm_head = out->embed_tokens;
    return out;
}

}  // namespace

void merge_check_compatible(const ModelWeights& a, const ModelWeights& b) {
    const ModelConfig& x = a.config;
    const ModelConfig& y = b.config;
    auto field = [&](const char* name, long long va, long long vb) {
        if (va != vb) {
            throw Error("merge: " + a.source + " and " + b.source + " differ in " + name + " (" + std::to_string(va) +
                            " vs " + std::to_string(vb) + ")",
                        "models must share an architecture to be merged");
        }
    };
    if (x.architecture != y.architecture) {
        throw Error("merge: " + a.source + " is " + x.architecture + " but " + b.source + " is " + y.architecture,
                    "models must share an architecture to be merged");
    }
    field("vocab_size", x.vocab_size, y.vocab_size);
    field("hidden_size", x.hidden_size, y.hidden_size);
    field("intermediate_size", x.intermediate_size, y.intermediate_size);
    field("num_hidden_layers", x.n_layers, y.n_layers);
    field("num_attention_heads", x.n_heads, y.n_heads);
    field("num_key_value_heads", x.n_kv_heads, y.n_kv_heads);
    field("head_dim", x.head_dim, y.head_dim);
    field("tie_word_embeddings", x.tie_word_embeddings, y.tie_word_embeddings);
    field("attention_bias", x.attention_bias, y.attention_bias);
    if (a.layers.size() != b.layers.size()) field("layers", (long long)a.layers.size(), (long long)b.layers.size());
    auto la = tensor_list(a);
    auto lb = tensor_list(b);
    for (size_t i = 0; i < la.size(); ++i) {
        if (la[i]->shape != lb[i]->shape || la[i]->empty() != lb[i]->empty()) {
            throw Error("merge: tensor '" + la[i]->name + "' has shape " + shape_str(la[i]->shape) + " in " + a.source +
                            " but " + shape_str(lb[i]->shape) + " in " + b.source,
                        "models must share an architecture to be merged");
        }
    }
}

std::shared_ptr<ModelWeights> merge_linear(const ModelWeights& a, const ModelWeights& b,
                                           const std::vector<float>& lambda) {
    check_lambdas(lambda, "lambda");
    merge_check_compatible(a, b);
    return merge_apply(
        a, {&a, &b},
        [&](const std::vector<const float*>& s, float* dst, int64_t n, double t) {
            const float l = merge_lambda_at(lambda, t);
            combine_linear(s[0], s[1], l, 1.0f - l, dst, n);
        },
        "linear merge of " + a.source + " and " + b.source + ", lambda=" + lambda_str(lambda));
}

std::shared_ptr<ModelWeights> merge_task_arithmetic(const ModelWeights& base,
                                                    const std::vector<const ModelWeights*>& models,
                                                    const std::vector<std::vector<float>>& lambdas) {
    if (models.empty()) throw Error("merge: task arithmetic needs at least one model besides the base");
    if (lambdas.size() != models.size()) {
        throw Error("merge: " + std::to_string(models.size()) + " models but " + std::to_string(lambdas.size()) +
                    " lambdas");
    }
    for (const auto& l : lambdas) check_lambdas(l, "lambda");
    std::vector<const ModelWeights*> inputs{&base};
    for (const auto* m : models) {
        merge_check_compatible(base, *m);
        inputs.push_back(m);
    }
    std::string describe = "task-arithmetic merge on " + base.source;
    for (size_t k = 0; k < models.size(); ++k)
        describe += (k ? ", " : " of ") + models[k]->source + " (lambda=" + lambda_str(lambdas[k]) + ")";
    return merge_apply(
        base, inputs,
        [&](const std::vector<const float*>& s, float* dst, int64_t n, double t) {
            std::memcpy(dst, s[0], (size_t)n * sizeof(float));
            for (size_t k = 0; k < lambdas.size(); ++k)
                add_task_vector(dst, s[k + 1], s[0], merge_lambda_at(lambdas[k], t), n);
        },
        describe);
}

}  // namespace adabench
