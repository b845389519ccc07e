// engines/cuda/cuda_backend.cu on the emulated runtime and thread blocks: CudaBackend itself, CUDA
// graphs included (the emulated capture records and replays the step's launches).
#include "block_emulation.h"
// the source after the emulation
#include "engines/cuda/cuda_backend.cu"
