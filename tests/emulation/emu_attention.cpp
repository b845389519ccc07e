// engines/cuda/attention.cu on the emulated runtime and thread blocks: tiled prefill, split-K decode and the bf16
// cache.
#include "block_emulation.h"
// the source after the emulation
#include "engines/cuda/attention.cu"
