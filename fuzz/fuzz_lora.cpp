// libFuzzer target: a PEFT LoRA adapter directory (parts separated by a "\n----\n" line:
// adapter_config.json, adapter_model.safetensors), loaded against the tiny Qwen2 fixture model
// (tests/fixtures/models/qwen2-tiny-random, loaded once) as lora_load_adapter does; an adapter that
// loads is merged into the base once.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include "common/error.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "fuzz/fuzz_util.h"

namespace {
std::shared_ptr<adabench::ModelWeights> g_base;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    const char* root = std::getenv("ADABENCH_SOURCE_DIR");
    g_base = adabench::model_load(std::string(root ? root : ADABENCH_SOURCE_DIR) +
                                  "/tests/fixtures/models/qwen2-tiny-random");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parts = adabench_fuzz::split_parts(data, size, 2);
    adabench_fuzz::write_scratch("adapter_config.json", parts[0]);
    adabench_fuzz::write_scratch("adapter_model.safetensors", parts[1]);
    try {
        auto adapter = adabench::lora_load_adapter(adabench_fuzz::scratch_dir(), *g_base);
        (void)adabench::lora_merge_weights(*g_base, {adapter}, {0.5f});
    } catch (const adabench::Error&) {
    }
    return 0;
}
