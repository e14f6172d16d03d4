#!/usr/bin/env bash
# lmhead_ppl.sh TRIT MODEL_DIR TEXT CTX CHUNKS — the perplexity cost of the optional int8 LM head
# (--lm-head-int8): `trit ppl` with and without it must agree within 0.5% relative.
# Measured on the embedded 25M model, other.txt, ctx 256, 8 chunks: 58.3359 -> 58.3559, 3.4e-4 relative (0.034%),
# mean KL 5.5e-5 nats, top-1 agreement 99.3%. Each head weight moves by at most half a step of its row's
# scale (max|row| / 254); the limit is 15x what that costs here, tight enough to catch a wrong scale or layout.
set -euo pipefail
TRIT="$1" MODEL="$2" TEXT="$3" CTX="$4" CHUNKS="$5"
ppl() {
  "$TRIT" ppl -m "$MODEL" -f "$TEXT" --ctx "$CTX" --chunks "$CHUNKS" --json "$@" | sed -n 's/.*"ppl": \([0-9.]*\).*/\1/p'
}
base=$(ppl)
i8=$(ppl --lm-head-int8)
[ -n "$base" ] && [ -n "$i8" ] || { echo "trit ppl printed no JSON"; exit 1; }
awk -v a="$base" -v b="$i8" 'BEGIN {
  r = (b - a) / a; if (r < 0) r = -r;
  printf "trit ppl bf16 head %.6f  int8 head %.6f  relative difference %.2e (limit 5e-3)\n", a, b, r;
  exit (r <= 5e-3) ? 0 : 1 }'
