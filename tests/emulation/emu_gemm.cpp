// engines/cuda/gemm.cu on the emulated runtime and thread blocks: the batch-invariant product.
#include "block_emulation.h"
// the source after the emulation
#include "engines/cuda/gemm.cu"
