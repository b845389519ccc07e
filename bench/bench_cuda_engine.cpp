// CUDA engine speed against this device's own ceilings, measured in the same run:
//   - copy bandwidth: device-to-device cudaMemcpy of 1 GiB (bytes read + written per second);
//   - cuBLAS bf16 GEMM rate: cublasGemmEx, bf16 in, fp32 accumulate, at the prefill's largest shape.
// Then, for a Qwen2.5-1.5B-shaped model with random bf16 weights (shape from the real config in
// tests/fixtures/configs/Qwen2.5-1.5B-Instruct.json), through CudaBackend::forward:
//   - decode tokens/s at batch 1, 16, 64 and 256 (every sequence has a 128-token context), with the
//     weight bytes read per second (each step reads every matrix once, whatever the batch) plus the
//     KV cache bytes read, as a share of the copy bandwidth (the roofline of a memory-bound step);
//   - prefill tokens/s (4 prompts of 512 tokens per step) and the FLOP rate of its projections as a
//     share of the measured GEMM rate.
// Decode steps are timed through forward_greedy (the argmax is taken on the device and only one
// token per sequence comes back: what the Generator does when every sequence is greedy); the
// batch-1 step that copies the whole logits row to the host (sampled decoding) is printed too.
// Medians of 5 repetitions. Targets on an H100 (issue 8): batch-1 decode >= 80% of the copy
// bandwidth; prefill >= 50% of the GEMM rate.
//
//   build/bench/bench-cuda-engine              # ~1-2 minutes on an H100
//   build/bench/bench-cuda-engine --quick      # fewer steps
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "engines/config.h"
#include "engines/cpu/random_model.h"
#include "engines/cuda/cuda_backend.h"
#include "engines/cuda/cuda_check.cuh"
#include "engines/cuda/device.h"

using namespace adabench;

namespace {

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
            config_load(std::string(ADABENCH_SOURCE_DIR) + "/tests/fixtures/configs/Qwen2.5-1.5B-Instruct.json");
        std::printf(
            "model: Qwen2.5-1.5B shape (C %d, %d layers, %d/%d heads, D %d, I %d, V %d, tied %d), random bf16\n",
            cfg.hidden_size, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.intermediate_size,
            cfg.vocab_size, int(cfg.tie_word_embeddings));
        auto weights = cpu_random_model(cfg, DTYPE_BF16, 7);
        const double weight_bytes = double(cpu_model_weight_bytes(*weights));
        const double matmul_params = weight_bytes / 2;
        const int ctx = 128, max_batch = 256;
        CudaBackendOptions o;
        o.max_slots = max_batch;
        o.max_seq_len = 1024;
        auto backend = cuda_backend_create(weights, o);
        std::printf("weights read per decode step: %.2f GB; KV cache %.1f GiB in %d slots\n", weight_bytes / 1e9,
                    double(cuda_backend_cache_bytes(*backend)) / double(1 << 30), cuda_backend_slots(*backend));
        const int64_t kv_bytes_per_pos = 2LL * cfg.n_layers * cfg.n_kv_heads * cfg.head_dim * 4;

        std::printf("\n%-22s %12s %12s %10s %10s\n", "case", "tok/s", "GB/s", "%copy-bw", "ms/step");
        for (int batch : {1, 16, 64, 256}) {
            // Fill `batch` slots with a 128-token context (prefilled 16 sequences at a time).
            std::vector<int> slots;
            for (int s = 0; s < batch; ++s) slots.push_back(backend->seq_alloc());
            for (int s0 = 0; s0 < batch; s0 += 16) {
                BackendBatch b;
                for (int s = s0; s < std::min(batch, s0 + 16); ++s) {
                    b.slots.push_back(slots[size_t(s)]);
                    b.tokens.push_back(prompt_of(ctx, s, cfg.vocab_size));
                }
                backend->forward(b, nullptr);
            }
            cuda_backend_synchronize(*backend);
            const int steps = quick ? 8 : 32;
            std::vector<double> t;
            for (int rep = 0; rep < 5; ++rep) {
                for (int s : slots) backend->seq_truncate(s, ctx);
                BackendBatch b;
                b.slots = slots;
                b.tokens.assign(size_t(batch), {17});
                std::vector<int32_t> picks(static_cast<size_t>(batch));
                t.push_back(wall_seconds([&] {
                                for (int i = 0; i < steps; ++i) backend->forward_greedy(b, picks.data());
                            }) /
                            steps);
            }
            const double step_s = median(t);
            const double bytes = weight_bytes + double(batch) * (ctx + steps / 2) * double(kv_bytes_per_pos);
            char name[64];
            std::snprintf(name, sizeof(name), "decode batch %d", batch);
            std::printf("%-22s %12.0f %12.0f %9.1f%% %10.3f\n", name, batch / step_s, bytes / step_s / 1e9,
                        100.0 * bytes / step_s / bw, step_s * 1e3);
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
                std::vector<double> ts;
                for (int rep = 0; rep < 5; ++rep) {
                    for (int s : slots) backend->seq_truncate(s, ctx);
                    BackendBatch b;
                    b.slots = slots;
                    b.tokens.assign(size_t(batch), {17});
                    std::vector<int32_t> picks(static_cast<size_t>(batch));
                    ts.push_back(wall_seconds([&] {
                                     for (int i = 0; i < steps; ++i) backend->forward_sample(b, rows, picks.data());
                                 }) /
                                 steps);
                }
                std::printf("%-22s %12.0f %12s %10s %10.3f  (x%.3f of greedy)\n", "  (sampled, t0.7 p0.95)",
                            batch / median(ts), "", "", median(ts) * 1e3, median(ts) / step_s);
            }
            if (batch == 1) {
                std::vector<float> logits(size_t(cfg.vocab_size));
                std::vector<double> tl;
                for (int rep = 0; rep < 5; ++rep) {
                    backend->seq_truncate(slots[0], ctx);
                    BackendBatch b1;
                    b1.slots = slots;
                    b1.tokens = {{17}};
                    tl.push_back(wall_seconds([&] {
                                     for (int i = 0; i < steps; ++i) backend->forward(b1, logits.data());
                                 }) /
                                 steps);
                }
                std::printf("%-22s %12.0f %12s %10s %10.3f\n", "  (with logits copy)", 1.0 / median(tl), "", "",
                            median(tl) * 1e3);
            }
            for (int s : slots) backend->seq_free(s);
        }

        // Batch invariance: the same sequence's logits alone and inside a batch of 64 (the fork-sweep
        // guarantee on the device needs them bit-identical; cuBLAS picks kernels by shape).
        {
            const int B = 64;
            std::vector<float> alone(size_t(cfg.vocab_size)), batched(size_t(B) * size_t(cfg.vocab_size));
            int slot = backend->seq_alloc();
            BackendBatch b1;
            b1.slots = {slot};
            b1.tokens = {prompt_of(ctx, 0, cfg.vocab_size)};
            backend->forward(b1, nullptr);
            b1.tokens = {{17}};
            backend->forward(b1, alone.data());
            std::vector<int> slots;
            BackendBatch bp;
            for (int s = 0; s < B; ++s) {
                slots.push_back(backend->seq_alloc());
                bp.slots.push_back(slots.back());
                bp.tokens.push_back(prompt_of(ctx, s, cfg.vocab_size));  // sequence 0: the same prompt
            }
            backend->forward(bp, nullptr);
            bp.tokens.assign(size_t(B), {17});
            backend->forward(bp, batched.data());
            double max_diff = 0.0;
            int n_diff = 0;
            for (size_t i = 0; i < alone.size(); ++i) {
                const double d = std::fabs(double(alone[i]) - double(batched[i]));
                max_diff = std::max(max_diff, d);
                n_diff += d != 0.0;
            }
            std::printf("%-22s %d of %d logits differ between batch 1 and batch %d (max |diff| %.3g)\n",
                        "batch invariance", n_diff, cfg.vocab_size, B, max_diff);
            backend->seq_free(slot);
            for (int s : slots) backend->seq_free(s);
        }

        // Prefill: 4 prompts of 512 tokens in one step.
        const int n_prompts = 4, plen = 512, T = n_prompts * plen;
        const double gemm = gemm_rate(cfg.intermediate_size, T, cfg.hidden_size);
        std::vector<double> t;
        for (int rep = 0; rep < 5; ++rep) {
            BackendBatch b;
            for (int s = 0; s < n_prompts; ++s) {
                b.slots.push_back(backend->seq_alloc());
                b.tokens.push_back(prompt_of(plen, 100 + s, cfg.vocab_size));
            }
            cuda_backend_synchronize(*backend);
            t.push_back(wall_seconds([&] {
                backend->forward(b, nullptr);
                cuda_backend_synchronize(*backend);
            }));
            for (int s : b.slots) backend->seq_free(s);
        }
        const double step_s = median(t);
        // Projections of every token; lm_head runs on the 4 last rows only and is left out.
        const double flops = 2.0 * (matmul_params - double(cfg.vocab_size) * cfg.hidden_size) * T;
        std::printf("%-22s %12.0f %12s %10s %10.3f\n", "prefill 4x512", T / step_s, "", "", step_s * 1e3);
        std::printf(
            "\nprefill projections: %.0f TFLOP/s = %.1f%% of the cuBLAS bf16 GEMM rate measured here "
            "(%.0f TFLOP/s at %dx%dx%d)\n",
            flops / step_s / 1e12, 100.0 * flops / step_s / gemm, gemm / 1e12, cfg.intermediate_size, T,
            cfg.hidden_size);
        std::printf(
            "targets (issue 8, H100): decode batch 1 >= 80%% of copy bandwidth; prefill >= 50%% of the GEMM "
            "rate\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
