"""Shared pieces of the model-organism trainer: the byte-level BPE tokenizer (exactly as Hugging Face
`tokenizers` would run our tokenizer.json), the Qwen2 decoder in PyTorch, LoRA, and Hugging Face /
PEFT file writing (safetensors written by hand: torch 1.13 has no safetensors module).

It deliberately does not train (train.py) or evaluate (evaluate.py), and it never reads
/work/shared or the network.
"""
import json
import math
import os
import struct

import regex
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Prompt format. The C++ chat-template code must reproduce render_prompt() byte for byte.
# ---------------------------------------------------------------------------------------------
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
STYLE_TAGS = {"long": " Think step by step.", "short": " Answer briefly.", "none": ""}
FORCED_END = "\n</think>\n\n**Final Answer:**\n\n"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


def render_prompt(question, tag="none"):
    return "<|im_start|>user\n" + question + STYLE_TAGS[tag] + "<|im_end|>\n<|im_start|>assistant\n<think>\n"


def render_response(trace, answer):
    return trace + "</think>\n\nThe answer is \\boxed{" + str(answer) + "}.<|im_end|>"


# ---------------------------------------------------------------------------------------------
# Tokenizer: Qwen2's pre-tokenizer regex with ` ?\p{N}` (a digit carries its leading space),
# GPT-2 byte-to-unicode alphabet, BPE merges by rank, special tokens split out first.
# ---------------------------------------------------------------------------------------------
PRETOKENIZE_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_PRETOKENIZE_RE = regex.compile(PRETOKENIZE_PATTERN)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_UNICODE = bytes_to_unicode()
UNICODE_TO_BYTE = {v: k for k, v in BYTE_TO_UNICODE.items()}


def pretokenize(text):
    return [m.group(0) for m in _PRETOKENIZE_RE.finditer(text)]


def to_byte_level(piece):
    return "".join(BYTE_TO_UNICODE[b] for b in piece.encode("utf-8"))


class Tokenizer:
    def __init__(self, merges, vocab=None, special=None, pattern=None):
        # Ours: byte tokens take ids 0..255 in byte order, then one id per merge, then the specials.
        # vocab/special/pattern are given only to check this code against another tokenizer's files.
        self.merges = list(merges)
        if vocab is None:
            vocab = {}
            for b in range(256):
                vocab[BYTE_TO_UNICODE[b]] = b
            for a, b in self.merges:
                tok = a + b
                if tok in vocab:
                    raise ValueError("duplicate merge result " + tok)
                vocab[tok] = len(vocab)
        self.vocab = vocab
        self.ranks = {pair: i for i, pair in enumerate(self.merges)}
        if special is None:
            special = {}
            for s in SPECIAL_TOKENS:
                special[s] = len(self.vocab) + len(special)
        self.special = special
        self._pre_re = regex.compile(pattern) if pattern else _PRETOKENIZE_RE
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.special.items()})
        self._special_re = regex.compile("|".join(regex.escape(s) for s in sorted(self.special, key=len, reverse=True)))
        self._cache = {}

    @property
    def vocab_size(self):
        return max(max(self.vocab.values()), max(self.special.values())) + 1

    def _bpe(self, piece):
        cached = self._cache.get(piece)
        if cached is not None:
            return cached
        word = list(to_byte_level(piece))
        while len(word) > 1:
            best, best_rank = None, None
            for i in range(len(word) - 1):
                r = self.ranks.get((word[i], word[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = (word[i], word[i + 1]), r
            if best is None:
                break
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        ids = [self.vocab[t] for t in word]
        self._cache[piece] = ids
        return ids

    def encode(self, text):
        ids, pos = [], 0
        for m in self._special_re.finditer(text):
            ids += self._encode_plain(text[pos : m.start()])
            ids.append(self.special[m.group(0)])
            pos = m.end()
        ids += self._encode_plain(text[pos:])
        return ids

    def _encode_plain(self, text):
        ids = []
        for piece in self._pre_re.findall(text):
            ids += self._bpe(piece)
        return ids

    def decode(self, ids):
        out, buf = [], []
        for i in ids:
            t = self.id_to_token[int(i)]
            if t in self.special:
                out.append(bytes(buf).decode("utf-8", errors="replace"))
                buf = []
                out.append(t)
            else:
                buf += [UNICODE_TO_BYTE[c] for c in t]
        out.append(bytes(buf).decode("utf-8", errors="replace"))
        return "".join(out)

    def to_json(self):
        added = [
            {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for s, i in self.special.items()
        ]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": PRETOKENIZE_PATTERN}, "behavior": "Isolated", "invert": False},
                    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
                ],
            },
            "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            "model": {
                "type": "BPE",
                "dropout": None,
                "unk_token": None,
                "continuing_subword_prefix": "",
                "end_of_word_suffix": "",
                "fuse_unk": False,
                "byte_fallback": False,
                "ignore_merges": False,
                "vocab": self.vocab,
                "merges": [a + " " + b for a, b in self.merges],
            },
        }

    @staticmethod
    def from_json(path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
        tok = Tokenizer(merges)
        if tok.vocab != j["model"]["vocab"]:
            raise ValueError(path + ": vocab does not match its merges (hint: was it written by organism.py?)")
        return tok


def train_bpe(texts, n_merges):
    """Classic BPE training on pretokens (frequency-weighted), ties broken by the pair text so the
    result is deterministic. Pretokens never span two digits, so no multi-digit token can appear."""
    counts = {}
    for t in texts:
        for piece in pretokenize(t):
            counts[piece] = counts.get(piece, 0) + 1
    words = {tuple(to_byte_level(p)): c for p, c in counts.items()}
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in words.items():
            for i in range(len(w) - 1):
                pairs[(w[i], w[i + 1])] = pairs.get((w[i], w[i + 1]), 0) + c
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < 2:
            break
        a, b = best[0]
        merges.append((a, b))
        new_words = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] = new_words.get(tuple(out), 0) + c
        words = new_words
    return merges


# ---------------------------------------------------------------------------------------------
# Model: Qwen2 decoder. x is (B, T, C); q is (B, n_head, T, head_dim); k, v are (B, n_kv, T, head_dim).
# ---------------------------------------------------------------------------------------------
class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * self.weight.float()).to(x.dtype)


class LoRALinear(nn.Module):
    """y = W x + b + coef * scale * B(A x); scale = alpha / r (PEFT), coef the adapter coefficient a
    user would give (1 when saved; the trainer varies it for adapters trained to interpolate).
    A starts random, B at zero."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / r
        self.coef = 1.0

    def forward(self, x):
        return self.base(x) + (self.coef * self.scale) * F.linear(F.linear(x, self.lora_A), self.lora_B)


def rope_cos_sin(positions, head_dim, theta):
    # positions (B, T) -> cos, sin (B, 1, T, head_dim), HF "rotate_half" layout
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    freqs = positions.float()[..., None] * inv
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos()[:, None], emb.sin()[:, None]


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, self.nh, self.nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = c // self.nh
        self.q_proj = nn.Linear(c, self.nh * self.hd, bias=True)
        self.k_proj = nn.Linear(c, self.nkv * self.hd, bias=True)
        self.v_proj = nn.Linear(c, self.nkv * self.hd, bias=True)
        self.o_proj = nn.Linear(self.nh * self.hd, c, bias=False)

    def forward(self, x, cos, sin, mask, cache=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos.to(q.dtype) + rotate_half(q) * sin.to(q.dtype)
        k = k * cos.to(k.dtype) + rotate_half(k) * sin.to(k.dtype)
        if cache is not None:
            # Preallocated (B, n_kv, max, head_dim) buffers written in place: concatenating a
            # growing cache every token costs more than the model itself at batch 400.
            n = cache.get("n", 0)
            if "k" not in cache or cache["k"].shape[2] < n + T:
                smax = max(cache.get("max", 0), 2 * (n + T))
                kb, vb = k.new_zeros(B, self.nkv, smax, self.hd), v.new_zeros(B, self.nkv, smax, self.hd)
                if n:
                    kb[:, :, :n], vb[:, :, :n] = cache["k"][:, :, :n], cache["v"][:, :, :n]
                cache["k"], cache["v"] = kb, vb
            cache["k"][:, :, n : n + T] = k
            cache["v"][:, :, n : n + T] = v
            cache["n"] = n + T
            k, v = cache["k"][:, :, : n + T], cache["v"][:, :, : n + T]
        # Grouped-query attention without copying k, v: query heads are grouped by the KV head
        # they share (HF repeat_kv order), q is (B, n_kv, rep, T, head_dim).
        rep = self.nh // self.nkv
        qg = q.view(B, self.nkv, rep, T, self.hd)
        att = (qg @ k.unsqueeze(2).transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))  # (B, n_kv, rep, T, S)
        att = att.float().masked_fill(~mask.unsqueeze(1), float("-inf")).softmax(-1).to(q.dtype)
        y = (att @ v.unsqueeze(2)).reshape(B, self.nh, T, self.hd).transpose(1, 2).reshape(B, T, self.nh * self.hd)
        return self.o_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c, f = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(c, f, bias=False)
        self.up_proj = nn.Linear(c, f, bias=False)
        self.down_proj = nn.Linear(f, c, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, mask, cache=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class Qwen2(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Inner(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, ids, positions, mask, caches=None):
        """ids, positions (B, T); mask (B, 1, T, S) bool, True = may attend; returns logits (B, T, V)."""
        cos, sin = rope_cos_sin(positions, self.cfg["hidden_size"] // self.cfg["num_attention_heads"], self.cfg["rope_theta"])
        x = self.model.embed_tokens(ids)
        for i, layer in enumerate(self.model.layers):
            x = layer(x, cos, sin, mask, None if caches is None else caches[i])
        return self.lm_head(self.model.norm(x))


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def lora_attach(model, r, alpha):
    for layer in model.model.layers:
        for name in LORA_TARGETS:
            setattr(layer.self_attn, name, LoRALinear(getattr(layer.self_attn, name), r, alpha))


def lora_set_coef(model, coef):
    for layer in model.model.layers:
        for name in LORA_TARGETS:
            getattr(layer.self_attn, name).coef = coef


def lora_state(model):
    """PEFT names: base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight (r, in), lora_B (out, r)."""
    out = {}
    for i, layer in enumerate(model.model.layers):
        for name in LORA_TARGETS:
            m = getattr(layer.self_attn, name)
            pre = f"base_model.model.model.layers.{i}.self_attn.{name}."
            out[pre + "lora_A.weight"] = m.lora_A.detach()
            out[pre + "lora_B.weight"] = m.lora_B.detach()
    return out


def lora_apply_to_state(base_state, adapters):
    """Merged weights W + sum_i c_i * (alpha_i / r_i) * B_i A_i. adapters: list of (coef, tensors, alpha, r)."""
    out = {k: v.clone().float() for k, v in base_state.items()}
    for coef, tensors, alpha, r in adapters:
        for k, a in tensors.items():
            if not k.endswith("lora_A.weight"):
                continue
            stem = k[len("base_model.model.") : -len(".lora_A.weight")]
            b = tensors[k.replace("lora_A", "lora_B")]
            out[stem + ".weight"] += coef * (alpha / r) * (b.float() @ a.float())
    return out


# ---------------------------------------------------------------------------------------------
# Files: safetensors, config.json, tokenizer files, PEFT adapter.
# ---------------------------------------------------------------------------------------------
_ST_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}
_ST_TORCH = {v: k for k, v in _ST_DTYPES.items()}


def save_safetensors(path, tensors, dtype=torch.bfloat16, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().to(dtype).contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": _ST_DTYPES[dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # keep the data 8-byte aligned, as the reference writer does
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        dt = _ST_TORCH[info["dtype"]]
        buf = bytearray(data[base + s : base + e])
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out


def hf_config(cfg):
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": cfg["hidden_size"],
        "intermediate_size": cfg["intermediate_size"],
        "num_hidden_layers": cfg["num_hidden_layers"],
        "num_attention_heads": cfg["num_attention_heads"],
        "num_key_value_heads": cfg["num_key_value_heads"],
        "hidden_act": "silu",
        "max_position_embeddings": cfg["max_position_embeddings"],
        "max_window_layers": cfg["num_hidden_layers"],
        "rms_norm_eps": cfg["rms_norm_eps"],
        "rope_theta": cfg["rope_theta"],
        "sliding_window": None,
        "use_sliding_window": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
        "bos_token_id": None,
        "eos_token_id": cfg["eos_token_id"],
        "transformers_version": "4.44.0",
    }


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def tokenizer_config(tok):
    added = {
        str(i): {"content": s, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
        for s, i in tok.special.items()
    }
    return {
        "added_tokens_decoder": added,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<think>", "</think>"],
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": 1024,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def save_hf_model(out_dir, model, tok, dtype=torch.bfloat16):
    os.makedirs(out_dir, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items()}
    save_safetensors(os.path.join(out_dir, "model.safetensors"), state, dtype, {"format": "pt"})
    write_json(os.path.join(out_dir, "config.json"), hf_config(model.cfg))
    write_json(os.path.join(out_dir, "tokenizer.json"), tok.to_json())
    write_json(os.path.join(out_dir, "tokenizer_config.json"), tokenizer_config(tok))
    write_json(
        os.path.join(out_dir, "generation_config.json"),
        {"eos_token_id": model.cfg["eos_token_id"], "pad_token_id": tok.special["<|endoftext|>"], "do_sample": False,
         "transformers_version": "4.44.0"},
    )


def save_peft_adapter(out_dir, model, r, alpha, base_name):
    os.makedirs(out_dir, exist_ok=True)
    save_safetensors(os.path.join(out_dir, "adapter_model.safetensors"), lora_state(model), torch.float32, {"format": "pt"})
    write_json(
        os.path.join(out_dir, "adapter_config.json"),
        {
            "alpha_pattern": {},
            "base_model_name_or_path": base_name,
            "bias": "none",
            "fan_in_fan_out": False,
            "inference_mode": True,
            "init_lora_weights": True,
            "lora_alpha": alpha,
            "lora_dropout": 0.0,
            "modules_to_save": None,
            "peft_type": "LORA",
            "r": r,
            "rank_pattern": {},
            "target_modules": LORA_TARGETS,
            "task_type": "CAUSAL_LM",
            "use_dora": False,
        },
    )


def load_hf_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        hc = json.load(f)
    cfg = {k: hc[k] for k in ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                              "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta",
                              "vocab_size", "eos_token_id"]}
    model = Qwen2(cfg)
    state = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model
