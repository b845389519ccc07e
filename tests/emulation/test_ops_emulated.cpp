// engines/cuda/ops.cu — kernels and launchers, unchanged — compiled for emulated thread blocks
// (block_emulation.h) and checked by the device tests' own file, tests/cuda/test_cuda_ops.cpp,
// against the CPU twins (cuBLAS emulated: see cuda_runtime_emulation.h).
#include "block_emulation.h"
// the tests after the emulation (the kernels: emu_*.cpp)
#include "tests/cuda/test_cuda_ops.cpp"
