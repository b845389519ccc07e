// CLI helpers for the report commands (see cli_util.h).
#include "reports/cli_util.h"

#include <cctype>

#include "common/error.h"
#include "common/io.h"

namespace adabench {

std::vector<char*> report_cli_argv(int argc, char** argv, std::vector<std::string>& storage) {
    storage.clear();
    for (int i = 0; i < argc; ++i) storage.push_back(std::string(argv[i]) == "-o" ? "--output" : argv[i]);
    std::vector<char*> out;
    for (auto& s : storage) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

std::unique_ptr<Store> report_open_store(const std::string& path) {
    if (path.empty()) throw UsageError("--db FILE is required");
    if (!io_file_exists(path)) throw Error(path + ": no such store", "check the --db path");
    return std::make_unique<Store>(path, STORE_MODE_READ_ONLY);
}

int64_t report_resolve_run(const Store& store, const std::string& text, const std::string& flag) {
    if (text != "latest") {
        bool digits = !text.empty() && text.size() < 18;
        for (char c : text) digits = digits && std::isdigit(static_cast<unsigned char>(c));
        if (!digits || std::stoll(text) <= 0)
            throw UsageError("--" + flag + " expects a run id (a positive integer) or 'latest', got '" + text + "'");
    }
    return store.resolve_run(text).id;
}

}  // namespace adabench
