#include <cstdio>

#include "common/version.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"

namespace adabench {

int cmd_version(int argc, char** argv) {
    ArgParser args(
        "version",
        "Print the version, the git sha this binary was built from and whether CUDA support is compiled in.");
    if (!args.parse(argc, argv)) return 0;
    std::printf("adabench %s (git %s) cuda: %s\n", version_string().c_str(), version_git_sha().c_str(),
                version_has_cuda() ? "compiled in" : "not compiled in");
    return 0;
}

}  // namespace adabench
