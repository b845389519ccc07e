#include "common/io.h"

#include <filesystem>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"

namespace adabench {

std::string io_read_file(const std::string& path) {
    struct stat st;
    // An ifstream "opens" a directory and reads nothing, which the caller would then misreport.
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        throw Error(path + ": is a directory, not a file", "give the path of the file inside it");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) throw Error(path + ": read error");
    return ss.str();
}

namespace {

// The mode a plain fopen would have created the file with (mkstemp uses 0600).
mode_t io_default_file_mode() {
    mode_t mask = ::umask(0);
    ::umask(mask);
    return 0666 & ~mask;
}

}  // namespace

IoOutputFile::IoOutputFile(const std::string& path) : path_(path) {
    namespace fs = std::filesystem;
    if (path.empty()) throw Error("output path is empty");
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) throw Error(path + ": is a directory", "give a file path for the output");
        if (!S_ISREG(st.st_mode)) {  // a device or a FIFO: write it in place
            file_ = std::fopen(path.c_str(), "wb");
            if (!file_) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
            return;
        }
    }
    fs::path target(path);
    fs::path dir = target.parent_path();
    std::string name = target.filename().string();
    if (name.empty() || name == "." || name == "..")
        throw Error(path + ": is a directory", "give a file path for the output");
    std::string tmpl = (dir.empty() ? std::string() : dir.string() + "/") + "." + name + ".tmp.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkstemp(buf.data());
    if (fd < 0) throw Error(path + ": cannot create a temporary file beside it: " + std::strerror(errno));
    tmp_ = buf.data();
    if (::fchmod(fd, io_default_file_mode()) != 0 || !(file_ = ::fdopen(fd, "wb"))) {
        int e = errno;
        ::close(fd);
        ::unlink(tmp_.c_str());
        throw Error(path + ": cannot open " + tmp_ + " for writing: " + std::strerror(e));
    }
}

IoOutputFile::~IoOutputFile() {
    if (file_) std::fclose(file_);
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void IoOutputFile::write(const void* data, size_t n) {
    if (!file_) throw Error(path_ + ": write after the file was closed");
    if (n > 0 && std::fwrite(data, 1, n, file_) != n) throw Error(path_ + ": write failed: " + std::strerror(errno));
}

void IoOutputFile::commit() {
    if (!file_) throw Error(path_ + ": committed twice");
    FILE* f = file_;
    file_ = nullptr;
    // fflush and fclose report a full disk (or /dev/full) that buffered writes hid.
    errno = 0;
    bool ok = std::fflush(f) == 0;
    int e = errno;
    if (std::fclose(f) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (!ok) throw Error(path_ + ": write failed: " + std::strerror(e ? e : EIO));
    if (tmp_.empty()) return;
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
        throw Error(path_ + ": cannot rename " + tmp_ + " over it: " + std::strerror(errno));
    tmp_.clear();
}

void io_write_file_atomic(const std::string& path, const std::string& data) {
    IoOutputFile out(path);
    out.write(data);
    out.commit();
}

bool io_file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::string io_printable(const std::string& text) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    auto escape = [&](unsigned char b) {
        out += "\\x";
        out += hex[b >> 4];
        out += hex[b & 15];
    };
    size_t i = 0;
    while (i < text.size()) {
        auto b = static_cast<unsigned char>(text[i]);
        if (b < 0x80) {
            if ((b < 0x20 && b != '\n' && b != '\t') || b == 0x7f)
                escape(b);
            else
                out += static_cast<char>(b);
            ++i;
            continue;
        }
        // The length and the allowed range of the second byte (RFC 3629: no overlongs, surrogates
        // or code points above U+10FFFF).
        size_t n = 0;
        unsigned char lo = 0x80, hi = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            n = 2;
        } else if (b >= 0xe0 && b <= 0xef) {
            n = 3;
            if (b == 0xe0) lo = 0xa0;
            if (b == 0xed) hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            n = 4;
            if (b == 0xf0) lo = 0x90;
            if (b == 0xf4) hi = 0x8f;
        }
        bool ok = n > 0 && i + n <= text.size();
        for (size_t k = 1; ok && k < n; ++k) {
            auto c = static_cast<unsigned char>(text[i + k]);
            ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xbf);
        }
        if (ok) {
            out.append(text, i, n);
            i += n;
        } else {
            escape(b);
            ++i;
        }
    }
    return out;
}

nlohmann::json io_read_json(const std::string& path) {
    std::string text = io_read_file(path);
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        // parse_error, and out_of_range for a number that overflows a double ("1e3081")
        throw Error(path + ": malformed JSON: " + io_printable(e.what()));
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
