// libFuzzer target: a sweep config file (configs/examples/*.json), read from a file as
// `adabench sweep --config` does, validated, and hashed; plus the grid and list syntaxes of the
// command-line flags on the raw text.
#include <cstdint>
#include <string>
#include "common/error.h"
#include "fuzz/fuzz_util.h"
#include "harness/sweep_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    std::string path = adabench_fuzz::write_scratch("sweep.json", text);
    try {
        adabench::SweepConfig c = adabench::sweep_config_load(path);
        adabench::sweep_config_validate(c, path);
        (void)adabench::sweep_config_hash(c);
    } catch (const adabench::Error&) {
    }
    try {
        (void)adabench::sweep_parse_grid_text(text, "--coefs");
    } catch (const adabench::Error&) {
    }
    try {
        (void)adabench::sweep_parse_int_list(text, "--budgets");
    } catch (const adabench::Error&) {
    }
    return 0;
}
