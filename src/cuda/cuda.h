/* cuda.h — what the CUDA back end offers beyond the op table of backend/backend.h: fused ops (candidates for
 * backend.h), kernel selection for the workbench and `trit bench --device cuda`, and the back end's stream.
 * Callable from C. Every pointer argument of a compute function is device memory from ops->alloc of a "cuda"
 * back end; errors are recorded in the back end and returned by ops->sync, like the table's ops. */
#ifndef TRIT_CUDA_H
#define TRIT_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "backend/backend.h"

/* Kernels of matmul_tq (numbers follow dev/cuda/matmul_tq.cu). AUTO is what ops->matmul_tq uses. */
enum {
    TRIT_CUDA_TQ_AUTO = 0,
    TRIT_CUDA_TQ_GEMV4 = 2, /* M ≤ 16: warps split K, 4 warps per 16-row block */
    TRIT_CUDA_TQ_GEMV8 = 3, /* M ≤ 16: same with 8 warps */
    TRIT_CUDA_TQ_GEMV8L = 14, /* M ≤ 16: 8 warps, 8 supertiles per warp in flight (long rows) */
    TRIT_CUDA_TQ_GEMV3 = 21, /* M ≤ 16: every weight load before the PDL wait, 4 supertiles per warp, one AND per 4
                                weights, dp4a at M = 1 (AUTO's choice there from one 16-row block per SM on);
                                where q does not fit its shared memory it runs GEMV8 */
    TRIT_CUDA_TQ_GEMM = 4,  /* any M: 128×128 block tile, int8 mma.sync, 2-bit weights decoded in registers */
    TRIT_CUDA_TQ_GEMV_BULK = 16, /* M ≤ 16 on compute capability 9.0: weights streamed by the bulk copy engine into
                                    shared memory, the CTA's whole slice requested before the PDL wait (not AUTO's
                                    choice: slower in the decode step); where it does not apply it runs GEMV8 */
    TRIT_CUDA_TQ_WGMMA = 10, /* M > 16 on compute capability 9.0: wgmma, weights as the register operand, TMA
                                activations; the tile is chosen by shape (large M: the persistent kernel below).
                                Elsewhere it runs TRIT_CUDA_TQ_GEMM. */
    TRIT_CUDA_TQ_WGMMA_PERSIST = 31, /* the same, one CTA per SM looping over 128 × 192 tiles: a tile's output is
                                        written while the next tile's data streams in */
    TRIT_CUDA_TQ_WGMMA_EPI = 32, /* the persistent kernel with y written by three epilogue warps while the next
                                    tile's MMAs run (AUTO's choice from 3 waves of 192-token tiles, f32 y) */
    TRIT_CUDA_TQ_WGMMA_SPLITK = 28, /* one tile per cluster of two CTAs, each over half of K; K of one k block runs
                                       unsplit (measured slower than one CTA per tile on H100: not AUTO's choice) */
};

/* ops->matmul_tq with an explicit kernel; a GEMV kernel with M > 16 runs in chunks of 16 tokens. */
void trit_cuda_matmul_tq_kernel(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s, int32_t M,
                                float *y, int accumulate, int kernel);

/* The same with the output type: ydt TRIT_DT_F32 (y is float [M][N]) or TRIT_DT_BF16 (y is uint16_t [M][N] of bf16
 * bits: the f32 result rounded to nearest even, NaN kept quiet; accumulate adds the f32 result to the bf16 value
 * widened, then rounds). Bit for bit trit_ref_matmul_tq_bf16. The bulk GEMV writes f32 only: asked for bf16, it
 * runs GEMV8. Other types: an error on the back end. */
void trit_cuda_matmul_tq_out(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s, int32_t M,
                             void *y, trit_dtype ydt, int accumulate, int kernel);

/* Fused FFN tail: h = act(gu[m][f]) * gu[m][F+f] (glu), then rmsnorm(h, w, eps) and quantize, in one kernel;
 * same q and s as glu + rmsnorm_quantize (bit for bit for relu2; silu's expf may differ from the host's by an
 * ulp). gu: [M][2F]; w: [F]; q: [M][F]; s: [M]. */
void trit_cuda_glu_rmsnorm_quantize(trit_backend *be, const float *gu, int32_t M, int32_t F, trit_act act,
                                    const float *w, float eps, int8_t *q, float *s);

/* Greedy decoding head: tokens[m] = argmax_v Σ_d table[v][d] * x[m][d] (lowest v on ties), without writing
 * logits. table: [V][D] (f32 or bf16); x: [M][D]; tokens: [M] (device int32). */
void trit_cuda_lm_head_argmax(trit_backend *be, const void *table, trit_dtype dt, int32_t V, int32_t D,
                              const float *x, int32_t M, int32_t *tokens);

/* Programmatic dependent launch of the GEMV and norm + quantize kernels (sm_90+, ignored below): a GEMV may start
 * while the previous kernel still runs and stream its weights meanwhile. mode 0: off; 1 (the default): a kernel
 * lets its successor start once its own wait for its predecessor returned; 2: at once (measured no faster on H100,
 * slower on some shapes: dev/cuda/NOTES.md). Returns the mode now in use (0 where the GPU has no PDL). */
int trit_cuda_set_pdl(trit_backend *be, int mode);

/* The wgmma GEMM for M > 16 (default on where the GPU has it, compute capability 9.0); off: the mma.sync GEMM.
 * Returns whether it is now on. */
int trit_cuda_set_wgmma(trit_backend *be, int on);

/* Threads per row of the norm + quantize kernels for rows longer than 1024 (256, 512, or anything else for the
 * default 1024); for the benchmark's comparison. Returns the block size now used. */
int trit_cuda_set_quant_block(trit_backend *be, int threads);

/* The back end's cudaStream_t (as void *), for timing with events. */
void *trit_cuda_stream(trit_backend *be);

#ifdef __cplusplus
}
#endif

#endif
