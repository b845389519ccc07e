// CudaBackend (see cuda_backend.h): weight upload, KV-cache slots in device memory, unmerged LoRA,
// and the forward pass — the same steps, in the same order, as engines/cpu/forward.cpp, with each
// step one launcher of ops.cuh or one cuBLAS call on the backend's stream.
//
// Shapes: T = tokens in the step, C = hidden size, H = query heads, Hkv = key/value heads,
// D = head_dim, I = intermediate size, V = vocab, S = sequences in the step.
#include "engines/cuda/cuda_backend.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <vector>

#include "common/error.h"
#include "engines/backend_checks.h"
#include "engines/cpu/ops.h"
#include "engines/cuda/attention.cuh"
#include "engines/cuda/compose.cuh"
#include "engines/cuda/cuda_check.cuh"
#include "engines/cuda/device.h"
#include "engines/cuda/gemm.cuh"
#include "engines/cuda/ops.cuh"
#include "engines/cuda/sample.cuh"
#include "engines/engine_factory.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"
#include "engines/generation/sampling.h"

namespace adabench {

namespace {

std::string mib(int64_t bytes) {
    std::ostringstream os;
    os.precision(1);
    os << std::fixed << double(bytes) / (1024.0 * 1024.0) << " MiB";
    return os.str();
}

std::string memory_state(int device) {
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
        cudaGetLastError();
        return "device " + std::to_string(device) + ": free memory unknown";
    }
    return "device " + std::to_string(device) + " has " + mib(int64_t(free_b)) + " free of " + mib(int64_t(total_b));
}

// A device allocation that says what it was for when it cannot be had.
void* device_alloc(int64_t bytes, const std::string& what, int device) {
    if (bytes <= 0) return nullptr;
    void* p = nullptr;
    cudaError_t err = cudaMalloc(&p, size_t(bytes));
    if (err != cudaSuccess) {
        cudaGetLastError();
        throw Error("CUDA out of memory allocating " + mib(bytes) + " for " + what + " (" + memory_state(device) + ")",
                    "use a smaller model, fewer KV slots (max_slots) or a shorter max_seq_len");
    }
    return p;
}

// Owning device buffer of T (grows on demand, contents not kept when it grows).
template <class T>
struct DeviceBuffer {
    T* ptr = nullptr;
    int64_t n = 0;
    DeviceBuffer() = default;
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    ~DeviceBuffer() { release(); }
    void release() {
        if (ptr) cudaFree(ptr);
        ptr = nullptr;
        n = 0;
    }
    // Returns true when it had to reallocate (the address changed).
    bool reserve(int64_t count, const std::string& what, int device) {
        if (count <= n) return false;
        release();
        ptr = static_cast<T*>(device_alloc(count * int64_t(sizeof(T)), what, device));
        n = count;
        return true;
    }
};

// Host conversion of a tensor to bf16 bits (exact copy when it already is bf16).
std::vector<uint16_t> to_bf16(const Tensor& t) {
    std::vector<uint16_t> out(size_t(t.numel()));
    if (t.dtype == DTYPE_BF16) {
        std::memcpy(out.data(), t.data, out.size() * sizeof(uint16_t));
        return out;
    }
    std::vector<float> f(out.size());
    cpu_convert_f32(t.dtype, t.data, t.numel(), f.data());
    cpu_convert_bf16(f.data(), t.numel(), out.data());
    return out;
}

std::vector<float> to_f32(const Tensor& t) {
    std::vector<float> v(size_t(t.numel()));
    cpu_convert_f32(t.dtype, t.data, t.numel(), v.data());
    return v;
}

struct DeviceMatrix {
    uint16_t* w = nullptr;  // (n_out, n_in) bf16, row-major
    int n_out = 0, n_in = 0;
};

struct DeviceLayer {
    DeviceMatrix q, k, v, o, gate, up, down;
    // Views of one GEMM each: q, k, v (and gate, up) are stored back to back, so [q; k; v] is one
    // (q_dim + 2 kv_dim, C) matrix and [gate; up] one (2 I, C) matrix.
    DeviceMatrix qkv, gate_up;
    float *attn_norm = nullptr, *ffn_norm = nullptr, *q_bias = nullptr, *k_bias = nullptr, *v_bias = nullptr;
};

struct DeviceLoraPair {
    float *a = nullptr, *b = nullptr;  // A (r, n_in), B (n_out, r), fp32
    int r = 0;
    float base_scale = 0.0f;
};

struct KvSlot {
    bool used = false;
    int len = 0;
};

// The stream and cuBLAS handle, released last (members are destroyed in reverse order).
struct CudaHandles {
    cudaStream_t stream = nullptr;
    cublasHandle_t cublas = nullptr;
    CudaHandles() = default;
    CudaHandles(const CudaHandles&) = delete;
    CudaHandles& operator=(const CudaHandles&) = delete;
    ~CudaHandles() {
        if (stream) cudaStreamSynchronize(stream);
        if (cublas) cublasDestroy(cublas);
        if (stream) cudaStreamDestroy(stream);
    }
};

// Makes `device` the calling thread's current device for the scope and restores the previous one
// after it: the current device belongs to each host thread, so a backend on device 1 called from a
// thread whose current device is 0 must switch before it allocates or launches anything.
class DeviceScope {
public:
    explicit DeviceScope(int device) : device_(device) {
        if (cudaGetDevice(&prev_) != cudaSuccess) {
            cudaGetLastError();
            prev_ = -1;
        }
        if (prev_ != device_) CUDA_CHECK(cudaSetDevice(device_));
    }
    ~DeviceScope() {
        if (prev_ >= 0 && prev_ != device_) cudaSetDevice(prev_);
    }
    DeviceScope(const DeviceScope&) = delete;
    DeviceScope& operator=(const DeviceScope&) = delete;

private:
    int device_, prev_ = -1;
};

// The backend's first member: whatever the constructor and destructor switch the current device to,
// it switches back when destroyed, after every other member has freed its memory on the backend's
// device (also when the constructor throws).
struct DeviceRestore {
    int prev = -1;
    void enter(int device) {
        if (cudaGetDevice(&prev) != cudaSuccess) {
            cudaGetLastError();
            prev = -1;
        }
        if (prev == device) {
            prev = -1;  // nothing to restore
            return;
        }
        CUDA_CHECK(cudaSetDevice(device));
    }
    void leave() {
        if (prev >= 0) cudaSetDevice(prev);
        prev = -1;
    }
    ~DeviceRestore() { leave(); }
};

// The composition sources resident on the device (set_compose_sources; defined with compose()).
struct CudaComposeState;
struct CudaComposeStateFree {
    void operator()(CudaComposeState* s) const;
};

}  // namespace

class CudaBackend : public Backend {
public:
    CudaBackend(std::shared_ptr<const ModelWeights> weights, const CudaBackendOptions& options);
    ~CudaBackend() override;

    const ModelConfig& config() const override { return weights_->config; }
    std::string device() const override {
        return batch_invariant_ ? device_name_ + " (batch-invariant products)" : device_name_;
    }

    int seq_alloc() override;
    void seq_free(int slot) override;
    int seq_fork(int slot) override;
    int seq_len(int slot) const override;
    void seq_truncate(int slot, int n) override;

    void forward(const BackendBatch& batch, float* logits) override;
    void forward_greedy(const BackendBatch& batch, int32_t* tokens) override;
    bool samples_on_device() const override { return true; }
    void forward_sample(const BackendBatch& batch, const std::vector<SampleRow>& rows, int32_t* tokens) override;
    void forward_hidden(const BackendBatch& batch, const BackendHiddenRequest& request, float* hidden) override;

    void set_lora_adapters(std::vector<std::shared_ptr<const LoraAdapter>> adapters) override;
    void set_weights(std::shared_ptr<const ModelWeights> weights) override;
    void set_compose_sources(ComposeSources sources) override;
    void compose(const ComposeParams& params) override;

    int64_t compose_source_bytes() const;
    int64_t weight_bytes() const { return weight_bytes_; }
    int64_t cache_bytes() const { return cache_bytes_; }
    int n_slots() const { return int(slots_.size()); }
    int64_t graph_replays() const { return graph_replays_; }
    int64_t graph_nodes(int S) const {
        auto it = graph_nodes_.find(S);
        return it == graph_nodes_.end() ? -1 : it->second;
    }
    int max_seq_len() const override { return max_seq_len_; }
    void synchronize() {
        DeviceScope on(options_.device);
        CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

private:
    void check_weights(const ModelWeights& w) const;
    void upload_weights(const ModelWeights& w);
    void free_weights();
    void free_adapters();
    void allocate_cache();
    const KvSlot& slot_ref(int slot, const char* what) const;
    void check_batch(const BackendBatch& batch) const;
    void ensure_scratch(int T, int S);
    // Enqueues the step (logits of each sequence's last position into logits_) and advances the
    // slot lengths; returns S.
    // With a HiddenRun (forward_hidden): its layers only, each one's output copied to the host, no
    // head, no graph, and the slot lengths stay.
    struct HiddenRun {
        int layer_begin = 0, layer_end = 0;
        const float* input = nullptr;  // host (T, C), or null for the embeddings
        float* hidden = nullptr;       // host (layer_end - layer_begin, T, C)
    };
    int run_step(const BackendBatch& batch, const HiddenRun* hidden_run = nullptr);
    // Every kernel and cuBLAS call of one step over T tokens and S sequences, reading the step's
    // indices from ints_ (the part a CUDA graph captures).
    void enqueue_step(int T, int S, const HiddenRun* hidden_run = nullptr);
    void decode_attention(int l, const int32_t* d_rows, int n_rows, const int32_t* d_slot, const int32_t* d_n_ctx);
    // The decode step over S sequences as a CUDA graph (captured on first use); nullptr when graphs
    // are off or capturing failed (then they stay off and steps run eagerly).
    cudaGraphExec_t decode_graph(int S);
    void drop_graphs();
    // Composition on the device (the end of this file).
    void release_cache();
    void upload_compose_sources(const ComposeSources& sources);
    void* compose_live_ptr(int item) const;
    void project(const DeviceMatrix& m, const uint16_t* xb, const float* x, int T, float* y, int layer,
                 LoraTarget target);
    // The step's products: cuBLAS; the small-batch matvec for steps of up to 8 tokens; the
    // batch-invariant kernels of gemm.cuh in exact mode.
    void gemm_bf16(const uint16_t* w, const uint16_t* xb, int T, int n_in, int n_out, float* y, int ldy, float beta) {
        if (batch_invariant_) {
            matmul_invariant_bf16_cuda(w, xb, T, n_in, n_out, y, ldy, 1.0f, beta, stream_);
        } else if (matvec_on_ && T <= kMatvecMaxTokens) {
            matvec_bf16_f32_cuda(w, xb, T, n_in, n_out, y, ldy, beta, stream_);
        } else {
            matmul_bf16_f32_cuda(cublas_, w, xb, T, n_in, n_out, y, ldy, beta);
        }
    }
    void gemm_f32(const float* w, const float* x, int T, int n_in, int n_out, float* y, int ldy, float alpha,
                  float beta) {
        if (batch_invariant_) {
            matmul_invariant_f32_cuda(w, x, T, n_in, n_out, y, ldy, alpha, beta, stream_);
        } else {
            matmul_f32_cuda(cublas_, w, x, T, n_in, n_out, y, ldy, alpha, beta);
        }
    }
    // Whether an adapter active in this step has a LoRA pair on (layer, target).
    bool has_lora(int layer, LoraTarget target) const;
    // x_ += (xb_ m^T + the unmerged LoRA terms of x): the residual add after the o and down
    // products, folded into the product when no LoRA applies.
    void residual_project(const DeviceMatrix& m, const float* x, int T, int layer, LoraTarget target);
    // y[t, 0:n_out] (row stride ldy) += the unmerged LoRA terms of `target` for the fp32 input x.
    void lora_add(const float* x, int n_in, int T, float* y, int n_out, int ldy, int layer, LoraTarget target);

    DeviceRestore restore_;  // first member: destroyed last
    CudaBackendOptions options_;
    std::shared_ptr<const ModelWeights> weights_;
    std::string device_name_;
    CudaHandles handles_;  // before the buffers: destroyed after every one of them
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;

    // Weights: one allocation for every bf16 matrix, one for every fp32 vector.
    DeviceBuffer<uint16_t> mat_store_;
    DeviceBuffer<float> vec_store_;
    std::vector<DeviceLayer> layers_;
    DeviceMatrix embed_, lm_head_;
    float* final_norm_ = nullptr;
    int64_t weight_bytes_ = 0;

    // KV cache: per layer, K and V of n_slots * max_seq_len * kv_dim values of kv_type_.
    KvCacheType kv_type_ = KV_CACHE_F32;
    std::vector<std::unique_ptr<DeviceBuffer<uint8_t>>> k_store_, v_store_;
    std::vector<uint8_t*> k_cache_, v_cache_;
    std::vector<KvSlot> slots_;
    int max_seq_len_ = 0;
    int64_t cache_bytes_ = 0;

    // Unmerged LoRA: adapters_[a] with pairs lora_[a][layer][target] on the device.
    std::vector<std::shared_ptr<const LoraAdapter>> adapters_;
    std::vector<std::vector<std::array<DeviceLoraPair, LORA_TARGET_COUNT>>> lora_;
    std::vector<std::unique_ptr<DeviceBuffer<float>>> lora_store_;
    std::vector<bool> lora_active_;   // this step
    float* lora_coef_dev_ = nullptr;  // (n_adapters, T) coefficients of this step, in scratch

    // Per-step scratch (grown, never shrunk).
    int scratch_T_ = 0, scratch_S_ = 0;
    // qkv_ (T, q_dim + 2 kv_dim) and gu_ (T, 2 I): outputs of the fused GEMMs; q_ (T, q_dim) the
    // rotated queries; att_ (T, q_dim) attention; xb_ the next product's bf16 input; xn_, act_
    // (T, I) and proj_ the fp32 norm, SwiGLU and product outputs the unmerged LoRA terms need.
    DeviceBuffer<float> x_, xn_, qkv_, q_, att_, proj_, gu_, act_, logits_, lora_u_;
    DeviceBuffer<uint16_t> xb_;
    // tok_id | tok_slot | tok_pos | row_n_ctx | last_tok, then in prefill steps tile_first | tile_count | single_rows
    DeviceBuffer<int32_t> ints_;
    DeviceBuffer<int32_t> picks_;  // forward_greedy / forward_sample: tokens, then NaN ids
    DeviceBuffer<CudaSampleRow> sample_rows_;
    std::vector<CudaSampleRow> h_sample_rows_;
    std::vector<int32_t> h_picks_;
    DeviceBuffer<float> coefs_;
    std::vector<int32_t> h_ints_;
    std::vector<float> h_coefs_;
    // Tiled prefill attention: tokens per tile (0 = shape not handled or turned off); for the step
    // being enqueued, the tiles over sequences feeding several tokens and the rows of sequences
    // feeding one (the per-row kernel; both 0 in decode steps, which read no index list).
    int prefill_tile_rows_ = 0;
    int step_tiles_ = 0, step_single_ = 0;
    // Split-K decode: positions per split and splits per row (0 = off: the per-row kernel), and the
    // partial results (S rows x H heads x splits x (D + 2)).
    int dec_split_len_ = 0, dec_max_splits_ = 0;
    DeviceBuffer<float> partial_;

    // CUDA graphs of decode steps (one token per sequence, no LoRA), by S. They bake in the scratch
    // addresses, so any reallocation (scratch_gen_) drops them. A batch size is captured the second
    // time it runs: the first run is eager, so that lazy module loading and cuBLAS's first-call
    // set-up happen outside a capture (as PyTorch warms up before capturing).
    std::map<int, cudaGraphExec_t> graphs_;
    std::set<int> graph_warm_;  // batch sizes that ran eagerly once since the graphs were dropped
    int64_t graph_replays_ = 0;
    std::map<int, int64_t> graph_nodes_;  // nodes of each captured decode graph (kernels and products)
    bool graphs_on_ = true;
    bool batch_invariant_ = false;
    bool matvec_on_ = true;  // products of steps of <= kMatvecMaxTokens tokens: matvec_bf16_f32
    uint64_t scratch_gen_ = 0, graphs_gen_ = 0;
    DeviceBuffer<uint8_t> cublas_ws_;  // cuBLAS workspace set up front, as graph capture needs

    std::unique_ptr<CudaComposeState, CudaComposeStateFree> compose_state_;
};

// ---- construction, weights ----

CudaBackend::CudaBackend(std::shared_ptr<const ModelWeights> weights, const CudaBackendOptions& options)
    : options_(options) {
    if (!weights) throw Error("CudaBackend: no weights given");
    int n_dev = cuda_device_count();
    if (n_dev == 0)
        throw Error("engine cuda: no CUDA device is visible to this process",
                    "run on a machine with an NVIDIA GPU and driver, or use --engine cpu");
    if (options_.device < 0 || options_.device >= n_dev)
        throw Error("engine cuda: device " + std::to_string(options_.device) + " does not exist (" +
                    std::to_string(n_dev) + " visible)");
    if (options_.max_slots < 1) throw Error("CudaBackend: max_slots must be >= 1");
    if (!(options_.cache_memory_fraction > 0.0 && options_.cache_memory_fraction <= 1.0))
        throw Error("CudaBackend: cache_memory_fraction must be in (0, 1]");
    kv_type_ = kv_cache_type_parse(options_.kv_cache_dtype);
    restore_.enter(options_.device);  // left at the end of the constructor, or by restore_ if it throws
    device_name_ = cuda_device_name(options_.device);
    CUDA_CHECK(cudaStreamCreateWithFlags(&handles_.stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasCreate(&handles_.cublas));
    stream_ = handles_.stream;
    cublas_ = handles_.cublas;
    CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));  // no TF32 in the fp32 LoRA products
    cublas_ws_.reserve(int64_t(32) << 20, "the cuBLAS workspace", options_.device);
    CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_ws_.ptr, size_t(cublas_ws_.n)));
    const char* env_graphs = std::getenv("ADABENCH_CUDA_GRAPHS");
    graphs_on_ = options_.cuda_graphs && !(env_graphs && std::string(env_graphs) == "0");
    const char* env_invariant = std::getenv("ADABENCH_CUDA_BATCH_INVARIANT");
    batch_invariant_ = options_.batch_invariant || (env_invariant && std::string(env_invariant) == "1");
    const char* env_matvec = std::getenv("ADABENCH_CUDA_MATVEC");
    matvec_on_ = options_.small_batch_matvec && !(env_matvec && std::string(env_matvec) == "0");
    // On an exception below, the members already built free their device memory themselves.
    check_weights(*weights);
    upload_weights(*weights);
    weights_ = std::move(weights);
    const ModelConfig& cfg = weights_->config;
    prefill_tile_rows_ =
        options_.tiled_prefill_attention ? attention_prefill_tile_rows(cfg.n_heads, cfg.n_kv_heads, cfg.head_dim) : 0;
    allocate_cache();
    if (options_.split_k_decode && attention_decode_split_supported(cfg.n_heads, cfg.n_kv_heads, cfg.head_dim)) {
        dec_split_len_ = attention_decode_split_len(max_seq_len_);
        dec_max_splits_ = attention_decode_max_splits(max_seq_len_);
    }
    restore_.leave();
}

CudaBackend::~CudaBackend() {
    try {
        restore_.enter(options_.device);  // the members free on the backend's device; restore_ switches back
    } catch (const std::exception&) {
    }
    if (stream_) cudaStreamSynchronize(stream_);
    drop_graphs();
}

void CudaBackend::drop_graphs() {
    for (auto& [s, exec] : graphs_) cudaGraphExecDestroy(exec);
    graphs_.clear();
    graph_warm_.clear();
}

void CudaBackend::check_weights(const ModelWeights& w) const {
    backend_check_weights(w);
    if (w.config.head_dim > kCudaAttentionMaxHeadDim)
        throw Error("model " + w.source + ": head_dim " + std::to_string(w.config.head_dim) +
                    " is larger than the CUDA attention kernel supports (" + std::to_string(kCudaAttentionMaxHeadDim) +
                    ")");
}

void CudaBackend::upload_weights(const ModelWeights& w) {
    const ModelConfig& c = w.config;
    // Tied: lm_head is the embedding (the loader and merges set lm_head to the same data): one copy.
    const bool tied = c.tie_word_embeddings;
    // Plan: every matrix in one bf16 store, every vector in one fp32 store.
    struct MatJob {
        const Tensor* t;
        DeviceMatrix* dst;
        bool packed = false;  // directly after the previous matrix (the fused views), not aligned
    };
    struct VecJob {
        const Tensor* t;
        float** dst;
    };
    std::vector<DeviceLayer> layers(size_t(c.n_layers));
    DeviceMatrix embed, head;
    float* final_norm = nullptr;
    std::vector<MatJob> mats;
    std::vector<VecJob> vecs;
    mats.push_back({&w.embed_tokens, &embed});
    if (!tied) mats.push_back({&w.lm_head, &head});
    vecs.push_back({&w.final_norm, &final_norm});
    for (int l = 0; l < c.n_layers; ++l) {
        const LayerWeights& lw = w.layers[size_t(l)];
        DeviceLayer& L = layers[size_t(l)];
        mats.insert(mats.end(), {{&lw.q_proj, &L.q},
                                 {&lw.k_proj, &L.k, true},
                                 {&lw.v_proj, &L.v, true},
                                 {&lw.o_proj, &L.o},
                                 {&lw.gate_proj, &L.gate},
                                 {&lw.up_proj, &L.up, true},
                                 {&lw.down_proj, &L.down}});
        vecs.push_back({&lw.attn_norm, &L.attn_norm});
        vecs.push_back({&lw.ffn_norm, &L.ffn_norm});
        if (!lw.q_bias.empty()) {
            vecs.push_back({&lw.q_bias, &L.q_bias});
            vecs.push_back({&lw.k_bias, &L.k_bias});
            vecs.push_back({&lw.v_bias, &L.v_bias});
        }
    }
    auto align = [](int64_t n) { return (n + 127) / 128 * 128; };  // 256-byte aligned sub-buffers
    int64_t mat_elems = 0, vec_elems = 0;
    for (const auto& m : mats) mat_elems = (m.packed ? mat_elems : align(mat_elems)) + m.t->numel();
    mat_elems = align(mat_elems);
    for (const auto& v : vecs) vec_elems += align(v.t->numel());
    const bool fresh = mat_store_.n < mat_elems || vec_store_.n < vec_elems;
    if (fresh) {
        mat_store_.release();
        vec_store_.release();
        mat_store_.reserve(mat_elems, "the model's weight matrices (bf16)", options_.device);
        vec_store_.reserve(vec_elems, "the model's norms and biases (fp32)", options_.device);
    }
    int64_t off = 0;
    for (const auto& m : mats) {
        if (!m.packed) off = align(off);
        std::vector<uint16_t> h = to_bf16(*m.t);
        CUDA_CHECK(cudaMemcpy(mat_store_.ptr + off, h.data(), h.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
        m.dst->w = mat_store_.ptr + off;
        m.dst->n_out = int(m.t->shape[0]);
        m.dst->n_in = int(m.t->shape[1]);
        off += m.t->numel();
    }
    for (DeviceLayer& L : layers) {
        L.qkv = DeviceMatrix{L.q.w, L.q.n_out + L.k.n_out + L.v.n_out, L.q.n_in};
        L.gate_up = DeviceMatrix{L.gate.w, L.gate.n_out + L.up.n_out, L.gate.n_in};
    }
    off = 0;
    for (const auto& v : vecs) {
        std::vector<float> h = to_f32(*v.t);
        CUDA_CHECK(cudaMemcpy(vec_store_.ptr + off, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
        *v.dst = vec_store_.ptr + off;
        off += align(v.t->numel());
    }
    // cudaMemcpy from pageable memory may return before the DMA lands; kernels on our non-blocking
    // stream must not start before it has.
    CUDA_CHECK(cudaDeviceSynchronize());
    if (tied) head = embed;
    layers_ = std::move(layers);
    embed_ = embed;
    lm_head_ = head;
    final_norm_ = final_norm;
    weight_bytes_ = mat_elems * 2 + vec_elems * 4;
}

void CudaBackend::allocate_cache() {
    const ModelConfig& c = weights_->config;
    const int64_t kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
    max_seq_len_ = options_.max_seq_len > 0        ? options_.max_seq_len
                   : c.max_position_embeddings > 0 ? std::min(c.max_position_embeddings, 4096)
                                                   : 4096;
    const int64_t elem = kv_cache_type_size(kv_type_);
    const int64_t slot_bytes = 2 * int64_t(c.n_layers) * max_seq_len_ * kv_dim * elem;
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    // Reserve for activations of a large step (prefill of 8k tokens) and cuBLAS workspaces.
    const int64_t reserve = int64_t(512) << 20;
    int64_t budget = int64_t(double(int64_t(free_b) - reserve) * options_.cache_memory_fraction);
    if (options_.max_cache_bytes > 0) budget = std::min(budget, options_.max_cache_bytes);
    int64_t n = budget > 0 ? budget / slot_bytes : 0;
    n = std::min<int64_t>(n, options_.max_slots);
    if (n < 1)
        throw Error("CUDA KV cache (" + std::string(kv_cache_type_name(kv_type_)) + "): one slot of " +
                        std::to_string(max_seq_len_) + " positions needs " + mib(slot_bytes) + ", but only " +
                        mib(std::max<int64_t>(budget, 0)) + " are available for the cache after the weights (" +
                        mib(weight_bytes_) + "; " + mib(int64_t(free_b)) + " free of " + mib(int64_t(total_b)) + ")",
                    "lower max_seq_len, use kv_cache_dtype bf16 or a smaller model");
    const int64_t per_layer = n * max_seq_len_ * kv_dim * elem;  // bytes
    const std::string what = "the " + std::string(kv_cache_type_name(kv_type_)) + " KV cache (" + std::to_string(n) +
                             " slots of " + std::to_string(max_seq_len_) + " positions, " + mib(n * slot_bytes) +
                             " in all)";
    for (int l = 0; l < c.n_layers; ++l) {
        for (auto* store : {&k_store_, &v_store_}) {
            store->push_back(std::make_unique<DeviceBuffer<uint8_t>>());
            store->back()->reserve(per_layer, what, options_.device);
        }
        k_cache_.push_back(k_store_.back()->ptr);
        v_cache_.push_back(v_store_.back()->ptr);
    }
    slots_.assign(size_t(n), KvSlot{});
    cache_bytes_ = n * slot_bytes;
}

void CudaBackend::free_adapters() {
    lora_store_.clear();
    lora_.clear();
    adapters_.clear();
}

void CudaBackend::set_lora_adapters(std::vector<std::shared_ptr<const LoraAdapter>> adapters) {
    DeviceScope on(options_.device);
    backend_check_adapters(adapters, *weights_);
    synchronize();
    free_adapters();
    for (const auto& ad : adapters) {
        int64_t elems = 0;
        for (const auto& layer : ad->layers)
            for (const LoraPair& p : layer) elems += int64_t(p.a.size() + p.b.size());
        lora_store_.push_back(std::make_unique<DeviceBuffer<float>>());
        DeviceBuffer<float>* store = lora_store_.back().get();
        store->reserve(elems, "LoRA adapter " + ad->path, options_.device);
        std::vector<std::array<DeviceLoraPair, LORA_TARGET_COUNT>> pairs(ad->layers.size());
        int64_t off = 0;
        for (size_t l = 0; l < ad->layers.size(); ++l) {
            for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
                const LoraPair& p = ad->layers[l][size_t(t)];
                if (p.empty()) continue;
                DeviceLoraPair& d = pairs[l][size_t(t)];
                d.r = p.r;
                d.base_scale = p.base_scale;
                d.a = store->ptr + off;
                CUDA_CHECK(cudaMemcpy(d.a, p.a.data(), p.a.size() * sizeof(float), cudaMemcpyHostToDevice));
                off += int64_t(p.a.size());
                d.b = store->ptr + off;
                CUDA_CHECK(cudaMemcpy(d.b, p.b.data(), p.b.size() * sizeof(float), cudaMemcpyHostToDevice));
                off += int64_t(p.b.size());
            }
        }
        lora_.push_back(std::move(pairs));
    }
    CUDA_CHECK(cudaDeviceSynchronize());  // as in upload_weights
    adapters_ = std::move(adapters);
    scratch_T_ = 0;  // the LoRA scratch depends on the adapters' ranks: re-check it at the next step
}

void CudaBackend::set_weights(std::shared_ptr<const ModelWeights> weights) {
    DeviceScope on(options_.device);
    if (!weights) throw Error("CudaBackend::set_weights: no weights given");
    backend_check_same_architecture(*weights_, *weights, "CudaBackend::set_weights");
    if (weights_->config.tie_word_embeddings != weights->config.tie_word_embeddings)
        throw Error("CudaBackend::set_weights: tie_word_embeddings differs from " + weights_->source);
    check_weights(*weights);
    synchronize();
    upload_weights(*weights);  // same shapes: the stores are reused in place
    drop_graphs();             // captured graphs hold the weights' addresses: capture again
    weights_ = std::move(weights);
    for (auto& s : slots_) s = KvSlot{};
}

// ---- KV-cache slots ----

const KvSlot& CudaBackend::slot_ref(int slot, const char* what) const {
    if (slot < 0 || slot >= int(slots_.size()) || !slots_[size_t(slot)].used)
        throw Error(std::string("CudaBackend::") + what + ": slot " + std::to_string(slot) + " is not allocated",
                    "use an id returned by seq_alloc or seq_fork that was not freed (set_weights frees all slots)");
    return slots_[size_t(slot)];
}

int CudaBackend::seq_alloc() {
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].used) {
            slots_[i] = KvSlot{true, 0};
            return int(i);
        }
    }
    throw Error("KV cache full: all " + std::to_string(slots_.size()) + " CUDA sequence slots (" +
                    std::to_string(max_seq_len_) + " positions each, " + mib(cache_bytes_) + " of " +
                    kv_cache_type_name(kv_type_) + ") are in use",
                "lower the batch size, or max_seq_len (or use kv_cache_dtype bf16) to fit more slots");
}

void CudaBackend::seq_free(int slot) {
    slot_ref(slot, "seq_free");
    slots_[size_t(slot)] = KvSlot{};
}

int CudaBackend::seq_fork(int slot) {
    DeviceScope on(options_.device);
    const int len = slot_ref(slot, "seq_fork").len;
    const int dst = seq_alloc();
    const ModelConfig& c = weights_->config;
    const int64_t kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
    const int64_t elem = kv_cache_type_size(kv_type_);
    const int64_t stride = int64_t(max_seq_len_) * kv_dim * elem;  // bytes per slot
    const size_t bytes = size_t(len) * size_t(kv_dim) * size_t(elem);
    if (bytes > 0) {
        for (int l = 0; l < c.n_layers; ++l) {
            CUDA_CHECK(cudaMemcpyAsync(k_cache_[size_t(l)] + dst * stride, k_cache_[size_t(l)] + slot * stride, bytes,
                                       cudaMemcpyDeviceToDevice, stream_));
            CUDA_CHECK(cudaMemcpyAsync(v_cache_[size_t(l)] + dst * stride, v_cache_[size_t(l)] + slot * stride, bytes,
                                       cudaMemcpyDeviceToDevice, stream_));
        }
    }
    slots_[size_t(dst)].len = len;
    return dst;
}

int CudaBackend::seq_len(int slot) const { return slot_ref(slot, "seq_len").len; }

void CudaBackend::seq_truncate(int slot, int n) {
    const KvSlot& s = slot_ref(slot, "seq_truncate");
    if (n < 0 || n > s.len)
        throw Error("CudaBackend::seq_truncate: slot " + std::to_string(slot) + " has " + std::to_string(s.len) +
                        " positions, cannot truncate to " + std::to_string(n),
                    "n must be between 0 and seq_len(slot)");
    slots_[size_t(slot)].len = n;  // positions >= n are overwritten by the next append
}

// ---- forward ----

void CudaBackend::check_batch(const BackendBatch& batch) const {
    const int64_t total =
        backend_check_batch(batch, "CudaBackend::forward", weights_->config.vocab_size, max_seq_len_, adapters_.size(),
                            [this](int slot) { return slot_ref(slot, "forward").len; });
    if (total > 65535)
        throw Error("CudaBackend::forward: " + std::to_string(total) + " tokens in one step (limit 65535)",
                    "split the prefill into smaller batches");
}

void CudaBackend::ensure_scratch(int T, int S) {
    const ModelConfig& c = weights_->config;
    const int64_t C = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
    const int64_t q_dim = int64_t(c.n_heads) * c.head_dim, kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
    bool realloc = false;
    if (T > scratch_T_) {
        const std::string what = "activations of a " + std::to_string(T) + "-token step";
        const int d = options_.device;
        realloc |= x_.reserve(T * C, what, d);
        realloc |= xn_.reserve(T * C, what, d);
        realloc |= qkv_.reserve(T * (q_dim + 2 * kv_dim), what, d);
        realloc |= q_.reserve(T * q_dim, what, d);
        realloc |= att_.reserve(T * q_dim, what, d);
        realloc |= proj_.reserve(T * C, what, d);
        realloc |= gu_.reserve(T * 2 * I, what, d);
        realloc |= act_.reserve(T * I, what, d);
        realloc |= xb_.reserve(T * std::max({C, I, q_dim}), what, d);
        int max_r = 0;
        for (const auto& ad : adapters_)
            for (const auto& layer : ad->layers)
                for (const LoraPair& p : layer) max_r = std::max(max_r, p.r);
        realloc |= lora_u_.reserve(std::max<int64_t>(1, int64_t(T) * max_r), what, d);
        scratch_T_ = T;
    }
    if (S > scratch_S_) {
        realloc |= logits_.reserve(S * V, "the logits of " + std::to_string(S) + " sequences", options_.device);
        if (dec_max_splits_ > 0)
            realloc |= partial_.reserve(attention_decode_partial_floats(S, c.n_heads, c.head_dim, dec_max_splits_),
                                        "split-K attention partials", options_.device);
        scratch_S_ = S;
    }
    realloc |= ints_.reserve(7 * int64_t(T) + S, "step indices", options_.device);  // tiles + single rows <= 2T
    realloc |=
        coefs_.reserve(std::max<int64_t>(1, int64_t(adapters_.size()) * T), "LoRA coefficients", options_.device);
    if (realloc) ++scratch_gen_;
}

// y (T, m.n_out) = x m^T (bf16 inputs xb, fp32 accumulation), plus the unmerged LoRA terms
// sum_a base_scale_a * diag(coef_a) (x A_a^T) B_a^T computed from the fp32 input x.
void CudaBackend::project(const DeviceMatrix& m, const uint16_t* xb, const float* x, int T, float* y, int layer,
                          LoraTarget target) {
    gemm_bf16(m.w, xb, T, m.n_in, m.n_out, y, m.n_out, 0.0f);
    lora_add(x, m.n_in, T, y, m.n_out, m.n_out, layer, target);
}

bool CudaBackend::has_lora(int layer, LoraTarget target) const {
    for (size_t a = 0; a < adapters_.size(); ++a)
        if (lora_active_[a] && lora_[a][size_t(layer)][size_t(target)].r > 0) return true;
    return false;
}

void CudaBackend::residual_project(const DeviceMatrix& m, const float* x, int T, int layer, LoraTarget target) {
    if (!has_lora(layer, target)) {
        // x_ += xb m^T as the product's beta = 1: fl(x + fl(sum)), the same value as a separate add
        gemm_bf16(m.w, xb_.ptr, T, m.n_in, m.n_out, x_.ptr, m.n_out, 1.0f);
        return;
    }
    // With LoRA the product and its low-rank terms are summed first, as the CPU backend does.
    project(m, xb_.ptr, x, T, proj_.ptr, layer, target);
    add_f32_cuda(x_.ptr, proj_.ptr, int64_t(T) * m.n_out, stream_);
}

void CudaBackend::lora_add(const float* x, int n_in, int T, float* y, int n_out, int ldy, int layer,
                           LoraTarget target) {
    for (size_t a = 0; a < adapters_.size(); ++a) {
        if (!lora_active_[a]) continue;
        const DeviceLoraPair& p = lora_[a][size_t(layer)][size_t(target)];
        if (p.r == 0) continue;
        gemm_f32(p.a, x, T, n_in, p.r, lora_u_.ptr, p.r, 1.0f, 0.0f);
        scale_rows_f32_cuda(lora_u_.ptr, lora_coef_dev_ + int64_t(a) * T, T, p.r, stream_);
        gemm_f32(p.b, lora_u_.ptr, T, p.r, n_out, y, ldy, p.base_scale, 1.0f);
    }
}

void CudaBackend::forward(const BackendBatch& batch, float* logits) {
    DeviceScope on(options_.device);
    const int S = run_step(batch);
    if (S == 0) return;
    if (logits) {
        CUDA_CHECK(cudaMemcpyAsync(logits, logits_.ptr, size_t(S) * size_t(weights_->config.vocab_size) * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream_));
        synchronize();
    }
}

void CudaBackend::forward_greedy(const BackendBatch& batch, int32_t* tokens) {
    DeviceScope on(options_.device);
    const int S = run_step(batch);
    if (S == 0) return;
    picks_.reserve(S, "greedy tokens", options_.device);
    argmax_rows_f32_cuda(logits_.ptr, S, weights_->config.vocab_size, picks_.ptr, stream_);
    CUDA_CHECK(cudaMemcpyAsync(tokens, picks_.ptr, size_t(S) * sizeof(int32_t), cudaMemcpyDeviceToHost, stream_));
    synchronize();
    for (int s = 0; s < S; ++s)
        if (tokens[s] < 0)
            throw Error("sampling: the logits of sequence " + std::to_string(s) + " (slot " +
                            std::to_string(batch.slots[size_t(s)]) + ") hold a NaN",
                        "the backend produced non-finite values; check the weights and the backend");
}

void CudaBackend::forward_sample(const BackendBatch& batch, const std::vector<SampleRow>& rows, int32_t* tokens) {
    DeviceScope on(options_.device);
    if (rows.size() != batch.slots.size())
        throw Error("CudaBackend::forward_sample: " + std::to_string(rows.size()) + " sampling rows for " +
                    std::to_string(batch.slots.size()) + " sequences");
    for (const SampleRow& r : rows) sampling_validate_params(r.params);
    const int S = run_step(batch);
    if (S == 0) return;
    const int V = weights_->config.vocab_size;
    h_sample_rows_.resize(size_t(S));
    for (int s = 0; s < S; ++s) {
        const SampleRow& r = rows[size_t(s)];
        h_sample_rows_[size_t(s)] = cuda_sample_row(r.params, r.seq_id, r.position);
    }
    sample_rows_.reserve(S, "sampling parameters", options_.device);
    picks_.reserve(2 * int64_t(S), "sampled tokens", options_.device);
    CUDA_CHECK(cudaMemcpyAsync(sample_rows_.ptr, h_sample_rows_.data(), size_t(S) * sizeof(CudaSampleRow),
                               cudaMemcpyHostToDevice, stream_));
    sample_rows_f32_cuda(logits_.ptr, S, V, sample_rows_.ptr, picks_.ptr, picks_.ptr + S, stream_);
    h_picks_.resize(2 * size_t(S));
    CUDA_CHECK(cudaMemcpyAsync(h_picks_.data(), picks_.ptr, h_picks_.size() * sizeof(int32_t), cudaMemcpyDeviceToHost,
                               stream_));
    synchronize();
    std::vector<float> row;
    for (int s = 0; s < S; ++s) {
        const int32_t nan_id = h_picks_[size_t(S + s)];
        if (nan_id >= 0)
            throw Error("sampling: logit of token " + std::to_string(nan_id) + " is NaN (sequence " +
                            std::to_string(s) + ", slot " + std::to_string(batch.slots[size_t(s)]) + ")",
                        "the backend produced non-finite values; check the weights and the backend");
        tokens[s] = h_picks_[size_t(s)];
        if (tokens[s] >= 0) continue;
        // Wider than the device's window (a large top_k or a flat nucleus): this row on the host.
        row.resize(size_t(V));
        CUDA_CHECK(
            cudaMemcpy(row.data(), logits_.ptr + int64_t(s) * V, size_t(V) * sizeof(float), cudaMemcpyDeviceToHost));
        const SampleRow& r = rows[size_t(s)];
        tokens[s] = sampling_make_chain(r.params, r.seq_id)->sample(row.data(), V, r.position);
    }
}

void CudaBackend::forward_hidden(const BackendBatch& batch, const BackendHiddenRequest& request, float* hidden) {
    DeviceScope on(options_.device);
    HiddenRun run;
    run.layer_end = backend_hidden_layer_end(request, weights_->config.n_layers, "CudaBackend::forward_hidden");
    run.layer_begin = request.layer_begin;
    run.input = request.input;
    run.hidden = hidden;
    run_step(batch, &run);
    synchronize();  // the copies into `hidden` are complete
}

int CudaBackend::run_step(const BackendBatch& batch, const HiddenRun* hidden_run) {
    check_batch(batch);  // everything that can fail on the host is checked before the cache changes
    const int S = int(batch.slots.size());
    if (S == 0) return 0;

    // ---- token bookkeeping on the host: id, slot, absolute position, context length per token ----
    int T = 0;
    for (const auto& t : batch.tokens) T += int(t.size());
    synchronize();  // the previous step may still read the staging buffers
    ensure_scratch(T, S);
    h_ints_.assign(size_t(4 * T + S), 0);
    int32_t *tok_id = h_ints_.data(), *tok_slot = tok_id + T, *tok_pos = tok_slot + T, *row_n_ctx = tok_pos + T,
            *last_tok = row_n_ctx + T;
    std::vector<int32_t> tile_first, tile_count, single_rows;
    int t = 0;
    for (int s = 0; s < S; ++s) {
        const int slot = batch.slots[size_t(s)];
        const int start = slots_[size_t(slot)].len;
        for (size_t i = 0; i < batch.tokens[size_t(s)].size(); ++i, ++t) {
            tok_id[t] = batch.tokens[size_t(s)][i];
            tok_slot[t] = slot;
            tok_pos[t] = start + int(i);
            row_n_ctx[t] = start + int(i) + 1;
        }
        last_tok[s] = t - 1;
        // Prefill steps (T > S; decode steps, which CUDA graphs capture, read no list): a sequence
        // feeding several tokens goes through the tiled kernel in tiles of prefill_tile_rows_
        // consecutive tokens, a sequence feeding one through the per-row kernel, so a decode row
        // is computed the same way whatever else shares the step.
        const int n_s = int(batch.tokens[size_t(s)].size());
        if (prefill_tile_rows_ > 0 && T > S) {
            if (n_s == 1) single_rows.push_back(t - 1);
            for (int i = 0; n_s > 1 && i < n_s; i += prefill_tile_rows_) {
                tile_first.push_back(t - n_s + i);
                tile_count.push_back(std::min(prefill_tile_rows_, n_s - i));
            }
        }
    }
    step_tiles_ = int(tile_first.size());
    step_single_ = int(single_rows.size());
    h_ints_.insert(h_ints_.end(), tile_first.begin(), tile_first.end());
    h_ints_.insert(h_ints_.end(), tile_count.begin(), tile_count.end());
    h_ints_.insert(h_ints_.end(), single_rows.begin(), single_rows.end());
    // Unmerged LoRA coefficients per (adapter, token); an adapter nobody uses this step costs nothing.
    lora_active_.assign(adapters_.size(), false);
    h_coefs_.assign(std::max<size_t>(1, adapters_.size() * size_t(T)), 0.0f);
    if (!batch.lora_coefs.empty()) {
        t = 0;
        for (int s = 0; s < S; ++s) {
            const auto& coefs = batch.lora_coefs[size_t(s)];
            for (size_t i = 0; i < batch.tokens[size_t(s)].size(); ++i, ++t)
                for (size_t a = 0; a < coefs.size(); ++a) {
                    h_coefs_[a * size_t(T) + size_t(t)] = coefs[a];
                    if (coefs[a] != 0.0f) lora_active_[a] = true;
                }
        }
    }
    CUDA_CHECK(
        cudaMemcpyAsync(ints_.ptr, h_ints_.data(), h_ints_.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream_));
    if (!adapters_.empty())  // only the unmerged LoRA terms read the coefficients
        CUDA_CHECK(cudaMemcpyAsync(coefs_.ptr, h_coefs_.data(), h_coefs_.size() * sizeof(float), cudaMemcpyHostToDevice,
                                   stream_));
    lora_coef_dev_ = coefs_.ptr;
    // Decode steps without LoRA replay a captured CUDA graph (one launch instead of ~20 per layer).
    const bool any_lora = std::find(lora_active_.begin(), lora_active_.end(), true) != lora_active_.end();
    cudaGraphExec_t graph = T == S && !any_lora && !hidden_run ? decode_graph(S) : nullptr;
    if (graph) {
        CUDA_CHECK(cudaGraphLaunch(graph, stream_));
        ++graph_replays_;
    } else {
        enqueue_step(T, S, hidden_run);
    }
    CUDA_CHECK(cudaGetLastError());
    if (hidden_run) return S;  // forward_hidden keeps no positions (the K/V rows past len are unused)

    // The step was enqueued without error: the new positions are now part of each sequence.
    for (int s = 0; s < S; ++s) slots_[size_t(batch.slots[size_t(s)])].len += int(batch.tokens[size_t(s)].size());
    return S;
}

void CudaBackend::enqueue_step(int T, int S, const HiddenRun* hidden_run) {
    const ModelConfig& cfg = weights_->config;
    const int C = cfg.hidden_size, H = cfg.n_heads, Hkv = cfg.n_kv_heads, D = cfg.head_dim;
    const int I = cfg.intermediate_size, V = cfg.vocab_size;
    const int q_dim = H * D, kv_dim = Hkv * D;
    const float eps = cfg.rms_norm_eps, attn_scale = 1.0f / std::sqrt(float(D));
    const int64_t slot_stride = int64_t(max_seq_len_) * kv_dim;
    const int32_t *d_id = ints_.ptr, *d_slot = d_id + T, *d_pos = d_slot + T, *d_n_ctx = d_pos + T,
                  *d_last = d_n_ctx + T;
    // Decode steps (T == S) take the per-row kernel over all rows; prefill steps the tiled kernel
    // plus the per-row kernel over the listed single-token rows.
    const bool tiled = T > S && step_tiles_ > 0;
    const int n_tiles = tiled ? step_tiles_ : 0, n_single = tiled ? step_single_ : 0;
    const int32_t *d_tile_first = d_last + S, *d_tile_count = d_tile_first + n_tiles,
                  *d_single = d_tile_count + n_tiles;

    // Embedding lookup: x[t] = E[token_t]                              x is (T, C)
    // (forward_hidden from a later layer: x is its input)
    if (hidden_run && hidden_run->input)
        CUDA_CHECK(cudaMemcpyAsync(x_.ptr, hidden_run->input, size_t(T) * size_t(C) * sizeof(float),
                                   cudaMemcpyHostToDevice, stream_));
    else
        get_rows_bf16_f32_cuda(embed_.w, d_id, T, C, V, x_.ptr, stream_);
    const int layer_begin = hidden_run ? hidden_run->layer_begin : 0;
    const int layer_end = hidden_run ? hidden_run->layer_end : cfg.n_layers;

    // Launches per layer without LoRA (9; 4 are products): norm (+ bf16), the q/k/v product,
    // split + RoPE + append, attention (+ bf16), the o product accumulating into x, norm (+ bf16),
    // the gate/up product, SwiGLU (+ bf16), the down product accumulating into x. The fp32 copies
    // of the products' inputs (xn, act) are written only for the unmerged LoRA terms, which read
    // them.
    for (int l = layer_begin; l < layer_end; ++l) {
        const DeviceLayer& L = layers_[size_t(l)];

        // ---- attention block ----
        // xn = RMSNorm(x) * attn_norm (bf16 in xb); [q | k | v] = xn [Wq; Wk; Wv]^T in one GEMM
        // (+ LoRA per column block)
        const bool lora_qkv = has_lora(l, LORA_TARGET_Q) || has_lora(l, LORA_TARGET_K) || has_lora(l, LORA_TARGET_V);
        rms_norm_rows_cuda(x_.ptr, nullptr, L.attn_norm, lora_qkv ? xn_.ptr : nullptr, xb_.ptr, T, C, eps, stream_);
        const int qkv_dim = L.qkv.n_out;
        gemm_bf16(L.qkv.w, xb_.ptr, T, C, qkv_dim, qkv_.ptr, qkv_dim, 0.0f);
        lora_add(xn_.ptr, C, T, qkv_.ptr, q_dim, qkv_dim, l, LORA_TARGET_Q);
        lora_add(xn_.ptr, C, T, qkv_.ptr + q_dim, kv_dim, qkv_dim, l, LORA_TARGET_K);
        lora_add(xn_.ptr, C, T, qkv_.ptr + q_dim + kv_dim, kv_dim, qkv_dim, l, LORA_TARGET_V);
        // q, k, v with their biases, RoPE on q and k at each token's absolute position, K/V into
        // the cache at (slot, pos)
        qkv_rope_append_cuda(kv_type_, qkv_.ptr, L.q_bias, L.k_bias, L.v_bias, d_slot, d_pos, T, H, Hkv, D,
                             cfg.rope_theta, q_.ptr, slot_stride, k_cache_[size_t(l)], v_cache_[size_t(l)], stream_);
        // Causal GQA attention: token t attends to positions 0..pos_t of its slot   att is (T, H, D)
        // (prefill: tiles of consecutive tokens share each K/V tile; decode: one block per row)
        if (tiled) {
            attention_prefill_cuda(kv_type_, q_.ptr, k_cache_[size_t(l)], v_cache_[size_t(l)], slot_stride, d_slot,
                                   d_n_ctx, d_tile_first, d_tile_count, n_tiles, H, Hkv, D, attn_scale, att_.ptr,
                                   stream_, xb_.ptr);
            if (n_single > 0) decode_attention(l, d_single, n_single, d_slot, d_n_ctx);
        } else if (T == S) {
            decode_attention(l, nullptr, T, d_slot, d_n_ctx);
        } else {
            attention_rows_cuda(kv_type_, q_.ptr, k_cache_[size_t(l)], v_cache_[size_t(l)], slot_stride, nullptr,
                                d_slot, d_n_ctx, T, H, Hkv, D, attn_scale, att_.ptr, stream_, xb_.ptr);
        }
        // x = x + att Wo^T (att's bf16 rounding, written by the attention kernels, in xb)
        residual_project(L.o, att_.ptr, T, l, LORA_TARGET_O);

        // ---- MLP block (SwiGLU) ----
        const bool lora_gu = has_lora(l, LORA_TARGET_GATE) || has_lora(l, LORA_TARGET_UP);
        rms_norm_rows_cuda(x_.ptr, nullptr, L.ffn_norm, lora_gu ? xn_.ptr : nullptr, xb_.ptr, T, C, eps, stream_);
        // [gate | up] in one GEMM (+ LoRA per column block); act = silu(gate) * up    act is (T, I)
        gemm_bf16(L.gate_up.w, xb_.ptr, T, C, 2 * I, gu_.ptr, 2 * I, 0.0f);
        lora_add(xn_.ptr, C, T, gu_.ptr, I, 2 * I, l, LORA_TARGET_GATE);
        lora_add(xn_.ptr, C, T, gu_.ptr + I, I, 2 * I, l, LORA_TARGET_UP);
        swiglu_f32_cuda(gu_.ptr, T, I, has_lora(l, LORA_TARGET_DOWN) ? act_.ptr : nullptr, stream_, xb_.ptr);
        // x = x + act Wdown^T
        residual_project(L.down, act_.ptr, T, l, LORA_TARGET_DOWN);
        if (hidden_run)
            CUDA_CHECK(cudaMemcpyAsync(hidden_run->hidden + int64_t(l - layer_begin) * T * C, x_.ptr,
                                       size_t(T) * size_t(C) * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    }
    if (hidden_run) return;

    // ---- head: only each sequence's last position ----
    rms_norm_rows_cuda(x_.ptr, d_last, final_norm_, nullptr, xb_.ptr, S, C, eps, stream_);
    gemm_bf16(lm_head_.w, xb_.ptr, S, C, V, logits_.ptr, V, 0.0f);
}

// Attention of one-token rows (all rows of a decode step, or the listed ones of a prefill step):
// split-K when on, else the per-row kernel. The same kernel either way, so a decode row's result
// does not depend on what else shares the step.
void CudaBackend::decode_attention(int l, const int32_t* d_rows, int n_rows, const int32_t* d_slot,
                                   const int32_t* d_n_ctx) {
    const ModelConfig& cfg = weights_->config;
    const int H = cfg.n_heads, Hkv = cfg.n_kv_heads, D = cfg.head_dim;
    const float attn_scale = 1.0f / std::sqrt(float(D));
    const int64_t slot_stride = int64_t(max_seq_len_) * Hkv * D;
    if (dec_max_splits_ > 0)
        attention_decode_split_cuda(kv_type_, q_.ptr, k_cache_[size_t(l)], v_cache_[size_t(l)], slot_stride, d_rows,
                                    d_slot, d_n_ctx, n_rows, H, Hkv, D, attn_scale, dec_split_len_, dec_max_splits_,
                                    partial_.ptr, att_.ptr, stream_, xb_.ptr);
    else
        attention_rows_cuda(kv_type_, q_.ptr, k_cache_[size_t(l)], v_cache_[size_t(l)], slot_stride, d_rows, d_slot,
                            d_n_ctx, n_rows, H, Hkv, D, attn_scale, att_.ptr, stream_, xb_.ptr);
}

cudaGraphExec_t CudaBackend::decode_graph(int S) {
    if (!graphs_on_) return nullptr;
    if (graphs_gen_ != scratch_gen_) {  // a scratch buffer moved: the captured addresses are stale
        drop_graphs();
        graphs_gen_ = scratch_gen_;
    }
    auto it = graphs_.find(S);
    if (it != graphs_.end()) return it->second;
    if (graph_warm_.insert(S).second) return nullptr;  // first time: eager (warm-up), capture next time
    auto give_up = [&](const std::string& why) -> cudaGraphExec_t {
        cudaGetLastError();  // clear the error so eager steps are not poisoned
        graphs_on_ = false;
        std::fprintf(stderr, "adabench: CUDA graph capture failed (%s); decode steps run without graphs\n",
                     why.c_str());
        return nullptr;
    };
    CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    cudaGraph_t g = nullptr;
    try {
        enqueue_step(S, S);
    } catch (const std::exception& e) {
        cudaStreamEndCapture(stream_, &g);
        if (g) cudaGraphDestroy(g);
        return give_up(e.what());
    }
    cudaError_t err = cudaStreamEndCapture(stream_, &g);
    cudaGraphExec_t exec = nullptr;
    size_t n_nodes = 0;
    if (err == cudaSuccess) err = cudaGraphGetNodes(g, nullptr, &n_nodes);
    if (err == cudaSuccess) err = cudaGraphInstantiate(&exec, g, 0);
    if (g) cudaGraphDestroy(g);
    if (err != cudaSuccess) return give_up(cudaGetErrorString(err));
    graphs_.emplace(S, exec);
    graph_nodes_[S] = int64_t(n_nodes);
    return exec;
}

// ---- composition on the device (Backend::compose) ----
//
// The sources (the model, the merge models, the merged adapters) are uploaded once: matrices as
// bf16, norms and biases as fp32, each tensor in its own 256-byte aligned slot of one store per
// model, adapters' A/B as fp32. compose() then rewrites every live tensor from them: the merge in
// fp32 (compose.cuh), the merged-LoRA terms added to an fp32 copy of the merged projection with one
// SGEMM per adapter, and a single rounding to bf16 into the live store. The live weights are
// addressed through the per-projection DeviceMatrix pointers only (no assumption about where the
// projections lie in the store). The KV cache is re-sized around the sources when they arrive.

namespace {

enum ComposeSlot {
    COMPOSE_SLOT_EMBED,
    COMPOSE_SLOT_LM_HEAD,  // only when the live weights have their own lm_head
    COMPOSE_SLOT_FINAL_NORM,
    COMPOSE_SLOT_MATRIX,  // a decoder projection (target)
    COMPOSE_SLOT_ATTN_NORM,
    COMPOSE_SLOT_FFN_NORM,
    COMPOSE_SLOT_Q_BIAS,
    COMPOSE_SLOT_K_BIAS,
    COMPOSE_SLOT_V_BIAS,
};

// One tensor of the composition with its depth position t (merge.h: embedding 0, layer l of n
// l / (n - 1), final norm and lm_head 1).
struct ComposeItem {
    ComposeSlot slot = COMPOSE_SLOT_EMBED;
    int layer = -1;
    LoraTarget target = LORA_TARGET_COUNT;
    double t = 0.0;
    int64_t numel = 0;
    bool matrix() const {
        return slot == COMPOSE_SLOT_EMBED || slot == COMPOSE_SLOT_LM_HEAD || slot == COMPOSE_SLOT_MATRIX;
    }
};

const Tensor& compose_item_tensor(const ModelWeights& w, const ComposeItem& it) {
    switch (it.slot) {
        case COMPOSE_SLOT_EMBED:
            return w.embed_tokens;
        case COMPOSE_SLOT_LM_HEAD:
            return w.lm_head;
        case COMPOSE_SLOT_FINAL_NORM:
            return w.final_norm;
        case COMPOSE_SLOT_MATRIX:
            return lora_target_weight(w.layers[size_t(it.layer)], it.target);
        case COMPOSE_SLOT_ATTN_NORM:
            return w.layers[size_t(it.layer)].attn_norm;
        case COMPOSE_SLOT_FFN_NORM:
            return w.layers[size_t(it.layer)].ffn_norm;
        case COMPOSE_SLOT_Q_BIAS:
            return w.layers[size_t(it.layer)].q_bias;
        case COMPOSE_SLOT_K_BIAS:
            return w.layers[size_t(it.layer)].k_bias;
        case COMPOSE_SLOT_V_BIAS:
            return w.layers[size_t(it.layer)].v_bias;
    }
    throw Error("compose: unknown tensor slot");
}

std::vector<ComposeItem> compose_plan(const ModelWeights& w, bool separate_head, bool biases) {
    std::vector<ComposeItem> plan;
    auto add = [&](ComposeSlot slot, int layer, LoraTarget target, double t) {
        ComposeItem it;
        it.slot = slot;
        it.layer = layer;
        it.target = target;
        it.t = t;
        it.numel = compose_item_tensor(w, it).numel();
        plan.push_back(it);
    };
    const int n = w.config.n_layers;
    add(COMPOSE_SLOT_EMBED, -1, LORA_TARGET_COUNT, 0.0);
    for (int l = 0; l < n; ++l) {
        const double t = merge_layer_t(l, n);
        for (int k = 0; k < LORA_TARGET_COUNT; ++k) add(COMPOSE_SLOT_MATRIX, l, LoraTarget(k), t);
        add(COMPOSE_SLOT_ATTN_NORM, l, LORA_TARGET_COUNT, t);
        add(COMPOSE_SLOT_FFN_NORM, l, LORA_TARGET_COUNT, t);
        if (biases)
            for (ComposeSlot b : {COMPOSE_SLOT_Q_BIAS, COMPOSE_SLOT_K_BIAS, COMPOSE_SLOT_V_BIAS})
                add(b, l, LORA_TARGET_COUNT, t);
    }
    add(COMPOSE_SLOT_FINAL_NORM, -1, LORA_TARGET_COUNT, 1.0);
    if (separate_head) add(COMPOSE_SLOT_LM_HEAD, -1, LORA_TARGET_COUNT, 1.0);
    return plan;
}

// One source model on the device: ptrs[i] is plan item i (nullptr for an lm_head it does not need).
struct DeviceComposeModel {
    DeviceBuffer<uint16_t> mats;
    DeviceBuffer<float> vecs;
    std::vector<const void*> ptrs;
    int64_t bytes = 0;
};

std::unique_ptr<DeviceComposeModel> compose_upload_model(const ModelWeights& w, const std::vector<ComposeItem>& plan,
                                                         bool with_head, int device) {
    auto align = [](int64_t n) { return (n + 127) / 128 * 128; };  // 256-byte aligned slots
    auto wanted = [&](const ComposeItem& it) { return it.slot != COMPOSE_SLOT_LM_HEAD || with_head; };
    int64_t mat_elems = 0, vec_elems = 0;
    for (const auto& it : plan) {
        if (!wanted(it)) continue;
        (it.matrix() ? mat_elems : vec_elems) += align(it.numel);
    }
    auto m = std::make_unique<DeviceComposeModel>();
    const std::string what = "the composition source " + w.source;
    m->mats.reserve(mat_elems, what + " (bf16 matrices)", device);
    m->vecs.reserve(vec_elems, what + " (fp32 norms and biases)", device);
    m->bytes = mat_elems * 2 + vec_elems * 4;
    int64_t mat_off = 0, vec_off = 0;
    for (const auto& it : plan) {
        if (!wanted(it)) {
            m->ptrs.push_back(nullptr);
            continue;
        }
        const Tensor& t = compose_item_tensor(w, it);
        if (t.numel() != it.numel)
            throw Error("compose: tensor '" + t.name + "' of " + w.source + " has " + std::to_string(t.numel()) +
                            " elements, the model has " + std::to_string(it.numel),
                        "the composition sources must share every shape");
        if (it.matrix()) {
            std::vector<uint16_t> h = to_bf16(t);
            CUDA_CHECK(
                cudaMemcpy(m->mats.ptr + mat_off, h.data(), h.size() * sizeof(uint16_t), cudaMemcpyHostToDevice));
            m->ptrs.push_back(m->mats.ptr + mat_off);
            mat_off += align(it.numel);
        } else {
            std::vector<float> h = to_f32(t);
            CUDA_CHECK(cudaMemcpy(m->vecs.ptr + vec_off, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
            m->ptrs.push_back(m->vecs.ptr + vec_off);
            vec_off += align(it.numel);
        }
    }
    return m;
}

}  // namespace

namespace {

struct CudaComposeState {
    std::vector<ComposeItem> plan;
    std::unique_ptr<DeviceComposeModel> model, with, base;
    DeviceBuffer<float> lora_store;                                                // every merged adapter's A and B
    std::vector<std::vector<std::array<DeviceLoraPair, LORA_TARGET_COUNT>>> lora;  // [adapter][layer][target]
    DeviceBuffer<float> temp;  // fp32 (n_out, n_in) of the largest adapted projection
    int64_t bytes = 0;
};

void CudaComposeStateFree::operator()(CudaComposeState* s) const { delete s; }

}  // namespace

int64_t CudaBackend::compose_source_bytes() const { return compose_state_ ? compose_state_->bytes : 0; }

void CudaBackend::release_cache() {
    synchronize();
    drop_graphs();
    ++scratch_gen_;  // graphs captured the cache addresses
    k_store_.clear();
    v_store_.clear();
    k_cache_.clear();
    v_cache_.clear();
    slots_.clear();
    cache_bytes_ = 0;
}

void CudaBackend::upload_compose_sources(const ComposeSources& s) {
    const int d = options_.device;
    const bool tied = weights_->config.tie_word_embeddings;
    std::unique_ptr<CudaComposeState, CudaComposeStateFree> st(new CudaComposeState);
    st->plan = compose_plan(*s.model, lm_head_.w != embed_.w, !layers_.empty() && layers_[0].q_bias);
    st->model = compose_upload_model(*s.model, st->plan, true, d);
    st->bytes += st->model->bytes;
    if (s.merge_with) {
        st->with = compose_upload_model(*s.merge_with, st->plan, !tied, d);
        st->bytes += st->with->bytes;
    }
    if (s.merge_base) {
        st->base = compose_upload_model(*s.merge_base, st->plan, !tied, d);
        st->bytes += st->base->bytes;
    }
    int64_t elems = 0, temp = 0;
    for (const auto& ad : s.merged_adapters)
        for (const auto& layer : ad->layers)
            for (const LoraPair& p : layer) {
                elems += int64_t(p.a.size() + p.b.size());
                if (!p.empty()) temp = std::max(temp, p.n_out * p.n_in);
            }
    st->lora_store.reserve(elems, "the merged LoRA adapters (fp32 A and B)", d);
    st->temp.reserve(temp, "the fp32 scratch of a merged-LoRA projection", d);
    st->bytes += (elems + temp) * int64_t(sizeof(float));
    int64_t off = 0;
    for (const auto& ad : s.merged_adapters) {
        std::vector<std::array<DeviceLoraPair, LORA_TARGET_COUNT>> pairs(ad->layers.size());
        for (size_t l = 0; l < ad->layers.size(); ++l) {
            for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
                const LoraPair& p = ad->layers[l][size_t(t)];
                if (p.empty()) continue;
                DeviceLoraPair& dp = pairs[l][size_t(t)];
                dp.r = p.r;
                dp.base_scale = p.base_scale;
                dp.a = st->lora_store.ptr + off;
                CUDA_CHECK(cudaMemcpy(dp.a, p.a.data(), p.a.size() * sizeof(float), cudaMemcpyHostToDevice));
                off += int64_t(p.a.size());
                dp.b = st->lora_store.ptr + off;
                CUDA_CHECK(cudaMemcpy(dp.b, p.b.data(), p.b.size() * sizeof(float), cudaMemcpyHostToDevice));
                off += int64_t(p.b.size());
            }
        }
        st->lora.push_back(std::move(pairs));
    }
    CUDA_CHECK(cudaDeviceSynchronize());  // pageable copies may return before the DMA lands
    compose_state_ = std::move(st);
}

void CudaBackend::set_compose_sources(ComposeSources sources) {
    DeviceScope on(options_.device);
    compose_check_sources(sources);
    const std::string who = "CudaBackend::set_compose_sources";
    backend_check_compose_config(config(), *sources.model, who);
    check_weights(*sources.model);
    const bool tied = weights_->config.tie_word_embeddings;
    const bool live_head = lm_head_.w != embed_.w, model_head = !tied;
    if (live_head != model_head)
        throw Error(who + ": " + sources.model->source + (model_head ? " has" : " has no") +
                        " lm_head of its own but the backend's weights (" + weights_->source + ")" +
                        (live_head ? " do" : " do not"),
                    "build the backend on the composition's model");
    const bool live_bias = !layers_.empty() && layers_[0].q_bias;
    if (live_bias != !sources.model->layers.at(0).q_bias.empty())
        throw Error(who + ": " + sources.model->source + " and the backend's weights (" + weights_->source +
                    ") differ in q/k/v biases");
    // The KV cache took the free memory at construction: free it, place the sources, size it again.
    compose_state_.reset();
    compose_sources_ = ComposeSources{};
    release_cache();
    try {
        upload_compose_sources(sources);
    } catch (...) {
        compose_state_.reset();
        release_cache();
        allocate_cache();
        throw;
    }
    try {
        allocate_cache();
    } catch (const Error& e) {
        const int64_t bytes = compose_source_bytes();
        compose_state_.reset();
        release_cache();  // a failure part-way leaves some layers allocated
        allocate_cache();
        throw Error(who + ": with the composition sources resident (" + mib(bytes) + ") " + e.what(),
                    "compose on the host instead (EngineFactoryOptions::compose_in_backend = false), or use "
                    "a shorter max_seq_len");
    }
    compose_sources_ = std::move(sources);  // the host copies, for compose_check_params
}

void* CudaBackend::compose_live_ptr(int item) const {
    const ComposeItem& it = compose_state_->plan[size_t(item)];
    switch (it.slot) {
        case COMPOSE_SLOT_EMBED:
            return embed_.w;
        case COMPOSE_SLOT_LM_HEAD:
            return lm_head_.w;
        case COMPOSE_SLOT_FINAL_NORM:
            return final_norm_;
        case COMPOSE_SLOT_MATRIX: {
            const DeviceLayer& L = layers_[size_t(it.layer)];
            const DeviceMatrix* m[LORA_TARGET_COUNT] = {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down};
            return m[it.target]->w;
        }
        case COMPOSE_SLOT_ATTN_NORM:
            return layers_[size_t(it.layer)].attn_norm;
        case COMPOSE_SLOT_FFN_NORM:
            return layers_[size_t(it.layer)].ffn_norm;
        case COMPOSE_SLOT_Q_BIAS:
            return layers_[size_t(it.layer)].q_bias;
        case COMPOSE_SLOT_K_BIAS:
            return layers_[size_t(it.layer)].k_bias;
        case COMPOSE_SLOT_V_BIAS:
            return layers_[size_t(it.layer)].v_bias;
    }
    throw Error("compose: unknown tensor slot");
}

void CudaBackend::compose(const ComposeParams& p) {
    DeviceScope on(options_.device);
    if (!compose_state_) throw Error("CudaBackend::compose: no composition sources", "call set_compose_sources first");
    compose_check_params(compose_sources_, p);
    const CudaComposeState& st = *compose_state_;
    const bool tied = weights_->config.tie_word_embeddings;
    synchronize();  // nothing of a previous step may still read the live weights
    for (size_t i = 0; i < st.plan.size(); ++i) {
        const ComposeItem& it = st.plan[i];
        void* dst = compose_live_ptr(int(i));
        const size_t bytes = size_t(it.numel) * (it.matrix() ? sizeof(uint16_t) : sizeof(float));
        if (it.slot == COMPOSE_SLOT_LM_HEAD && tied && p.merge != COMPOSE_MERGE_NONE) {
            // merge.h: a tied lm_head is the merged embedding (the embedding is plan item 0).
            CUDA_CHECK(cudaMemcpyAsync(dst, embed_.w, bytes, cudaMemcpyDeviceToDevice, stream_));
            continue;
        }
        ComposeTerms terms;
        const float lam = p.merge == COMPOSE_MERGE_NONE ? 0.0f : merge_lambda_at(p.lambda, it.t);
        if (p.merge == COMPOSE_MERGE_LINEAR) {
            terms.op = COMPOSE_OP_LINEAR;
            terms.n_src = 2;
            terms.src[0] = st.model->ptrs[i];
            terms.src[1] = st.with->ptrs[i];
            terms.coef[0] = lam;
            terms.coef[1] = 1.0f - lam;
        } else if (p.merge == COMPOSE_MERGE_TASK_ARITHMETIC) {
            // base + 1 * (model - base) + lambda * (merge_with - base), as engine_compose_weights.
            terms.op = COMPOSE_OP_TASK;
            terms.n_src = 3;
            terms.src[0] = st.base->ptrs[i];
            terms.src[1] = st.model->ptrs[i];
            terms.src[2] = st.with->ptrs[i];
            terms.coef[1] = 1.0f;
            terms.coef[2] = lam;
        } else {
            terms.op = COMPOSE_OP_COPY;
            terms.n_src = 1;
            terms.src[0] = st.model->ptrs[i];
        }
        std::vector<std::pair<const DeviceLoraPair*, float>> deltas;
        if (it.slot == COMPOSE_SLOT_MATRIX) {
            for (size_t a = 0; a < st.lora.size(); ++a) {
                const DeviceLoraPair& dp = st.lora[a][size_t(it.layer)][size_t(it.target)];
                if (dp.r == 0 || p.lora_coefs[a] == 0.0f) continue;
                deltas.emplace_back(&dp, p.lora_coefs[a] * dp.base_scale);  // LoraPair::scale
            }
        }
        if (!it.matrix()) {
            if (terms.op == COMPOSE_OP_COPY) {
                CUDA_CHECK(cudaMemcpyAsync(dst, terms.src[0], bytes, cudaMemcpyDeviceToDevice, stream_));
            } else {
                compose_merge_f32_cuda(terms, it.numel, static_cast<float*>(dst), stream_);
            }
        } else if (deltas.empty()) {
            if (terms.op == COMPOSE_OP_COPY) {
                CUDA_CHECK(cudaMemcpyAsync(dst, terms.src[0], bytes, cudaMemcpyDeviceToDevice, stream_));
            } else {
                compose_merge_bf16_cuda(terms, it.numel, static_cast<uint16_t*>(dst), nullptr, stream_);
            }
        } else {
            // Merged value in fp32, plus every adapter's delta, rounded to bf16 once.
            const Tensor& w = compose_item_tensor(*compose_sources_.model, it);
            const int n_out = int(w.shape[0]), n_in = int(w.shape[1]);
            compose_merge_bf16_cuda(terms, it.numel, nullptr, st.temp.ptr, stream_);
            for (const auto& [dp, scale] : deltas)
                compose_lora_delta_f32_cuda(cublas_, dp->a, dp->b, dp->r, n_in, n_out, scale, st.temp.ptr);
            convert_f32_bf16_cuda(st.temp.ptr, it.numel, static_cast<uint16_t*>(dst), stream_);
        }
    }
    CUDA_CHECK(cudaGetLastError());
    synchronize();
    for (auto& s : slots_) s = KvSlot{};  // the cache was computed with other weights
}

// ---- factory ----

std::unique_ptr<Backend> cuda_backend_create(std::shared_ptr<const ModelWeights> weights,
                                             const CudaBackendOptions& options) {
    return std::make_unique<CudaBackend>(std::move(weights), options);
}

static const CudaBackend& as_cuda(const Backend& b) {
    const auto* c = dynamic_cast<const CudaBackend*>(&b);
    if (!c) throw Error("not a CUDA backend");
    return *c;
}

int64_t cuda_backend_cache_bytes(const Backend& backend) { return as_cuda(backend).cache_bytes(); }
int64_t cuda_backend_compose_source_bytes(const Backend& backend) { return as_cuda(backend).compose_source_bytes(); }
int64_t cuda_backend_weight_bytes(const Backend& backend) { return as_cuda(backend).weight_bytes(); }
int cuda_backend_slots(const Backend& backend) { return as_cuda(backend).n_slots(); }

int64_t cuda_backend_graph_replays(const Backend& backend) { return as_cuda(backend).graph_replays(); }
int64_t cuda_backend_graph_nodes(const Backend& backend, int batch) { return as_cuda(backend).graph_nodes(batch); }
int cuda_backend_max_seq_len(const Backend& backend) { return as_cuda(backend).max_seq_len(); }
void cuda_backend_synchronize(Backend& backend) { const_cast<CudaBackend&>(as_cuda(backend)).synchronize(); }

void cuda_backend_register() {
    static std::once_flag once;
    std::call_once(once, [] {
        engine_register_backend("cuda", [](std::shared_ptr<const ModelWeights> w, const EngineFactoryOptions& o) {
            CudaBackendOptions co;
            co.max_seq_len = o.max_seq_len;
            co.max_slots = std::max(o.max_batch, 1) * 4 + 16;  // forks of budget sweeps need extra slots
            co.kv_cache_dtype = o.kv_cache_dtype;
            return std::shared_ptr<Backend>(cuda_backend_create(std::move(w), co));
        });
    });
}

}  // namespace adabench
