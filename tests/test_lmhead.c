/* test_lmhead.c — the optional int8 LM head (trit_model_params.lm_head_int8, TRIT_DT_I8ROW in backend.h):
 *  - the row quantizer: scale = max|w| / 127, round half to even, |q| <= 127, zero rows;
 *  - the loader builds exactly that table (memcmp against the quantizer run on the bf16 model's own table),
 *    tied and untied, from a file and for a random model; embeddings stay bit-identical;
 *  - logits of the int8 head stay within the bound the quantization allows of the bf16 head's, on every back end
 *    of the build. (The op itself is checked against ref in test_backend_ops and test_cpu_kernels; perplexity
 *    cost in tests/lmhead.cmake.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/ref/ref.h"
#include "formats_st.h"
#include "model/model.h"
#include "model_fixture.h"
#include "trit.h"

static const char *backends[] = {"ref", "cpu", "cuda"};

// ------------------------------------------------------------------------------------------------ quantizer

static void test_quantize_row(void **state) {
    // max|w| = 127 makes the scale exactly 1, so w / scale = w and the rounding is visible
    const float w[10] = {127.0f, 2.5f, 3.5f, -2.5f, 0.5f, 1.5f, -0.5f, -127.0f, 0.49f, 126.5f};
    const int8_t want[10] = {127, 2, 4, -2, 0, 2, 0, -127, 0, 126}; // half to even
    int8_t q[10];
    float s;
    trit_ref_i8row_quantize(w, 10, q, &s);
    assert_true(s == 1.0f);
    assert_memory_equal(q, want, sizeof want);

    const float z[3] = {0.0f, -0.0f, 0.0f};
    int8_t qz[3] = {1, 1, 1};
    trit_ref_i8row_quantize(z, 3, qz, &s);
    assert_true(s == 0.0f);
    assert_true(qz[0] == 0 && qz[1] == 0 && qz[2] == 0);

    // random rows: the largest element maps to ±127 and every element is within half a step
    uint64_t r = 12345;
    for (int t = 0; t < 200; t++) {
        float row[77];
        int8_t qr[77];
        for (int d = 0; d < 77; d++) {
            r = r * 6364136223846793005ULL + 1442695040888963407ULL;
            row[d] = ((float)(r >> 40) / (float)(1 << 24) - 0.5f) * (t % 7 + 0.01f);
        }
        trit_ref_i8row_quantize(row, 77, qr, &s);
        float amax = 0;
        for (int d = 0; d < 77; d++)
            amax = fmaxf(amax, fabsf(row[d]));
        assert_true(s == amax / 127.0f);
        for (int d = 0; d < 77; d++) {
            assert_true(qr[d] >= -127 && qr[d] <= 127);
            assert_true(fabs((double)row[d] - (double)qr[d] * s) <= 0.5 * s * (1 + 1e-5));
            if (fabsf(row[d]) == amax)
                assert_int_equal(abs(qr[d]), 127);
        }
    }
}

// ------------------------------------------------------------------------------------------------ loader

static trit_model *load(const char *dir, const char *backend, bool i8) {
    trit_model_params p = trit_model_default_params();
    p.backend = backend;
    p.n_threads = 2;
    p.lm_head_int8 = i8;
    trit_model *m = NULL;
    trit_error err = {0};
    trit_status st = trit_model_load(dir, &p, &m, &err);
    if (st == TRIT_E_BACKEND)
        return NULL; // back end not in this build / no device
    if (st != TRIT_OK)
        fail_msg("load %s on %s: %s", dir, backend, err.msg);
    return m;
}

static void *download(const trit_model *m, const void *src, size_t bytes) {
    void *h = malloc(bytes);
    trit_error err = {0};
    assert_non_null(h);
    assert_int_equal(m->be->ops->sync(m->be, &err), TRIT_OK);
    assert_int_equal(m->be->ops->download(m->be, h, src, bytes, &err), TRIT_OK);
    return h;
}

static size_t table_bytes(trit_dtype dt, int32_t V, int32_t D) {
    return dt == TRIT_DT_I8ROW ? trit_i8row_bytes(V, D) : (size_t)V * D * (dt == TRIT_DT_BF16 ? 2 : 4);
}

/* m8 (int8 head) against m0 (same weights, float head): the int8 table is the quantizer's output on m0's head
 * rows, bit for bit, and the embedding is untouched. */
static void check_tables(const trit_model *m0, const trit_model *m8) {
    const int32_t V = m0->cfg.vocab_size, D = m0->cfg.hidden_size;
    assert_int_equal(m8->lm_head_dt, TRIT_DT_I8ROW);
    assert_int_equal(m8->embed_dt, m0->embed_dt);
    assert_true(m8->lm_head != m8->embed);
    const size_t eb = table_bytes(m0->embed_dt, V, D), hb = table_bytes(m0->lm_head_dt, V, D);
    void *e0 = download(m0, m0->embed, eb), *e8 = download(m8, m8->embed, eb);
    assert_memory_equal(e0, e8, eb);
    void *h0 = download(m0, m0->lm_head, hb);
    char *h8 = download(m8, m8->lm_head, trit_i8row_bytes(V, D));
    int8_t *q = malloc((size_t)V * D);
    float *scale = malloc(sizeof(float) * (size_t)V), *row = malloc(sizeof(float) * (size_t)D);
    assert_true(q && scale && row);
    for (int32_t v = 0; v < V; v++) {
        for (int32_t d = 0; d < D; d++) {
            const size_t i = (size_t)v * D + d;
            row[d] = m0->lm_head_dt == TRIT_DT_BF16 ? trit_bf16_to_f32(((const uint16_t *)h0)[i]) : ((float *)h0)[i];
        }
        trit_ref_i8row_quantize(row, D, q + (size_t)v * D, &scale[v]);
    }
    assert_memory_equal(h8, q, (size_t)V * D);
    assert_memory_equal(h8 + trit_i8row_scale_offset(V, D), scale, sizeof(float) * (size_t)V);
    free(e0), free(e8), free(h0), free(h8), free(q), free(scale), free(row);
}

/* Logits of the last token of `toks` from both models. Each head weight moves by at most scale_v / 2 and the
 * head's input x = rmsnorm(h) * g has ‖x‖₁ ≤ √D·‖x‖₂ ≤ D·max|g|, so |Δlogit_v| ≤ scale_v / 2 · D · max|g|;
 * plus f32 rounding of both dot products (2(D+1)·u·127·scale_v·D·max|g| covers them, the table rows being
 * bounded by 127·scale_v). */
static void check_logits(trit_model *m0, trit_model *m8) {
    const int32_t V = m0->cfg.vocab_size, D = m0->cfg.hidden_size;
    const int32_t toks[6] = {3, 17, 5, 60, 2, 11};
    const float *l[2];
    trit_ctx *c[2];
    trit_model *ms[2] = {m0, m8};
    for (int k = 0; k < 2; k++) {
        trit_ctx_params cp = trit_ctx_default_params();
        cp.n_ctx = 16;
        trit_error err = {0};
        assert_int_equal(trit_ctx_new(ms[k], &cp, &c[k], &err), TRIT_OK);
        trit_batch b = {.n_tokens = 6, .tokens = toks};
        assert_int_equal(trit_ctx_decode(c[k], &b, &err), TRIT_OK);
        l[k] = trit_ctx_logits(c[k], 5);
        assert_non_null(l[k]);
    }
    float *g = download(m8, m8->final_norm, sizeof(float) * (size_t)D);
    char *h8 = download(m8, m8->lm_head, trit_i8row_bytes(V, D));
    const float *scale = (const float *)(h8 + trit_i8row_scale_offset(V, D));
    double gmax = 0, worst = 0;
    for (int32_t d = 0; d < D; d++)
        gmax = fmax(gmax, fabs(g[d]));
    for (int32_t v = 0; v < V; v++) {
        const double xs = (double)D * gmax * 1.0001; // ‖x‖₁ bound, with room for rmsnorm's eps and rounding
        const double bound = 0.5 * scale[v] * xs + 2.0 * (D + 1) * 127.0 * scale[v] * xs / 16777216.0;
        const double diff = fabs((double)l[1][v] - l[0][v]);
        if (!(diff <= bound))
            fail_msg("[%s] logit %d: int8 %.9g, float %.9g, beyond the bound %.3g", m0->be->ops->name, v, l[1][v],
                     l[0][v], bound);
        worst = fmax(worst, diff / bound);
    }
    print_message("[%s] int8 head: worst logit difference %.3f of its bound\n", m0->be->ops->name, worst);
    trit_ctx_free(c[0]);
    trit_ctx_free(c[1]);
    free(g), free(h8);
}

static void check_folder(bool tied, bool packed) {
    fixture_cfg fc = fixture_default();
    fc.tied = tied;
    fc.packed = packed;
    char *dir = fixture_write(&fc);
    assert_non_null(dir);
    for (size_t bi = 0; bi < sizeof backends / sizeof backends[0]; bi++) {
        trit_model *m0 = load(dir, backends[bi], false);
        if (!m0)
            continue;
        trit_model *m8 = load(dir, backends[bi], true);
        assert_non_null(m8);
        check_tables(m0, m8);
        check_logits(m0, m8);
        trit_model_free(m0);
        trit_model_free(m8);
    }
    st_rmtree(dir);
}

static void test_folder_tied(void **state) { check_folder(true, true); }
static void test_folder_untied(void **state) { check_folder(false, false); }

static void test_random_model(void **state) {
    trit_config cfg = trit_config_bitnet_2b4t();
    cfg.hidden_size = 96, cfg.intermediate_size = 160, cfg.n_layers = 2, cfg.n_heads = 4, cfg.n_kv_heads = 2;
    cfg.head_dim = 24, cfg.vocab_size = 1000, cfg.max_positions = 64; // 1000 rows: several blocks of the builder
    for (size_t bi = 0; bi < sizeof backends / sizeof backends[0]; bi++) {
        trit_model *m[2] = {NULL, NULL};
        for (int k = 0; k < 2; k++) {
            trit_model_params p = trit_model_default_params();
            p.backend = backends[bi];
            p.n_threads = 2;
            p.lm_head_int8 = k == 1;
            trit_error err = {0};
            trit_status st = trit_model_random(&cfg, 42, &p, &m[k], &err);
            if (st == TRIT_E_BACKEND)
                break;
            assert_int_equal(st, TRIT_OK);
        }
        if (!m[1]) {
            trit_model_free(m[0]);
            continue;
        }
        check_tables(m[0], m[1]);
        check_logits(m[0], m[1]);
        trit_model_free(m[0]);
        trit_model_free(m[1]);
    }
}

static void test_default_off(void **state) {
    trit_model_params p = trit_model_default_params();
    assert_false(p.lm_head_int8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_off),  cmocka_unit_test(test_quantize_row),
        cmocka_unit_test(test_folder_tied),  cmocka_unit_test(test_folder_untied),
        cmocka_unit_test(test_random_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
