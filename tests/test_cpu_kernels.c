/* test_cpu_kernels.c — the fast CPU back end against the reference: every kernel set this machine can run
 * (scalar, avx2, avx512 / neon) at several thread counts, on fresh random inputs (the seed is printed; set
 * TRIT_TEST_SEED to replay one). The checks themselves live in test_cpu_check.c; each computes the reference once
 * and compares every back end with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu/fast/cpu.h"
#include "test_cpu_check.h"

static uint64_t g_seed;
static trit_cpu_bes g_bes;

/* kernel set, threads: odd thread counts make uneven splits of rows and blocks */
static const struct {
    const char *isa;
    int threads;
} CONFIGS[] = {{"scalar", 2}, {"avx2", 2}, {"avx512", 1}, {"avx512", 3}, {"amx", 2}, {"neon", 1}, {"neon", 3}};

static int setup(void **state) {
    g_bes.n = 0;
    for (size_t i = 0; i < sizeof CONFIGS / sizeof CONFIGS[0]; i++) {
        if (!trit_cpu_kernels_pick(CONFIGS[i].isa)) {
            print_message("kernel set %s: not usable on this CPU, not tested here\n", CONFIGS[i].isa);
            continue;
        }
        trit_error err;
        if (trit_cpu_backend_create_isa(CONFIGS[i].threads, CONFIGS[i].isa, &g_bes.be[g_bes.n], &err) != TRIT_OK) {
            print_message("%s\n", err.msg);
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
    assert_int_equal(trit_backend_cpu_create(0, &be, &err), TRIT_OK);
    assert_string_equal(be->ops->name, "cpu");
    assert_true(be->n_threads >= 1);
    be->ops->destroy(be);
}

static void test_pack_errors(void **state) {
    trit_backend *be;
    trit_error err;
    assert_int_equal(trit_cpu_backend_create_isa(1, NULL, &be, &err), TRIT_OK);
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

int main(void) {
    g_seed = trit_cpu_check_seed();
    print_message("test_cpu_kernels seed %llu\n", (unsigned long long)g_seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch),   cmocka_unit_test(test_pack_errors),      cmocka_unit_test(test_pool),
        cmocka_unit_test(test_quantize),   cmocka_unit_test(test_rmsnorm_quantize), cmocka_unit_test(test_matmul_tq),
        cmocka_unit_test(test_lm_head),    cmocka_unit_test(test_attention),        cmocka_unit_test(test_glu_rope),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
