// tests/cuda/test_cuda_sample.cpp on the emulated runtime and thread blocks: the sampling kernel through its launcher
// and the backend.
#include "block_emulation.h"
// the tests after the emulation
#include "tests/cuda/test_cuda_sample.cpp"
