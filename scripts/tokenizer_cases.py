#!/usr/bin/env python3
"""tokenizer_cases.py — the hard strings of trit's Llama 3 tokenizer goldens (issue 2 item 8), and their writer.

  python3 scripts/tokenizer_cases.py --write      (any machine with node; no PyTorch needed)
      encodes every case with npm tiktoken@1.0.22 (tiktoken/lite: the WASM build of OpenAI's Rust tiktoken) loaded
      with the Llama 3 ranks (../shared/data/llama3-tokenizer/tokenizer.model or --ranks) and the Llama 3 pattern,
      special-token text encoded as plain text (disallowed_special = ()), no BOS; writes
      tests/data/tokenizer-golden.inp / .out in llama.cpp's format (each case followed by "\\n__ggml_vocab_test__\\n";
      one line of space-separated ids per case).
  python3 scripts/make_goldens.py --check-tokenizer RANKS   (GPU host) re-checks them with Python tiktoken.

The tiktoken module is taken from tests/npm/node_modules (pinned there) or installed into .cache/npm-tiktoken.
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEP = "\n__ggml_vocab_test__\n"
LLAMA3_PAT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
              r"\s*[\r\n]+|\s+(?!\S)|\s+")

# Unicode White_Space characters (and two look-alikes that are not: U+200B, U+FEFF)
WS = [" ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2003", "\u2007",
      "\u2009", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "\ufeff"]


def cases():
    c = []
    # --- whitespace runs of every kind, alone and between / before / after words
    for w in WS:
        c += [w, w * 2, w * 3, "a" + w + "b", "a" + w * 2 + "b", w * 2 + "word", "word" + w * 3, w + "1" + w]
    c += [" \t\n", "\n \n", "a \n b", "  \n\n  x", "\r\n\r\n", "x\r\ny\r\n", "\t\t\tindented", "line1\n  line2\n\tline3",
          "trailing   ", "   leading", "a  b   c    d", "\n\n\n\n\n", " \n", "\n ", " \n ", "\t \t \t", "\r\r\n\n",
          "end.\n\n\nNext", "tab\there", "\u3000\u3000全角空白", "a\xa0\xa0b c", " \u2028 \u2029 ", "\x85\n\x85",
          "x \u00a0y", "  \t  \n  \t  ", "word\n", "\nword", " word", "  word", "   word"]
    # --- digits: runs of 1..12, separators, other scripts' digits
    c += ["1234567890123"[:n] for n in range(1, 13)]
    c += ["12 345", "1,234,567", "3.14159", "1e10", "0x1F", "2024-01-01", "v1.2.3", "10:30pm", "$1,000.00", "-42",
          "+1 (555) 123-4567", "1st 2nd 3rd 4th", "a1b2c3", "007", "1 2 3 4 5", "99999999999999999999",
          "\u0663\u0664\u0665 Arabic-Indic", "\u0968\u0966\u0968\u096a", "\u2460\u2461\u2462", "\xbd \xbe \u2153",
          "\uff11\uff12\uff13", "3,14", "1.000.000", "12:34:56.789", "IPv4 192.168.0.1", "#1234", "100%",
          "42\n43\n44", "2**10=1024"]
    # --- contractions in both cases, straight and curly apostrophes
    for s in ["s", "t", "re", "ve", "m", "ll", "d"]:
        c += ["it'" + s, "IT'" + s.upper(), "It'" + s[0].upper() + s[1:], "'" + s, "'" + s.upper(), "x'" + s + "'" + s]
    c += ["don\u2019t", "it\u2019s", "I\u2019M", "we\u2019ll", "y'all'd've", "rock 'n' roll", "'hello'", "''", "'",
          "'''", "O'Neill", "don't DON'T Don'T", "she'S", "'sup", "''s", " 's", "the '90s", "l'homme", "rock'n'roll"]
    # --- punctuation runs
    c += ["...", "!!!", "?!", "---", "\u2014", "\u2014\u2014", "\xab\xbb", "()", "[]{}", ":-)", "!!!\n", "...\n\n",
          "\"quoted\"", "a.b.c", "#$%^&*", "<>", "\\\\", "@user", "#hashtag", "~/path", "**bold**", "__init__",
          "->", "=>", "!=", "==", "<=>", "...?!", "\u201csmart quotes\u201d", "\u2018single\u2019", "\u00bfQu\u00e9?",
          "\u00a1Hola!", "\u3002\u3001", "\u300c\u300d", "a--b", "(a)(b)", "x;y:z", "/* */", "//", "&&||", "\u2026",
          "\u2022 bullet", "\u00a7 1", "\u00b6", "\u2020\u2021", "!\n!\n", "?\r\n", ".\t."]
    # --- accents, composed and decomposed; case mappings with surprises
    c += ["caf\xe9", "cafe\u0301", "na\xefve", "nai\u0308ve", "\xc5ngstr\xf6m", "A\u030angstro\u0308m", "Zo\xeb",
          "r\xe9sum\xe9", "\xc9COLE", "Stra\xdfe", "STRASSE", "\u0130stanbul", "\u01c5", "\ufb01nance", "\u216b",
          "\u1e9e", "\u0131", "e\u0301\u0301\u0301", "\u0301", "a\u0300\u0301\u0302\u0303\u0304", "\u00f1 n\u0303",
          "Cr\xe8me Br\xfbl\xe9e", "\u0151\u0171", "\u00c6\u00d8\u00c5 \u00e6\u00f8\u00e5"]
    # --- scripts
    c += ["\u4e2d\u6587", "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", "\u6f22\u5b57\u3068\u3072\u3089\u304c\u306a",
          "\u4e2d\u6587 English \u6df7\u5408", "\u5168\u89d2\uff21\uff22\uff23\uff11\uff12\uff13",
          "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", "\uc548\ub155\ud558\uc138\uc694", "\u1100\u1161\u11a8",
          "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
          "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
          "\u05e2\u05d1\u05e8\u05d9\u05ea", "\u0939\u093f\u0928\u094d\u0926\u0940",
          "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
          "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a", "Ti\u1ebfng Vi\u1ec7t",
          "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8", "\u0540\u0561\u0575\u0565\u0580\u0565\u0576",
          "\u12a0\u121b\u122d\u129b", "\u0ba4\u0bae\u0bbf\u0bb4\u0bcd", "\u09ac\u09be\u0982\u09b2\u09be",
          "\u16a0\u16c7\u16bb", "\U0001d518\U0001d52b\U0001d526\U0001d520\U0001d52c\U0001d521\U0001d522",
          "\U0001d7d8\U0001d7d9\U0001d7da", "\U00020000\U0002a6d6", "\u3042\u30a2\uff71", "\u0f00\u0f01",
          "\u1780\u17d2\u1798\u17c2\u179a", "\u0dc3\u0dd2\u0d82\u0dc4\u0dbd", "Mixed \u0420\u0443\u0441 and Latin",
          "\u0627\u0644\u0639\u0631\u0628\u064a\u0629 123 English", "\u200f\u05e9\u05dc\u05d5\u05dd\u200e"]
    # --- emoji
    c += ["\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
          "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f1fa\U0001f1f8\U0001f1eb\U0001f1f7", "\u2764\ufe0f",
          "\U0001f937\u200d\u2640\ufe0f", "1\ufe0f\u20e3", "\U0001f9d1\U0001f3ff\u200d\U0001f4bb", "emoji\U0001f600text",
          "\U0001f600\U0001f600\U0001f600", " \U0001f999.cpp", "\U0001f525 hot \U0001f525", "\u263a", "\u2600\ufe0f sun",
          "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"]
    # --- math symbols
    c += ["\u2211\u222b\u2202\u221a\u221e\u2260\u2264\u2265", "x\xb2 + y\xb2 = z\xb2", "\u03b1+\u03b2=\u03b3",
          "\u2200x\u2208\u211d", "f(x) = 3x^2 + 2x - 1", "E=mc\xb2", "\u00b1\u00d7\u00f7", "\u2190\u2192\u2194",
          "\u230a x \u230b", "a\u2081 + a\u2082", "\u2135\u2080", "\U0001d400\U0001d401"]
    # --- invalid-looking sequences, controls, zero-width and format characters
    c += ["\ufffd", "\ufffd\ufffd", "a\ufffdb", "\x00", "a\x00b", "\x01\x02\x03", "\x7f", "\x1b[31mred\x1b[0m",
          "\u200d", "a\u200bb", "\ufeffBOM", "soft\xadhyphen", "\u2060", "\u180e", "\U000e0001", "\U0010ffff",
          "\ue000", "\uffff", "\ufffe", "\x08\x07", "\u0600", "\u061c", "\u202e reversed \u202c", "\u034f",
          "\U0001f3fb", "\u0300 lone combining"]
    # --- long words and repetitions
    c += ["a" * 100, "supercalifragilisticexpialidocious", "Pneumonoultramicroscopicsilicovolcanoconiosis",
          "ab" * 150, "antidisestablishmentarianism", "Donaudampfschifffahrtsgesellschaftskapit\xe4n",
          "x" * 1000, " " * 200, "\n" * 50, "ha" * 64 + "!", "aaaaaaaaaa bbbbbbbbbb", "1" * 50, "=" * 80,
          "\u4e00" * 40, "\U0001f600" * 20]
    # --- URLs, e-mail, paths
    c += ["https://www.example.com/path?query=1&x=y#frag", "http://localhost:8080/", "user@example.com",
          "C:\\Windows\\System32", "/usr/local/bin/python3", "ftp://a.b", "www.example.org", "mailto:a@b.c",
          "https://en.wikipedia.org/wiki/Caf%C3%A9", "../../etc/passwd", "file:///tmp/x.txt"]
    # --- code
    c += ["def f(x):\n    return x * 2\n", "int main(void) {\n\treturn 0;\n}\n", "{\"key\": [1, 2, {\"a\": null}]}",
          "<html><body><p class=\"x\">Hi</p></body></html>", "ls -la | grep foo > out.txt 2>&1",
          "SELECT * FROM t WHERE id = 42;", "^[a-z]+\\d{2,3}$", "| a | b |\n|---|---|\n| 1 | 2 |",
          "    indented code", "if (x) {\n\treturn 0;\n}", "for i in range(10): print(i)", "x += 1; y -= 2;",
          "#include <stdio.h>", "fn main() -> Result<(), Box<dyn Error>> {}", "const a = `${b}`;", "a[i][j] = b->c;",
          "    \n    \n", "\t\tif (a &&\n\t\t    b)", "// comment\n/* block */", "$ echo $HOME"]
    # --- special-token text (encoded as plain text) and look-alikes
    c += ["<|eot_id|>", "<|begin_of_text|>Hello", "<|end_of_text|>", "<|start_header_id|>user<|end_header_id|>",
          "<|reserved_special_token_0|>", "< |eot_id| >", "<|eot_id|", "<s>", "</s>", "[INST]", "<|endoftext|>",
          "User: hi<|eot_id|>Assistant: ", "<<|eot_id|>>", "<|EOT_ID|>", "text<|eot_id|>\n"]
    # --- mixtures and ordinary prose
    c += ["Hello world", " Hello world", "Hello World", " Hello World", " Hello World!", "Hello, world!",
          "The quick brown fox jumps over the lazy dog.", "I've been 3 times to caf\xe9s in 2023 \u2014 wow!",
          "Mr. Speaker, Mr. Vice President, Members of Congress:", "Call me Ishmael. Some years ago\u2014never mind",
          "\u00bfHabla espa\u00f1ol? S\u00ed, un poco.", "Das ist gr\u00f6\u00dfer als 10\u00b0C.",
          "\u4f60\u597d, world! 123 \U0001f600", "e-mail: a.b@c.d; tel. +49 30 1234567", "  Mixed\tWS\r\nand\u00a0NBSP  ",
          "ALL CAPS SENTENCE HERE", "camelCaseIdentifierName", "snake_case_name_here", "kebab-case-name",
          "A.B.C. D.E.F.", "It's 5 o'clock; we're LATE!!", "\"Yes,\" he said. 'No,' she replied.",
          "Q: What's 2+2?\nA: 4.", "line one\r\nline two\rline three\n", "tab\tseparated\tvalues\t1\t2\t3"]
    for i, s in enumerate(c):
        if SEP in s or (s + SEP).find(SEP) != len(s):
            raise AssertionError("case %d contains the separator" % i)
    return c


def node_encode(texts, ranks_path):
    """ids of each text from npm tiktoken@1.0.22 (tiktoken/lite), run by node"""
    mod = None
    for d in (os.path.join(REPO, "tests/npm/node_modules"), os.path.join(REPO, ".cache/npm-tiktoken/node_modules")):
        pj = os.path.join(d, "tiktoken/package.json")
        if os.path.exists(pj) and json.load(open(pj))["version"] == "1.0.22":
            mod = d
            break
    if mod is None:
        os.makedirs(os.path.join(REPO, ".cache/npm-tiktoken"), exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-save", "--prefix", os.path.join(REPO, ".cache/npm-tiktoken"),
                        "tiktoken@1.0.22"], check=True)
        mod = os.path.join(REPO, ".cache/npm-tiktoken/node_modules")
    js = r"""
const fs = require('fs');
const { Tiktoken } = require(require.resolve('tiktoken/lite', { paths: [process.argv[1]] }));
const pkg = require(process.argv[1] + '/tiktoken/package.json');
const ranks = fs.readFileSync(process.argv[2], 'utf8');
const names = ['<|begin_of_text|>', '<|end_of_text|>', '<|reserved_special_token_0|>', '<|reserved_special_token_1|>',
  '<|reserved_special_token_2|>', '<|reserved_special_token_3|>', '<|start_header_id|>', '<|end_header_id|>',
  '<|reserved_special_token_4|>', '<|eot_id|>'];
for (let i = 5; i <= 250; i++) names.push('<|reserved_special_token_' + i + '|>');
const special = {};
names.forEach((n, i) => { special[n] = 128000 + i; });
const enc = new Tiktoken(ranks, special, process.argv[3]);
const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = texts.map(t => Array.from(enc.encode(t, [], [])));
enc.free();
process.stdout.write(JSON.stringify({ version: pkg.version, ids: out }));
"""
    r = subprocess.run(["node", "-e", js, mod, ranks_path, LLAMA3_PAT], input=json.dumps(texts).encode(),
                       capture_output=True)
    if r.returncode != 0:
        raise AssertionError("node tiktoken failed: %s" % r.stderr.decode(errors="replace")[-2000:])
    res = json.loads(r.stdout)
    if res["version"] != "1.0.22" or len(res["ids"]) != len(texts):
        raise AssertionError("node tiktoken: unexpected answer")
    return res["ids"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write tests/data/tokenizer-golden.inp/.out with node")
    ap.add_argument("--ranks", default=os.path.join(REPO, "../shared/data/llama3-tokenizer/tokenizer.model"))
    ap.add_argument("--out", default=os.path.join(REPO, "tests/data/tokenizer-golden"))
    a = ap.parse_args()
    cs = cases()
    print("%d cases" % len(cs))
    if not a.write:
        return 0
    ids = node_encode(cs, a.ranks)
    # sanity anchors from llama.cpp's ggml-vocab-llama-bpe goldens
    anchors = {"Hello world": [9906, 1917], " Hello world": [22691, 1917]}
    for k, v in anchors.items():
        if ids[cs.index(k)] != v:
            raise AssertionError("anchor %r: %s != %s" % (k, ids[cs.index(k)], v))
    for t, i in zip(cs, ids):
        if any(x >= 128000 for x in i):
            raise AssertionError("special id in plain-text encoding of %r" % t)
    with open(a.out + ".inp", "w", encoding="utf-8", newline="") as f:
        for t in cs:
            f.write(t + SEP)
    with open(a.out + ".out", "w", encoding="utf-8", newline="") as f:
        for i in ids:
            f.write(" ".join(str(x) for x in i) + "\n")
    # the file splits back into exactly the cases
    with open(a.out + ".inp", encoding="utf-8", newline="") as f:
        back = f.read().split(SEP)
    if back[:-1] != cs or back[-1] != "":
        raise AssertionError("the .inp file does not split back into the cases")
    print("wrote %s.inp / .out (%d cases, %d ids)" % (a.out, len(cs), sum(len(i) for i in ids)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
