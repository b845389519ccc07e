// adabench compare: not built yet; the owner of "issue 7: reports" replaces this file.
#include "harness/cli/commands.h"

namespace adabench {
int cmd_compare(int argc, char** argv) { return cmd_not_built("compare", "issue 7: reports", argc, argv); }
}  // namespace adabench
