// engines/cuda/compose.cu on the emulated runtime and thread blocks: the weight-composition kernels and launchers.
#include "block_emulation.h"
// the source after the emulation
#include "engines/cuda/compose.cu"
