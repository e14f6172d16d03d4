#!/usr/bin/env bash
# cli_test.sh TRIT MODEL_DIR — the trit command end to end on a real model folder: every subcommand runs, output
# is deterministic for a seed, bad input gets a clear message and a non-zero exit (never a crash).
set -u
TRIT="$1"
MODEL="$2"
SRC="${TRIT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # name, expected exit code, stderr must contain (or ""), command...
  local name="$1" want="$2" needle="$3"
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, expected $want"; sed 's/^/  | /' "$tmp/err" | head -5; fail=1; return
  fi
  if [ -n "$needle" ] && ! grep -q -- "$needle" "$tmp/err"; then
    echo "FAIL $name: stderr lacks '$needle'"; sed 's/^/  | /' "$tmp/err" | head -5; fail=1; return
  fi
  echo "ok   $name"
}

check "help" 0 "" "$TRIT" --help
check "run help" 0 "" "$TRIT" run --help
check "no command" 2 "usage" "$TRIT"
check "unknown command" 2 "unknown command" "$TRIT" frobnicate
check "unknown option" 2 "unknown option" "$TRIT" run -m "$MODEL" -p hi --frob
check "bad number" 2 "not an integer" "$TRIT" run -m "$MODEL" -p hi -n many
check "missing model" 1 "does not exist" "$TRIT" run -m "$tmp/none" -p hi
check "run greedy" 0 "tok/s" "$TRIT" run -m "$MODEL" -p "The people of" -n 16 --greedy
cp "$tmp/out" "$tmp/greedy1"
[ -s "$tmp/greedy1" ] || { echo "FAIL run greedy: no text"; fail=1; }
check "run greedy again" 0 "" "$TRIT" run -m "$MODEL" -p "The people of" -n 16 --greedy
cmp -s "$tmp/out" "$tmp/greedy1" || { echo "FAIL greedy output differs between runs"; fail=1; }
check "run seed" 0 "" "$TRIT" run -m "$MODEL" -p "The people of" -n 24 --seed 7 --temp 0.9
cp "$tmp/out" "$tmp/seed1"
check "run seed again" 0 "" "$TRIT" run -m "$MODEL" -p "The people of" -n 24 --seed 7 --temp 0.9
cmp -s "$tmp/out" "$tmp/seed1" || { echo "FAIL same seed gave different text"; fail=1; }
check "run ref backend" 0 "backend ref" "$TRIT" run -m "$MODEL" -p "The people of" -n 16 --greedy --backend ref
cmp -s "$tmp/out" "$tmp/greedy1" || { echo "FAIL ref back end's greedy text differs from the default back end's"; fail=1; }
head -c 20000 "$SRC/tests/data/heldout.txt" > "$tmp/long.txt"
check "prompt longer than context" 1 "context" "$TRIT" run -m "$MODEL" -f "$tmp/long.txt" --ctx 64 -n 4
check "ctx beyond model" 1 "max_position_embeddings" "$TRIT" run -m "$MODEL" -p hi --ctx 100000000
check "tokenize" 0 "" "$TRIT" tokenize -m "$MODEL" -p "Hello world" --no-bos
grep -Eq '^[0-9]+( [0-9]+)*$' "$tmp/out" || { echo "FAIL tokenize output is not a line of ids"; fail=1; }
check "tokenize pieces" 0 "" "$TRIT" tokenize -m "$MODEL" -p "Hello world" --pieces
check "ppl" 0 "" "$TRIT" ppl -m "$MODEL" -f "$SRC/tests/data/other.txt" --ctx 128 --chunks 3 --backend ref \
  --save-logits "$tmp/base.kl"
grep -q "PPL = " "$tmp/out" || { echo "FAIL ppl printed no PPL"; fail=1; }
# the same back end again: the run is deterministic, so KL is exactly 0 and top-1 agrees everywhere
check "ppl kl same back end" 0 "" "$TRIT" ppl -m "$MODEL" --kl-base "$tmp/base.kl" --backend ref --json
grep -q '"kl_max": 0,' "$tmp/out" && grep -q '"top1_agreement": 100' "$tmp/out" ||
  { echo "FAIL ppl --kl-base against the same run is not exact"; cat "$tmp/out"; fail=1; }
# the default back end against ref: integer matmuls agree exactly, f32 sums in another order can flip an int8
# code at a .5 boundary; near-tied top-1 tokens may then swap (measured on this model: KL ~2e-4, top-1 ~99%)
check "ppl kl default vs ref" 0 "" "$TRIT" ppl -m "$MODEL" --kl-base "$tmp/base.kl" --json
awk -F'"top1_agreement": ' 'NF > 1 { split($2, a, /[,}]/); exit (a[1] >= 95) ? 0 : 1 }' "$tmp/out" ||
  { echo "FAIL default back end vs ref: top-1 agreement under 95%"; cat "$tmp/out"; fail=1; }
check "ppl short text" 1 "needs at least" "$TRIT" ppl -m "$MODEL" -f "$SRC/README.md" --ctx 2048
printf 'garbage' > "$tmp/bad.kl"
check "ppl bad kl file" 1 "not a log-probability file" "$TRIT" ppl -m "$MODEL" --kl-base "$tmp/bad.kl"
printf 'Hello there.\n/reset\nWhat is the state of the Union?\n' > "$tmp/chat.in"
check "chat" 0 "" sh -c "\"$TRIT\" chat -m \"$MODEL\" -n 12 --greedy < \"$tmp/chat.in\""
check "chat full context" 0 "context full" sh -c "\"$TRIT\" chat -m \"$MODEL\" -n 200 --ctx 24 --greedy < \"$tmp/chat.in\""
check "bench model" 0 "" "$TRIT" bench model -m "$MODEL" -p 16 -n 4 -r 1 --json
grep -q '"tg4"' "$tmp/out" || { echo "FAIL bench JSON lacks tg4"; fail=1; }
# a hostile model folder: truncated weights
mkdir -p "$tmp/trunc"
cp "$MODEL"/*.json "$tmp/trunc/"
head -c 100000 "$MODEL/model.safetensors" > "$tmp/trunc/model.safetensors"
check "truncated model" 1 "model.safetensors" "$TRIT" run -m "$tmp/trunc" -p hi
exit $fail
