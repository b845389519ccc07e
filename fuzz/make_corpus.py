#!/usr/bin/env python3
"""Regenerates the seed corpora in fuzz/corpus/ from fixtures already in the repository (run from
anywhere: python3 fuzz/make_corpus.py). Multi-part seeds join their parts with a "\\n----\\n" line
(fuzz/fuzz_util.h split_parts). Seeds are kept small: libFuzzer mutates small inputs best."""
import json, os, shutil, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")
SEP = b"\n----\n"


def rd(*p):
    with open(os.path.join(ROOT, *p), "rb") as f:
        return f.read()


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def st_subset(blob, keep, dtype_override=None):
    """A smaller .safetensors holding only the tensors in `keep` (optionally re-typed, bytes cut)."""
    n = struct.unpack("<Q", blob[:8])[0]
    hdr = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out_hdr, out_data = {"__metadata__": {"format": "pt"}}, b""
    for k in keep:
        t = hdr[k]
        b, e = t["data_offsets"]
        raw = data[b:e]
        dtype = t["dtype"]
        if dtype_override and dtype == "F32":
            dtype = dtype_override
            raw = b"".join(raw[i + 2:i + 4] for i in range(0, len(raw), 4))  # upper halves: BF16
        out_hdr[k] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [len(out_data), len(out_data) + len(raw)]}
        out_data += raw
    h = json.dumps(out_hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + out_data


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    lora_a = rd("tests/fixtures/models/qwen2-tiny-lora-a/adapter_model.safetensors")
    pair = ["base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight",
            "base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"]
    # safetensors: a LoRA pair in F32 and BF16, and an empty file.
    put("safetensors", "pair_f32", st_subset(lora_a, pair))
    put("safetensors", "pair_bf16", st_subset(lora_a, pair, "BF16"))
    put("safetensors", "empty", struct.pack("<Q", 8) + b"{}      ")
    # config.json of every family the fixtures have.
    for f in sorted(os.listdir(os.path.join(ROOT, "tests/fixtures/configs"))):
        if f.endswith(".json") and "adapter" not in f:
            put("config", f, rd("tests/fixtures/configs", f))
    put("config", "qwen2-tiny-random.json", rd("tests/fixtures/models/qwen2-tiny-random/config.json"))
    put("config", "stories260K.json", rd("tests/fixtures/models/stories260K/config.json"))
    put("config", "organism.json", rd("models/organism/base/config.json"))
    # tokenizer.json + tokenizer_config.json + text, the organism's (small) tokenizer.
    tj = rd("tests/fixtures/tokenizer/organism_mini/tokenizer.json")
    tc = rd("tests/fixtures/tokenizer/organism_mini/tokenizer_config.json")
    put("tokenizer", "organism_mini", tj + SEP + tc + SEP + "<|im_start|>user\nWhat is 6×7?<|im_end|>".encode())
    # The same vocabulary cut to 40 merges (mutations of a short file reach more branches).
    j = json.loads(tj)
    j["model"]["merges"] = j["model"]["merges"][:40]
    put("tokenizer", "organism_few_merges", json.dumps(j, ensure_ascii=False).encode() + SEP + b"" + SEP + b"hello world 123")
    # encode: texts with chat markers, digits, non-ASCII, invalid UTF-8.
    for i, t in enumerate([b"<|im_start|>user\nGrace has 28 beads.<|im_end|>\n<|im_start|>assistant\n<think>\n",
                           b"It's 3.14159 -- don't you   think?\r\n\r\n", "Ünïcödé 数学 🙂 \u00e9 e\u0301".encode(),
                           b"\xff\xfe\xc3(\xe2\x82 partial", b"</think>\n\n\\boxed{42}<|endoftext|>"]):
        put("tokenizer_encode", "text%d" % i, t)
    # chat templates: tokenizer_config.json (with chat_template) or a .jinja, plus a user message.
    ct = "tests/fixtures/tokenizer/chat_templates"
    for f in sorted(os.listdir(os.path.join(ROOT, ct))):
        if f.endswith(".json"):
            put("chat_template", f, rd(ct, f) + SEP + b"" + SEP + b"What is 2+2?")
        elif f.endswith(".jinja"):
            put("chat_template", f, b"" + SEP + rd(ct, f) + SEP + b"What is 2+2?")
    # LoRA: adapter_config.json + a one-pair adapter for the tiny Qwen2 fixture.
    put("lora", "tiny_lora_a", rd("tests/fixtures/models/qwen2-tiny-lora-a/adapter_config.json") + SEP +
        st_subset(lora_a, pair))
    cfg = json.loads(rd("tests/fixtures/models/qwen2-tiny-lora-a/adapter_config.json"))
    cfg.update({"rank_pattern": {"k_proj": 4}, "alpha_pattern": {"layers.0.self_attn.k_proj": 16}, "use_rslora": True})
    put("lora", "tiny_lora_patterns", json.dumps(cfg).encode() + SEP + st_subset(lora_a, pair, "BF16"))
    # datasets: task config + a few JSONL rows.
    for task, data, n in [("tests/fixtures/datasets/user_task/user.json", "tests/fixtures/datasets/user_task/user.jsonl", 9),
                          ("tests/fixtures/datasets/modified/modified.json", "tests/fixtures/datasets/modified/modified.jsonl", 9),
                          ("configs/tasks/gsm8k.json", "datasets/data/gsm8k_test.jsonl", 2),
                          ("configs/tasks/math500.json", "datasets/data/math500_test.jsonl", 2),
                          ("configs/tasks/aime2024.json", "datasets/data/aime2024.jsonl", 1),
                          ("configs/tasks/arith.json", "datasets/data/arith_test.jsonl", 2)]:
        rows = b"\n".join(rd(data).split(b"\n")[:n]) + b"\n"
        put("dataset", os.path.basename(task), rd(task) + SEP + rows)
    # sweep configs.
    for f in sorted(os.listdir(os.path.join(ROOT, "configs/examples"))):
        if f.endswith(".json"):
            put("sweep_config", f, rd("configs/examples", f))
    put("sweep_config", "default.json", rd("configs/default.json"))
    put("sweep_config", "nightly.json", rd("configs/nightly.json"))
    put("sweep_config", "grid_text", b"0:1:0.25")
    # graders: response ---- gold.
    gsm = json.loads(rd("datasets/data/gsm8k_test.jsonl").split(b"\n")[0])
    math = json.loads(rd("datasets/data/math500_test.jsonl").split(b"\n")[0])
    for i, (resp, gold) in enumerate([
            ("<think>6*7</think>The answer is \\boxed{42}.", "42"),
            ("<think>hmm", "7"),
            ("So x = \\frac{1}{2} and \\boxed{(1, -2)} \\boxed{3}", "\\left( 1,-2 \\right)"),
            ("The final answer is $\\sqrt{2}\\pi + 3i$", "3i+\\pi\\sqrt2"),
            ("#### 1,234.50 dollars", gsm["answer"]),
            ("\\boxed{\\dfrac{a^2}{b}} or \\boxed{10^{-3}}", math.get("answer", "") or math.get("solution", "")),
            ("Answer: {1, 2, 3} \\cup [0, \\infty)", "\\{3,2,1\\}"),
            ("x^{2}+2x+1=(x+1)^2 \\text{ cm}", "(x+1)^{2}")]):
        put("grader", "pair%d" % i, resp.encode() + SEP + gold.encode())
    # report server: raw requests.
    for i, req in enumerate(["GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                             "GET /runs/1/samples?point=0&limit=5 HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
                             "GET /api/runs/1/samples?point=2&limit=10&offset=3 HTTP/1.1\r\nHost: [::1]\r\n\r\n",
                             "HEAD /compare?base=1&new=2 HTTP/1.0\r\n\r\n",
                             "GET /api/compare?base=a%20b&new=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                             "POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}",
                             "GET /api/runs/1/points HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]):
        put("server", "req%d" % i, req)
    # http engine replies: first byte = flavour (0 vllm, 1 sglang, 2 llamacpp, 3 openai, 4 adabench).
    bodies = [(0, '{"choices":[{"text":"x","token_ids":[5,99],"finish_reason":"stop","stop_reason":null}]}'),
              (0, '{"choices":[{"token_ids":[5,6],"finish_reason":"stop","stop_reason":"<|im_end|>"}]}'),
              (0, '{"choices":[{"token_ids":[5],"prompt_token_ids":[1,2,3],"finish_reason":"length"}],'
                  '"usage":{"prompt_tokens":3,"completion_tokens":1}}'),
              (1, '{"choices":[{"token_ids":[5,99],"finish_reason":"stop","matched_stop":99}]}'),
              (1, '{"choices":[{"token_ids":[5],"finish_reason":"stop","matched_stop":"<|im_end|>"}]}'),
              (2, '{"content":"x","tokens":[5,99],"stop_type":"eos","tokens_evaluated":3}'),
              (2, '{"tokens":[5,42],"stop_type":"word","stopping_word":"</think>"}'),
              (2, '{"tokens":[5],"stop_type":"limit","truncated":true}'),
              (3, '{"choices":[{"text":"hello</think>","finish_reason":"stop"}],"usage":{"prompt_tokens":3}}'),
              (4, '{"choices":[{"token_ids":[7,42],"finish_reason":"stop","stop_reason":42}]}'),
              (0, '{"error":{"message":"model not found","type":"NotFoundError"}}'),
              (0, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\nContent-Length: 2\r\n\r\n{}"),
              (3, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")]
    for i, (fl, b) in enumerate(bodies):
        put("http_flavour", "reply%d" % i, bytes([fl]) + b.encode())
    # serve-engine: raw requests (each on its own connection).
    def post(path, body):
        return "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
            path, len(body.encode()), body)
    reqs = [post("/v1/completions", '{"model":"base","prompt":[1,2,3],"max_tokens":4,"temperature":0,"seed":1,'
                 '"return_token_ids":true,"stop":["\\n"],"stop_token_ids":[5]}'),
            post("/v1/completions", '{"prompt":["Hi","there"],"max_tokens":2,"top_k":3,"top_p":0.5,'
                 '"include_stop_str_in_output":true,"skip_special_tokens":false,"lora":[]}'),
            post("/v1/completions", '{"prompt":[[1,2],[3]],"max_tokens":null,"n":1,"min_p":0,"logprobs":null}'),
            post("/tokenize", '{"prompt":"<|im_start|>user hello","add_special_tokens":true,"return_token_strs":true}'),
            post("/detokenize", '{"tokens":[1,2,3,376]}'),
            post("/v1/load_lora_adapter", '{"lora_name":"x","lora_path":"/nonexistent"}'),
            post("/v1/unload_lora_adapter", '{"lora_name":"x"}'),
            "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "GET /lora-adapters HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer x\r\n\r\n"]
    for i, r in enumerate(reqs):
        put("serve_engine", "req%d" % i, r)


if __name__ == "__main__":
    main()
