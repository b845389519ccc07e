// SHA-256 (FIPS 180-4) for content hashes of datasets, models and adapters.
// Streaming, no dependencies; not constant-time (it never sees secrets).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace adabench {

class Sha256 {
public:
    Sha256();
    void update(const void* data, size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    std::array<uint8_t, 32> digest();  // finalises; call once
    std::string hex();                 // finalises; call once

private:
    void block(const uint8_t* p);
    uint32_t h_[8];
    uint8_t buf_[64];
    size_t n_buf_ = 0;
    uint64_t n_total_ = 0;
};

std::string sha256_hex(std::string_view data);
// Hash of a file's bytes; throws adabench::Error naming the file when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace adabench
