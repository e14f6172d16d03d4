#!/usr/bin/env bash
# profile-gemm.sh BIN_DIR [NxK M] — on a GPU host: the wgmma GEMM variants of the workbench on one shape, their
# SASS (the main loop's wgmma / warpgroup barriers) and Nsight Compute sections for two of them. Logs to $OUT.
set -u -o pipefail
B="$(cd "${1:?usage: profile-gemm.sh BIN_DIR [NxK M]}" && pwd)"
SHAPE=${2:-13824x2560}
M=${3:-2048}
OUT=${OUT:-./gpu-out}
mkdir -p "$OUT"
wheel=$(find / -name 'libcublas.so.13*' -path '*nvidia*' 2>/dev/null | head -1)
export LD_LIBRARY_PATH="$B:/usr/local/cuda/lib64:${wheel:+$(dirname "$wheel"):}${LD_LIBRARY_PATH:-}"
PATH=$PATH:/usr/local/cuda/bin
for k in ${KERNELS:-10 18 12 19 13 20}; do
    timeout 60 "$B/matmul_tq" "$k" "$SHAPE" "$M" | grep -E "kernel|cublas" | head -2
done
if command -v cuobjdump >/dev/null; then
    cuobjdump -sass "$B/matmul_tq" >/tmp/sass.txt 2>&1
    for v in b0 b1; do # 128 × 256 tiles, then persistent 128 × 192
        want=$([ $v = b0 ] && echo Li1ELi256ELi5ELb0 || echo Li1ELi192ELi4ELb1)
        awk -v want="$want" '/Function : /{p = index($0, "tq_wgmma_kernel") && index($0, want)} p' \
            /tmp/sass.txt >"$OUT/sass_$v.txt"
        echo "sass $v: $(wc -l <"$OUT/sass_$v.txt") lines; $(grep -c GMMA "$OUT/sass_$v.txt") GMMA, $(grep -c DEPBAR "$OUT/sass_$v.txt") DEPBAR"
    done
fi
if command -v ncu >/dev/null; then
    for k in ${NCU_KERNELS:-18 10}; do
        timeout 120 ncu --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis \
            --section ComputeWorkloadAnalysis --section Occupancy -k regex:tq_wgmma -s 3 -c 1 "$B/matmul_tq" "$k" "$SHAPE" "$M" >"$OUT/ncu$k.txt" 2>&1
        echo "ncu kernel$k: exit $?"
        grep -E "Duration|Compute \(SM\)|Memory Throughput|L2 Cache Throughput|DRAM Through|Stall|Warp Cycles|Issued Warp|No Eligible|Tensor|Pipe|ERR" "$OUT/ncu$k.txt" | head -25
    done
fi
