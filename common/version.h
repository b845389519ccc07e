// Build identity: version, git sha at build time, whether CUDA support is compiled in.
#pragma once
#include <string>

namespace adabench {
std::string version_string();   // "0.1.0"
std::string version_git_sha();  // short sha, "-dirty" when built from a modified tree
bool version_has_cuda();
}  // namespace adabench
