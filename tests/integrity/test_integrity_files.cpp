// Model files that used to be accepted silently or crash (#20 D6, D7, D11): NaN/inf weights are
// refused at load naming the file and tensor; a checkpoint truncated or rewritten after load leaves
// results unchanged (no SIGBUS); duplicate JSON keys and ids past the vocabulary are one-line errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/io.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/engine_factory.h"
#include "engines/model/config.h"
#include "engines/model/json_strict.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/model/safetensors.h"
#include "engines/tokenizer/tokenizer.h"

using namespace adabench;
namespace fs = std::filesystem;

namespace {

std::string src(const std::string& rel) { return std::string(ADABENCH_SOURCE_DIR) + "/" + rel; }

std::string fresh_dir(const std::string& name) {
    fs::path d = fs::path(ADABENCH_BINARY_DIR) / "tests-tmp" / ("integrity-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d.string();
}

// A private copy of a bundled model or adapter directory, to corrupt.
std::string copy_dir(const std::string& from_rel, const std::string& name) {
    std::string dir = fresh_dir(name);
    for (const auto& e : fs::directory_iterator(src(from_rel)))
        if (e.is_regular_file()) fs::copy_file(e.path(), fs::path(dir) / e.path().filename());
    return dir;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "";
}

// Overwrites element `i` of `tensor` in a .safetensors file with the low dtype_size bytes of `bits`.
void poke(const std::string& file, const std::string& tensor, int64_t i, uint32_t bits) {
    std::string bytes = io_read_file(file);
    SafetensorsFile f = safetensors_parse(file, bytes.data(), bytes.size());
    const SafetensorsTensor& t = f.tensors.at(tensor);
    std::memcpy(&bytes[t.offset + size_t(i) * dtype_size(t.dtype)], &bits, dtype_size(t.dtype));
    io_write_file_atomic(file, bytes);
}

void edit_json(const std::string& file, const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = io_read_json(file);
    edit(j);
    io_write_file_atomic(file, j.dump(2));
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

// ---- D6: non-finite weights ---------------------------------------------------------------------

TEST(IntegrityFiles, NanWeightIsRefusedAtLoadNamingFileAndTensor) {
    std::string dir = copy_dir("models/organism/base", "nan-bf16");
    poke(dir + "/model.safetensors", "model.layers.2.mlp.down_proj.weight", 17, 0x7fc0);  // bf16 NaN
    std::string msg = error_of([&] { model_load(dir); });
    EXPECT_TRUE(contains(msg, dir + "/model.safetensors: tensor 'model.layers.2.mlp.down_proj.weight'")) << msg;
    EXPECT_TRUE(contains(msg, "NaN at element 17")) << msg;

    dir = copy_dir("tests/fixtures/models/qwen2-tiny-random", "inf-f32");
    poke(dir + "/model.safetensors", "model.norm.weight", 63, 0xff800000u);  // f32 -inf, the last element
    msg = error_of([&] { model_load(dir); });
    EXPECT_TRUE(contains(msg, "'model.norm.weight'")) << msg;
    EXPECT_TRUE(contains(msg, "-inf at element 63")) << msg;

    // An adapter is checked the same way.
    dir = copy_dir("models/organism/lora-short", "nan-adapter");
    const std::string t = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
    poke(dir + "/adapter_model.safetensors", t, 3, 0x7f800000u);
    auto base = model_load(src("models/organism/base"));
    msg = error_of([&] { lora_load_adapter(dir, *base); });
    EXPECT_TRUE(contains(msg, dir + "/adapter_model.safetensors: tensor '" + t + "'")) << msg;
    EXPECT_TRUE(contains(msg, "+inf at element 3")) << msg;
}

// model_load_meta: the headers and shapes, checked the same way, and not one weight byte read (a
// served 70B base would otherwise cost 140 GB of RAM just to check adapter shapes against it).
TEST(IntegrityFiles, MetaLoadReadsHeadersOnlyAndStillChecksLoraShapes) {
    std::string dir = copy_dir("models/organism/base", "meta-nan");
    poke(dir + "/model.safetensors", "model.layers.2.mlp.down_proj.weight", 17, 0x7fc0);  // bf16 NaN
    EXPECT_TRUE(contains(error_of([&] { model_load(dir); }), "NaN at element 17"));
    std::shared_ptr<ModelWeights> meta;
    ASSERT_NO_THROW(meta = model_load_meta(dir));  // the NaN is in data the meta load never reads
    EXPECT_TRUE(meta->meta_only);
    EXPECT_TRUE(meta->mappings.empty());
    auto full = model_load(src("models/organism/base"));
    EXPECT_FALSE(full->meta_only);
    EXPECT_EQ(meta->config.n_layers, full->config.n_layers);
    ASSERT_EQ(meta->layers.size(), full->layers.size());
    EXPECT_EQ(meta->embed_tokens.data, nullptr);
    EXPECT_EQ(meta->embed_tokens.shape, full->embed_tokens.shape);
    for (size_t l = 0; l < meta->layers.size(); ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const Tensor& m = lora_target_weight(meta->layers[l], (LoraTarget)t);
            const Tensor& f = lora_target_weight(full->layers[l], (LoraTarget)t);
            EXPECT_EQ(m.data, nullptr) << m.name;
            EXPECT_EQ(m.shape, f.shape) << m.name;
            EXPECT_EQ(m.name, f.name);
            EXPECT_EQ(m.dtype, f.dtype) << m.name;
        }
    }

    // Adapters check against the meta base exactly as against the full one.
    auto via_meta = lora_load_adapter(src("models/organism/lora-short"), *meta);
    auto via_full = lora_load_adapter(src("models/organism/lora-short"), *full);
    ASSERT_EQ(via_meta->layers.size(), via_full->layers.size());
    for (size_t l = 0; l < via_meta->layers.size(); ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const LoraPair& a = via_meta->layers[l][t];
            const LoraPair& b = via_full->layers[l][t];
            EXPECT_EQ(a.r, b.r);
            EXPECT_EQ(a.n_in, b.n_in);
            EXPECT_EQ(a.n_out, b.n_out);
            EXPECT_EQ(a.a, b.a);
            EXPECT_EQ(a.b, b.b);
        }
    }
    // An adapter for another base (hidden 64 against 256) is still caught, with the same message.
    const std::string other = src("tests/fixtures/models/qwen2-tiny-lora-a");
    std::string msg = error_of([&] { lora_load_adapter(other, *meta); });
    EXPECT_TRUE(contains(msg, "give a delta of shape")) << msg;
    EXPECT_TRUE(contains(msg, "is this adapter for a different base model?")) << msg;
    EXPECT_EQ(msg, error_of([&] { lora_load_adapter(other, *full); }));
    // A meta base has nothing to merge into.
    msg = error_of([&] { lora_merge_weights(*meta, {via_meta}, {1.0f}); });
    EXPECT_TRUE(contains(msg, "loaded header-only")) << msg;

    // The header is still validated against the file: a data region shorter than the header claims
    // (a checkpoint truncated mid-copy) is refused, naming the file and a tensor.
    std::string bytes = io_read_file(dir + "/model.safetensors");
    io_write_file_atomic(dir + "/model.safetensors", bytes.substr(0, bytes.size() - 100));
    msg = error_of([&] { model_load_meta(dir); });
    EXPECT_TRUE(contains(msg, dir + "/model.safetensors: tensor '")) << msg;
    EXPECT_TRUE(contains(msg, "run past the data region")) << msg;
    // And shapes against config.json: a missing tensor is listed.
    dir = copy_dir("models/organism/base", "meta-layers");
    edit_json(dir + "/config.json", [](nlohmann::json& j) { j["num_hidden_layers"] = 5; });
    msg = error_of([&] { model_load_meta(dir); });
    EXPECT_TRUE(contains(msg, "missing tensors: model.layers.4.")) << msg;
}

TEST(IntegrityFiles, FiniteScanFindsEveryPositionAndIsCheap) {
    // Every dtype, unaligned data, the bad value in the vector body and in the tail.
    std::vector<unsigned char> buf(4 * 1000 + 1);
    for (DType dt : {DTYPE_F32, DTYPE_BF16, DTYPE_F16}) {
        const size_t es = dtype_size(dt);
        const uint32_t one = dt == DTYPE_F32 ? 0x3f800000u : dt == DTYPE_BF16 ? 0x3f80u : 0x3c00u;
        const uint32_t nan = dt == DTYPE_F32 ? 0x7fc00000u : dt == DTYPE_BF16 ? 0x7fc0u : 0x7e00u;
        for (int64_t bad : {int64_t(0), int64_t(63), int64_t(64), int64_t(998), int64_t(999)}) {
            for (int64_t i = 0; i < 1000; ++i) std::memcpy(&buf[1 + size_t(i) * es], i == bad ? &nan : &one, es);
            EXPECT_FALSE(tensor_data_finite(dt, &buf[1], 1000)) << dtype_name(dt) << " bad " << bad;
            EXPECT_TRUE(tensor_data_finite(dt, &buf[1], bad)) << dtype_name(dt) << " bad " << bad;
            EXPECT_EQ(tensor_data_describe_nonfinite(dt, &buf[1], 1000), "NaN at element " + std::to_string(bad));
        }
    }
    // Cost: the load-time scan over 64 MiB of bf16 (a 32M-parameter model), printed for the record.
    std::vector<uint16_t> w(size_t(32) << 20, 0x3c00);
    auto cpu_s = [] {
        timespec t;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);  // CPU time: the machine may be shared
        return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
    };
    const double t0 = cpu_s();
    bool ok = tensor_data_finite(DTYPE_BF16, w.data(), int64_t(w.size()));
    const double s = cpu_s() - t0;
    EXPECT_TRUE(ok);
    std::printf("finite scan: 64 MiB bf16 in %.1f ms of CPU = %.2f GB/s\n", s * 1e3, 64.0 * 1.048576 / 1e3 / s);
    w.back() = 0xff80;
    EXPECT_FALSE(tensor_data_finite(DTYPE_BF16, w.data(), int64_t(w.size())));
}

// ---- D7: the file changes after load ------------------------------------------------------------

namespace {

std::vector<float> last_logits(CpuBackend& b, int n_vocab) {
    int slot = b.seq_alloc();
    BackendBatch batch;
    batch.slots = {slot};
    batch.tokens = {{1, 2, 3, 40, 50, 60}};
    std::vector<float> out(static_cast<size_t>(n_vocab));
    b.forward(batch, out.data());
    b.seq_free(slot);
    return out;
}

// Runs in a child: 0 = results unchanged, 2/3 = they changed; a SIGBUS shows as a signal.
int truncate_after_load(const std::string& dir) {
    const std::string file = dir + "/model.safetensors";
    const auto size = fs::file_size(file);
    auto w = model_load(dir);
    CpuBackendOptions opt;
    opt.n_threads = 1;
    CpuBackend b(w, opt);
    const std::vector<float> before = last_logits(b, w->config.vocab_size);
    if (::truncate(file.c_str(), 16) != 0) return 4;
    // Every byte of every tensor, then a fresh forward through the same backend.
    std::vector<const Tensor*> all{&w->embed_tokens, &w->final_norm, &w->lm_head};
    for (const auto& l : w->layers)
        for (const Tensor* t : {&l.attn_norm, &l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.q_bias, &l.k_bias,
                                &l.v_bias, &l.ffn_norm, &l.gate_proj, &l.up_proj, &l.down_proj})
            all.push_back(t);
    double sum = 0;
    for (const Tensor* t : all)
        for (float v : tensor_to_f32(*t)) sum += v;
    if (last_logits(b, w->config.vocab_size) != before) return 2;
    // Rewritten in place (same length, other bytes), then a new backend over the loaded weights.
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out << std::string(size, 'x');
    }
    CpuBackend b2(w, opt);
    if (last_logits(b2, w->config.vocab_size) != before) return 3;
    return sum == sum ? 0 : 5;
}

}  // namespace

TEST(IntegrityFiles, TruncatedOrRewrittenAfterLoadKeepsResults) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    const std::string dir = copy_dir("models/organism/base", "truncate");
    EXPECT_EXIT(std::exit(truncate_after_load(dir)), ::testing::ExitedWithCode(0), "");
    // The truncated file itself is a clear error at the next load.
    std::string msg = error_of([&] { model_load(dir); });
    EXPECT_TRUE(contains(msg, dir + "/model.safetensors")) << msg;
}

// ---- D11: duplicate JSON keys -------------------------------------------------------------------

TEST(IntegrityFiles, StrictJsonNamesTheDuplicateKeyPath) {
    EXPECT_EQ(json_parse_strict("f.json", R"({"a":1,"b":{"c":1,"d":2}})")["b"]["d"], 2);
    EXPECT_NO_THROW(json_parse_strict("f.json", R"([{"k":1},{"k":2}])"));  // siblings may share keys
    EXPECT_TRUE(
        contains(error_of([] { json_parse_strict("f.json", R"({"a":1,"a":2})"); }), "f.json: duplicate key 'a'"));
    EXPECT_TRUE(contains(error_of([] { json_parse_strict("f.json", R"({"a":1,"b":{"c":1,"c":2}})"); }),
                         "f.json: duplicate key 'b.c'"));
    EXPECT_TRUE(contains(error_of([] { json_parse_strict("f.json", R"({"x":[{"k":1},{"k":1,"k":2}]})"); }),
                         "f.json: duplicate key 'x[1].k'"));
    EXPECT_TRUE(contains(error_of([] { json_parse_strict("f.json", R"({"a":)"); }), "f.json: malformed JSON"));
}

TEST(IntegrityFiles, DuplicateKeysInModelFilesAreRefused) {
    // config.json: the second vocab_size would silently win.
    std::string dir = copy_dir("models/organism/base", "dup-config");
    std::string cfg = io_read_file(dir + "/config.json");
    io_write_file_atomic(dir + "/config.json", "{\"vocab_size\": 600," + cfg.substr(cfg.find('{') + 1));
    std::string msg = error_of([&] { model_load(dir); });
    EXPECT_TRUE(contains(msg, dir + "/config.json: duplicate key 'vocab_size'")) << msg;

    // A safetensors header naming one tensor twice (the first one's bytes would be ignored).
    dir = fresh_dir("dup-header");
    std::string h = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                    R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
    std::string bytes(8, '\0');
    bytes[0] = char(h.size());
    bytes += h + std::string(8, '\0');
    io_write_file_atomic(dir + "/x.safetensors", bytes);
    msg = error_of([&] { safetensors_open(dir + "/x.safetensors"); });
    EXPECT_TRUE(contains(msg, dir + "/x.safetensors: duplicate key 'a'")) << msg;

    // adapter_config.json
    dir = copy_dir("models/organism/lora-short", "dup-adapter");
    std::string ac = io_read_file(dir + "/adapter_config.json");
    io_write_file_atomic(dir + "/adapter_config.json", "{\"lora_alpha\": 1," + ac.substr(ac.find('{') + 1));
    auto base = model_load(src("models/organism/base"));
    msg = error_of([&] { lora_load_adapter(dir, *base); });
    EXPECT_TRUE(contains(msg, dir + "/adapter_config.json: duplicate key 'lora_alpha'")) << msg;

    // tokenizer_config.json (nested) and tokenizer.json (top level and model.vocab).
    dir = copy_dir("models/organism/base", "dup-tokenizer-config");
    std::string tc = io_read_file(dir + "/tokenizer_config.json");
    size_t at = tc.find("\"528\": {") + 8;
    io_write_file_atomic(dir + "/tokenizer_config.json", tc.substr(0, at) + "\"special\": false," + tc.substr(at));
    msg = error_of([&] { Tokenizer::load(dir); });
    EXPECT_TRUE(contains(msg, dir + "/tokenizer_config.json: duplicate key 'added_tokens_decoder.528.special'")) << msg;

    dir = copy_dir("models/organism/base", "dup-tokenizer-json");
    std::string tj = io_read_file(dir + "/tokenizer.json");
    io_write_file_atomic(dir + "/tokenizer.json", "{\"decoder\": null," + tj.substr(tj.find('{') + 1));
    msg = error_of([&] { Tokenizer::load(dir); });
    EXPECT_TRUE(contains(msg, dir + "/tokenizer.json: duplicate key \"decoder\"")) << msg;

    dir = copy_dir("models/organism/base", "dup-tokenizer-vocab");
    at = tj.find("\"model\": {") + 10;
    ASSERT_NE(at, std::string::npos + 10);
    io_write_file_atomic(dir + "/tokenizer.json", tj.substr(0, at) + "\"vocab\": {\"a\": 0}," + tj.substr(at));
    msg = error_of([&] { Tokenizer::load(dir); });
    EXPECT_TRUE(contains(msg, dir + "/tokenizer.json: duplicate key \"model.vocab\"")) << msg;
}

// ---- D11: ids past the vocabulary ---------------------------------------------------------------

TEST(IntegrityFiles, TokenIdsPastTheVocabularyAreRefused) {
    nlohmann::json j = io_read_json(src("models/organism/base/config.json"));  // vocab_size 533
    ASSERT_EQ(j["vocab_size"], 533);
    auto config_error = [&](const char* key, nlohmann::json v) {
        nlohmann::json c = j;
        c[key] = v;
        return error_of([&] { config_from_json(c, "m/config.json"); });
    };
    EXPECT_TRUE(contains(config_error("eos_token_id", 533),
                         "m/config.json: field 'eos_token_id' (533) is outside the vocabulary (vocab_size 533)"));
    EXPECT_TRUE(contains(config_error("eos_token_id", {530, 9999}), "field 'eos_token_id[1]' (9999)"));
    EXPECT_TRUE(contains(config_error("bos_token_id", 600), "field 'bos_token_id' (600)"));
    EXPECT_EQ(config_error("eos_token_id", 532), "");

    Tokenizer tok = Tokenizer::load(src("models/organism/base"));
    EXPECT_NO_THROW(tokenizer_check_model_vocab(tok, 533, "m/config.json"));
    std::string msg = error_of([&] { tokenizer_check_model_vocab(tok, 530, "m/config.json"); });
    EXPECT_TRUE(contains(msg, "tokenizer.json: token id 532")) << msg;
    EXPECT_TRUE(contains(msg, "(m/config.json: vocab_size 530)")) << msg;

    // End to end: a tokenizer_config.json adding a token past the model's 533 rows.
    std::string dir = copy_dir("models/organism/base", "tokenizer-past-vocab");
    edit_json(dir + "/tokenizer_config.json", [](nlohmann::json& c) {
        c["added_tokens_decoder"]["600"] = {{"content", "<extra>"}, {"special", true}};
    });
    EngineFactoryOptions o;
    o.model_dir = dir;
    o.n_threads = 1;
    msg = error_of([&] { engine_make(o); });
    EXPECT_TRUE(contains(msg, dir + "/tokenizer.json: token id 600 (\"<extra>\") is outside the model's vocabulary"))
        << msg;
}
