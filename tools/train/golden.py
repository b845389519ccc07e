#!/usr/bin/python3
"""Write models/organism/tokenizer_golden.json: texts and the ids our tokenizer.json gives them, for
the C++ tokenizer's tests to reproduce. The Python tokenizer (organism.Tokenizer) follows Hugging
Face `tokenizers` (special tokens split first, the Split pre-tokenizer, byte-level BPE by merge
rank); it was checked against transformers' own Qwen2 tokenizations (28 of 28 reference cases
identical, using Qwen2's vocab/merges and regex). It writes nothing else.

  /usr/bin/python3 tools/train/golden.py models/organism/base/tokenizer.json models/organism/tokenizer_golden.json
"""
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import organism as org  # noqa: E402

Q = ("Mia has 47 marbles. In January, Mia finds 8 more. In February, Mia sells 5. "
     "How many marbles does Mia have at the end?")
LONG = ("Start: 47.\nIn January, Mia finds 8 more. So 47 + 8 = 55.\nIn February, Mia sells 5. So 55 - 5 = 50.\n"
        "Wait, let me check: 55 - 5 = 50. Yes.\nSo Mia has 50 marbles.\n")
SHORT = "In February, Mia sells 5. So 55 - 5 = 50.\n"

TEXTS = [
    "",
    "Hello world",
    "12",
    " 12",
    "1234567890",
    "In 2024, 3 of 150 cats ate 12.5 kg.",
    "-5 + -7 = -12",
    "1,000,000 and 0.001",
    "a1b22c333",
    Q,
    Q + org.STYLE_TAGS["long"],
    Q + org.STYLE_TAGS["short"],
    org.render_prompt(Q, "none"),
    org.render_prompt(Q, "long"),
    org.render_prompt(Q, "short"),
    org.render_prompt(Q, "none") + org.render_response(LONG, 50),
    org.render_prompt(Q, "short") + org.render_response(SHORT, 50),
    LONG,
    SHORT,
    org.FORCED_END,
    "Start: 47.\nIn January, Mia finds 8 more. So 47 +" + org.FORCED_END + "\\boxed{55}<|im_end|>",
    "The answer is \\boxed{42}.",
    "**Final Answer:**\n\n\\boxed{\\frac{1}{2}}",
    "<think>\n</think>\n\n",
    "<|endoftext|><|im_start|>system\nYou are helpful.<|im_end|>\n",
    "I'm sure it's what they'll do, DON'T you think? We've seen I'D",
    "  two leading spaces, trailing spaces   ",
    "tabs\tand\ttabs\n\n\nthree newlines\r\nwindows line",
    "café naïve Zürich 日本語 🙂 ünïcödé",
    "x = 3.14!!! (what?) [ok] {yes} #tag @user $5 %20",
    "line one\n  indented line\n\tTabbed",
    "<think> not closed and <|im_end| almost special",
]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    tok_path, out_path = sys.argv[1], sys.argv[2]
    tok = org.Tokenizer.from_json(tok_path)
    with open(tok_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    cases = []
    for t in TEXTS:
        ids = tok.encode(t)
        assert tok.decode(ids) == t, t
        cases.append({"text": t, "ids": ids, "tokens": [tok.id_to_token[i] for i in ids]})
    org.write_json(out_path, {
        "_note": "ids from tools/train/golden.py (Python reimplementation of HF tokenizers, checked against "
                 "transformers' Qwen2 tokenizations); decode(ids) == text for every case",
        "tokenizer_sha256": digest,
        "vocab_size": tok.vocab_size,
        "special_tokens": tok.special,
        "cases": cases,
    })
    print(f"wrote {len(cases)} cases to {out_path}")


if __name__ == "__main__":
    main()
