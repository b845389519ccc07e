#include <cstdio>
#include <cstring>

#include "harness/cli/commands.h"

namespace adabench {

int cmd_not_built(const char* name, const char* issue, int argc, char** argv) {
    for (int i = 2; i < argc; ++i)
        if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
            std::printf("usage: adabench %s [options]\n\nThis subcommand is not built yet (%s).\n", name, issue);
            return 0;
        }
    std::fprintf(stderr, "error: adabench %s is not built yet (%s)\n", name, issue);
    return 2;
}

}  // namespace adabench
