// adabench tasks: not built yet; the owner of "issue 3: datasets" replaces this file.
#include "harness/cli/commands.h"

namespace adabench {
int cmd_tasks(int argc, char** argv) { return cmd_not_built("tasks", "issue 3: datasets", argc, argv); }
}  // namespace adabench
