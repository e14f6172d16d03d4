/* test_cpu_check.c — the checks of test_cpu_check.h: every op of a "cpu" back end against the ref functions on
 * random inputs at odd and real shapes. Integer paths and element-wise float ops must match bit for bit (memcmp);
 * reductions carry a tolerance with its reason next to it. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/fast/cpu.h"
#include "cpu/ref/ref.h"
#include "test_cpu_check.h"

// ------------------------------------------------------------------------------------------------ helpers

static uint64_t rnd(uint64_t *s) { // splitmix64
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float unif(uint64_t *s) { return (float)((double)(rnd(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

/* activations with the shape of real ones: mostly small, a few outliers */
static void fill_act(uint64_t *s, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) {
        float v = unif(s) * scale;
        if (rnd(s) % 64 == 0)
            v *= 20.0f;
        x[i] = v;
    }
}

uint64_t trit_cpu_check_seed(void) {
    const char *e = getenv("TRIT_TEST_SEED");
    if (e && *e)
        return strtoull(e, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)&ts;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test: out of memory (%zu bytes)\n", n);
        exit(2);
    }
    return p;
}

/* first differing float of two arrays, for the failure message; -1 when equal */
static long first_diff(const void *a, const void *b, size_t n, size_t elem) {
    for (size_t i = 0; i < n; i++)
        if (memcmp((const char *)a + i * elem, (const char *)b + i * elem, elem))
            return (long)i;
    return -1;
}

static const int32_t KS[] = {64, 100, 257, 2560, 6912};
static const int32_t NS[] = {1, 3, 17, 640, 2560};
static const int32_t MS[] = {1, 2, 3, 7, 16, 33};
#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* "avx512", or "avx512/tq1" for a back end packing TQ1 weights ("/tl": TL); a few buffers so that one message
 * may name several */
static const char *kn(trit_backend *be) {
    static _Thread_local char buf[4][32];
    static _Thread_local int next;
    char *b = buf[next++ % 4];
    const trit_cpu_layout l = trit_cpu_backend_layout(be);
    snprintf(b, sizeof buf[0], "%s%s", trit_cpu_backend_kernels(be)->name,
             l == TRIT_CPU_TQ1 ? "/tq1" : l == TRIT_CPU_TL ? "/tl" : "");
    return b;
}

// ------------------------------------------------------------------------------------------------ quantize

/* rows of q/s from a back end against ref: bit-exact, except the documented one-ulp case of the fused op */
static int compare_quant(const char *name, int fused, int32_t K, int32_t M, const int8_t *q0, const float *s0,
                         const int8_t *q1, const float *s1) {
    int fails = 0;
    for (int32_t m = 0; m < M; m++) {
        const int8_t *a = q0 + (size_t)m * K, *b = q1 + (size_t)m * K;
        if (!memcmp(a, b, (size_t)K) && !memcmp(&s0[m], &s1[m], sizeof(float)))
            continue;
        // fused only: the f64 sum of squares is added in another order; once in ~1e5 rows that moves the f32
        // mean by an ulp, which may move s by an ulp and a code by one. Anything more is a bug.
        int maxd = 0;
        for (int32_t k = 0; k < K; k++)
            maxd = abs(a[k] - b[k]) > maxd ? abs(a[k] - b[k]) : maxd;
        if (fused && maxd <= 1 && fabsf(s1[m] / s0[m] - 1.0f) < 5e-7f) {
            fprintf(stderr, "  note: [%s] rmsnorm_quantize K=%d row %d: one-ulp norm difference (f64 order)\n", name,
                    K, m);
            continue;
        }
        long d = first_diff(a, b, (size_t)K, 1);
        fprintf(stderr, "  [%s] %s K=%d M=%d row %d: s %.9g vs ref %.9g, q[%ld] %d vs ref %d\n", name,
                fused ? "rmsnorm_quantize" : "quantize", K, M, m, s1[m], s0[m], d, d >= 0 ? b[d] : 0,
                d >= 0 ? a[d] : 0);
        fails++;
    }
    return fails;
}

static int check_quant(const trit_cpu_bes *bes, uint64_t *rng, int big, int fused) {
    int fails = 0;
    for (int ki = 0; ki < LEN(KS); ki++) {
        for (int mi = 0; mi < LEN(MS); mi++) {
            const int32_t K = KS[ki], M = MS[mi];
            if (!big && (size_t)K * M > 20000)
                continue;
            float *x = xmalloc(sizeof(float) * (size_t)M * K), *w = xmalloc(sizeof(float) * K);
            int8_t *q0 = xmalloc((size_t)M * K), *q1 = xmalloc((size_t)M * K);
            float *s0 = xmalloc(sizeof(float) * M), *s1 = xmalloc(sizeof(float) * M);
            fill_act(rng, x, (size_t)M * K, 3.0f);
            for (int32_t k = 0; k < K; k++)
                w[k] = 0.5f + unif(rng) * 0.25f;
            if (M > 1) // row 1: exact ties — amax 127 gives s = 1, so k + 0.5 must round half to even
                for (int32_t k = 0; k < K; k++)
                    x[K + k] = k == 0 ? 127.0f : (float)(int)(unif(rng) * 100) + 0.5f;
            if (M > 2) // row 2: all zero (s = 127 / 1e-5)
                memset(x + 2 * (size_t)K, 0, sizeof(float) * K);
            if (fused)
                trit_ref_rmsnorm_quantize(x, w, M, K, 1e-5f, q0, s0);
            else
                trit_ref_quantize(x, M, K, q0, s0);
            for (int bi = 0; bi < bes->n; bi++) {
                trit_backend *be = bes->be[bi];
                if (fused)
                    be->ops->rmsnorm_quantize(be, x, w, M, K, 1e-5f, q1, s1);
                else
                    be->ops->quantize(be, x, M, K, q1, s1);
                fails += compare_quant(kn(be), fused, K, M, q0, s0, q1, s1);
            }
            free(x), free(w), free(q0), free(q1), free(s0), free(s1);
        }
    }
    return fails;
}

static int check_quantize(const trit_cpu_bes *bes, uint64_t *rng, int big) { return check_quant(bes, rng, big, 0); }
static int check_rmsnorm_quantize(const trit_cpu_bes *bes, uint64_t *rng, int big) {
    return check_quant(bes, rng, big, 1);
}

// ------------------------------------------------------------------------------------------------ ternary matmul

static int matmul_case(const trit_cpu_bes *bes, uint64_t *rng, int32_t N, int32_t K, int32_t M) {
    int fails = 0;
    trit_error err;
    int8_t *codes = xmalloc((size_t)N * K), *q = xmalloc((size_t)M * K);
    float *s = xmalloc(sizeof(float) * M);
    float *y0 = xmalloc(sizeof(float) * (size_t)M * N), *y1 = xmalloc(sizeof(float) * (size_t)M * N);
    for (size_t i = 0; i < (size_t)N * K; i++)
        codes[i] = (int8_t)(rnd(rng) % 3) - 1;
    if (N > 2) { // extreme rows: all +1 and all -1 (largest |acc|)
        memset(codes, 1, (size_t)K);
        memset(codes + K, -1, (size_t)K);
    }
    for (size_t i = 0; i < (size_t)M * K; i++)
        q[i] = (int8_t)(rnd(rng) & 0xff);
    if (M > 1)
        memset(q + K, -128, (size_t)K); // row 1: all -128
    for (int32_t m = 0; m < M; m++)
        s[m] = 127.0f / (0.01f + 10.0f * fabsf(unif(rng)));
    trit_tmat wr = {.N = N, .K = K}, wf = {.N = N, .K = K};
    int nseg = 1 + (int)(rnd(rng) % TRIT_TMAT_MAX_SEG);
    if (nseg > N)
        nseg = N;
    for (int i = 0; i < nseg; i++) {
        wr.seg_end[i] = i == nseg - 1 ? N : (int32_t)((int64_t)N * (i + 1) / nseg);
        wr.seg_scale[i] = 0.5f + fabsf(unif(rng)) * 2.0f;
    }
    wr.n_seg = nseg;
    memcpy(wf.seg_end, wr.seg_end, sizeof wr.seg_end);
    memcpy(wf.seg_scale, wr.seg_scale, sizeof wr.seg_scale);
    wf.n_seg = nseg;
    if (trit_ref_tmat_pack(&wr, codes, &err) != TRIT_OK) {
        fprintf(stderr, "  matmul N=%d K=%d: ref pack failed: %s\n", N, K, err.msg);
        fails++;
        goto out;
    }
    for (int accumulate = 0; accumulate < 2; accumulate++) {
        for (size_t i = 0; i < (size_t)M * N; i++)
            y0[i] = accumulate ? unif(rng) * 100.0f : NAN;
        float *yin = xmalloc(sizeof(float) * (size_t)M * N);
        memcpy(yin, y0, sizeof(float) * (size_t)M * N);
        trit_ref_matmul_tq(&wr, q, s, M, y0, accumulate);
        for (int bi = 0; bi < bes->n; bi++) {
            trit_backend *be = bes->be[bi];
            if (be->ops->tmat_pack(be, &wf, codes, &err) != TRIT_OK) {
                fprintf(stderr, "  [%s] matmul N=%d K=%d: pack failed: %s\n", kn(be), N, K, err.msg);
                fails++;
                continue;
            }
            memcpy(y1, yin, sizeof(float) * (size_t)M * N);
            be->ops->matmul_tq(be, &wf, q, s, M, y1, accumulate);
            be->ops->tmat_free(be, &wf);
            long d = first_diff(y0, y1, (size_t)M * N, sizeof(float));
            if (d >= 0) {
                fprintf(stderr, "  [%s] matmul_tq N=%d K=%d M=%d acc=%d segs=%d: y[%ld][%ld] = %.9g, ref %.9g\n",
                        kn(be), N, K, M, accumulate, nseg, d / N, d % N, y1[d], y0[d]);
                fails++;
            }
        }
        free(yin);
    }
out:
    trit_ref_tmat_free(&wr);
    free(codes), free(q), free(s), free(y0), free(y1);
    return fails;
}

static int check_matmul(const trit_cpu_bes *bes, uint64_t *rng, int big) {
    int fails = 0;
    for (int ki = 0; ki < LEN(KS); ki++)
        for (int ni = 0; ni < LEN(NS); ni++)
            for (int mi = 0; mi < LEN(MS); mi++) {
                const int32_t N = NS[ni], K = KS[ki], M = MS[mi];
                // every (N, K) at M = 1 and 3; the other M where the ref side stays under ~1e8 multiply-adds
                double work = (double)N * K * M;
                if (M != 1 && M != 3 && work > (big ? 1.2e8 : 2e6))
                    continue;
                if (!big && work > 2e7)
                    continue;
                fails += matmul_case(bes, rng, N, K, M);
            }
    fails += matmul_case(bes, rng, 40, 300, 70); // more rows than one work chunk (64): TL builds tables per chunk
    if (big) // the real 2B-4T shapes: qkv fused, gate|up fused, down, at prefill-like M
        fails += matmul_case(bes, rng, 3840, 2560, 5) + matmul_case(bes, rng, 13824, 2560, 2) +
                 matmul_case(bes, rng, 2560, 6912, 9);
    return fails;
}

// ------------------------------------------------------------------------------------------------ float ops

/* |a - b| ≤ tol_i for every i, tol_i from the caller; prints the worst */
static int close_enough(const char *what, const float *ref, const float *got, const float *tol, size_t n) {
    size_t worst = 0;
    double wr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)ref[i] - (double)got[i]) / (double)tol[i];
        if (!(r <= wr))
            worst = i, wr = isnan(r) ? INFINITY : r;
    }
    if (wr <= 1.0)
        return 0;
    fprintf(stderr, "  %s: [%zu] = %.9g, ref %.9g (%.3g × the tolerance %.3g)\n", what, worst, got[worst], ref[worst],
            wr, tol[worst]);
    return 1;
}

static int check_lm_head(const trit_cpu_bes *bes, uint64_t *rng, int big) {
    static const int32_t VS[] = {1, 17, 1000}, DS[] = {64, 100, 2560}, HM[] = {1, 3, 5};
    int fails = 0;
    for (int dt = 0; dt < 2; dt++)
        for (int vi = 0; vi < LEN(VS); vi++)
            for (int di = 0; di < LEN(DS); di++)
                for (int mi = 0; mi < LEN(HM); mi++) {
                    const int32_t V = VS[vi], D = DS[di], M = HM[mi];
                    float *tf = xmalloc(sizeof(float) * (size_t)V * D), *x = xmalloc(sizeof(float) * (size_t)M * D);
                    uint16_t *tb = xmalloc(sizeof(uint16_t) * (size_t)V * D);
                    float *l0 = xmalloc(sizeof(float) * (size_t)M * V), *l1 = xmalloc(sizeof(float) * (size_t)M * V);
                    float *tol = xmalloc(sizeof(float) * (size_t)M * V);
                    for (size_t i = 0; i < (size_t)V * D; i++) {
                        float f = unif(rng) * 0.1f;
                        uint32_t bits;
                        memcpy(&bits, &f, 4);
                        tb[i] = (uint16_t)(bits >> 16);
                        tf[i] = trit_bf16_to_f32(tb[i]);
                    }
                    fill_act(rng, x, (size_t)M * D, 1.0f);
                    const void *table = dt ? (const void *)tb : (const void *)tf;
                    trit_ref_lm_head(table, (trit_dtype)dt, V, D, x, M, l0);
                    // any order of an n-term f32 sum is within (n-1)·u·Σ|t·x| of the exact one (u = 2^-24,
                    // FMA only tightens it), so two orders differ by at most 2(n-1)·u·Σ|t·x|
                    for (int32_t m = 0; m < M; m++)
                        for (int32_t v = 0; v < V; v++) {
                            double a = 0.0;
                            for (int32_t d = 0; d < D; d++)
                                a += fabs((double)tf[(size_t)v * D + d] * x[(size_t)m * D + d]);
                            tol[(size_t)m * V + v] = (float)(2.0 * D * a / 16777216.0) + 1e-30f;
                        }
                    for (int bi = 0; bi < bes->n; bi++) {
                        trit_backend *be = bes->be[bi];
                        be->ops->lm_head(be, table, (trit_dtype)dt, V, D, x, M, l1);
                        char what[96];
                        snprintf(what, sizeof what, "[%s] lm_head %s V=%d D=%d M=%d", kn(be), dt ? "bf16" : "f32", V,
                                 D, M);
                        fails += close_enough(what, l0, l1, tol, (size_t)M * V);
                    }
                    free(tf), free(x), free(tb), free(l0), free(l1), free(tol);
                }
    return fails;
}

/* M rows: the first 4 jump between two sequences and positions (a decode batch); with prefill > 0 the rest are a
 * causal run of one sequence (positions n_ctx - prefill .. n_ctx - 1), as a prompt is processed */
static int attention_case(const trit_cpu_bes *bes, uint64_t *rng, int32_t D, int32_t n_heads, int32_t n_kv,
                          int32_t n_ctx, int32_t prefill) {
    trit_kvcache kv = {.n_layers = 2, .n_seq = 2, .n_ctx = n_ctx, .n_kv_heads = n_kv, .head_dim = D};
    const size_t cache = (size_t)kv.n_layers * kv.n_seq * n_ctx * n_kv * D;
    kv.k = xmalloc(sizeof(float) * cache);
    kv.v = xmalloc(sizeof(float) * cache);
    fill_act(rng, kv.k, cache, 1.0f);
    fill_act(rng, kv.v, cache, 1.0f);
    const int32_t M = 4 + prefill;
    int32_t seq[64] = {0, 1, 1, 0}, pos[64] = {0, n_ctx / 3, n_ctx - 1, n_ctx / 2};
    for (int32_t m = 4; m < M; m++)
        seq[m] = 1, pos[m] = n_ctx - prefill + (m - 4);
    const int32_t qs = n_heads * D + 8; // a stride wider than the row, like a fused qkv buffer
    float *q = xmalloc(sizeof(float) * (size_t)M * qs);
    fill_act(rng, q, (size_t)M * qs, 2.0f);
    const size_t no = (size_t)M * n_heads * D;
    float *o0 = xmalloc(sizeof(float) * no), *o1 = xmalloc(sizeof(float) * no), *tol = xmalloc(sizeof(float) * no);
    trit_ref_attention(&kv, 1, q, qs, n_heads, seq, pos, M, o0);
    // the outputs are convex combinations of v (|v| ≤ 20); scores (|q·k| up to ~D) are summed in another order
    // and the softmax is taken online in blocks: relative error a few hundred ulps of the largest |v| at most
    for (size_t i = 0; i < no; i++)
        tol[i] = 20.0f * 2e-5f;
    int fails = 0;
    for (int bi = 0; bi < bes->n; bi++) {
        trit_backend *be = bes->be[bi];
        be->ops->attention(be, &kv, 1, q, qs, n_heads, seq, pos, M, o1);
        char what[96];
        snprintf(what, sizeof what, "[%s] attention D=%d heads=%d/%d ctx=%d", kn(be), D, n_heads, n_kv, n_ctx);
        fails += close_enough(what, o0, o1, tol, no);
    }
    free(kv.k), free(kv.v), free(q), free(o0), free(o1), free(tol);
    return fails;
}

static int check_attention(const trit_cpu_bes *bes, uint64_t *rng, int big) {
    return attention_case(bes, rng, 128, 8, 2, big ? 300 : 70, 0) + attention_case(bes, rng, 72, 3, 3, 130, 0) +
           attention_case(bes, rng, 100, 4, 1, 5, 0) + attention_case(bes, rng, 128, 20, 5, 140, 37) +
           attention_case(bes, rng, 64, 12, 1, 40, 19); // 12 query heads on one kv head: split into chunks
}

/* element-wise ops with the same f32 expressions as ref: bit-exact */
static int check_elementwise(const trit_cpu_bes *bes, uint64_t *rng, int big) {
    int fails = 0;
    static const int32_t FS[] = {1, 17, 100, 6912};
    for (int fi = 0; fi < LEN(FS); fi++)
        for (int mi = 0; mi < 4; mi++) {
            const int32_t F = FS[fi], M = MS[mi];
            float *gu = xmalloc(sizeof(float) * (size_t)M * 2 * F);
            float *o0 = xmalloc(sizeof(float) * (size_t)M * F), *o1 = xmalloc(sizeof(float) * (size_t)M * F);
            fill_act(rng, gu, (size_t)M * 2 * F, 4.0f);
            if (F > 1)
                gu[0] = NAN; // relu2 of NaN is 0 in ref (fmaxf)
            for (int act = 0; act < 2; act++) {
                if (act == 1)
                    gu[0] = 0.5f; // NaN checked with relu2 only: silu(NaN) has no one right bit pattern
                trit_ref_glu(gu, M, F, (trit_act)act, o0);
                for (int bi = 0; bi < bes->n; bi++) {
                    trit_backend *be = bes->be[bi];
                    be->ops->glu(be, gu, M, F, (trit_act)act, o1);
                    long d = first_diff(o0, o1, (size_t)M * F, sizeof(float));
                    if (d >= 0) {
                        fprintf(stderr, "  [%s] glu act=%d F=%d M=%d: [%ld] %.9g vs ref %.9g\n", kn(be), act, F, M, d,
                                o1[d], o0[d]);
                        fails++;
                    }
                }
            }
            free(gu), free(o0), free(o1);
        }
    // softmax exp of the attention kernels: within 4 ulps of expf over the whole range a softmax sees (x - max <= 0,
    // down to underflow); Cephes' polynomial is good to about 1 ulp
    for (int bi = 0; bi < bes->n; bi++) {
        float e[300], ref_sum = 0.0f;
        for (int i = 0; i < 300; i++)
            e[i] = i < 3 ? -(float)i * 0.5f : -110.0f * fabsf(unif(rng));
        for (int i = 0; i < 300; i++)
            ref_sum += expf(e[i] - 1.0f);
        float e0[300];
        memcpy(e0, e, sizeof e);
        float sum = trit_cpu_backend_kernels(bes->be[bi])->exp_sub_sum(e, 300, 1.0f);
        for (int i = 0; i < 300; i++) {
            float r = expf(e0[i] - 1.0f);
            if (!(fabsf(e[i] - r) <= 4.0f * 1.1920929e-7f * r + 1e-44f)) {
                fprintf(stderr, "  [%s] exp(%.9g) = %.9g, expf %.9g\n", kn(bes->be[bi]), e0[i] - 1.0f, e[i], r);
                fails++;
                break;
            }
        }
        if (!(fabsf(sum - ref_sum) <= 1e-5f * ref_sum)) { // 300 positive terms: order changes ~300 ulps at most
            fprintf(stderr, "  [%s] exp sum %.9g vs %.9g\n", kn(bes->be[bi]), sum, ref_sum);
            fails++;
        }
    }
    // rope: same angles and products as ref
    const int32_t D = 128, H = 5, stride = H * D + 3, M = 6;
    const int32_t pos[6] = {0, 1, 7, 100, 2047, 4095};
    float *x0 = xmalloc(sizeof(float) * M * stride), *x1 = xmalloc(sizeof(float) * M * stride);
    fill_act(rng, x0, (size_t)M * stride, 2.0f);
    float *xin = xmalloc(sizeof(float) * M * stride);
    memcpy(xin, x0, sizeof(float) * M * stride);
    trit_ref_rope(x0, M, H, D, stride, pos, 500000.0f);
    for (int bi = 0; bi < bes->n; bi++) {
        trit_backend *be = bes->be[bi];
        memcpy(x1, xin, sizeof(float) * M * stride);
        be->ops->rope(be, x1, M, H, D, stride, pos, 500000.0f);
        long d = first_diff(x0, x1, (size_t)M * stride, sizeof(float));
        if (d >= 0) {
            fprintf(stderr, "  [%s] rope: [%ld] %.9g vs ref %.9g\n", kn(be), d, x1[d], x0[d]);
            fails++;
        }
    }
    free(x0), free(x1), free(xin);
    (void)big;
    return fails;
}

/* TQ1 byte code: every one of the 243 five-code tuples decodes back to itself */
static int check_tq1_codes(const trit_cpu_bes *bes, uint64_t *rng, int big) {
    int fails = 0;
    for (unsigned v = 0; v < 243; v++) {
        uint8_t c[5];
        for (int j = 4, x = (int)v; j >= 0; j--, x /= 3)
            c[j] = (uint8_t)(x % 3);
        const uint8_t byte = trit_tq1_encode(c);
        for (int j = 0; j < 5; j++)
            if (trit_tq1_code(byte, j) != c[j]) {
                fprintf(stderr, "  tq1: tuple %u (byte %u) code %d decodes to %d, not %d\n", v, byte, j,
                        trit_tq1_code(byte, j), c[j]);
                fails++;
            }
    }
    (void)bes, (void)rng, (void)big;
    return fails;
}

const trit_cpu_check trit_cpu_checks[] = {
    {"quantize", check_quantize},   {"rmsnorm_quantize", check_rmsnorm_quantize},
    {"matmul_tq", check_matmul},    {"lm_head", check_lm_head},
    {"attention", check_attention}, {"glu_rope", check_elementwise},
    {"tq1_codes", check_tq1_codes},
};
const int trit_cpu_n_checks = LEN(trit_cpu_checks);

// ------------------------------------------------------------------------------------------------ pool

typedef struct {
    atomic_int hits[1000];
    atomic_int by_thread[8];
    int n;
} pool_ctx;

static void pool_fn(void *ctx, int64_t lo, int64_t hi, int ith) {
    pool_ctx *c = ctx;
    for (int64_t i = lo; i < hi; i++)
        atomic_fetch_add(&c->hits[i], 1);
    if (ith >= 0 && ith < c->n)
        atomic_fetch_add(&c->by_thread[ith], 1);
    else
        atomic_fetch_add(&c->by_thread[7], 1000000); // an ith out of range is a failure below
}

/* many jobs of odd sizes and chunks: every item must run exactly once per job, ith must be in range */
int trit_cpu_check_pool(int n_threads) {
    trit_pool *p;
    trit_error err;
    if (trit_pool_create(n_threads, &p, &err) != TRIT_OK) {
        fprintf(stderr, "  pool(%d): %s\n", n_threads, err.msg);
        return 1;
    }
    static pool_ctx c;
    int fails = 0;
    c.n = n_threads;
    for (int i = 0; i < 8; i++)
        atomic_init(&c.by_thread[i], 0);
    for (int job = 0; job < 20000 && !fails; job++) {
        const int64_t n = 1 + job % 997, chunk = 1 + job % 7;
        for (int64_t i = 0; i < n; i++)
            atomic_init(&c.hits[i], 0);
        trit_pool_for(p, n, chunk, pool_fn, &c);
        for (int64_t i = 0; i < n; i++)
            if (atomic_load(&c.hits[i]) != 1) {
                fprintf(stderr, "  pool(%d): job %d item %lld ran %d times\n", n_threads, job, (long long)i,
                        atomic_load(&c.hits[i]));
                fails++;
                break;
            }
    }
    if (atomic_load(&c.by_thread[7]) >= 1000000) {
        fprintf(stderr, "  pool(%d): a thread index out of range\n", n_threads);
        fails++;
    }
    trit_pool_destroy(p);
    return fails;
}
