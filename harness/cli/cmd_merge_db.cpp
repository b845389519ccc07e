// adabench merge-db OUT IN...: combines the stores of a sharded sweep into one. Runs are matched by
// config hash; every input must hold runs of the same configs (and the same model, adapter and data
// hashes), else nothing is written and the mismatch is named. Samples are inserted idempotently, so
// merging a shard twice, or merging while a shard is still running and again later, is safe.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "harness/cli/args.h"
#include "harness/cli/commands.h"
#include "harness/sweep.h"
#include "store/store.h"

namespace adabench {

int cmd_merge_db(int argc, char** argv) {
    ArgParser args("merge-db",
                   "Combine shard stores (adabench sweep --shard I/N --db shardI.db) into one store. Every input\n"
                   "must hold runs of the same sweep config; a mismatch is refused before anything is written.");
    args.positional("OUT", "the combined store (created, or added to)");
    args.positional("IN...", "one or more shard stores");
    // ArgParser holds one value per positional; the inputs are variadic, so argv is read here and
    // ArgParser only serves --help (merge-db has no other options).
    std::vector<std::string> pos;
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            char* help_argv[] = {argv[0], argv[1], argv[i]};
            return args.parse(3, help_argv) ? 0 : 0;
        }
        if (a.size() > 1 && a[0] == '-') throw UsageError("adabench merge-db: unknown option " + a);
        pos.push_back(a);
    }
    if (pos.size() < 2)
        throw UsageError("adabench merge-db: expected OUT IN...", "e.g. adabench merge-db all.db shard*.db");
    std::string out_path = pos[0];
    std::vector<std::string> ins(pos.begin() + 1, pos.end());
    std::error_code ec;
    std::vector<std::unique_ptr<Store>> stores;
    std::set<std::string> first_hashes;
    for (size_t k = 0; k < ins.size(); ++k) {
        if (!io_file_exists(ins[k])) throw Error(ins[k] + ": no such store");
        if (std::filesystem::equivalent(ins[k], out_path, ec))
            throw UsageError("adabench merge-db: input " + ins[k] + " is the output", "write to a new file");
        stores.push_back(std::make_unique<Store>(ins[k], STORE_MODE_READ_ONLY));
        std::set<std::string> hashes;
        for (const auto& r : stores.back()->list_runs()) hashes.insert(r.config_hash);
        if (hashes.empty()) throw Error(ins[k] + ": has no runs", "is this a shard store written by adabench sweep?");
        if (k == 0) {
            first_hashes = hashes;
        } else if (hashes != first_hashes) {
            std::string odd;
            for (const auto& h : hashes)
                if (!first_hashes.count(h)) odd = h;
            for (const auto& h : first_hashes)
                if (odd.empty() && !hashes.count(h)) odd = h;
            throw Error("refusing to merge: " + ins[k] + " and " + ins[0] + " hold runs of different sweep configs " +
                            "(config hash " + odd.substr(0, 12) + " is in only one of them)",
                        "merge-db combines shards of one sweep; compare them with adabench runs --db FILE");
        }
    }
    Store out(out_path);
    MergeDbReport total;
    for (size_t k = 0; k < stores.size(); ++k) {
        auto r = sweep_merge_db(out, *stores[k], true);
        total.runs_added += r.runs_added;
        total.samples_inserted += r.samples_inserted;
        total.samples_seen += r.samples_seen;
        std::fprintf(stderr, "%s: %lld samples, %lld new\n", ins[k].c_str(), static_cast<long long>(r.samples_seen),
                     static_cast<long long>(r.samples_inserted));
    }
    for (const auto& r : out.list_runs())
        std::printf("run %lld: %s, %lld/%lld samples, shards %s\n", static_cast<long long>(r.id), r.status.c_str(),
                    static_cast<long long>(out.count_samples(r.id)), static_cast<long long>(r.n_samples_planned),
                    r.shards.empty() ? "-" : r.shards.c_str());
    return 0;
}

}  // namespace adabench
