#!/usr/bin/python3
"""Smoke test of the organism pipeline (CTest label `slow`): a toy model trained for a few steps per
stage, then checks that every output is in Hugging Face / PEFT layout and loads back to the same
logits, that a re-run with the same seed and step counts writes identical weights, that the evaluator
runs, and that the shipped tokenizer still gives the golden ids.
It proves the code runs end to end, not that the model learns (that takes an hour).

  /usr/bin/python3 tools/train/smoke_test.py --gen build/tools/arith_gen/arith_gen
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import organism as org  # noqa: E402


def check(cond, msg):
    if not cond:
        sys.exit("FAIL: " + msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    args = ap.parse_args()
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    with tempfile.TemporaryDirectory() as tmp:
        out, work = os.path.join(tmp, "out"), os.path.join(tmp, "work")
        toy = json.dumps({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                          "num_attention_heads": 2, "num_key_value_heads": 1})
        subprocess.run([sys.executable, os.path.join(HERE, "train.py"), "--gen", args.gen, "--out", out, "--work", work,
                        "--base-steps", "3", "--ft-steps", "2", "--lora-steps", "2", "--chunk-count", "4",
                        "--merges", "50", "--model", toy], check=True, env=env)
        # Seeded and step-budgeted: a second run of the base stage writes the same bytes.
        out2, work2 = os.path.join(tmp, "out2"), os.path.join(tmp, "work2")
        subprocess.run([sys.executable, os.path.join(HERE, "train.py"), "--gen", args.gen, "--out", out2, "--work",
                        work2, "--stages", "base", "--base-steps", "3", "--chunk-count", "4", "--merges", "50",
                        "--model", toy], check=True, env=env)
        same = [open(os.path.join(o, "base", "model.safetensors"), "rb").read() for o in (out, out2)]
        check(same[0] == same[1], "a re-run with the same seed and steps gives different base weights")
        for name in ["base", "long", "short"]:
            d = os.path.join(out, name)
            for f in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                      "generation_config.json"]:
                check(os.path.exists(os.path.join(d, f)), f"{name}/{f} missing")
            cfg = json.load(open(os.path.join(d, "config.json")))
            check(cfg["architectures"] == ["Qwen2ForCausalLM"] and cfg["num_key_value_heads"] == 1, "config.json")
            names = org.load_safetensors(os.path.join(d, "model.safetensors")).keys()
            check("model.layers.1.self_attn.q_proj.bias" in names and "lm_head.weight" in names, "tensor names")
        for name in ["lora-long", "lora-short"]:
            ac = json.load(open(os.path.join(out, name, "adapter_config.json")))
            check(ac["peft_type"] == "LORA" and ac["r"] == 8, "adapter_config.json")
            t = org.load_safetensors(os.path.join(out, name, "adapter_model.safetensors"))
            a = t["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
            b = t["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
            check(a.shape == (8, 64) and b.shape == (64, 8), "LoRA shapes (r, in) and (out, r)")
        # Saved then loaded: the same logits (bf16 file, fp32 compute both times).
        m1 = org.load_hf_model(os.path.join(out, "base"))
        m2 = org.load_hf_model(os.path.join(out, "base"))
        ids = torch.tensor([[1, 2, 3, 4]])
        pos = torch.arange(4)[None]
        mask = torch.ones(4, 4, dtype=torch.bool).tril()[None, None]
        check(torch.equal(m1(ids, pos, mask), m2(ids, pos, mask)), "reload changes logits")
        # KV-cached decoding equals one full forward pass.
        caches = [{} for _ in m1.model.layers]
        full = m1(ids, pos, mask)
        part = m1(ids[:, :3], pos[:, :3], mask[:, :, :3, :3], caches)
        last = m1(ids[:, 3:], pos[:, 3:], torch.ones(1, 1, 1, 4, dtype=torch.bool), caches)
        check(torch.allclose(full[:, :3], part, atol=1e-5) and torch.allclose(full[:, 3:], last, atol=1e-5), "KV cache")
        test = os.path.join(ROOT, "datasets", "data", "arith_test.jsonl")
        subprocess.run([sys.executable, os.path.join(HERE, "evaluate.py"), "--models", out, "--test", test,
                        "--limit", "1", "--max-new", "24", "--out", os.path.join(tmp, "eval.json")], check=True, env=env)
        rows = json.load(open(os.path.join(tmp, "eval.json")))
        check(len(rows) >= 10 and all("mean_acc" in r for r in rows), "evaluation rows")
    golden = os.path.join(ROOT, "models", "organism", "tokenizer_golden.json")
    shipped = os.path.join(ROOT, "models", "organism", "base", "tokenizer.json")
    if os.path.exists(golden) and os.path.exists(shipped):
        tok = org.Tokenizer.from_json(shipped)
        for c in json.load(open(golden))["cases"]:
            check(tok.encode(c["text"]) == c["ids"], "golden ids differ for " + repr(c["text"]))
    print("OK organism smoke test")


if __name__ == "__main__":
    main()
