// CpuBackend outside the forward pass: weight checking and preparation, the KV-cache slots (alloc,
// free, fork, truncate) with their capacity limits, adapters and the device string. The forward pass
// is forward.cpp. Errors name the tensor or slot and say what to change.
#include "engines/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <new>
#include <thread>

#include "common/error.h"
#include "engines/backend_checks.h"

namespace adabench {

const char* cpu_precision_name(CpuPrecision p) { return p == CPU_PRECISION_FAST ? "fast" : "exact"; }

CpuPrecision cpu_precision_parse(const std::string& s) {
    if (s == "exact") return CPU_PRECISION_EXACT;
    if (s == "fast") return CPU_PRECISION_FAST;
    throw Error("unknown CPU precision '" + s + "'", "use exact (fp32 arithmetic) or fast (bf16 dot products)");
}

namespace {

CpuMatrix matrix_of(const Tensor& t) { return CpuMatrix{t.dtype, t.data, t.shape[0], t.shape[1]}; }

std::vector<float> vector_of(const Tensor& t) {
    std::vector<float> v(size_t(t.numel()));
    cpu_convert_f32(t.dtype, t.data, t.numel(), v.data());
    return v;
}

std::string cpu_model_name() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    while (std::getline(f, line)) {
        if (line.rfind("model name", 0) == 0) {
            auto pos = line.find(':');
            if (pos != std::string::npos && pos + 2 <= line.size()) return line.substr(pos + 2);
        }
    }
    return "x86-64 CPU";
}

}  // namespace

CpuBackend::CpuBackend(std::shared_ptr<const ModelWeights> weights, const CpuBackendOptions& options)
    : options_(options) {
    if (options_.n_threads <= 0) options_.n_threads = std::max(1u, std::thread::hardware_concurrency());
    if (options_.max_slots < 1) throw Error("CpuBackend: max_slots must be >= 1");
    if (options_.max_cache_bytes < 0) throw Error("CpuBackend: max_cache_bytes must be >= 0");
    CpuIsa isa = options_.isa < 0 ? cpu_isa_detect() : CpuIsa(options_.isa);
    kernels_ = &cpu_kernels(isa);
    matmul_mode_ = options_.precision == CPU_PRECISION_FAST ? CPU_MATMUL_BF16_DOT : CPU_MATMUL_EXACT;
    pool_ = std::make_unique<CpuThreadPool>(options_.n_threads);
    prepare_weights(std::move(weights));
}

CpuBackend::~CpuBackend() = default;

void CpuBackend::prepare_weights(std::shared_ptr<const ModelWeights> weights) {
    if (!weights) throw Error("CpuBackend: no weights given");
    const ModelWeights& w = *weights;
    const ModelConfig& c = w.config;
    backend_check_weights(w);  // shapes and config, before anything is touched
    const Tensor& head = backend_lm_head(w);

    std::vector<Layer> layers(size_t(c.n_layers));
    for (int l = 0; l < c.n_layers; ++l) {
        const LayerWeights& lw = w.layers[size_t(l)];
        Layer& L = layers[size_t(l)];
        L.q = matrix_of(lw.q_proj);
        L.k = matrix_of(lw.k_proj);
        L.v = matrix_of(lw.v_proj);
        L.o = matrix_of(lw.o_proj);
        L.gate = matrix_of(lw.gate_proj);
        L.up = matrix_of(lw.up_proj);
        L.down = matrix_of(lw.down_proj);
        L.attn_norm = vector_of(lw.attn_norm);
        L.ffn_norm = vector_of(lw.ffn_norm);
        if (c.attention_bias || !lw.q_bias.empty()) {
            L.q_bias = vector_of(lw.q_bias);
            L.k_bias = vector_of(lw.k_bias);
            L.v_bias = vector_of(lw.v_bias);
        }
    }

    // Only now, with everything checked, replace the current state.
    CpuMatrix lm_head = matrix_of(head);
    pack_panels(layers, lm_head);
    layers_ = std::move(layers);
    embed_ = matrix_of(w.embed_tokens);
    lm_head_ = lm_head;
    final_norm_ = vector_of(w.final_norm);
    max_seq_len_ = options_.max_seq_len > 0        ? options_.max_seq_len
                   : c.max_position_embeddings > 0 ? c.max_position_embeddings
                                                   : 32768;
    weights_ = std::move(weights);
    slots_.clear();
}

void CpuBackend::AlignedFree::operator()(uint16_t* p) const { std::free(p); }

// Copies every BF16 matrix into the panel layout the AVX-512 kernels stream (ops.h), once per
// weight set; the pool packs blocks of panels in parallel. Other kernels and dtypes read the views.
void CpuBackend::pack_panels(std::vector<Layer>& layers, CpuMatrix& lm_head) {
    // Free the old copies first (peak memory stays one copy); the current matrices fall back to
    // their views, so the backend stays usable with the old weights if allocation fails below.
    for (Layer& L : layers_)
        for (CpuMatrix* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) m->panels = nullptr;
    lm_head_.panels = nullptr;
    panels_.reset();
    panel_bytes_ = 0;
    if (!kernels_->uses_panels) return;
    std::vector<CpuMatrix*> mats;
    for (Layer& L : layers)
        for (CpuMatrix* m : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) mats.push_back(m);
    mats.push_back(&lm_head);
    std::vector<int64_t> offset;
    int64_t total = 0;
    for (CpuMatrix* m : mats) {
        offset.push_back(total);
        if (m->dtype == DTYPE_BF16) total += cpu_panels_size(m->n_out, m->n_in);
    }
    if (total == 0) return;
    // 2 MiB aligned and marked for transparent huge pages: fewer page faults while packing and
    // fewer TLB misses while streaming (where the kernel allows it; a hint, not a requirement).
    constexpr size_t kHuge = size_t(2) << 20;
    const size_t bytes = (size_t(total) * sizeof(uint16_t) + kHuge - 1) / kHuge * kHuge;
    void* mem = std::aligned_alloc(kHuge, bytes);
    if (!mem) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(mem, bytes, MADV_HUGEPAGE);
#endif
    panels_.reset(static_cast<uint16_t*>(mem));
    panel_bytes_ = int64_t(bytes);
    // work items: (matrix, block of kBlock panels)
    constexpr int64_t kBlock = 64;
    std::vector<std::pair<int, int64_t>> items;
    for (size_t i = 0; i < mats.size(); ++i) {
        if (mats[i]->dtype != DTYPE_BF16) continue;
        int64_t n_panels = (mats[i]->n_out + kCpuPanelRows - 1) / kCpuPanelRows;
        for (int64_t p = 0; p < n_panels; p += kBlock) items.emplace_back(int(i), p);
    }
    uint16_t* base = panels_.get();
    pool_->run(int(items.size()), [&](int it) {
        const CpuMatrix& m = *mats[size_t(items[size_t(it)].first)];
        int64_t p0 = items[size_t(it)].second;
        int64_t n_panels = (m.n_out + kCpuPanelRows - 1) / kCpuPanelRows;
        cpu_pack_panels(m, p0, std::min(p0 + kBlock, n_panels), base + offset[size_t(items[size_t(it)].first)]);
    });
    for (size_t i = 0; i < mats.size(); ++i)
        if (mats[i]->dtype == DTYPE_BF16) mats[i]->panels = base + offset[i];
}

std::string CpuBackend::device() const {
    return cpu_model_name() + " (" + std::to_string(pool_->size()) + " threads, " + cpu_isa_name(kernels_->isa) + ", " +
           cpu_precision_name(options_.precision) + ")";
}

// ---- KV-cache slots ----

CpuKvSlot& CpuBackend::slot_ref(int slot, const char* what) {
    return const_cast<CpuKvSlot&>(static_cast<const CpuBackend*>(this)->slot_ref(slot, what));
}

const CpuKvSlot& CpuBackend::slot_ref(int slot, const char* what) const {
    if (slot < 0 || slot >= int(slots_.size()) || !slots_[size_t(slot)].used)
        throw Error(std::string("CpuBackend::") + what + ": slot " + std::to_string(slot) + " is not allocated",
                    "use an id returned by seq_alloc or seq_fork that was not freed (set_weights frees all slots)");
    return slots_[size_t(slot)];
}

int64_t CpuBackend::cache_bytes() const {
    const ModelConfig& c = weights_->config;
    int64_t tokens = 0;
    for (const auto& s : slots_)
        if (s.used) tokens += s.len;
    return tokens * 2 * c.n_layers * c.n_kv_heads * c.head_dim * int64_t(sizeof(float));
}

int CpuBackend::seq_alloc() {
    const int n_layers = weights_->config.n_layers;
    for (size_t i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].used) {
            slots_[i].used = true;
            slots_[i].len = 0;
            slots_[i].k.assign(size_t(n_layers), {});
            slots_[i].v.assign(size_t(n_layers), {});
            return int(i);
        }
    }
    if (int(slots_.size()) >= options_.max_slots)
        throw Error("KV cache full: all " + std::to_string(options_.max_slots) + " sequence slots are in use",
                    "free finished sequences or raise CpuBackendOptions::max_slots");
    CpuKvSlot s;
    s.used = true;
    s.k.assign(size_t(n_layers), {});
    s.v.assign(size_t(n_layers), {});
    slots_.push_back(std::move(s));
    return int(slots_.size()) - 1;
}

void CpuBackend::seq_free(int slot) {
    CpuKvSlot& s = slot_ref(slot, "seq_free");
    s = CpuKvSlot{};  // releases the memory
}

int CpuBackend::seq_fork(int slot) {
    const CpuKvSlot& src = slot_ref(slot, "seq_fork");
    const ModelConfig& c = weights_->config;
    int64_t extra = int64_t(src.len) * 2 * c.n_layers * c.n_kv_heads * c.head_dim * int64_t(sizeof(float));
    if (cache_bytes() + extra > options_.max_cache_bytes)
        throw Error("KV cache full: forking slot " + std::to_string(slot) + " (" + std::to_string(src.len) +
                        " tokens) would exceed " + std::to_string(options_.max_cache_bytes >> 20) + " MiB",
                    "free finished sequences or raise CpuBackendOptions::max_cache_bytes");
    int dst = seq_alloc();  // may reallocate slots_: copy by index afterwards
    CpuKvSlot& d = slots_[size_t(dst)];
    const CpuKvSlot& s = slots_[size_t(slot)];
    d.len = s.len;
    d.k = s.k;
    d.v = s.v;
    return dst;
}

int CpuBackend::seq_len(int slot) const { return slot_ref(slot, "seq_len").len; }

void CpuBackend::seq_truncate(int slot, int n) {
    CpuKvSlot& s = slot_ref(slot, "seq_truncate");
    if (n < 0 || n > s.len)
        throw Error("CpuBackend::seq_truncate: slot " + std::to_string(slot) + " has " + std::to_string(s.len) +
                        " positions, cannot truncate to " + std::to_string(n),
                    "n must be between 0 and seq_len(slot)");
    const ModelConfig& c = weights_->config;
    size_t keep = size_t(n) * size_t(c.n_kv_heads) * size_t(c.head_dim);
    for (auto& k : s.k) k.resize(keep);
    for (auto& v : s.v) v.resize(keep);
    s.len = n;
}

void CpuBackend::check_capacity(const BackendBatch& batch) const {
    const ModelConfig& c = weights_->config;
    const int64_t new_tokens =
        backend_check_batch(batch, "CpuBackend::forward", c.vocab_size, max_seq_len_, adapters_.size(),
                            [this](int slot) { return slot_ref(slot, "forward").len; });
    int64_t per_token = 2 * int64_t(c.n_layers) * c.n_kv_heads * c.head_dim * int64_t(sizeof(float));
    if (cache_bytes() + new_tokens * per_token > options_.max_cache_bytes)
        throw Error("KV cache full: " + std::to_string(cache_bytes() >> 20) + " MiB in use, this step needs " +
                        std::to_string((new_tokens * per_token) >> 20) + " MiB more, limit " +
                        std::to_string(options_.max_cache_bytes >> 20) + " MiB",
                    "free finished sequences or raise CpuBackendOptions::max_cache_bytes");
}

// ---- weights and adapters ----

void CpuBackend::set_lora_adapters(std::vector<std::shared_ptr<const LoraAdapter>> adapters) {
    backend_check_adapters(adapters, *weights_);
    adapters_ = std::move(adapters);
}

void CpuBackend::set_weights(std::shared_ptr<const ModelWeights> weights) {
    if (!weights) throw Error("CpuBackend::set_weights: no weights given");
    backend_check_same_architecture(*weights_, *weights, "CpuBackend::set_weights");
    prepare_weights(std::move(weights));
    // Adapters were checked against the old shapes, which are the same; keep them.
}

}  // namespace adabench
