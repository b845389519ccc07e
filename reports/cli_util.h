// Small helpers shared by the report CLI commands (report, compare, nightly, serve): "-o FILE" as an
// alias of "--output FILE" (ArgParser knows long options only), and opening a store read-only with
// a clear error. Not here: the commands themselves (harness/cli/cmd_*.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace adabench {

// Copies argv with "-o" replaced by "--output"; the returned pointers live as long as `storage`.
std::vector<char*> report_cli_argv(int argc, char** argv, std::vector<std::string>& storage);
// Opens `path` read-only; a missing file or a non-store throws Error naming it with a hint.
std::unique_ptr<Store> report_open_store(const std::string& path);
// Parses a run id ("latest" or a positive integer) against the store; throws UsageError on junk.
int64_t report_resolve_run(const Store& store, const std::string& text, const std::string& flag);

}  // namespace adabench
