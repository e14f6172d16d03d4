#!/bin/sh
# test-arm.sh — cross-builds the CPU kernel checks for AArch64 and runs them under qemu-user.
# Needs the Debian packages gcc-aarch64-linux-gnu and qemu-user-static (correctness only: no timing here).
# The program is linked statically from the kernel, reference and core sources only (no arm64 -dev packages).
# Runs twice: on qemu's default CPU (has the dot-product extension: kernel set "neon") and on a Cortex-A53
# (no dot product: the dispatcher must fall back to "scalar").
# Usage: scripts/test-arm.sh [build-dir] [--big]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build-arm}
big=${2:-}
cc=${CC_AARCH64:-aarch64-linux-gnu-gcc}
qemu=${QEMU_AARCH64:-qemu-aarch64-static}
command -v "$cc" >/dev/null || { echo "test-arm: $cc not found (apt-get install gcc-aarch64-linux-gnu)" >&2; exit 2; }
command -v "$qemu" >/dev/null || { echo "test-arm: $qemu not found (apt-get install qemu-user-static)" >&2; exit 2; }
mkdir -p "$out"
flags="-std=gnu11 -O2 -Wall -Wextra -Wno-unused-parameter -Werror -ffp-contract=off -I$root/include -I$root/src -I$root/tests"
objs=""
for f in src/core/status.c src/cpu/ref/ref_ops.c src/cpu/ref/ref_backend.c src/cpu/fast/cpu_backend.c \
         src/cpu/fast/pool.c src/cpu/fast/dispatch.c src/cpu/fast/kernels_generic.c src/cpu/fast/head_i8.c \
         src/cpu/arm/features.c \
         src/cpu/arm/tq_neon.c tests/test_cpu_check.c tests/test_cpu_arm.c; do
    extra=""
    case $f in src/cpu/arm/tq_neon.c) extra="-march=armv8.2-a+dotprod" ;; esac
    o="$out/$(echo "$f" | tr / _).o"
    $cc $flags $extra -c "$root/$f" -o "$o"
    objs="$objs $o"
done
$cc -static -o "$out/test_cpu_arm" $objs -lpthread -lm
echo "== qemu default cpu (dot product)"
"$qemu" "$out/test_cpu_arm" $big
echo "== qemu cortex-a53 (no dot product)"
"$qemu" -cpu cortex-a53 "$out/test_cpu_arm"
