// engines/cuda/gemm.cu — the batch-invariant product and its launcher — on emulated thread blocks,
// checked by the device tests' own file, tests/cuda/test_cuda_gemm.cpp.
#include "block_emulation.h"
// the kernel, then its tests, after the emulation
#include "engines/cuda/gemm.cu"
#include "tests/cuda/test_cuda_gemm.cpp"
