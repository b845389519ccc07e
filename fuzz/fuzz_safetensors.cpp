// libFuzzer target: a .safetensors file (8-byte header length, JSON header, data region), through
// the in-memory entry point that safetensors_open uses after mapping. Every tensor the parser
// accepts is read in full (converted to f32), so an offset or size it let through that points
// outside the buffer is an AddressSanitizer report.
#include <cstdint>
#include <vector>
#include "common/error.h"
#include "engines/model/loader.h"
#include "engines/model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A copy of exactly `size` bytes on the heap, so a read past the end is caught.
    std::vector<uint8_t> bytes(data, data + size);
    try {
        adabench::SafetensorsFile f = adabench::safetensors_parse("fuzz.safetensors", bytes.data(), bytes.size());
        for (const auto& [name, t] : f.tensors) {
            int64_t n = 1;
            for (int64_t d : t.shape) n *= d;
            if (t.n_bytes == 0 || n <= 0 || n > (1 << 20)) continue;
            std::vector<float> out((size_t)n);
            adabench::tensor_convert_f32(t.dtype, t.data, out.data(), n);
        }
    } catch (const adabench::Error&) {
    }
    return 0;
}
