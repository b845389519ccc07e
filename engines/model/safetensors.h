// safetensors reading (read into owned memory, validated before any tensor byte is used) and writing.
//
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the data region; offsets are relative to the data region. Checked on open: N against the
// file size, the JSON, every dtype (F32/F16/BF16 only), shape, and data_offsets (inside the data
// region, begin <= end, size = numel * dtype size, no two tensors overlapping). `__metadata__` is
// ignored. Sharded checkpoints go through model.safetensors.index.json's weight_map. Files are read
// into an owned copy, not mapped: a checkpoint truncated or rewritten while a sweep runs must not
// kill it with SIGBUS. Every tensor is then checked for NaN / inf (the error names file and tensor).
// Not done: big-endian hosts, dtypes other than F32/F16/BF16 (a clear error names them).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engines/model/model.h"

namespace adabench {

// One tensor of a file. `data` points into the file's owned copy (may be unaligned in odd files).
struct SafetensorsTensor {
    std::string name;
    DType dtype = DTYPE_F32;
    std::vector<int64_t> shape;
    uint64_t offset = 0;  // absolute byte offset in the file
    uint64_t n_bytes = 0;
    const void* data = nullptr;
};

struct SafetensorsFile {
    std::string path;
    std::shared_ptr<void> mapping;  // the owned copy of the file; freed when the last owner goes away
    uint64_t file_size = 0;
    std::map<std::string, SafetensorsTensor> tensors;
};

// Reads and validates one .safetensors file, including safetensors_check_finite. Errors name the
// file and, where it applies, the tensor.
SafetensorsFile safetensors_open(const std::string& path);
// Reads and validates only the header of one .safetensors file: names, dtypes, shapes and offsets,
// checked against the file's size exactly as safetensors_open does; no tensor byte is read, so every
// tensor's `data` is null and `mapping` is empty (NaN/inf are not checked). For shape checks against
// a base far larger than memory (LoRA adapters for a served 70B model).
SafetensorsFile safetensors_open_header(const std::string& path);
// Throws when a tensor holds NaN or +-inf, naming the file, the tensor and the first bad element.
// One pass at memory speed (vectorised).
void safetensors_check_finite(const SafetensorsFile& f);
// Validates an in-memory copy (the same checks; `path` only names it in errors). Used by tests and
// fuzzing; the returned tensors point into `bytes`, which must outlive them.
SafetensorsFile safetensors_parse(const std::string& path, const void* bytes, uint64_t size);

// All tensors of a checkpoint directory: model.safetensors.index.json (sharded) when present, else
// model.safetensors, else the single *.safetensors file in `dir`. A tensor listed in the index but
// absent from its shard, or present in two files, is an error. With `read_data` false each file goes
// through safetensors_open_header (shapes only, no data).
struct SafetensorsSet {
    std::vector<SafetensorsFile> files;
    std::map<std::string, SafetensorsTensor> tensors;  // name -> view into one of `files`
};
SafetensorsSet safetensors_open_dir(const std::string& dir, bool read_data = true);

// A tensor to write: `data` holds numel * dtype_size bytes in `dtype`.
struct SafetensorsWriteTensor {
    std::string name;
    DType dtype = DTYPE_F32;
    std::vector<int64_t> shape;
    const void* data = nullptr;
};
// Writes a .safetensors file atomically (tensors sorted by dtype size then name, as the Python
// writer does, so every tensor stays aligned; header padded with spaces to 8 bytes).
void safetensors_write(const std::string& path, const std::vector<SafetensorsWriteTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

DType dtype_parse_safetensors(const std::string& name, bool* ok);  // "F32" -> DTYPE_F32
const char* dtype_safetensors_name(DType t);                       // DTYPE_BF16 -> "BF16"

}  // namespace adabench
