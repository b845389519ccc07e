// engines/cuda/sample.cu on the emulated runtime and thread blocks: the sampling launcher.
#include "block_emulation.h"
// the source after the emulation
#include "engines/cuda/sample.cu"
