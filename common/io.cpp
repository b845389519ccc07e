#include "common/io.h"

#include <filesystem>

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"

namespace adabench {

std::string io_read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(path + ": read error");
    return ss.str();
}

void io_write_file_atomic(const std::string& path, const std::string& data) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw Error(path + ": cannot write: " + std::strerror(errno));
        out.write(data.data(), std::streamsize(data.size()));
        out.flush();
        if (!out) throw Error(path + ": write failed (disk full?)");
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
        throw Error(path + ": cannot rename temporary file: " + std::strerror(errno));
}

bool io_file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

nlohmann::json io_read_json(const std::string& path) {
    std::string text = io_read_file(path);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw Error(path + ": malformed JSON: " + e.what());
    }
}

}  // namespace adabench

namespace adabench {

void io_refuse_output_over_input(const std::string& command, const std::string& output,
                                 const std::vector<std::string>& inputs) {
    namespace fs = std::filesystem;
    if (output.empty() || output == "-") return;
    std::error_code ec;
    fs::path out = fs::weakly_canonical(output, ec);
    if (ec) out = fs::absolute(output, ec);
    for (const auto& in : inputs) {
        if (in.empty() || in == "-") continue;
        for (const char* suffix : {"", "-wal", "-journal", "-shm"}) {
            std::string cand = in + suffix;
            std::error_code e1, e2;
            bool same = fs::equivalent(cand, output, e1);
            if (e1) {
                fs::path c = fs::weakly_canonical(cand, e2);
                same = !e2 && c == out;
            }
            if (same)
                throw UsageError("adabench " + command + ": the output " + output + " is the input " + cand +
                                     (suffix[0] ? " (a file of the store)" : "") + ": writing it would destroy it",
                                 "write to another path");
        }
    }
}

}  // namespace adabench
