// tests/cuda/test_cuda_compose.cpp on the emulated runtime and thread blocks: the compose kernels and
// CudaBackend::compose.
#include "block_emulation.h"
// the tests after the emulation
#include "tests/cuda/test_cuda_compose.cpp"
