// cuda: the device is visible and described. Op-by-op tests against the CPU twins join this binary.
#include <gtest/gtest.h>

#include "engines/cuda/device.h"

TEST(CudaDevice, IsVisible) {
    ASSERT_GT(adabench::cuda_device_count(), 0) << "no CUDA device visible (this test carries the label gpu)";
    EXPECT_FALSE(adabench::cuda_device_name(0).empty());
}
