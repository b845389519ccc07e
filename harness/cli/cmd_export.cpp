// adabench export: one line per sample of a run, as CSV (RFC 4180, header first) or JSONL, with
// the sample's grid point columns (task, budget, coefficients, merge λ, sampling) first. Columns
// come from the store's field list. Writes stdout, or --output FILE atomically (temp + rename).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "store/store.h"

namespace adabench {

int cmd_export(int argc, char** argv) {
    ArgParser args("export", "Export the samples of a run, one line per sample, as CSV or JSONL.");
    args.option("db", "FILE", "the SQLite store (required)")
        .option("run", "ID|latest", "the run to export (default latest)")
        .option("format", "FMT", "csv (default) or jsonl")
        .option("output", "FILE", "write here instead of stdout")
        .option("task", "NAME", "only samples of this task")
        .flag("no-text", "leave out prompt_text and response_text (much smaller files)");
    if (!args.parse(argc, argv)) return 0;
    if (!args.has("db")) throw UsageError("adabench export: --db FILE is required");
    std::string format = args.get("format", "csv");
    if (format != "csv" && format != "jsonl")
        throw UsageError("adabench export: --format '" + format + "' must be csv or jsonl");
    std::string path = args.get("db");
    if (!io_file_exists(path)) throw Error(path + ": no such store", "check the --db path");
    io_refuse_output_over_input("export", args.get("output"), {path});
    Store store(path, STORE_MODE_READ_ONLY);  // never writes: a 0-byte file is refused, not made a store
    RunRecord run = store.resolve_run(args.get("run", "latest"));

    std::vector<PointRecord> points = store.list_points(run.id);
    if (args.has("task")) {
        std::set<std::string> tasks;
        for (const auto& p : points) tasks.insert(p.task);
        if (!tasks.count(args.get("task"))) {
            std::string list;
            for (const auto& t : tasks) list += (list.empty() ? "" : ", ") + t;
            throw UsageError(
                "adabench export: --task " + args.get("task") + ": run " + std::to_string(run.id) + " has no such task",
                list.empty() ? "the run has no grid points yet" : "its tasks: " + list);
        }
    }

    std::string out_path = args.get("output");
    std::unique_ptr<IoOutputFile> file;
    if (!out_path.empty()) file = std::make_unique<IoOutputFile>(out_path);
    auto write = [&](const std::string& s) {
        if (file) {
            file->write(s);
        } else if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size()) {
            throw Error(std::string("stdout: write failed: ") + std::strerror(errno));
        }
    };
    if (format == "csv") write(store_export_csv_header());
    int64_t n = 0;
    // Point by point keeps memory bounded by the largest point, not the run.
    for (const auto& p : points) {
        if (args.has("task") && p.task != args.get("task")) continue;
        SampleFilter f;
        f.run_id = run.id;
        f.point_id = p.point_id;
        f.with_text = !args.has("no-text");
        for (const auto& s : store.list_samples(f)) {
            write(format == "csv" ? store_export_csv_row(p, s) : store_export_jsonl_row(p, s));
            ++n;
        }
    }
    if (file) {
        file->commit();
    } else if (std::fflush(stdout) != 0) {
        throw Error(std::string("stdout: write failed: ") + std::strerror(errno));
    }
    std::fprintf(stderr, "exported %lld samples of run %lld (%s)\n", static_cast<long long>(n),
                 static_cast<long long>(run.id), format.c_str());
    return 0;
}

}  // namespace adabench
