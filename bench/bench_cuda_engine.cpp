// CUDA engine speed against this device's own ceilings, measured in the same run:
//   - copy bandwidth: device-to-device cudaMemcpy of 1 GiB (bytes read + written per second);
//   - cuBLAS bf16 GEMM rate: cublasGemmEx, bf16 in, fp32 accumulate, at the prefill's largest shape.
// Then, for a Qwen2.5-1.5B-shaped model with random bf16 weights (shape from the real config in
// tests/fixtures/configs/Qwen2.5-1.5B-Instruct.json), through CudaBackend::forward:
//   - decode tokens/s at batch 1, 16, 64 and 256 (every sequence has a 128-token context), with the
//     weight bytes read per second (each step reads every matrix once, whatever the batch) plus the
//     KV cache bytes read, as a share of the copy bandwidth (the roofline of a memory-bound step);
//   - batch 1 and 8 with the products through cuBLAS instead of the small-batch matvec (the
//     default for steps of <= 8 tokens), and the CUDA graph's node count per decode step;
//   - the same decode over a 1024-token context at batch 256, and at batch 64 / 256 with the bf16
//     KV cache (half the K/V bytes per position);
//   - prefill tokens/s (4 prompts of 512 tokens, and 1 of 2048, per step) with the tiled attention
//     kernel and with the per-row one, and the FLOP rate of the projections as a share of the
//     measured GEMM rate;
//   - the attention kernels alone (attention_kernels below): prefill GFLOP/s tiled vs per-row and
//     decode K/V GB/s, fp32 and bf16 caches.
// Decode steps are timed through forward_greedy (the argmax is taken on the device and only one
// token per sequence comes back: what the Generator does when every sequence is greedy); the
// batch-1 step that copies the whole logits row to the host (sampled decoding) is printed too.
// Medians of 5 repetitions. Targets on an H100 (issue 8): batch-1 decode >= 80% of the copy
// bandwidth; prefill >= 50% of the GEMM rate.
//
//   build/bench/bench-cuda-engine              # a few minutes on an H100
//   build/bench/bench-cuda-engine --quick      # fewer steps
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "engines/model/config.h"
#include "engines/cpu/random_model.h"
#include "engines/cuda/attention.cuh"
#include "engines/cuda/cuda_backend.h"
#include "engines/cuda/cuda_check.cuh"
#include "engines/cuda/device.h"

using namespace adabench;

namespace {

// The source tree: ADABENCH_SOURCE_DIR from the environment (a bundle run elsewhere, tools/gpu_bundle.sh),
// else the one this binary was built from.
std::string source_dir() {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return env ? env : ADABENCH_SOURCE_DIR;
}


double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// Seconds of `fn` on the device, by events around it.
template <class F>
double time_device(cudaStream_t stream, F&& fn) {
    cudaEvent_t a, b;
    CUDA_CHECK(cudaEventCreate(&a));
    CUDA_CHECK(cudaEventCreate(&b));
    CUDA_CHECK(cudaEventRecord(a, stream));
    fn();
    CUDA_CHECK(cudaEventRecord(b, stream));
    CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    return double(ms) / 1e3;
}

double wall_seconds(const std::function<void()>& fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Bytes read + written per second by a device-to-device copy of 1 GiB.
double copy_bandwidth() {
    const size_t bytes = size_t(1) << 30;
    void *src = nullptr, *dst = nullptr;
    CUDA_CHECK(cudaMalloc(&src, bytes));
    CUDA_CHECK(cudaMalloc(&dst, bytes));
    CUDA_CHECK(cudaMemset(src, 1, bytes));
    std::vector<double> t;
    for (int i = 0; i < 7; ++i)
        t.push_back(
            time_device(nullptr, [&] { CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice)); }));
    cudaFree(src);
    cudaFree(dst);
    return 2.0 * double(bytes) / median(t);
}

// FLOP/s of cublasGemmEx bf16 x bf16 -> fp32 (CUBLAS_COMPUTE_32F), y (m, n) = W^T x as the backend calls it.
double gemm_rate(int n_out, int n_tok, int n_in) {
    cublasHandle_t h;
    CUBLAS_CHECK(cublasCreate(&h));
    void *w, *x, *y;
    CUDA_CHECK(cudaMalloc(&w, size_t(n_out) * n_in * 2));
    CUDA_CHECK(cudaMalloc(&x, size_t(n_tok) * n_in * 2));
    CUDA_CHECK(cudaMalloc(&y, size_t(n_tok) * n_out * 4));
    CUDA_CHECK(cudaMemset(w, 0, size_t(n_out) * n_in * 2));
    CUDA_CHECK(cudaMemset(x, 0, size_t(n_tok) * n_in * 2));
    const float alpha = 1, beta = 0;
    auto run = [&] {
        CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n_tok, n_in, &alpha, w, CUDA_R_16BF, n_in, x,
                                  CUDA_R_16BF, n_in, &beta, y, CUDA_R_32F, n_out, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    };
    run();
    std::vector<double> t;
    for (int i = 0; i < 7; ++i)
        t.push_back(time_device(nullptr,
                                [&] {
                                    for (int k = 0; k < 10; ++k) run();
                                }) /
                    10);
    cudaFree(w);
    cudaFree(x);
    cudaFree(y);
    cublasDestroy(h);
    return 2.0 * double(n_out) * n_tok * n_in / median(t);
}

std::vector<int32_t> prompt_of(int n, int seed, int vocab) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    uint32_t s = uint32_t(seed) * 2654435761u + 1;
    for (auto& t : p) {
        s = s * 1664525u + 1013904223u;
        t = int32_t(s % uint32_t(vocab));
    }
    return p;
}

// Attention kernels alone at the Qwen2.5-1.5B shape (12 query / 2 kv heads, head_dim 128), over
// fp32 and bf16 caches: causal prefill of 1x2048 and 4x512 tokens through the tiled kernel and the
// per-row kernel (GFLOP/s of the 4 * D * H * sum(context) causal score and value FLOPs), and decode
// over 64 and 256 sequences of 1024 positions (GB/s of K/V read against the copy bandwidth).
void attention_kernels(double bw) {
    const int H = 12, Hkv = 2, D = 128, kv_dim = Hkv * D;
    const float scale = 1.0f / std::sqrt(float(D));
    std::printf("\nattention kernels alone (H %d, Hkv %d, D %d)\n%-30s %10s %10s %10s %10s\n", H, Hkv, D, "case", "ms",
                "GFLOP/s", "GB/s", "%copy-bw");
    auto run = [&](KvCacheType type, int n_seq, int ctx_len, int new_tokens, bool tiled, bool split = false) {
        const int64_t slot_stride = int64_t(ctx_len) * kv_dim;
        const size_t cache_bytes = size_t(n_seq) * size_t(slot_stride) * size_t(kv_cache_type_size(type));
        const int T = n_seq * new_tokens;
        std::vector<int32_t> row_slot, row_n_ctx, tile_first, tile_count;
        const int tile_rows = attention_prefill_tile_rows(H, Hkv, D);
        double ctx_sum = 0;
        for (int s = 0; s < n_seq; ++s) {
            for (int i = 0; i < new_tokens; ++i) {
                row_slot.push_back(s);
                row_n_ctx.push_back(ctx_len - new_tokens + i + 1);
                ctx_sum += row_n_ctx.back();
            }
            for (int i = 0; i < new_tokens; i += tile_rows) {
                tile_first.push_back(s * new_tokens + i);
                tile_count.push_back(std::min(tile_rows, new_tokens - i));
            }
        }
        void *k, *v, *q, *out, *ints;
        CUDA_CHECK(cudaMalloc(&k, cache_bytes));
        CUDA_CHECK(cudaMalloc(&v, cache_bytes));
        CUDA_CHECK(cudaMalloc(&q, size_t(T) * H * D * 4));
        CUDA_CHECK(cudaMalloc(&out, size_t(T) * H * D * 4));
        CUDA_CHECK(cudaMemset(k, 0x3c, cache_bytes));  // small finite values in both element types
        CUDA_CHECK(cudaMemset(v, 0x3c, cache_bytes));
        CUDA_CHECK(cudaMemset(q, 0x3c, size_t(T) * H * D * 4));
        std::vector<int32_t> h_ints = row_slot;
        h_ints.insert(h_ints.end(), row_n_ctx.begin(), row_n_ctx.end());
        h_ints.insert(h_ints.end(), tile_first.begin(), tile_first.end());
        h_ints.insert(h_ints.end(), tile_count.begin(), tile_count.end());
        CUDA_CHECK(cudaMalloc(&ints, h_ints.size() * 4));
        CUDA_CHECK(cudaMemcpy(ints, h_ints.data(), h_ints.size() * 4, cudaMemcpyHostToDevice));
        const int32_t* d_slot = static_cast<const int32_t*>(ints);
        const int32_t *d_ctx = d_slot + T, *d_tf = d_ctx + T, *d_tc = d_tf + tile_first.size();
        const int n_tiles = int(tile_first.size());
        const int split_len = attention_decode_split_len(ctx_len), max_splits = attention_decode_max_splits(ctx_len);
        void* partial = nullptr;
        if (split) CUDA_CHECK(cudaMalloc(&partial, size_t(attention_decode_partial_floats(T, H, D, max_splits)) * 4));
        auto launch = [&] {
            if (split)
                attention_decode_split_cuda(type, static_cast<float*>(q), k, v, slot_stride, nullptr, d_slot, d_ctx, T,
                                            H, Hkv, D, scale, split_len, max_splits, static_cast<float*>(partial),
                                            static_cast<float*>(out), nullptr);
            else if (tiled)
                attention_prefill_cuda(type, static_cast<float*>(q), k, v, slot_stride, d_slot, d_ctx, d_tf, d_tc,
                                       n_tiles, H, Hkv, D, scale, static_cast<float*>(out), nullptr);
            else
                attention_rows_cuda(type, static_cast<float*>(q), k, v, slot_stride, nullptr, d_slot, d_ctx, T, H, Hkv,
                                    D, scale, static_cast<float*>(out), nullptr);
        };
        launch();
        std::vector<double> t;
        for (int rep = 0; rep < 5; ++rep) t.push_back(time_device(nullptr, launch));
        const double sec = median(t);
        const double flops = 4.0 * D * H * ctx_sum;
        const double bytes = double(kv_cache_type_size(type)) * 2.0 * kv_dim * ctx_sum;  // unique K/V bytes
        char name[80];
        if (new_tokens > 1)
            std::snprintf(name, sizeof(name), "prefill %dx%d %s %s", n_seq, new_tokens, kv_cache_type_name(type),
                          tiled ? "tiled" : "per-row");
        else
            std::snprintf(name, sizeof(name), "decode b%d ctx%d %s %s", n_seq, ctx_len, kv_cache_type_name(type),
                          split ? "split-K" : "per-row");
        if (new_tokens > 1)
            std::printf("%-30s %10.3f %10.0f %10s %10s\n", name, sec * 1e3, flops / sec / 1e9, "", "");
        else  // decode: GB/s of the unique K/V bytes (each kv head's K/V serves its query heads)
            std::printf("%-30s %10.3f %10.0f %10.0f %9.1f%%\n", name, sec * 1e3, flops / sec / 1e9, bytes / sec / 1e9,
                        100.0 * bytes / sec / bw);
        cudaFree(k);
        cudaFree(v);
        cudaFree(q);
        cudaFree(out);
        cudaFree(ints);
        cudaFree(partial);
    };
    for (KvCacheType type : {KV_CACHE_F32, KV_CACHE_BF16}) {
        for (auto [n_seq, plen] : {std::pair{1, 2048}, std::pair{4, 512}}) {
            run(type, n_seq, plen, plen, true);
            run(type, n_seq, plen, plen, false);
        }
        for (int batch : {1, 64, 256}) {
            run(type, batch, 1024, 1, false);
            run(type, batch, 1024, 1, false, true);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    try {
        if (cuda_device_count() == 0) {
            std::fprintf(stderr, "error: bench-cuda-engine: no CUDA device is visible\n");
            return 1;
        }
        std::printf("device: %s\n", cuda_device_name(0).c_str());
        const double bw = copy_bandwidth();
        std::printf("copy bandwidth (d2d, read+write): %.0f GB/s\n", bw / 1e9);

        ModelConfig cfg =
            config_load(source_dir() + "/tests/fixtures/configs/Qwen2.5-1.5B-Instruct.json");
        std::printf(
            "model: Qwen2.5-1.5B shape (C %d, %d layers, %d/%d heads, D %d, I %d, V %d, tied %d), random bf16\n",
            cfg.hidden_size, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.intermediate_size,
            cfg.vocab_size, int(cfg.tie_word_embeddings));
        auto weights = cpu_random_model(cfg, DTYPE_BF16, 7);
        const double weight_bytes = double(cpu_model_weight_bytes(*weights));
        const double matmul_params = weight_bytes / 2;
        const int max_batch = 256, steps = quick ? 8 : 32;
        std::printf("weights read per decode step: %.2f GB\n", weight_bytes / 1e9);

        // Decode at `batch` sequences of `ctx` cached positions: tok/s and bytes read per second
        // (every weight once per step plus each sequence's K/V).
        auto decode_case = [&](Backend& backend, int batch, int ctx, const char* dtype, bool with_logits) {
            const int64_t kv_bytes_per_pos =
                2LL * cfg.n_layers * cfg.n_kv_heads * cfg.head_dim * (std::string(dtype) == "bf16" ? 2 : 4);
            std::vector<int> slots;
            for (int s = 0; s < batch; ++s) slots.push_back(backend.seq_alloc());
            const int per_step = std::max(1, 2048 / ctx);  // prefill the contexts ~2048 tokens at a time
            for (int s0 = 0; s0 < batch; s0 += per_step) {
                BackendBatch b;
                for (int s = s0; s < std::min(batch, s0 + per_step); ++s) {
                    b.slots.push_back(slots[size_t(s)]);
                    b.tokens.push_back(prompt_of(ctx, s, cfg.vocab_size));
                }
                backend.forward(b, nullptr);
            }
            cuda_backend_synchronize(backend);
            // Median seconds per decode step of every slot from position ctx, over 5 repetitions.
            auto step_seconds = [&](const std::function<void(const BackendBatch&, int32_t*)>& decode) {
                std::vector<double> t;
                for (int rep = 0; rep < 5; ++rep) {
                    for (int s : slots) backend.seq_truncate(s, ctx);
                    BackendBatch b;
                    b.slots = slots;
                    b.tokens.assign(size_t(batch), {17});
                    std::vector<int32_t> picks(static_cast<size_t>(batch));
                    t.push_back(wall_seconds([&] {
                                    for (int i = 0; i < steps; ++i) decode(b, picks.data());
                                }) /
                                steps);
                }
                return median(t);
            };
            const double step_s =
                step_seconds([&](const BackendBatch& b, int32_t* picks) { backend.forward_greedy(b, picks); });
            const double bytes = weight_bytes + double(batch) * (ctx + steps / 2) * double(kv_bytes_per_pos);
            char name[64];
            std::snprintf(name, sizeof(name), "decode b%d ctx%d %s", batch, ctx, dtype);
            std::printf("%-26s %12.0f %12.0f %9.1f%% %10.3f", name, batch / step_s, bytes / step_s / 1e9,
                        100.0 * bytes / step_s / bw, step_s * 1e3);
            const int64_t nodes = cuda_backend_graph_nodes(backend, batch);
            if (nodes > 0) std::printf("   %lld graph nodes/step", static_cast<long long>(nodes));
            std::printf("\n");
            {
                // The same steps sampled on the device (temperature 0.7, top-p 0.95): the cost of
                // the sampling kernel over the greedy argmax.
                std::vector<SampleRow> rows(static_cast<size_t>(batch));
                for (int s = 0; s < batch; ++s) {
                    rows[size_t(s)].params.temperature = 0.7f;
                    rows[size_t(s)].params.top_p = 0.95f;
                    rows[size_t(s)].seq_id = uint64_t(s);
                    rows[size_t(s)].position = uint64_t(ctx);
                }
                const double sampled_s = step_seconds(
                    [&](const BackendBatch& b, int32_t* picks) { backend.forward_sample(b, rows, picks); });
                std::printf("%-26s %12.0f %12s %10s %10.3f   x%.3f of the greedy step\n", "  (sampled t0.7 p0.95)",
                            batch / sampled_s, "", "", sampled_s * 1e3, sampled_s / step_s);
            }
            if (with_logits) {
                std::vector<float> logits(size_t(cfg.vocab_size) * size_t(batch));
                const double logits_s =
                    step_seconds([&](const BackendBatch& b, int32_t*) { backend.forward(b, logits.data()); });
                std::printf("%-26s %12.0f %12s %10s %10.3f\n", "  (with logits copy)", batch / logits_s, "", "",
                            logits_s * 1e3);
            }
            for (int s : slots) backend.seq_free(s);
        };

        // Prefill of n_prompts x plen tokens in one step (wall time to the end of the step).
        auto prefill_seconds = [&](Backend& backend, int n_prompts, int plen) {
            std::vector<double> t;
            for (int rep = 0; rep < 5; ++rep) {
                BackendBatch b;
                for (int s = 0; s < n_prompts; ++s) {
                    b.slots.push_back(backend.seq_alloc());
                    b.tokens.push_back(prompt_of(plen, 100 + s, cfg.vocab_size));
                }
                cuda_backend_synchronize(backend);
                t.push_back(wall_seconds([&] {
                    backend.forward(b, nullptr);
                    cuda_backend_synchronize(backend);
                }));
                for (int s : b.slots) backend.seq_free(s);
            }
            return median(t);
        };

        const char* header = "\n%-26s %12s %12s %10s %10s\n";
        {
            CudaBackendOptions o;
            o.max_slots = max_batch;
            o.max_seq_len = 2048;
            auto backend = cuda_backend_create(weights, o);
            std::printf("f32 KV cache: %.1f GiB in %d slots of %d positions\n",
                        double(cuda_backend_cache_bytes(*backend)) / double(1 << 30), cuda_backend_slots(*backend),
                        cuda_backend_max_seq_len(*backend));
            std::printf(header, "case", "tok/s", "GB/s", "%copy-bw", "ms/step");
            for (int batch : {1, 16, 64, 256}) decode_case(*backend, batch, 128, "f32", batch == 1);
            decode_case(*backend, 256, 1024, "f32", false);
            {
                // Steps of up to 8 tokens: the small-batch matvec (default) against cuBLAS products.
                CudaBackendOptions co = o;
                co.max_slots = 8;
                co.small_batch_matvec = false;
                auto cublas_backend = cuda_backend_create(weights, co);
                std::printf("  products of steps <= 8 tokens, matvec (default) vs cuBLAS:\n");
                for (int batch : {1, 8}) {
                    if (batch > 1) decode_case(*backend, batch, 128, "f32", false);
                    decode_case(*cublas_backend, batch, 128, "f32 cuBLAS", false);
                }
            }

            // Whole-model prefill with the tiled attention kernel (this backend) and the per-row one.
            CudaBackendOptions ro;
            ro.max_slots = 8;
            ro.max_seq_len = 2048;
            ro.tiled_prefill_attention = false;
            auto rows_backend = cuda_backend_create(weights, ro);
            // Projections of every token; lm_head runs on the last rows only and is left out.
            const double flops_per_tok = 2.0 * (matmul_params - double(cfg.vocab_size) * cfg.hidden_size);
            double gemm = 0.0;
            for (auto [n_prompts, plen] : {std::pair{4, 512}, std::pair{1, 2048}}) {
                const int T = n_prompts * plen;
                if (gemm == 0.0) gemm = gemm_rate(cfg.intermediate_size, T, cfg.hidden_size);
                const double tiled_s = prefill_seconds(*backend, n_prompts, plen);
                const double rows_s = prefill_seconds(*rows_backend, n_prompts, plen);
                char name[64];
                std::snprintf(name, sizeof(name), "prefill %dx%d tiled", n_prompts, plen);
                std::printf("%-26s %12.0f %12s %10s %10.3f   projections %.0f TFLOP/s = %.1f%% of GEMM rate\n", name,
                            T / tiled_s, "", "", tiled_s * 1e3, flops_per_tok * T / tiled_s / 1e12,
                            100.0 * flops_per_tok * T / tiled_s / gemm);
                std::snprintf(name, sizeof(name), "prefill %dx%d per-row", n_prompts, plen);
                std::printf("%-26s %12.0f %12s %10s %10.3f\n", name, T / rows_s, "", "", rows_s * 1e3);
            }
            rows_backend.reset();

            // Decode over long contexts with the split-K kernel (CudaBackendOptions::split_k_decode).
            CudaBackendOptions so = o;
            so.max_slots = 64;
            so.split_k_decode = true;
            auto split_backend = cuda_backend_create(weights, so);
            for (auto [batch, ctx] : {std::pair{1, 128}, std::pair{1, 1024}, std::pair{64, 1024}}) {
                decode_case(*backend, batch, ctx, "f32", false);
                std::printf("  split-K:\n");
                decode_case(*split_backend, batch, ctx, "f32", false);
            }
            std::printf("cuBLAS bf16 GEMM rate measured here: %.0f TFLOP/s at %dx%dx%d\n", gemm / 1e12,
                        cfg.intermediate_size, 4 * 512, cfg.hidden_size);
        }
        {
            CudaBackendOptions o;
            o.max_slots = max_batch;
            o.max_seq_len = 2048;
            o.kv_cache_dtype = "bf16";
            auto backend = cuda_backend_create(weights, o);
            std::printf("\nbf16 KV cache: %.1f GiB in %d slots of %d positions\n",
                        double(cuda_backend_cache_bytes(*backend)) / double(1 << 30), cuda_backend_slots(*backend),
                        cuda_backend_max_seq_len(*backend));
            std::printf(header, "case", "tok/s", "GB/s", "%copy-bw", "ms/step");
            for (int batch : {64, 256}) decode_case(*backend, batch, 128, "bf16", false);
            decode_case(*backend, 256, 1024, "bf16", false);
        }

        // Batch invariance: one sequence's logits alone and inside a batch of 64 (fork sweeps are
        // token-identical to separate runs only if they are bit-identical), with cuBLAS and with the
        // batch-invariant products (CudaBackendOptions::batch_invariant), and what the latter cost.
        {
            auto invariance = [&](Backend& backend, const char* label) {
                const int B = 64, ctx = 128;
                std::vector<float> alone(size_t(cfg.vocab_size)), batched(size_t(B) * size_t(cfg.vocab_size));
                int slot = backend.seq_alloc();
                BackendBatch b1;
                b1.slots = {slot};
                b1.tokens = {prompt_of(ctx, 0, cfg.vocab_size)};
                backend.forward(b1, nullptr);
                b1.tokens = {{17}};
                backend.forward(b1, alone.data());
                BackendBatch bp;
                for (int s = 0; s < B; ++s) {
                    bp.slots.push_back(backend.seq_alloc());
                    bp.tokens.push_back(prompt_of(ctx, s, cfg.vocab_size));  // sequence 0: the same prompt
                }
                backend.forward(bp, nullptr);
                bp.tokens.assign(size_t(B), {17});
                backend.forward(bp, batched.data());
                double max_diff = 0.0;
                int n_diff = 0;
                for (size_t i = 0; i < alone.size(); ++i) {
                    const double d = std::fabs(double(alone[i]) - double(batched[i]));
                    max_diff = std::max(max_diff, d);
                    n_diff += d != 0.0;
                }
                std::printf("batch invariance (%s): %d of %d logits differ between batch 1 and batch %d (max %.3g)\n",
                            label, n_diff, cfg.vocab_size, B, max_diff);
                backend.seq_free(slot);
                for (int s : bp.slots) backend.seq_free(s);
            };
            CudaBackendOptions o;
            o.max_slots = 72;
            o.max_seq_len = 1024;
            std::printf("\n");
            {
                auto backend = cuda_backend_create(weights, o);
                invariance(*backend, "cuBLAS");
            }
            o.batch_invariant = true;
            auto backend = cuda_backend_create(weights, o);
            invariance(*backend, "batch-invariant products");
            std::printf(header, "batch-invariant products", "tok/s", "GB/s", "%copy-bw", "ms/step");
            for (int batch : {1, 16, 64}) decode_case(*backend, batch, 128, "f32", false);
            const double pre_s = prefill_seconds(*backend, 1, 512);
            std::printf("%-26s %12.0f %12s %10s %10.3f\n", "prefill 1x512", 512 / pre_s, "", "", pre_s * 1e3);
        }

        attention_kernels(bw);
        std::printf(
            "\ntargets (issue 8, H100): decode batch 1 >= 80%% of copy bandwidth; prefill >= 50%% of the GEMM "
            "rate\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
