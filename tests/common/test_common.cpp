// common: SHA-256 against FIPS 180-4 / NIST test vectors, file helpers' errors.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "common/host_check.h"
#include "common/io.h"
#include "common/sha256.h"
#include "common/version.h"

using namespace adabench;

TEST(Sha256, NistVectors) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    std::string million(1000000, 'a');
    EXPECT_EQ(sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingEqualsOneShot) {
    std::string data;
    for (int i = 0; i < 1000; ++i) data += char('a' + i % 26);
    for (size_t chunk : {1u, 3u, 63u, 64u, 65u, 200u}) {
        Sha256 h;
        for (size_t i = 0; i < data.size(); i += chunk) h.update(std::string_view(data).substr(i, chunk));
        EXPECT_EQ(h.hex(), sha256_hex(data)) << "chunk " << chunk;
    }
}

TEST(Io, MissingFileNamesThePath) {
    try {
        io_read_file("/nonexistent/adabench-file.json");
        FAIL() << "expected an error";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/adabench-file.json"), std::string::npos);
    }
}

// io_read_json of `text` fails with an error naming the file and saying "malformed JSON".
void expect_malformed_json(const std::string& name, const std::string& text) {
    std::string path = testing::TempDir() + name;
    io_write_file_atomic(path, text);
    try {
        io_read_json(path);
        FAIL() << "expected an error";
    } catch (const Error& e) {
        std::string w = e.what();
        EXPECT_NE(w.find(path), std::string::npos);
        EXPECT_NE(w.find("malformed JSON"), std::string::npos) << w;
    }
}

TEST(Io, MalformedJsonNamesTheFile) { expect_malformed_json("bad.json", "{\"a\": [1, 2,, 3]}"); }

// A number beyond a double's range is nlohmann's out_of_range, not a parse_error: still a clear
// error naming the file (found by fuzz_sweep_config; fuzz/regressions/sweep_config/).
TEST(Io, NumberOverflowIsMalformedJson) { expect_malformed_json("overflow.json", "{\"seed\": 1e3081}"); }

TEST(Io, AtomicWriteRoundTrip) {
    std::string path = testing::TempDir() + "roundtrip.bin";
    std::string data("a\0b\nc", 5);
    io_write_file_atomic(path, data);
    EXPECT_EQ(io_read_file(path), data);
    EXPECT_FALSE(io_file_exists(path + ".tmp"));
}

// Issue 20 D5: the files in a fresh directory, by name.
static std::vector<std::string> io_test_listing(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

static std::string io_test_dir(const std::string& name) {
    std::string dir = testing::TempDir() + "io_" + name;
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

TEST(Io, AtomicWriteNeverFollowsAPlantedTmpLink) {
    std::string dir = io_test_dir("planted");
    std::string victim = dir + "/victim", out = dir + "/report.html";
    io_write_file_atomic(victim, "precious");
    std::filesystem::create_symlink(victim, out + ".tmp");
    io_write_file_atomic(out, "report");
    EXPECT_EQ(io_read_file(victim), "precious");
    EXPECT_EQ(io_read_file(out), "report");
    EXPECT_TRUE(std::filesystem::is_symlink(out + ".tmp"));  // left alone, not ours
}

TEST(Io, FailedOrAbandonedWritesLeaveNoTemporary) {
    std::string dir = io_test_dir("abandon");
    {
        IoOutputFile f(dir + "/out.csv");
        f.write("half a file");
        EXPECT_NE(f.temp_path(), "");
        EXPECT_TRUE(io_file_exists(f.temp_path()));
        // destroyed without commit(), as when an exception unwinds
    }
    EXPECT_TRUE(io_test_listing(dir).empty());
    io_write_file_atomic(dir + "/out.csv", "old");
    {
        IoOutputFile f(dir + "/out.csv");
        f.write("new");
    }
    EXPECT_EQ(io_read_file(dir + "/out.csv"), "old");  // nothing stored is lost
    EXPECT_EQ(io_test_listing(dir), std::vector<std::string>{"out.csv"});
}

TEST(Io, ADirectoryTargetIsRefusedAndNothingLandsInItsParent) {
    std::string parent = io_test_dir("dirtarget");
    std::string dir = parent + "/reports";
    std::filesystem::create_directories(dir);
    try {
        io_write_file_atomic(dir, "x");
        FAIL() << "writing over a directory must throw";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(dir + ": is a directory"), std::string::npos) << e.what();
    }
    EXPECT_EQ(io_test_listing(parent), std::vector<std::string>{"reports"});
    EXPECT_TRUE(io_test_listing(dir).empty());
}

TEST(Io, AFullDeviceReportsTheErrorAndStaysADevice) {
    struct stat st;
    if (::stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode)) GTEST_SKIP() << "no /dev/full here";
    try {
        io_write_file_atomic("/dev/full", std::string(1 << 16, 'x'));
        FAIL() << "writing /dev/full must fail";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("/dev/full: write failed"), std::string::npos) << e.what();
    }
    ASSERT_EQ(::stat("/dev/full", &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
}

TEST(Io, ReadingADirectorySaysSo) {
    std::string dir = io_test_dir("readdir");
    try {
        io_read_json(dir);
        FAIL() << "reading a directory must throw";
    } catch (const Error& e) {
        std::string w = e.what();
        EXPECT_NE(w.find(dir + ": is a directory"), std::string::npos) << w;
        EXPECT_EQ(w.find("malformed JSON"), std::string::npos) << w;
    }
}

TEST(Version, HasVersionAndSha) {
    EXPECT_FALSE(version_string().empty());
    EXPECT_FALSE(version_git_sha().empty());
}

TEST(HostCheck, RebindingNamesAreRefused) {
    struct Case {
        const char* host;
        bool have, http10;
        const char* bind;
        bool allowed;
    } cases[] = {
        {"127.0.0.1:8080", true, false, "127.0.0.1", true},
        {"localhost:8080", true, false, "127.0.0.1", true},
        {"LOCALHOST.", true, false, "127.0.0.1", true},
        {"app.localhost", true, false, "127.0.0.1", true},
        {"[::1]:8080", true, false, "127.0.0.1", true},
        {"10.1.2.3:80", true, false, "0.0.0.0", true},
        {"evil.example", true, false, "127.0.0.1", false},
        {"evil.example:8080", true, false, "0.0.0.0", false},
        {"localhost.evil.example", true, false, "127.0.0.1", false},
        {"gpu-node-1:8731", true, false, "gpu-node-1", true},
        {"", true, false, "127.0.0.1", false},
        {"", false, false, "127.0.0.1", false},
        {"", false, true, "127.0.0.1", true},
    };
    for (const auto& c : cases)
        EXPECT_EQ(http_host_allowed(c.host, c.have, c.http10, c.bind), c.allowed) << c.host << " bind " << c.bind;
    EXPECT_EQ(http_host_name("[::1]:80"), "::1");
    EXPECT_EQ(http_host_name("Example.COM:80"), "example.com");
}
