#include "common/version.h"

#include "version_sha.h"

namespace adabench {
std::string version_string() { return ADABENCH_VERSION; }
std::string version_git_sha() { return ADABENCH_GIT_SHA; }
bool version_has_cuda() { return ADABENCH_HAVE_CUDA; }
}  // namespace adabench
