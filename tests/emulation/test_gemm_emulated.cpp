// engines/cuda/gemm.cu — the batch-invariant product and its launcher — on emulated thread blocks,
// checked by the device tests' own file, tests/cuda/test_cuda_gemm.cpp.
#include "block_emulation.h"
// the tests after the emulation (the kernels: emu_*.cpp)
#include "tests/cuda/test_cuda_gemm.cpp"
