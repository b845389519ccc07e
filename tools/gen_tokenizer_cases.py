#!/usr/bin/python3
"""Writes independent reference data for the tokenizer tests (tests/fixtures/tokenizer/):

  pretokenize_cases.json  random strings split by the three pre-tokenizer regexes with the Python
                          `regex` module (a backtracking engine with look-ahead), to check the
                          hand-written scanners in engines/tokenizer/pretokenize.cpp;
  organism_mini/          a small tokenizer trained with the model organism's own code
                          (tools/train/organism.py: train_bpe, Tokenizer.to_json, tokenizer_config)
                          and organism_mini_golden.json, texts with the ids that code produces.

  /usr/bin/python3 tools/gen_tokenizer_cases.py

Deterministic (fixed seed). engines/tokenizer/unicode_tables.inc takes its L/N classes from the same regex
module, so the pool may use any letters it knows, Unicode 15.0 ones included.
"""
import json
import os
import random
import sys

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))

QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
         r"|\s+(?!\S)|\s+")
ORGANISM = QWEN2.replace(r"|\p{N}|", r"| ?\p{N}|")
GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

ATOMS = ["a", "Z", "q", "hello", "The", " ", " ", "  ", "\n", "\r\n", "\r", "\t", "\u00a0", "\u3000", "\u2009",
         "0", "7", "42", "½", "٣", "'", "'s", "'S", "'ll", "'Re", "'ve", "'d", "'m", "'t", "'x", "!", "?!", ".", ",",
         "(", ")", "$", "\\", "{", "}", "_", "-", "=", "é", "e\u0301", "\u0301", "ß", "Ωmega", "中文", "日本",
         "😀", "👍🏻", "\u200d", "\u200b", "한국", "ـ", "#", "@", "\u2028",
         "\U00031350", "\U00011F04"]  # Unicode 15.0 letters (CJK Extension H, Kawi)


def gen_pretokenize_cases(rng, n):
    pats = {"qwen2": regex.compile(QWEN2), "organism": regex.compile(ORGANISM), "gpt2": regex.compile(GPT2)}
    cases = []
    for _ in range(n):
        text = "".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 16)))
        case = {"text": text}
        for name, p in pats.items():
            pieces = [m.group(0) for m in p.finditer(text)]
            assert "".join(pieces) == text
            case[name] = pieces
        cases.append(case)
    return cases


def gen_organism_mini(rng):
    import organism  # tools/train/organism.py (imports torch)

    questions = [
        "Tom has 12 apples and buys 7 more. How many apples does he have?",
        "A train travels 45 km in 3 hours. What is its speed in km per hour?",
        "Sara reads 15 pages a day for 6 days. How many pages does she read?",
        "There are 120 students; 1/4 of them walk to school. How many walk?",
    ]
    traces = [
        "12 + 7 = 19. So he has 19 apples.",
        "45 / 3 = 15. The speed is 15 km per hour.",
        "15 * 6 = 90. She reads 90 pages.",
        "120 / 4 = 30. So 30 students walk.",
    ]
    texts = []
    for q, t in zip(questions, traces):
        texts.append(organism.render_prompt(q, rng.choice(list(organism.STYLE_TAGS))) + organism.render_response(t, 0))
    tok = organism.Tokenizer(organism.train_bpe(texts * 3, 120))
    d = os.path.join(OUT, "organism_mini")
    os.makedirs(d, exist_ok=True)
    organism.write_json(os.path.join(d, "tokenizer.json"), tok.to_json())
    organism.write_json(os.path.join(d, "tokenizer_config.json"), organism.tokenizer_config(tok))
    golden_texts = texts + [
        organism.render_prompt("What is 1234 + 5678?", "long"),
        "x = 3 and y = 10; 3x + 2y = 29.</think>\n\nThe answer is \\boxed{29}.<|im_end|>",
        "  leading spaces, trailing spaces   ",
        "Unicode: café, 中文, 😀 and ½ of 8 is 4.",
    ]
    golden = [{"text": t, "ids": tok.encode(t)} for t in golden_texts]
    for g in golden:
        assert tok.decode(g["ids"]) == g["text"]
    with open(os.path.join(OUT, "organism_mini_golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    rng = random.Random(20240601)
    cases = gen_pretokenize_cases(rng, 400)
    with open(os.path.join(OUT, "pretokenize_cases.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": "tools/gen_tokenizer_cases.py", "regex_module": regex.__version__, "cases": cases},
                  f, ensure_ascii=False, indent=0)
        f.write("\n")
    gen_organism_mini(rng)


if __name__ == "__main__":
    main()
