// engines/cuda/ops.cu on the emulated runtime and thread blocks: the decoder's kernels and their launchers.
#include "block_emulation.h"
// the source after the emulation
#include "engines/cuda/ops.cu"
