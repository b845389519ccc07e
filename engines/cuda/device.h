// What GPU this process sees. Safe to call on machines without a GPU or driver (returns 0 / "").
#pragma once
#include <string>

namespace adabench {
int cuda_device_count();              // 0 when no usable device or driver
std::string cuda_device_name(int i);  // "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"
}  // namespace adabench
