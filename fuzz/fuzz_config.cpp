// libFuzzer target: a model's config.json, read from a file as model loading does (config_load).
#include <cstdint>
#include <string_view>
#include "common/error.h"
#include "engines/model/config.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string path =
        adabench_fuzz::write_scratch("config.json", std::string_view(reinterpret_cast<const char*>(data), size));
    try {
        adabench::ModelConfig c = adabench::config_load(path);
        (void)adabench::config_to_json(c).dump();
    } catch (const adabench::Error&) {
    }
    return 0;
}
