// tests/cuda/test_cuda_backend.cpp on the emulated runtime and thread blocks: the whole-model tests (CudaBackend
// against CpuBackend).
#include "block_emulation.h"
// the tests after the emulation
#include "tests/cuda/test_cuda_backend.cpp"
