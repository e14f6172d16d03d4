/* cases_misc.c — op cases for glu, add, embed and lm_head (f32, bf16 and int8 tables). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/harness.h"

#define U 0x1.0p-24 /* unit roundoff of f32 */

static uint16_t to_bf16(float f) { // truncation is fine for test data: any bf16 value is a valid table entry
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return (uint16_t)(b >> 16);
}

static float bf16_widen(uint16_t h) { // written out independently of trit_bf16_to_f32
    union {
        uint32_t u;
        float f;
    } v = {.u = (uint32_t)h << 16};
    return v.f;
}

/* a random table [V][D] as f32 or bf16 (returned as host memory); tab_f holds its f32 values */
static void *make_table(ops_env *e, trit_dtype dt, int32_t V, int32_t D, float *tab_f) {
    const size_t n = (size_t)V * D;
    ops_fill(e, tab_f, n, -1, 1);
    if (dt == TRIT_DT_F32)
        return tab_f;
    uint16_t *t = ops_host(e, sizeof(uint16_t) * n);
    if (!t)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        t[i] = to_bf16(tab_f[i]);
        tab_f[i] = bf16_widen(t[i]);
    }
    return t;
}

// ------------------------------------------------------------------------------------------------ glu

/* p: M, F, act */
static void run_glu(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], F = c->p[1];
    const trit_act act = (trit_act)c->p[2];
    const size_t n = (size_t)M * F;
    float *gu = ops_host(e, sizeof(float) * 2 * n), *got = ops_host(e, sizeof(float) * n),
          *ref = ops_host(e, sizeof(float) * n);
    double *want = ops_host(e, sizeof(double) * n), *bound = ops_host(e, sizeof(double) * n);
    if (e->failed)
        return;
    ops_fill(e, gu, 2 * n, -6, 6);
    float *dgu = ops_upload(e, gu, sizeof(float) * 2 * n), *dout = ops_dev(e, sizeof(float) * n);
    if (e->failed)
        return;
    e->be->ops->glu(e->be, dgu, M, F, act, dout);
    if (ops_download(e, got, dout, sizeof(float) * n))
        return;
    for (int32_t m = 0; m < M; m++)
        for (int32_t f = 0; f < F; f++) {
            size_t i = (size_t)m * F + f;
            float g = gu[(size_t)m * 2 * F + f], u = gu[(size_t)m * 2 * F + F + f];
            if (act == TRIT_ACT_RELU2) {
                float r = g > 0 ? g : 0.0f;
                ref[i] = r * r * u; // max(g,0)² · u: no sum, so every back end rounds the same two products
            } else {
                want[i] = (double)g / (1.0 + exp(-(double)g)) * u;
                // expf within ~1 ulp, then 1+, /, ·u: ≤ 4 roundings (×2 vs ref: both sides err)
                bound[i] = (e->naive ? 8 : 16) * U * fabs(want[i]);
            }
        }
    if (!e->naive)
        trit_ref_glu(gu, M, F, act, ref);
    if (act == TRIT_ACT_RELU2) {
        ops_expect_f32_exact(e, "out", ref, got, n);
        return;
    }
    if (!e->naive) {
        for (size_t i = 0; i < n; i++)
            want[i] = ref[i];
    }
    ops_expect_bound(e, "out", want, got, bound, n);
}

// ------------------------------------------------------------------------------------------------ add

/* p: n */
static void run_add(ops_env *e, const ops_case *c) {
    const size_t n = (size_t)c->p[0];
    float *h = ops_host(e, sizeof(float) * n), *x = ops_host(e, sizeof(float) * n), *got = ops_host(e, sizeof(float) * n);
    if (e->failed)
        return;
    ops_fill(e, h, n, -100, 100);
    ops_fill(e, x, n, -1, 1);
    float *dh = ops_upload(e, h, sizeof(float) * n), *dx = ops_upload(e, x, sizeof(float) * n);
    if (e->failed)
        return;
    e->be->ops->add(e->be, dh, dx, n);
    if (ops_download(e, got, dh, sizeof(float) * n))
        return;
    if (e->naive)
        for (size_t i = 0; i < n; i++)
            h[i] = h[i] + x[i];
    else
        trit_ref_add(h, x, n);
    ops_expect_f32_exact(e, "h", h, got, n); // one f32 add per element: exact
}

// ------------------------------------------------------------------------------------------------ embed

/* p: V, D, dtype, M */
static void run_embed(ops_env *e, const ops_case *c) {
    const int32_t V = c->p[0], D = c->p[1], M = c->p[3];
    const trit_dtype dt = (trit_dtype)c->p[2];
    float *tab_f = ops_host(e, sizeof(float) * V * D), *want = ops_host(e, sizeof(float) * M * D),
          *got = ops_host(e, sizeof(float) * M * D);
    int32_t *tok = ops_host(e, sizeof(int32_t) * M);
    if (e->failed)
        return;
    void *tab = make_table(e, dt, V, D, tab_f);
    if (!tab)
        return;
    for (int32_t m = 0; m < M; m++)
        tok[m] = m == 0 ? V - 1 : m == 1 ? 0 : ops_randi(e, 0, V - 1);
    size_t tb = (size_t)V * D * (dt == TRIT_DT_BF16 ? 2 : 4);
    void *dtab = ops_upload(e, tab, tb);
    int32_t *dtok = ops_upload(e, tok, sizeof(int32_t) * M);
    float *dout = ops_dev(e, sizeof(float) * M * D);
    if (e->failed)
        return;
    e->be->ops->embed(e->be, dtab, dt, D, dtok, M, dout);
    if (ops_download(e, got, dout, sizeof(float) * M * D))
        return;
    if (e->naive)
        for (int32_t m = 0; m < M; m++)
            memcpy(want + (size_t)m * D, tab_f + (size_t)tok[m] * D, sizeof(float) * D);
    else
        trit_ref_embed(tab, dt, D, tok, M, want);
    ops_expect_bytes(e, "out", want, got, (size_t)M * D, sizeof(float)); // a copy (bf16 widening is exact)
}

// ------------------------------------------------------------------------------------------------ lm_head

/* a random int8 LM head (TRIT_DT_I8ROW layout of backend.h) with q in [-127, 127] and row scales in
 * [1e-3, 1e-2), row 0 all zero with scale 0 (what the quantizer makes of a zero row); tab_f gets the codes as
 * floats and rs the scales, so a table value is tab_f * rs */
static void *make_i8row_table(ops_env *e, int32_t V, int32_t D, float *tab_f, double *rs) {
    char *t = ops_host(e, trit_i8row_bytes(V, D));
    if (!t)
        return NULL;
    int8_t *q = (int8_t *)t;
    float *scale = (float *)(t + trit_i8row_scale_offset(V, D));
    for (int32_t v = 0; v < V; v++) {
        scale[v] = v == 0 ? 0.0f : ops_randf(e, 1e-3f, 1e-2f);
        rs[v] = scale[v];
        for (int32_t d = 0; d < D; d++) {
            const size_t i = (size_t)v * D + d;
            q[i] = (int8_t)(v == 0 ? 0 : ops_randi(e, -127, 127));
            tab_f[i] = q[i];
        }
    }
    return t;
}

/* p: V, D, dtype, M */
static void run_lm_head(ops_env *e, const ops_case *c) {
    const int32_t V = c->p[0], D = c->p[1], M = c->p[3];
    const trit_dtype dt = (trit_dtype)c->p[2];
    const size_t n = (size_t)M * V;
    float *tab_f = ops_host(e, sizeof(float) * V * D), *x = ops_host(e, sizeof(float) * M * D),
          *got = ops_host(e, sizeof(float) * n), *ref = ops_host(e, sizeof(float) * n);
    double *want = ops_host(e, sizeof(double) * n), *bound = ops_host(e, sizeof(double) * n);
    double *rs = ops_host(e, sizeof(double) * V); // row scale of the table (1 for float tables)
    if (e->failed)
        return;
    for (int32_t v = 0; v < V; v++)
        rs[v] = 1.0;
    void *tab = dt == TRIT_DT_I8ROW ? make_i8row_table(e, V, D, tab_f, rs) : make_table(e, dt, V, D, tab_f);
    if (!tab)
        return;
    ops_fill(e, x, (size_t)M * D, -3, 3);
    size_t tb = dt == TRIT_DT_I8ROW ? trit_i8row_bytes(V, D) : (size_t)V * D * (dt == TRIT_DT_BF16 ? 2 : 4);
    void *dtab = ops_upload(e, tab, tb);
    float *dx = ops_upload(e, x, sizeof(float) * M * D), *dl = ops_dev(e, sizeof(float) * n);
    if (e->failed)
        return;
    e->be->ops->lm_head(e->be, dtab, dt, V, D, dx, M, dl);
    if (ops_download(e, got, dl, sizeof(float) * n))
        return;
    if (!e->naive)
        trit_ref_lm_head(tab, dt, V, D, x, M, ref);
    for (int32_t m = 0; m < M; m++)
        for (int32_t v = 0; v < V; v++) {
            double s = 0, sa = 0;
            for (int32_t d = 0; d < D; d++) {
                double t = (double)tab_f[(size_t)v * D + d] * x[(size_t)m * D + d];
                s += t, sa += fabs(t);
            }
            size_t i = (size_t)m * V + v;
            // any order of an f32 sum of D products is within D·u·Σ|terms| of the exact sum; vs ref both err.
            // int8 head: the same for Σ q·x, then one more rounding for the row scale times the sum
            const double extra = dt == TRIT_DT_I8ROW ? 2 : 1;
            want[i] = e->naive ? rs[v] * s : ref[i];
            bound[i] = (e->naive ? 1.0 : 2.0) * ((double)D + extra) * U * rs[v] * sa;
        }
    ops_expect_bound(e, "logits", want, got, bound, n);
}

// ------------------------------------------------------------------------------------------------ case list

#define G(M, F, act) {"glu", run_glu, {M, F, act}, 0}
#define A(n) {"add", run_add, {n}, 0}
#define E(V, D, dt, M) {"embed", run_embed, {V, D, dt, M}, 0}
#define L(V, D, dt, M) {"lm_head", run_lm_head, {V, D, dt, M}, 0}

static const ops_case cases[] = {
    G(1, 6912, TRIT_ACT_RELU2), G(3, 6912, TRIT_ACT_SILU), G(7, 100, TRIT_ACT_RELU2), G(16, 257, TRIT_ACT_SILU),
    G(33, 64, TRIT_ACT_RELU2), G(128, 640, TRIT_ACT_SILU), G(2, 8640, TRIT_ACT_SILU), G(128, 1, TRIT_ACT_RELU2),
    A(1), A(2560), A(100003), A(128 * 2560),
    E(1000, 2560, TRIT_DT_BF16, 7), E(1000, 2560, TRIT_DT_F32, 1), E(257, 100, TRIT_DT_BF16, 33),
    E(32002, 64, TRIT_DT_F32, 128),
    L(1000, 2560, TRIT_DT_BF16, 1), L(1000, 2560, TRIT_DT_F32, 3), L(4099, 100, TRIT_DT_BF16, 7),
    L(32002, 64, TRIT_DT_BF16, 2), L(257, 6912, TRIT_DT_F32, 16),
    // the int8 head: 2B-4T's width, odd widths (tails), decode and prefill row counts
    L(1000, 2560, TRIT_DT_I8ROW, 1), L(1000, 2560, TRIT_DT_I8ROW, 5), L(4099, 100, TRIT_DT_I8ROW, 7),
    L(32002, 64, TRIT_DT_I8ROW, 2), L(257, 6912, TRIT_DT_I8ROW, 16), L(33, 17, TRIT_DT_I8ROW, 130),
    L(4096, 512, TRIT_DT_I8ROW, 64),
};

const ops_case *ops_cases_misc(size_t *n) {
    *n = sizeof cases / sizeof cases[0];
    return cases;
}
