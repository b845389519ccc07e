// Small helpers shared by the libFuzzer targets: a private scratch directory for parsers that read
// files, and splitting one input into several documents.
#pragma once
#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace adabench_fuzz {

// A directory of this process's own (mkdtemp under $TMPDIR or /tmp), made on first use and left for
// the OS to clean: libFuzzer exits through _exit on a crash, so no destructor would run anyway.
inline const std::string& scratch_dir() {
    static const std::string dir = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/adabench-fuzz-XXXXXX";
        if (!mkdtemp(templ.data())) {
            std::perror("mkdtemp");
            std::abort();
        }
        return templ;
    }();
    return dir;
}

// Writes `data` to scratch_dir()/name (replacing it) and returns the path.
inline std::string write_scratch(const std::string& name, std::string_view data) {
    std::string path = scratch_dir() + "/" + name;
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) {
        std::perror(path.c_str());
        std::abort();
    }
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f) != data.size()) std::abort();
    std::fclose(f);
    return path;
}

inline void remove_scratch(const std::string& name) { unlink((scratch_dir() + "/" + name).c_str()); }

// Splits the input at each separator line "\n----\n" (at most max_parts parts; the last part keeps
// any further separators). Seeds are written in this form, so the fuzzer mutates every part.
inline std::vector<std::string_view> split_parts(const uint8_t* data, size_t size, size_t max_parts) {
    std::string_view s(reinterpret_cast<const char*>(data), size);
    static constexpr std::string_view sep = "\n----\n";
    std::vector<std::string_view> out;
    while (out.size() + 1 < max_parts) {
        size_t at = s.find(sep);
        if (at == std::string_view::npos) break;
        out.push_back(s.substr(0, at));
        s.remove_prefix(at + sep.size());
    }
    out.push_back(s);
    while (out.size() < max_parts) out.push_back(std::string_view());
    return out;
}

}  // namespace adabench_fuzz
