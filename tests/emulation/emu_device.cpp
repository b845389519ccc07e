// engines/cuda/device.cu on the emulated runtime and thread blocks: device discovery and the check macros' failure
// paths.
#include "block_emulation.h"
// the source after the emulation
#include "engines/cuda/device.cu"
