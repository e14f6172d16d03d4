/* test_cuda_ops.c — every op of the "cuda" back end (and its extra fused ops, cuda/cuda.h) against the ref op
 * (cpu/ref/ref.h) on fresh random inputs at odd and real shapes. Integer results (int8 q, the scales s, the y of
 * matmul_tq, which both compute as (float)acc / s * γ in that order) are compared with memcmp; float ops with
 * NMSE and max error, each limit with its reason. Without a GPU every case is skipped (cmocka skip). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/fp16.h"
#include "cpu/ref/ref.h"
#include "cuda/cuda.h"

static trit_backend *be;
static uint64_t rng_state;

// ------------------------------------------------------------------------------------------------ helpers

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }
static void fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = frand(lo, hi);
}
static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

#define SKIP_WITHOUT_GPU() \
    do {                   \
        if (!be)           \
            skip();        \
    } while (0)

/* device copy of host data */
static void *up(const void *host, size_t bytes) {
    void *d = be->ops->alloc(be, bytes);
    assert_non_null(d);
    trit_error err;
    assert_int_equal(be->ops->upload(be, d, host, bytes, &err), TRIT_OK);
    return d;
}
static void down(void *host, const void *dev, size_t bytes) {
    trit_error err;
    trit_status st = be->ops->sync(be, &err);
    if (st != TRIT_OK)
        fail_msg("cuda sync: %s (%s)", err.msg, err.where);
    assert_int_equal(be->ops->download(be, host, dev, bytes, &err), TRIT_OK);
}

/* NMSE = Σ(a-b)² / Σb²; prints the first mismatching element when over the limit */
static void check_close(const char *what, const float *got, const float *want, size_t n, double nmse_max) {
    double num = 0, den = 0, maxd = 0;
    size_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(want[i]))
            fail_msg("%s: NaN at %zu (got %g, want %g)", what, i, (double)got[i], (double)want[i]);
        double d = (double)got[i] - (double)want[i];
        num += d * d;
        den += (double)want[i] * want[i];
        if (fabs(d) > maxd)
            maxd = fabs(d), worst = i;
    }
    double nmse = den > 0 ? num / den : num;
    if (nmse > nmse_max)
        fail_msg("%s: NMSE %.3g > %.3g (max |diff| %.3g at %zu: got %.9g want %.9g)", what, nmse, nmse_max, maxd,
                 worst, (double)got[worst], (double)want[worst]);
}

static void check_bytes(const char *what, const void *got, const void *want, size_t bytes, size_t elem) {
    if (memcmp(got, want, bytes) == 0)
        return;
    const uint8_t *a = got, *b = want;
    size_t i = 0;
    while (a[i] == b[i])
        i++;
    size_t e = i / elem;
    if (elem == 4) {
        float fa, fb;
        memcpy(&fa, a + e * 4, 4);
        memcpy(&fb, b + e * 4, 4);
        fail_msg("%s: element %zu differs (got %.9g, want %.9g)", what, e, (double)fa, (double)fb);
    }
    if (elem == 2) {
        uint16_t ha, hb;
        memcpy(&ha, a + e * 2, 2);
        memcpy(&hb, b + e * 2, 2);
        fail_msg("%s: element %zu differs (got bf16 0x%04x = %.9g, want 0x%04x = %.9g)", what, e, ha,
                 (double)trit_bf16_to_f32(ha), hb, (double)trit_bf16_to_f32(hb));
    }
    fail_msg("%s: element %zu differs (got %d, want %d)", what, e, (int)(int8_t)a[e], (int)(int8_t)b[e]);
}

// ------------------------------------------------------------------------------------------------ quantize, norms

static const int32_t row_shapes[][2] = {{1, 1},    {3, 17},   {1, 2560},   {5, 2560}, {2, 6912},
                                        {7, 333},  {33, 100}, {1, 8192},   {2, 8193}, {1, 4097}};

static void test_quantize(void **state) {
    SKIP_WITHOUT_GPU();
    for (size_t c = 0; c < sizeof row_shapes / sizeof row_shapes[0]; c++) {
        const int32_t M = row_shapes[c][0], K = row_shapes[c][1];
        float *x = xmalloc(sizeof(float) * M * K);
        fill(x, (size_t)M * K, -3.0f, 3.0f);
        if (K >= 4) { // row 0 with amax 127 (s = 1) and exact halves: the half-to-even ties
            for (int32_t k = 0; k < K; k++)
                x[k] = (float)((int)(rnd() % 200) - 100) + 0.5f;
            x[0] = 127.0f;
        }
        int8_t *q = xmalloc(M * K), *q_ref = xmalloc(M * K);
        float *s = xmalloc(sizeof(float) * M), *s_ref = xmalloc(sizeof(float) * M);
        trit_ref_quantize(x, M, K, q_ref, s_ref);
        float *dx = up(x, sizeof(float) * M * K);
        int8_t *dq = be->ops->alloc(be, M * K);
        float *ds = be->ops->alloc(be, sizeof(float) * M);
        be->ops->quantize(be, dx, M, K, dq, ds);
        down(q, dq, M * K);
        down(s, ds, sizeof(float) * M);
        check_bytes("quantize q", q, q_ref, M * K, 1);
        check_bytes("quantize s", s, s_ref, sizeof(float) * M, 4);
        be->ops->free(be, dx), be->ops->free(be, dq), be->ops->free(be, ds);
        free(x), free(q), free(q_ref), free(s), free(s_ref);
    }
}

static void test_rmsnorm(void **state) {
    SKIP_WITHOUT_GPU();
    for (size_t c = 0; c < sizeof row_shapes / sizeof row_shapes[0]; c++) {
        const int32_t M = row_shapes[c][0], K = row_shapes[c][1];
        float *x = xmalloc(sizeof(float) * M * K), *w = xmalloc(sizeof(float) * K);
        float *y = xmalloc(sizeof(float) * M * K), *y_ref = xmalloc(sizeof(float) * M * K);
        int8_t *q = xmalloc(M * K), *q_ref = xmalloc(M * K);
        float *s = xmalloc(sizeof(float) * M), *s_ref = xmalloc(sizeof(float) * M);
        fill(x, (size_t)M * K, -2.0f, 2.0f);
        fill(w, K, 0.5f, 1.5f);
        trit_ref_rmsnorm(x, w, M, K, 1e-5f, y_ref);
        trit_ref_rmsnorm_quantize(x, w, M, K, 1e-5f, q_ref, s_ref);
        float *dx = up(x, sizeof(float) * M * K), *dw = up(w, sizeof(float) * K);
        float *dy = be->ops->alloc(be, sizeof(float) * M * K), *ds = be->ops->alloc(be, sizeof(float) * M);
        int8_t *dq = be->ops->alloc(be, M * K);
        be->ops->rmsnorm(be, dx, dw, M, K, 1e-5f, dy);
        down(y, dy, sizeof(float) * M * K);
        // the same f32 expressions as ref; Σx² in double in another order cannot move the f32 mean (ref.h)
        check_bytes("rmsnorm y", y, y_ref, sizeof(float) * M * K, 4);
        static const int blocks[] = {0, 256, 512}; // every block size of the fused kernel
        for (int b = 0; b < 3; b++) {
            trit_cuda_set_quant_block(be, blocks[b]);
            memset(q, 0x55, M * K);
            be->ops->rmsnorm_quantize(be, dx, dw, M, K, 1e-5f, dq, ds);
            down(q, dq, M * K);
            down(s, ds, sizeof(float) * M);
            check_bytes("rmsnorm_quantize q", q, q_ref, M * K, 1);
            check_bytes("rmsnorm_quantize s", s, s_ref, sizeof(float) * M, 4);
        }
        trit_cuda_set_quant_block(be, 0);
        be->ops->free(be, dx), be->ops->free(be, dw), be->ops->free(be, dy), be->ops->free(be, ds);
        be->ops->free(be, dq);
        free(x), free(w), free(y), free(y_ref), free(q), free(q_ref), free(s), free(s_ref);
    }
}

// ------------------------------------------------------------------------------------------------ matmul_tq

typedef struct {
    int32_t N, K, M, n_seg;
    int32_t seg_end[4];
} mm_case;

static const mm_case mm_cases[] = {
    {1, 1, 1, 1, {1}},
    {17, 33, 3, 2, {5, 17}},
    {40, 300, 9, 1, {40}},
    {100, 130, 17, 1, {100}},           // GEMM shape with K % 16 != 0: GEMV fallback
    {300, 2560, 130, 3, {200, 250, 300}}, // GEMM with row and token tails
    {640, 256, 300, 1, {640}},
    {2560, 2560, 1, 1, {2560}},
    {3840, 2560, 1, 3, {2560, 3200, 3840}}, // fused q|k|v of 2B-4T
    {13824, 2560, 16, 2, {6912, 13824}},    // fused gate|up
    {2560, 6912, 4, 1, {2560}},             // down
    {2560, 2560, 64, 1, {2560}},
    {1000, 400, 300, 2, {999, 1000}},        // wgmma: K % 128 != 0, row and token tails
    {4000, 1024, 600, 2, {2000, 4000}},      // wgmma: several token tiles
    {3840, 2560, 200, 3, {2560, 3200, 3840}},
    {272, 6912, 1100, 1, {272}},             // long K, many token tiles, N not a multiple of the tile
    {20480, 3200, 1, 1, {20480}},            // bulk GEMV: several row blocks per CTA, chunks across row blocks
    {4000, 10240, 5, 2, {3000, 4000}},       // bulk GEMV: long rows, a partial last row block
    {1000, 2048, 16, 1, {1000}},             // bulk GEMV: two token tiles
    {3000, 144, 2500, 2, {1000, 3000}},      // persistent: 2-3 tiles per CTA (132 SMs), two k blocks, a K tail
    {1003, 272, 4100, 1, {1003}},            // persistent: 1-2 tiles per CTA, row and token tails, N % 4 != 0
    {2200, 3000, 1, 2, {1000, 2200}},        // GEMV3 (AUTO at M = 1): a K tail in the last supertile
    {2113, 333, 1, 1, {2113}},               // GEMV3: K % 16 != 0 (bytewise staging), a partial last row block
    {300, 10240, 1, 1, {300}},               // GEMV3: 20 warps
    {150, 16256, 1, 1, {150}},               // GEMV3: 32 warps, the last one short
    {500, 1000, 12, 1, {500}},               // GEMV3: the mma path, two token tiles
    {700, 20600, 1, 1, {700}},               // GEMV3: more k blocks than 32 warps take, runs GEMV8
};

/* one shape: the ref result once per accumulate mode, then every CUDA kernel against it */
static void run_mm_case(const mm_case *mc) {
    static const int kernels[] = {TRIT_CUDA_TQ_AUTO,      TRIT_CUDA_TQ_GEMV4,    TRIT_CUDA_TQ_GEMV8,
                                  TRIT_CUDA_TQ_GEMM,      TRIT_CUDA_TQ_WGMMA,    TRIT_CUDA_TQ_GEMV_BULK,
                                  TRIT_CUDA_TQ_GEMV8L,    TRIT_CUDA_TQ_WGMMA_PERSIST, TRIT_CUDA_TQ_WGMMA_EPI,
                                  TRIT_CUDA_TQ_WGMMA_SPLITK, TRIT_CUDA_TQ_GEMV3};
    const int32_t N = mc->N, K = mc->K, M = mc->M;
    int8_t *codes = xmalloc((size_t)N * K), *q = xmalloc((size_t)M * K);
    for (size_t i = 0; i < (size_t)N * K; i++)
        codes[i] = (int8_t)((int)(rnd() % 3) - 1);
    for (size_t i = 0; i < (size_t)M * K; i++)
        q[i] = (int8_t)(rnd() & 0xff); // all of -128..127
    float *s = xmalloc(sizeof(float) * M), *y0 = xmalloc(sizeof(float) * M * N);
    float *y = xmalloc(sizeof(float) * M * N), *y_ref = xmalloc(sizeof(float) * M * N);
    uint16_t *y16 = xmalloc(sizeof(uint16_t) * M * N), *y16_ref = xmalloc(sizeof(uint16_t) * M * N);
    uint16_t *y16_0 = xmalloc(sizeof(uint16_t) * M * N);
    fill(s, M, 1.0f, 200.0f);
    fill(y0, (size_t)M * N, -5.0f, 5.0f);
    trit_tmat wr = {.N = N, .K = K, .n_seg = mc->n_seg}, wc;
    for (int i = 0; i < mc->n_seg; i++)
        wr.seg_end[i] = mc->seg_end[i], wr.seg_scale[i] = frand(0.5f, 2.5f);
    wc = wr;
    trit_error err;
    assert_int_equal(trit_ref_tmat_pack(&wr, codes, &err), TRIT_OK);
    assert_int_equal(be->ops->tmat_pack(be, &wc, codes, &err), TRIT_OK);
    int8_t *dq = up(q, (size_t)M * K);
    float *ds = up(s, sizeof(float) * M), *dy = be->ops->alloc(be, sizeof(float) * M * N);
    for (int acc = 0; acc < 2; acc++) {
        memcpy(y_ref, y0, sizeof(float) * M * N);
        trit_ref_matmul_tq(&wr, q, s, M, y_ref, acc);
        for (size_t kn = 0; kn < sizeof kernels / sizeof kernels[0]; kn++) {
            assert_int_equal(be->ops->upload(be, dy, y0, sizeof(float) * M * N, &err), TRIT_OK);
            if (kn == 0)
                be->ops->matmul_tq(be, &wc, dq, ds, M, dy, acc); // through the op table, as the forward calls it
            else
                trit_cuda_matmul_tq_kernel(be, &wc, dq, ds, M, dy, acc, kernels[kn]);
            down(y, dy, sizeof(float) * M * N);
            char what[128];
            snprintf(what, sizeof what, "matmul_tq N=%d K=%d M=%d segs=%d kernel=%d accumulate=%d", N, K, M,
                     mc->n_seg, kernels[kn], acc);
            check_bytes(what, y, y_ref, sizeof(float) * M * N, 4);
        }
        // bf16 output: the f32 result rounded, the residual added to the bf16 value widened
        for (size_t i = 0; i < (size_t)M * N; i++)
            y16_0[i] = trit_f32_to_bf16(y0[i]);
        memcpy(y16_ref, y16_0, sizeof(uint16_t) * M * N);
        trit_ref_matmul_tq_bf16(&wr, q, s, M, y16_ref, acc);
        for (size_t kn = 0; kn < sizeof kernels / sizeof kernels[0]; kn++) {
            assert_int_equal(be->ops->upload(be, dy, y16_0, sizeof(uint16_t) * M * N, &err), TRIT_OK);
            trit_cuda_matmul_tq_out(be, &wc, dq, ds, M, dy, TRIT_DT_BF16, acc, kernels[kn]);
            down(y16, dy, sizeof(uint16_t) * M * N);
            char what[128];
            snprintf(what, sizeof what, "matmul_tq bf16 out N=%d K=%d M=%d segs=%d kernel=%d accumulate=%d", N, K,
                     M, mc->n_seg, kernels[kn], acc);
            check_bytes(what, y16, y16_ref, sizeof(uint16_t) * M * N, 2);
        }
    }
    be->ops->tmat_free(be, &wc);
    trit_ref_tmat_free(&wr);
    be->ops->free(be, dq), be->ops->free(be, ds), be->ops->free(be, dy);
    free(codes), free(q), free(s), free(y0), free(y), free(y_ref), free(y16), free(y16_ref), free(y16_0);
}

static void test_matmul_tq(void **state) {
    SKIP_WITHOUT_GPU();
    for (size_t c = 0; c < sizeof mm_cases / sizeof mm_cases[0]; c++)
        run_mm_case(&mm_cases[c]);
}

/* a decode-step chain queued without syncs: rmsnorm_quantize -> matmul -> matmul (accumulate) -> quantize ->
 * matmul, so kernels launched with programmatic dependent launch (sm_90) start while their predecessor runs and
 * must still read its results; in every PDL mode and with every GEMV kernel */
static void run_chain(int kernel, int pdl) {
    const int32_t K = 2560, N = 2560, M = 3;
    int8_t *codes = xmalloc((size_t)N * K);
    float *x = xmalloc(sizeof(float) * M * K), *nw = xmalloc(sizeof(float) * K);
    for (size_t i = 0; i < (size_t)N * K; i++)
        codes[i] = (int8_t)((int)(rnd() % 3) - 1);
    fill(x, (size_t)M * K, -2.0f, 2.0f);
    fill(nw, K, 0.5f, 1.5f);
    trit_tmat wr = {.N = N, .K = K, .n_seg = 1, .seg_end = {N}, .seg_scale = {1.7f}}, wc = wr;
    trit_error err;
    assert_int_equal(trit_ref_tmat_pack(&wr, codes, &err), TRIT_OK);
    assert_int_equal(be->ops->tmat_pack(be, &wc, codes, &err), TRIT_OK);
    int8_t *q = xmalloc((size_t)M * K), *q2 = xmalloc((size_t)M * N);
    float *s = xmalloc(sizeof(float) * M), *s2 = xmalloc(sizeof(float) * M);
    float *y = xmalloc(sizeof(float) * M * N), *y2 = xmalloc(sizeof(float) * M * N), *got = xmalloc(sizeof(float) * M * N);
    trit_ref_rmsnorm_quantize(x, nw, M, K, 1e-5f, q, s);
    trit_ref_matmul_tq(&wr, q, s, M, y, 0);
    trit_ref_matmul_tq(&wr, q, s, M, y, 1);
    trit_ref_quantize(y, M, N, q2, s2);
    trit_ref_matmul_tq(&wr, q2, s2, M, y2, 0);
    float *dx = up(x, sizeof(float) * M * K), *dnw = up(nw, sizeof(float) * K);
    int8_t *dq = be->ops->alloc(be, (size_t)M * K), *dq2 = be->ops->alloc(be, (size_t)M * N);
    float *ds = be->ops->alloc(be, sizeof(float) * M), *ds2 = be->ops->alloc(be, sizeof(float) * M);
    float *dy = be->ops->alloc(be, sizeof(float) * M * N), *dy2 = be->ops->alloc(be, sizeof(float) * M * N);
    for (int rep = 0; rep < 3; rep++) {
        be->ops->rmsnorm_quantize(be, dx, dnw, M, K, 1e-5f, dq, ds);
        trit_cuda_matmul_tq_kernel(be, &wc, dq, ds, M, dy, 0, kernel);
        trit_cuda_matmul_tq_kernel(be, &wc, dq, ds, M, dy, 1, kernel);
        be->ops->quantize(be, dy, M, N, dq2, ds2);
        trit_cuda_matmul_tq_kernel(be, &wc, dq2, ds2, M, dy2, 0, kernel);
    }
    char what[96];
    down(got, dy2, sizeof(float) * M * N);
    snprintf(what, sizeof what, "chain y2, kernel %d, pdl mode %d", kernel, pdl);
    check_bytes(what, got, y2, sizeof(float) * M * N, 4);
    down(got, dy, sizeof(float) * M * N);
    snprintf(what, sizeof what, "chain y, kernel %d, pdl mode %d", kernel, pdl);
    check_bytes(what, got, y, sizeof(float) * M * N, 4);
    be->ops->tmat_free(be, &wc);
    trit_ref_tmat_free(&wr);
    be->ops->free(be, dx), be->ops->free(be, dnw), be->ops->free(be, dq), be->ops->free(be, dq2);
    be->ops->free(be, ds), be->ops->free(be, ds2), be->ops->free(be, dy), be->ops->free(be, dy2);
    free(codes), free(x), free(nw), free(q), free(q2), free(s), free(s2), free(y), free(y2), free(got);
}

static void test_chain(void **state) {
    SKIP_WITHOUT_GPU();
    static const int kernels[] = {TRIT_CUDA_TQ_AUTO, TRIT_CUDA_TQ_GEMV4, TRIT_CUDA_TQ_GEMV8, TRIT_CUDA_TQ_GEMV8L,
                                  TRIT_CUDA_TQ_GEMV_BULK, TRIT_CUDA_TQ_GEMV3};
    for (int mode = 2; mode >= 0; mode--) { // PDL successor at once, after the wait, off
        const int pdl = trit_cuda_set_pdl(be, mode);
        for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++)
            run_chain(kernels[k], pdl);
    }
    trit_cuda_set_pdl(be, 1);
}

static void test_tmat_pack_rejects(void **state) {
    SKIP_WITHOUT_GPU();
    int8_t codes[8] = {0, 1, -1, 2, 0, 0, 0, 0};
    trit_tmat w = {.N = 2, .K = 4, .n_seg = 1, .seg_end = {2}, .seg_scale = {1.0f}};
    trit_error err;
    assert_int_equal(be->ops->tmat_pack(be, &w, codes, &err), TRIT_E_ARG);
    assert_null(w.data);
    assert_non_null(strstr(err.msg, "code 2"));
    trit_tmat w2 = {.N = 2, .K = 4, .n_seg = 1, .seg_end = {3}, .seg_scale = {1.0f}};
    codes[3] = 0;
    assert_int_equal(be->ops->tmat_pack(be, &w2, codes, &err), TRIT_E_ARG);
}

// ------------------------------------------------------------------------------------------------ embed, rope, kv, attention

static uint16_t f32_to_bf16_trunc(float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    return (uint16_t)(b >> 16);
}

static void test_embed_lm_head(void **state) {
    SKIP_WITHOUT_GPU();
    static const int32_t shapes[][3] = {{37, 13, 3}, {1000, 2560, 2}, {517, 128, 1}}; // V, D, M
    for (size_t c = 0; c < 3; c++)
        for (int dt = 0; dt < 2; dt++) {
            const int32_t V = shapes[c][0], D = shapes[c][1], M = shapes[c][2];
            const size_t esz = dt == TRIT_DT_BF16 ? 2 : 4;
            void *table = xmalloc(esz * V * D);
            for (size_t i = 0; i < (size_t)V * D; i++) {
                float f = frand(-1.0f, 1.0f);
                if (dt == TRIT_DT_BF16)
                    ((uint16_t *)table)[i] = f32_to_bf16_trunc(f);
                else
                    ((float *)table)[i] = f;
            }
            int32_t *tok = xmalloc(sizeof(int32_t) * M);
            for (int32_t m = 0; m < M; m++)
                tok[m] = (int32_t)(rnd() % V);
            float *e = xmalloc(sizeof(float) * M * D), *e_ref = xmalloc(sizeof(float) * M * D);
            float *lg = xmalloc(sizeof(float) * M * V), *lg_ref = xmalloc(sizeof(float) * M * V);
            int32_t *am = xmalloc(sizeof(int32_t) * M);
            trit_ref_embed(table, dt, D, tok, M, e_ref);
            trit_ref_lm_head(table, dt, V, D, e_ref, M, lg_ref);
            void *dtab = up(table, esz * V * D);
            int32_t *dtok = up(tok, sizeof(int32_t) * M), *dam = be->ops->alloc(be, sizeof(int32_t) * M);
            float *de = be->ops->alloc(be, sizeof(float) * M * D), *dlg = be->ops->alloc(be, sizeof(float) * M * V);
            be->ops->embed(be, dtab, dt, D, dtok, M, de);
            be->ops->lm_head(be, dtab, dt, V, D, de, M, dlg);
            trit_cuda_lm_head_argmax(be, dtab, dt, V, D, de, M, dam);
            down(e, de, sizeof(float) * M * D);
            down(lg, dlg, sizeof(float) * M * V);
            down(am, dam, sizeof(int32_t) * M);
            check_bytes("embed", e, e_ref, sizeof(float) * M * D, 4); // a copy (bf16 widening is exact)
            // f32 dot products of length D summed in another order: relative error ~ sqrt(D) * 2^-24 per logit
            check_close("lm_head", lg, lg_ref, (size_t)M * V, 1e-10);
            for (int32_t m = 0; m < M; m++) { // the argmax must be a maximum up to that reordering error
                float best = -INFINITY;
                for (int32_t v = 0; v < V; v++)
                    best = fmaxf(best, lg_ref[(size_t)m * V + v]);
                assert_true(am[m] >= 0 && am[m] < V);
                if (lg_ref[(size_t)m * V + am[m]] < best - 1e-4f * (1.0f + fabsf(best)))
                    fail_msg("lm_head_argmax row %d: token %d (logit %g) but max %g", m, am[m],
                             (double)lg_ref[(size_t)m * V + am[m]], (double)best);
            }
            be->ops->free(be, dtab), be->ops->free(be, dtok), be->ops->free(be, dam), be->ops->free(be, de);
            be->ops->free(be, dlg);
            free(table), free(tok), free(e), free(e_ref), free(lg), free(lg_ref), free(am);
        }
}

static void test_rope(void **state) {
    SKIP_WITHOUT_GPU();
    static const int32_t shapes[][4] = {{3, 2, 8, 20}, {5, 20, 128, 3840}, {1, 5, 128, 640}}; // M, heads, D, stride
    for (size_t c = 0; c < 3; c++) {
        const int32_t M = shapes[c][0], H = shapes[c][1], D = shapes[c][2], stride = shapes[c][3];
        float *x = xmalloc(sizeof(float) * M * stride), *x_ref = xmalloc(sizeof(float) * M * stride);
        float *got = xmalloc(sizeof(float) * M * stride);
        int32_t *pos = xmalloc(sizeof(int32_t) * M);
        fill(x, (size_t)M * stride, -1.0f, 1.0f);
        for (int32_t m = 0; m < M; m++)
            pos[m] = (int32_t)(rnd() % 4096);
        memcpy(x_ref, x, sizeof(float) * M * stride);
        trit_ref_rope(x_ref, M, H, D, stride, pos, 500000.0f);
        float *dx = up(x, sizeof(float) * M * stride);
        int32_t *dpos = up(pos, sizeof(int32_t) * M);
        be->ops->rope(be, dx, M, H, D, stride, dpos, 500000.0f);
        down(got, dx, sizeof(float) * M * stride);
        // powf/sinf/cosf of the GPU and of libm differ by a few ulp: relative error ~1e-6 per element
        check_close("rope", got, x_ref, (size_t)M * stride, 1e-10);
        be->ops->free(be, dx), be->ops->free(be, dpos);
        free(x), free(x_ref), free(got), free(pos);
    }
}

static void test_kv_attention(void **state) {
    SKIP_WITHOUT_GPU();
    static const int32_t shapes[][6] = {
        // layers, seqs, ctx, kv heads, head_dim, heads
        {2, 2, 40, 2, 8, 4},
        {1, 3, 300, 5, 128, 20},
        {2, 1, 64, 1, 96, 3},
    };
    for (size_t c = 0; c < 3; c++) {
        trit_kvcache kv = {shapes[c][0], shapes[c][1], shapes[c][2], shapes[c][3], shapes[c][4], NULL, NULL};
        const int32_t H = shapes[c][5], D = kv.head_dim, layer = kv.n_layers - 1;
        const size_t cache = (size_t)kv.n_layers * kv.n_seq * kv.n_ctx * kv.n_kv_heads * D;
        float *kc = xmalloc(sizeof(float) * cache), *vc = xmalloc(sizeof(float) * cache);
        fill(kc, cache, -1.0f, 1.0f);
        fill(vc, cache, -1.0f, 1.0f);
        const int32_t M = 5, wkv = kv.n_kv_heads * D, stride = wkv + 7;
        float *k = xmalloc(sizeof(float) * M * stride), *v = xmalloc(sizeof(float) * M * stride);
        float *q = xmalloc(sizeof(float) * M * (H * D + 3));
        fill(k, (size_t)M * stride, -1.0f, 1.0f);
        fill(v, (size_t)M * stride, -1.0f, 1.0f);
        fill(q, (size_t)M * (H * D + 3), -1.0f, 1.0f);
        int32_t seq[5], pos[5];
        for (int32_t m = 0; m < M; m++) { // distinct (seq, pos) so the stores do not collide
            seq[m] = m % kv.n_seq;
            pos[m] = kv.n_ctx - 1 - m * 3;
        }
        pos[0] = 0; // a one-position softmax
        float *out = xmalloc(sizeof(float) * M * H * D), *out_ref = xmalloc(sizeof(float) * M * H * D);
        float *kc_got = xmalloc(sizeof(float) * cache);
        trit_kvcache kvd = kv;
        kvd.k = up(kc, sizeof(float) * cache);
        kvd.v = up(vc, sizeof(float) * cache);
        kv.k = kc, kv.v = vc;
        trit_ref_kv_store(&kv, layer, k, v, stride, seq, pos, M);
        trit_ref_attention(&kv, layer, q, H * D + 3, H, seq, pos, M, out_ref);
        float *dk = up(k, sizeof(float) * M * stride), *dv = up(v, sizeof(float) * M * stride);
        float *dq = up(q, sizeof(float) * M * (H * D + 3)), *dout = be->ops->alloc(be, sizeof(float) * M * H * D);
        int32_t *dseq = up(seq, sizeof seq), *dpos = up(pos, sizeof pos);
        be->ops->kv_store(be, &kvd, layer, dk, dv, stride, dseq, dpos, M);
        be->ops->attention(be, &kvd, layer, dq, H * D + 3, H, dseq, dpos, M, dout);
        down(kc_got, kvd.k, sizeof(float) * cache);
        check_bytes("kv_store k", kc_got, kc, sizeof(float) * cache, 4);
        down(kc_got, kvd.v, sizeof(float) * cache);
        check_bytes("kv_store v", kc_got, vc, sizeof(float) * cache, 4);
        down(out, dout, sizeof(float) * M * H * D);
        // online softmax (per-warp running max, rescaled sums) and reordered f32 dot products vs the two-pass ref:
        // a few ulp per element
        check_close("attention", out, out_ref, (size_t)M * H * D, 1e-10);
        be->ops->free(be, kvd.k), be->ops->free(be, kvd.v), be->ops->free(be, dk), be->ops->free(be, dv);
        be->ops->free(be, dq), be->ops->free(be, dout), be->ops->free(be, dseq), be->ops->free(be, dpos);
        free(kc), free(vc), free(k), free(v), free(q), free(out), free(out_ref), free(kc_got);
    }
}

static void test_attention_rejects(void **state) {
    SKIP_WITHOUT_GPU();
    trit_kvcache kv = {1, 1, 4, 1, 512, NULL, NULL}; // head_dim 512 > the kernel's 256
    trit_error err;
    be->ops->attention(be, &kv, 0, NULL, 512, 1, NULL, NULL, 1, NULL);
    assert_int_equal(be->ops->sync(be, &err), TRIT_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "head_dim"));
    assert_int_equal(be->ops->sync(be, &err), TRIT_OK); // reported once
}

/* an output type other than f32 and bf16: an error from sync, nothing launched */
static void test_matmul_out_rejects(void **state) {
    SKIP_WITHOUT_GPU();
    int8_t codes[16 * 16] = {0};
    trit_tmat w = {.N = 16, .K = 16, .n_seg = 1, .seg_end = {16}, .seg_scale = {1.0f}};
    trit_error err;
    assert_int_equal(be->ops->tmat_pack(be, &w, codes, &err), TRIT_OK);
    trit_cuda_matmul_tq_out(be, &w, NULL, NULL, 1, NULL, TRIT_DT_I8ROW, 0, TRIT_CUDA_TQ_AUTO);
    assert_int_equal(be->ops->sync(be, &err), TRIT_E_ARG);
    assert_non_null(strstr(err.msg, "output type"));
    assert_int_equal(be->ops->sync(be, &err), TRIT_OK); // reported once
    be->ops->tmat_free(be, &w);
}

// ------------------------------------------------------------------------------------------------ glu, add, fused

static void test_glu_add_fused(void **state) {
    SKIP_WITHOUT_GPU();
    static const int32_t shapes[][2] = {{1, 6912}, {3, 37}, {9, 1000}};
    for (size_t c = 0; c < 3; c++)
        for (int act = 0; act < 2; act++) {
            const int32_t M = shapes[c][0], F = shapes[c][1];
            float *gu = xmalloc(sizeof(float) * M * 2 * F), *w = xmalloc(sizeof(float) * F);
            float *o = xmalloc(sizeof(float) * M * F), *o_ref = xmalloc(sizeof(float) * M * F);
            int8_t *q = xmalloc(M * F), *q_ref = xmalloc(M * F);
            float *s = xmalloc(sizeof(float) * M), *s_ref = xmalloc(sizeof(float) * M);
            fill(gu, (size_t)M * 2 * F, -3.0f, 3.0f);
            fill(w, F, 0.5f, 1.5f);
            trit_ref_glu(gu, M, F, (trit_act)act, o_ref);
            trit_ref_rmsnorm_quantize(o_ref, w, M, F, 1e-5f, q_ref, s_ref);
            float *dgu = up(gu, sizeof(float) * M * 2 * F), *dw = up(w, sizeof(float) * F);
            float *dout = be->ops->alloc(be, sizeof(float) * M * F), *ds = be->ops->alloc(be, sizeof(float) * M);
            int8_t *dq = be->ops->alloc(be, M * F);
            be->ops->glu(be, dgu, M, F, (trit_act)act, dout);
            down(o, dout, sizeof(float) * M * F);
            if (act == TRIT_ACT_RELU2) { // max, two products: the ref's expressions, bit for bit
                check_bytes("glu relu2", o, o_ref, sizeof(float) * M * F, 4);
                static const int blocks[] = {0, 256, 512};
                for (int b = 0; b < 3; b++) {
                    trit_cuda_set_quant_block(be, blocks[b]);
                    trit_cuda_glu_rmsnorm_quantize(be, dgu, M, F, (trit_act)act, dw, 1e-5f, dq, ds);
                    down(q, dq, M * F);
                    down(s, ds, sizeof(float) * M);
                    check_bytes("glu_rmsnorm_quantize q", q, q_ref, M * F, 1);
                    check_bytes("glu_rmsnorm_quantize s", s, s_ref, sizeof(float) * M, 4);
                }
                trit_cuda_set_quant_block(be, 0);
            } else { // the GPU's expf is within 2 ulp of libm's: relative error ~2e-7 per element
                check_close("glu silu", o, o_ref, (size_t)M * F, 1e-12);
            }
            // add: h += x, one rounding, bit for bit
            float *h_ref = xmalloc(sizeof(float) * M * F);
            memcpy(h_ref, o_ref, sizeof(float) * M * F);
            trit_ref_add(h_ref, o_ref, (size_t)M * F);
            float *dh = up(o_ref, sizeof(float) * M * F), *dx = up(o_ref, sizeof(float) * M * F);
            be->ops->add(be, dh, dx, (size_t)M * F);
            down(o, dh, sizeof(float) * M * F);
            check_bytes("add", o, h_ref, sizeof(float) * M * F, 4);
            be->ops->free(be, dgu), be->ops->free(be, dw), be->ops->free(be, dout), be->ops->free(be, ds);
            be->ops->free(be, dq), be->ops->free(be, dh), be->ops->free(be, dx);
            free(gu), free(w), free(o), free(o_ref), free(q), free(q_ref), free(s), free(s_ref), free(h_ref);
        }
}

// ------------------------------------------------------------------------------------------------ main

static int setup(void **state) {
    trit_error err;
    const char *seed = getenv("TRIT_TEST_SEED");
    rng_state = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) * 2654435761u + 1;
    if (!rng_state)
        rng_state = 1;
    printf("test_cuda_ops: seed %llu (TRIT_TEST_SEED to repeat)\n", (unsigned long long)rng_state);
    if (trit_backend_cuda_create(1, &be, &err) != TRIT_OK) {
        printf("test_cuda_ops: SKIPPING every case: %s\n", err.msg);
        be = NULL;
    }
    return 0;
}

static int teardown(void **state) {
    if (be)
        be->ops->destroy(be);
    be = NULL;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize),       cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_matmul_tq),      cmocka_unit_test(test_chain),
        cmocka_unit_test(test_matmul_out_rejects),
        cmocka_unit_test(test_tmat_pack_rejects),
        cmocka_unit_test(test_embed_lm_head),  cmocka_unit_test(test_rope),
        cmocka_unit_test(test_kv_attention),   cmocka_unit_test(test_attention_rejects),
        cmocka_unit_test(test_glu_add_fused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
