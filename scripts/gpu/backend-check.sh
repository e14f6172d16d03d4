#!/usr/bin/env bash
# backend-check.sh BIN_DIR — the CUDA back end end to end on a GPU host, with binaries built elsewhere
# (BIN_DIR holds trit, test_backend_ops, test_model_golden and libcmocka.so.0; see `--stage`):
#   every op vs ref, the tiny transformers goldens, the embedded model's perplexity vs transformers, greedy text
#   identical to the CPU back ends, and end-to-end speed at the 2B-4T shapes (random weights).
#   bash scripts/gpu/backend-check.sh --stage BUILD_DIR DEST   (here: copy the binaries into DEST)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ "${1:-}" = --stage ]; then
  mkdir -p "$3"
  cp "$2/tools/trit" "$2/tests/test_backend_ops" "$2/tests/test_model_golden" "$3/"
  cp -L /usr/lib/x86_64-linux-gnu/libcmocka.so.0 "$3/"
  exit 0
fi
B="$(cd "$1" && pwd)"
export LD_LIBRARY_PATH="$B${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
M=models/bitnet-b1.58-sotu-25m
rc=0
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
echo "== every op, cuda vs ref"
"$B/test_backend_ops" -b cuda | tail -3 || rc=1
echo "== tiny transformers goldens (ref, cpu, cuda)"
TRIT_SOURCE_DIR=$PWD "$B/test_model_golden" | grep -E "vs|PASS|FAIL|checks" || rc=1
echo "== perplexity of the embedded model, cuda vs transformers f32"
bash tests/ppl_test.sh "$B/trit" "$M" tests/data/heldout.txt 512 || rc=1
echo "== greedy text: cuda vs cpu vs ref"
for be in cuda cpu ref; do
  "$B/trit" run -m "$M" -p "The state of the Union" -n 48 --greedy --backend $be -q > "/tmp/greedy-$be.txt" || rc=1
done
cmp /tmp/greedy-cuda.txt /tmp/greedy-cpu.txt && cmp /tmp/greedy-cpu.txt /tmp/greedy-ref.txt && echo "identical" || {
  echo "greedy texts differ"; head -c 300 /tmp/greedy-*.txt; rc=1; }
echo "== end to end at the 2B-4T shapes (random weights), cuda"
"$B/trit" bench model --random 2b4t --backend cuda -p 128,512 -n 128 -r ${REPS:-3} || rc=1
echo "== done (rc $rc)"
exit $rc
