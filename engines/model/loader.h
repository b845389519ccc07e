// Model loading: a Hugging Face checkpoint directory (config.json + safetensors) -> ModelWeights,
// plus the dtype conversions every consumer of weights needs.
//
// Tensor names go through a per-architecture table (llama.cpp llama-arch style), so a new family is
// mostly data. Tensors stay views into the files' owned copies (safetensors_open reads each file
// into memory rather than mapping it) in their on-disk dtype; only a tensor whose data is
// misaligned for its dtype is copied (to owned fp32). Checked: every expected tensor is present
// (all missing ones listed at once), shapes match the config (the error names the tensor and both
// shapes), no unexpected tensors (a sign of the wrong architecture), no NaN/inf value anywhere. Not done: quantised
// weights, Qwen3 (q/k norms), Llama attention/MLP biases.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engines/model/model.h"

namespace adabench {

// Loads dir/config.json and dir's safetensors. Errors name the file and tensor.
std::shared_ptr<ModelWeights> model_load(const std::string& dir);
// The same checks on config.json and the safetensors headers (every tensor present, shapes against
// the config, offsets against the file sizes) without reading any tensor data: every tensor has its
// name, dtype and shape but null `data`, and the result has meta_only set. For checking LoRA
// adapters against a base too large to read (the http engine's served model, serve-engine's base
// that the backend loads itself). NaN/inf in the weights are not detected here.
std::shared_ptr<ModelWeights> model_load_meta(const std::string& dir);

// The Hugging Face name of a role, e.g. model_tensor_name(2, "q_proj") ->
// "model.layers.2.self_attn.q_proj.weight". Roles: the LayerWeights field names
// (attn_norm, q_proj, ..., q_bias, ...); layer -1 for embed_tokens, final_norm, lm_head.
std::string model_tensor_name(int layer, const std::string& role);

// Writes `w` as a Hugging Face checkpoint (config.json + model.safetensors) in `dtype`
// (for saving merges and for tests). Creates `dir` when missing.
void model_save(const ModelWeights& w, const std::string& dir, DType dtype);

// fp32 copy of any tensor (f32 / f16 / bf16).
std::vector<float> tensor_to_f32(const Tensor& t);
// Converts n elements of src (in `dtype`) to fp32 at dst; src may be unaligned.
void tensor_convert_f32(DType dtype, const void* src, float* dst, int64_t n);
// Whether all n elements at src (in `dtype`, may be unaligned) are finite: one vectorised pass.
bool tensor_data_finite(DType dtype, const void* src, int64_t n);
// The first non-finite element, e.g. "NaN at element 12", "-inf at element 3" (error messages).
std::string tensor_data_describe_nonfinite(DType dtype, const void* src, int64_t n);
// An owned fp32 tensor with the given shape and name.
Tensor tensor_new_f32(std::vector<int64_t> shape, const std::string& name);
// Mutable access to an owned fp32 tensor's storage (throws when `t` is a view).
float* tensor_f32_mut(Tensor& t);

// Scalar conversions. f32 -> bf16 / f16 round to nearest, ties to even; NaN stays NaN.
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace adabench
