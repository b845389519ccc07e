#!/usr/bin/python3
"""Evaluate the model organism on the shipped arith test split with greedy decoding, in PyTorch
(fp32 compute on the bf16 weights as written), and print the MODEL_CARD table: accuracy per level
and mean thinking tokens for base (both tags), long, short, long under thinking budgets, linear
merges of long and short, and base + LoRA at a few coefficients.

Budget forcing follows adabench's semantics: after `budget` thinking tokens without </think>, the
text "\\n</think>\\n\\n**Final Answer:**\\n\\n" is appended and at most --answer-budget tokens follow.
Grading: the last \\boxed{N} after </think>, compared as an integer; no </think> = censored (wrong).
It does not train (train.py) and is an independent reference for adabench's own engine.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/train/evaluate.py --models models/organism \
      --test datasets/data/arith_test.jsonl --out models/organism/eval.json --table models/organism/eval.md
"""
import argparse
import json
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import organism as org  # noqa: E402


@torch.no_grad()
def generate(model, tok, prompts, think_budget=None, answer_budget=64, max_new=256, batch=400):
    """Greedy decoding of a list of prompt id lists; returns [(ids, n_think, forced, closed)]."""
    out = []
    for k in range(0, len(prompts), batch):
        out += _generate_batch(model, tok, prompts[k : k + batch], think_budget, answer_budget, max_new)
    return out


def _generate_batch(model, tok, prompts, think_budget, answer_budget, max_new):
    model.eval()
    B = len(prompts)
    P = max(len(p) for p in prompts)
    pad = tok.special["<|endoftext|>"]
    end_think, eos = tok.special["</think>"], tok.special["<|im_end|>"]
    forced_ids = tok.encode(org.FORCED_END)
    ids = torch.full((B, P), pad, dtype=torch.long)
    valid = torch.zeros((B, P), dtype=torch.bool)
    for i, p in enumerate(prompts):  # left padding; positions count real tokens only
        ids[i, P - len(p) :] = torch.tensor(p)
        valid[i, P - len(p) :] = True
    pos = (valid.long().cumsum(1) - 1).clamp(min=0)
    # A padding query may see only itself: a row with every key masked would softmax to NaN, and
    # NaN values in the cache poison later rows even at zero attention weight.
    eye = torch.eye(P, dtype=torch.bool)[None, None]
    mask = (torch.ones(P, P, dtype=torch.bool).tril()[None, None] & valid[:, None, None, :]) | eye
    caches = [{"max": P + max_new + len(forced_ids) + 1} for _ in model.model.layers]
    logits = model(ids, pos, mask, caches)[:, -1]
    next_pos = pos[:, -1] + 1
    outs = [[] for _ in range(B)]
    n_think, n_answer = [0] * B, [0] * B
    in_think, done, forced, closed = [True] * B, [False] * B, [False] * B, [False] * B
    queue = [[] for _ in range(B)]
    for _ in range(max_new):
        pred = logits.argmax(-1).tolist()
        step_ids = []
        for i in range(B):
            if done[i]:
                step_ids.append(pad)
                continue
            if queue[i]:
                t = queue[i].pop(0)
            else:
                t = pred[i]
                if in_think[i]:
                    if t == end_think:
                        in_think[i], closed[i] = False, True
                    else:
                        n_think[i] += 1
                        if think_budget is not None and n_think[i] >= think_budget:
                            queue[i] = list(forced_ids)
                            in_think[i], forced[i], closed[i] = False, True, True
                else:
                    n_answer[i] += 1
                    if t == eos or n_answer[i] >= answer_budget:
                        done[i] = True
            outs[i].append(t)
            step_ids.append(t)
        if all(done):
            break
        valid = torch.cat([valid, torch.ones((B, 1), dtype=torch.bool)], dim=1)
        step = torch.tensor(step_ids)[:, None]
        logits = model(step, next_pos[:, None], valid[:, None, None, :], caches)[:, -1]
        next_pos = next_pos + 1
    return [(outs[i], n_think[i], forced[i], closed[i]) for i in range(B)]


_BOXED = re.compile(r"\\boxed\{(-?\d+)\}")


def grade(tok, out_ids, answer):
    text = tok.decode(out_ids)
    if "</think>" not in text:
        return False, None
    found = _BOXED.findall(text.split("</think>", 1)[1])
    if not found:
        return False, None
    return int(found[-1]) == answer, int(found[-1])


def model_from_state(template, state):
    m = org.Qwen2(template.cfg)
    m.load_state_dict({k: v.float() for k, v in state.items()})
    return m


MAX_NEW = 256


def evaluate_variant(name, model, tok, problems, tag, think_budget=None):
    t0 = time.time()
    prompts = [tok.encode(org.render_prompt(p["question"], tag)) for p in problems]
    res = generate(model, tok, prompts, think_budget=think_budget, max_new=MAX_NEW)
    levels = sorted({p["level"] for p in problems})
    row = {"name": name, "tag": tag, "think_budget": think_budget, "acc": {}, "think": {}}
    all_ok, all_think = [], []
    for lv in levels:
        idx = [i for i, p in enumerate(problems) if p["level"] == lv]
        ok = [grade(tok, res[i][0], problems[i]["answer"])[0] for i in idx]
        row["acc"][lv] = sum(ok) / len(ok)
        row["think"][lv] = sum(res[i][1] for i in idx) / len(idx)
        all_ok += ok
        all_think += [res[i][1] for i in idx]
    row["mean_acc"] = sum(row["acc"].values()) / len(levels)
    row["mean_think"] = sum(all_think) / len(all_think)
    row["censored"] = sum(1 for r in res if not r[3]) / len(res)
    row["forced"] = sum(1 for r in res if r[2]) / len(res)
    row["seconds"] = round(time.time() - t0, 1)
    print(f"{name:34s} acc {row['mean_acc']:.3f} think {row['mean_think']:.1f} "
          + " ".join(f"{row['acc'][lv]:.2f}" for lv in levels) + f"  ({row['seconds']} s)", flush=True)
    return row


def table(rows):
    levels = list(rows[0]["acc"].keys())
    head = "| variant | prompt tag | " + " | ".join(f"L{lv}" for lv in levels) + " | mean acc | mean think tokens |"
    sep = "|" + "---|" * (len(levels) + 4)
    lines = [head, sep]
    for r in rows:
        lines.append(f"| {r['name']} | {r['tag']} | " + " | ".join(f"{r['acc'][lv]:.2f}" for lv in levels)
                     + f" | **{r['mean_acc']:.3f}** | {r['mean_think']:.1f} |")
    lines.append("")
    lines.append("Thinking tokens per level (mean):")
    lines.append("")
    lines.append(head.replace(" mean acc | mean think tokens |", " |"))
    lines.append("|" + "---|" * (len(levels) + 2))
    for r in rows:
        lines.append(f"| {r['name']} | {r['tag']} | " + " | ".join(f"{r['think'][lv]:.1f}" for lv in levels) + " |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", required=True, help="folder with base/ long/ short/ lora-long/ lora-short/")
    ap.add_argument("--test", required=True, help="arith test split JSONL")
    ap.add_argument("--out", help="write all rows as JSON here")
    ap.add_argument("--table", help="write the markdown table here")
    ap.add_argument("--only", default="", help="comma list of variant groups: base,styles,budget,merge,lora")
    ap.add_argument("--limit", type=int, default=0, help="problems per level (0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--merge", default="0.75,0.5,0.25", help="linear merge weights of long")
    ap.add_argument("--lora-mix", default="1:0,0.75:0.25,0.5:0.5,0.25:0.75,0:1", help="c_long:c_short pairs")
    ap.add_argument("--max-new", type=int, default=256, help="cap on generated tokens per problem")
    args = ap.parse_args()
    global MAX_NEW
    MAX_NEW = args.max_new
    args.merge = [float(x) for x in args.merge.split(",") if x]
    args.lora = [tuple(float(v) for v in pair.split(":")) for pair in args.lora_mix.split(",") if pair]
    torch.set_num_threads(args.threads)
    problems = [json.loads(line) for line in open(args.test, encoding="utf-8")]
    if args.limit:
        seen = {}
        problems = [p for p in problems if seen.setdefault(p["level"], []).append(p) or len(seen[p["level"]]) <= args.limit]
    tok = org.Tokenizer.from_json(os.path.join(args.models, "base", "tokenizer.json"))
    groups = set(args.only.split(",")) if args.only else {"base", "styles", "budget", "merge", "lora"}
    path = lambda name: os.path.join(args.models, name)  # noqa: E731
    rows = []
    base = org.load_hf_model(path("base"))
    if "base" in groups:
        for tag in ["long", "short", "none"]:
            rows.append(evaluate_variant("base", base, tok, problems, tag))
    long_m = org.load_hf_model(path("long")) if os.path.exists(path("long")) else None
    short_m = org.load_hf_model(path("short")) if os.path.exists(path("short")) else None
    long_row = None
    if long_m is not None and groups & {"styles", "budget"}:
        long_row = evaluate_variant("long", long_m, tok, problems, "none")
        if "styles" in groups:
            rows.append(long_row)
    if short_m is not None and "styles" in groups:
        rows.append(evaluate_variant("short", short_m, tok, problems, "none"))
    if long_row is not None and "budget" in groups:
        half = max(1, round(long_row["mean_think"] / 2))
        for b in sorted({half, round(long_row["mean_think"] / 4), round(long_row["mean_think"] * 3 / 4)}):
            rows.append(evaluate_variant(f"long, think budget {b}" + (" (half)" if b == half else ""), long_m, tok,
                                         problems, "none", think_budget=b))
    if long_m is not None and short_m is not None and "merge" in groups:
        ls, ss = long_m.state_dict(), short_m.state_dict()
        for lam in args.merge:
            merged = {k: lam * ls[k] + (1 - lam) * ss[k] for k in ls}
            rows.append(evaluate_variant(f"merge {lam:g}·long + {1 - lam:g}·short", model_from_state(base, merged), tok,
                                         problems, "none"))
    if "lora" in groups and os.path.exists(path("lora-long")):
        adapters = {}
        for name in ["lora-long", "lora-short"]:
            with open(os.path.join(path(name), "adapter_config.json")) as f:
                ac = json.load(f)
            adapters[name] = (org.load_safetensors(os.path.join(path(name), "adapter_model.safetensors")),
                              ac["lora_alpha"], ac["r"])
        bs = base.state_dict()
        for c_long, c_short in args.lora:
            ad = [(c_long,) + adapters["lora-long"], (c_short,) + adapters["lora-short"]]
            rows.append(evaluate_variant(f"base + {c_long:g}·lora-long + {c_short:g}·lora-short",
                                         model_from_state(base, org.lora_apply_to_state(bs, ad)), tok, problems, "none"))
    if not rows:
        sys.exit("error: nothing to evaluate (hint: are the model folders under --models?)")
    if args.out:
        org.write_json(args.out, rows)
    if args.table:
        with open(args.table, "w", encoding="utf-8") as f:
            f.write(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
