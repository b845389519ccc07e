// ADABENCH_LAUNCH(kernel, grid, block, stream, args...): a kernel launch written once for nvcc and
// for the CPU emulation of thread blocks (tests/emulation/block_emulation.h), so that the
// launchers themselves — argument checks, grid sizes and all — run in the CPU tests too. Under nvcc
// it is kernel<<<grid, block, 0, stream>>>(args...); emulated, the blocks run one after the other
// before it returns (the arguments are captured by value, so a stream capture can replay them), and
// the allocations behind its non-const pointer arguments are the outputs the emulation's race
// check compares across thread schedules.
#pragma once

//
// ADABENCH_LAUNCH_SMEM(kernel, grid, block, smem_bytes, stream, args...) launches with dynamic shared
// memory, which the kernel declares with ADABENCH_DYNAMIC_SHARED(type, name).
#ifdef ADABENCH_BLOCK_EMULATION
#define ADABENCH_LAUNCH(kernel, grid, block, stream, ...)                  \
    ::adabench::block_emulation::launch(                                   \
        dim3(grid), dim3(block), [=] { kernel(__VA_ARGS__); }, 0, #kernel, \
        ::adabench::block_emulation::outputs_of(__VA_ARGS__))
#define ADABENCH_LAUNCH_SMEM(kernel, grid, block, smem_bytes, stream, ...)                  \
    ::adabench::block_emulation::launch(                                                    \
        dim3(grid), dim3(block), [=] { kernel(__VA_ARGS__); }, size_t(smem_bytes), #kernel, \
        ::adabench::block_emulation::outputs_of(__VA_ARGS__))
#define ADABENCH_DYNAMIC_SHARED(type, name) \
    type* name = static_cast<type*>(::adabench::block_emulation::dynamic_shared())
#else
#define ADABENCH_LAUNCH(kernel, grid, block, stream, ...) kernel<<<grid, block, 0, stream>>>(__VA_ARGS__)
#define ADABENCH_LAUNCH_SMEM(kernel, grid, block, smem_bytes, stream, ...) \
    kernel<<<grid, block, smem_bytes, stream>>>(__VA_ARGS__)
#define ADABENCH_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif
