// sample_rows_f32 (see sample.cuh): one block of kCudaSampleWindow threads per row.
//
//   1. One pass: NaN check (lowest id), max of logit / t, argmax (greedy rows stop here).
//   2. No top-k, no top-p: the host walks the candidates in id order. Each thread owns a contiguous
//      run of ids; softmax weights, a block-wide exclusive scan of the runs' sums, and the thread
//      whose run holds u * total walks it.
//   3. Otherwise: the K best candidates (K = top_k, or the window for top-p alone) by a 4-pass
//      radix select over order-preserving 32-bit keys of the scaled logits (8 bits a pass, shared
//      256-bin histograms), ties at the threshold taken lowest id first (ordered by a scan over the
//      contiguous runs); a bitonic sort of the window on (key, ~id); then the top-p cut and the
//      dist walk serially in thread 0, exactly in the host's order and arithmetic.
#include <climits>
#include <cmath>
#include <string>

#include "common/error.h"
#include "engines/cuda/launch.cuh"
#include "engines/cuda/sample.cuh"
#include "engines/cuda/sample_kernel.cuh"

namespace adabench {

void sample_rows_f32_cuda(const float* logits, int n_rows, int n_vocab, const CudaSampleRow* rows, int32_t* tokens,
                          int32_t* nan_ids, cudaStream_t stream) {
    if (n_rows < 0) throw Error("sample_rows_f32: n_rows is negative (" + std::to_string(n_rows) + ")");
    if (n_vocab <= 0) throw Error("sample_rows_f32: n_vocab must be positive, got " + std::to_string(n_vocab));
    if (n_rows == 0) return;
    ADABENCH_LAUNCH(sample_kernel::sample_rows_f32<kCudaSampleWindow>, unsigned(n_rows), kCudaSampleWindow, stream,
                    logits, n_vocab, rows, tokens, nan_ids);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess)
        throw Error(std::string("CUDA kernel launch failed in sample_rows_f32: ") + cudaGetErrorString(err));
}

}  // namespace adabench
