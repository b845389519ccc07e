// adabench export: one line per sample of a run, as CSV (RFC 4180, header first) or JSONL, with
// the sample's grid point columns (task, budget, coefficients, merge λ, sampling) first. Columns
// come from the store's field list. Writes stdout, or --output FILE atomically (temp + rename).
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

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
    Store store(path);
    RunRecord run = store.resolve_run(args.get("run", "latest"));

    std::string out_path = args.get("output");
    std::string tmp = out_path + ".tmp";
    std::unique_ptr<FILE, int (*)(FILE*)> file(nullptr, &std::fclose);
    FILE* out = stdout;
    if (!out_path.empty()) {
        file.reset(std::fopen(tmp.c_str(), "wb"));
        if (!file) throw Error(tmp + ": cannot open for writing: " + std::strerror(errno));
        out = file.get();
    }
    auto write = [&](const std::string& s) {
        if (std::fwrite(s.data(), 1, s.size(), out) != s.size())
            throw Error((out_path.empty() ? std::string("stdout") : tmp) + ": write failed: " + std::strerror(errno));
    };
    if (format == "csv") write(store_export_csv_header());
    int64_t n = 0;
    // Point by point keeps memory bounded by the largest point, not the run.
    for (const auto& p : store.list_points(run.id)) {
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
        if (std::fclose(file.release()) != 0) throw Error(tmp + ": write failed: " + std::strerror(errno));
        if (std::rename(tmp.c_str(), out_path.c_str()) != 0)
            throw Error(out_path + ": cannot rename " + tmp + " over it: " + std::strerror(errno));
    } else {
        std::fflush(stdout);
    }
    std::fprintf(stderr, "exported %lld samples of run %lld (%s)\n", static_cast<long long>(n),
                 static_cast<long long>(run.id), format.c_str());
    return 0;
}

}  // namespace adabench
