#!/usr/bin/python3
"""Converts a llama2.c checkpoint (legacy float32 .bin) and its tokenizer to a Hugging Face Llama dir.

  /usr/bin/python3 tools/convert/llama2c_to_hf.py MODEL.bin TOKENIZER.bin OUT_DIR

llama2.c format (karpathy/llama2.c run.c): a header of 7 int32 (dim, hidden_dim, n_layers, n_heads,
n_kv_heads, vocab_size — negative when the classifier is not shared — and seq_len), then fp32 arrays:
token embeddings (V, C), attention RMSNorm weights (L, C), wq (L, H*D, C), wk (L, KV*D, C),
wv (L, KV*D, C), wo (L, C, H*D), FFN RMSNorm weights (L, C), w1 (L, I, C), w2 (L, C, I), w3 (L, I, C),
final RMSNorm (C), two unused RoPE tables (seq_len * D/2 each), then the classifier (V, C) if unshared.
Matrices are PyTorch Linear layouts (out, in). w1 is gate, w3 up, w2 down. RMSNorm eps is 1e-5.

llama2.c rotates interleaved pairs (2j, 2j+1) of each head; Hugging Face Llama rotates (j, j+D/2).
As in transformers' convert_llama_weights_to_hf.py, the rows of wq and wk are permuted per head so
that the HF convention gives the same attention scores.

The tokenizer (llama2.c tokenizer .bin: int32 max_token_length, then per token a float32 score,
int32 length and the bytes) is written as tokenizer_vocab.json: {"pieces": [...], "scores": [...]}
with pieces as text (invalid UTF-8 bytes as <0xNN>) — enough to decode ids for humans and tests. A
sentencepiece encoder is out of scope. Output weights are fp32 model.safetensors.
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reference"))
from reference import st_write  # noqa: E402  (the reference tool's safetensors writer)


def permute_rotary(w, n_heads):
    # (n_heads * D, C) with interleaved pairs -> rotate_half layout, head by head.
    out_f, in_f = w.shape
    d = out_f // n_heads
    return w.view(n_heads, d // 2, 2, in_f).transpose(1, 2).reshape(out_f, in_f)


def convert(model_path, tok_path, out_dir):
    with open(model_path, "rb") as f:
        data = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // n_heads
    kv_dim = n_kv * head
    floats = torch.frombuffer(bytearray(data[28:]), dtype=torch.float32)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = 1
        for s in shape:
            n *= s
        if pos + n > floats.numel():
            raise SystemExit(f"{model_path}: truncated (needs more than {floats.numel()} floats)")
        t = floats[pos : pos + n].reshape(*shape).clone()
        pos += n
        return t

    w = {}
    w["model.embed_tokens.weight"] = take(vocab, dim)
    att_norm = take(n_layers, dim)
    wq = take(n_layers, n_heads * head, dim)
    wk = take(n_layers, kv_dim, dim)
    wv = take(n_layers, kv_dim, dim)
    wo = take(n_layers, dim, n_heads * head)
    ffn_norm = take(n_layers, dim)
    w1 = take(n_layers, hidden, dim)
    w2 = take(n_layers, dim, hidden)
    w3 = take(n_layers, hidden, dim)
    final_norm = take(dim)
    take(seq_len * head // 2)  # freq_cis_real, unused
    take(seq_len * head // 2)  # freq_cis_imag, unused
    if not shared:
        w["lm_head.weight"] = take(vocab, dim)
    if pos != floats.numel():
        raise SystemExit(f"{model_path}: {floats.numel() - pos} trailing floats; not a legacy llama2.c checkpoint?")
    for l in range(n_layers):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = att_norm[l]
        w[p + "self_attn.q_proj.weight"] = permute_rotary(wq[l], n_heads)
        w[p + "self_attn.k_proj.weight"] = permute_rotary(wk[l], n_kv)
        w[p + "self_attn.v_proj.weight"] = wv[l]
        w[p + "self_attn.o_proj.weight"] = wo[l]
        w[p + "post_attention_layernorm.weight"] = ffn_norm[l]
        w[p + "mlp.gate_proj.weight"] = w1[l]
        w[p + "mlp.down_proj.weight"] = w2[l]
        w[p + "mlp.up_proj.weight"] = w3[l]
    w["model.norm.weight"] = final_norm

    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": dim,
        "intermediate_size": hidden,
        "num_hidden_layers": n_layers,
        "num_attention_heads": n_heads,
        "num_key_value_heads": n_kv,
        "max_position_embeddings": seq_len,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "tie_word_embeddings": shared,
        "attention_bias": False,
        "hidden_act": "silu",
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    st_write(os.path.join(out_dir, "model.safetensors"), w)

    with open(tok_path, "rb") as f:
        tdata = f.read()
    (max_len,) = struct.unpack("<i", tdata[:4])
    off = 4
    pieces, scores = [], []
    for _ in range(vocab):
        score, n = struct.unpack("<fi", tdata[off : off + 8])
        off += 8
        raw = tdata[off : off + n]
        off += n
        try:
            piece = raw.decode("utf-8")
        except UnicodeDecodeError:
            piece = "".join(f"<0x{b:02X}>" for b in raw)
        pieces.append(piece)
        scores.append(score)
    with open(os.path.join(out_dir, "tokenizer_vocab.json"), "w") as f:
        json.dump({"format": "llama2.c tokenizer, decoded", "max_token_length": max_len, "pieces": pieces,
                   "scores": scores}, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out_dir}: {len(w)} tensors, vocab {vocab}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    convert(sys.argv[1], sys.argv[2], sys.argv[3])
