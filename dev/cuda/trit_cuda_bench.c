/* trit_cuda_bench.c — runs `trit bench --device cuda` kernel mode (src/cuda/cuda_bench.h) on its own, for GPU
 * hosts where the full trit command is not built. */
#include "cuda/cuda_bench.h"

int main(int argc, char **argv) { return trit_cuda_bench_main(argc - 1, argv + 1); }
