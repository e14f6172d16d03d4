#!/usr/bin/env node
// ref_encode.js — encodes text with a reference tokenizer and writes the ids, for trit's differential tests.
//
//   node ref_encode.js --engine tiktoken --model tokenizer.model --in text.txt --out ids.txt [--special]
//   node ref_encode.js --engine hf --model tokenizer.json --in text.txt --out ids.txt [--special]
//   add --cases to read a llama.cpp-style .inp (cases separated by "\n__ggml_vocab_test__\n") and write one
//   line per case, each id preceded by a space (llama.cpp's .out format); otherwise the whole file is one text and the ids
//   are written one per line.
//
// tiktoken: npm tiktoken (Rust tiktoken in WASM) with the Llama 3 pattern and specials; no BOS.
// hf: npm @anush008/tokenizers (the Rust HF tokenizers crate), encode without the post-processor (no BOS).
// --special: special-token text in the input is recognised (trit's TRIT_TOK_SPECIAL); default: plain text.
"use strict";
const fs = require("fs");

const LLAMA3_PAT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" +
  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function llama3Specials(nBase) {
  const fixed = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"];
  const out = {};
  for (let i = 0; i < 256; i++)
    out[i < 10 ? fixed[i] : `<|reserved_special_token_${i - 5}|>`] = nBase + i;
  return out;
}

function parseArgs(argv) {
  const a = { special: false, cases: false };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    if (k === "--special") a.special = true;
    else if (k === "--cases") a.cases = true;
    else if (["--engine", "--model", "--in", "--out"].includes(k)) a[k.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${k}`);
  }
  for (const k of ["engine", "model", "in", "out"]) if (!a[k]) throw new Error(`missing --${k}`);
  return a;
}

async function makeEncoder(a) {
  if (a.engine === "tiktoken") {
    const { Tiktoken } = require("tiktoken/lite");
    const ranks = fs.readFileSync(a.model, "utf8");
    const nBase = ranks.split("\n").filter((l) => l.length > 0).length;
    const enc = new Tiktoken(ranks, llama3Specials(nBase), LLAMA3_PAT);
    return (text) => Array.from(a.special ? enc.encode(text, "all", []) : enc.encode_ordinary(text));
  }
  if (a.engine === "hf") {
    const { Tokenizer } = require("@anush008/tokenizers");
    const tok = Tokenizer.fromFile(a.model);
    return async (text) => {
      const e = await tok.encode(text, null, { addSpecialTokens: false });
      return Array.from(e.getIds());
    };
  }
  throw new Error(`unknown engine ${a.engine}`);
}

async function main() {
  const a = parseArgs(process.argv);
  const enc = await makeEncoder(a);
  const text = fs.readFileSync(a.in, "utf8");
  let out;
  if (a.cases) {
    const sep = "\n__ggml_vocab_test__\n";
    const parts = text.split(sep);
    parts.pop(); // the text after the last separator is not a case
    const lines = [];
    for (const p of parts) lines.push((await enc(p)).map((id) => ` ${id}`).join(""));
    out = lines.join("\n") + "\n";
  } else {
    out = (await enc(text)).join("\n") + "\n";
  }
  fs.writeFileSync(a.out, out);
}

main().catch((e) => {
  console.error(`ref_encode.js: ${e.message}`);
  process.exit(1);
});
