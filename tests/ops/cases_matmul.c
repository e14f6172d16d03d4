/* cases_matmul.c — op cases for the ternary matmul: matmul_tq on given int8 rows, quantize→matmul_tq from float
 * rows, and tmat_pack's rejection of bad codes. Every result here is integer up to the one f32 epilogue
 * (float)acc / s * γ (+ y), which every back end evaluates in the same order, so all comparisons are exact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/harness.h"

/* y[m][n] (+)= (float)(Σ_k q[m][k]·codes[n][k]) / s[m] * γ(n), straight from the int8 codes */
static void naive_matmul(const int8_t *codes, const trit_tmat *shape, const int8_t *q, const float *s, int32_t M,
                         float *y, int accumulate) {
    // codes: [N][K]; q: [M][K]; s: [M]; y: [M][N]
    const int32_t N = shape->N, K = shape->K;
    for (int32_t m = 0; m < M; m++)
        for (int32_t n = 0; n < N; n++) {
            int64_t acc = 0; // int64 here: the oracle must not share an int32 overflow with the code under test
            for (int32_t k = 0; k < K; k++)
                acc += (int64_t)q[(size_t)m * K + k] * codes[(size_t)n * K + k];
            float g = shape->seg_scale[0];
            for (int i = shape->n_seg - 1; i > 0; i--)
                if (n >= shape->seg_end[i - 1]) {
                    g = shape->seg_scale[i];
                    break;
                }
            float v = (float)(int32_t)acc / s[m] * g;
            y[(size_t)m * N + n] = accumulate ? y[(size_t)m * N + n] + v : v;
        }
}

/* random codes (kind 0: uniform over {-1,0,1}; kind 1: 60% zeros like trained weights) and segments */
static void make_weights(ops_env *e, trit_tmat *w, int8_t *codes, int32_t N, int32_t K, int32_t n_seg, int kind) {
    memset(w, 0, sizeof *w);
    w->N = N, w->K = K, w->n_seg = n_seg;
    for (int i = 0; i < n_seg; i++) { // roughly equal segments, the last ends at N
        w->seg_end[i] = (int32_t)((int64_t)N * (i + 1) / n_seg);
        w->seg_scale[i] = ops_randf(e, 0.5f, 3.0f);
    }
    for (size_t i = 0; i < (size_t)N * K; i++) {
        if (kind == 1)
            codes[i] = (int8_t)(ops_randi(e, 0, 9) < 6 ? 0 : ops_randi(e, 0, 1) * 2 - 1);
        else
            codes[i] = (int8_t)ops_randi(e, -1, 1);
    }
}

// ------------------------------------------------------------------------------------------------ matmul_tq

/* p: M, N, K, n_seg, accumulate, kind (0 random, 1 sparse weights, 2 extreme: q = ±127/-128 aligned with the
 * codes so |acc| is as large as K allows) */
static void run_matmul(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], N = c->p[1], K = c->p[2], n_seg = c->p[3], accumulate = c->p[4], kind = c->p[5];
    int8_t *codes = ops_host(e, (size_t)N * K), *q = ops_host(e, (size_t)M * K);
    float *s = ops_host(e, sizeof(float) * M), *y0 = ops_host(e, sizeof(float) * M * N),
          *want = ops_host(e, sizeof(float) * M * N), *got = ops_host(e, sizeof(float) * M * N);
    if (e->failed)
        return;
    trit_tmat shape;
    make_weights(e, &shape, codes, N, K, n_seg, kind == 1);
    for (size_t i = 0; i < (size_t)M * K; i++)
        q[i] = (int8_t)ops_randi(e, -128, 127);
    if (kind == 2)
        for (int32_t m = 0; m < M; m++)
            for (int32_t k = 0; k < K; k++) {
                int8_t cw = codes[k]; // row 0's codes: row 0 reaches |acc| = 127·(nonzeros) or 128·...
                q[(size_t)m * K + k] = (int8_t)(m % 2 ? (cw >= 0 ? -128 : 127) : (cw >= 0 ? 127 : -128));
            }
    for (int32_t m = 0; m < M; m++)
        s[m] = powf(2.0f, ops_randf(e, -8, 20)); // 127/amax for amax from 1e-4 to 3e4
    ops_fill(e, y0, (size_t)M * N, -10, 10);
    memcpy(want, y0, sizeof(float) * M * N);

    trit_tmat *w = ops_tmat(e, shape, codes);
    int8_t *dq = ops_upload(e, q, (size_t)M * K);
    float *ds = ops_upload(e, s, sizeof(float) * M), *dy = ops_upload(e, y0, sizeof(float) * M * N);
    if (e->failed)
        return;
    e->be->ops->matmul_tq(e->be, w, dq, ds, M, dy, accumulate);
    if (ops_download(e, got, dy, sizeof(float) * M * N))
        return;
    if (e->naive) {
        naive_matmul(codes, &shape, q, s, M, want, accumulate);
    } else {
        trit_tmat rw = shape;
        trit_error err;
        if (trit_ref_tmat_pack(&rw, codes, &err) != TRIT_OK) {
            ops_fail(e, "ref tmat_pack: %s", err.msg);
            return;
        }
        trit_ref_matmul_tq(&rw, q, s, M, want, accumulate);
        trit_ref_tmat_free(&rw);
    }
    // int32 accumulation is exact and the epilogue is one f32 conversion, division and product (+ add): bit-exact
    ops_expect_f32_exact(e, "y", want, got, (size_t)M * N);
}

// ------------------------------------------------------------------------------------------------ quantize → matmul

/* p: M, N, K, n_seg. Float rows in; the whole BitLinear (activation quant + ternary matmul) out. */
static void run_quantize_matmul(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], N = c->p[1], K = c->p[2], n_seg = c->p[3];
    int8_t *codes = ops_host(e, (size_t)N * K), *q = ops_host(e, (size_t)M * K);
    float *x = ops_host(e, sizeof(float) * M * K), *s = ops_host(e, sizeof(float) * M),
          *want = ops_host(e, sizeof(float) * M * N), *got = ops_host(e, sizeof(float) * M * N);
    if (e->failed)
        return;
    trit_tmat shape;
    make_weights(e, &shape, codes, N, K, n_seg, 1);
    for (int32_t m = 0; m < M; m++) // rows of assorted magnitude
        ops_fill(e, x + (size_t)m * K, (size_t)K, -1, 1), x[(size_t)m * K] *= powf(10.0f, (float)ops_randi(e, -2, 2));
    trit_tmat *w = ops_tmat(e, shape, codes);
    float *dx = ops_upload(e, x, sizeof(float) * M * K), *ds = ops_dev(e, sizeof(float) * M),
          *dy = ops_dev(e, sizeof(float) * M * N);
    int8_t *dq = ops_dev(e, (size_t)M * K);
    if (e->failed)
        return;
    e->be->ops->quantize(e->be, dx, M, K, dq, ds);
    e->be->ops->matmul_tq(e->be, w, dq, ds, M, dy, 0);
    if (ops_download(e, got, dy, sizeof(float) * M * N))
        return;
    trit_ref_quantize(x, M, K, q, s); // quantize itself is checked bit-exact against a naive oracle elsewhere
    if (e->naive) {
        naive_matmul(codes, &shape, q, s, M, want, 0);
    } else {
        trit_tmat rw = shape;
        trit_error err;
        if (trit_ref_tmat_pack(&rw, codes, &err) != TRIT_OK) {
            ops_fail(e, "ref tmat_pack: %s", err.msg);
            return;
        }
        trit_ref_matmul_tq(&rw, q, s, M, want, 0);
        trit_ref_tmat_free(&rw);
    }
    ops_expect_f32_exact(e, "y", want, got, (size_t)M * N); // integer path up to the shared epilogue: exact
}

// ------------------------------------------------------------------------------------------------ tmat_pack errors

/* p: N, K. A code outside {-1,0,1} (and bad segments) must be refused with an error, not packed or crashed on. */
static void run_tmat_pack_rejects(ops_env *e, const ops_case *c) {
    const int32_t N = c->p[0], K = c->p[1];
    int8_t *codes = ops_host(e, (size_t)N * K);
    if (e->failed)
        return;
    trit_tmat w;
    make_weights(e, &w, codes, N, K, 1, 0);
    codes[(size_t)ops_randi(e, 0, N * K - 1)] = (int8_t)(ops_randi(e, 0, 1) ? 2 : -2);
    trit_error err;
    trit_tmat t = w;
    if (e->be->ops->tmat_pack(e->be, &t, codes, &err) == TRIT_OK) {
        e->be->ops->tmat_free(e->be, &t);
        ops_fail(e, "tmat_pack accepted a code outside {-1,0,1}");
    }
    codes[0] = 0;
    for (size_t i = 0; i < (size_t)N * K; i++)
        if (codes[i] < -1 || codes[i] > 1)
            codes[i] = 1;
    t = w;
    t.seg_end[0] = N + 1; // segments past N
    if (e->be->ops->tmat_pack(e->be, &t, codes, &err) == TRIT_OK) {
        e->be->ops->tmat_free(e->be, &t);
        ops_fail(e, "tmat_pack accepted a segment ending past N");
    }
}

// ------------------------------------------------------------------------------------------------ case list

#define MM(M, N, K, seg, acc, kind) {"matmul_tq", run_matmul, {M, N, K, seg, acc, kind}, 0}
#define QM(M, N, K, seg) {"quantize_matmul", run_quantize_matmul, {M, N, K, seg}, 0}

static const ops_case cases[] = {
    // real 2B-4T shapes (q|k|v fused: segments at 2560, 3200; gate|up: 6912; o; down), small M
    MM(1, 3840, 2560, 3, 0, 1), MM(2, 13824, 2560, 2, 0, 1), MM(1, 2560, 2560, 1, 1, 0), MM(3, 2560, 6912, 1, 1, 1),
    MM(1, 640, 2560, 1, 0, 0), MM(7, 640, 2560, 1, 1, 0),
    // odd shapes: K not a multiple of 4/16/32, N odd, many segments, extremes
    MM(1, 5, 3, 1, 0, 0), MM(16, 257, 100, 2, 0, 0), MM(33, 100, 257, 4, 1, 0), MM(7, 64, 64, 3, 0, 1),
    MM(2, 33, 6912, 1, 0, 2), MM(3, 17, 13824, 2, 1, 2), MM(128, 64, 257, 1, 0, 0), MM(16, 100, 640, 4, 0, 1),
    QM(1, 3840, 2560, 3), QM(3, 640, 6912, 1), QM(16, 257, 100, 2), QM(33, 64, 2560, 1), QM(128, 100, 64, 1),
    {"tmat_pack", run_tmat_pack_rejects, {7, 100}, 0}, {"tmat_pack", run_tmat_pack_rejects, {640, 2560}, 0},
};

const ops_case *ops_cases_matmul(size_t *n) {
    *n = sizeof cases / sizeof cases[0];
    return cases;
}
