#!/usr/bin/env bash
# phase1.sh — the GPU-host run for issues 2 (item 8) and 3: tiny-model goldens from transformers, the tokenizer
# goldens re-checked with Python tiktoken, the trained model (train + export + verify) and its perplexity goldens.
# Run from the repo root on a GPU host with PyTorch, transformers 5.x, tokenizers, safetensors, numpy, tiktoken:
#   OUT=/some/dir bash scripts/gpu/phase1.sh            (SMOKE=1: every step at toy sizes, ~2 minutes)
# Needs in the working tree: .cache/corpus/{train,heldout}.txt (scripts/fetch-data.sh), tests/data/{heldout,other}.txt,
# .cache/llama3/tokenizer.model (copy of ../shared/data/llama3-tokenizer/tokenizer.model) for the tiktoken check.
# Leaves in $OUT: tiny.tar.gz (tests/data/tiny-*, golden-tiny-*), model.tar.gz (models/NAME,
# tests/data/ppl-golden.json), reports.tar.gz (JSON reports, tokenizer check), phase1.log.
set -euo pipefail
export PYTHONUNBUFFERED=1
: "${OUT:?set OUT to the output folder}"
mkdir -p "$OUT"
exec > >(tee "$OUT/phase1.log") 2>&1
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SMOKE="${SMOKE:-0}"
TRAIN_BUDGET="${TRAIN_BUDGET:-240}"
NAME="${MODEL_NAME:-bitnet-b1.58-sotu-25m}"
W="$(mktemp -d /tmp/trit-phase1.XXXXXX)"
S="$W/stage"
mkdir -p "$S/tests/data" "$S/models" "$S/reports"
T0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

stamp "versions"
python3 --version
python3 - <<'PY'
import torch, transformers, tokenizers, safetensors, numpy
print("torch", torch.__version__, "cuda", torch.version.cuda, "| transformers", transformers.__version__,
      "| tokenizers", tokenizers.__version__, "| safetensors", safetensors.__version__, "| numpy", numpy.__version__)
try:
    import accelerate; print("accelerate", accelerate.__version__)
except Exception as e:
    print("accelerate: not installed (%s)" % e)
try:
    import tiktoken; print("tiktoken", tiktoken.__version__)
except Exception as e:
    print("tiktoken: not installed (%s)" % e)
print("GPU", torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0))
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

SM=(); [ "$SMOKE" = 1 ] && SM=(--smoke)

stamp "tiny model + goldens"
python3 scripts/make_goldens.py "${SM[@]}" --tiny "$W/tiny"
for f in tiny-bf16 tiny-packed golden-tiny-bf16.bin golden-tiny-packed.bin; do
  cp -r "$W/tiny/$f" "$S/tests/data/"
done
cp "$W/tiny/tiny-report.json" "$S/reports/"

stamp "tokenizer goldens vs Python tiktoken"
if [ -f .cache/llama3/tokenizer.model ] && [ -f tests/data/tokenizer-golden.inp ]; then
  INP=tests/data/tokenizer-golden.inp
  [ -f tests/data/llama3-cases.inp ] && INP="$INP,tests/data/llama3-cases.inp"
  python3 scripts/make_goldens.py --check-tokenizer .cache/llama3/tokenizer.model --tok-inp "$INP" \
      --tok-report "$S/reports/tokenizer-check.jsonl" || echo "!!! TOKENIZER GOLDENS DIFFER FROM PYTHON TIKTOKEN (see above)"
else
  echo "skipped: .cache/llama3/tokenizer.model or tests/data/tokenizer-golden.inp missing"
fi

stamp "train"
if [ "$SMOKE" = 1 ]; then
  python3 scripts/train.py --smoke --out "$S/models/$NAME"
else
  python3 scripts/train.py --out "$S/models/$NAME" --time-budget "$TRAIN_BUDGET"
fi

stamp "perplexity goldens"
if [ "$SMOKE" = 1 ]; then
  python3 scripts/eval_ppl.py --smoke --model "$S/models/$NAME" --file tests/data/heldout.txt \
      --file tests/data/other.txt --out "$S/tests/data/ppl-golden.json"
else
  python3 scripts/eval_ppl.py --model "$S/models/$NAME" --file tests/data/heldout.txt --file tests/data/other.txt \
      --ctx 512 --ctx 2048 --out "$S/tests/data/ppl-golden.json"
fi

stamp "pack results"
(cd "$S" && tar -czf "$OUT/tiny.tar.gz" tests/data/tiny-bf16 tests/data/tiny-packed tests/data/golden-tiny-bf16.bin \
    tests/data/golden-tiny-packed.bin)
(cd "$S" && tar -czf "$OUT/model.tar.gz" "models/$NAME" tests/data/ppl-golden.json)
(cd "$S" && tar -czf "$OUT/reports.tar.gz" reports)
ls -la "$OUT"
for f in "$OUT"/*.tar.gz; do
  sz=$(stat -c %s "$f"); [ "$sz" -le 15728640 ] || echo "!!! $f is $sz bytes (> 15 MB)"
done
sha256sum "$OUT"/*.tar.gz
du -sh "$S/models/$NAME"
rm -rf "$W"
stamp "phase1 done"
