#!/usr/bin/python3
"""Independent PyTorch reference for adabench's CPU engine (fp32, torch 1.13 CPU, Debian python3).

Written from the architecture descriptions (Hugging Face Qwen2 / Llama modelling, PEFT LoRA,
mergekit list-valued parameters), not from adabench's C++. It
  * reads Hugging Face checkpoint directories (config.json + model.safetensors) with its own
    safetensors reader,
  * runs the decoder forward pass over the whole sequence at every step (no KV cache, so it
    shares no caching logic with the engine),
  * applies LoRA adapters UNMERGED (y = W x + sum_i c_i * s_i * B_i (A_i x)) and model merges
    (linear, task arithmetic) with mergekit's gradient semantics for lambda lists,
  * writes the small random fixtures (a Qwen2 with q/k/v bias, GQA and untied embeddings, a second
    model of the same shape, two PEFT adapters) and golden files (greedy tokens + fp32 logits).

Usage:
  /usr/bin/python3 tools/reference/reference.py fixtures   # (re)write tests/fixtures/models/qwen2-tiny-*
  /usr/bin/python3 tools/reference/reference.py goldens    # (re)write tests/golden/*.json
  /usr/bin/python3 tools/reference/reference.py organism-goldens [--dir models/organism]
                                                           # tests/golden/organism-*.json
  /usr/bin/python3 tools/reference/reference.py generate --model DIR --prompt 1,2,3 --n 8 \
      [--adapter DIR=COEF ...] [--merge-with DIR --lambda L[,L...] [--merge-base DIR]]

Not done here: sampling (greedy only), sliding-window attention, rope scaling, quantised weights.
"""
import argparse
import hashlib
import json
import math
import os
import re
import struct
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "models")
GOLDEN = os.path.join(ROOT, "tests", "golden")
GOLDEN_VERSION = 1

ST_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}


# ---------------------------------------------------------------------------------------------
# safetensors


def st_read(path):
    """Returns {name: fp32 tensor}."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        dt = ST_DTYPES[e["dtype"]]
        if end > b:
            t = torch.frombuffer(bytearray(data[base + b : base + end]), dtype=dt).reshape(e["shape"])
        else:
            t = torch.zeros(e["shape"], dtype=dt)
        out[name] = t.to(torch.float32)
    return out


def st_write(path, tensors):
    """tensors: {name: tensor} written in each tensor's dtype, sorted by element size then name."""
    items = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, t in items:
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": ST_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------------------------
# model


class Model:
    """A decoder from an HF directory. Weights are fp32 tensors keyed by HF name."""

    def __init__(self, cfg, weights, source):
        self.cfg = cfg
        self.w = weights
        self.source = source
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // self.n_heads
        rp = cfg.get("rope_parameters") or {}
        self.theta = float(rp.get("rope_theta", cfg.get("rope_theta", 10000.0)))
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        # adapters: list of (coef, {module_name: (A, B, scale)})
        self.adapters = []

    @staticmethod
    def load(d):
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        return Model(cfg, st_read(os.path.join(d, "model.safetensors")), d)

    def lm_head(self):
        return self.w["model.embed_tokens.weight"] if self.tied else self.w["lm_head.weight"]

    def linear(self, x, module):
        """x (T, in) -> (T, out); module is e.g. 'model.layers.0.self_attn.q_proj'."""
        y = x @ self.w[module + ".weight"].t()
        b = self.w.get(module + ".bias")
        if b is not None:
            y = y + b
        for coef, pairs in self.adapters:
            if module in pairs:
                a, bm, scale = pairs[module]
                y = y + coef * scale * ((x @ a.t()) @ bm.t())
        return y

    def rms_norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, pos):
        # x (T, H, D); Hugging Face rotate_half convention: pairs (j, j + D/2).
        d = x.shape[-1]
        inv = 1.0 / (self.theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        ang = pos[:, None].float() * inv[None, :]  # (T, D/2)
        cos = torch.cat([ang.cos(), ang.cos()], -1)[:, None, :]
        sin = torch.cat([ang.sin(), ang.sin()], -1)[:, None, :]
        x1, x2 = x[..., : d // 2], x[..., d // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(self, ids):
        """ids: list of ints -> logits (T, V), fp32, whole sequence recomputed."""
        T = len(ids)
        H, KV, D = self.n_heads, self.n_kv, self.head_dim
        pos = torch.arange(T)
        x = self.w["model.embed_tokens.weight"][torch.tensor(ids)]  # (T, C)
        mask = torch.full((T, T), float("-inf")).triu(1)
        for l in range(self.n_layers):
            p = f"model.layers.{l}."
            h = self.rms_norm(x, self.w[p + "input_layernorm.weight"])
            q = self.linear(h, p + "self_attn.q_proj").view(T, H, D)
            k = self.linear(h, p + "self_attn.k_proj").view(T, KV, D)
            v = self.linear(h, p + "self_attn.v_proj").view(T, KV, D)
            q, k = self.rope(q, pos), self.rope(k, pos)
            rep = H // KV
            k = k.repeat_interleave(rep, dim=1)  # (T, H, D): query head h reads kv head h // rep
            v = v.repeat_interleave(rep, dim=1)
            att = torch.einsum("thd,shd->hts", q, k) / math.sqrt(D) + mask
            att = torch.softmax(att, dim=-1)
            o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * D)
            x = x + self.linear(o, p + "self_attn.o_proj")
            h = self.rms_norm(x, self.w[p + "post_attention_layernorm.weight"])
            g = self.linear(h, p + "mlp.gate_proj")
            u = self.linear(h, p + "mlp.up_proj")
            x = x + self.linear(torch.nn.functional.silu(g) * u, p + "mlp.down_proj")
        x = self.rms_norm(x, self.w["model.norm.weight"])
        return x @ self.lm_head().t()

    def greedy(self, prompt, n):
        ids = list(prompt)
        out, rows, margins = [], [], []
        for _ in range(n):
            logits = self.forward(ids)[-1]
            top2 = torch.topk(logits, 2)
            nxt = int(top2.indices[0])
            margins.append(float(top2.values[0] - top2.values[1]))
            out.append(nxt)
            rows.append(logits.clone())
            ids.append(nxt)
        return out, rows, margins


# ---------------------------------------------------------------------------------------------
# LoRA (PEFT layout) and merges (mergekit semantics)

LORA_NAME = re.compile(r"^base_model\.model\.(model\.layers\.\d+\.(?:self_attn|mlp)\.\w+_proj)\.lora_([AB])(?:\.\w+)?\.weight$")


def pattern_value(patterns, module, default):
    # PEFT matches *_pattern keys as regexes against the end of the module name.
    for key, val in patterns.items():
        if re.match(rf"(.*\.)?{key}$", module):
            return val
    return default


def load_adapter(d):
    with open(os.path.join(d, "adapter_config.json")) as f:
        cfg = json.load(f)
    tensors = st_read(os.path.join(d, "adapter_model.safetensors"))
    pairs = {}
    for name, t in tensors.items():
        m = LORA_NAME.match(name)
        if not m:
            raise SystemExit(f"{d}: unexpected adapter tensor {name}")
        pairs.setdefault(m.group(1), {})[m.group(2)] = t
    out = {}
    for module, ab in pairs.items():
        a, b = ab["A"], ab["B"]
        r = a.shape[0]
        assert r == pattern_value(cfg.get("rank_pattern") or {}, module, cfg["r"]), module
        alpha = pattern_value(cfg.get("alpha_pattern") or {}, module, cfg["lora_alpha"])
        scale = (alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r) if alpha else 1.0
        out[module] = (a, b, scale)
    return out


def gradient(values, t):
    """mergekit evaluate_setting for a numeric list at depth position t in [0, 1]."""
    if len(values) == 1:
        return values[0]
    scaled = t * (len(values) - 1)
    i0 = int(scaled)
    i1 = min(len(values) - 1, i0 + 1)
    frac = scaled - i0
    return (1 - frac) * values[i0] + frac * values[i1]


def tensor_t(name, n_layers):
    m = re.match(r"model\.layers\.(\d+)\.", name)
    if m:
        return int(m.group(1)) / (n_layers - 1) if n_layers > 1 else 1.0
    if name == "model.embed_tokens.weight":
        return 0.0
    return 1.0  # model.norm.weight, lm_head.weight


def merge_linear(a, b, lam):
    w = {}
    for name, ta in a.w.items():
        l = gradient(lam, tensor_t(name, a.n_layers))
        w[name] = l * ta + (1 - l) * b.w[name]
    return Model(dict(a.cfg), w, "merge")


def merge_task_arithmetic(base, models, lams):
    w = {}
    for name, tb in base.w.items():
        t = tensor_t(name, base.n_layers)
        acc = tb.clone()
        for m, lam in zip(models, lams):
            acc = acc + gradient(lam, t) * (m.w[name] - tb)
        w[name] = acc
    return Model(dict(base.cfg), w, "merge")


# ---------------------------------------------------------------------------------------------
# fixtures

TINY_CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "vocab_size": 384,
    "hidden_size": 64,
    "intermediate_size": 176,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}


def random_qwen2(seed):
    g = torch.Generator().manual_seed(seed)
    c = TINY_CONFIG
    C, I, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    D = C // c["num_attention_heads"]
    Q, KVD = c["num_attention_heads"] * D, c["num_key_value_heads"] * D

    def rn(*shape, std):
        return torch.randn(*shape, generator=g) * std

    w = {"model.embed_tokens.weight": rn(V, C, std=0.5), "lm_head.weight": rn(V, C, std=0.4)}
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1.0 + rn(C, std=0.1)
        w[p + "post_attention_layernorm.weight"] = 1.0 + rn(C, std=0.1)
        w[p + "self_attn.q_proj.weight"] = rn(Q, C, std=0.2)
        w[p + "self_attn.k_proj.weight"] = rn(KVD, C, std=0.2)
        w[p + "self_attn.v_proj.weight"] = rn(KVD, C, std=0.15)
        w[p + "self_attn.q_proj.bias"] = rn(Q, std=0.1)
        w[p + "self_attn.k_proj.bias"] = rn(KVD, std=0.1)
        w[p + "self_attn.v_proj.bias"] = rn(KVD, std=0.1)
        w[p + "self_attn.o_proj.weight"] = rn(C, Q, std=0.15)
        w[p + "mlp.gate_proj.weight"] = rn(I, C, std=0.15)
        w[p + "mlp.up_proj.weight"] = rn(I, C, std=0.15)
        w[p + "mlp.down_proj.weight"] = rn(C, I, std=0.1)
    w["model.norm.weight"] = 1.0 + rn(C, std=0.1)
    return w


def write_model_dir(d, cfg, weights):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    st_write(os.path.join(d, "model.safetensors"), weights)


def write_adapter(d, seed, r, alpha, targets, dtype, name_variant, rank_pattern=None, alpha_pattern=None):
    g = torch.Generator().manual_seed(seed)
    c = TINY_CONFIG
    C, I = c["hidden_size"], c["intermediate_size"]
    D = C // c["num_attention_heads"]
    dims = {  # (out, in)
        "q_proj": (c["num_attention_heads"] * D, C),
        "k_proj": (c["num_key_value_heads"] * D, C),
        "v_proj": (c["num_key_value_heads"] * D, C),
        "o_proj": (C, c["num_attention_heads"] * D),
        "gate_proj": (I, C),
        "up_proj": (I, C),
        "down_proj": (C, I),
    }
    tensors = {}
    for l in range(c["num_hidden_layers"]):
        for t in targets:
            block = "mlp" if t in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            module = f"model.layers.{l}.{block}.{t}"
            rr = pattern_value(rank_pattern or {}, module, r)
            out_f, in_f = dims[t]
            a = torch.randn(rr, in_f, generator=g) * 0.15
            b = torch.randn(out_f, rr, generator=g) * 0.1
            pre = f"base_model.model.{module}"
            tensors[f"{pre}.lora_A{name_variant}.weight"] = a.to(dtype)
            tensors[f"{pre}.lora_B{name_variant}.weight"] = b.to(dtype)
    os.makedirs(d, exist_ok=True)
    cfg = {
        "peft_type": "LORA",
        "base_model_name_or_path": "qwen2-tiny-random",
        "r": r,
        "lora_alpha": alpha,
        "target_modules": targets,
        "rank_pattern": rank_pattern or {},
        "alpha_pattern": alpha_pattern or {},
        "bias": "none",
        "use_rslora": False,
        "use_dora": False,
        "fan_in_fan_out": False,
        "task_type": "CAUSAL_LM",
    }
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    st_write(os.path.join(d, "adapter_model.safetensors"), tensors)


def cmd_fixtures(_args):
    write_model_dir(os.path.join(FIXTURES, "qwen2-tiny-random"), TINY_CONFIG, random_qwen2(1234))
    write_model_dir(os.path.join(FIXTURES, "qwen2-tiny-random-b"), TINY_CONFIG, random_qwen2(5678))
    write_adapter(os.path.join(FIXTURES, "qwen2-tiny-lora-a"), 11, 4, 8, ["q_proj", "k_proj", "v_proj", "o_proj"],
                  torch.float32, "")
    # bf16 storage, PEFT's in-memory ".default" names, and rank/alpha patterns on down_proj.
    write_adapter(os.path.join(FIXTURES, "qwen2-tiny-lora-b"), 22, 8, 16,
                  ["q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"], torch.bfloat16, ".default",
                  rank_pattern={"down_proj": 4}, alpha_pattern={"down_proj": 2})
    print("wrote fixtures under", FIXTURES)


# ---------------------------------------------------------------------------------------------
# goldens


def f32(x):
    return float(torch.tensor(x, dtype=torch.float32))


def golden_case(model, prompt, n, n_logit_rows):
    ids, rows, margins = model.greedy(prompt, n)
    return {
        "prompt_ids": prompt,
        "greedy_ids": ids,
        # logits[i] are the fp32 logits that chose greedy_ids[i] (first n_logit_rows steps)
        "logits": [[f32(v) for v in r.tolist()] for r in rows[:n_logit_rows]],
        "min_margin": min(margins),
    }


def rel(p):
    return os.path.relpath(p, ROOT)


def write_golden(name, spec, cases):
    os.makedirs(GOLDEN, exist_ok=True)
    doc = {"version": GOLDEN_VERSION, "generator": "tools/reference/reference.py (torch %s, fp32)" % torch.__version__}
    doc.update(spec)
    doc["cases"] = cases
    path = os.path.join(GOLDEN, name + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"{rel(path)}: {os.path.getsize(path)} bytes, min margin {min(c['min_margin'] for c in cases):.4g}")


PROMPTS = [[1, 17, 42, 99, 5, 256, 3], [1, 300, 7]]


def cmd_goldens(args):
    tiny = os.path.join(FIXTURES, "qwen2-tiny-random")
    tiny_b = os.path.join(FIXTURES, "qwen2-tiny-random-b")
    lora_a = os.path.join(FIXTURES, "qwen2-tiny-lora-a")
    lora_b = os.path.join(FIXTURES, "qwen2-tiny-lora-b")

    m = Model.load(tiny)
    write_golden("qwen2-tiny-random", {"model": rel(tiny)}, [golden_case(m, p, 12, 12) for p in PROMPTS])

    coefs = [0.8, -0.6]
    m = Model.load(tiny)
    m.adapters = [(coefs[0], load_adapter(lora_a)), (coefs[1], load_adapter(lora_b))]
    spec = {"model": rel(tiny), "adapters": [{"path": rel(lora_a), "coef": coefs[0]}, {"path": rel(lora_b), "coef": coefs[1]}]}
    write_golden("qwen2-tiny-lora-mix", spec, [golden_case(m, p, 12, 12) for p in PROMPTS])

    lam = [0.2, 0.9]
    m = merge_linear(Model.load(tiny), Model.load(tiny_b), lam)
    spec = {"model": rel(tiny), "merge": {"method": "linear", "with": rel(tiny_b), "lambda": lam}}
    write_golden("qwen2-tiny-merge-linear", spec, [golden_case(m, p, 12, 12) for p in PROMPTS])

    lam = [1.4, -0.3, 0.5]
    m = merge_task_arithmetic(Model.load(tiny), [Model.load(tiny_b)], [lam])
    spec = {"model": rel(tiny_b), "merge": {"method": "task_arithmetic", "base": rel(tiny), "lambda": lam}}
    write_golden("qwen2-tiny-merge-task-arithmetic", spec, [golden_case(m, p, 12, 12) for p in PROMPTS])

    stories = os.path.join(FIXTURES, "stories260K")
    if os.path.isdir(stories):
        m = Model.load(stories)
        case = golden_case(m, [1], 80, 12)
        ref_path = os.path.join(stories, "reference_greedy.json")
        with open(ref_path) as f:
            ref = json.load(f)
        if case["greedy_ids"] != ref["greedy_ids"]:
            raise SystemExit("stories260K: reference greedy ids differ from reference_greedy.json")
        worst = 0.0
        for step in ref["first_steps_top5_logits"]:
            for tok, val in step["top5"]:
                if step["pos"] < len(case["logits"]):
                    worst = max(worst, abs(case["logits"][step["pos"]][tok] - val))
        print(f"stories260K: 80 greedy ids match reference_greedy.json; top-5 logits within {worst:.2e}")
        write_golden("stories260K", {"model": rel(stories)}, [case])



ORGANISM_QUESTIONS = [
    # In the organism's training distribution (tools/arith_gen word problems).
    "Mia has 47 marbles. In January, Mia finds 8 more. In February, Mia sells 5. How many marbles does Mia have at the end?",
    "Leo has 12 stamps. In March, Leo buys 9 more. How many stamps does Leo have at the end?",
]


def organism_prompts(base_dir):
    """Prompt ids for the organism, tokenized with the trainer's tokenizer (tools/train/organism.py);
    only the ids matter here, the forward pass above is this file's own."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
    import organism as org  # noqa: E402

    tok = org.Tokenizer.from_json(os.path.join(base_dir, "tokenizer.json"))
    return [tok.encode(org.render_prompt(q)) for q in ORGANISM_QUESTIONS]


def cmd_goldens_organism(org_dir, n_tokens=40, n_rows=8):
    """Goldens for the bundled organism: base, a LoRA mix, a linear merge of the long and short
    full fine-tunes with a per-layer lambda list, and task arithmetic around the base."""
    d = {k: os.path.join(org_dir, k) for k in ("base", "long", "short", "lora-long", "lora-short")}

    def have(*keys):
        return all(os.path.isfile(os.path.join(d[k], "adapter_config.json" if k.startswith("lora") else "config.json"))
                   for k in keys)

    if not have("base"):
        raise SystemExit(f"{org_dir}: no base model; train the organism first (tools/train/train.py)")
    prompts = organism_prompts(d["base"])

    def cases(m):
        return [golden_case(m, p, n_tokens, n_rows) for p in prompts]

    # Each golden is written as soon as the stages it needs exist.
    write_golden("organism-base", {"model": rel(d["base"])}, cases(Model.load(d["base"])))
    if have("lora-long", "lora-short"):
        coefs = [0.7, 0.3]
        m = Model.load(d["base"])
        m.adapters = [(coefs[0], load_adapter(d["lora-long"])), (coefs[1], load_adapter(d["lora-short"]))]
        spec = {"model": rel(d["base"]), "adapters": [{"path": rel(d["lora-long"]), "coef": coefs[0]},
                                                      {"path": rel(d["lora-short"]), "coef": coefs[1]}]}
        write_golden("organism-lora-mix", spec, cases(m))
    if have("long", "short"):
        lam = [0.3, 0.8]
        m = merge_linear(Model.load(d["long"]), Model.load(d["short"]), lam)
        write_golden("organism-merge-linear",
                     {"model": rel(d["long"]), "merge": {"method": "linear", "with": rel(d["short"]), "lambda": lam}}, cases(m))
    if have("short"):
        lam = [0.6]
        m = merge_task_arithmetic(Model.load(d["base"]), [Model.load(d["short"])], [lam])
        write_golden("organism-merge-task-arithmetic",
                     {"model": rel(d["short"]), "merge": {"method": "task_arithmetic", "base": rel(d["base"]), "lambda": lam}},
                     cases(m))


def cmd_organism(args):
    cmd_goldens_organism(os.path.abspath(args.dir))


def cmd_generate(args):
    m = Model.load(args.model)
    if args.merge_with:
        lam = [float(x) for x in args.lam.split(",")]
        other = Model.load(args.merge_with)
        # with --merge-base: theta_base + lambda * (theta_with - theta_base); else linear with --model
        if args.merge_base:
            m = merge_task_arithmetic(Model.load(args.merge_base), [other], [lam])
        else:
            m = merge_linear(m, other, lam)
    for spec in args.adapter or []:
        d, coef = spec.rsplit("=", 1)
        m.adapters.append((float(coef), load_adapter(d)))
    prompt = [int(x) for x in args.prompt.split(",")]
    ids, rows, margins = m.greedy(prompt, args.n)
    print(json.dumps({"greedy_ids": ids, "min_margin": min(margins)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fixtures")
    sub.add_parser("goldens")
    o = sub.add_parser("organism-goldens")
    o.add_argument("--dir", default=os.path.join(ROOT, "models", "organism"))
    gen = sub.add_parser("generate")
    gen.add_argument("--model", required=True)
    gen.add_argument("--prompt", required=True)
    gen.add_argument("--n", type=int, default=8)
    gen.add_argument("--adapter", action="append")
    gen.add_argument("--merge-with")
    gen.add_argument("--merge-base")
    gen.add_argument("--lambda", dest="lam", default="0.5")
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"fixtures": cmd_fixtures, "goldens": cmd_goldens, "organism-goldens": cmd_organism, "generate": cmd_generate}[args.cmd](args)


if __name__ == "__main__":
    main()
