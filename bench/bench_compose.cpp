// Weight composition speed: how long a new coefficient / lambda takes to become new weights, i.e. the
// cost of one point of a merged-LoRA or model-merge sweep before any token is generated.
//
// Cases, on random models built in memory (bf16 matrices, engines/cpu/random_model.h):
//   merge_linear      two models, lambda list interpolated over layers (every tensor rewritten)
//   lora_merge        two rank-16 adapters on all seven projections, W + sum c_i s_i B_i A_i
//   safetensors_parse validation of a Qwen2.5-0.5B-sized header (291 tensors) without touching data
// Counters: GBps = bytes of input weights read per second; params_s = parameters written per second.
//
//   build-loader/bench/bench-compose                        # organism and Qwen2.5-0.5B shapes
//   build-loader/bench/bench-compose --benchmark_filter=organism
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "engines/cpu/random_model.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"
#include "engines/model/safetensors.h"

using namespace adabench;

namespace {

ModelConfig shape_config(int which) { return which == 0 ? cpu_config_organism() : cpu_config_qwen2_0_5b(); }
const char* shape_name(int which) { return which == 0 ? "organism" : "qwen0.5b"; }

int64_t model_params(const ModelWeights& w) {
    int64_t n = w.embed_tokens.numel() + w.final_norm.numel();
    if (!w.config.tie_word_embeddings) n += w.lm_head.numel();
    for (const auto& L : w.layers) {
        for (const Tensor* t : {&L.attn_norm, &L.q_proj, &L.k_proj, &L.v_proj, &L.o_proj, &L.q_bias, &L.k_bias,
                                &L.v_bias, &L.ffn_norm, &L.gate_proj, &L.up_proj, &L.down_proj}) {
            n += t->numel();
        }
    }
    return n;
}

std::shared_ptr<LoraAdapter> random_adapter(const ModelWeights& base, int r, uint64_t seed) {
    std::mt19937 rng((uint32_t)seed);
    std::normal_distribution<float> nd(0.0f, 0.02f);
    auto a = std::make_shared<LoraAdapter>();
    a->path = "random";
    a->r = r;
    a->alpha = 2.0f * (float)r;
    a->layers.resize(base.layers.size());
    for (size_t l = 0; l < base.layers.size(); ++l) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) {
            const Tensor& w = lora_target_weight(base.layers[l], (LoraTarget)t);
            LoraPair& p = a->layers[l][t];
            p.r = r;
            p.alpha = a->alpha;
            p.base_scale = a->alpha / (float)r;
            p.n_out = w.shape[0];
            p.n_in = w.shape[1];
            p.a.resize((size_t)(r * p.n_in));
            p.b.resize((size_t)(p.n_out * r));
            for (auto& v : p.a) v = nd(rng);
            for (auto& v : p.b) v = nd(rng);
        }
    }
    return a;
}

void BM_MergeLinear(benchmark::State& state) {
    ModelConfig c = shape_config((int)state.range(0));
    auto a = cpu_random_model(c, DTYPE_BF16, 1);
    auto b = cpu_random_model(c, DTYPE_BF16, 2);
    const int64_t n = model_params(*a);
    float lam = 0.3f;
    for (auto _ : state) {
        auto m = merge_linear(*a, *b, {lam, 1.0f - lam});
        benchmark::DoNotOptimize(m->layers[0].q_proj.data);
        lam += 0.01f;
    }
    state.SetLabel(shape_name((int)state.range(0)));
    state.counters["params_s"] = benchmark::Counter((double)n, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GBps"] =
        benchmark::Counter(2.0 * 2.0 * (double)n / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_LoraMerge(benchmark::State& state) {
    ModelConfig c = shape_config((int)state.range(0));
    auto base = cpu_random_model(c, DTYPE_BF16, 1);
    std::vector<std::shared_ptr<const LoraAdapter>> ads = {random_adapter(*base, 16, 3), random_adapter(*base, 16, 4)};
    int64_t n = 0;
    for (const auto& L : base->layers) {
        for (int t = 0; t < LORA_TARGET_COUNT; ++t) n += lora_target_weight(L, (LoraTarget)t).numel();
    }
    float coef = 0.5f;
    for (auto _ : state) {
        auto m = lora_merge_weights(*base, ads, {coef, 1.0f - coef});
        benchmark::DoNotOptimize(m->layers[0].q_proj.data);
        coef += 0.01f;
    }
    state.SetLabel(shape_name((int)state.range(0)));
    state.counters["params_s"] = benchmark::Counter((double)n, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SafetensorsParse(benchmark::State& state) {
    // A header describing every tensor of a Qwen2.5-0.5B. Only the header bytes exist: the parser is
    // told the file is as large as the header claims, and it never reads the data region.
    ModelConfig q = cpu_config_qwen2_0_5b();
    int64_t total = 0;
    std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
    shapes.push_back({"model.embed_tokens.weight", {q.vocab_size, q.hidden_size}});
    for (int l = 0; l < q.n_layers; ++l) {
        std::string p = "model.layers." + std::to_string(l) + ".";
        int64_t C = q.hidden_size, Q = (int64_t)q.n_heads * q.head_dim, KV = (int64_t)q.n_kv_heads * q.head_dim;
        for (auto& [n, s] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
                 {"self_attn.q_proj.weight", {Q, C}},
                 {"self_attn.k_proj.weight", {KV, C}},
                 {"self_attn.v_proj.weight", {KV, C}},
                 {"self_attn.o_proj.weight", {C, Q}},
                 {"self_attn.q_proj.bias", {Q}},
                 {"self_attn.k_proj.bias", {KV}},
                 {"self_attn.v_proj.bias", {KV}},
                 {"input_layernorm.weight", {C}},
                 {"post_attention_layernorm.weight", {C}},
                 {"mlp.gate_proj.weight", {q.intermediate_size, C}},
                 {"mlp.up_proj.weight", {q.intermediate_size, C}},
                 {"mlp.down_proj.weight", {C, q.intermediate_size}}}) {
            shapes.push_back({p + n, s});
        }
    }
    // Build the header by hand so the data region is a sparse placeholder of the right size.
    std::string header = "{";
    for (size_t i = 0; i < shapes.size(); ++i) {
        int64_t numel = 1;
        for (auto d : shapes[i].second) numel *= d;
        std::string dims;
        for (size_t k = 0; k < shapes[i].second.size(); ++k)
            dims += (k ? "," : "") + std::to_string(shapes[i].second[k]);
        header += (i ? "," : "") + std::string("\"") + shapes[i].first + "\":{\"dtype\":\"BF16\",\"shape\":[" + dims +
                  "],\"data_offsets\":[" + std::to_string(total * 2) + "," + std::to_string((total + numel) * 2) + "]}";
        total += numel;
    }
    header += "}";
    std::string bytes(8, '\0');
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[(size_t)i] = (char)((n >> (8 * i)) & 0xff);
    bytes += header;
    // Only the header is passed with the claimed total size; parse never reads past the header.
    std::vector<char> buf(bytes.begin(), bytes.end());
    uint64_t claimed = bytes.size() + (uint64_t)total * 2;
    for (auto _ : state) {
        SafetensorsFile f = safetensors_parse("bench", buf.data(), claimed);
        benchmark::DoNotOptimize(f.tensors.size());
    }
    state.counters["tensors"] = (double)shapes.size();
}

}  // namespace

BENCHMARK(BM_MergeLinear)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_LoraMerge)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();
BENCHMARK(BM_SafetensorsParse)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
