// ADABENCH_LAUNCH(kernel, grid, block, stream, args...): a kernel launch written once for nvcc and
// for the CPU emulation of thread blocks (tests/emulation/block_emulation.h), so that the
// launchers themselves — argument checks, grid sizes and all — run in the CPU tests too. Under nvcc
// it is kernel<<<grid, block, 0, stream>>>(args...); emulated, the blocks run one after the other
// before it returns.
#pragma once

#ifdef ADABENCH_BLOCK_EMULATION
#define ADABENCH_LAUNCH(kernel, grid, block, stream, ...) \
    ::adabench::block_emulation::launch(dim3(grid), dim3(block), [&] { kernel(__VA_ARGS__); })
#else
#define ADABENCH_LAUNCH(kernel, grid, block, stream, ...) kernel<<<grid, block, 0, stream>>>(__VA_ARGS__)
#endif
