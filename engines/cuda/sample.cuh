// Token sampling on the device: one block per logits row runs the same chain as the host
// SamplerChain (engines/generation/sampling.h) — temperature -> top-k -> top-p -> dist, greedy when
// temperature <= 0 — so that only one token id per sequence leaves the device.
//
// Same function as the host, step by step: the temperature divides in fp32; exp is computed in
// double and rounded to fp32 (glibc's expf is correctly rounded in all but rare cases, so the
// candidates' weights match the host's bit for bit nearly always); the softmax sums are in double;
// the top-p and dist walks run serially in the host's order (descending logit, ties to the lower
// id; id order when the chain neither sorts nor truncates) with the host's comparisons. The
// uniform of the (seed, sequence, position) contract is computed on the host (sampling_uniform)
// and passed per row. Where a sum is reduced in parallel (over the whole vocabulary) its double
// rounding can differ from the host's serial sum; a token can then differ only when the uniform
// falls within ~1e-15 of a boundary between two candidates.
//
// Not here: candidates beyond a window of kCudaSampleWindow sorted tokens. Rows that need more
// (top_k larger than the window, a nucleus wider than it, a full sort of a large vocabulary) are
// returned as -1 and the backend samples them on the host from the logits row.
#pragma once
#ifndef ADABENCH_BLOCK_EMULATION  // tests/emulation provides these
#include <cuda_runtime.h>
#endif

#include <cstdint>

#include "engines/cuda/sample_kernel.cuh"
#include "engines/engine.h"
#include "engines/generation/sampling.h"

namespace adabench {

// tokens[r] = the id the host chain picks from row r of logits (n_rows, n_vocab), or -1 when the
// row needs the host (top_k > kCudaSampleWindow and < n_vocab; top_p < 1 without top_k whose
// nucleus is wider than the window; top_k >= n_vocab > window with top_p == 1). nan_ids[r] = the
// lowest id of a NaN logit in row r (tokens[r] is then -1), else -1. Throws adabench::Error for
// bad sizes (host checks only).
// A row's chain for the kernel: the parameters, and the uniform of (seed, seq_id, position).
inline CudaSampleRow cuda_sample_row(const SamplingParams& p, uint64_t seq_id, uint64_t position) {
    CudaSampleRow d;
    d.temperature = p.temperature;
    d.top_p = p.top_p;
    d.top_k = p.top_k;
    d.u = sampling_uniform(p.seed, seq_id, position);
    return d;
}

void sample_rows_f32_cuda(const float* logits, int n_rows, int n_vocab, const CudaSampleRow* rows, int32_t* tokens,
                          int32_t* nan_ids, cudaStream_t stream);

}  // namespace adabench
