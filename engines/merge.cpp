// Linear and task-arithmetic merges over every tensor of ModelWeights, lambda by depth position.
#include "engines/merge.h"

#include <cmath>
#include <functional>

#include "common/error.h"
#include "engines/loader.h"

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

void check_lambdas(const std::vector<float>& l, const char* what) {
    if (l.empty()) throw Error(std::string("merge: ") + what + " is empty");
    for (float v : l) {
        if (!std::isfinite(v)) throw Error(std::string("merge: ") + what + " has a non-finite value");
    }
}

// out tensor = combine(inputs fp32, t) for every slot, into a copy of `like` with owned fp32 tensors.
std::shared_ptr<ModelWeights> merge_apply(
    const ModelWeights& like, const std::vector<const ModelWeights*>& inputs,
    const std::function<void(const std::vector<std::vector<float>>&, std::vector<float>&, double)>& combine) {
    auto out = std::make_shared<ModelWeights>(like);
    out->mappings.clear();  // every tensor becomes owned; no file needs to stay mapped
    out->source = "merge";
    std::vector<std::vector<const Tensor*>> in_lists;
    for (const auto* m : inputs) in_lists.push_back(tensor_list(*m));
    std::vector<Tensor*> slots = tensor_slots(*out);
    std::vector<double> ts;
    for_each_tensor(like, [&](const Tensor&, double t) { ts.push_back(t); });
    for (size_t i = 0; i < slots.size(); ++i) {
        if (in_lists[0][i]->empty()) continue;  // absent bias
        std::vector<std::vector<float>> srcs;
        for (const auto& lst : in_lists) srcs.push_back(tensor_to_f32(*lst[i]));
        Tensor t = tensor_new_f32(in_lists[0][i]->shape, in_lists[0][i]->name);
        combine(srcs, *t.owned, ts[i]);
        *slots[i] = t;
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
    return merge_apply(a, {&a, &b}, [&](const std::vector<std::vector<float>>& s, std::vector<float>& dst, double t) {
        const float l = merge_lambda_at(lambda, t);
        const float m = 1.0f - l;
        const float* pa = s[0].data();
        const float* pb = s[1].data();
        for (size_t i = 0; i < dst.size(); ++i) dst[i] = l * pa[i] + m * pb[i];
    });
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
    return merge_apply(base, inputs, [&](const std::vector<std::vector<float>>& s, std::vector<float>& dst, double t) {
        const float* pb = s[0].data();
        for (size_t i = 0; i < dst.size(); ++i) dst[i] = pb[i];
        for (size_t k = 0; k < lambdas.size(); ++k) {
            const float l = merge_lambda_at(lambdas[k], t);
            const float* pk = s[k + 1].data();
            for (size_t i = 0; i < dst.size(); ++i) dst[i] += l * (pk[i] - pb[i]);
        }
    });
}

}  // namespace adabench
