// adabench merge-db OUT IN...: combines the stores of a sharded sweep into one. Runs are matched by
// config hash; every input must hold runs of the same configs (and the same model, adapter and data
// hashes), else nothing is written and the mismatch is named. Samples are inserted idempotently, so
// merging a shard twice, or merging while a shard is still running and again later, is safe.
//
// The whole merge is one transaction: runs, points, samples and the run status land together or
// not at all, so a merge killed or failing at any point (disk full, I/O error) leaves OUT as it
// was, and an OUT this command created is removed again. An OUT that already holds runs of another
// sweep is refused before anything is written.
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
    // OUT: refused untouched when it is not an adabench store, is read-only, has a newer schema
    // (Store) or holds runs of another sweep (here); created fresh otherwise.
    bool created = !io_file_exists(out_path);
    auto remove_created = [&] {
        if (!created) return;
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(out_path + suffix, ec);
    };
    std::unique_ptr<Store> out;
    std::vector<MergeDbReport> reports;
    std::string summary;  // read before the commit: after it, nothing may fail
    try {
        out = std::make_unique<Store>(out_path);
        for (const auto& r : out->list_runs())
            if (!first_hashes.count(r.config_hash))
                throw Error("refusing to merge into " + out_path + ": it already holds run " + std::to_string(r.id) +
                                " of another sweep (config hash " + r.config_hash.substr(0, 12) + "), not in " + ins[0],
                            "merge-db combines shards of one sweep; write to a new OUT file");
        StoreTransaction tx(*out);
        for (const auto& in : stores) reports.push_back(sweep_merge_db(*out, *in, true));
        for (const auto& r : out->list_runs())
            summary += "run " + std::to_string(r.id) + ": " + r.status + ", " +
                       std::to_string(out->count_samples(r.id)) + "/" + std::to_string(r.n_samples_planned) +
                       " samples, shards " + (r.shards.empty() ? "-" : r.shards) + "\n";
        tx.commit();
    } catch (...) {
        out.reset();
        remove_created();
        throw;
    }
    for (size_t k = 0; k < reports.size(); ++k)
        std::fprintf(stderr, "%s: %lld samples, %lld new\n", ins[k].c_str(),
                     static_cast<long long>(reports[k].samples_seen),
                     static_cast<long long>(reports[k].samples_inserted));
    std::fputs(summary.c_str(), stdout);
    return 0;
}

}  // namespace adabench
