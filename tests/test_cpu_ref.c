/* test_cpu_ref.c — unit tests of the reference back end against independent, straightforward computations
 * (dense int matmul from the original codes, double-precision norms and attention, hand-checked values). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/fp16.h"
#include "cpu/ref/ref.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) { // splitmix64
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float frand(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 40) / (float)(1 << 24); }

static void test_pack_roundtrip_and_matmul(void **state) {
    const int shapes[][3] = {{1, 5, 3}, {3, 257, 7}, {2, 64, 100}, {7, 2560, 40}, {1, 6912, 9}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int M = shapes[si][0], K = shapes[si][1], N = shapes[si][2];
        int8_t *codes = malloc((size_t)N * K), *q = malloc((size_t)M * K);
        float *s = malloc(sizeof(float) * M), *y = malloc(sizeof(float) * M * N);
        for (int i = 0; i < N * K; i++)
            codes[i] = (int8_t)((int)(rnd() % 3) - 1);
        for (int i = 0; i < M * K; i++)
            q[i] = (int8_t)(rnd() & 0xff); // full int8 range, -128 included
        for (int m = 0; m < M; m++)
            s[m] = frand(0.5f, 100.0f);
        trit_tmat w = {.N = N, .K = K, .n_seg = 2, .seg_end = {N / 2 + 1, N}, .seg_scale = {1.5f, 0.75f}};
        trit_error err;
        assert_int_equal(trit_ref_tmat_pack(&w, codes, &err), TRIT_OK);
        assert_int_equal(w.bytes, (size_t)N * ((K + 3) / 4));
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
                assert_int_equal(trit_ref_tmat_get(&w, n, k), codes[(size_t)n * K + k]);
        trit_ref_matmul_tq(&w, q, s, M, y, 0);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                int32_t acc = 0;
                for (int k = 0; k < K; k++)
                    acc += q[(size_t)m * K + k] * codes[(size_t)n * K + k];
                float g = n < N / 2 + 1 ? 1.5f : 0.75f;
                float want = (float)acc / s[m] * g;
                assert_memory_equal(&y[(size_t)m * N + n], &want, sizeof want);
            }
        // accumulate adds the same value again
        float *y2 = malloc(sizeof(float) * M * N);
        memcpy(y2, y, sizeof(float) * M * N);
        trit_ref_matmul_tq(&w, q, s, M, y2, 1);
        for (int i = 0; i < M * N; i++) {
            float want = y[i] + y[i];
            assert_memory_equal(&y2[i], &want, sizeof want);
        }
        // bf16 output: the f32 result rounded; accumulate rounds f32(bf16 y) + v
        uint16_t *h = malloc(sizeof(uint16_t) * M * N), *h2 = malloc(sizeof(uint16_t) * M * N);
        trit_ref_matmul_tq_bf16(&w, q, s, M, h, 0);
        for (int i = 0; i < M * N; i++)
            assert_int_equal(h[i], trit_f32_to_bf16(y[i]));
        memcpy(h2, h, sizeof(uint16_t) * M * N);
        trit_ref_matmul_tq_bf16(&w, q, s, M, h2, 1);
        for (int i = 0; i < M * N; i++)
            assert_int_equal(h2[i], trit_f32_to_bf16(trit_bf16_to_f32(h[i]) + y[i]));
        trit_ref_tmat_free(&w);
        free(codes), free(q), free(s), free(y), free(y2), free(h), free(h2);
    }
}

/* the rounding the bf16 outputs rely on: nearest, ties to even, NaN quiet, overflow to infinity */
static void test_bf16_rounding(void **state) {
    const struct {
        uint32_t f;
        uint16_t want;
    } cases[] = {{0x3f800000u, 0x3f80}, {0x3f808000u, 0x3f80}, {0x3f818000u, 0x3f82}, {0x3f808001u, 0x3f81},
                 {0xbf80ffffu, 0xbf81}, {0x7f7fffffu, 0x7f80}, {0x7f800000u, 0x7f80}, {0x7f800001u, 0x7fc0},
                 {0xffc00000u, 0xffc0}, {0x00000001u, 0x0000}, {0x80000000u, 0x8000}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float f;
        memcpy(&f, &cases[i].f, sizeof f);
        assert_int_equal(trit_f32_to_bf16(f), cases[i].want);
    }
}

static void test_pack_rejects_bad_input(void **state) {
    int8_t codes[8] = {0, 1, -1, 0, 2, 0, 0, 0};
    trit_error err;
    trit_tmat w = {.N = 2, .K = 4, .n_seg = 1, .seg_end = {2}, .seg_scale = {1}};
    assert_int_equal(trit_ref_tmat_pack(&w, codes, &err), TRIT_E_ARG);
    assert_null(w.data);
    assert_non_null(strstr(err.msg, "[1][0]"));
    codes[4] = 0;
    w.seg_end[0] = 3;
    assert_int_equal(trit_ref_tmat_pack(&w, codes, &err), TRIT_E_ARG);
    w.n_seg = 0;
    assert_int_equal(trit_ref_tmat_pack(&w, codes, &err), TRIT_E_ARG);
    w.n_seg = 2, w.seg_end[0] = 1, w.seg_end[1] = 1;
    assert_int_equal(trit_ref_tmat_pack(&w, codes, &err), TRIT_E_ARG);
    w.seg_end[1] = 2;
    assert_int_equal(trit_ref_tmat_pack(&w, codes, &err), TRIT_OK);
    trit_ref_tmat_free(&w);
}

static void test_quantize(void **state) {
    // Ties round half to even: with amax 127 the scale is exactly 1, so x*s = x.
    float x[8] = {127.0f, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.49f};
    int8_t q[8];
    float s;
    trit_ref_quantize(x, 1, 8, q, &s);
    const int8_t want[8] = {127, 0, 2, 2, 0, -2, -2, 3};
    assert_true(s == 1.0f);
    assert_memory_equal(q, want, 8);
    // all-zero row: scale from the 1e-5 floor, codes zero
    float z[5] = {0};
    trit_ref_quantize(z, 1, 5, q, &s);
    assert_true(s == 127.0f / 1e-5f);
    for (int i = 0; i < 5; i++)
        assert_int_equal(q[i], 0);
    // random rows: the max element maps to ±127, every code within 0.5 of x*s
    for (int it = 0; it < 20; it++) {
        int K = 1 + (int)(rnd() % 3000);
        float *xr = malloc(sizeof(float) * K);
        int8_t *qr = malloc(K);
        for (int k = 0; k < K; k++)
            xr[k] = frand(-4, 4);
        trit_ref_quantize(xr, 1, K, qr, &s);
        int amax_i = 0;
        for (int k = 0; k < K; k++) {
            if (fabsf(xr[k]) > fabsf(xr[amax_i]))
                amax_i = k;
            assert_true(fabsf((float)qr[k] - xr[k] * s) <= 0.5f);
        }
        assert_int_equal(abs(qr[amax_i]), 127);
        free(xr), free(qr);
    }
}

static void test_rmsnorm_and_fused(void **state) {
    const int Ks[] = {1, 64, 100, 2560, 6912};
    for (size_t ki = 0; ki < sizeof Ks / sizeof Ks[0]; ki++) {
        int K = Ks[ki], M = 3;
        float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * K), *y = malloc(sizeof(float) * M * K);
        int8_t *q1 = malloc((size_t)M * K), *q2 = malloc((size_t)M * K);
        float s1[3], s2[3];
        for (int i = 0; i < M * K; i++)
            x[i] = frand(-3, 3);
        for (int k = 0; k < K; k++)
            w[k] = frand(0.1f, 2);
        trit_ref_rmsnorm(x, w, M, K, 1e-5f, y);
        for (int m = 0; m < M; m++) {
            double ss = 0;
            for (int k = 0; k < K; k++)
                ss += (double)x[m * K + k] * x[m * K + k];
            double r = 1.0 / sqrt(ss / K + 1e-5);
            for (int k = 0; k < K; k++) {
                double want = x[m * K + k] * r * w[k];
                assert_true(fabs(y[m * K + k] - want) <= 1e-6 * (1 + fabs(want))); // a few f32 ulps
            }
        }
        trit_ref_quantize(y, M, K, q1, s1);
        trit_ref_rmsnorm_quantize(x, w, M, K, 1e-5f, q2, s2);
        assert_memory_equal(q1, q2, (size_t)M * K); // contract: bit-identical to the two ops
        assert_memory_equal(s1, s2, sizeof s1);
        free(x), free(w), free(y), free(q1), free(q2);
    }
}

static void test_rope(void **state) {
    const int D = 128, H = 3, stride = 3 * 128 + 5, M = 3;
    const int32_t pos[3] = {0, 1, 4095};
    float *x = malloc(sizeof(float) * M * stride), *x0 = malloc(sizeof(float) * M * stride);
    for (int i = 0; i < M * stride; i++)
        x[i] = x0[i] = frand(-2, 2);
    trit_ref_rope(x, M, H, D, stride, pos, 500000.0f);
    for (int m = 0; m < M; m++) {
        for (int h = 0; h < H; h++)
            for (int i = 0; i < D / 2; i++) {
                size_t a = (size_t)m * stride + h * D + i, b = a + D / 2;
                double ang = (double)pos[m] / pow(500000.0, 2.0 * i / D);
                double wa = x0[a] * cos(ang) - x0[b] * sin(ang), wb = x0[b] * cos(ang) + x0[a] * sin(ang);
                // f32 angle of up to 4095 rad carries ~2.4e-4 absolute error from inv_freq rounding
                assert_true(fabs(x[a] - wa) < 2e-3 && fabs(x[b] - wb) < 2e-3);
                if (pos[m] == 0)
                    assert_true(x[a] == x0[a] && x[b] == x0[b]);
            }
        for (int i = H * D; i < stride; i++) // padding past the heads untouched
            assert_true(x[(size_t)m * stride + i] == x0[(size_t)m * stride + i]);
    }
    assert_true(trit_ref_rope_inv_freq(500000.0f, 0, 128) == 1.0f);
    free(x), free(x0);
}

static void test_attention(void **state) {
    trit_kvcache kv = {.n_layers = 2, .n_seq = 2, .n_ctx = 37, .n_kv_heads = 2, .head_dim = 64};
    size_t n = (size_t)kv.n_layers * kv.n_seq * kv.n_ctx * kv.n_kv_heads * kv.head_dim;
    kv.k = malloc(sizeof(float) * n);
    kv.v = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++)
        kv.k[i] = frand(-1, 1), kv.v[i] = frand(-1, 1);
    const int H = 8, D = 64, M = 4, q_stride = H * D + 3;
    const int32_t seq[4] = {0, 1, 1, 0}, pos[4] = {0, 36, 5, 17};
    float *q = malloc(sizeof(float) * M * q_stride), *out = malloc(sizeof(float) * M * H * D);
    for (int i = 0; i < M * q_stride; i++)
        q[i] = frand(-3, 3);
    trit_ref_attention(&kv, 1, q, q_stride, H, seq, pos, M, out);
    for (int m = 0; m < M; m++)
        for (int h = 0; h < H; h++) {
            int kvh = h / (H / kv.n_kv_heads);
            double sc[37], mx = -1e300, sum = 0;
            for (int t = 0; t <= pos[m]; t++) {
                const float *kt = kv.k + trit_kv_offset(&kv, 1, seq[m], t) + kvh * D;
                double d = 0;
                for (int i = 0; i < D; i++)
                    d += (double)q[m * q_stride + h * D + i] * kt[i];
                sc[t] = d / sqrt((double)D);
                mx = sc[t] > mx ? sc[t] : mx;
            }
            for (int t = 0; t <= pos[m]; t++)
                sum += (sc[t] = exp(sc[t] - mx));
            for (int i = 0; i < D; i++) {
                double o = 0;
                for (int t = 0; t <= pos[m]; t++)
                    o += sc[t] / sum * kv.v[trit_kv_offset(&kv, 1, seq[m], t) + kvh * D + i];
                assert_true(fabs(out[(m * H + h) * D + i] - o) < 1e-5); // f32 sums of ≤37 O(1) terms
            }
        }
    free(kv.k), free(kv.v), free(q), free(out);
}

static void test_kv_store(void **state) {
    trit_kvcache kv = {.n_layers = 3, .n_seq = 2, .n_ctx = 5, .n_kv_heads = 2, .head_dim = 4};
    size_t n = (size_t)3 * 2 * 5 * 2 * 4;
    kv.k = calloc(n, sizeof(float));
    kv.v = calloc(n, sizeof(float));
    float k[2][10], v[2][10];
    for (int i = 0; i < 20; i++)
        (&k[0][0])[i] = (float)i, (&v[0][0])[i] = (float)-i;
    const int32_t seq[2] = {1, 0}, pos[2] = {4, 2};
    trit_ref_kv_store(&kv, 2, &k[0][0], &v[0][0], 10, seq, pos, 2);
    for (int m = 0; m < 2; m++) {
        size_t off = ((((size_t)2 * 2 + seq[m]) * 5 + pos[m]) * 2) * 4;
        assert_memory_equal(kv.k + off, k[m], 8 * sizeof(float));
        assert_memory_equal(kv.v + off, v[m], 8 * sizeof(float));
    }
    free(kv.k), free(kv.v);
}

static void test_glu_add_embed_head(void **state) {
    float gu[2][6] = {{-1, 0, 2, 3, 4, 5}, {1, -2, 0.5f, 1, 1, -2}}, out[2][3];
    trit_ref_glu(&gu[0][0], 2, 3, TRIT_ACT_RELU2, &out[0][0]);
    assert_true(out[0][0] == 0 && out[0][1] == 0 && out[0][2] == 20 && out[1][0] == 1 && out[1][1] == 0);
    assert_true(out[1][2] == -0.5f);
    trit_ref_glu(&gu[0][0], 2, 3, TRIT_ACT_SILU, &out[0][0]);
    assert_true(fabsf(out[0][2] - 2.0f / (1.0f + expf(-2.0f)) * 5) < 1e-6f);
    float h[3] = {1, 2, 3}, a[3] = {0.5f, -2, 1};
    trit_ref_add(h, a, 3);
    assert_true(h[0] == 1.5f && h[1] == 0 && h[2] == 4);
    // bf16 table: 1.0 = 0x3F80, -2.0 = 0xC000, 0.5 = 0x3F00
    uint16_t tb[3][2] = {{0x3F80, 0xC000}, {0x3F00, 0x3F80}, {0, 0xC000}};
    float tf[3][2] = {{1, -2}, {0.5f, 1}, {0, -2}}, e1[2][2], e2[2][2];
    int32_t tok[2] = {2, 0};
    trit_ref_embed(tb, TRIT_DT_BF16, 2, tok, 2, &e1[0][0]);
    trit_ref_embed(tf, TRIT_DT_F32, 2, tok, 2, &e2[0][0]);
    assert_memory_equal(e1, e2, sizeof e1);
    assert_true(e1[0][1] == -2 && e1[1][0] == 1);
    float x[2][2] = {{1, 2}, {-1, 0.25f}}, l1[2][3], l2[2][3];
    trit_ref_lm_head(tb, TRIT_DT_BF16, 3, 2, &x[0][0], 2, &l1[0][0]);
    trit_ref_lm_head(tf, TRIT_DT_F32, 3, 2, &x[0][0], 2, &l2[0][0]);
    assert_memory_equal(l1, l2, sizeof l1);
    assert_true(l1[0][0] == -3 && l1[0][1] == 2.5f && l1[1][2] == -0.5f);
}

static void test_backend_table(void **state) {
    trit_backend *be;
    trit_error err;
    assert_int_equal(trit_backend_ref_create(4, &be, &err), TRIT_OK); // not through the registry: see ops.cmake
    assert_string_equal(be->ops->name, "ref");
    const trit_backend_ops *o = be->ops;
    assert_true(o->alloc && o->free && o->upload && o->download && o->sync && o->tmat_pack && o->tmat_free &&
                o->embed && o->rmsnorm && o->quantize && o->rmsnorm_quantize && o->matmul_tq && o->rope &&
                o->kv_store && o->attention && o->glu && o->add && o->lm_head && o->destroy);
    float *p = o->alloc(be, 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 64, 0);
    float src[2] = {1, 2}, dst[2];
    assert_int_equal(o->upload(be, p, src, sizeof src, &err), TRIT_OK);
    assert_int_equal(o->download(be, dst, p, sizeof dst, &err), TRIT_OK);
    assert_int_equal(o->sync(be, &err), TRIT_OK);
    assert_memory_equal(src, dst, sizeof src);
    o->free(be, p);
    o->destroy(be);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_roundtrip_and_matmul),
        cmocka_unit_test(test_bf16_rounding),
        cmocka_unit_test(test_pack_rejects_bad_input),
        cmocka_unit_test(test_quantize),
        cmocka_unit_test(test_rmsnorm_and_fused),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_kv_store),
        cmocka_unit_test(test_glu_add_embed_head),
        cmocka_unit_test(test_backend_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
