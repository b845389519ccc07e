// safetensors: validation of the header against the file before any data access, mmap, writer.
// Also defines dtype_name / dtype_size (declared in engines/model/model.h).
#include "engines/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/json_strict.h"
#include "engines/model/loader.h"

namespace adabench {

const char* dtype_name(DType t) {
    switch (t) {
        case DTYPE_F32:
            return "f32";
        case DTYPE_F16:
            return "f16";
        case DTYPE_BF16:
            return "bf16";
    }
    return "unknown";
}

size_t dtype_size(DType t) {
    switch (t) {
        case DTYPE_F32:
            return 4;
        case DTYPE_F16:
        case DTYPE_BF16:
            return 2;
    }
    return 0;
}

DType dtype_parse_safetensors(const std::string& name, bool* ok) {
    *ok = true;
    if (name == "F32") return DTYPE_F32;
    if (name == "F16") return DTYPE_F16;
    if (name == "BF16") return DTYPE_BF16;
    *ok = false;
    return DTYPE_F32;
}

const char* dtype_safetensors_name(DType t) {
    switch (t) {
        case DTYPE_F32:
            return "F32";
        case DTYPE_F16:
            return "F16";
        case DTYPE_BF16:
            return "BF16";
    }
    return "?";
}

namespace {

// The reference implementation refuses headers above 100 MB; so do we (a hostile length must not
// make us allocate or scan gigabytes).
constexpr uint64_t k_max_header = 100ull << 20;

uint64_t read_u64_le(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

[[noreturn]] void fail_tensor(const std::string& path, const std::string& name, const std::string& problem,
                              const std::string& hint = "") {
    throw Error(path + ": tensor '" + name + "': " + problem, hint);
}

}  // namespace

namespace {

// Validates the header of a file of `size` bytes. `bytes` holds the file's first min(size, 8 + N)
// bytes at least (N the header length; nothing past the header is read here); tensors point into
// it only when `with_data`, else their data stays null (a header-only open).
SafetensorsFile parse_impl(const std::string& path, const void* bytes, uint64_t size, bool with_data) {
    const auto* base = static_cast<const unsigned char*>(bytes);
    SafetensorsFile out;
    out.path = path;
    out.file_size = size;
    if (size < 8) {
        throw Error(path + ": not a safetensors file: " + std::to_string(size) +
                        " bytes, shorter than the 8-byte header length",
                    "the file is truncated or empty");
    }
    uint64_t n_header = read_u64_le(base);
    if (n_header > k_max_header) {
        throw Error(path + ": safetensors header length " + std::to_string(n_header) + " exceeds the 100 MB limit",
                    "is this really a .safetensors file?");
    }
    if (n_header > size - 8) {
        throw Error(path + ": safetensors header length " + std::to_string(n_header) +
                        " runs past the end of the file (" + std::to_string(size) + " bytes)",
                    "the file is truncated");
    }
    const uint64_t data_begin = 8 + n_header;
    const uint64_t data_size = size - data_begin;

    // Duplicate tensor names are refused (a parser keeping the last would hide the first's data).
    nlohmann::json header;
    try {
        header = json_parse_strict(path, std::string_view(reinterpret_cast<const char*>(base + 8), (size_t)n_header),
                                   "safetensors JSON header");
    } catch (const Error& e) {
        std::string m = e.what();
        if (m.find(": duplicate key") != std::string::npos) throw;
        throw Error(m, "the file is corrupt or truncated");
    }
    if (!header.is_object()) throw Error(path + ": safetensors header is not a JSON object");

    struct Range {
        uint64_t begin, end;
        const std::string* name;
    };
    std::vector<Range> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        if (name == "__metadata__") continue;
        const auto& e = it.value();
        if (!e.is_object()) fail_tensor(path, name, "header entry is not an object");
        if (!e.contains("dtype") || !e.at("dtype").is_string())
            fail_tensor(path, name, "missing or non-string 'dtype'");
        if (!e.contains("shape") || !e.at("shape").is_array()) fail_tensor(path, name, "missing or non-list 'shape'");
        if (!e.contains("data_offsets") || !e.at("data_offsets").is_array() || e.at("data_offsets").size() != 2) {
            fail_tensor(path, name, "'data_offsets' must be a list of two integers");
        }
        SafetensorsTensor t;
        t.name = name;
        bool ok = false;
        std::string dt = e.at("dtype").get<std::string>();
        t.dtype = dtype_parse_safetensors(dt, &ok);
        if (!ok) fail_tensor(path, name, "unsupported dtype '" + dt + "'", "adabench reads F32, F16 and BF16 tensors");

        // numel with overflow checks: every dimension non-negative and the product bounded by the file.
        uint64_t numel = 1;
        for (const auto& d : e.at("shape")) {
            if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0)) {
                fail_tensor(path, name, "shape entries must be non-negative integers");
            }
            uint64_t v = d.get<uint64_t>();
            if (v != 0 && numel > (uint64_t)INT64_MAX / v) fail_tensor(path, name, "shape overflows");
            numel *= v;
            t.shape.push_back((int64_t)v);
        }
        for (const auto& o : e.at("data_offsets")) {
            if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<int64_t>() >= 0)) {
                fail_tensor(path, name, "data_offsets must be non-negative integers");
            }
        }
        uint64_t begin = e.at("data_offsets").at(0).get<uint64_t>();
        uint64_t end = e.at("data_offsets").at(1).get<uint64_t>();
        if (begin > end) {
            fail_tensor(path, name,
                        "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are reversed");
        }
        if (end > data_size) {
            fail_tensor(path, name,
                        "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                            "] run past the data region (" + std::to_string(data_size) + " bytes)",
                        "the file is truncated");
        }
        uint64_t want = 0;
        if (numel > UINT64_MAX / dtype_size(t.dtype)) fail_tensor(path, name, "shape overflows");
        want = numel * dtype_size(t.dtype);
        if (want != end - begin) {
            fail_tensor(path, name,
                        "shape needs " + std::to_string(want) + " bytes of " + dt + " but data_offsets span " +
                            std::to_string(end - begin));
        }
        t.offset = data_begin + begin;
        t.n_bytes = want;
        t.data = with_data ? base + t.offset : nullptr;
        auto [pos, inserted] = out.tensors.emplace(name, std::move(t));
        (void)inserted;  // json_parse_strict refused duplicate keys
        ranges.push_back({begin, end, &pos->first});
    }
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < ranges.size(); ++i) {
        const Range& prev = ranges[i - 1];
        const Range& cur = ranges[i];
        if (cur.begin < prev.end && cur.end > cur.begin) {
            fail_tensor(path, *cur.name, "data overlaps tensor '" + *prev.name + "'", "the file is corrupt");
        }
    }
    return out;
}

}  // namespace

SafetensorsFile safetensors_parse(const std::string& path, const void* bytes, uint64_t size) {
    return parse_impl(path, bytes, size, true);
}

namespace {

// Owned, page-aligned copy of the whole file. Not a mapping: a mapped file that is truncated or
// rewritten in place while a sweep runs (a checkpoint being re-saved) makes the next access to a
// lost page kill the process with SIGBUS, no message, the run left 'running' (#20 D7). A copy is
// immune to whatever happens to the file after load, costs no more memory than touching every
// mapped page would (the non-finite check reads every byte anyway), and the page cache it is read
// through stays reclaimable. A change while reading (size or mtime differs afterwards) is an error.
std::shared_ptr<void> read_owned(int fd, const std::string& path, const struct stat& st0) {
    const uint64_t size = (uint64_t)st0.st_size;
    // 2 MiB aligned, transparent huge pages, populated in one call before reading: 4 KiB pages
    // faulted one by one cost 2 s of CPU per 537 MB on the VM this was measured on, against 0.07 to
    // 0.2 s here (and 14 ms against 0.7 ms for the 5 MB organism).
    constexpr uint64_t k_huge = 2ull << 20;
    const uint64_t len = (size + k_huge - 1) / k_huge * k_huge, reserve = len + k_huge;
    void* raw = ::mmap(nullptr, reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        throw Error(path + ": cannot allocate " + std::to_string(size) + " bytes to read it: " + std::strerror(errno),
                    "the weights are read into memory; is there enough RAM?");
    }
    std::shared_ptr<void> keep(raw, [reserve](void* q) { ::munmap(q, reserve); });
    void* p = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(raw) + k_huge - 1) & ~(uintptr_t)(k_huge - 1));
    ::madvise(p, len, MADV_HUGEPAGE);  // hints: without THP or populate (Linux < 5.14) it is only slower
#ifdef MADV_POPULATE_WRITE
    ::madvise(p, len, MADV_POPULATE_WRITE);
#endif
    std::shared_ptr<void> buf(keep, p);  // aliases `keep`: frees the whole reservation
    auto* dst = static_cast<unsigned char*>(p);
    uint64_t done = 0;
    while (done < size) {
        size_t want = (size_t)std::min<uint64_t>(size - done, 64ull << 20);
        ssize_t got = ::pread(fd, dst + done, want, (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw Error(path + ": read failed at byte " + std::to_string(done) + ": " + std::strerror(errno));
        if (got == 0) {
            throw Error(path + ": file shrank to " + std::to_string(done) + " bytes while being read (it was " +
                            std::to_string(size) + ")",
                        "is another process rewriting this checkpoint?");
        }
        done += (uint64_t)got;
    }
    struct stat st1;
    if (::fstat(fd, &st1) != 0 || st1.st_size != st0.st_size || st1.st_mtim.tv_sec != st0.st_mtim.tv_sec ||
        st1.st_mtim.tv_nsec != st0.st_mtim.tv_nsec) {
        throw Error(path + ": file changed while being read", "is another process rewriting this checkpoint?");
    }
    ::mprotect(p, len, PROT_READ);  // the weights are read-only from here on
    return buf;
}

}  // namespace

void safetensors_check_finite(const SafetensorsFile& f) {
    for (const auto& [name, t] : f.tensors) {
        int64_t n = (int64_t)(t.n_bytes / dtype_size(t.dtype));
        if (n > 0 && !tensor_data_finite(t.dtype, t.data, n)) {
            fail_tensor(f.path, name, "holds " + tensor_data_describe_nonfinite(t.dtype, t.data, n),
                        "the checkpoint is corrupt (a diverged training run or a broken conversion); adabench "
                        "refuses non-finite weights");
        }
    }
}

SafetensorsFile safetensors_open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        throw Error(path + ": cannot stat: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(path + ": not a regular file");
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        ::close(fd);
        return safetensors_parse(path, "", size);  // throws the "shorter than the header" error
    }
    std::shared_ptr<void> owned;
    try {
        owned = read_owned(fd, path, st);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    SafetensorsFile f = safetensors_parse(path, owned.get(), size);
    f.mapping = owned;
    safetensors_check_finite(f);
    return f;
}

SafetensorsFile safetensors_open_header(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st;
    if (::fstat(fd, &st) != 0) throw Error(path + ": cannot stat: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
    const uint64_t size = (uint64_t)st.st_size;
    // Reads exactly `n` bytes from the start of the file into `buf`.
    auto read_prefix = [&](std::string& buf, uint64_t n) {
        buf.resize((size_t)n);
        uint64_t done = 0;
        while (done < n) {
            ssize_t got = ::pread(fd, buf.data() + done, (size_t)(n - done), (off_t)done);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0)
                throw Error(path + ": read failed at byte " + std::to_string(done) + ": " + std::strerror(errno));
            if (got == 0) {
                throw Error(path + ": file shrank to " + std::to_string(done) + " bytes while its header was read",
                            "is another process rewriting this checkpoint?");
            }
            done += (uint64_t)got;
        }
    };
    std::string head;
    read_prefix(head, std::min<uint64_t>(size, 8));
    if (size >= 8) {
        uint64_t n_header = read_u64_le(reinterpret_cast<const unsigned char*>(head.data()));
        // A length past the limit or the file's end: parse_impl throws on the first 8 bytes alone.
        if (n_header <= k_max_header && n_header <= size - 8) read_prefix(head, 8 + n_header);
    }
    return parse_impl(path, head.data(), size, false);
}

namespace {

std::string path_join(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

SafetensorsSet safetensors_open_dir(const std::string& dir, bool read_data) {
    auto open_file = [read_data](const std::string& path) {
        return read_data ? safetensors_open(path) : safetensors_open_header(path);
    };
    SafetensorsSet set;
    std::string index_path = path_join(dir, "model.safetensors.index.json");
    if (io_file_exists(index_path)) {
        nlohmann::json index = json_read_strict(index_path);
        if (!index.is_object() || !index.contains("weight_map") || !index.at("weight_map").is_object()) {
            throw Error(index_path + ": missing 'weight_map' object");
        }
        std::map<std::string, size_t> file_index;
        for (auto it = index.at("weight_map").begin(); it != index.at("weight_map").end(); ++it) {
            if (!it.value().is_string())
                throw Error(index_path + ": weight_map entry '" + it.key() + "' is not a file name");
            std::string file = it.value().get<std::string>();
            if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos ||
                file == "." || file == "..") {
                throw Error(index_path + ": weight_map entry '" + it.key() + "' names '" + file +
                            "', which is not a plain file name in the checkpoint directory");
            }
            if (!file_index.count(file)) {
                file_index[file] = set.files.size();
                set.files.push_back(open_file(path_join(dir, file)));
            }
            const SafetensorsFile& sf = set.files[file_index[file]];
            auto t = sf.tensors.find(it.key());
            if (t == sf.tensors.end()) {
                throw Error(
                    sf.path + ": tensor '" + it.key() + "' is listed in " + index_path + " but absent from this shard",
                    "the checkpoint is incomplete or the index is stale");
            }
            set.tensors[it.key()] = t->second;
        }
        return set;
    }
    std::string single = path_join(dir, "model.safetensors");
    if (!io_file_exists(single)) {
        throw Error(dir + ": no model.safetensors or model.safetensors.index.json",
                    "point --model at a Hugging Face checkpoint directory");
    }
    set.files.push_back(open_file(single));
    set.tensors = set.files.back().tensors;
    return set;
}

void safetensors_write(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    std::vector<const SafetensorsWriteTensor*> order;
    for (const auto& t : tensors) order.push_back(&t);
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        if (dtype_size(a->dtype) != dtype_size(b->dtype)) return dtype_size(a->dtype) > dtype_size(b->dtype);
        return a->name < b->name;
    });
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto* t : order) {
        if (t->name == "__metadata__") throw Error(path + ": a tensor may not be called __metadata__");
        int64_t numel = 1;
        for (auto d : t->shape) {
            if (d < 0) throw Error(path + ": tensor '" + t->name + "' has a negative dimension");
            numel *= d;
        }
        uint64_t n = (uint64_t)numel * dtype_size(t->dtype);
        header[t->name] = {
            {"dtype", dtype_safetensors_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string h = header.dump();
    while ((8 + h.size()) % 8 != 0) h.push_back(' ');
    std::string out;
    out.reserve(8 + h.size() + offset);
    uint64_t n_header = h.size();
    for (int i = 0; i < 8; ++i) out.push_back((char)((n_header >> (8 * i)) & 0xff));
    out += h;
    for (const auto* t : order) {
        int64_t numel = 1;
        for (auto d : t->shape) numel *= d;
        size_t n = (size_t)numel * dtype_size(t->dtype);
        if (n > 0 && !t->data) throw Error(path + ": tensor '" + t->name + "' has no data");
        out.append(static_cast<const char*>(t->data), n);
    }
    io_write_file_atomic(path, out);
}

}  // namespace adabench
