// Host weight composition (see compose.h): checks, then merge.h and lora.h in that order.
#include "engines/model/compose.h"

#include <cmath>
#include <sstream>

#include "common/error.h"
#include "engines/backend_checks.h"
#include "engines/model/lora.h"
#include "engines/model/merge.h"

namespace adabench {

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
    if (s.merge_with) merge_check_compatible(*s.model, *s.merge_with);
    if (s.merge_base) {
        merge_check_compatible(*s.merge_base, *s.model);
        merge_check_compatible(*s.merge_base, *s.merge_with);
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
