// Device discovery and the failure paths of the check macros.
#include <cstdio>
#include <string>

#include "engines/cuda/cuda_check.cuh"
#include "engines/cuda/device.h"

namespace adabench {

void cuda_fail(cudaError_t err, const char* file, int line, const char* expr) {
    std::string msg = std::string("CUDA error at ") + file + ":" + std::to_string(line) + " in " + expr + ": " +
                      cudaGetErrorString(err);
    if (err == cudaErrorMemoryAllocation) throw Error(msg, "the model or KV cache does not fit; lower the batch size");
    throw Error(msg);
}

void cublas_fail(cublasStatus_t st, const char* file, int line, const char* expr) {
    throw Error(std::string("cuBLAS error at ") + file + ":" + std::to_string(line) + " in " + expr + ": " +
                cublasGetStatusString(st));
}

int cuda_device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();  // clear the sticky error so later calls are not poisoned
        return 0;
    }
    return n;
}

std::string cuda_device_name(int i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) return "";
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%s (sm_%d%d, %.1f GiB)", p.name, p.major, p.minor,
                  double(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    return buf;
}

}  // namespace adabench
