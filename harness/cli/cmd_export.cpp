// adabench export: not built yet; the owner of "issue 6: sweeps" replaces this file.
#include "harness/cli/commands.h"

namespace adabench {
int cmd_export(int argc, char** argv) { return cmd_not_built("export", "issue 6: sweeps", argc, argv); }
}  // namespace adabench
