// adabench sweep: not built yet; the owner of "issue 6: sweeps" replaces this file.
#include "harness/cli/commands.h"

namespace adabench {
int cmd_sweep(int argc, char** argv) { return cmd_not_built("sweep", "issue 6: sweeps", argc, argv); }
}  // namespace adabench
