// Attention over the KV cache beyond the one-block-per-row kernel of ops.cuh: the KV cache element
// type (fp32, or bf16 to hold twice the positions), the bf16 cache append, and a tiled,
// flash-attention-style prefill kernel that loads each K/V tile into shared memory once for a tile
// of consecutive query rows of one sequence and all query heads of one kv head group.
//
// Every launcher computes the same function as ref_attention_row (engines/cpu/ops_ref.h) to fp32
// rounding, over the cache values as stored (a bf16 cache holds bf16(K), bf16(V), rounded to
// nearest even like ref_f32_to_bf16). Launchers only enqueue on `stream` and throw adabench::Error
// for arguments they can check on the host.
//
// Not here: paged KV blocks, tensor-core (bf16 MMA) scores; the cache allocation, the scratch and
// the per-step tile and row lists (the backend builds them).
#pragma once
#ifndef ADABENCH_BLOCK_EMULATION  // tests/emulation provides the CUDA types used here
#include <cuda_runtime.h>
#endif

#include <cstdint>
#include <string>

namespace adabench {

// Element type of the KV cache.
enum KvCacheType { KV_CACHE_F32, KV_CACHE_BF16 };

// Bytes per cached value (4 or 2).
int kv_cache_type_size(KvCacheType type);
// "f32" or "bf16" -> the type; anything else throws adabench::Error naming the value.
KvCacheType kv_cache_type_parse(const std::string& name);
const char* kv_cache_type_name(KvCacheType type);

// KV cache append for either element type: row t of k_new / v_new (n_tok, kv_dim), fp32, goes to
// position pos[t] of slot slot[t] at element slot[t]*slot_stride + pos[t]*kv_dim + i of the cache,
// rounded to bf16 for a bf16 cache. Slots and positions are checked by the caller.
void kv_append_cuda(KvCacheType type, const float* k_new, const float* v_new, const int32_t* slot, const int32_t* pos,
                    int n_tok, int kv_dim, int64_t slot_stride, void* k_cache, void* v_cache, cudaStream_t stream);

// The fused q/k/v projection's output qkv (n_tok, q_dim + 2 kv_dim), columns [q | k | v], to
// attention's inputs in one launch: q (n_tok, n_heads, head_dim) = RoPE(q block + bq) at pos[t],
// and RoPE(k block + bk), v block + bv appended to the cache of `type` at (slot[t], pos[t]) as
// kv_append_cuda stores them. A null bias adds nothing. Bit-identical to split_qkv_f32_cuda, then
// rope_f32_cuda on q and k, then kv_append_cuda. head_dim even; n_tok <= 65535.
void qkv_rope_append_cuda(KvCacheType type, const float* qkv, const float* bq, const float* bk, const float* bv,
                          const int32_t* slot, const int32_t* pos, int n_tok, int n_heads, int n_kv_heads,
                          int head_dim, float theta, float* q, int64_t slot_stride, void* k_cache, void* v_cache,
                          cudaStream_t stream);

// The one-block-per-(row, head) kernel (attention_f32_cuda in ops.cuh) over a cache of either type;
// same arguments, slot_stride in elements. row_index null: rows 0..n_rows-1; otherwise the n_rows
// query rows row_index[i] (q, out, row_slot, row_n_ctx indexed by row number), the rest of out
// untouched: the single-token rows of a step whose other sequences go through the tiled kernel.
// Every attention launcher here also writes out_bf16, when not null, with the same layout: out
// rounded to bf16 as convert_f32_bf16_cuda rounds it (the o projection's input), bit for bit.
void attention_rows_cuda(KvCacheType type, const float* q, const void* k, const void* v, int64_t slot_stride,
                         const int32_t* row_index, const int32_t* row_slot, const int32_t* row_n_ctx, int n_rows,
                         int n_heads, int n_kv_heads, int head_dim, float scale, float* out, cudaStream_t stream,
                         uint16_t* out_bf16 = nullptr);

// Query rows (tokens) per tile of attention_prefill_cuda for this shape, or 0 when the tiled
// kernel does not handle it (head_dim > kCudaAttentionMaxHeadDim or not a multiple of 4; the
// caller then uses attention_rows_cuda). A tile holds `rows` consecutive tokens of one sequence
// times the query heads of one kv head group (up to 32 (token, head) rows in all).
int attention_prefill_tile_rows(int n_heads, int n_kv_heads, int head_dim);

// Tiled causal attention for steps whose sequences contribute runs of consecutive tokens
// (prefill). Same q / cache / out layout and per-row (row_slot, row_n_ctx) semantics as
// attention_f32_cuda; additionally tile i covers query rows tile_first[i] ..
// tile_first[i] + tile_count[i] - 1, which must all belong to one slot, with
// 1 <= tile_count[i] <= attention_prefill_tile_rows(...). Every query row must lie in exactly one
// tile. Rows with row_n_ctx 0 give zero rows. Throws when the shape is one the tiled kernel does
// not handle (attention_prefill_tile_rows == 0).
void attention_prefill_cuda(KvCacheType type, const float* q, const void* k, const void* v, int64_t slot_stride,
                            const int32_t* row_slot, const int32_t* row_n_ctx, const int32_t* tile_first,
                            const int32_t* tile_count, int n_tiles, int n_heads, int n_kv_heads, int head_dim,
                            float scale, float* out, cudaStream_t stream, uint16_t* out_bf16 = nullptr);

// Split-K (flash-decoding) attention for decode rows: row r's context is cut into splits of
// split_len positions, one block per (kv head, row, split) scores its split for every query head
// of the group (K/V read once per group), and a second kernel merges the splits. Same q / cache /
// out / row_index semantics as attention_rows_cuda. `partial` is scratch of
// attention_decode_partial_floats(n_rows, n_heads, head_dim, max_splits) floats; max_splits *
// split_len must cover every row's context. The backend takes split_len =
// attention_decode_split_len(max_seq_len) (a multiple of 64, >= 64 positions, at most 32 splits)
// and max_splits =
// attention_decode_max_splits(max_seq_len), so a row's result depends only on its own context and
// the cache length, never on the batch, and the grid is fixed per batch size (CUDA graphs).
// Handles at most 8 query heads per kv head and head_dim <= 256 (attention_decode_split_supported).
bool attention_decode_split_supported(int n_heads, int n_kv_heads, int head_dim);
int attention_decode_split_len(int max_seq_len);
int attention_decode_max_splits(int max_seq_len);
int64_t attention_decode_partial_floats(int n_rows, int n_heads, int head_dim, int max_splits);
void attention_decode_split_cuda(KvCacheType type, const float* q, const void* k, const void* v, int64_t slot_stride,
                                 const int32_t* row_index, const int32_t* row_slot, const int32_t* row_n_ctx,
                                 int n_rows, int n_heads, int n_kv_heads, int head_dim, float scale, int split_len,
                                 int max_splits, float* partial, float* out, cudaStream_t stream,
                                 uint16_t* out_bf16 = nullptr);

// Dynamic shared memory (bytes) one block of attention_prefill_cuda uses for head_dim; for the
// tests and the notes (<= 227 KiB on sm_90, <= 163 KiB on sm_80 for every head_dim <= 256).
int attention_prefill_smem_bytes(int head_dim);

}  // namespace adabench
