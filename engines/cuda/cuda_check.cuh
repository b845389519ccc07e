// Check macros for every CUDA and cuBLAS call: file, line and the library's message (llm.c cudaCheck).
#pragma once
#ifndef ADABENCH_BLOCK_EMULATION  // tests/emulation provides these
#include <cublas_v2.h>
#include <cuda_runtime.h>
#endif

#include <string>

#include "common/error.h"

namespace adabench {
[[noreturn]] void cuda_fail(cudaError_t err, const char* file, int line, const char* expr);
[[noreturn]] void cublas_fail(cublasStatus_t st, const char* file, int line, const char* expr);
}  // namespace adabench

#define CUDA_CHECK(expr)                                                                 \
    do {                                                                                 \
        cudaError_t err_ = (expr);                                                       \
        if (err_ != cudaSuccess) ::adabench::cuda_fail(err_, __FILE__, __LINE__, #expr); \
    } while (0)
#define CUBLAS_CHECK(expr)                                                                         \
    do {                                                                                           \
        cublasStatus_t st_ = (expr);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS) ::adabench::cublas_fail(st_, __FILE__, __LINE__, #expr); \
    } while (0)
