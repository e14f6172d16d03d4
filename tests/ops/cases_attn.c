/* cases_attn.c — op cases for rope, kv_store and attention. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/harness.h"

#define U 0x1.0p-24 /* unit roundoff of f32 */

// ------------------------------------------------------------------------------------------------ rope

/* p: M, n_heads, D, stride, offset (first rotated float of a row: 0 for q, 2560 for k inside q|k|v); f: theta */
static void run_rope(ops_env *e, const ops_case *c) {
    const int32_t M = c->p[0], H = c->p[1], D = c->p[2], stride = c->p[3], off = c->p[4];
    const float theta = c->f;
    const size_t n = (size_t)M * stride;
    float *x = ops_host(e, sizeof(float) * n), *got = ops_host(e, sizeof(float) * n),
          *ref = ops_host(e, sizeof(float) * n);
    double *want = ops_host(e, sizeof(double) * n), *bound = ops_host(e, sizeof(double) * n);
    int32_t *pos = ops_host(e, sizeof(int32_t) * M);
    if (e->failed)
        return;
    ops_fill(e, x, n, -2, 2);
    for (int32_t m = 0; m < M; m++)
        pos[m] = m == 0 ? 0 : m == 1 ? 4095 : ops_randi(e, 0, 4095);
    float *dx = ops_upload(e, x, sizeof(float) * n);
    int32_t *dpos = ops_upload(e, pos, sizeof(int32_t) * M);
    if (e->failed)
        return;
    e->be->ops->rope(e->be, dx + off, M, H, D, stride, dpos, theta);
    if (ops_download(e, got, dx, sizeof(float) * n))
        return;
    memcpy(ref, x, sizeof(float) * n);
    if (!e->naive)
        trit_ref_rope(ref + off, M, H, D, stride, pos, theta);
    for (size_t i = 0; i < n; i++)
        want[i] = ref[i], bound[i] = 0; // floats outside the heads must come back untouched
    for (int32_t m = 0; m < M; m++)
        for (int32_t h = 0; h < H; h++)
            for (int32_t i = 0; i < D / 2; i++) {
                size_t a = (size_t)m * stride + off + (size_t)h * D + i, b = a + D / 2;
                double mag = fabs(x[a]) + fabs(x[b]);
                // the angle is pos·inv_freq in f32 with inv_freq = theta^(-2i/D) from powf: a few ulp of an angle
                // ≤ pos rad, i.e. ≤ 8·pos·2^-24 rad (about 2e-3 at pos 4095), plus a few ulp from cos/sin/products
                bound[a] = bound[b] = (8.0 * pos[m] + 16) * U * mag * (e->naive ? 1 : 2); // vs ref: both err
                if (e->naive) {
                    double ang = (double)pos[m] / pow((double)theta, 2.0 * i / D);
                    want[a] = x[a] * cos(ang) - x[b] * sin(ang);
                    want[b] = x[b] * cos(ang) + x[a] * sin(ang);
                }
            }
    ops_expect_bound(e, "x", want, got, bound, n);
}

// ------------------------------------------------------------------------------------------------ kv cache

typedef struct {
    trit_kvcache host; /* host copy (k, v host pointers) */
    trit_kvcache dev;  /* the same shape with back-end pointers */
    size_t n;          /* floats in k (and in v) */
} cache_pair;

/* a random cache of the given shape, on the host and uploaded */
static int make_cache(ops_env *e, cache_pair *cp, int32_t n_layers, int32_t n_seq, int32_t n_ctx, int32_t n_kv,
                      int32_t D) {
    trit_kvcache shape = {.n_layers = n_layers, .n_seq = n_seq, .n_ctx = n_ctx, .n_kv_heads = n_kv, .head_dim = D};
    cp->host = cp->dev = shape;
    cp->n = (size_t)n_layers * n_seq * n_ctx * n_kv * D;
    cp->host.k = ops_host(e, sizeof(float) * cp->n);
    cp->host.v = ops_host(e, sizeof(float) * cp->n);
    if (e->failed)
        return 1;
    ops_fill(e, cp->host.k, cp->n, -1, 1);
    ops_fill(e, cp->host.v, cp->n, -1, 1);
    cp->dev.k = ops_upload(e, cp->host.k, sizeof(float) * cp->n);
    cp->dev.v = ops_upload(e, cp->host.v, sizeof(float) * cp->n);
    return e->failed;
}

/* p: n_kv_heads, D, n_ctx, n_seq, M, row padding. Rows of k and v are `stride` apart like inside q|k|v. */
static void run_kv_store(ops_env *e, const ops_case *c) {
    const int32_t n_kv = c->p[0], D = c->p[1], n_ctx = c->p[2], n_seq = c->p[3], M = c->p[4];
    const int32_t stride = n_kv * D + c->p[5], layer = 1;
    cache_pair cp;
    if (make_cache(e, &cp, 3, n_seq, n_ctx, n_kv, D))
        return;
    float *k = ops_host(e, sizeof(float) * M * stride), *v = ops_host(e, sizeof(float) * M * stride),
          *gk = ops_host(e, sizeof(float) * cp.n), *gv = ops_host(e, sizeof(float) * cp.n);
    int32_t *seq = ops_host(e, sizeof(int32_t) * M), *pos = ops_host(e, sizeof(int32_t) * M);
    if (e->failed)
        return;
    ops_fill(e, k, (size_t)M * stride, -3, 3);
    ops_fill(e, v, (size_t)M * stride, -3, 3);
    for (int32_t m = 0; m < M; m++) { // distinct (seq, pos) slots: slot index m spread over the cache
        int32_t slot = (int32_t)(((int64_t)m * n_seq * n_ctx) / M);
        seq[m] = slot / n_ctx, pos[m] = slot % n_ctx;
    }
    float *dk = ops_upload(e, k, sizeof(float) * M * stride), *dv = ops_upload(e, v, sizeof(float) * M * stride);
    int32_t *dseq = ops_upload(e, seq, sizeof(int32_t) * M), *dpos = ops_upload(e, pos, sizeof(int32_t) * M);
    if (e->failed)
        return;
    e->be->ops->kv_store(e->be, &cp.dev, layer, dk, dv, stride, dseq, dpos, M);
    if (ops_download(e, gk, cp.dev.k, sizeof(float) * cp.n) || ops_download(e, gv, cp.dev.v, sizeof(float) * cp.n))
        return;
    if (e->naive) { // the layout of backend.h, written out
        for (int32_t m = 0; m < M; m++)
            for (int32_t i = 0; i < n_kv * D; i++) {
                size_t at = ((((size_t)layer * n_seq + seq[m]) * n_ctx + pos[m]) * n_kv) * D + i;
                cp.host.k[at] = k[(size_t)m * stride + i];
                cp.host.v[at] = v[(size_t)m * stride + i];
            }
    } else {
        trit_ref_kv_store(&cp.host, layer, k, v, stride, seq, pos, M);
    }
    // a copy: bit-exact, and nothing else in the cache may change
    ops_expect_bytes(e, "k cache", cp.host.k, gk, cp.n, sizeof(float));
    ops_expect_bytes(e, "v cache", cp.host.v, gv, cp.n, sizeof(float));
}

/* softmax(q·Kᵀ/sqrt(D))·V in double, two passes over stored scores */
static void naive_attention(const trit_kvcache *kv, int32_t layer, const float *q, int32_t q_stride, int32_t H,
                            const int32_t *seq, const int32_t *pos, int32_t M, double *out) {
    // q: [M][q_stride]; out: [M][H*D]
    const int32_t D = kv->head_dim, n_kv = kv->n_kv_heads;
    double *sc = malloc(sizeof(double) * (size_t)kv->n_ctx);
    if (!sc)
        return;
    for (int32_t m = 0; m < M; m++)
        for (int32_t h = 0; h < H; h++) {
            int32_t kvh = h / (H / n_kv);
            double mx = -INFINITY, sum = 0;
            for (int32_t t = 0; t <= pos[m]; t++) {
                const float *kt = kv->k + trit_kv_offset(kv, layer, seq[m], t) + (size_t)kvh * D;
                double d = 0;
                for (int32_t i = 0; i < D; i++)
                    d += (double)q[(size_t)m * q_stride + (size_t)h * D + i] * kt[i];
                sc[t] = d / sqrt((double)D);
                mx = sc[t] > mx ? sc[t] : mx;
            }
            for (int32_t t = 0; t <= pos[m]; t++)
                sum += sc[t] = exp(sc[t] - mx);
            for (int32_t i = 0; i < D; i++) {
                double o = 0;
                for (int32_t t = 0; t <= pos[m]; t++)
                    o += sc[t] * kv->v[trit_kv_offset(kv, layer, seq[m], t) + (size_t)kvh * D + i];
                out[((size_t)m * H + h) * D + i] = o / sum;
            }
        }
    free(sc);
}

/* p: n_heads, n_kv_heads, D, n_ctx, M, mode (0: decode-like, random seq and positions; 1: prefill, one sequence
 * at consecutive positions ending at n_ctx-1); f: scale of q (larger = peakier softmax) */
static void run_attention(ops_env *e, const ops_case *c) {
    const int32_t H = c->p[0], n_kv = c->p[1], D = c->p[2], n_ctx = c->p[3], M = c->p[4], mode = c->p[5];
    const int32_t n_seq = 3, layer = 1, q_stride = (H + 2 * n_kv) * D; // q inside a q|k|v row
    cache_pair cp;
    if (make_cache(e, &cp, 2, n_seq, n_ctx, n_kv, D))
        return;
    const size_t no = (size_t)M * H * D;
    float *q = ops_host(e, sizeof(float) * M * q_stride), *got = ops_host(e, sizeof(float) * no),
          *ref = ops_host(e, sizeof(float) * no);
    double *want = ops_host(e, sizeof(double) * no);
    int32_t *seq = ops_host(e, sizeof(int32_t) * M), *pos = ops_host(e, sizeof(int32_t) * M);
    if (e->failed)
        return;
    ops_fill(e, q, (size_t)M * q_stride, -c->f, c->f);
    for (int32_t m = 0; m < M; m++) {
        seq[m] = mode ? 1 : ops_randi(e, 0, n_seq - 1);
        pos[m] = mode ? n_ctx - M + m : (m == 0 ? 0 : m == 1 ? n_ctx - 1 : ops_randi(e, 0, n_ctx - 1));
    }
    float *dq = ops_upload(e, q, sizeof(float) * M * q_stride), *dout = ops_dev(e, sizeof(float) * no);
    int32_t *dseq = ops_upload(e, seq, sizeof(int32_t) * M), *dpos = ops_upload(e, pos, sizeof(int32_t) * M);
    if (e->failed)
        return;
    e->be->ops->attention(e->be, &cp.dev, layer, dq, q_stride, H, dseq, dpos, M, dout);
    if (ops_download(e, got, dout, sizeof(float) * no))
        return;
    if (e->naive) {
        naive_attention(&cp.host, layer, q, q_stride, H, seq, pos, M, want);
        for (size_t i = 0; i < no; i++)
            ref[i] = (float)want[i];
    } else {
        trit_ref_attention(&cp.host, layer, q, q_stride, H, seq, pos, M, ref);
    }
    // outputs are convex combinations of values in [-1, 1]. f32 scores carry ~D·u·|q||k| error, which the softmax
    // turns into relative weight errors of that size (×|q|·|k|/sqrt(D) ≤ ~8·f² here); the weighted sums add
    // ≤ ctx·u. Measured errors are ~1e-7; the limits leave 100× room and still catch any wrong weight or index.
    ops_expect_close(e, "out", ref, got, no, 1e-10, 2e-5 * c->f * c->f);
}

// ------------------------------------------------------------------------------------------------ case list

#define R(M, H, D, stride, off, theta) {"rope", run_rope, {M, H, D, stride, off}, theta}
#define KV(n_kv, D, ctx, nseq, M, pad) {"kv_store", run_kv_store, {n_kv, D, ctx, nseq, M, pad}, 0}
#define AT(H, n_kv, D, ctx, M, mode, f) {"attention", run_attention, {H, n_kv, D, ctx, M, mode}, f}

static const ops_case cases[] = {
    R(1, 20, 128, 3840, 0, 500000.0f), R(3, 5, 128, 3840, 2560, 500000.0f), R(7, 20, 128, 2560, 0, 500000.0f),
    R(16, 16, 96, 1536, 0, 10000.0f), R(2, 32, 100, 3200, 0, 10000.0f), R(33, 4, 64, 4 * 64 + 7, 3, 10000.0f),
    R(128, 2, 128, 256, 0, 500000.0f),
    KV(5, 128, 64, 2, 1, 2560), KV(5, 128, 33, 3, 7, 2560), KV(2, 64, 16, 1, 16, 0), KV(1, 100, 9, 4, 33, 3),
    AT(20, 5, 128, 64, 1, 0, 1.0f), AT(20, 5, 128, 200, 3, 0, 2.0f), AT(20, 5, 128, 33, 33, 1, 1.0f),
    AT(8, 8, 64, 100, 7, 0, 4.0f), AT(16, 2, 96, 257, 2, 0, 1.0f), AT(4, 1, 100, 17, 16, 1, 2.0f),
    AT(20, 5, 128, 128, 128, 1, 1.0f), AT(4, 2, 64, 1, 1, 0, 1.0f),
};

const ops_case *ops_cases_attn(size_t *n) {
    *n = sizeof cases / sizeof cases[0];
    return cases;
}
