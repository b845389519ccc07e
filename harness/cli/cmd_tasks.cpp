// adabench tasks: lists the task configs with record counts, versions, checksums and whether each
// data file verifies against its pinned sha256. Exit 1 when any task is broken or modified, so
// scripts and CI can use it as a check. It never changes files.
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "datasets/dataset.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"

namespace adabench {

namespace {

struct TaskRow {
    std::string name, version, grader, default_template, data_file, sha256, sha256_expected, status, error, description;
    size_t n_problems = 0;
};

TaskRow tasks_inspect(const std::string& name_or_path, const std::string& root) {
    TaskRow r;
    r.name = name_or_path;
    try {
        TaskConfig t = dataset_load_task(name_or_path, root);
        r.name = t.name;
        r.version = t.version;
        r.grader = t.grader;
        r.default_template = t.default_template;
        r.data_file = t.data_file;
        r.description = t.description;
        r.sha256_expected = t.sha256;
        DatasetLoadOptions opt;
        opt.verify_sha256 = false;
        opt.limit = 0;
        Dataset d = dataset_load(t, opt);
        r.n_problems = d.n_records;
        r.sha256 = d.sha256;
        if (t.sha256.empty())
            r.status = "unpinned";
        else
            r.status = d.sha256 == t.sha256 ? "ok" : "MODIFIED";
    } catch (const Error& e) {
        r.status = "ERROR";
        r.error = e.what();
    }
    return r;
}

}  // namespace

int cmd_tasks(int argc, char** argv) {
    ArgParser args("tasks",
                   "List the evaluation tasks (configs/tasks/*.json) with their problem counts, versions and\n"
                   "data checksums, and check each data file against its pinned sha256.");
    args.flag("json", "print a JSON array instead of a table")
        .option("task", "NAME|PATH", "show only this task (a name or the path of a task config)", true)
        .option("root", "DIR", "repository root (default: $ADABENCH_ROOT, else found from the executable)")
        .epilog(
            "verified: ok = matches the pinned sha256; MODIFIED = differs from it (loading refuses it);\n"
            "unpinned = the config pins no sha256 (user data); ERROR = the config or data is broken.\n"
            "Exit status 1 when any task is MODIFIED or ERROR.");
    if (!args.parse(argc, argv)) return 0;

    std::string root = args.get("root");
    std::vector<std::string> names = args.get_all("task");
    if (names.empty()) {
        if (root.empty()) root = dataset_find_root();
        names = dataset_list_tasks(root);
        if (names.empty()) throw Error(root + "/configs/tasks: no task configs (*.json) found");
    }
    std::vector<TaskRow> rows;
    for (const auto& n : names) {
        // Configs and data are untrusted: invalid UTF-8 or control bytes in any field (or quoted in an
        // error) are escaped, so neither the table nor the JSON echoes binary or fails to encode.
        TaskRow r = tasks_inspect(n, root);
        for (std::string* f : {&r.name, &r.version, &r.grader, &r.default_template, &r.data_file, &r.sha256,
                               &r.sha256_expected, &r.status, &r.error, &r.description})
            *f = io_printable(*f);
        rows.push_back(std::move(r));
    }

    size_t n_bad = 0;
    for (const auto& r : rows) n_bad += (r.status == "MODIFIED" || r.status == "ERROR");

    if (args.has("json")) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& r : rows) {
            nlohmann::json j = {{"name", r.name}, {"verified", r.status}};
            if (r.status == "ERROR") {
                j["error"] = r.error;
            } else {
                j["version"] = r.version;
                j["n_problems"] = r.n_problems;
                j["sha256"] = r.sha256;
                j["sha256_expected"] = r.sha256_expected.empty() ? nlohmann::json() : nlohmann::json(r.sha256_expected);
                j["grader"] = r.grader;
                j["default_template"] = r.default_template;
                j["data_file"] = r.data_file;
                j["description"] = r.description;
            }
            out.push_back(j);
        }
        std::printf("%s\n", out.dump(2).c_str());
    } else {
        std::printf("%-12s %-8s %8s  %-12s  %-9s %-8s %s\n", "name", "version", "problems", "sha256", "verified",
                    "grader", "description");
        for (const auto& r : rows) {
            if (r.status == "ERROR") {
                std::printf("%-12s %-8s %8s  %-12s  %-9s %-8s %s\n", r.name.c_str(), "-", "-", "-", "ERROR", "-",
                            r.error.c_str());
                continue;
            }
            std::printf("%-12s %-8s %8zu  %-12s  %-9s %-8s %s\n", r.name.c_str(), r.version.c_str(), r.n_problems,
                        r.sha256.substr(0, 12).c_str(), r.status.c_str(), r.grader.c_str(), r.description.c_str());
        }
        if (n_bad == 0)
            std::printf("%zu tasks, all verify\n", rows.size());
        else
            std::printf("%zu tasks, %zu failed verification\n", rows.size(), n_bad);
    }
    return n_bad == 0 ? 0 : 1;
}

}  // namespace adabench
