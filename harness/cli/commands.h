// The subcommand table. Each cmd_<name>.cpp defines one entry point; argv[1] is the subcommand.
// Return value is the process exit code. Throw adabench::UsageError for bad flags (exit 2) and
// adabench::Error for everything else (exit 1); main() prints one line for either.
#pragma once

namespace adabench {
int cmd_grade(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_sweep(int argc, char** argv);
int cmd_calibrate(int argc, char** argv);
int cmd_search(int argc, char** argv);
int cmd_runs(int argc, char** argv);
int cmd_export(int argc, char** argv);
int cmd_merge_db(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_route(int argc, char** argv);
int cmd_nightly(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_serve_engine(int argc, char** argv);
int cmd_tasks(int argc, char** argv);
int cmd_version(int argc, char** argv);
// For subcommands whose implementation has not landed: prints the fact, exits 2.
int cmd_not_built(const char* name, const char* issue, int argc, char** argv);
}  // namespace adabench
