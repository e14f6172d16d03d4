/* cases_quant.c — op cases for quantize, rmsnorm, rmsnorm_quantize and the optional glu_rmsnorm_quantize. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/harness.h"

#define U 0x1.0p-24 /* unit roundoff of f32 */

// ------------------------------------------------------------------------------------------------ naive oracles

/* round half to even without rintf: floor, then look at the fraction (exact in f32 for |v| < 2^23) */
static float round_half_even(float v) {
    float f = floorf(v), d = v - f;
    if (d > 0.5f)
        return f + 1.0f;
    if (d < 0.5f)
        return f;
    return fmodf(f, 2.0f) == 0.0f ? f : f + 1.0f;
}

static void naive_quantize(const float *x, int32_t M, int32_t K, int8_t *q, float *s) {
    // x: [M][K]; q: [M][K]; s: [M]
    for (int32_t m = 0; m < M; m++) {
        float amax = 0.0f;
        for (int32_t k = 0; k < K; k++) {
            float a = x[(size_t)m * K + k] < 0 ? -x[(size_t)m * K + k] : x[(size_t)m * K + k];
            if (a > amax)
                amax = a;
        }
        s[m] = 127.0f / (amax < 1e-5f ? 1e-5f : amax);
        for (int32_t k = 0; k < K; k++) {
            float r = round_half_even(x[(size_t)m * K + k] * s[m]);
            q[(size_t)m * K + k] = (int8_t)(r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r);
        }
    }
}

/* rmsnorm in double: y = x / sqrt(mean(x²) + eps) * w */
static void naive_rmsnorm(const float *x, const float *w, int32_t M, int32_t K, float eps, double *y) {
    // x: [M][K]; w: [K]; y: [M][K]
    for (int32_t m = 0; m < M; m++) {
        double ss = 0;
        for (int32_t k = 0; k < K; k++)
            ss += (double)x[(size_t)m * K + k] * x[(size_t)m * K + k];
        double r = 1.0 / sqrt(ss / K + (double)eps);
        for (int32_t k = 0; k < K; k++)
            y[(size_t)m * K + k] = x[(size_t)m * K + k] * r * w[k];
    }
}

/* inputs: rows of different magnitude (1e-3 .. 1e3), and with kind 1 the hard rows of quantize */
static void make_rows(ops_env *e, float *x, int32_t M, int32_t K, int kind) {
    for (int32_t m = 0; m < M; m++) {
        float *xm = x + (size_t)m * K;
        float mag = powf(10.0f, (float)ops_randi(e, -3, 3));
        ops_fill(e, xm, (size_t)K, -mag, mag);
        if (ops_randi(e, 0, 3) == 0) // an outlier, as real activations have
            xm[ops_randi(e, 0, K - 1)] = mag * ops_randf(e, -30, 30);
        if (kind != 1)
            continue;
        switch (m % 4) {
        case 0: // all zero: the scale comes from the 1e-5 floor
            memset(xm, 0, sizeof(float) * (size_t)K);
            break;
        case 1: // amax 127 makes s exactly 1: every half-integer is a tie
            for (int32_t k = 0; k < K; k++)
                xm[k] = (float)ops_randi(e, -254, 254) * 0.5f;
            xm[ops_randi(e, 0, K - 1)] = 127.0f;
            break;
        case 2: // below the floor: tiny values, scale 127/1e-5
            ops_fill(e, xm, (size_t)K, -5e-6f, 5e-6f);
            break;
        default: // huge values
            ops_fill(e, xm, (size_t)K, -1e30f, 1e30f);
            break;
        }
    }
}

// ------------------------------------------------------------------------------------------------ quantize

static void run_quantize(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], K = c->p[1];
    float *x = ops_host(e, sizeof(float) * M * K), *s_want = ops_host(e, sizeof(float) * M),
          *s_got = ops_host(e, sizeof(float) * M);
    int8_t *q_want = ops_host(e, (size_t)M * K), *q_got = ops_host(e, (size_t)M * K);
    if (e->failed)
        return;
    make_rows(e, x, M, K, c->p[2]);
    float *dx = ops_upload(e, x, sizeof(float) * M * K), *ds = ops_dev(e, sizeof(float) * M);
    int8_t *dq = ops_dev(e, (size_t)M * K);
    if (e->failed)
        return;
    e->be->ops->quantize(e->be, dx, M, K, dq, ds);
    if (ops_download(e, q_got, dq, (size_t)M * K) || ops_download(e, s_got, ds, sizeof(float) * M))
        return;
    if (e->naive)
        naive_quantize(x, M, K, q_want, s_want);
    else
        trit_ref_quantize(x, M, K, q_want, s_want);
    // integer path: codes and scales bit-exact (amax is exact, s one f32 division, x*s one rounding, rint exact)
    ops_expect_i8(e, "q", q_want, q_got, (size_t)M * K);
    ops_expect_bytes(e, "s", s_want, s_got, (size_t)M, sizeof(float));
}

// ------------------------------------------------------------------------------------------------ rmsnorm

static void run_rmsnorm(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], K = c->p[1];
    const size_t n = (size_t)M * K;
    float *x = ops_host(e, sizeof(float) * n), *w = ops_host(e, sizeof(float) * K), *got = ops_host(e, sizeof(float) * n),
          *ref = ops_host(e, sizeof(float) * n);
    double *want = ops_host(e, sizeof(double) * n), *bound = ops_host(e, sizeof(double) * n);
    if (e->failed)
        return;
    make_rows(e, x, M, K, 0);
    ops_fill(e, w, (size_t)K, -2, 2);
    float *dx = ops_upload(e, x, sizeof(float) * n), *dw = ops_upload(e, w, sizeof(float) * K),
          *dy = ops_dev(e, sizeof(float) * n);
    if (e->failed)
        return;
    e->be->ops->rmsnorm(e->be, dx, dw, M, K, c->f, dy);
    if (ops_download(e, got, dy, sizeof(float) * n))
        return;
    if (e->naive) {
        naive_rmsnorm(x, w, M, K, c->f, want);
        // ref: mean from a double sum (≤ 1 rounding), +eps, sqrtf, 1/, x*scale, *w: ≤ 6 roundings of 2^-24
        for (size_t i = 0; i < n; i++)
            bound[i] = 8 * U * fabs(want[i]);
    } else {
        trit_ref_rmsnorm(x, w, M, K, c->f, ref);
        // a fast back end may sum the K squares in f32 in any order: the mean is then within K·u (relative) of
        // ref's, the rsqrt within half that, plus a few roundings
        for (size_t i = 0; i < n; i++)
            want[i] = ref[i], bound[i] = ((double)K * 0.5 + 8) * U * fabs(want[i]);
    }
    ops_expect_bound(e, "y", want, got, bound, n);
}

// ------------------------------------------------------------------------------------------------ rmsnorm_quantize

/* quantized rows from a norm a few ulp off: a norm that differs by a few ulp moves x*s by ≤ 127·(that), which flips
 * a code only when x*s sits that close to a .5 boundary, so codes may differ by 1, in at most 1/1000 of the
 * elements (+2); scales within s_rel (relative) */
static void expect_quant_near(ops_env *e, const int8_t *q_want, const float *s_want, const int8_t *q_got,
                              const float *s_got, int32_t M, int32_t K, double s_rel) {
    const size_t n = (size_t)M * K;
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        int d = q_got[i] - q_want[i];
        if (d < -1 || d > 1) {
            ops_fail(e, "q[%zu]: want %d got %d (more than 1 apart)", i, q_want[i], q_got[i]);
            return;
        }
        diff += d != 0;
    }
    if (diff > n / 1000 + 2)
        ops_fail(e, "q: %zu of %zu codes differ by 1 (limit %zu)", diff, n, n / 1000 + 2);
    for (int32_t m = 0; m < M; m++)
        if (!(fabs((double)s_got[m] - s_want[m]) <= s_rel * s_want[m]))
            ops_fail(e, "s[%d]: want %.9g got %.9g", (int)m, s_want[m], s_got[m]);
}

static void run_rmsnorm_quantize(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], K = c->p[1];
    const size_t n = (size_t)M * K;
    float *x = ops_host(e, sizeof(float) * n), *w = ops_host(e, sizeof(float) * K), *s_got = ops_host(e, sizeof(float) * M),
          *s_two = ops_host(e, sizeof(float) * M), *s_want = ops_host(e, sizeof(float) * M),
          *yref = ops_host(e, sizeof(float) * n);
    int8_t *q_got = ops_host(e, n), *q_two = ops_host(e, n), *q_want = ops_host(e, n);
    double *yd = ops_host(e, sizeof(double) * n);
    if (e->failed)
        return;
    make_rows(e, x, M, K, 0);
    ops_fill(e, w, (size_t)K, 0.05f, 2);
    float *dx = ops_upload(e, x, sizeof(float) * n), *dw = ops_upload(e, w, sizeof(float) * K),
          *dy = ops_dev(e, sizeof(float) * n), *ds = ops_dev(e, sizeof(float) * M), *ds2 = ops_dev(e, sizeof(float) * M);
    int8_t *dq = ops_dev(e, n), *dq2 = ops_dev(e, n);
    if (e->failed)
        return;
    e->be->ops->rmsnorm_quantize(e->be, dx, dw, M, K, c->f, dq, ds);
    e->be->ops->rmsnorm(e->be, dx, dw, M, K, c->f, dy);
    e->be->ops->quantize(e->be, dy, M, K, dq2, ds2);
    if (ops_download(e, q_got, dq, n) || ops_download(e, s_got, ds, sizeof(float) * M) ||
        ops_download(e, q_two, dq2, n) || ops_download(e, s_two, ds2, sizeof(float) * M))
        return;
    double s_rel; // allowed relative difference of the scale (it is 127/amax of the normalised row)
    if (e->naive) {
        // the contract on ref: fused == rmsnorm then quantize, bit for bit
        ops_expect_i8(e, "q (fused vs two ops)", q_two, q_got, n);
        ops_expect_bytes(e, "s (fused vs two ops)", s_two, s_got, (size_t)M, sizeof(float));
        // the exact (double) norm quantized: ref's norm is within 8 ulp, so a code can sit across a .5 boundary
        naive_rmsnorm(x, w, M, K, c->f, yd);
        for (size_t i = 0; i < n; i++)
            yref[i] = (float)yd[i];
        naive_quantize(yref, M, K, q_want, s_want);
        s_rel = 16 * U;
    } else {
        trit_ref_rmsnorm_quantize(x, w, M, K, c->f, q_want, s_want);
        s_rel = ((double)K * 0.5 + 8) * U; // the rmsnorm tolerance above carries into amax
    }
    expect_quant_near(e, q_want, s_want, q_got, s_got, M, K, s_rel);
}

// ------------------------------------------------------------------------------------------------ glu_rmsnorm_quantize

/* p: M, F, act. A back end without the fused op has nothing to test here (the forward composes the two ops). */
static void run_glu_rmsnorm_quantize(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], F = c->p[1];
    const trit_act act = (trit_act)c->p[2];
    if (!e->be->ops->glu_rmsnorm_quantize)
        return;
    const size_t n = (size_t)M * F;
    float *gu = ops_host(e, sizeof(float) * 2 * n), *w = ops_host(e, sizeof(float) * F),
          *h = ops_host(e, sizeof(float) * n), *s_got = ops_host(e, sizeof(float) * M),
          *s_two = ops_host(e, sizeof(float) * M), *s_want = ops_host(e, sizeof(float) * M);
    int8_t *q_got = ops_host(e, n), *q_two = ops_host(e, n), *q_want = ops_host(e, n);
    if (e->failed)
        return;
    for (int32_t m = 0; m < M; m++) // rows of different magnitude, gate and up alike
        make_rows(e, gu + (size_t)m * 2 * F, 1, 2 * F, 0);
    ops_fill(e, w, (size_t)F, 0.05f, 2);
    float *dgu = ops_upload(e, gu, sizeof(float) * 2 * n), *dw = ops_upload(e, w, sizeof(float) * F),
          *dh = ops_dev(e, sizeof(float) * n), *ds = ops_dev(e, sizeof(float) * M), *ds2 = ops_dev(e, sizeof(float) * M);
    int8_t *dq = ops_dev(e, n), *dq2 = ops_dev(e, n);
    if (e->failed)
        return;
    e->be->ops->glu_rmsnorm_quantize(e->be, dgu, M, F, act, dw, c->f, dq, ds);
    e->be->ops->glu(e->be, dgu, M, F, act, dh);
    e->be->ops->rmsnorm_quantize(e->be, dh, dw, M, F, c->f, dq2, ds2);
    if (ops_download(e, q_got, dq, n) || ops_download(e, s_got, ds, sizeof(float) * M) ||
        ops_download(e, q_two, dq2, n) || ops_download(e, s_two, ds2, sizeof(float) * M))
        return;
    if (act == TRIT_ACT_RELU2) { // the contract: the back end's own two ops, bit for bit
        ops_expect_i8(e, "q (fused vs glu + rmsnorm_quantize)", q_two, q_got, n);
        ops_expect_bytes(e, "s (fused vs glu + rmsnorm_quantize)", s_two, s_got, (size_t)M, sizeof(float));
    }
    // and near ref's two ops (silu: exp within an ulp or two moves the norm by less than rmsnorm's tolerance)
    trit_ref_glu(gu, M, F, act, h);
    trit_ref_rmsnorm_quantize(h, w, M, F, c->f, q_want, s_want);
    expect_quant_near(e, q_want, s_want, q_got, s_got, M, F, ((double)F * 0.5 + 8) * U);
}

// ------------------------------------------------------------------------------------------------ case list

#define Q(M, K, kind) {"quantize", run_quantize, {M, K, kind}, 0}
#define N(M, K) {"rmsnorm", run_rmsnorm, {M, K}, 1e-5f}
#define NQ(M, K) {"rmsnorm_quantize", run_rmsnorm_quantize, {M, K}, 1e-5f}
#define GNQ(M, F, act) {"glu_rmsnorm_quantize", run_glu_rmsnorm_quantize, {M, F, act}, 1e-5f}

static const ops_case cases[] = {
    Q(1, 2560, 0), Q(3, 2560, 1), Q(7, 6912, 0), Q(16, 640, 1), Q(33, 100, 0), Q(4, 257, 1), Q(2, 64, 0),
    Q(128, 2560, 0), Q(1, 1, 0), Q(8, 13824, 1), Q(2, 3840, 0),
    N(1, 2560), N(2, 6912), N(3, 100), N(7, 257), N(16, 2560), N(33, 64), N(128, 640), N(1, 1),
    NQ(1, 2560), NQ(3, 6912), NQ(7, 2560), NQ(16, 100), NQ(33, 257), NQ(2, 64), NQ(128, 640),
    GNQ(1, 6912, TRIT_ACT_RELU2), GNQ(3, 6912, TRIT_ACT_SILU), GNQ(16, 257, TRIT_ACT_RELU2), GNQ(33, 100, TRIT_ACT_SILU),
    GNQ(128, 640, TRIT_ACT_RELU2), GNQ(2, 1, TRIT_ACT_RELU2), GNQ(5, 8640, TRIT_ACT_RELU2),
};

const ops_case *ops_cases_quant(size_t *n) {
    *n = sizeof cases / sizeof cases[0];
    return cases;
}
