// engines/cuda/cuda_backend.cu on the emulated runtime and thread blocks: CudaBackend itself. The
// emulated runtime refuses graph capture, so decode steps run eagerly (ADABENCH_CUDA_GRAPHS=0 is
// set before any backend is built).
#include "block_emulation.h"
// the source after the emulation
#include <cstdlib>

#include "engines/cuda/cuda_backend.cu"

namespace {
const bool kGraphsOff = [] { return ::setenv("ADABENCH_CUDA_GRAPHS", "0", 1) == 0; }();
}  // namespace
