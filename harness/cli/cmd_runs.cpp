// adabench runs: lists the runs of a store (id, status, samples stored ok / planned, failed samples,
// shards, engine, tasks, config hash). Read-only (immutable where the folder cannot be written)
// apart from migrating an adabench store of an older schema; never gives an empty or foreign file a
// schema; --json for
// scripts. A failed sample (failed_infra: an external server gave up after its retries) is stored
// but not done: the same sweep command re-issues it, so "samples" counts only ok ones.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "store/store.h"

namespace adabench {

int cmd_runs(int argc, char** argv) {
    ArgParser args("runs",
                   "List the runs in a store: status, samples stored ok of planned, failed samples (re-issued by\n"
                   "the same sweep command), shards, engine, tasks.");
    args.option("db", "FILE", "the SQLite store (required)").flag("json", "print a JSON array instead of a table");
    if (!args.parse(argc, argv)) return 0;
    if (!args.has("db")) throw UsageError("adabench runs: --db FILE is required");
    std::string path = args.get("db");
    if (!io_file_exists(path)) throw Error(path + ": no such store", "check the --db path");
    Store store(path, STORE_MODE_READ_MIGRATE);
    auto runs = store.list_runs();
    nlohmann::json out = nlohmann::json::array();
    if (!args.has("json")) {
        std::printf("%-4s %-11s %-17s %-7s %-20s %-20s %-8s %-12s %s\n", "id", "status", "samples", "failed", "started",
                    "finished", "engine", "config", "tasks");
    }
    for (const auto& r : runs) {
        int64_t stored = store.count_samples(r.id);  // ok samples: what resume counts as done
        int64_t failed = store.count_failed_samples(r.id);
        std::string tasks;
        auto cfg = nlohmann::json::parse(r.config_json, nullptr, false);
        if (!cfg.is_discarded() && cfg.contains("tasks") && cfg["tasks"].is_array())
            for (const auto& t : cfg["tasks"])
                if (t.is_object() && t.contains("name") && t["name"].is_string())
                    tasks += (tasks.empty() ? "" : ",") + t["name"].get<std::string>();
        if (args.has("json")) {
            out.push_back({{"id", r.id},
                           {"status", r.status},
                           {"samples_stored", stored},
                           {"samples_failed", failed},
                           {"samples_planned", r.n_samples_planned},
                           {"points", r.n_points},
                           {"shards", r.shards},
                           {"started_at", r.started_at},
                           {"finished_at", r.finished_at},
                           {"engine", r.engine},
                           {"device", r.device},
                           {"host", r.host},
                           {"git_sha", r.git_sha},
                           {"config_hash", r.config_hash},
                           {"model_hash", r.model_hash},
                           {"tasks", tasks}});
            continue;
        }
        std::string samples = std::to_string(stored) + "/" + std::to_string(r.n_samples_planned);
        std::string status = r.status + (r.shards.empty() ? "" : "*");
        std::printf("%-4lld %-11s %-17s %-7lld %-20s %-20s %-8s %-12s %s\n", static_cast<long long>(r.id),
                    status.c_str(), samples.c_str(), static_cast<long long>(failed), r.started_at.c_str(),
                    r.finished_at.empty() ? "-" : r.finished_at.c_str(), r.engine.empty() ? "-" : r.engine.c_str(),
                    r.config_hash.substr(0, 12).c_str(), tasks.c_str());
    }
    if (args.has("json")) {
        std::printf("%s\n", out.dump(2).c_str());
    } else if (runs.empty()) {
        std::printf("(no runs in %s)\n", path.c_str());
    } else {
        bool any_shards = false;
        for (const auto& r : runs) any_shards = any_shards || !r.shards.empty();
        if (any_shards) std::printf("* shards: adabench runs --db %s --json shows which\n", path.c_str());
        bool any_failed = false;
        for (const auto& r : runs) any_failed = any_failed || store.count_failed_samples(r.id) > 0;
        if (any_failed)
            std::printf(
                "failed: samples an inference server gave up on (left out of reports); run the same sweep "
                "command again to re-issue them\n");
    }
    return 0;
}

}  // namespace adabench
