// LoRA rank concatenation: realises a coefficient vector c over PEFT adapters 1..k as ONE PEFT
// adapter whose delta is exactly sum_i c_i * s_i * B_i A_i, for servers that take one adapter per
// request and no scale (vLLM, SGLang; EXTERNAL_ENGINES.md §4, S5). s_i is the per-module scale our
// loader computes (LoraPair::base_scale: alpha / r, alpha / sqrt(r) with rsLoRA, alpha_pattern and
// rank_pattern applied, 1 when alpha is 0). Per adapted module:
//   A' = [A_1; A_2; ...]                     (rows stacked; rank r' = sum of the ranks that adapt it)
//   B' = [c_1 s_1 B_1 | c_2 s_2 B_2 | ...]   (columns concatenated)
// and adapter_config.json makes every module's scale exactly 1 (lora_alpha = r, use_rslora false).
//
// Rank layout (LoraCatOptions::uniform_rank):
// - true (default): every written module is zero-padded to the largest r' (zero rows of A', zero
//   columns of B'), so `r` = `lora_alpha` = max r' and there is no rank_pattern. This is the portable
//   form: SGLang reads only `r`, copies each module into an r-row buffer and asserts the shapes match,
//   so it cannot load per-module ranks; vLLM and PEFT load it too.
// - false: each module keeps its own r'; `r` = `lora_alpha` = max r', and rank_pattern /
//   alpha_pattern list every module whose r' differs, keyed "layers.N.self_attn.q_proj" (matches
//   PEFT's old `.*\.{key}$` and new `(.*\.)?{key}$` rules, and engines/model/lora.cpp's suffix
//   rule), each with alpha = rank. vLLM takes module ranks from the tensor shapes and its single
//   scale lora_alpha / r is 1, so it agrees; SGLang does not load this form.
//
// Adapters with coefficient 0 are dropped (they add nothing); an all-zero vector is an error (the
// caller should request the base model). A module no kept adapter targets is absent from the file;
// a module some kept adapters do not target simply has no block from them. target_modules is the
// set of projections actually written (an input's list may name modules it has no tensors for).
//
// Written atomically: into a temporary directory beside the final one, then renamed, so a reader
// never sees a half-written adapter. The directory also holds adabench_lora_cat.json (the name, the
// sha256 of the two adapter files, the inputs); servers ignore it. An existing directory of the same
// name whose files still hash to its recorded sha256 is reused without rebuilding; a damaged one is
// rebuilt and replaced.
//
// Not here: loading the adapter into a server, --max-lora-rank checks (the caller compares
// LoraCatResult::max_rank), LoRA on embeddings / lm_head (our loader rejects them anyway).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engines/model/lora.h"
#include "engines/model/model.h"

namespace adabench {

struct LoraCatOptions {
    // DTYPE_F32 (default): exact, A' and c_i s_i B_i are the float values our own composition uses.
    // DTYPE_BF16: half the bytes; every value is rounded to bf16 (an approximation).
    DType dtype = DTYPE_F32;
    // See the header comment: true pads every module to the largest rank (loads on SGLang too).
    bool uniform_rank = true;
    // Written as base_model_name_or_path; empty = the value in the first adapter's
    // adapter_config.json (verbatim, also when it is a relative path), null when it has none.
    std::string base_model_name_or_path;
};

struct LoraCatResult {
    std::string dir;      // out_dir/name
    std::string name;     // lora_cat_name(): "adabench-" + 16 hex digits
    std::string sha256;   // lora_cat_files_sha256(dir)
    int max_rank = 0;     // the largest total rank over modules = adapter_config.json "r"
    int64_t bytes = 0;    // adapter_config.json + adapter_model.safetensors
    bool reused = false;  // an existing, intact directory of this name was kept
    // Indices (into the inputs) of the adapters written, in order; the others had coefficient 0.
    std::vector<size_t> kept;
    // ranks[l][t]: total rank sum_i r_i of the kept adapters adapting projection t of layer l
    // (0 = not adapted; before any padding).
    std::vector<std::array<int, LORA_TARGET_COUNT>> ranks;
};

// The stable name of (adapters, coefs, opts): "adabench-" + the first 16 hex digits of a sha256 over
// a format version, the options and, per kept adapter, its identity (LoraAdapter::sha256, or the
// A/B values when that is empty), its per-module ranks and scales, and the coefficient's exact bits.
// The same vector gives the same name; dropping a coefficient-0 adapter does not change it. Checks
// the inputs as lora_cat_write does. Throws adabench::Error.
std::string lora_cat_name(const std::vector<const LoraAdapter*>& adapters, const std::vector<float>& coefs,
                          const LoraCatOptions& opts = {});

// Writes (or reuses) out_dir/<name>/{adapter_config.json, adapter_model.safetensors}; out_dir is
// created when missing. Throws adabench::Error naming the adapter path for: no adapters, a
// coefficient count mismatch, a non-finite coefficient, adapters for different base shapes (layer
// counts or projection shapes disagree), a malformed LoraAdapter, every coefficient 0, a total rank
// above 65536; and naming the directory when it cannot be created or written.
LoraCatResult lora_cat_write(const std::vector<const LoraAdapter*>& adapters, const std::vector<float>& coefs,
                             const std::string& out_dir, const LoraCatOptions& opts = {});

// sha256 over the adapter files of `dir`, defined as the sha256 of the text
// "<hex>  adapter_config.json\n<hex>  adapter_model.safetensors\n" (what
// `sha256sum adapter_config.json adapter_model.safetensors | sha256sum` hashes). Throws
// adabench::Error naming an unreadable file.
std::string lora_cat_files_sha256(const std::string& dir);

}  // namespace adabench
