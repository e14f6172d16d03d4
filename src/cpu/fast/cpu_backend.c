/* cpu_backend.c — the fast CPU back end ("cpu"): host memory, the weight layouts (cpu.h: T16, the compact TQ1,
 * the lookup-table TL; one per back end, so weights are held once), a thread pool, and the op table. Hot ops run
 * the kernel set picked once at creation (ISA detection in dispatch.c); the cold ones
 * (embed, rmsnorm, kv_store, add, silu) call the reference functions, which are memory-bound copies anyway.
 * Compute ops allocate nothing, so they cannot fail: per-call scratch lives on the stack of the thread that runs an
 * item, and kernel scratch that depends on the weights (the AMX panels) is allocated by tmat_pack. Work is split
 * into items that the pool's threads claim dynamically (pool.c), which keeps a descheduled thread from stalling
 * the step on a shared machine. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/tmat_check.h"
#include "core/status.h"
#include "cpu/fast/cpu.h"
#include "cpu/ref/ref.h"

#define MM_CHUNK 64 /* activation rows per matmul work item (see the ternary matmul section) */

typedef struct cpu_impl {
    const trit_cpu_kernels *k;
    trit_cpu_layout layout; /* what tmat_pack packs */
    trit_cpu_tq_fn tq1;     /* the TQ1 matmul (layout TQ1) */
    trit_cpu_tl_ops tl;     /* the lookup-table matmul (layout TL) */
    int8_t *lut;            /* TL tables of MM_CHUNK activation rows (lut_bytes), grown by tmat_pack */
    size_t lut_bytes;
    trit_pool *pool;
    void **scratch;       /* [n_threads] kernel scratch (k->gemm_scratch), grown by tmat_pack */
    size_t scratch_bytes; /* of each */
} cpu_impl;

/* grows every thread's kernel scratch to `bytes` (64-aligned); the old buffers stay valid on failure */
static trit_status ensure_scratch(trit_backend *be, size_t bytes, trit_error *err) {
    cpu_impl *im = be->impl;
    if (bytes <= im->scratch_bytes)
        return TRIT_OK;
    bytes = (bytes + 63) / 64 * 64;
    for (int i = 0; i < be->n_threads; i++) {
        void *p = aligned_alloc(64, bytes);
        if (!p)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "cpu back end: cannot allocate %zu bytes of kernel scratch", bytes);
        free(im->scratch[i]);
        im->scratch[i] = p;
    }
    im->scratch_bytes = bytes;
    return TRIT_OK;
}

static cpu_impl *impl_of(trit_backend *be) { return (cpu_impl *)be->impl; }

// ------------------------------------------------------------------------------------------------ memory

static void *cpu_alloc(trit_backend *be, size_t bytes) {
    size_t n = (bytes + 63) / 64 * 64;
    return aligned_alloc(64, n ? n : 64);
}

static void cpu_free(trit_backend *be, void *p) { free(p); }

static trit_status cpu_copy(trit_backend *be, void *dst, const void *src, size_t bytes, trit_error *err) {
    if (bytes)
        memcpy(dst, src, bytes);
    return TRIT_OK;
}

static trit_status cpu_sync(trit_backend *be, trit_error *err) { return TRIT_OK; } // ops are synchronous

// ------------------------------------------------------------------------------------------------ weights

static void cpu_tmat_free(trit_backend *be, trit_tmat *w) {
    if (!w)
        return;
    trit_cpu_tmat *t = w->aux;
    if (t)
        free(t->rowscale);
    free(t);
    free(w->data);
    w->data = NULL;
    w->aux = NULL;
    w->bytes = 0;
}

typedef struct pack_job pack_job;
/* row n of the codes (row = codes + n·K, all in {-1,0,1}) into its bytes of the layout */
typedef void (*pack_row_fn)(const pack_job *j, int64_t n, const int8_t *row);
struct pack_job {
    const int8_t *codes;
    int32_t N, K, KT;
    uint8_t *data;
    pack_row_fn row;
    atomic_int bad; /* some thread saw a code outside {-1,0,1} */
};

/* TQ1 tiles (cpu.h); the row's missing columns of the last tile get code 1 (w = 0) — any code would do against
 * the zero-padded activations, 1 keeps the byte a valid fraction */
static void pack_row_tq1(const pack_job *j, int64_t n, const int8_t *row) {
    const int32_t K = j->K;
    uint8_t *o = j->data + (size_t)(n / TRIT_T16_ROWS) * j->KT * TRIT_TQ1_BYTES + 4 * (n % TRIT_T16_ROWS);
    for (int32_t kt = 0; kt < j->KT; kt++, o += TRIT_TQ1_BYTES)
        for (int b = 0; b < 4; b++) {
            uint8_t c[5];
            for (int i = 0; i < 5; i++) {
                const int32_t k = kt * TRIT_TQ1_COLS + 4 * i + b;
                c[i] = k < K ? (uint8_t)((row[k] + 1) & 3) : 1;
            }
            o[b] = trit_tq1_encode(c);
        }
}

/* TL tiles (cpu.h); missing columns get index 4 (w = 0, 0) */
static void pack_row_tl(const pack_job *j, int64_t n, const int8_t *row) {
    const int32_t K = j->K;
    uint8_t *o = j->data + (size_t)(n / TRIT_T16_ROWS) * j->KT * TRIT_TL_BYTES + n % TRIT_T16_ROWS;
    for (int32_t kt = 0; kt < j->KT; kt++, o += TRIT_TL_BYTES)
        for (int lane = 0; lane < 2; lane++) {
            int idx[2];
            for (int h = 0; h < 2; h++) {
                const int32_t k = kt * TRIT_TL_COLS + 4 * lane + 2 * h;
                const int c0 = k < K ? (row[k] + 1) & 3 : 1, c1 = k + 1 < K ? (row[k + 1] + 1) & 3 : 1;
                idx[h] = 3 * c0 + c1;
            }
            o[16 * lane] = (uint8_t)(idx[0] | idx[1] << 4);
        }
}

/* T16 tiles; every byte of a valid row is written once (no read-modify-write) */
static void pack_row_t16(const pack_job *j, int64_t n, const int8_t *row) {
    const int32_t K = j->K, KF = K / TRIT_T16_COLS;
    uint8_t *o = j->data + (size_t)(n / TRIT_T16_ROWS) * j->KT * TRIT_T16_BYTES + 4 * (n % TRIT_T16_ROWS);
    for (int32_t kt = 0; kt < KF; kt++, o += TRIT_T16_BYTES) {
        // byte b of the row's word: columns b, 4+b, 8+b, 12+b of the tile in bits 1:0 .. 7:6. Four codes at
        // a time as a 32-bit word: ((c & 3) + 1) & 3 maps -1, 0, 1 to 0, 1, 2 per byte without carries,
        // and the shifts by 2, 4, 6 of values <= 3 stay inside their byte.
        uint32_t v[4];
        memcpy(v, row + (size_t)kt * TRIT_T16_COLS, sizeof v);
        for (int i = 0; i < 4; i++)
            v[i] = ((v[i] & 0x03030303u) + 0x01010101u) & 0x03030303u;
        const uint32_t word = v[0] | v[1] << 2 | v[2] << 4 | v[3] << 6;
        memcpy(o, &word, sizeof word); // every step is byte-wise, so this is right on either endianness
    }
    if (KF < j->KT) // last partial tile: missing columns get code 0 (they meet zero activations)
        for (int b = 0; b < 4; b++) {
            unsigned v = 0;
            for (int i = 0; i < 4; i++) {
                int32_t k = KF * TRIT_T16_COLS + 4 * i + b;
                if (k < K)
                    v |= (unsigned)((row[k] + 1) & 3) << (2 * i);
            }
            o[b] = (uint8_t)v;
        }
}

/* rows [lo, hi) of codes through the job's row packer, checking every code on the way (a vectorisable loop:
 * code + 1 must be 0, 1 or 2); a row with a bad code is still packed, the caller rejects the whole matrix */
static void pack_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    pack_job *j = ctx;
    const int32_t K = j->K;
    unsigned bad = 0;
    for (int64_t n = lo; n < hi; n++) {
        const int8_t *row = j->codes + (size_t)n * K;
        for (int32_t k = 0; k < K; k++)
            bad |= (uint8_t)(row[k] + 1) > 2;
        j->row(j, n, row);
    }
    if (bad)
        atomic_store(&j->bad, 1);
}

static trit_status cpu_tmat_pack(trit_backend *be, trit_tmat *w, const int8_t *codes, trit_error *err) {
    // codes: [N][K] int8 ∈ {-1,0,+1} -> T16 tiles (cpu.h), packed by all threads
    w->data = NULL;
    w->aux = NULL;
    w->bytes = 0;
    TRIT_TRY(trit_tmat_check(w, err));
    cpu_impl *im = impl_of(be);
    if (im->k->gemm_scratch)
        TRIT_TRY(ensure_scratch(be, im->k->gemm_scratch(w->K), err));
    const trit_cpu_layout layout = im->layout;
    const int cols = layout == TRIT_CPU_TQ1 ? TRIT_TQ1_COLS : layout == TRIT_CPU_TL ? TRIT_TL_COLS : TRIT_T16_COLS;
    const int tbytes = layout == TRIT_CPU_TL ? TRIT_TL_BYTES : TRIT_T16_BYTES; // per tile
    const int32_t NB = (w->N + TRIT_T16_ROWS - 1) / TRIT_T16_ROWS, KT = (w->K + cols - 1) / cols;
    const size_t bytes = (size_t)NB * KT * tbytes, block = (size_t)KT * tbytes;
    if (layout == TRIT_CPU_TL && im->tl.build && (size_t)MM_CHUNK * KT * TRIT_TL_LUT_BYTES > im->lut_bytes) {
        const size_t lb = (size_t)MM_CHUNK * KT * TRIT_TL_LUT_BYTES; // the tables of a chunk of rows
        int8_t *lut = aligned_alloc(64, lb);
        if (!lut)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "ternary matrix [%d][%d]: cannot allocate %zu bytes of tables",
                             (int)w->N, (int)w->K, lb);
        free(im->lut);
        im->lut = lut;
        im->lut_bytes = lb;
    }
    trit_cpu_tmat *t = calloc(1, sizeof *t);
    uint8_t *data = aligned_alloc(64, (bytes + 63) / 64 * 64); // TL sizes are multiples of 32 only
    float *rs = t ? calloc((size_t)NB * TRIT_T16_ROWS, sizeof(float)) : NULL;
    if (!t || !data || !rs) {
        free(t);
        free(data);
        free(rs);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "ternary matrix [%d][%d]: cannot allocate %zu bytes", (int)w->N,
                         (int)w->K, bytes);
    }
    // the last row block may have padding rows (rowscale 0): code 0, or index 4 (w = 0, 0) in TL
    memset(data + bytes - block, layout == TRIT_CPU_TL ? 0x44 : 0, block);
    pack_job pj = {.codes = codes,
                   .N = w->N,
                   .K = w->K,
                   .KT = KT,
                   .data = data,
                   .row = layout == TRIT_CPU_TQ1 ? pack_row_tq1 : layout == TRIT_CPU_TL ? pack_row_tl : pack_row_t16};
    atomic_init(&pj.bad, 0);
    trit_pool_for(im->pool, w->N, 64, pack_work, &pj);
    if (atomic_load(&pj.bad)) { // find the first offender for the message
        for (size_t i = 0; i < (size_t)w->N * w->K; i++)
            if ((uint8_t)(codes[i] + 1) > 2) {
                free(t);
                free(data);
                free(rs);
                return TRIT_FAIL(err, TRIT_E_ARG, "ternary matrix [%d][%d]: code %d at [%zu][%zu] is not -1, 0 or 1",
                                 (int)w->N, (int)w->K, (int)codes[i], i / (size_t)w->K, i % (size_t)w->K);
            }
    }
    for (int32_t n = 0, seg = 0; n < w->N; n++) {
        while (n >= w->seg_end[seg])
            seg++;
        rs[n] = w->seg_scale[seg];
    }
    t->layout = layout;
    t->NB = NB;
    t->KT = KT;
    t->rowscale = rs;
    w->data = data;
    w->bytes = bytes;
    w->aux = t;
    return TRIT_OK;
}

// ------------------------------------------------------------------------------------------------ quantize

typedef struct {
    const trit_cpu_kernels *k;
    const float *x, *w;
    int32_t M, K;
    float eps;
    int8_t *q;
    float *s;
} quant_job;

static void quant_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    quant_job *j = ctx;
    for (int64_t m = lo; m < hi; m++) {
        const float *xm = j->x + (size_t)m * j->K;
        if (j->w)
            j->k->rmsnorm_quantize_row(xm, j->w, j->K, j->eps, j->q + (size_t)m * j->K, &j->s[m]);
        else
            j->k->quantize_row(xm, j->K, j->q + (size_t)m * j->K, &j->s[m]);
    }
}

static void run_quant(trit_backend *be, quant_job *j) {
    cpu_impl *im = impl_of(be);
    // a row takes about a microsecond: fewer than 4 rows are not worth waking the workers
    trit_pool_for(im->pool, j->M, j->M < 4 ? 4 : 1, quant_work, j);
}

static void cpu_quantize(trit_backend *be, const float *x, int32_t M, int32_t K, int8_t *q, float *s) {
    quant_job j = {impl_of(be)->k, x, NULL, M, K, 0.0f, q, s};
    run_quant(be, &j);
}

static void cpu_rmsnorm_quantize(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps,
                                 int8_t *q, float *s) {
    quant_job j = {impl_of(be)->k, x, w, M, K, eps, q, s};
    run_quant(be, &j);
}

// ------------------------------------------------------------------------------------------------ ternary matmul

/* Work items: (chunk of MM_CHUNK activation rows, group of row blocks). The rows' Σq lives on the stack of
 * whoever takes the item, and a chunk of q rows (64 × K bytes) stays in L2 while the row blocks stream past.
 * Groups are even (GEMM kernels pair blocks): 4 blocks for GEMM (tens of µs each); 16 for GEMV, so that each
 * thread streams long runs of weights (the prefetchers' best case), a few µs per item. */
#define MM_GROUP_GEMM 4
#define MM_GROUP_GEMV 16

typedef struct {
    const trit_cpu_kernels *k;
    const cpu_impl *im;
    const trit_tmat *w;
    const int8_t *q;
    const float *s;
    int32_t M;
    float *y;
    int accumulate;
    const int8_t *lut; /* TL tables of rows [0, M) (M <= MM_CHUNK then), or NULL */
    size_t lut_stride;
} mm_job;

/* TL tables: items are (row, run of LUT_TILES tiles) so that one row's tables are built by all threads */
#define LUT_TILES 64

typedef struct {
    const trit_cpu_tl_ops *tl;
    const int8_t *q;
    int32_t K, KT, runs;
    int8_t *lut;
} lut_job;

static void lut_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    lut_job *j = ctx;
    for (int64_t it = lo; it < hi; it++) {
        const int32_t m = (int32_t)(it / j->runs), kt0 = (int32_t)(it % j->runs) * LUT_TILES;
        const int32_t kt1 = kt0 + LUT_TILES < j->KT ? kt0 + LUT_TILES : j->KT;
        j->tl->build(j->q + (size_t)m * j->K, j->K, kt0, kt1, j->lut + (size_t)m * j->KT * TRIT_TL_LUT_BYTES);
    }
}

static void mm_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    mm_job *j = ctx;
    const trit_cpu_tmat *t = j->w->aux;
    const int32_t K = j->w->K, N = j->w->N, G = j->M == 1 ? MM_GROUP_GEMV : MM_GROUP_GEMM;
    const int32_t groups = (t->NB + G - 1) / G;
    int32_t qsum[MM_CHUNK], qsum_chunk = -1;
    for (int64_t it = lo; it < hi; it++) {
        const int32_t mchunk = (int32_t)(it / groups), g = (int32_t)(it % groups);
        const int32_t m0 = mchunk * MM_CHUNK, mc = j->M - m0 < MM_CHUNK ? j->M - m0 : MM_CHUNK;
        const int32_t nb0 = g * G, nb1 = nb0 + G < t->NB ? nb0 + G : t->NB;
        if (qsum_chunk != mchunk) { // consecutive items mostly share the row chunk
            for (int32_t m = 0; m < mc; m++)
                qsum[m] = j->k->sum_i8(j->q + (size_t)(m0 + m) * K, K);
            qsum_chunk = mchunk;
        }
        trit_cpu_tq_args a = {
            .w = j->w->data,
            .K = K,
            .KT = t->KT,
            .q = j->q + (size_t)m0 * K,
            .qsum = qsum,
            .s = j->s + m0,
            .M = mc,
            .N = N,
            .rowscale = t->rowscale,
            .y = j->y + (size_t)m0 * N,
            .accumulate = j->accumulate,
            .scratch = j->im->scratch ? j->im->scratch[ith] : NULL,
            .scratch_bytes = j->im->scratch_bytes,
            .lut = j->lut ? j->lut + (size_t)m0 * j->lut_stride : NULL,
            .lut_stride = j->lut_stride,
        };
        if (t->layout == TRIT_CPU_TQ1)
            j->im->tq1(&a, nb0, nb1);
        else if (t->layout == TRIT_CPU_TL)
            j->im->tl.gemm(&a, nb0, nb1);
        else
            j->k->tq_gemm(&a, nb0, nb1);
    }
}

static void cpu_matmul_tq(trit_backend *be, const trit_tmat *w, const int8_t *q, const float *s, int32_t M,
                          float *y, int accumulate) {
    cpu_impl *im = impl_of(be);
    const trit_cpu_tmat *t = w->aux;
    const int32_t G = M == 1 ? MM_GROUP_GEMV : MM_GROUP_GEMM;
    if (t->layout == TRIT_CPU_TL && im->tl.build) { // tables of a chunk of rows, then that chunk's matmul
        for (int32_t m0 = 0; m0 < M; m0 += MM_CHUNK) {
            const int32_t mc = M - m0 < MM_CHUNK ? M - m0 : MM_CHUNK;
            lut_job lj = {&im->tl, q + (size_t)m0 * w->K, w->K, t->KT, (t->KT + LUT_TILES - 1) / LUT_TILES,
                          im->lut};
            trit_pool_for(im->pool, (int64_t)mc * lj.runs, 1, lut_work, &lj);
            mm_job j = {im->k, im, w, q + (size_t)m0 * w->K, s + m0, mc, y + (size_t)m0 * w->N, accumulate,
                        im->lut, (size_t)t->KT * TRIT_TL_LUT_BYTES};
            trit_pool_for(im->pool, (t->NB + G - 1) / G, 1, mm_work, &j);
        }
        return;
    }
    mm_job j = {im->k, im, w, q, s, M, y, accumulate, NULL, 0};
    const int64_t items = (int64_t)((M + MM_CHUNK - 1) / MM_CHUNK) * ((t->NB + G - 1) / G);
    trit_pool_for(im->pool, items, 1, mm_work, &j);
}

// ------------------------------------------------------------------------------------------------ rope

#define ROPE_MAX_HALF 512

typedef struct {
    float *x;
    int32_t M, n_heads, D, stride;
    const int32_t *pos;
    const float *inv_freq;
} rope_job;

static void rope_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    rope_job *j = ctx;
    const int32_t half = j->D / 2;
    float c[ROPE_MAX_HALF], sn[ROPE_MAX_HALF];
    for (int64_t m = lo; m < hi; m++) {
        for (int32_t i = 0; i < half; i++) { // the same expressions as ref, so bit-identical angles
            float angle = (float)j->pos[m] * j->inv_freq[i];
            c[i] = cosf(angle);
            sn[i] = sinf(angle);
        }
        for (int32_t h = 0; h < j->n_heads; h++) {
            float *xh = j->x + (size_t)m * j->stride + (size_t)h * j->D;
            for (int32_t i = 0; i < half; i++) {
                float x0 = xh[i], x1 = xh[i + half];
                xh[i] = x0 * c[i] - x1 * sn[i];
                xh[i + half] = x1 * c[i] + x0 * sn[i];
            }
        }
    }
}

static void cpu_rope(trit_backend *be, float *x, int32_t M, int32_t n_heads, int32_t D, int32_t stride,
                     const int32_t *pos, float theta) {
    if (D / 2 > ROPE_MAX_HALF || D % 2) {
        trit_ref_rope(x, M, n_heads, D, stride, pos, theta);
        return;
    }
    float inv_freq[ROPE_MAX_HALF];
    for (int32_t i = 0; i < D / 2; i++)
        inv_freq[i] = trit_ref_rope_inv_freq(theta, i, D);
    rope_job j = {x, M, n_heads, D, stride, pos, inv_freq};
    trit_pool_for(impl_of(be)->pool, M, 1, rope_work, &j);
}

// ------------------------------------------------------------------------------------------------ attention

#define ATT_MAX_D 256      /* head_dim of the output accumulators on the stack; larger falls back to ref */
#define ATT_BLOCK 32       /* positions per block: 32 rows of K and of V at D = 128 take 32 KB, L1-resident */
#define ATT_GROUP 4        /* query heads of one kv head handled together; larger groups are split */
#define ATT_ROWS 8         /* query rows of one sequence handled together */
#define ATT_MAX_GROUPS 512 /* row groups per pool run (stack array); more rows take several runs */

typedef struct {
    const trit_cpu_kernels *k;
    const trit_kvcache *kv;
    int32_t layer;
    const float *q;
    int32_t q_stride, n_heads;
    const int32_t *seq, *pos;
    float *out;
    int32_t chunks;          /* head chunks per kv head */
    const int32_t *item_row; /* [n_groups+1] row groups (rows of a group share seq) */
    int32_t n_groups;
} att_job;

/* rows [m0, m0+mr) of one sequence and query heads [h0, h0+nh) that share kv head `kvh`: softmax(q·Kᵀ/√D)·V over
 * positions 0..pos[m], as an online softmax over blocks of positions. Each block of K and V is brought into L1
 * once for all rows and heads of the item instead of streaming the cache from L3 per (row, head). The maths is
 * ref's up to the order of the float sums. */
static void att_item(const att_job *j, int32_t m0, int32_t mr, int32_t h0, int32_t nh, int32_t kvh) {
    const trit_kvcache *kv = j->kv;
    const int32_t D = kv->head_dim;
    const float scale = 1.0f / sqrtf((float)D);
    const size_t tstride = (size_t)kv->n_kv_heads * D;
    const float *kb = kv->k + trit_kv_offset(kv, j->layer, j->seq[m0], 0) + (size_t)kvh * D;
    const float *vb = kv->v + trit_kv_offset(kv, j->layer, j->seq[m0], 0) + (size_t)kvh * D;
    float acc[ATT_ROWS][ATT_GROUP][ATT_MAX_D], sc[ATT_BLOCK];
    float run_max[ATT_ROWS][ATT_GROUP], run_sum[ATT_ROWS][ATT_GROUP];
    int32_t T = 0;
    for (int32_t r = 0; r < mr; r++) {
        T = j->pos[m0 + r] + 1 > T ? j->pos[m0 + r] + 1 : T;
        for (int32_t g = 0; g < nh; g++) {
            memset(acc[r][g], 0, sizeof(float) * (size_t)D);
            run_max[r][g] = -INFINITY;
            run_sum[r][g] = 0.0f;
        }
    }
    for (int32_t t0 = 0; t0 < T; t0 += ATT_BLOCK) {
        for (int32_t r = 0; r < mr; r++) {
            const int32_t Tr = j->pos[m0 + r] + 1; // causal: this row sees positions < Tr
            if (t0 >= Tr)
                continue;
            const int32_t tn = Tr - t0 < ATT_BLOCK ? Tr - t0 : ATT_BLOCK;
            for (int32_t g = 0; g < nh; g++) {
                const float *qh = j->q + (size_t)(m0 + r) * j->q_stride + (size_t)(h0 + g) * D;
                j->k->attn_scores(qh, kb + (size_t)t0 * tstride, tstride, tn, D, scale, sc);
                float bmax = -INFINITY;
                for (int32_t t = 0; t < tn; t++)
                    bmax = sc[t] > bmax ? sc[t] : bmax; // (fmaxf is a libm call here)
                if (bmax > run_max[r][g]) { // rescale what was accumulated under the old maximum
                    const float f = expf(run_max[r][g] - bmax);
                    run_sum[r][g] *= f;
                    for (int32_t d = 0; d < D; d++)
                        acc[r][g][d] *= f;
                    run_max[r][g] = bmax;
                }
                run_sum[r][g] += j->k->exp_sub_sum(sc, tn, run_max[r][g]);
                j->k->attn_accum(sc, vb + (size_t)t0 * tstride, tstride, tn, D, acc[r][g]);
            }
        }
    }
    for (int32_t r = 0; r < mr; r++)
        for (int32_t g = 0; g < nh; g++) {
            float *oh = j->out + (size_t)(m0 + r) * j->n_heads * D + (size_t)(h0 + g) * D;
            for (int32_t d = 0; d < D; d++)
                oh[d] = acc[r][g][d] / run_sum[r][g];
        }
}

/* work items: (row group, kv head, chunk of its query heads) */
static void att_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    att_job *j = ctx;
    const int32_t n_kv = j->kv->n_kv_heads, group = j->n_heads / n_kv, per = n_kv * j->chunks;
    for (int64_t i = lo; i < hi; i++) {
        const int32_t gi = (int32_t)(i / per), rem = (int32_t)(i % per);
        const int32_t kvh = rem / j->chunks, c = rem % j->chunks;
        const int32_t m0 = j->item_row[gi], mr = j->item_row[gi + 1] - m0;
        const int32_t h0 = kvh * group + c * ATT_GROUP;
        const int32_t nh = group - c * ATT_GROUP < ATT_GROUP ? group - c * ATT_GROUP : ATT_GROUP;
        att_item(j, m0, mr, h0, nh, kvh);
    }
}

static void cpu_attention(trit_backend *be, const trit_kvcache *kv, int32_t layer, const float *q, int32_t q_stride,
                          int32_t n_heads, const int32_t *seq, const int32_t *pos, int32_t M, float *out) {
    if (kv->head_dim > ATT_MAX_D) {
        trit_ref_attention(kv, layer, q, q_stride, n_heads, seq, pos, M, out);
        return;
    }
    cpu_impl *im = impl_of(be);
    const int32_t group = n_heads / kv->n_kv_heads;
    int32_t item_row[ATT_MAX_GROUPS + 1];
    for (int32_t m = 0; m < M;) {
        int32_t ng = 0; // groups of consecutive rows of one sequence, ATT_ROWS at most
        item_row[0] = m;
        while (m < M && ng < ATT_MAX_GROUPS) {
            int32_t e = m + 1;
            while (e < M && e - m < ATT_ROWS && seq[e] == seq[m])
                e++;
            item_row[++ng] = e;
            m = e;
        }
        att_job j = {.k = im->k, .kv = kv, .layer = layer, .q = q, .q_stride = q_stride, .n_heads = n_heads,
                     .seq = seq, .pos = pos, .out = out, .chunks = (group + ATT_GROUP - 1) / ATT_GROUP,
                     .item_row = item_row, .n_groups = ng};
        trit_pool_for(im->pool, (int64_t)ng * kv->n_kv_heads * j.chunks, 1, att_work, &j);
    }
}

// ------------------------------------------------------------------------------------------------ glu, lm_head

typedef struct {
    const trit_cpu_kernels *k;
    const float *gu;
    int32_t M, F;
    trit_act act;
    float *out;
} glu_job;

#define GLU_CHUNK 2048 /* elements per item when one row is split (decode) */

static void glu_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    glu_job *j = ctx;
    if (j->M == 1) { // decode: items are pieces of the row
        lo *= GLU_CHUNK;
        hi = hi * GLU_CHUNK < j->F ? hi * GLU_CHUNK : j->F;
        if (j->act == TRIT_ACT_RELU2)
            j->k->relu2_mul(j->gu + lo, j->gu + j->F + lo, (int32_t)(hi - lo), j->out + lo);
        else
            for (int64_t f = lo; f < hi; f++) { // silu: the reference expression, element by element
                float g = j->gu[f], a = g / (1.0f + expf(-g));
                j->out[f] = a * j->gu[j->F + f];
            }
        return;
    }
    for (int64_t m = lo; m < hi; m++) {
        const float *g = j->gu + (size_t)m * 2 * j->F;
        if (j->act == TRIT_ACT_RELU2)
            j->k->relu2_mul(g, g + j->F, j->F, j->out + (size_t)m * j->F);
        else
            trit_ref_glu(g, 1, j->F, j->act, j->out + (size_t)m * j->F);
    }
}

static void cpu_glu(trit_backend *be, const float *gu, int32_t M, int32_t F, trit_act act, float *out) {
    cpu_impl *im = impl_of(be);
    glu_job j = {im->k, gu, M, F, act, out};
    trit_pool_for(im->pool, M == 1 ? (F + GLU_CHUNK - 1) / GLU_CHUNK : M, 1, glu_work, &j);
}

typedef struct {
    const trit_cpu_kernels *k;
    const void *table;
    trit_dtype dt;
    int32_t V, D;
    const float *x;
    int32_t M;
    float *logits;
    trit_cpu_head_i8_fn i8; /* the int8 head kernel (dt == TRIT_DT_I8ROW) */
} head_job;

#define HEAD_CHUNK 64 /* vocabulary rows per item: 320 KB of a 2560-wide bf16 table */

static void head_work(void *ctx, int64_t lo, int64_t hi, int ith) {
    head_job *j = ctx;
    lo *= HEAD_CHUNK;
    hi = hi * HEAD_CHUNK < j->V ? hi * HEAD_CHUNK : j->V;
    if (j->dt == TRIT_DT_I8ROW) {
        const float *scale = (const float *)((const char *)j->table + trit_i8row_scale_offset(j->V, j->D));
        j->i8(j->table, scale, j->D, j->V, (int32_t)lo, (int32_t)hi, j->x, j->M, j->logits);
        return;
    }
    j->k->lm_head_rows(j->table, j->dt, j->D, j->V, (int32_t)lo, (int32_t)hi, j->x, j->M, j->logits);
}

static void cpu_lm_head(trit_backend *be, const void *table, trit_dtype dt, int32_t V, int32_t D, const float *x,
                        int32_t M, float *logits) {
    cpu_impl *im = impl_of(be);
    head_job j = {im->k, table, dt, V, D, x, M, logits, trit_cpu_head_i8_pick(im->k)};
    trit_pool_for(im->pool, (V + HEAD_CHUNK - 1) / HEAD_CHUNK, 1, head_work, &j);
}

// ------------------------------------------------------------------------------------------------ cold ops (ref)

static void cpu_embed(trit_backend *be, const void *table, trit_dtype dt, int32_t D, const int32_t *tokens,
                      int32_t M, float *out) {
    trit_ref_embed(table, dt, D, tokens, M, out);
}

static void cpu_rmsnorm(trit_backend *be, const float *x, const float *w, int32_t M, int32_t K, float eps,
                        float *y) {
    trit_ref_rmsnorm(x, w, M, K, eps, y);
}

static void cpu_kv_store(trit_backend *be, trit_kvcache *kv, int32_t layer, const float *k, const float *v,
                         int32_t stride, const int32_t *seq, const int32_t *pos, int32_t M) {
    trit_ref_kv_store(kv, layer, k, v, stride, seq, pos, M);
}

static void cpu_add(trit_backend *be, float *h, const float *x, size_t n) { trit_ref_add(h, x, n); }

// ------------------------------------------------------------------------------------------------ lifecycle

static void cpu_destroy(trit_backend *be) {
    if (!be)
        return;
    cpu_impl *im = be->impl;
    if (im) {
        trit_pool_destroy(im->pool);
        for (int i = 0; im->scratch && i < be->n_threads; i++)
            free(im->scratch[i]);
        free(im->scratch);
        free(im->lut);
    }
    free(im);
    free(be);
}

static const trit_backend_ops cpu_ops = {
    .name = "cpu",
    .host_memory = 1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy,
    .download = cpu_copy,
    .sync = cpu_sync,
    .tmat_pack = cpu_tmat_pack,
    .tmat_free = cpu_tmat_free,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .quantize = cpu_quantize,
    .rmsnorm_quantize = cpu_rmsnorm_quantize,
    .matmul_tq = cpu_matmul_tq,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .glu = cpu_glu,
    .add = cpu_add,
    .lm_head = cpu_lm_head,
    .destroy = cpu_destroy,
};

const trit_cpu_kernels *trit_cpu_backend_kernels(const trit_backend *be) {
    return ((const cpu_impl *)be->impl)->k;
}

static int online_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

trit_cpu_layout trit_cpu_backend_layout(const trit_backend *be) { return ((const cpu_impl *)be->impl)->layout; }

/* Weight layout when none is asked for (TRIT_CPU_WEIGHTS overrides), measured on the 2-core Zen 5 machine with
 * bench_kernels --layout:
 *  - avx512: TQ1. Decode GEMV is bandwidth-bound; TQ1 reads 20% fewer bytes and its decode still runs at 33 GB/s of
 *    weights per core (T16: 60), so the 2B-4T GEMVs take 3-16% less time; prefill GEMM from TQ1 is 1-5% slower
 *    (its decode is shared by 16 multiply-adds); weight memory is 20% smaller.
 *  - avx2: T16. The TL lookup kernel is 14% faster than vpmaddubsw when both run from cache, but from DRAM both
 *    stream at the same ~23 GB/s (within ±3%), and its prefill GEMM is ~45% slower (a row's tables at a time).
 *  - amx keeps T16 for its tiles; neon has T16 kernels only; scalar keeps T16 (its TQ1 and TL kernels are plain C,
 *    there for the tests and TRIT_CPU_WEIGHTS). */
static const char *default_weights(const trit_cpu_kernels *k) {
    return !strcmp(k->name, "avx512") && trit_cpu_tq1_kernel(k) ? "tq1" : "t16";
}

trit_status trit_cpu_backend_create_opts(int n_threads, const char *isa, const char *weights, trit_backend **out,
                                         trit_error *err) {
    *out = NULL;
    const trit_cpu_kernels *k = trit_cpu_kernels_pick(isa);
    if (!k)
        return TRIT_FAIL(err, TRIT_E_BACKEND, "cpu back end: kernel set '%s' is unknown or not usable on this CPU",
                         isa ? isa : "");
    if (!weights || !*weights)
        weights = default_weights(k);
    if (strcmp(weights, "t16") && strcmp(weights, "tq1") && strcmp(weights, "tl"))
        return TRIT_FAIL(err, TRIT_E_BACKEND, "cpu back end: weight layout '%s' is unknown (t16, tq1 or tl)",
                         weights);
    if (n_threads <= 0)
        n_threads = online_cores();
    trit_backend *be = calloc(1, sizeof *be);
    cpu_impl *im = calloc(1, sizeof *im);
    if (!be || !im) {
        free(be);
        free(im);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "cpu back end: out of memory");
    }
    im->k = k;
    im->tq1 = trit_cpu_tq1_kernel(k);
    im->tl = trit_cpu_tl_kernel(k);
    im->layout = !strcmp(weights, "tq1") && im->tq1 ? TRIT_CPU_TQ1
                 : !strcmp(weights, "tl") && im->tl.gemm ? TRIT_CPU_TL
                                                         : TRIT_CPU_T16;
    im->scratch = calloc((size_t)n_threads, sizeof(void *));
    trit_status st = im->scratch ? trit_pool_create(n_threads, &im->pool, err)
                                 : TRIT_FAIL(err, TRIT_E_NOMEM, "cpu back end: out of memory");
    if (st != TRIT_OK) {
        free(im->scratch);
        free(be);
        free(im);
        return st;
    }
    be->ops = &cpu_ops;
    be->n_threads = n_threads;
    be->impl = im;
    *out = be;
    return TRIT_OK;
}

trit_status trit_cpu_backend_create_isa(int n_threads, const char *isa, trit_backend **out, trit_error *err) {
    return trit_cpu_backend_create_opts(n_threads, isa, NULL, out, err);
}

trit_status trit_backend_cpu_create(int n_threads, trit_backend **out, trit_error *err) {
    return trit_cpu_backend_create_opts(n_threads, getenv("TRIT_CPU_ISA"), getenv("TRIT_CPU_WEIGHTS"), out, err);
}
