// tests/cuda/test_cuda.cpp on the emulated runtime and thread blocks: the device is visible.
#include "block_emulation.h"
// the tests after the emulation
#include "tests/cuda/test_cuda.cpp"
