// Engine factory: loading, composition (merge, LoRA) and backend construction; see engine_factory.h.
#include "engines/engine_factory.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>

#include "common/error.h"
#include "engines/cpu/cpu_backend.h"
#include "engines/model/loader.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {

namespace {

bool parse_float(const std::string& s, float* out) {
    // Plain decimals only: strtod would also read hex ("0x10" = 16).
    if (s.empty() || s.find_first_not_of("0123456789+-.eE") != std::string::npos) return false;
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v)) return false;
    *out = static_cast<float>(v);
    return true;
}

struct BackendRegistry {
    std::mutex mu;
    std::map<std::string, BackendFactory> factories;
    BackendRegistry() {
        factories["cpu"] = [](std::shared_ptr<const ModelWeights> w, const EngineFactoryOptions& o) {
            CpuBackendOptions bo;
            bo.n_threads = o.n_threads;
            bo.precision = cpu_precision_parse(o.precision);
            bo.max_seq_len = o.max_seq_len;
            return std::shared_ptr<Backend>(std::make_shared<CpuBackend>(std::move(w), bo));
        };
    }
};

BackendRegistry& registry() {
    static BackendRegistry r;
    return r;
}

}  // namespace

void engine_register_backend(const std::string& name, BackendFactory factory) {
    std::lock_guard<std::mutex> lock(registry().mu);
    registry().factories[name] = std::move(factory);
}

std::vector<std::string> engine_backend_names() {
    std::lock_guard<std::mutex> lock(registry().mu);
    std::vector<std::string> names;
    for (const auto& [name, f] : registry().factories) names.push_back(name);
    return names;
}

std::pair<std::string, float> engine_parse_adapter_arg(const std::string& arg) {
    auto eq = arg.rfind('=');
    if (eq == std::string::npos) {
        if (arg.empty()) throw UsageError("--adapter needs a directory", "use --adapter DIR=COEF");
        return {arg, 1.0f};
    }
    std::string dir = arg.substr(0, eq);
    float coef = 0.0f;
    if (dir.empty() || !parse_float(arg.substr(eq + 1), &coef)) {
        throw UsageError("--adapter '" + arg + "' is not DIR=COEF", "e.g. --adapter models/organism/lora-short=0.5");
    }
    return {dir, coef};
}

std::vector<float> engine_parse_float_list(const std::string& arg, const std::string& what) {
    std::vector<float> out;
    size_t start = 0;
    while (true) {
        size_t comma = arg.find(',', start);
        std::string item = arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        float v = 0.0f;
        if (!parse_float(item, &v)) {
            throw UsageError(what + " '" + arg + "' is not a number or a comma-separated list of numbers");
        }
        out.push_back(v);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

ComposeSources engine_load_compose_sources(const EngineFactoryOptions& o) {
    if (o.model_dir.empty()) throw Error("engine: no model directory given", "pass --model DIR");
    if (o.merge_with.empty() && (!o.merge_base.empty() || !o.lambda.empty()))
        throw Error("engine: --merge-base / --lambda given without --merge-with");
    ComposeSources s;
    s.model = model_load(o.model_dir);
    if (!o.merge_with.empty()) {
        if (o.lambda.empty()) throw Error("engine: a merge needs lambda", "pass --lambda L or --lambda L1,L2,...");
        s.merge_with = model_load(o.merge_with);
        if (!o.merge_base.empty()) s.merge_base = model_load(o.merge_base);
    }
    if (o.lora_merged)
        for (const auto& ad : o.adapters) s.merged_adapters.push_back(lora_load_adapter(ad.first, *s.model));
    compose_check_sources(s);
    return s;
}

ComposeParams engine_compose_params(const EngineFactoryOptions& o) {
    if (o.merge_with.empty() && (!o.merge_base.empty() || !o.lambda.empty()))
        throw Error("engine: --merge-base / --lambda given without --merge-with");
    ComposeParams p;
    if (!o.merge_with.empty()) {
        p.merge = o.merge_base.empty() ? COMPOSE_MERGE_LINEAR : COMPOSE_MERGE_TASK_ARITHMETIC;
        p.lambda = o.lambda;
    }
    if (o.lora_merged)
        for (const auto& ad : o.adapters) p.lora_coefs.push_back(ad.second);
    return p;
}

std::shared_ptr<const ModelWeights> engine_compose_weights(const EngineFactoryOptions& o) {
    return compose_weights_host(engine_load_compose_sources(o), engine_compose_params(o));
}

std::vector<int32_t> engine_eos_ids(const ModelConfig& config, const Tokenizer& tokenizer) {
    std::vector<int32_t> ids;
    for (int e : config.eos_token_ids) ids.push_back(e);
    if (tokenizer.eos_id() >= 0) ids.push_back(tokenizer.eos_id());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

std::unique_ptr<Generator> engine_make(const EngineFactoryOptions& o) {
    BackendFactory make_backend;
    {
        std::lock_guard<std::mutex> lock(registry().mu);
        auto it = registry().factories.find(o.backend);
        if (it != registry().factories.end()) make_backend = it->second;
    }
    if (!make_backend) {
        std::string known;
        for (const auto& n : engine_backend_names()) known += (known.empty() ? "" : ", ") + n;
        throw Error("engine: unknown backend '" + o.backend + "'",
                    o.backend == "cuda" ? "this build has no CUDA engine (it was built without the CUDA toolkit); "
                                          "it knows: " +
                                              known
                                        : "this build knows: " + known);
    }
    if (o.max_batch <= 0) throw Error("engine: max_batch must be positive");
    ComposeSources sources = engine_load_compose_sources(o);
    const ComposeParams params = engine_compose_params(o);
    compose_check_params(sources, params);
    auto tokenizer = std::make_shared<Tokenizer>(Tokenizer::load(o.model_dir));
    tokenizer_check_model_vocab(*tokenizer, sources.model->config.vocab_size, sources.model->source + "/config.json");
    std::shared_ptr<const ModelWeights> weights;  // the config and the unmerged adapters' shapes
    std::shared_ptr<Backend> backend;
    if (o.compose_in_backend && compose_sources_nontrivial(sources)) {
        weights = sources.model;
        backend = make_backend(weights, o);
        backend->set_compose_sources(std::move(sources));
        backend->compose(params);
    } else {
        weights = compose_weights_host(sources, params);
        sources = ComposeSources{};  // only the composed weights stay
        backend = make_backend(weights, o);
    }

    GeneratorOptions go;
    go.max_batch = o.max_batch;
    go.share_prompts = o.share_prompts;
    go.backend_name = o.backend;
    go.eos_ids = engine_eos_ids(weights->config, *tokenizer);
    if (!o.lora_merged && !o.adapters.empty()) {
        std::vector<std::shared_ptr<const LoraAdapter>> adapters;
        for (const auto& [dir, coef] : o.adapters) {
            adapters.push_back(lora_load_adapter(dir, *weights));
            go.default_lora_coefs.push_back(coef);
        }
        go.n_lora_adapters = static_cast<int>(adapters.size());
        backend->set_lora_adapters(std::move(adapters));
    }
    return std::make_unique<Generator>(std::move(backend), std::move(tokenizer), std::move(go));
}

}  // namespace adabench
