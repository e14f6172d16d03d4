/* test_cpu_kernels.c — the fast CPU back end against the reference: every kernel set this machine can run
 * (scalar, avx2, avx512 / neon) at several thread counts, on fresh random inputs (the seed is printed; set
 * TRIT_TEST_SEED to replay one). The checks themselves live in test_cpu_check.c; each computes the reference once
 * and compares every back end with it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/fast/cpu.h"
#include "cpu/ref/ref.h"
#include "test_cpu_check.h"

static uint64_t g_seed;
static trit_cpu_bes g_bes;

/* kernel set, threads, weight layout: odd thread counts make uneven splits of rows and blocks */
static const struct {
    const char *isa;
    int threads;
    const char *weights;
} CONFIGS[] = {{"scalar", 2, "t16"}, {"avx2", 2, "t16"},   {"avx512", 1, "t16"}, {"avx512", 3, "t16"},
               {"amx", 2, "t16"},    {"scalar", 1, "tq1"}, {"avx512", 1, "tq1"}, {"avx512", 3, "tq1"},
               {"scalar", 3, "tl"},  {"avx2", 1, "tl"},    {"avx2", 3, "tl"}};

static int setup(void **state) {
    g_bes.n = 0;
    for (size_t i = 0; i < sizeof CONFIGS / sizeof CONFIGS[0]; i++) {
        if (!trit_cpu_kernels_pick(CONFIGS[i].isa)) {
            print_message("kernel set %s: not usable on this CPU, not tested here\n", CONFIGS[i].isa);
            continue;
        }
        trit_error err;
        if (trit_cpu_backend_create_opts(CONFIGS[i].threads, CONFIGS[i].isa, CONFIGS[i].weights, &g_bes.be[g_bes.n],
                                         &err) != TRIT_OK) {
            print_message("%s\n", err.msg);
            return -1;
        }
        const trit_cpu_layout want = !strcmp(CONFIGS[i].weights, "tq1")  ? TRIT_CPU_TQ1
                                     : !strcmp(CONFIGS[i].weights, "tl") ? TRIT_CPU_TL
                                                                         : TRIT_CPU_T16;
        if (trit_cpu_backend_layout(g_bes.be[g_bes.n]) != want) {
            print_message("kernel set %s does not pack the %s weights it was asked for\n", CONFIGS[i].isa,
                          CONFIGS[i].weights);
            return -1;
        }
        g_bes.n++;
    }
    return g_bes.n > 0 ? 0 : -1;
}

static int teardown(void **state) {
    for (int i = 0; i < g_bes.n; i++)
        g_bes.be[i]->ops->destroy(g_bes.be[i]);
    return 0;
}

static void run_check(int i) {
    uint64_t rng = g_seed + (uint64_t)i * 1000003u;
    int f = trit_cpu_checks[i].fn(&g_bes, &rng, 1);
    if (f)
        print_message("%s: %d failures (seed %llu)\n", trit_cpu_checks[i].name, f, (unsigned long long)g_seed);
    assert_int_equal(f, 0);
}

static void test_quantize(void **state) { run_check(0); }
static void test_rmsnorm_quantize(void **state) { run_check(1); }
static void test_matmul_tq(void **state) { run_check(2); }
static void test_lm_head(void **state) { run_check(3); }
static void test_attention(void **state) { run_check(4); }
static void test_glu_rope(void **state) { run_check(5); }
static void test_tq1_codes(void **state) { run_check(6); }

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float unit(uint64_t *s) { return (float)((double)(splitmix(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

/* The int8 LM head (TRIT_DT_I8ROW) of every kernel set against ref: tables quantized from random rows by the
 * loader's quantizer (one row all zero), shapes with column tails (D % 16, D % 8), the decode path (M = 1), the
 * 4-rows-of-x path with remainders, and more rows of x than one L2 tile (M = 37 at D = 2560). */
static void test_lm_head_i8(void **state) {
    static const struct {
        int32_t V, D, M;
    } SH[] = {{1, 64, 1},     {17, 1, 3},    {17, 15, 5},   {1000, 100, 1}, {1000, 2560, 1},
              {257, 2560, 4}, {17, 2560, 37}, {4099, 64, 9}, {513, 6912, 2}, {33, 17, 130}};
    uint64_t rng = g_seed ^ 0x1e8d;
    int fails = 0;
    for (size_t si = 0; si < sizeof SH / sizeof SH[0]; si++) {
        const int32_t V = SH[si].V, D = SH[si].D, M = SH[si].M;
        char *tab = malloc(trit_i8row_bytes(V, D));
        float *w = malloc(sizeof(float) * (size_t)D), *x = malloc(sizeof(float) * (size_t)M * D);
        float *l0 = malloc(sizeof(float) * (size_t)M * V), *l1 = malloc(sizeof(float) * (size_t)M * V);
        double *sa = malloc(sizeof(double) * (size_t)M * V);
        assert_true(tab && w && x && l0 && l1 && sa);
        int8_t *q = (int8_t *)tab;
        float *scale = (float *)(tab + trit_i8row_scale_offset(V, D));
        for (int32_t v = 0; v < V; v++) {
            for (int32_t d = 0; d < D; d++)
                w[d] = v == V / 2 ? 0.0f : unit(&rng) * 0.05f;
            trit_ref_i8row_quantize(w, D, q + (size_t)v * D, &scale[v]);
        }
        for (size_t i = 0; i < (size_t)M * D; i++)
            x[i] = unit(&rng) * (splitmix(&rng) % 64 ? 1.0f : 20.0f); // a few outliers, as real activations
        trit_ref_lm_head(tab, TRIT_DT_I8ROW, V, D, x, M, l0);
        for (int32_t m = 0; m < M; m++)
            for (int32_t v = 0; v < V; v++) {
                double a = 0;
                for (int32_t d = 0; d < D; d++)
                    a += fabs((double)q[(size_t)v * D + d] * x[(size_t)m * D + d]);
                sa[(size_t)m * V + v] = a * scale[v];
            }
        for (int bi = 0; bi < g_bes.n; bi++) {
            trit_backend *be = g_bes.be[bi];
            be->ops->lm_head(be, tab, TRIT_DT_I8ROW, V, D, x, M, l1);
            for (size_t i = 0; i < (size_t)M * V; i++) {
                // Σ q·x in two f32 orders (each within (D-1)·u·Σ|q·x| of exact), then the same scale rounding
                // on both sides: |diff| ≤ 2(D+1)·u·scale·Σ|q·x|
                const double tol = 2.0 * (D + 1) * sa[i] / 16777216.0 + 1e-30;
                if (!(fabs((double)l1[i] - l0[i]) <= tol)) {
                    print_message("[%s] lm_head i8row V=%d D=%d M=%d: [%zu] = %.9g, ref %.9g (tol %.3g)\n",
                                  trit_cpu_backend_kernels(be)->name, V, D, M, i, l1[i], l0[i], tol);
                    fails++;
                    break;
                }
            }
        }
        free(tab), free(w), free(x), free(l0), free(l1), free(sa);
    }
    if (fails)
        print_message("lm_head i8row: %d failures (seed %llu)\n", fails, (unsigned long long)g_seed);
    assert_int_equal(fails, 0);
}

static void test_pool(void **state) {
    for (int n = 1; n <= 4; n++)
        assert_int_equal(trit_cpu_check_pool(n), 0);
}

static void test_dispatch(void **state) {
    // the default pick is the best usable set; unknown names are refused, not crashed on
    assert_non_null(trit_cpu_kernels_pick(NULL));
    assert_null(trit_cpu_kernels_pick("sse9"));
    assert_string_equal(trit_cpu_kernels_pick("scalar")->name, "scalar");
    trit_backend *be;
    trit_error err;
    assert_int_equal(trit_cpu_backend_create_isa(0, "nonsense", &be, &err), TRIT_E_BACKEND);
    assert_int_equal(trit_cpu_backend_create_opts(0, NULL, "tq3", &be, &err), TRIT_E_BACKEND);
    assert_int_equal(trit_cpu_backend_create_opts(1, "scalar", "tq1", &be, &err), TRIT_OK);
    assert_int_equal(trit_cpu_backend_layout(be), TRIT_CPU_TQ1);
    be->ops->destroy(be);
    assert_int_equal(trit_cpu_backend_create_opts(1, "scalar", "tl", &be, &err), TRIT_OK);
    assert_int_equal(trit_cpu_backend_layout(be), TRIT_CPU_TL);
    be->ops->destroy(be);
    assert_int_equal(trit_cpu_backend_create_opts(1, "scalar", NULL, &be, &err), TRIT_OK);
    assert_int_equal(trit_cpu_backend_layout(be), TRIT_CPU_T16); // the default where there is no fast TQ1 kernel
    be->ops->destroy(be);
    assert_int_equal(trit_backend_cpu_create(0, &be, &err), TRIT_OK);
    assert_string_equal(be->ops->name, "cpu");
    assert_true(be->n_threads >= 1);
    be->ops->destroy(be);
}

static void pack_errors(const char *weights) {
    trit_backend *be;
    trit_error err;
    assert_int_equal(trit_cpu_backend_create_opts(1, "scalar", weights, &be, &err), TRIT_OK);
    int8_t codes[6] = {1, 0, -1, 2, 0, 0};
    trit_tmat w = {.N = 2, .K = 3, .n_seg = 1, .seg_end = {2}, .seg_scale = {1.0f}};
    assert_int_equal(be->ops->tmat_pack(be, &w, codes, &err), TRIT_E_ARG); // code 2 at [1][0]
    assert_null(w.data);
    assert_non_null(strstr(err.msg, "[1][0]"));
    codes[3] = 0;
    trit_tmat w2 = {.N = 2, .K = 3, .n_seg = 1, .seg_end = {1}, .seg_scale = {1.0f}};
    assert_int_equal(be->ops->tmat_pack(be, &w2, codes, &err), TRIT_E_ARG); // segments stop short of N
    trit_tmat w3 = {.N = 0, .K = 3, .n_seg = 1, .seg_end = {0}, .seg_scale = {1.0f}};
    assert_int_equal(be->ops->tmat_pack(be, &w3, codes, &err), TRIT_E_ARG);
    trit_tmat w4 = {.N = 2, .K = 3, .n_seg = 5, .seg_end = {2}, .seg_scale = {1.0f}};
    assert_int_equal(be->ops->tmat_pack(be, &w4, codes, &err), TRIT_E_ARG);
    be->ops->destroy(be);
}

static void test_pack_errors(void **state) {
    pack_errors("t16");
    pack_errors("tq1");
    pack_errors("tl");
}

int main(void) {
    g_seed = trit_cpu_check_seed();
    print_message("test_cpu_kernels seed %llu\n", (unsigned long long)g_seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),   cmocka_unit_test(test_pack_errors),      cmocka_unit_test(test_pool),
        cmocka_unit_test(test_quantize),   cmocka_unit_test(test_rmsnorm_quantize), cmocka_unit_test(test_matmul_tq),
        cmocka_unit_test(test_lm_head),    cmocka_unit_test(test_attention),        cmocka_unit_test(test_glu_rope),
        cmocka_unit_test(test_tq1_codes),        cmocka_unit_test(test_lm_head_i8),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
