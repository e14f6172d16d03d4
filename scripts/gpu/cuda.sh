#!/usr/bin/env bash
# scripts/gpu/cuda.sh — the one command for the CUDA back end on a GPU host: GPU tests, the matmul workbench
# (with cuBLAS bf16 as the baseline) and `trit bench --device cuda` kernel mode. Logs go to $OUT (or ./gpu-out).
#
# Binaries: from $TRIT_CUDA_BIN (default build-cuda-dev/, filled on the build machine by
#   scripts/gpu/cuda.sh --stage BUILD_DIR
# which copies the three programs and libcmocka.so.0 there), else built here from the sources (needs cmake,
# nvcc, cmocka, jansson and pcre2 development files).
set -u -o pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=${TRIT_CUDA_BIN:-$ROOT/build-cuda-dev}

if [ "${1:-}" = "--stage" ]; then # on the build machine: collect what the GPU host needs
    BUILD=${2:?usage: cuda.sh --stage BUILD_DIR}
    rm -rf "$BIN" && mkdir -p "$BIN"
    cp "$BUILD/tests/test_cuda_ops" "$BUILD/dev/cuda/matmul_tq" "$BUILD/dev/cuda/trit_cuda_bench" "$BIN/" || exit 1
    cmocka=$(ldd "$BIN/test_cuda_ops" | awk '/libcmocka/ {print $3}')
    [ -n "$cmocka" ] && cp -L "$cmocka" "$BIN/"
    du -sh "$BIN"
    exit 0
fi

OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
status=0
echo "== host: $(hostname) $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1 || true

if [ ! -x "$BIN/test_cuda_ops" ]; then
    echo "== no staged binaries in $BIN: building here"
    cmake -S "$ROOT" -B "$ROOT/build-gpu" -DCMAKE_BUILD_TYPE=Release >"$OUT/build.log" 2>&1 &&
        cmake --build "$ROOT/build-gpu" -j"$(nproc)" --target test_cuda_ops dev_matmul_tq dev_trit_cuda_bench \
            >>"$OUT/build.log" 2>&1 || { echo "build failed, see build.log"; tail -30 "$OUT/build.log"; exit 1; }
    BIN=$ROOT/build-gpu-bin && mkdir -p "$BIN"
    cp "$ROOT/build-gpu/tests/test_cuda_ops" "$ROOT/build-gpu/dev/cuda/matmul_tq" \
        "$ROOT/build-gpu/dev/cuda/trit_cuda_bench" "$BIN/"
fi

# cuBLAS for the workbench: the toolkit's, else the one of the Python wheels
libdirs="$BIN"
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do [ -d "$d" ] && libdirs="$libdirs:$d"; done
wheel=$(find / -name 'libcublas.so.13*' -path '*nvidia*' 2>/dev/null | head -1)
[ -n "$wheel" ] && libdirs="$libdirs:$(dirname "$wheel")"
export LD_LIBRARY_PATH="$libdirs:${LD_LIBRARY_PATH:-}"

run() { # name, then the command; its output to $OUT/name.log and to stdout
    local name=$1
    shift
    echo
    echo "== $name: $*"
    local t0=$(date +%s)
    "$@" 2>&1 | tee "$OUT/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc ($(($(date +%s) - t0)) s)"
    [ "$rc" -eq 0 ] || status=1
}

# each step bounded (a kernel that never finishes must not cost the rest of the run)
T=${TRIT_STEP_TIMEOUT:-300}
run test_cuda_ops timeout "$T" "$BIN/test_cuda_ops"
run matmul_tq timeout "$T" "$BIN/matmul_tq" ${TRIT_CUDA_KERNEL:-0}
run bench timeout "$T" "$BIN/trit_cuda_bench" ${TRIT_CUDA_BENCH_ARGS:-}
# memcheck of the GPU tests, last and bounded, so a slow sanitizer cannot cost the results above
if [ "${TRIT_CUDA_SANITIZE:-1}" = 1 ] && command -v compute-sanitizer >/dev/null; then
    run sanitize timeout ${TRIT_SANITIZE_TIMEOUT:-150} compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_cuda_ops"
fi
echo
echo "== done, status $status"
exit $status
