// loader: safetensors validation on hand-made corrupt files (each error names the file and, where it
// applies, the tensor), the writer round trip, and sharded checkpoints through the index.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "engines/model/safetensors.h"

using namespace adabench;

namespace {

std::string tmp_dir() {
    std::string d = std::string(ADABENCH_BINARY_DIR) + "/tests-tmp/loader-st";
    ::mkdir((std::string(ADABENCH_BINARY_DIR) + "/tests-tmp").c_str(), 0755);
    ::mkdir(d.c_str(), 0755);
    return d;
}

// header_len < 0: use the real header length.
std::string make_bytes(const std::string& header, const std::string& data, int64_t header_len = -1) {
    uint64_t n = header_len < 0 ? header.size() : (uint64_t)header_len;
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = (char)((n >> (8 * i)) & 0xff);
    return out + header + data;
}

std::string write_tmp(const std::string& name, const std::string& bytes) {
    std::string p = tmp_dir() + "/" + name;
    std::ofstream(p, std::ios::binary).write(bytes.data(), (std::streamsize)bytes.size());
    return p;
}

// Both opens, the full read and the header-only one, must refuse the file with the same message.
void expect_open_error(const std::string& name, const std::string& bytes, std::initializer_list<const char*> needles) {
    std::string p = write_tmp(name, bytes);
    for (bool header_only : {false, true}) {
        try {
            header_only ? safetensors_open_header(p) : safetensors_open(p);
            ADD_FAILURE() << "expected an error for " << name << (header_only ? " (header only)" : "");
        } catch (const Error& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find(p), std::string::npos) << "file not named: " << msg;
            for (const char* n : needles)
                EXPECT_NE(msg.find(n), std::string::npos) << "missing '" << n << "' in: " << msg;
        }
    }
}

std::string floats(std::initializer_list<float> v) {
    std::string s(v.size() * 4, '\0');
    std::memcpy(s.data(), std::data(v), s.size());
    return s;
}

}  // namespace

TEST(Safetensors, ValidFileAndMetadataIgnored) {
    std::string h = R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                    R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}})";
    std::string p =
        write_tmp("valid.safetensors", make_bytes(h, floats({1, 2, 3, 4}) + std::string("\x80\x3f\x00\x40", 4)));
    SafetensorsFile f = safetensors_open(p);
    ASSERT_EQ(f.tensors.size(), 2u);
    const SafetensorsTensor& w = f.tensors.at("w");
    EXPECT_EQ(w.dtype, DTYPE_F32);
    EXPECT_EQ(w.shape, std::vector<int64_t>({2, 2}));
    float v[4];
    std::memcpy(v, w.data, 16);
    EXPECT_EQ(v[3], 4.0f);
    EXPECT_EQ(f.tensors.at("b").dtype, DTYPE_BF16);
    EXPECT_EQ(f.tensors.at("b").n_bytes, 4u);

    // Header only: the same tensors, offsets and sizes, no data.
    SafetensorsFile m = safetensors_open_header(p);
    ASSERT_EQ(m.tensors.size(), 2u);
    EXPECT_EQ(m.file_size, f.file_size);
    EXPECT_FALSE(m.mapping);
    for (const auto& [name, t] : f.tensors) {
        const SafetensorsTensor& mt = m.tensors.at(name);
        EXPECT_EQ(mt.shape, t.shape);
        EXPECT_EQ(mt.dtype, t.dtype);
        EXPECT_EQ(mt.offset, t.offset);
        EXPECT_EQ(mt.n_bytes, t.n_bytes);
        EXPECT_EQ(mt.data, nullptr);
    }
}

TEST(Safetensors, TruncatedBelowHeaderLength) {
    expect_open_error("short.safetensors", std::string("\x10\x00\x00", 3), {"shorter than the 8-byte header length"});
    expect_open_error("empty.safetensors", "", {"shorter than the 8-byte header length"});
}

TEST(Safetensors, HeaderLengthBeyondFile) {
    std::string h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
    expect_open_error("hlen.safetensors", make_bytes(h, floats({1}), 4096), {"header length 4096", "past the end"});
    expect_open_error("hhuge.safetensors", make_bytes(h, floats({1}), int64_t(1) << 40), {"exceeds the 100 MB limit"});
}

TEST(Safetensors, TruncatedData) {
    std::string h = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    expect_open_error("trunc.safetensors", make_bytes(h, floats({1, 2})),
                      {"tensor 'w'", "past the data region", "truncated"});
}

TEST(Safetensors, OffsetsOutOfRangeOrReversed) {
    std::string h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[100,104]}})";
    expect_open_error("range.safetensors", make_bytes(h, floats({1})), {"tensor 'w'", "[100, 104]"});
    h = R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})";
    expect_open_error("reversed.safetensors", make_bytes(h, floats({1})), {"tensor 'w'", "reversed"});
    h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})";
    expect_open_error("negative.safetensors", make_bytes(h, floats({1})), {"tensor 'w'", "non-negative"});
}

TEST(Safetensors, ShapeSizeMismatch) {
    std::string h = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
    expect_open_error("shape.safetensors", make_bytes(h, floats({1, 2})), {"tensor 'w'", "12 bytes", "span 8"});
    h = R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})";
    expect_open_error("negshape.safetensors", make_bytes(h, floats({1})), {"tensor 'w'", "non-negative"});
    h = R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})";
    expect_open_error("overflow.safetensors", make_bytes(h, floats({1})), {"tensor 'w'", "overflow"});
}

TEST(Safetensors, Overlap) {
    std::string h =
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
    expect_open_error("overlap.safetensors", make_bytes(h, floats({1, 2, 3})), {"tensor 'b'", "overlaps tensor 'a'"});
}

TEST(Safetensors, BadJson) {
    std::string h = R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";  // missing brace
    expect_open_error("badjson.safetensors", make_bytes(h, floats({1})), {"malformed safetensors JSON header"});
    expect_open_error("array.safetensors", make_bytes("[1,2]", ""), {"not a JSON object"});
    h = R"({"w":{"dtype":"F32","shape":[1]}})";
    expect_open_error("nooffsets.safetensors", make_bytes(h, floats({1})), {"tensor 'w'", "data_offsets"});
    h = R"({"w":[1,2]})";
    expect_open_error("entry.safetensors", make_bytes(h, ""), {"tensor 'w'", "not an object"});
}

TEST(Safetensors, UnknownDtype) {
    std::string h = R"({"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})";
    expect_open_error("dtype.safetensors", make_bytes(h, std::string(8, '\0')),
                      {"tensor 'ids'", "unsupported dtype 'I64'", "F32, F16 and BF16"});
}

TEST(Safetensors, WriterRoundTripAndAlignment) {
    std::vector<float> a = {1.5f, -2.0f, 3.25f};
    std::vector<uint16_t> b = {0x3f80, 0xc000};  // bf16 1, -2
    std::vector<uint16_t> c = {0x3c00};          // f16 1
    std::string p = tmp_dir() + "/roundtrip.safetensors";
    // bf16 first in the list: the writer must still place the f32 tensor first so it stays aligned.
    safetensors_write(p,
                      {{"z.bf16", DTYPE_BF16, {2}, b.data()},
                       {"a.f32", DTYPE_F32, {3}, a.data()},
                       {"c.f16", DTYPE_F16, {1, 1}, c.data()}},
                      {{"format", "pt"}});
    SafetensorsFile f = safetensors_open(p);
    ASSERT_EQ(f.tensors.size(), 3u);
    const auto& ta = f.tensors.at("a.f32");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(ta.data) % 4, 0u);
    EXPECT_EQ(std::memcmp(ta.data, a.data(), 12), 0);
    EXPECT_EQ(f.tensors.at("c.f16").shape, std::vector<int64_t>({1, 1}));
    EXPECT_EQ(std::memcmp(f.tensors.at("z.bf16").data, b.data(), 4), 0);
    EXPECT_EQ((f.tensors.at("a.f32").offset) % 8, 0u);  // header padded to 8 bytes
}

TEST(Safetensors, ShardedIndex) {
    std::string d = tmp_dir() + "/sharded";
    ::mkdir(d.c_str(), 0755);
    std::vector<float> x = {1, 2}, y = {3};
    safetensors_write(d + "/model-00001-of-00002.safetensors", {{"x", DTYPE_F32, {2}, x.data()}});
    safetensors_write(d + "/model-00002-of-00002.safetensors", {{"y", DTYPE_F32, {1}, y.data()}});
    io_write_file_atomic(d + "/model.safetensors.index.json",
                         R"({"metadata":{"total_size":12},"weight_map":{"x":"model-00001-of-00002.safetensors",)"
                         R"("y":"model-00002-of-00002.safetensors"}})");
    SafetensorsSet set = safetensors_open_dir(d);
    EXPECT_EQ(set.files.size(), 2u);
    ASSERT_EQ(set.tensors.size(), 2u);
    float v;
    std::memcpy(&v, set.tensors.at("y").data, 4);
    EXPECT_EQ(v, 3.0f);
    SafetensorsSet meta = safetensors_open_dir(d, false);  // header only: same tensors, no data
    ASSERT_EQ(meta.tensors.size(), 2u);
    EXPECT_EQ(meta.tensors.at("x").shape, std::vector<int64_t>({2}));
    EXPECT_EQ(meta.tensors.at("y").data, nullptr);

    // A tensor the index promises but the shard lacks.
    io_write_file_atomic(
        d + "/model.safetensors.index.json",
        R"({"weight_map":{"x":"model-00001-of-00002.safetensors","q":"model-00002-of-00002.safetensors"}})");
    try {
        safetensors_open_dir(d);
        FAIL();
    } catch (const Error& e) {
        std::string msg = e.what();
        EXPECT_NE(msg.find("model-00002-of-00002.safetensors"), std::string::npos) << msg;
        EXPECT_NE(msg.find("tensor 'q'"), std::string::npos) << msg;
    }
    // A shard path escaping the directory.
    io_write_file_atomic(d + "/model.safetensors.index.json", R"({"weight_map":{"x":"../../etc/passwd"}})");
    try {
        safetensors_open_dir(d);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not a plain file name"), std::string::npos) << e.what();
    }
    io_write_file_atomic(d + "/model.safetensors.index.json", R"({"metadata":{}})");
    EXPECT_THROW(safetensors_open_dir(d), Error);
}

TEST(Safetensors, MissingCheckpoint) {
    std::string d = tmp_dir() + "/empty-dir";
    ::mkdir(d.c_str(), 0755);
    try {
        safetensors_open_dir(d);
        FAIL();
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("no model.safetensors"), std::string::npos) << e.what();
    }
}

TEST(Safetensors, ParseNeverReadsPastTheBuffer) {
    // Every prefix of a valid file either parses or throws; none crashes (ASan checks the reads).
    std::string h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    std::string bytes = make_bytes(h, floats({1, 2}));
    int ok = 0;
    for (size_t n = 0; n <= bytes.size(); ++n) {
        std::vector<char> buf(bytes.begin(), bytes.begin() + (long)n);
        try {
            safetensors_parse("prefix", buf.data(), n);
            ++ok;
        } catch (const Error&) {
        }
    }
    EXPECT_EQ(ok, 1);  // only the complete file
}

TEST(Safetensors, MutatedHeadersNeverCrash) {
    // Every header byte replaced by a few troublesome values: each variant parses or throws Error.
    std::string h =
        R"({"a":{"dtype":"F16","shape":[2,1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    std::string bytes = make_bytes(h, floats({1, 2}));
    int parsed = 0, rejected = 0;
    for (size_t pos = 0; pos < bytes.size(); ++pos) {
        for (char v : {'\0', '9', '-', '"', '}', '\xff'}) {
            std::string m = bytes;
            m[pos] = v;
            try {
                safetensors_parse("mutant", m.data(), m.size());
                ++parsed;
            } catch (const Error&) {
                ++rejected;
            }
        }
    }
    EXPECT_GT(rejected, 0);
    EXPECT_GT(parsed, 0);
}
