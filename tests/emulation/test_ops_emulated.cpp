// engines/cuda/ops.cu — kernels and launchers, unchanged — compiled for emulated thread blocks
// (block_emulation.h) and checked by the device tests' own file, tests/cuda/test_cuda_ops.cpp,
// against the CPU twins. The cuBLAS wrappers are left out (not emulated).
#include "block_emulation.h"
// the kernels, then their tests, after the emulation
#include "engines/cuda/ops.cu"
#include "tests/cuda/test_cuda_ops.cpp"
