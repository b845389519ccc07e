// CPU compute kernels with run-time ISA dispatch: AVX-512 (+ AVX-512 BF16 dot products), AVX2/FMA
// and a scalar fallback (the twins in ops_ref.h). Each kernel is compiled with a function-level
// target so the binary runs on any x86-64; cpu_isa_detect() picks the best one the CPU (and OS)
// supports. Kernels work on one block of rows or one row; threading is the caller's job
// (thread_pool.h), and nothing here allocates.
//
// Determinism: a matmul output element depends only on its input row and weight row, never on
// which tile or thread computed it, so results do not change with batch composition.
//
// Panel layout (AVX-512 kernels, BF16 weights): cpu_pack_panels copies a (n_out, n_in) BF16 matrix
// into panels of 16 output rows; panel p holds, for each k pair j = 0 .. ceil(n_in/2)-1, one 64-byte
// vector whose 32-bit lane i is (W[16p+i][2j], W[16p+i][2j+1]) (zero padded past n_out and n_in).
// Kernels then form outer products: lane i accumulates output row 16p+i for one token, k ascending,
// one FMA (or one vdpbf16ps pair) at a time, so there is no horizontal reduction and every output
// element has the same arithmetic whatever the tile, token count or thread split.
#pragma once
#include <cstdint>

#include "engines/model/model.h"

namespace adabench {

enum CpuIsa {
    CPU_ISA_SCALAR,       // plain C++ (ops_ref.h)
    CPU_ISA_AVX2,         // AVX2 + FMA + F16C
    CPU_ISA_AVX512,       // AVX-512 F/BW/VL
    CPU_ISA_AVX512_BF16,  // AVX-512 plus vdpbf16ps
};
CpuIsa cpu_isa_detect();  // best ISA this CPU supports; ADABENCH_CPU_ISA=scalar|avx2|avx512 caps it
const char* cpu_isa_name(CpuIsa isa);
CpuIsa cpu_isa_parse(const char* name);  // throws adabench::Error on an unknown name

enum CpuMatmulMode {
    // fp32 arithmetic: bf16/f16 weights are widened to fp32 exactly, activations stay fp32.
    CPU_MATMUL_EXACT,
    // Activations rounded to bf16, bf16 x bf16 products accumulated in fp32 (vdpbf16ps). Applies to
    // BF16 weights only; other dtypes use the exact path. About 2x the FLOP rate of fp32 FMA.
    CPU_MATMUL_BF16_DOT,
};

// A weight matrix (n_out, n_in), row-major, in its stored dtype. `panels`, when set, is the same
// BF16 matrix in panel layout (see above); kernels with uses_panels read it instead of `data`.
struct CpuMatrix {
    DType dtype = DTYPE_F32;
    const void* data = nullptr;
    int64_t n_out = 0;
    int64_t n_in = 0;
    const uint16_t* panels = nullptr;
};

constexpr int kCpuPanelRows = 16;  // output rows per panel (one 512-bit vector of fp32 lanes)
// uint16 elements of the panel copy of a (n_out, n_in) matrix.
int64_t cpu_panels_size(int64_t n_out, int64_t n_in);
// Writes panels [panel_begin, panel_end) of BF16 matrix w into out (cpu_panels_size(w) elements).
void cpu_pack_panels(const CpuMatrix& w, int64_t panel_begin, int64_t panel_end, uint16_t* out);

struct CpuKernels {
    CpuIsa isa;
    // Whether matmul_rows reads CpuMatrix::panels of BF16 matrices (otherwise packing is wasted).
    bool uses_panels;
    // y[t*ldy + o] = x_t . W_o for o in [row_begin, row_end), t in [0, n_tok). x is (n_tok, n_in)
    // fp32; x_bf16 is the same activations rounded to bf16 (only read in CPU_MATMUL_BF16_DOT mode
    // with BF16 weights; see cpu_convert_bf16). With panels any row range works, but ranges aligned
    // to kCpuPanelRows avoid computing a shared panel twice.
    void (*matmul_rows)(const float* x, const uint16_t* x_bf16, int n_tok, const CpuMatrix& w, int64_t row_begin,
                        int64_t row_end, float* y, int64_t ldy, CpuMatmulMode mode);
    void (*rms_norm)(const float* x, const float* w, int64_t n, float eps, float* y);
    void (*silu_mul)(const float* g, const float* u, int64_t n, float* y);
    void (*add)(float* y, const float* x, int64_t n);
    void (*attention_row)(const float* q, const float* k, const float* v, int64_t kv_stride, int n_ctx, int head_dim,
                          float scale, float* out, float* scores);
};
const CpuKernels& cpu_kernels(CpuIsa isa);

// Rounds n floats to bf16 (nearest even), as the BF16 fast path sees them.
void cpu_convert_bf16(const float* x, int64_t n, uint16_t* out);
// Widens n elements of a stored row to fp32 (embedding lookups, norm weights, biases).
void cpu_convert_f32(DType dtype, const void* src, int64_t n, float* out);

}  // namespace adabench
