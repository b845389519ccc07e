// Whether this translation unit is built under AddressSanitizer, for GCC (__SANITIZE_ADDRESS__) and
// clang (__has_feature(address_sanitizer); clang 14 does not define the GCC macro).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define ADABENCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ADABENCH_ASAN 1
#endif
#endif
