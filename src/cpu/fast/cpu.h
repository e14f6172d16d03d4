/* cpu.h — internals of the fast CPU back end ("cpu"): the packed ternary layout, the per-ISA kernel table, the
 * thread pool and ISA detection. Only src/cpu/{fast,x86,arm} and the CPU tests/bench include this header; the
 * model sees the back end through backend/backend.h alone.
 *
 * Packed ternary layout ("T16", 2 bits per weight), shared by every kernel set so one pack serves all ISAs:
 *  - rows are grouped in blocks of 16 (N padded to NB*16), columns in tiles of 16 (K padded to KT*16);
 *  - tile (nb, kt) is 64 bytes at offset (nb*KT + kt)*64, row blocks stored one after another (a GEMV streams the
 *    weights sequentially);
 *  - byte b of a tile holds, in bits 2i+1:2i (i = 0..3), the code (w+1 ∈ {0,1,2}) of row nb*16 + b/4 and column
 *    kt*16 + 4i + b%4. So (tile >> 2i) & 3 is, per 32-bit lane l, the four codes of row l at columns 4i..4i+3 —
 *    exactly the operand vpdpbusd (x86) / vdotq_laneq_s32 (Arm) multiplies with 4 broadcast activation bytes.
 *    Padding has code 0 and meets zero activations (see below), so it adds nothing.
 *  - Σ code·q − Σq = Σ w·q (spec §5.3, §9): the kernels work on unsigned codes and subtract the row sum of q.
 *  - γ is expanded at pack time to one float per (padded) row, so segments may end anywhere.
 * Activations are rows of K bytes; a kernel reads the last, partial tile (K not a multiple of 16; no real shape)
 * through a zero-padded copy. The back end computes Σq per row before calling the kernel. */
#ifndef TRIT_CPU_FAST_H
#define TRIT_CPU_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#define TRIT_T16_ROWS 16
#define TRIT_T16_COLS 16
#define TRIT_T16_BYTES 64

/* back-end side of a trit_tmat (w->aux) */
typedef struct trit_cpu_tmat {
    int32_t NB, KT;  /* row blocks, column tiles */
    float *rowscale; /* [NB*16] γ of each row (padding rows 0) */
} trit_cpu_tmat;

/* one ternary matmul job: y[m][n] (=|+=) ((float)(Σ code·q − qsum[m]) / s[m]) * rowscale[n] */
typedef struct trit_cpu_tq_args {
    const uint8_t *w;      /* T16 tiles */
    int32_t K, KT;         /* columns; tiles per row block (KT = ceil(K/16)) */
    const int8_t *q;       /* [M][K] activations */
    const int32_t *qsum;   /* [M] Σ_k q[m][k] */
    const float *s;        /* [M] activation scales */
    int32_t M, N;
    const float *rowscale; /* [NB*16] */
    float *y;              /* [M][N] */
    int accumulate;
    void *scratch;         /* this thread's kernel scratch (gemm_scratch bytes, 64-aligned) or NULL */
    size_t scratch_bytes;
} trit_cpu_tq_args;

/* A kernel set. Every entry is filled (generic C where an ISA has nothing better). Row-range entry points let
 * the back end split the work across threads. */
typedef struct trit_cpu_kernels {
    const char *name; /* "scalar", "avx2", "avx512", "amx", "neon" */
    /* row blocks [nb0, nb1) of a ternary matmul, all M rows */
    void (*tq_gemm)(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);
    /* per-thread scratch tq_gemm wants for K columns (NULL: none); the back end allocates it at tmat_pack */
    size_t (*gemm_scratch)(int32_t K);
    /* one row: q[K], *s = quantize(x[K]) (backend.h numerics, bit-exact) */
    void (*quantize_row)(const float *x, int32_t K, int8_t *q, float *s);
    /* one row of fused rmsnorm + quantize, bit-exact with ref up to the f64 sum-of-squares order */
    void (*rmsnorm_quantize_row)(const float *x, const float *w, int32_t K, float eps, int8_t *q, float *s);
    /* Σ_k q[k] */
    int32_t (*sum_i8)(const int8_t *q, int32_t K);
    /* f32 dot product and y += a*x */
    float (*dot_f32)(const float *a, const float *b, int32_t n);
    void (*axpy_f32)(float a, const float *x, float *y, int32_t n);
    /* attention over a block of tn cached positions, rows `stride` floats apart:
     * sc[t] = (q · k_t) * scale, and acc[D] += Σ_t p[t] * v_t */
    void (*attn_scores)(const float *q, const float *k, size_t stride, int32_t tn, int32_t D, float scale, float *sc);
    void (*attn_accum)(const float *p, const float *v, size_t stride, int32_t tn, int32_t D, float *acc);
    /* x[i] = exp(x[i] - m) for i < n, returns Σ x[i] (softmax weights; SIMD sets use a polynomial exp within
     * a few ulps of expf) */
    float (*exp_sub_sum)(float *x, int32_t n, float m);
    /* logits[m][v] for v in [v0, v1), all M rows: table [V][D] f32 or bf16, x [M][D], logits [M][V] */
    void (*lm_head_rows)(const void *table, trit_dtype dt, int32_t D, int32_t V, int32_t v0, int32_t v1,
                         const float *x, int32_t M, float *logits);
    /* out[f] = max(g,0)^2 * u for f < F (bit-exact with ref) */
    void (*relu2_mul)(const float *g, const float *u, int32_t F, float *out);
} trit_cpu_kernels;

/* ---- kernel sets (NULL when not compiled for this target) */
extern const trit_cpu_kernels trit_cpu_kernels_scalar;
const trit_cpu_kernels *trit_cpu_kernels_avx2(void);
const trit_cpu_kernels *trit_cpu_kernels_avx512(void);
const trit_cpu_kernels *trit_cpu_kernels_amx(void);
const trit_cpu_kernels *trit_cpu_kernels_neon(void);

/* generic C kernels, also the tails/fallbacks of the ISA files */
void trit_cpu_tq_gemm_generic(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);
void trit_cpu_quantize_row_generic(const float *x, int32_t K, int8_t *q, float *s);
void trit_cpu_rmsnorm_quantize_row_generic(const float *x, const float *w, int32_t K, float eps, int8_t *q,
                                           float *s);
int32_t trit_cpu_sum_i8_generic(const int8_t *q, int32_t K);
float trit_cpu_dot_f32_generic(const float *a, const float *b, int32_t n);
void trit_cpu_axpy_f32_generic(float a, const float *x, float *y, int32_t n);
float trit_cpu_exp_sub_sum_generic(float *x, int32_t n, float m);
void trit_cpu_attn_scores_generic(const float *q, const float *k, size_t stride, int32_t tn, int32_t D, float scale,
                                  float *sc);
void trit_cpu_attn_accum_generic(const float *p, const float *v, size_t stride, int32_t tn, int32_t D, float *acc);
void trit_cpu_lm_head_rows_generic(const void *table, trit_dtype dt, int32_t D, int32_t V, int32_t v0, int32_t v1,
                                   const float *x, int32_t M, float *logits);
void trit_cpu_relu2_mul_generic(const float *g, const float *u, int32_t F, float *out);
/* 1/rms of a row as ref computes it, given the f64 sum of squares */
float trit_cpu_rms_scale(double sumsq, int32_t K, float eps);

/* ---- ISA detection (CPUID + XGETBV on x86, HWCAP on Arm) */
typedef struct trit_cpu_features {
    int avx2, fma, avx512, avx512vnni, avxvnni, amx_int8; /* x86: usable (CPU, OS state, AMX permission) */
    int neon, dotprod;                                  /* Arm */
} trit_cpu_features;
void trit_cpu_detect(trit_cpu_features *f);

/* Best kernel set for this machine, or the one `isa` names ("scalar", "avx2", "avx512", "amx", "neon"; NULL or
 * "" = best; "amx" is never picked by default until it has been tested on an AMX machine).
 * NULL when `isa` is unknown or not usable here. */
const trit_cpu_kernels *trit_cpu_kernels_pick(const char *isa);

/* ---- thread pool: n-1 workers plus the caller. for() returns when fn has run over every item in [0, n_items),
 * handed out in chunks of `chunk` items to whichever thread claims them next (ith: the thread, 0 = the caller,
 * for per-thread scratch). One caller at a time; fn must not call back into the pool. */
typedef struct trit_pool trit_pool;
typedef void (*trit_pool_fn)(void *ctx, int64_t lo, int64_t hi, int ith);
trit_status trit_pool_create(int n_threads, trit_pool **out, trit_error *err);
void trit_pool_for(trit_pool *p, int64_t n_items, int64_t chunk, trit_pool_fn fn, void *ctx);
int trit_pool_size(const trit_pool *p);
void trit_pool_destroy(trit_pool *p);

/* ---- the back end with a chosen kernel set (tests and bench use this to test every ISA level) */
trit_status trit_cpu_backend_create_isa(int n_threads, const char *isa, trit_backend **out, trit_error *err);
/* the kernel set a "cpu" back end runs */
const trit_cpu_kernels *trit_cpu_backend_kernels(const trit_backend *be);

#endif
