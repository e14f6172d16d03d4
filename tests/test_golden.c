/* test_golden.c — the golden-file reader (tests/golden.c) on valid and hostile input: every truncation, every byte
 * flipped, each header/count/id/value rule broken on purpose. Run under ASan/UBSan in CI, so "no crash, no
 * out-of-bounds read" is checked too. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"

enum { V = 5 };

typedef struct {
    uint8_t b[1024];
    size_t n;
} buf;

static void put32(buf *w, uint32_t v) {
    for (int i = 0; i < 4; i++)
        w->b[w->n++] = (uint8_t)(v >> (8 * i));
}
static void putf(buf *w, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(w, u);
}

/* header + prefill case (2 tokens) + greedy case (1 token, 2 generated) */
static buf valid(void) {
    buf w = {.n = 0};
    uint32_t h[8] = {GOLDEN_MAGIC, GOLDEN_VERSION, 2, V, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        put32(&w, h[i]);
    put32(&w, GOLDEN_PREFILL);
    put32(&w, 2);
    put32(&w, 0);
    put32(&w, 4);
    for (int i = 0; i < 2 * V; i++)
        putf(&w, (float)i - 3.5f);
    put32(&w, GOLDEN_GREEDY);
    put32(&w, 1);
    put32(&w, 1);
    put32(&w, 2);
    put32(&w, 3);
    put32(&w, 4);
    return w;
}

static trit_status parse(const buf *w, golden_file *g, trit_error *err) {
    /* parse from an exact-size heap copy so ASan sees any read past the end */
    uint8_t *p = malloc(w->n ? w->n : 1);
    memcpy(p, w->b, w->n);
    trit_status st = golden_parse(p, w->n, "test", g, err);
    free(p);
    return st;
}

static void test_valid(void **state) {
    (void)state;
    buf w = valid();
    golden_file g;
    trit_error err = {0};
    assert_int_equal(parse(&w, &g, &err), TRIT_OK);
    assert_int_equal(g.vocab, V);
    assert_int_equal(g.n_cases, 2);
    assert_int_equal(g.cases[0].kind, GOLDEN_PREFILL);
    assert_int_equal(g.cases[0].n_tokens, 2);
    assert_int_equal(g.cases[0].tokens[1], 4);
    assert_true(g.cases[0].logits[2 * V - 1] == (float)(2 * V - 1) - 3.5f);
    assert_int_equal(g.cases[1].kind, GOLDEN_GREEDY);
    assert_int_equal(g.cases[1].n_gen, 2);
    assert_int_equal(g.cases[1].gen[1], 4);
    assert_null(g.cases[1].logits);
    golden_free(&g);
}

static void test_truncated(void **state) {
    (void)state;
    buf w = valid();
    for (size_t n = 0; n < w.n; n++) {
        buf t = w;
        t.n = n;
        golden_file g;
        trit_error err = {0};
        assert_int_equal(parse(&t, &g, &err), TRIT_E_FORMAT);
        assert_non_null(strstr(err.msg, "test"));
        assert_null(g.cases);
    }
}

static void test_trailing(void **state) {
    (void)state;
    buf w = valid();
    w.b[w.n++] = 0;
    golden_file g;
    trit_error err = {0};
    assert_int_equal(parse(&w, &g, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "trailing"));
}

/* set the int32 at byte offset `off` and expect a format error mentioning `word` */
static void expect_bad(size_t off, uint32_t v, const char *word) {
    buf w = valid();
    for (int i = 0; i < 4; i++)
        w.b[off + i] = (uint8_t)(v >> (8 * i));
    golden_file g;
    trit_error err = {0};
    assert_int_equal(parse(&w, &g, &err), TRIT_E_FORMAT);
    if (!strstr(err.msg, word))
        fail_msg("offset %zu value %u: message \"%s\" lacks \"%s\"", off, v, err.msg, word);
}

static void test_bad_fields(void **state) {
    (void)state;
    const size_t c0 = 32, c1 = 32 + 16 + 4 * 2 * V; /* case offsets */
    expect_bad(0, 0x12345678, "magic");
    expect_bad(4, 2, "version");
    expect_bad(8, 0, "n_cases");
    expect_bad(8, 0x7fffffff, "n_cases");
    expect_bad(12, 0, "vocab");
    expect_bad(12, 0x80000000u, "vocab");
    expect_bad(28, 1, "reserved");
    expect_bad(c0, 3, "kind");
    expect_bad(c0, 0xffffffffu, "kind");
    expect_bad(c0 + 4, 0, "n_tokens");
    expect_bad(c0 + 4, 0xffffffffu, "n_tokens");
    expect_bad(c0 + 4, 1000, "truncated");
    expect_bad(c0 + 8, V, "outside");
    expect_bad(c0 + 12, 0xffffffffu, "outside");
    expect_bad(c0 + 16, 0x7fc00000u, "non-finite"); /* NaN */
    expect_bad(c0 + 20, 0x7f800000u, "non-finite"); /* +inf */
    expect_bad(c1 + 12, 0xffffffffu, "n_gen");
    expect_bad(c1 + 12, 3, "truncated");
    expect_bad(c1 + 16, V, "outside");
}

static void test_bit_flips(void **state) {
    (void)state;
    buf w = valid();
    for (size_t i = 0; i < w.n; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf t = w;
            t.b[i] ^= (uint8_t)(1u << bit);
            golden_file g;
            trit_error err = {0};
            trit_status st = parse(&t, &g, &err);
            assert_true(st == TRIT_OK || st == TRIT_E_FORMAT || st == TRIT_E_NOMEM);
            if (st == TRIT_OK)
                golden_free(&g);
        }
}

static void test_missing_file(void **state) {
    (void)state;
    golden_file g;
    trit_error err = {0};
    assert_int_equal(golden_load("/nonexistent/golden.bin", &g, &err), TRIT_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/golden.bin"));
}

/* the committed goldens, when present, parse */
static void test_committed(void **state) {
    (void)state;
    const char *src = getenv("TRIT_SOURCE_DIR");
    const char *names[] = {"golden-tiny-packed.bin", "golden-tiny-bf16.bin"};
    for (int i = 0; i < 2; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/tests/data/%s", src ? src : ".", names[i]);
        FILE *f = fopen(p, "rb");
        if (!f)
            continue;
        fclose(f);
        golden_file g;
        trit_error err = {0};
        if (golden_load(p, &g, &err) != TRIT_OK)
            fail_msg("%s", err.msg);
        assert_true(g.n_cases >= 3);
        golden_free(&g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),       cmocka_unit_test(test_truncated),    cmocka_unit_test(test_trailing),
        cmocka_unit_test(test_bad_fields),  cmocka_unit_test(test_bit_flips),    cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_committed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
