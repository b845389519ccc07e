// adabench generate: not built yet; the owner of "issue 5: CPU engine" replaces this file.
#include "harness/cli/commands.h"

namespace adabench {
int cmd_generate(int argc, char** argv) { return cmd_not_built("generate", "issue 5: CPU engine", argc, argv); }
}  // namespace adabench
