// Host weight composition (see compose.h): checks, then merge.h and lora.h in that order.
#include "engines/model/compose.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/error.h"
#include "common/io.h"
#include "engines/backend_checks.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"
#include "engines/tokenizer/tokenizer.h"

namespace adabench {

namespace {

// The tokenizer file of a model directory: tokenizer.json, else vocab.json; "" when it has none
// (weights-only directories, in-memory models).
std::string tokenizer_file(const std::string& dir) {
    if (dir.empty()) return "";
    for (const char* name : {"/tokenizer.json", "/vocab.json"}) {
        if (io_file_exists(dir + name)) return dir + name;
    }
    return "";
}

// Merged weights answer token ids with the embedding rows of both models: a partner whose ids
// mean other text gives a plausible-looking but meaningless model (#20 D11). Byte-identical files
// pass at once; otherwise both tokenizers are loaded and compared id by id.
void check_same_tokenizer(const ModelWeights& model, const ModelWeights& other) {
    const std::string fa = tokenizer_file(model.source), fb = tokenizer_file(other.source);
    if (fa.empty() || fb.empty() || model.source == other.source) return;
    auto merges_of = [](const std::string& f) {
        std::string m = f.substr(0, f.size() - 10) + "merges.txt";  // next to vocab.json
        return f.size() > 10 && f.compare(f.size() - 10, 10, "vocab.json") == 0 && io_file_exists(m) ? io_read_file(m)
                                                                                                     : std::string();
    };
    if (io_read_file(fa) == io_read_file(fb) && merges_of(fa) == merges_of(fb)) return;
    Tokenizer ta = Tokenizer::load(model.source), tb = Tokenizer::load(other.source);
    auto quoted = [](const std::string& t) {
        try {
            return nlohmann::json(t).dump();
        } catch (const nlohmann::json::exception&) {
            return std::string("<invalid UTF-8>");
        }
    };
    const int n = std::max(ta.vocab_size(), tb.vocab_size());
    for (int32_t id = 0; id < n; ++id) {
        if (ta.decode_token(id) != tb.decode_token(id) || ta.is_special(id) != tb.is_special(id)) {
            throw Error(fb + ": token " + std::to_string(id) + " is " + quoted(tb.id_to_token(id)) + " but " +
                            quoted(ta.id_to_token(id)) + " in " + fa + ": the models of a merge must share a tokenizer",
                        "merge checkpoints fine-tuned from one base model");
        }
    }
}

}  // namespace

const char* compose_merge_name(ComposeMerge m) {
    switch (m) {
        case COMPOSE_MERGE_NONE:
            return "none";
        case COMPOSE_MERGE_LINEAR:
            return "linear";
        case COMPOSE_MERGE_TASK_ARITHMETIC:
            return "task_arithmetic";
    }
    return "unknown";
}

bool compose_sources_nontrivial(const ComposeSources& s) { return s.merge_with || !s.merged_adapters.empty(); }

void compose_check_sources(const ComposeSources& s) {
    if (!s.model) throw Error("compose: no model among the sources", "pass --model DIR");
    if (s.merge_base && !s.merge_with)
        throw Error("compose: a merge base (" + s.merge_base->source + ") without a model to merge with",
                    "pass --merge-with DIR as well");
    if (s.merge_with) {
        merge_check_compatible(*s.model, *s.merge_with);
        check_same_tokenizer(*s.model, *s.merge_with);
    }
    if (s.merge_base) {
        merge_check_compatible(*s.merge_base, *s.model);
        merge_check_compatible(*s.merge_base, *s.merge_with);
        check_same_tokenizer(*s.model, *s.merge_base);
    }
    backend_check_adapters(s.merged_adapters, *s.model);
}

void compose_check_params(const ComposeSources& s, const ComposeParams& p) {
    switch (p.merge) {
        case COMPOSE_MERGE_NONE:
            if (!p.lambda.empty()) throw Error("compose: lambda given without a merge", "pass --merge-with DIR");
            break;
        case COMPOSE_MERGE_LINEAR:
            if (!s.merge_with)
                throw Error("compose: a linear merge needs a model to merge with", "pass --merge-with DIR");
            break;
        case COMPOSE_MERGE_TASK_ARITHMETIC:
            if (!s.merge_with || !s.merge_base)
                throw Error("compose: task arithmetic needs a model to merge with and a base",
                            "pass --merge-with DIR and --merge-base DIR");
            break;
        default:
            throw Error("compose: unknown merge kind " + std::to_string(int(p.merge)));
    }
    if (p.merge != COMPOSE_MERGE_NONE) {
        if (p.lambda.empty()) throw Error("compose: a merge needs lambda", "pass --lambda L or --lambda L1,L2,...");
        for (float v : p.lambda)
            if (!std::isfinite(v)) throw Error("compose: lambda has a non-finite value");
    }
    if (p.lora_coefs.size() != s.merged_adapters.size())
        throw Error("compose: " + std::to_string(s.merged_adapters.size()) + " merged LoRA adapters but " +
                    std::to_string(p.lora_coefs.size()) + " coefficients");
    for (float c : p.lora_coefs)
        if (!std::isfinite(c)) throw Error("compose: a merged LoRA coefficient is not finite");
}

std::shared_ptr<const ModelWeights> compose_weights_host(const ComposeSources& s, const ComposeParams& p) {
    if (!s.model) throw Error("compose: no model among the sources", "pass --model DIR");
    compose_check_params(s, p);
    std::shared_ptr<const ModelWeights> w = s.model;
    if (p.merge == COMPOSE_MERGE_LINEAR) {
        w = merge_linear(*s.model, *s.merge_with, p.lambda);
    } else if (p.merge == COMPOSE_MERGE_TASK_ARITHMETIC) {
        w = merge_task_arithmetic(*s.merge_base, {s.model.get(), s.merge_with.get()}, {{1.0f}, p.lambda});
    }
    if (!s.merged_adapters.empty()) w = lora_merge_weights(*w, s.merged_adapters, p.lora_coefs);
    return w;
}

std::string compose_params_describe(const ComposeParams& p) {
    std::ostringstream os;
    os << compose_merge_name(p.merge);
    auto list = [&](const char* name, const std::vector<float>& v) {
        os << ' ' << name << "=[";
        for (size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
        os << ']';
    };
    if (!p.lambda.empty()) list("lambda", p.lambda);
    if (!p.lora_coefs.empty()) list("lora", p.lora_coefs);
    return os.str();
}

}  // namespace adabench
