// engines/cuda/attention.cu — the tiled prefill kernel, the bf16 cache append, split-K decode and
// their launchers — on emulated thread blocks, checked by the device tests' own kernel tests,
// tests/cuda/test_cuda_attention.cpp.
#include "block_emulation.h"
// the tests after the emulation (the kernels: emu_*.cpp)
#include "tests/cuda/test_cuda_attention.cpp"
