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
 * through a zero-padded copy. The back end computes Σq per row before calling the kernel.
 *
 * Compact layout ("TQ1", 1.6 bits per weight, for bandwidth-bound decode; chosen per process, see
 * trit_cpu_backend_create_opts): the same 16-row blocks, columns in tiles of 20 (K padded to KT*20), tile (nb, kt)
 * 64 bytes at (nb*KT + kt)*64. Byte b holds five codes of row nb*16 + b/4: code j (j = 0..4) is that of column
 * kt*20 + 4j + b%4, packed base 3 as a fraction (llama.cpp's TQ1_0 trick): v = Σ_j code_j·3^(4-j) ∈ [0, 242],
 * byte = ceil(v·256/243); code j = (((uint8_t)(byte·3^j))·3) >> 8. Decoded plane j of a tile is, per 32-bit
 * lane l, the four codes of row l at columns 4j..4j+3: the vpdpbusd operand again, against q + kt*20 + 4j.
 *
 * Lookup-table layout ("TL", 2 bits per weight, for the pshufb kernel of lut_avx2.c; T-MAC / bitnet.cpp TL1
 * style, spec §5.4): 16-row blocks, columns in tiles of 8 (K padded to KT*8), tile (nb, kt) 32 bytes at
 * (nb*KT + kt)*32. Byte r (r < 16) holds row nb*16 + r: low nibble the index 3·c0 + c1 of the codes (c = w+1) at
 * columns kt*8 + 0, 1, high nibble that of columns 2, 3; byte 16 + r the same for columns 4, 5 and 6, 7. Padding
 * has index 4 (w = 0, 0). Per activation row the kernel looks the indices up in tables of the partial sums
 * w0·q0 + w1·q1 of each column pair, built once per matmul (trit_cpu_tl_ops.build): with q = 16·qh + ql
 * (qh = q >> 4 ∈ [-8, 7], ql = q & 15), one table of ±ql0 ± ql1 ∈ [-30, 30] and one of ±qh0 ± qh1 ∈ [-16, 16],
 * both exact in int8 (pshufb's element); the kernel adds 16·high + low in int16 and int32. Per tile the row's
 * tables are 4 × 32 bytes, TRIT_TL_LUT_BYTES: [ql pairs (0,1 | 4,5)], [qh same], [ql pairs (2,3 | 6,7)], [qh same],
 * each 16 int8 entries per 128-bit lane (entries 9..15 zero). */
#ifndef TRIT_CPU_FAST_H
#define TRIT_CPU_FAST_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

#define TRIT_T16_ROWS 16
#define TRIT_T16_COLS 16
#define TRIT_T16_BYTES 64
#define TRIT_TQ1_COLS 20
#define TRIT_TQ1_BYTES 64
#define TRIT_TL_COLS 8
#define TRIT_TL_BYTES 32
#define TRIT_TL_LUT_BYTES 128

/* weight layouts of a trit_cpu_tmat */
typedef enum { TRIT_CPU_T16 = 0, TRIT_CPU_TQ1 = 1, TRIT_CPU_TL = 2 } trit_cpu_layout;

/* back-end side of a trit_tmat (w->aux) */
typedef struct trit_cpu_tmat {
    trit_cpu_layout layout;
    int32_t NB, KT;  /* row blocks, column tiles (16 columns in T16, 20 in TQ1, 8 in TL) */
    float *rowscale; /* [NB*16] γ of each row (padding rows 0) */
} trit_cpu_tmat;

/* one ternary matmul job: y[m][n] (=|+=) ((float)(Σ code·q − qsum[m]) / s[m]) * rowscale[n] */
typedef struct trit_cpu_tq_args {
    const uint8_t *w;      /* T16 or TQ1 tiles (the kernel called knows which) */
    int32_t K, KT;         /* columns; tiles per row block (ceil(K/16) in T16, ceil(K/20) in TQ1) */
    const int8_t *q;       /* [M][K] activations */
    const int32_t *qsum;   /* [M] Σ_k q[m][k] */
    const float *s;        /* [M] activation scales */
    int32_t M, N;
    const float *rowscale; /* [NB*16] */
    float *y;              /* [M][N] */
    int accumulate;
    void *scratch;         /* this thread's kernel scratch (gemm_scratch bytes, 64-aligned) or NULL */
    size_t scratch_bytes;
    const int8_t *lut;     /* TL only: tables of row m at lut + m*lut_stride (KT*TRIT_TL_LUT_BYTES), 32-aligned */
    size_t lut_stride;
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
/* the same matmul over TQ1 tiles */
void trit_cpu_tq1_gemm_generic(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);
void trit_cpu_tq1_gemm_avx512(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1); /* x86/tq1_avx512.c */
/* TQ1: the byte of five codes c[0..4] ∈ {0,1,2}, and code j of a byte */
static inline uint8_t trit_tq1_encode(const uint8_t c[5]) {
    const unsigned v = (((c[0] * 3u + c[1]) * 3u + c[2]) * 3u + c[3]) * 3u + c[4];
    return (uint8_t)((v * 256u + 242u) / 243u);
}
static inline int trit_tq1_code(uint8_t byte, int j) {
    static const uint8_t pow3[5] = {1, 3, 9, 27, 81};
    return ((unsigned)(uint8_t)(byte * pow3[j]) * 3u) >> 8;
}
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
/* int8 LM head (TRIT_DT_I8ROW, backend.h): logits[m][v] = scale[v] * Σ_d q[v][d] * x[m][d] for v in [v0, v1),
 * all M rows; q [V][D], scale [V]. Kept out of the kernel tables (head_i8.c picks one per set by name). */
typedef void (*trit_cpu_head_i8_fn)(const int8_t *q, const float *scale, int32_t D, int32_t V, int32_t v0,
                                    int32_t v1, const float *x, int32_t M, float *logits);
void trit_cpu_head_i8_generic(const int8_t *q, const float *scale, int32_t D, int32_t V, int32_t v0, int32_t v1,
                              const float *x, int32_t M, float *logits);
void trit_cpu_head_i8_avx2(const int8_t *q, const float *scale, int32_t D, int32_t V, int32_t v0, int32_t v1,
                           const float *x, int32_t M, float *logits);
void trit_cpu_head_i8_avx512(const int8_t *q, const float *scale, int32_t D, int32_t V, int32_t v0, int32_t v1,
                             const float *x, int32_t M, float *logits);
trit_cpu_head_i8_fn trit_cpu_head_i8_pick(const trit_cpu_kernels *k);
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

/* the TQ1 matmul of a kernel set, NULL where the set has none (its back end then packs T16 whatever is asked) */
typedef void (*trit_cpu_tq_fn)(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);
trit_cpu_tq_fn trit_cpu_tq1_kernel(const trit_cpu_kernels *k);

/* the TL (lookup-table) matmul of a kernel set: gemm over TL tiles and the tables' builder (tiles [kt0, kt1) of
 * one activation row q[K] into lut); gemm NULL where the set has none, build NULL where gemm needs no tables */
typedef struct trit_cpu_tl_ops {
    trit_cpu_tq_fn gemm;
    void (*build)(const int8_t *q, int32_t K, int32_t kt0, int32_t kt1, int8_t *lut);
} trit_cpu_tl_ops;
trit_cpu_tl_ops trit_cpu_tl_kernel(const trit_cpu_kernels *k);
void trit_cpu_tl_gemm_generic(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);  /* reads q, not tables */
void trit_cpu_tl_gemm_avx2(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);     /* x86/lut_avx2.c */
void trit_cpu_tl_build_avx2(const int8_t *q, int32_t K, int32_t kt0, int32_t kt1, int8_t *lut);

/* ---- the back end with a chosen kernel set (tests and bench use this to test every ISA level) and weight
 * layout: `weights` "t16", "tq1", "tl", or NULL/"" = the measured default (see default_weights in
 * cpu_backend.c). "tq1" and "tl" fall back to T16 where the kernel set has no such kernel.
 * trit_backend_cpu_create reads TRIT_CPU_ISA and TRIT_CPU_WEIGHTS. */
trit_status trit_cpu_backend_create_opts(int n_threads, const char *isa, const char *weights, trit_backend **out,
                                         trit_error *err);
trit_status trit_cpu_backend_create_isa(int n_threads, const char *isa, trit_backend **out, trit_error *err);
/* the weight layout a "cpu" back end packs */
trit_cpu_layout trit_cpu_backend_layout(const trit_backend *be);
/* the kernel set a "cpu" back end runs */
const trit_cpu_kernels *trit_cpu_backend_kernels(const trit_backend *be);

#endif
