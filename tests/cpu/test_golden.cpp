// CpuBackend against the independent PyTorch reference (tests/golden, written by
// tools/reference/reference.py): fp32 logits of the first generated positions within 1e-4 and the
// greedy token sequence identical, for a random Qwen2 (bias, GQA, untied) and the real trained
// stories260K Llama, and the unmerged LoRA mix (two adapters, one with rank/alpha patterns). Uses the fixtures in
// tests/fixtures/models via model_load.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engines/cpu/cpu_backend.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"

using namespace adabench;

namespace {

std::string source_dir() {
    const char* env = std::getenv("ADABENCH_SOURCE_DIR");
    return env && *env ? env : ADABENCH_SOURCE_DIR;
}

void check_golden(const std::string& golden_name, CpuIsa isa) {
    std::ifstream f(source_dir() + "/tests/golden/" + golden_name);
    ASSERT_TRUE(f.good()) << golden_name;
    nlohmann::json g = nlohmann::json::parse(f);
    auto weights = model_load(source_dir() + "/" + g["model"].get<std::string>());
    CpuBackendOptions o;
    o.n_threads = 2;
    o.isa = isa;
    CpuBackend b(weights, o);
    // Adapters listed in the golden run unmerged, with their coefficients for every sequence.
    std::vector<float> coefs;
    if (g.contains("adapters")) {
        std::vector<std::shared_ptr<const LoraAdapter>> adapters;
        for (const auto& a : g["adapters"]) {
            adapters.push_back(lora_load_adapter(source_dir() + "/" + a["path"].get<std::string>(), *weights));
            coefs.push_back(a["coef"].get<float>());
        }
        b.set_lora_adapters(adapters);
    }
    const int V = b.config().vocab_size;
    for (const auto& c : g["cases"]) {
        std::vector<int32_t> prompt = c["prompt_ids"].get<std::vector<int32_t>>();
        std::vector<int32_t> want = c["greedy_ids"].get<std::vector<int32_t>>();
        const auto& want_logits = c["logits"];
        int slot = b.seq_alloc();
        std::vector<float> logits(static_cast<size_t>(V));
        BackendBatch batch;
        batch.slots = {slot};
        batch.tokens = {prompt};
        if (!coefs.empty()) batch.lora_coefs = {coefs};
        std::vector<int32_t> got;
        double maxdiff = 0.0;
        for (size_t i = 0; i < want.size(); ++i) {
            b.forward(batch, logits.data());
            if (i < want_logits.size()) {
                std::vector<float> ref = want_logits[i].get<std::vector<float>>();
                ASSERT_EQ(ref.size(), logits.size());
                for (size_t v = 0; v < ref.size(); ++v)
                    maxdiff = std::max(maxdiff, std::fabs(double(ref[v]) - logits[v]));
            }
            int32_t next = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
            got.push_back(next);
            batch.tokens = {{next}};
        }
        b.seq_free(slot);
        EXPECT_LE(maxdiff, 1e-4) << golden_name << " " << cpu_isa_name(isa);
        EXPECT_EQ(got, want) << golden_name << " " << cpu_isa_name(isa);
        std::printf("%s %s: %s maxdiff=%.3g over %zu positions, %zu greedy tokens\n", golden_name.c_str(),
                    cpu_isa_name(isa), maxdiff <= 1e-4 && got == want ? "OK" : "MISMATCH", maxdiff, want_logits.size(),
                    want.size());
    }
}

}  // namespace

TEST(CpuGolden, Qwen2TinyRandom) {
    for (int isa = CPU_ISA_SCALAR; isa <= cpu_isa_detect(); ++isa) check_golden("qwen2-tiny-random.json", CpuIsa(isa));
}

TEST(CpuGolden, Qwen2TinyUnmergedLoraMix) {
    for (int isa = CPU_ISA_SCALAR; isa <= cpu_isa_detect(); ++isa)
        check_golden("qwen2-tiny-lora-mix.json", CpuIsa(isa));
}

TEST(CpuGolden, Stories260K) {
    for (int isa = CPU_ISA_SCALAR; isa <= cpu_isa_detect(); ++isa) check_golden("stories260K.json", CpuIsa(isa));
}
