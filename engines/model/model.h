// Model description shared by the loaders, weight composition (LoRA, merges) and every backend.
//
// ModelConfig is what config.json says (Qwen2 and Llama families); ModelWeights holds the tensors
// of one decoder by role, not by file name, so backends never see Hugging Face naming. Tensors are
// either views into a file read into memory (on-disk dtype) or owned fp32 buffers (merges, merged
// LoRA).
// Layout is PyTorch's: a Linear weight is (out_features, in_features), row-major.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace adabench {

enum DType { DTYPE_F32, DTYPE_F16, DTYPE_BF16 };
const char* dtype_name(DType t);
size_t dtype_size(DType t);

struct ModelConfig {
    std::string architecture;  // "Qwen2ForCausalLM", "LlamaForCausalLM"
    std::string model_type;    // "qwen2", "llama"
    int vocab_size = 0;
    int hidden_size = 0;        // C
    int intermediate_size = 0;  // FFN width
    int n_layers = 0;
    int n_heads = 0;     // query heads
    int n_kv_heads = 0;  // grouped-query attention when < n_heads
    int head_dim = 0;    // hidden_size / n_heads unless config says otherwise
    int max_position_embeddings = 0;
    float rms_norm_eps = 1e-6f;
    float rope_theta = 10000.0f;
    bool tie_word_embeddings = false;
    bool attention_bias = false;  // q/k/v bias (true for Qwen2)
    int bos_token_id = -1;
    std::vector<int> eos_token_ids;
    std::string torch_dtype;  // as written in config.json
};

// A tensor view. `data` points into a file copy owned by ModelWeights::mappings (or into `owned`).
struct Tensor {
    DType dtype = DTYPE_F32;
    std::vector<int64_t> shape;
    const void* data = nullptr;
    std::shared_ptr<std::vector<float>> owned;  // set when this tensor owns fp32 storage
    std::string name;                           // source tensor name, for error messages

    int64_t numel() const {
        int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    bool empty() const { return data == nullptr; }
};

struct LayerWeights {
    Tensor attn_norm;                       // (C)
    Tensor q_proj, k_proj, v_proj, o_proj;  // (n_heads*hd, C), (n_kv*hd, C), (n_kv*hd, C), (C, n_heads*hd)
    Tensor q_bias, k_bias, v_bias;          // empty unless attention_bias
    Tensor ffn_norm;                        // (C)
    Tensor gate_proj, up_proj;              // (I, C)
    Tensor down_proj;                       // (C, I)
};

struct ModelWeights {
    ModelConfig config;
    Tensor embed_tokens;  // (V, C)
    std::vector<LayerWeights> layers;
    Tensor final_norm;                            // (C)
    Tensor lm_head;                               // (V, C); same data as embed_tokens when tie_word_embeddings
    std::vector<std::shared_ptr<void>> mappings;  // keeps the files' owned copies alive
    // Shapes only (model_load_meta): every tensor's data is null; not for forward passes or merges.
    bool meta_only = false;
    // Directory it was loaded from; for composed weights, what they were made of (for messages).
    std::string source;
};

}  // namespace adabench
