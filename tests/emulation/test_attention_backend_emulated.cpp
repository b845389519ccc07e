// tests/cuda/test_cuda_attention_backend.cpp on the emulated runtime and thread blocks: CudaBackend
// with a bf16 KV cache, the tiled prefill kernel and split-K decode.
#include "block_emulation.h"
// the tests after the emulation
#include "tests/cuda/test_cuda_attention_backend.cpp"
