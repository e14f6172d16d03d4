#!/usr/bin/env bash
# fuzz.sh [SECONDS] — builds the libFuzzer targets (fuzz/fuzz_*.c) with clang in build-fuzz and runs each one for
# SECONDS (default 30), starting from the committed seeds in fuzz/corpus/<target>/. Inputs libFuzzer finds go to
# build-fuzz/corpus/<target>/ (the committed seeds stay small); crash reproducers to build-fuzz/crashes/<target>/.
# Exits non-zero when a target fails to build or finds a crash.
set -euo pipefail
secs=${1:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
jobs=${TRIT_JOBS:-2}

targets=()
for src in "$root"/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    targets+=("$(basename "$src" .c)")
done
if [ ${#targets[@]} -eq 0 ]; then
    echo "fuzz.sh: no fuzz/fuzz_*.c" >&2
    exit 1
fi

CC=clang cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTRIT_FUZZ=ON -DTRIT_CUDA=OFF -DTRIT_TESTS=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]}"

failed=()
for t in "${targets[@]}"; do
    work="$build/corpus/$t"
    crashes="$build/crashes/$t"
    mkdir -p "$work" "$crashes"
    seeds=()
    [ -d "$root/fuzz/corpus/$t" ] && seeds=("$root/fuzz/corpus/$t")
    echo "== $t: ${secs}s"
    if ! "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "${seeds[@]}" 2>"$build/$t.log"; then
        failed+=("$t")
        tail -n 40 "$build/$t.log" >&2
    else
        grep -E "stat::number_of_executed_units|stat::new_units_added" "$build/$t.log" || true
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz.sh: crashes in: ${failed[*]} (reproducers under $build/crashes/)" >&2
    exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${secs}s without a crash"
