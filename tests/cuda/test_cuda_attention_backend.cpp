// CudaBackend with the attention options of engines/cuda/attention.cuh: a bf16 KV cache against the
// CPU (and twice the slots in the same bytes), the tiled prefill kernel against the per-row kernel,
// split-K decode against the per-row kernel and replayed from graphs against eager launches.
// Also compiled into tests/emulation (test-emulation_backend), on emulated blocks and runtime.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/cpu/cpu_backend.h"
#include "engines/cuda/cuda_backend.h"
#include "engines/model/loader.h"
#include "engines/tokenizer/tokenizer.h"
#include "tests/cuda/cuda_test_util.h"

namespace adabench {
namespace {

using cuda_test::rel_err;
using cuda_test::src;
using cuda_test::step;

std::vector<int32_t> organism_prompt() {
    Tokenizer tok = Tokenizer::load(src("models/organism/base"));
    return tok.encode(
        "<|im_start|>user\nMia has 47 marbles. In January, Mia finds 8 more. In February, Mia sells 5. How many "
        "marbles does Mia have at the end?<|im_end|>\n<|im_start|>assistant\n<think>\n");
}

TEST(CudaKvBf16, LogitsMatchCpuAndSlotsDouble) {
    REQUIRE_CUDA_DEVICE();
    auto w = model_load(src("models/organism/base"));
    const ModelConfig& c = w->config;
    CudaBackendOptions f32_opts;
    f32_opts.max_seq_len = 512;
    const int64_t f32_slot = 2LL * c.n_layers * f32_opts.max_seq_len * c.n_kv_heads * c.head_dim * 4;
    f32_opts.max_cache_bytes = 8 * f32_slot;
    CudaBackendOptions bf16_opts = f32_opts;
    bf16_opts.kv_cache_dtype = "bf16";
    auto g32 = cuda_backend_create(w, f32_opts);
    auto g16 = cuda_backend_create(w, bf16_opts);
    EXPECT_EQ(cuda_backend_slots(*g32), 8);
    EXPECT_EQ(cuda_backend_slots(*g16), 16);
    EXPECT_EQ(cuda_backend_cache_bytes(*g16), cuda_backend_cache_bytes(*g32));

    CpuBackendOptions co;
    co.n_threads = 4;
    co.precision = CPU_PRECISION_EXACT;
    CpuBackend cpu(w, co);
    const auto prompt = organism_prompt();
    int gs = g16->seq_alloc(), cs = cpu.seq_alloc();
    EXPECT_LE(rel_err(step(*g16, gs, prompt), step(cpu, cs, prompt)), 1e-2);
    for (int32_t t : {40, 41, 42, 7, 300}) EXPECT_LE(rel_err(step(*g16, gs, {t}), step(cpu, cs, {t})), 1e-2) << t;

    // A fork copies the bf16 positions (2 bytes each): both branches continue identically.
    const int fork = g16->seq_fork(gs);
    EXPECT_EQ(step(*g16, gs, {99}), step(*g16, fork, {99}));
}

// Whole-model prefill through the tiled kernel equals the per-row kernel to fp32 rounding, for a
// step of several prompts and a continuation of a slot that already holds tokens.
TEST(CudaKvBf16, TiledPrefillEqualsRowKernelInTheBackend) {
    REQUIRE_CUDA_DEVICE();
    auto w = model_load(src("models/organism/long"));
    for (const char* dtype : {"f32", "bf16"}) {
        CudaBackendOptions tiled, rows;
        tiled.kv_cache_dtype = rows.kv_cache_dtype = dtype;
        tiled.max_slots = rows.max_slots = 8;
        rows.tiled_prefill_attention = false;
        auto a = cuda_backend_create(w, tiled);
        auto b = cuda_backend_create(w, rows);
        const auto p1 = organism_prompt();
        std::vector<int32_t> p2(p1.begin(), p1.begin() + 7);
        const int V = w->config.vocab_size;
        auto run = [&](Backend& be) {
            int s1 = be.seq_alloc(), s2 = be.seq_alloc();
            BackendBatch batch;
            batch.slots = {s1, s2};
            batch.tokens = {p1, p2};
            std::vector<float> l(size_t(2 * V));
            be.forward(batch, l.data());
            std::vector<float> more = step(be, s2, p1);  // 7 cached positions + a whole prompt
            l.insert(l.end(), more.begin(), more.end());
            return l;
        };
        EXPECT_LE(rel_err(run(*a), run(*b)), 2e-3) << dtype;
    }
}

// Decode through the split-K kernel against the per-row kernel (to fp32 rounding), for both cache
// types, one sequence and a batch of three, long enough to cross a 256-position split; and split-K
// decode replayed from CUDA graphs equals eager launches exactly.
TEST(CudaKvBf16, SplitKDecodeMatchesPerRowKernel) {
    REQUIRE_CUDA_DEVICE();
    auto w = model_load(src("models/organism/long"));
    const auto prompt = organism_prompt();
    const int V = w->config.vocab_size;
    for (const char* dtype : {"f32", "bf16"}) {
        CudaBackendOptions split, rows, split_eager;
        split.kv_cache_dtype = rows.kv_cache_dtype = split_eager.kv_cache_dtype = dtype;
        split.max_slots = rows.max_slots = split_eager.max_slots = 4;
        split.split_k_decode = split_eager.split_k_decode = true;
        split_eager.cuda_graphs = false;
        auto a = cuda_backend_create(w, split);
        auto b = cuda_backend_create(w, rows);
        auto e = cuda_backend_create(w, split_eager);
        std::vector<int> sa, sb, se;
        for (int i = 0; i < 3; ++i) {
            sa.push_back(a->seq_alloc());
            sb.push_back(b->seq_alloc());
            se.push_back(e->seq_alloc());
            std::vector<int32_t> p(prompt.begin(), prompt.end() - i);
            step(*a, sa.back(), p);
            step(*b, sb.back(), p);
            step(*e, se.back(), p);
        }
        const auto decode = cuda_test::decode_step;
#ifdef ADABENCH_BLOCK_EMULATION  // emulation is slow: a few steps either side of position 256
        const int n_steps = 8;
        for (size_t j = 0; j < sa.size(); ++j) {
            std::vector<int32_t> filler(size_t(252) - prompt.size() + 2 * j, 11);  // 252, 253, 254 positions
            step(*a, sa[j], filler);
            step(*b, sb[j], filler);
            step(*e, se[j], filler);
        }
#else
        const int n_steps = 300 - int(prompt.size());  // past position 256
#endif
        for (int i = 0; i < n_steps; ++i) {
            const int32_t tok = int32_t(7 + i % 300);
            const auto la = decode(*a, sa, tok), lb = decode(*b, sb, tok), le = decode(*e, se, tok);
            // Not bit-equal: the two kernels sum in different orders, and where that flips the bf16
            // rounding of one activation the organism's logits move by up to ~2e-3 (1.6e-3
            // measured emulated; the same size as changing the products' summation order).
            ASSERT_LE(rel_err(la, lb), 1e-2) << dtype << " step " << i;
            ASSERT_EQ(la, le) << dtype << " step " << i << ": graph replay differs from eager launches";
        }
        // A prefill step with a decode row in it: the decode row takes the split-K kernel as well.
        BackendBatch mixed;
        mixed.slots = {sa[0], a->seq_alloc()};
        mixed.tokens = {{5}, prompt};
        std::vector<float> lm(size_t(2 * V));
        a->forward(mixed, lm.data());
        const auto alone = decode(*e, {se[0]}, 5);
        // (not bit-equal: the larger step's products go through cuBLAS, the single row's through
        // the small-batch matvec)
        EXPECT_LE(rel_err(std::vector<float>(lm.begin(), lm.begin() + V), alone), 1e-2) << dtype;
    }
}

}  // namespace
}  // namespace adabench
