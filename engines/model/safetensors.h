// safetensors reading (memory-mapped, validated before any tensor byte is touched) and writing.
//
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the data region; offsets are relative to the data region. Checked on open: N against the
// file size, the JSON, every dtype (F32/F16/BF16 only), shape, and data_offsets (inside the data
// region, begin <= end, size = numel * dtype size, no two tensors overlapping). `__metadata__` is
// ignored. Sharded checkpoints go through model.safetensors.index.json's weight_map.
// Not done: big-endian hosts, dtypes other than F32/F16/BF16 (a clear error names them).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engines/model/model.h"

namespace adabench {

// One tensor of a mapped file. `data` points into the mapping (may be unaligned in odd files).
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
    std::shared_ptr<void> mapping;  // unmaps when the last owner goes away
    uint64_t file_size = 0;
    std::map<std::string, SafetensorsTensor> tensors;
};

// Maps and validates one .safetensors file. Errors name the file and, where it applies, the tensor.
SafetensorsFile safetensors_open(const std::string& path);
// Validates an in-memory copy (the same checks; `path` only names it in errors). Used by tests and
// fuzzing; the returned tensors point into `bytes`, which must outlive them.
SafetensorsFile safetensors_parse(const std::string& path, const void* bytes, uint64_t size);

// All tensors of a checkpoint directory: model.safetensors.index.json (sharded) when present, else
// model.safetensors, else the single *.safetensors file in `dir`. A tensor listed in the index but
// absent from its shard, or present in two files, is an error.
struct SafetensorsSet {
    std::vector<SafetensorsFile> files;
    std::map<std::string, SafetensorsTensor> tensors;  // name -> view into one of `files`
};
SafetensorsSet safetensors_open_dir(const std::string& dir);

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
