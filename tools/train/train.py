#!/usr/bin/python3
"""Train the adabench model organism: tokenizer, base (both styles by a prompt tag), long and short
full fine-tunes, and lora-long / lora-short PEFT adapters, written in Hugging Face layout under --out.

Data comes only from the C++ generator (tools/arith_gen, --gen), never from the test split (arith_gen
refuses the test seed and drops any test question). Every stage checkpoints to --work every few
minutes and resumes from there, so a stopped run loses little. It does not evaluate (evaluate.py).

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 tools/train/train.py \
      --gen build/tools/arith_gen/arith_gen --out models/organism --work /tmp/organism-work
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import organism as org  # noqa: E402

MODEL_CFG = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
}

# Per stage: data mix (share of examples), training seed range, steps and learning rate.
# Mix keys: (tag, style, forced). tag selects the prompt suffix, style the trace.
STAGES = {
    "base": {"mix": [(("long", "long", False), 0.35), (("short", "short", False), 0.35),
                     (("none", "long", False), 0.2), (("long", "long", True), 0.05), (("none", "long", True), 0.05)],
             "seed": 100000, "lr": 2e-3, "init": None},
    "long": {"mix": [(("none", "long", False), 0.9), (("none", "long", True), 0.1)], "seed": 200000, "lr": 3e-4,
             "init": "base"},
    "short": {"mix": [(("none", "short", False), 1.0)], "seed": 300000, "lr": 3e-4, "init": "base"},
    "lora-long": {"mix": [(("none", "long", False), 0.9), (("none", "long", True), 0.1)], "seed": 400000, "lr": 2e-3,
                  "init": "base", "lora": True},
    "lora-short": {"mix": [(("none", "short", False), 1.0)], "seed": 500000, "lr": 2e-3, "init": "base", "lora": True,
                   "interpolate": ("short", "long")},
}
# An adapter with "interpolate": (its style, the base's untagged style) is trained at random
# coefficients c in INTERP_COEFS: each batch runs the adapter at c and each example of the batch is
# in the adapter's style with probability c, else in the base's. So c = 1 is the adapter's style and
# a coefficient in between gives a proportional mixture of the two styles, which is what mixing
# adapters with coefficients (AdaReason) expects, instead of a collapse between them.
INTERP_COEFS = [0.25, 0.5, 0.75, 1.0]
LORA_R, LORA_ALPHA = 8, 16


def log(msg, f=None):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)


def generate(gen, seed, count, levels="1-8"):
    out = subprocess.run([gen, "--seed", str(seed), "--levels", levels, "--count", str(count)], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def trace_line_steps(trace):
    """For each line of a LONG trace, the number of steps completed once that line is written."""
    steps, done = [], 0
    for line in trace.split("\n")[:-1]:
        if line.startswith("In "):
            done += 1
        steps.append(done)
    return steps


def make_example(tok, p, tag, style, forced, rng):
    """Returns (ids, labels): labels are -100 on the prompt and on text the engine injects."""
    prompt = tok.encode(org.render_prompt(p["question"], tag))
    trace = p["long_trace"] if style == "long" else p["short_trace"]
    if not forced:
        resp = tok.encode(org.render_response(trace, p["answer"]))
        return prompt + resp, [-100] * len(prompt) + resp
    # Budget forcing: thinking cut at a random token, then the engine's forced text, then the best
    # guess: the right answer when at most one step is left to do in the head, else the last value
    # written out.
    t_ids = tok.encode(trace)
    cut = rng.randint(0, len(t_ids) - 1)
    done_lines = tok.decode(t_ids[:cut]).count("\n")
    steps = trace_line_steps(trace)
    done = steps[done_lines - 1] if done_lines > 0 else 0
    guess = p["answer"] if p["level"] - done <= 1 else p["values"][done]
    forced_ids = tok.encode(org.FORCED_END)
    tail = tok.encode("\\boxed{" + str(guess) + "}<|im_end|>")
    ids = prompt + t_ids[:cut] + forced_ids + tail
    labels = [-100] * len(prompt) + t_ids[:cut] + [-100] * len(forced_ids) + tail
    return ids, labels


def interp_stream(tok, gen, stage, chunk_count, rng_seed, start_chunk=0):
    """Like example_stream for an "interpolate" stage: each problem as (adapter-style example,
    base-style example), untagged."""
    spec = STAGES[stage]
    own, other = spec["interpolate"]
    chunk = start_chunk
    while True:
        rng = random.Random(rng_seed * 1000003 + chunk)
        problems = generate(gen, spec["seed"] + chunk, chunk_count)
        rng.shuffle(problems)
        yield chunk, [(make_example(tok, p, "none", own, False, rng), make_example(tok, p, "none", other, False, rng))
                      for p in problems]
        chunk += 1


def example_stream(tok, gen, stage, chunk_count, rng_seed, start_chunk=0):
    spec = STAGES[stage]
    kinds = [k for k, _ in spec["mix"]]
    weights = [w for _, w in spec["mix"]]
    chunk = start_chunk
    while True:
        rng = random.Random(rng_seed * 1000003 + chunk)
        problems = generate(gen, spec["seed"] + chunk, chunk_count)
        rng.shuffle(problems)
        exs = []
        for p in problems:
            tag, style, forced = rng.choices(kinds, weights)[0]
            exs.append(make_example(tok, p, tag, style, forced, rng))
        yield chunk, exs
        chunk += 1


def make_batches(exs, tokens_per_batch, rng, length=lambda e: len(e[0])):
    exs = sorted(exs, key=length)
    batches, cur = [], []
    for e in exs:
        if cur and (len(cur) + 1) * max(length(e), length(cur[-1])) > tokens_per_batch:
            batches.append(cur)
            cur = []
        cur.append(e)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def collate(batch, pad_id):
    T = max(len(e[0]) for e in batch)
    ids = torch.full((len(batch), T), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), T), -100, dtype=torch.long)
    valid = torch.zeros((len(batch), T), dtype=torch.bool)
    for i, (x, y) in enumerate(batch):
        ids[i, : len(x)] = torch.tensor(x)
        labels[i, : len(y) - 1] = torch.tensor(y[1:])  # predict the next token
        valid[i, : len(x)] = True
    return ids, labels, valid


def forward_loss(model, ids, labels, valid):
    B, T = ids.shape
    pos = torch.arange(T)[None].expand(B, T)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    mask = causal[None, None] & valid[:, None, None, :]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(ids, pos, mask)
    return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100), logits


def digit_accuracy(model, tok, held):
    """Teacher-forced accuracy on digit tokens of held-out LONG traces: does it learn the arithmetic?"""
    digit_ids = {i for t, i in tok.vocab.items() if t.lstrip("Ġ").isdigit()}
    model.eval()
    right = total = 0
    with torch.no_grad():
        for k in range(0, len(held), 32):
            ids, labels, valid = collate(held[k : k + 32], tok.special["<|endoftext|>"])
            _, logits = forward_loss(model, ids, labels, valid)
            pred = logits.argmax(-1)
            m = torch.zeros_like(labels, dtype=torch.bool)
            for i in digit_ids:
                m |= labels == i
            right += int((pred[m] == labels[m]).sum())
            total += int(m.sum())
    model.train()
    return right / max(total, 1)


def run_stage(args, tok, stage):
    spec = STAGES[stage]
    out_dir = os.path.join(args.out, stage)
    done_marker = os.path.join(args.work, stage + ".done")
    if os.path.exists(done_marker):
        log(f"{stage}: already done, skipping")
        return
    torch.manual_seed(args.seed + list(STAGES).index(stage))
    cfg = dict(MODEL_CFG, vocab_size=tok.vocab_size, eos_token_id=tok.special["<|im_end|>"])
    model = org.Qwen2(cfg)
    if spec["init"]:
        base = org.load_hf_model(os.path.join(args.out, spec["init"]))
        model.load_state_dict(base.state_dict())
    lora = spec.get("lora", False)
    if lora:
        for p in model.parameters():
            p.requires_grad_(False)
        org.lora_attach(model, LORA_R, LORA_ALPHA)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec["lr"], betas=(0.9, 0.98), weight_decay=0.0 if lora else 0.05)
    # A stage runs for a number of steps or, on a shared machine, for a wall-clock budget; the
    # learning-rate schedule follows whichever is given (progress in 0..1).
    steps, minutes = args.steps[stage], args.minutes[stage]
    warmup = 100 if spec["init"] is None else 10
    step, chunk, elapsed_before = 0, 0, 0.0
    ckpt = os.path.join(args.work, stage + ".pt")
    if os.path.exists(ckpt):
        st = torch.load(ckpt)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, chunk, elapsed_before = st["step"], st["chunk"], st.get("elapsed", 0.0)
        log(f"{stage}: resumed at step {step}, chunk {chunk}")
    n_train = sum(p.numel() for p in params)
    log(f"{stage}: {steps or minutes} {'steps' if steps else 'minutes'}, lr {spec['lr']}, trainable params {n_train}")

    def progress():
        if steps:
            return step / steps
        return (elapsed_before + time.time() - t_start) / (minutes * 60)


    held_rng = random.Random(7)
    held = [make_example(tok, p, "none" if stage != "base" else "long", "long", False, held_rng)
            for p in generate(args.gen, 999, 32, "4-8")[:128]]

    interp = spec.get("interpolate")
    stream = (interp_stream if interp else example_stream)(tok, args.gen, stage, args.chunk_count, args.seed, chunk)
    t_start = last_ckpt = last_log = time.time()
    tokens = 0
    loss_ema = None
    model.train()
    while progress() < 1:
        chunk, exs = next(stream)
        brng = random.Random(args.seed * 7919 + chunk)
        length = (lambda e: max(len(e[0][0]), len(e[1][0]))) if interp else (lambda e: len(e[0]))
        for batch in make_batches(exs, args.batch_tokens, brng, length):
            frac = progress()
            if frac >= 1:
                break
            if interp:
                coef = brng.choice(INTERP_COEFS)
                org.lora_set_coef(model, coef)
                batch = [pair[0] if brng.random() < coef else pair[1] for pair in batch]
            lr = spec["lr"] * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            ids, labels, valid = collate(batch, tok.special["<|endoftext|>"])
            loss, _ = forward_loss(model, ids, labels, valid)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            tokens += int(valid.sum())
            loss_ema = loss.item() if loss_ema is None else 0.98 * loss_ema + 0.02 * loss.item()
            now = time.time()
            last = progress() >= 1
            if now - last_log > 60 or last:
                log(f"{stage}: step {step} ({100 * progress():.0f}%) loss {loss_ema:.4f} lr {lr:.2e} "
                    f"{tokens / (now - t_start):.0f} tok/s elapsed {(now - t_start) / 60:.1f} min")
                last_log = now
            if now - last_ckpt > args.ckpt_minutes * 60 or last:
                acc = digit_accuracy(model, tok, held)
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "chunk": chunk + 1,
                            "elapsed": elapsed_before + time.time() - t_start},
                           ckpt + ".tmp")
                os.replace(ckpt + ".tmp", ckpt)
                log(f"{stage}: checkpoint step {step}, held-out digit accuracy {acc:.4f}")
                last_ckpt = time.time()
    if lora:
        org.lora_set_coef(model, 1.0)
        org.save_peft_adapter(out_dir, model, LORA_R, LORA_ALPHA, "../base")
    else:
        org.save_hf_model(out_dir, model, tok)
    with open(done_marker, "w") as f:
        f.write(f"{step} steps {(elapsed_before + time.time() - t_start) / 60:.1f} min\n")
    log(f"{stage}: wrote {out_dir}")


def build_tokenizer(args):
    path = os.path.join(args.work, "tokenizer.json")
    if os.path.exists(path):
        return org.Tokenizer.from_json(path)
    texts = []
    for p in generate(args.gen, 7, 100):
        for tag in org.STYLE_TAGS:
            texts.append(p["question"] + org.STYLE_TAGS[tag])
        texts += [p["long_trace"], p["short_trace"], "</think>\n\nThe answer is \\boxed{" + str(p["answer"]) + "}."]
        texts.append(org.FORCED_END + "\\boxed{" + str(p["answer"]) + "}")
        texts.append("user\n" + p["question"] + "\nassistant\n")
    merges = org.train_bpe(texts, args.merges)
    tok = org.Tokenizer(merges)
    os.makedirs(args.work, exist_ok=True)
    org.write_json(path, tok.to_json())
    log(f"tokenizer: {len(merges)} merges, vocab {tok.vocab_size}")
    return tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gen", required=True, help="path to the arith_gen executable")
    ap.add_argument("--out", required=True, help="output folder (models/organism)")
    ap.add_argument("--work", required=True, help="checkpoint folder")
    ap.add_argument("--stages", default="base,long,short,lora-long,lora-short")
    ap.add_argument("--base-steps", type=int, default=0, help="steps of base (0: use --base-minutes)")
    ap.add_argument("--ft-steps", type=int, default=0)
    ap.add_argument("--lora-steps", type=int, default=0)
    ap.add_argument("--base-minutes", type=float, default=50)
    ap.add_argument("--ft-minutes", type=float, default=6)
    ap.add_argument("--lora-minutes", type=float, default=6)
    ap.add_argument("--batch-tokens", type=int, default=4096)
    ap.add_argument("--chunk-count", type=int, default=400, help="problems per level per generator call")
    ap.add_argument("--merges", type=int, default=400)
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--lr", action="append", default=[], metavar="STAGE=LR", help="override a stage's peak lr")
    ap.add_argument("--model", default=None, help="JSON overrides of the model config (smoke tests)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        MODEL_CFG.update(json.loads(args.model))
    for item in args.lr:
        stage, _, value = item.partition("=")
        if stage not in STAGES:
            sys.exit(f"error: --lr {item}: unknown stage (hint: one of {', '.join(STAGES)})")
        STAGES[stage]["lr"] = float(value)
    args.steps = {"base": args.base_steps, "long": args.ft_steps, "short": args.ft_steps,
                  "lora-long": args.lora_steps, "lora-short": args.lora_steps}
    args.minutes = {"base": args.base_minutes, "long": args.ft_minutes, "short": args.ft_minutes,
                    "lora-long": args.lora_minutes, "lora-short": args.lora_minutes}
    if not os.access(args.gen, os.X_OK):
        sys.exit(f"error: {args.gen} is not an executable (hint: cmake --build BUILD --target arith_gen)")
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.out, exist_ok=True)
    tok = build_tokenizer(args)
    for stage in args.stages.split(","):
        if stage not in STAGES:
            sys.exit(f"error: unknown stage {stage!r} (hint: one of {', '.join(STAGES)})")
        run_stage(args, tok, stage)


if __name__ == "__main__":
    main()
