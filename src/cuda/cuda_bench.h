/* cuda_bench.h — `trit bench --device cuda` kernel mode: times the CUDA back end's kernels on a shape list with
 * weights out of L2 and prints a table with the roofline bound of each figure (see cuda_bench.cu). */
#ifndef TRIT_CUDA_BENCH_H
#define TRIT_CUDA_BENCH_H

#ifdef __cplusplus
extern "C" {
#endif

/* argv as after `trit bench --device cuda`; returns the process exit status (0 ok, 1 failure, 2 usage),
 * prints the table on stdout and failures on stderr. */
int trit_cuda_bench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
