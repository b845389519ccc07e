// CpuBackend: the CPU implementation of Backend (engines/backend.h). It keeps the weights in their
// stored dtype (f32/bf16/f16 views of the loaded tensors; with AVX-512 kernels, BF16 matrices also
// get a panel-layout copy, made once per weight set, that the matmuls stream: see ops.h), a KV
// cache of fp32 slots that grow on demand under a byte limit, a persistent thread pool, and the
// kernels of the best ISA (ops.h). The forward pass itself is in forward.cpp. It does not sample,
// count budgets or know about text.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/backend.h"
#include "engines/cpu/ops.h"
#include "engines/cpu/thread_pool.h"
#include "engines/model/lora.h"

namespace adabench {

enum CpuPrecision {
    // fp32 arithmetic throughout; bf16/f16 weights are widened exactly (the reference numerics,
    // comparable with a PyTorch fp32 forward to ~1e-5).
    CPU_PRECISION_EXACT,
    // BF16 weights: activations rounded to bf16 for the matrix products (vdpbf16ps where the CPU
    // has it), fp32 everywhere else. About 2x faster prefill; logits differ by ~1e-2.
    CPU_PRECISION_FAST,
};
const char* cpu_precision_name(CpuPrecision p);
CpuPrecision cpu_precision_parse(const std::string& s);  // "exact" | "fast"; throws adabench::Error

struct CpuBackendOptions {
    int n_threads = 0;  // 0 = hardware concurrency (at most 2 on the CI machines anyway)
    int max_slots = 256;
    int max_seq_len = 0;                         // 0 = config.max_position_embeddings (or 32768)
    int64_t max_cache_bytes = int64_t(4) << 30;  // all slots together
    CpuPrecision precision = CPU_PRECISION_EXACT;
    int isa = -1;  // -1 = cpu_isa_detect(); else a CpuIsa value (tests force the fallbacks)
};

// One sequence slot of the KV cache: per layer, K and V rows of n_kv_heads*head_dim floats.
struct CpuKvSlot {
    bool used = false;
    int len = 0;
    std::vector<std::vector<float>> k, v;  // [layer][pos * kv_dim + i]
};

class CpuBackend : public Backend {
public:
    CpuBackend(std::shared_ptr<const ModelWeights> weights, const CpuBackendOptions& options = {});
    ~CpuBackend() override;

    const ModelConfig& config() const override { return weights_->config; }
    std::string device() const override;

    int seq_alloc() override;
    void seq_free(int slot) override;
    int seq_fork(int slot) override;
    int seq_len(int slot) const override;
    int max_seq_len() const override { return max_seq_len_; }
    void seq_truncate(int slot, int n) override;

    void forward(const BackendBatch& batch, float* logits) override;
    void forward_hidden(const BackendBatch& batch, const BackendHiddenRequest& request, float* hidden) override;

    void set_lora_adapters(std::vector<std::shared_ptr<const LoraAdapter>> adapters) override;
    void set_weights(std::shared_ptr<const ModelWeights> weights) override;

    const CpuBackendOptions& options() const { return options_; }
    CpuIsa isa() const { return kernels_->isa; }
    int64_t cache_bytes() const;                          // bytes held by the KV cache now
    int64_t panel_bytes() const { return panel_bytes_; }  // bytes allocated for the panel copies

    // Weights as the forward pass uses them: matrices as views, vectors widened to fp32.
    struct Layer {
        CpuMatrix q, k, v, o, gate, up, down;
        std::vector<float> attn_norm, ffn_norm, q_bias, k_bias, v_bias;
    };

private:
    struct AlignedFree {
        void operator()(uint16_t* p) const;
    };
    void prepare_weights(std::shared_ptr<const ModelWeights> weights);
    void pack_panels(std::vector<Layer>& layers, CpuMatrix& lm_head);
    CpuKvSlot& slot_ref(int slot, const char* what);
    const CpuKvSlot& slot_ref(int slot, const char* what) const;
    void check_capacity(const BackendBatch& batch) const;
    // forward.cpp
    // With `hidden` (forward_hidden): the request's layers only, their outputs into hidden, no
    // head, and the slots keep their lengths.
    void forward_batch(const BackendBatch& batch, float* logits, const BackendHiddenRequest* request = nullptr,
                       float* hidden = nullptr);
    void matmul_lora(const float* x, int n_tok, const CpuMatrix& w, int layer, LoraTarget target, float* y);

    CpuBackendOptions options_;
    std::shared_ptr<const ModelWeights> weights_;
    const CpuKernels* kernels_ = nullptr;
    std::unique_ptr<CpuThreadPool> pool_;
    int max_seq_len_ = 0;
    CpuMatmulMode matmul_mode_ = CPU_MATMUL_EXACT;

    std::vector<Layer> layers_;
    CpuMatrix embed_, lm_head_;
    std::vector<float> final_norm_;
    std::vector<CpuKvSlot> slots_;
    // Panel copies of the BF16 matrices (CpuMatrix::panels points in here), 2 MiB aligned.
    std::unique_ptr<uint16_t[], AlignedFree> panels_;
    int64_t panel_bytes_ = 0;

    std::vector<std::shared_ptr<const LoraAdapter>> adapters_;
    // Unmerged LoRA state of the current step: lora_coef_tok_[a][t] is adapter a's coefficient for
    // the sequence token t belongs to (the scale also needs the module's alpha/r, applied per target);
    // lora_active_[a] says some sequence uses adapter a, so unused adapters cost nothing.
    std::vector<std::vector<float>> lora_coef_tok_;
    std::vector<bool> lora_active_;

    // Scratch reused across steps (grown, never shrunk).
    std::vector<uint16_t> x_bf16_;
    std::vector<float> lora_u_, lora_z_;
};

}  // namespace adabench
