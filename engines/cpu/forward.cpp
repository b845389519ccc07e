// The Qwen2 / Llama decoder forward pass on the CPU, top to bottom, for one batch step.
//
// A step appends tokens to several KV-cache slots at once: prompts (prefill) and single tokens
// (decode) mix freely. All tokens of the step are stacked into one activation matrix, so every
// projection is one matrix product over the whole batch (that is what makes batched decode cheap:
// the weights are read once per step, not once per sequence). Attention is the only per-sequence
// part. Only the last position of each sequence goes through lm_head.
//
// Shapes: T = tokens in the step, C = hidden size, H = query heads, Hkv = key/value heads,
// D = head_dim, I = intermediate size, V = vocab, S = sequences in the step.
// Not here: sampling, budgets, text (engines/generator), slot bookkeeping (cpu_backend.cpp).
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "common/error.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/cpu/ops_ref.h"

namespace adabench {

namespace {

constexpr int kRowsPerChunk = 32;    // weight rows per thread-pool chunk (multiple of the 4/8 row tiles)
constexpr int kTokensPerChunk = 64;  // tokens per chunk, so huge prefills keep activations in cache

// One weight matrix of a multi-matmul: y (T, n_out) with row stride n_out.
struct MatmulJob {
    const CpuMatrix* w;
    float* y;
};

}  // namespace

// y (T, n_out) = x (T, n_in) W^T, split over the pool by blocks of rows and tokens.
static void run_matmuls(CpuThreadPool& pool, const CpuKernels& kern, CpuMatmulMode mode, const float* x,
                        const uint16_t* xb, int n_tok, const MatmulJob* jobs, int n_jobs) {
    // Chunks are (job, row block, token block); consecutive chunks share a row block so a thread
    // reuses the same weight rows from cache across token blocks.
    struct Chunk {
        int job;
        int64_t r0, r1;
        int t0, t1;
    };
    static thread_local std::vector<Chunk> chunks;
    chunks.clear();
    const int n_tb = (n_tok + kTokensPerChunk - 1) / kTokensPerChunk;
    // Panel matrices get guided row blocks: each block is about 1/(2 threads) of the work left in
    // this call (whole panels, at least kRowsPerChunk rows), so the first blocks are long
    // contiguous streams the prefetchers like, and the last ones are short enough that no thread
    // waits long for the other. Other matrices use fixed blocks of kRowsPerChunk rows.
    int64_t work_left = 0;  // weight elements still to assign
    for (int j = 0; j < n_jobs; ++j) work_left += jobs[j].w->n_out * jobs[j].w->n_in;
    for (int j = 0; j < n_jobs; ++j) {
        const CpuMatrix& w = *jobs[j].w;
        const bool guided = w.panels && kern.uses_panels;
        for (int64_t r0 = 0; r0 < w.n_out;) {
            int64_t rows = kRowsPerChunk;
            if (guided) {
                int64_t want = work_left / (2 * int64_t(pool.size())) / w.n_in;
                rows = std::max<int64_t>(kRowsPerChunk, want / kCpuPanelRows * kCpuPanelRows);
            }
            int64_t r1 = std::min(r0 + rows, w.n_out);
            for (int tb = 0; tb < n_tb; ++tb)
                chunks.push_back({j, r0, r1, tb * kTokensPerChunk, std::min((tb + 1) * kTokensPerChunk, n_tok)});
            work_left -= (r1 - r0) * w.n_in;
            r0 = r1;
        }
    }
    const std::vector<Chunk>& list = chunks;
    pool.run(int(list.size()), [&](int c) {
        const Chunk& ch = list[size_t(c)];
        const CpuMatrix& w = *jobs[ch.job].w;
        kern.matmul_rows(x + int64_t(ch.t0) * w.n_in, xb ? xb + int64_t(ch.t0) * w.n_in : nullptr, ch.t1 - ch.t0, w,
                         ch.r0, ch.r1, jobs[ch.job].y + int64_t(ch.t0) * w.n_out, w.n_out, mode);
    });
}

// Runs fn(t) for every token, in blocks so tiny steps (decode) stay on the calling thread.
template <class F>
static void for_each_token(CpuThreadPool& pool, int n_tok, int per_chunk, const F& fn) {
    int n_chunks = (n_tok + per_chunk - 1) / per_chunk;
    pool.run(n_chunks, [&](int c) {
        for (int t = c * per_chunk; t < std::min(n_tok, (c + 1) * per_chunk); ++t) fn(t);
    });
}

// Adds the unmerged LoRA terms sum_a s_{seq(t),a} B_a (A_a x_t) of one projection to y (T, n_out).
// fp32 throughout (A and B are fp32), whatever the precision policy of the base matmul.
void CpuBackend::matmul_lora(const float* x, int n_tok, const CpuMatrix& w, int layer, LoraTarget target, float* y) {
    for (size_t a = 0; a < adapters_.size(); ++a) {
        if (!lora_active_[a]) continue;
        const LoraPair& p = adapters_[a]->layers[size_t(layer)][size_t(target)];
        if (p.empty()) continue;
        // u (T, r) = x A^T, scaled per token by its sequence's coef * alpha / r
        lora_u_.assign(size_t(n_tok) * size_t(p.r), 0.0f);
        CpuMatrix A{DTYPE_F32, p.a.data(), p.r, p.n_in};
        MatmulJob ja{&A, lora_u_.data()};
        run_matmuls(*pool_, *kernels_, CPU_MATMUL_EXACT, x, nullptr, n_tok, &ja, 1);
        for (int t = 0; t < n_tok; ++t) {
            float s = p.scale(lora_coef_tok_[a][size_t(t)]);
            for (int i = 0; i < p.r; ++i) lora_u_[size_t(t) * size_t(p.r) + size_t(i)] *= s;
        }
        // z (T, n_out) = u B^T; y += z
        lora_z_.assign(size_t(n_tok) * size_t(w.n_out), 0.0f);
        CpuMatrix B{DTYPE_F32, p.b.data(), p.n_out, p.r};
        MatmulJob jb{&B, lora_z_.data()};
        run_matmuls(*pool_, *kernels_, CPU_MATMUL_EXACT, lora_u_.data(), nullptr, n_tok, &jb, 1);
        kernels_->add(y, lora_z_.data(), int64_t(n_tok) * w.n_out);
    }
}

// Weights are checked finite at load, so a non-finite logit comes from the composition (a merge
// lambda or a LoRA coefficient large enough to overflow fp32) or from a kernel bug. Sampling would
// only say "logit of token 0 is NaN"; here the message can name what the model was made of and the
// sequence's adapters and coefficients (#20 D12). One pass over S x V floats: noise next to lm_head.
// When sequences carry their own LoRA coefficients and some rows are fine, nothing is thrown: a
// throw fails every sequence of the step, so the bad rows are left to fail their own sequences
// when sampled.
static void check_logits_finite(const ModelWeights& w, const std::vector<std::shared_ptr<const LoraAdapter>>& adapters,
                                const BackendBatch& batch, const float* logits) {
    const int V = w.config.vocab_size;
    const size_t S = batch.slots.size();
    auto lora_of = [&](size_t s) {
        std::string lora;
        if (s >= batch.lora_coefs.size()) return lora;
        for (size_t a = 0; a < adapters.size() && a < batch.lora_coefs[s].size(); ++a) {
            if (batch.lora_coefs[s][a] == 0.0f) continue;
            std::ostringstream coef;
            coef << batch.lora_coefs[s][a];
            lora += (lora.empty() ? "; LoRA " : ", ") + adapters[a]->path + " x " + coef.str();
        }
        return lora;
    };
    size_t first_bad = S;
    int bad_token = -1, n_bad = 0;
    bool per_sequence_lora = false;
    for (size_t s = 0; s < S; ++s) {
        const float* row = logits + s * size_t(V);
        int bad = -1;
        for (int i = 0; i < V && bad < 0; ++i)
            if (!std::isfinite(row[i])) bad = i;
        if (!lora_of(s).empty()) per_sequence_lora = true;
        if (bad < 0) continue;
        ++n_bad;
        if (first_bad == S) first_bad = s, bad_token = bad;
    }
    if (n_bad == 0 || (per_sequence_lora && n_bad < int(S))) return;
    const float v = logits[first_bad * size_t(V) + size_t(bad_token)];
    throw Error("cpu backend: logit of token " + std::to_string(bad_token) + " is " +
                    (std::isnan(v) ? "NaN" : "infinite") + " for the sequence in slot " +
                    std::to_string(batch.slots[first_bad]) + " (model " + (w.source.empty() ? "in memory" : w.source) +
                    lora_of(first_bad) + ")",
                "the weights were finite at load; is a merge lambda or LoRA coefficient extreme?");
}

void CpuBackend::forward(const BackendBatch& batch, float* logits) {
    check_capacity(batch);  // everything that can fail is checked before the cache changes
    forward_batch(batch, logits);
    check_logits_finite(*weights_, adapters_, batch, logits);
}

void CpuBackend::forward_hidden(const BackendBatch& batch, const BackendHiddenRequest& request, float* hidden) {
    backend_hidden_layer_end(request, weights_->config.n_layers, "CpuBackend::forward_hidden");
    check_capacity(batch);
    forward_batch(batch, nullptr, &request, hidden);
}

void CpuBackend::forward_batch(const BackendBatch& batch, float* logits, const BackendHiddenRequest* request,
                               float* hidden) {
    const ModelConfig& cfg = weights_->config;
    const CpuKernels& K = *kernels_;
    CpuThreadPool& pool = *pool_;
    const int C = cfg.hidden_size, H = cfg.n_heads, Hkv = cfg.n_kv_heads, D = cfg.head_dim;
    const int I = cfg.intermediate_size, V = cfg.vocab_size;
    const int q_dim = H * D, kv_dim = Hkv * D, group = H / Hkv;
    const int S = int(batch.slots.size());
    const float eps = cfg.rms_norm_eps, attn_scale = 1.0f / std::sqrt(float(D));

    // ---- token bookkeeping: which sequence and absolute position each stacked token has ----
    std::vector<int> tok_seq, tok_pos, tok_id;
    std::vector<int> last_tok(static_cast<size_t>(S));
    for (int s = 0; s < S; ++s) {
        int start = slots_[size_t(batch.slots[size_t(s)])].len;
        for (size_t i = 0; i < batch.tokens[size_t(s)].size(); ++i) {
            tok_seq.push_back(s);
            tok_pos.push_back(start + int(i));
            tok_id.push_back(batch.tokens[size_t(s)][i]);
        }
        last_tok[size_t(s)] = int(tok_seq.size()) - 1;
    }
    const int T = int(tok_seq.size());

    // Unmerged LoRA coefficients per token; an adapter nobody uses this step is skipped entirely.
    lora_coef_tok_.assign(adapters_.size(), std::vector<float>(size_t(T), 0.0f));
    lora_active_.assign(adapters_.size(), false);
    if (!batch.lora_coefs.empty()) {
        for (int t = 0; t < T; ++t) {
            const auto& coefs = batch.lora_coefs[size_t(tok_seq[size_t(t)])];
            for (size_t a = 0; a < coefs.size(); ++a) {
                lora_coef_tok_[a][size_t(t)] = coefs[a];
                if (coefs[a] != 0.0f) lora_active_[a] = true;
            }
        }
    }
    bool any_lora = std::find(lora_active_.begin(), lora_active_.end(), true) != lora_active_.end();

    // RoPE angles per token (HF convention, see ops_ref.h), shared by all layers and heads.
    std::vector<float> rope_cos(size_t(T) * size_t(D / 2)), rope_sin(size_t(T) * size_t(D / 2));
    for (int t = 0; t < T; ++t)
        ref_rope_table(tok_pos[size_t(t)], D, cfg.rope_theta, &rope_cos[size_t(t) * size_t(D / 2)],
                       &rope_sin[size_t(t) * size_t(D / 2)]);

    // Grow each slot's cache to hold the new positions (capacity was checked in forward()).
    for (int s = 0; s < S; ++s) {
        CpuKvSlot& slot = slots_[size_t(batch.slots[size_t(s)])];
        size_t new_len = size_t(slot.len) + batch.tokens[size_t(s)].size();
        for (int l = 0; l < cfg.n_layers; ++l) {
            slot.k[size_t(l)].resize(new_len * size_t(kv_dim));
            slot.v[size_t(l)].resize(new_len * size_t(kv_dim));
        }
    }

    // ---- activations ----
    std::vector<float> x(size_t(T) * C);        // x is (T, C): the residual stream
    std::vector<float> xn(size_t(T) * C);       // xn is (T, C): normalised x
    std::vector<float> q(size_t(T) * q_dim);    // q is (T, H, D)
    std::vector<float> k(size_t(T) * kv_dim);   // k is (T, Hkv, D)
    std::vector<float> v(size_t(T) * kv_dim);   // v is (T, Hkv, D)
    std::vector<float> att(size_t(T) * q_dim);  // att is (T, H, D): attention output per head
    std::vector<float> proj(size_t(T) * C);     // proj is (T, C): o_proj / down_proj output
    std::vector<float> gate(size_t(T) * I);     // gate, up, act are (T, I)
    std::vector<float> up(size_t(T) * I);
    std::vector<float> act(size_t(T) * I);

    // Embedding lookup: x[t] = E[token_t] (forward_hidden from a later layer: x is its input)
    const int layer_begin = request ? request->layer_begin : 0;
    const int layer_end = request ? backend_hidden_layer_end(*request, cfg.n_layers, "forward_hidden") : cfg.n_layers;
    if (request && request->input) {
        std::copy_n(request->input, size_t(T) * C, x.data());
    } else {
        for_each_token(pool, T, 64, [&](int t) {
            const size_t esz = embed_.dtype == DTYPE_F32 ? 4 : 2;
            cpu_convert_f32(embed_.dtype, static_cast<const char*>(embed_.data) + size_t(tok_id[size_t(t)]) * C * esz,
                            C, &x[size_t(t) * C]);
        });
    }

    // Activations rounded to bf16 once per distinct input when the fast path is on.
    auto bf16_input = [&](const std::vector<float>& in, int64_t n_in, const CpuMatrix& w) -> const uint16_t* {
        if (matmul_mode_ != CPU_MATMUL_BF16_DOT || w.dtype != DTYPE_BF16) return nullptr;
        x_bf16_.resize(size_t(T) * size_t(n_in));
        cpu_convert_bf16(in.data(), int64_t(T) * n_in, x_bf16_.data());
        return x_bf16_.data();
    };

    for (int l = layer_begin; l < layer_end; ++l) {
        const Layer& L = layers_[size_t(l)];

        // ---- attention block ----
        // xn = RMSNorm(x) * attn_norm                               xn is (T, C)
        for_each_token(pool, T, 16,
                       [&](int t) { K.rms_norm(&x[size_t(t) * C], L.attn_norm.data(), C, eps, &xn[size_t(t) * C]); });

        // q = xn Wq^T + bq, k = xn Wk^T + bk, v = xn Wv^T + bv       q is (T, H*D); k, v are (T, Hkv*D)
        {
            const uint16_t* xb = bf16_input(xn, C, L.q);
            MatmulJob jobs[3] = {{&L.q, q.data()}, {&L.k, k.data()}, {&L.v, v.data()}};
            run_matmuls(pool, K, matmul_mode_, xn.data(), xb, T, jobs, 3);
        }
        if (any_lora) {
            matmul_lora(xn.data(), T, L.q, l, LORA_TARGET_Q, q.data());
            matmul_lora(xn.data(), T, L.k, l, LORA_TARGET_K, k.data());
            matmul_lora(xn.data(), T, L.v, l, LORA_TARGET_V, v.data());
        }
        if (!L.q_bias.empty()) {
            for (int t = 0; t < T; ++t) {
                K.add(&q[size_t(t) * q_dim], L.q_bias.data(), q_dim);
                K.add(&k[size_t(t) * kv_dim], L.k_bias.data(), kv_dim);
                K.add(&v[size_t(t) * kv_dim], L.v_bias.data(), kv_dim);
            }
        }

        // RoPE on q and k at each token's absolute position (rotate_half pairs i, i + D/2)
        for (int t = 0; t < T; ++t) {
            const float* cs = &rope_cos[size_t(t) * size_t(D / 2)];
            const float* sn = &rope_sin[size_t(t) * size_t(D / 2)];
            ref_rope(&q[size_t(t) * q_dim], H, D, cs, sn);
            ref_rope(&k[size_t(t) * kv_dim], Hkv, D, cs, sn);
        }

        // Append k, v to each sequence's cache                       cache is (len, Hkv, D) per slot
        for (int t = 0; t < T; ++t) {
            CpuKvSlot& slot = slots_[size_t(batch.slots[size_t(tok_seq[size_t(t)])])];
            size_t off = size_t(tok_pos[size_t(t)]) * size_t(kv_dim);
            std::copy_n(&k[size_t(t) * kv_dim], kv_dim, &slot.k[size_t(l)][off]);
            std::copy_n(&v[size_t(t) * kv_dim], kv_dim, &slot.v[size_t(l)][off]);
        }

        // Causal GQA attention: query head h reads kv head h / (H/Hkv) over positions 0..pos_t
        //                                                            att is (T, H, D)
        // (token, head) units in blocks of about 1/8 of a thread's share: one unit is well under a
        // microsecond in decode, less than handing it out through the pool costs.
        const int n_units = T * H, per_block = std::max(1, n_units / (8 * pool.size()));
        pool.run((n_units + per_block - 1) / per_block, [&](int block) {
            thread_local std::vector<float> scores;
            for (int unit = block * per_block; unit < std::min(n_units, (block + 1) * per_block); ++unit) {
                int t = unit / H, h = unit % H;
                const CpuKvSlot& slot = slots_[size_t(batch.slots[size_t(tok_seq[size_t(t)])])];
                int n_ctx = tok_pos[size_t(t)] + 1;
                if (scores.size() < size_t(n_ctx)) scores.resize(size_t(n_ctx));
                int kvh = h / group;
                K.attention_row(&q[size_t(t) * q_dim + size_t(h) * D], slot.k[size_t(l)].data() + size_t(kvh) * D,
                                slot.v[size_t(l)].data() + size_t(kvh) * D, kv_dim, n_ctx, D, attn_scale,
                                &att[size_t(t) * q_dim + size_t(h) * D], scores.data());
            }
        });

        // x = x + att Wo^T                                           proj is (T, C)
        {
            const uint16_t* xb = bf16_input(att, q_dim, L.o);
            MatmulJob job{&L.o, proj.data()};
            run_matmuls(pool, K, matmul_mode_, att.data(), xb, T, &job, 1);
        }
        if (any_lora) matmul_lora(att.data(), T, L.o, l, LORA_TARGET_O, proj.data());
        for_each_token(pool, T, 64, [&](int t) { K.add(&x[size_t(t) * C], &proj[size_t(t) * C], C); });

        // ---- MLP block (SwiGLU) ----
        // xn = RMSNorm(x) * ffn_norm                                 xn is (T, C)
        for_each_token(pool, T, 16,
                       [&](int t) { K.rms_norm(&x[size_t(t) * C], L.ffn_norm.data(), C, eps, &xn[size_t(t) * C]); });

        // gate = xn Wg^T, up = xn Wu^T                               gate, up are (T, I)
        {
            const uint16_t* xb = bf16_input(xn, C, L.gate);
            MatmulJob jobs[2] = {{&L.gate, gate.data()}, {&L.up, up.data()}};
            run_matmuls(pool, K, matmul_mode_, xn.data(), xb, T, jobs, 2);
        }
        if (any_lora) {
            matmul_lora(xn.data(), T, L.gate, l, LORA_TARGET_GATE, gate.data());
            matmul_lora(xn.data(), T, L.up, l, LORA_TARGET_UP, up.data());
        }

        // act = silu(gate) * up                                      act is (T, I)
        for_each_token(pool, T, 8,
                       [&](int t) { K.silu_mul(&gate[size_t(t) * I], &up[size_t(t) * I], I, &act[size_t(t) * I]); });

        // x = x + act Wd^T                                           proj is (T, C)
        {
            const uint16_t* xb = bf16_input(act, I, L.down);
            MatmulJob job{&L.down, proj.data()};
            run_matmuls(pool, K, matmul_mode_, act.data(), xb, T, &job, 1);
        }
        if (any_lora) matmul_lora(act.data(), T, L.down, l, LORA_TARGET_DOWN, proj.data());
        for_each_token(pool, T, 64, [&](int t) { K.add(&x[size_t(t) * C], &proj[size_t(t) * C], C); });
        if (hidden) std::copy(x.begin(), x.end(), hidden + int64_t(l - layer_begin) * T * C);
    }

    if (request) {
        // forward_hidden keeps no positions: drop the K/V rows this call appended.
        for (int s = 0; s < S; ++s) {
            CpuKvSlot& slot = slots_[size_t(batch.slots[size_t(s)])];
            for (int l = 0; l < cfg.n_layers; ++l) {
                slot.k[size_t(l)].resize(size_t(slot.len) * size_t(kv_dim));
                slot.v[size_t(l)].resize(size_t(slot.len) * size_t(kv_dim));
            }
        }
        return;
    }

    // ---- head: only each sequence's last position ----
    // h = RMSNorm(x[last]) * final_norm                              h is (S, C)
    std::vector<float> hs(size_t(S) * C);
    for (int s = 0; s < S; ++s)
        K.rms_norm(&x[size_t(last_tok[size_t(s)]) * C], final_norm_.data(), C, eps, &hs[size_t(s) * C]);

    // logits = h E^T (tied) or h W_lm^T                              logits is (S, V)
    {
        const uint16_t* xb = nullptr;
        if (matmul_mode_ == CPU_MATMUL_BF16_DOT && lm_head_.dtype == DTYPE_BF16) {
            x_bf16_.resize(size_t(S) * C);
            cpu_convert_bf16(hs.data(), int64_t(S) * C, x_bf16_.data());
            xb = x_bf16_.data();
        }
        MatmulJob job{&lm_head_, logits};
        run_matmuls(pool, K, matmul_mode_, hs.data(), xb, S, &job, 1);
    }
    (void)V;

    // The step succeeded: the new positions are now part of each sequence.
    for (int s = 0; s < S; ++s) slots_[size_t(batch.slots[size_t(s)])].len += int(batch.tokens[size_t(s)].size());
}

}  // namespace adabench
