/* test_tokenizer.c — the Llama 3 tokenizer from its tiktoken rank file (../shared/data/llama3-tokenizer):
 * llama.cpp's 46 cases, optional goldens (tests/data/tokenizer-golden.inp/.out), special tokens and BOS, round
 * trips, invalid UTF-8, Unicode whitespace, the streaming decoder, the chat template, long inputs, and the two
 * merge paths (scan and heap) against each other on fresh random words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "test_tokenizer_common.h"
#include "tokenizer/chat.h"
#include "tokenizer/tok-impl.h"

static trit_tokenizer *g_tok; /* loaded once: building the pair table takes a moment */

static int setup(void **state) {
    char path[1024];
    tt_path(path, sizeof path, "%s/../shared/data/llama3-tokenizer/tokenizer.model", tt_source_dir());
    trit_error err = {0};
    if (trit_tokenizer_load_tiktoken(path, &g_tok, &err) != TRIT_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    trit_tokenizer_free(g_tok);
    return 0;
}

static void expect_ids(const char *text, size_t n, int flags, const int32_t *want, size_t n_want) {
    size_t k;
    int32_t *ids = tt_encode(g_tok, text, n, flags, &k);
    assert_non_null(ids);
    if (k != n_want || (k && memcmp(ids, want, k * sizeof *ids))) {
        fprintf(stderr, "text \"%.*s\": got", (int)n, text);
        for (size_t i = 0; i < k; i++)
            fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\n");
        fail();
    }
    free(ids);
}

static void test_llama_cpp_cases(void **state) {
    char inp[1024], out[1024];
    const char *d = tt_source_dir();
    tt_path(inp, sizeof inp, "%s/../shared/data/llama3-tokenizer/cases.inp", d);
    tt_path(out, sizeof out, "%s/../shared/data/llama3-tokenizer/cases.out", d);
    int n = 0;
    assert_int_equal(tt_run_cases(g_tok, inp, out, 0, &n), 0);
    assert_int_equal(n, 46);
}

static void test_golden(void **state) {
    char inp[1024], out[1024];
    tt_path(inp, sizeof inp, "%s/tests/data/tokenizer-golden.inp", tt_source_dir());
    tt_path(out, sizeof out, "%s/tests/data/tokenizer-golden.out", tt_source_dir());
    if (!tt_exists(inp) || !tt_exists(out)) {
        fprintf(stderr, "tests/data/tokenizer-golden.inp/.out not present: skipped\n");
        skip();
    }
    int n = 0;
    assert_int_equal(tt_run_cases(g_tok, inp, out, 0, &n), 0);
    fprintf(stderr, "%d golden cases passed\n", n);
}

static void test_vocab_and_specials(void **state) {
    assert_int_equal(trit_tokenizer_vocab_size(g_tok), 128256);
    assert_int_equal(trit_tokenizer_bos(g_tok), 128000);
    assert_int_equal(trit_tokenizer_eos(g_tok), 128001);
    assert_int_equal(trit_tokenizer_find(g_tok, "<|eot_id|>"), 128009);
    assert_int_equal(trit_tokenizer_find(g_tok, "<|reserved_special_token_250|>"), 128255);
    assert_int_equal(trit_tokenizer_find(g_tok, "<|start_header_id|>"), 128006);
    assert_int_equal(trit_tokenizer_find(g_tok, "Hello"), 9906);
    assert_int_equal(trit_tokenizer_find(g_tok, "no such token at all"), -1);
    assert_true(trit_tokenizer_is_special(g_tok, 128009));
    assert_false(trit_tokenizer_is_special(g_tok, 9906));
    assert_false(trit_tokenizer_is_special(g_tok, -1));
    assert_false(trit_tokenizer_is_special(g_tok, 128256));
    size_t len;
    const char *b = trit_token_bytes(g_tok, 22691, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(b, " Hello", 6);
    assert_null(trit_token_bytes(g_tok, 128256, &len));
    assert_null(trit_token_bytes(g_tok, -5, &len));
    assert_int_equal(len, 0);

    const char *s = "<|begin_of_text|>Hello<|eot_id|>";
    expect_ids(s, strlen(s), TRIT_TOK_SPECIAL, (int32_t[]){128000, 9906, 128009}, 3);
    expect_ids(s, strlen(s), TRIT_TOK_SPECIAL | TRIT_TOK_ADD_BOS, (int32_t[]){128000, 128000, 9906, 128009}, 4);
    expect_ids("Hello", 5, TRIT_TOK_ADD_BOS, (int32_t[]){128000, 9906}, 2);
    expect_ids("", 0, TRIT_TOK_ADD_BOS, (int32_t[]){128000}, 1);
    expect_ids("", 0, 0, NULL, 0);
    /* without TRIT_TOK_SPECIAL the text is ordinary: no special id comes out, and it round-trips */
    size_t k;
    int32_t *ids = tt_encode(g_tok, s, strlen(s), 0, &k);
    assert_non_null(ids);
    for (size_t i = 0; i < k; i++)
        assert_true(ids[i] < 128000);
    bool valid;
    size_t n;
    char *back = tt_detok(g_tok, ids, k, false, &n, &valid);
    assert_true(valid);
    assert_string_equal(back, s);
    free(back);
    free(ids);
    /* special text glued to words, partial special text, and a special inside a word */
    const char *g = " x<|eot_id|>y <|eot_id <|eot_id|><|eot_id|>";
    ids = tt_encode(g_tok, g, strlen(g), TRIT_TOK_SPECIAL, &k);
    assert_non_null(ids);
    int n_eot = 0;
    for (size_t i = 0; i < k; i++)
        n_eot += ids[i] == 128009;
    assert_int_equal(n_eot, 3);
    back = tt_detok(g_tok, ids, k, false, &n, &valid);
    assert_string_equal(back, g);
    free(back);
    back = tt_detok(g_tok, ids, k, true, &n, &valid);
    assert_string_equal(back, " xy <|eot_id ");
    free(back);
    free(ids);
}

static void test_tokenize_capacity(void **state) {
    int32_t ids[4];
    size_t n = 99;
    trit_error err = {0};
    const char *s = "Hello world, hello world";
    assert_int_equal(trit_tokenize(g_tok, s, strlen(s), 0, ids, 2, &n, &err), TRIT_E_RANGE);
    assert_true(n > 2);
    assert_int_equal(ids[0], 9906);
    assert_int_equal(trit_tokenize(g_tok, s, strlen(s), 0, NULL, 0, &n, &err), TRIT_E_RANGE);
    assert_int_equal(trit_tokenize(g_tok, "Hello world", 11, 0, ids, 4, &n, &err), TRIT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], 1917);
    assert_int_equal(trit_tokenize(NULL, s, 3, 0, ids, 4, &n, &err), TRIT_E_ARG);
    assert_int_equal(trit_tokenize(g_tok, NULL, 3, 0, ids, 4, &n, &err), TRIT_E_ARG);
}

/* Every case round-trips through encode + streaming decode, each push giving complete UTF-8. */
static void test_roundtrip_cases(void **state) {
    char path[1024];
    size_t len;
    char *inp = tt_read(tt_path(path, sizeof path, "%s/../shared/data/llama3-tokenizer/cases.inp", tt_source_dir()),
                        &len);
    assert_non_null(inp);
    size_t k, n;
    int32_t *ids = tt_encode(g_tok, inp, len, 0, &k);
    assert_non_null(ids);
    bool valid;
    char *back = tt_detok(g_tok, ids, k, false, &n, &valid);
    assert_true(valid);
    assert_int_equal(n, len);
    assert_memory_equal(back, inp, len);
    free(back);
    free(ids);
    free(inp);
}

/* Policy: invalid UTF-8 is encoded byte-exactly; each byte of an invalid sequence is its own pre-token, so it
 * is its own single-byte token, and valid text around it encodes as it would alone. */
static void test_invalid_utf8(void **state) {
    int32_t ff = trit_tokenizer_find(g_tok, "\xff"), c0 = trit_tokenizer_find(g_tok, "\xc0");
    int32_t e4 = trit_tokenizer_find(g_tok, "\xe4"), bd = trit_tokenizer_find(g_tok, "\xbd");
    assert_true(ff >= 0 && c0 >= 0 && e4 >= 0 && bd >= 0);
    expect_ids("Hello\xffworld", 11, 0, (int32_t[]){9906, ff, 14957}, 3);
    expect_ids("\xc0\xff", 2, 0, (int32_t[]){c0, ff}, 2);
    expect_ids("Hello\xe4\xbd", 7, 0, (int32_t[]){9906, e4, bd}, 3); /* truncated 3-byte sequence at the end */
    expect_ids("\xed\xa0\x80", 3, 0,
               (int32_t[]){trit_tokenizer_find(g_tok, "\xed"), trit_tokenizer_find(g_tok, "\xa0"),
                           trit_tokenizer_find(g_tok, "\x80")},
               3); /* an encoded surrogate is invalid */
    /* NUL bytes are ordinary text */
    size_t k, n;
    int32_t *ids = tt_encode(g_tok, "a\0b", 3, 0, &k);
    assert_non_null(ids);
    bool valid;
    char *back = tt_detok(g_tok, ids, k, false, &n, &valid);
    assert_int_equal(n, 3);
    assert_memory_equal(back, "a\0b", 3);
    free(back);
    free(ids);
    /* random bytes: never fail, and the token bytes concatenate back to the input */
    uint64_t seed = tt_seed();
    fprintf(stderr, "invalid-utf8 seed %llu\n", (unsigned long long)seed);
    char buf[512];
    for (int r = 0; r < 200; r++) {
        size_t len = (size_t)(seed % sizeof buf);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            buf[i] = (char)(seed >> 56);
        }
        ids = tt_encode(g_tok, buf, len, TRIT_TOK_SPECIAL, &k);
        assert_non_null(ids);
        size_t pos = 0;
        for (size_t i = 0; i < k; i++) {
            size_t tl;
            const char *tb = trit_token_bytes(g_tok, ids[i], &tl);
            assert_non_null(tb);
            assert_true(pos + tl <= len);
            assert_memory_equal(tb, buf + pos, tl);
            pos += tl;
        }
        assert_int_equal(pos, len);
        free(ids);
    }
}

/* \s is Unicode White_Space: U+0085 and U+3000 are spaces, U+FEFF and U+180E are not. */
static void test_unicode_whitespace(void **state) {
    struct {
        const char *text, *a, *b; /* text must encode as encode(a) + encode(b) */
    } cases[] = {
        {"a\xc2\x85" "b", "a\xc2\x85", "b"},        /* U+0085 is \s: "a" + "\u0085" + "b" */
        {"a\xe3\x80\x80" "b", "a\xe3\x80\x80", "b"}, /* U+3000 */
        {"a\xef\xbb\xbf" "b", "a", "\xef\xbb\xbf" "b"}, /* U+FEFF is not \s: it prefixes the letters */
        {"a\xe1\xa0\x8e" "b", "a", "\xe1\xa0\x8e" "b"}, /* U+180E is not \s (PCRE2's \h would say it is) */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t k, ka, kb, kx;
        int32_t *ids = tt_encode(g_tok, cases[c].text, strlen(cases[c].text), 0, &k);
        int32_t *ia = tt_encode(g_tok, cases[c].a, 1, 0, &ka); /* "a" */
        int32_t *ix = tt_encode(g_tok, cases[c].a + 1, strlen(cases[c].a) - 1, 0, &kx);
        int32_t *ib = tt_encode(g_tok, cases[c].b, strlen(cases[c].b), 0, &kb);
        assert_true(ids && ia && ib && ix);
        assert_int_equal(k, ka + kx + kb);
        assert_memory_equal(ids, ia, ka * sizeof *ids);
        assert_memory_equal(ids + ka, ix, kx * sizeof *ids);
        assert_memory_equal(ids + ka + kx, ib, kb * sizeof *ids);
        free(ids);
        free(ia);
        free(ib);
        free(ix);
    }
}

static int push(trit_detok *d, int32_t id, char *out) { return trit_detok_push(d, id, out, 64); }

static void test_detok_stream(void **state) {
    char out[64];
    trit_detok *d = trit_detok_new(g_tok, false);
    assert_non_null(d);
    /* " this is 🦙.cpp" = 420 374 11410 99 247 13 11055: the llama spans three tokens */
    assert_int_equal(push(d, 420, out), 5);
    assert_string_equal(out, " this");
    assert_int_equal(push(d, 374, out), 3);
    assert_int_equal(push(d, 11410, out), 1); /* " \xf0\x9f": the space comes out, the lead bytes wait */
    assert_string_equal(out, " ");
    assert_int_equal(push(d, 99, out), 0);
    assert_string_equal(out, "");
    assert_int_equal(push(d, 247, out), 4);
    assert_string_equal(out, "\xf0\x9f\xa6\x99");
    assert_int_equal(push(d, 13, out), 1);
    assert_int_equal(trit_detok_flush(d, out, sizeof out), 0);
    trit_detok_free(d);

    /* CJK split across byte tokens, then a lone lead byte completed by nothing */
    int32_t e4 = trit_tokenizer_find(g_tok, "\xe4"), bd = trit_tokenizer_find(g_tok, "\xbd");
    int32_t a0 = trit_tokenizer_find(g_tok, "\xa0"), ff = trit_tokenizer_find(g_tok, "\xff");
    int32_t x80 = trit_tokenizer_find(g_tok, "\x80");
    d = trit_detok_new(g_tok, true);
    assert_int_equal(push(d, e4, out), 0);
    assert_int_equal(push(d, bd, out), 0);
    assert_int_equal(push(d, 128009, out), 0); /* skipped special: the bytes around it join */
    assert_int_equal(push(d, a0, out), 3);
    assert_string_equal(out, "\xe4\xbd\xa0"); /* 你 */
    /* maximal subpart: "\xe4\xbd" cut by "a" is ONE U+FFFD, then "a" */
    push(d, e4, out);
    push(d, bd, out);
    assert_int_equal(push(d, 64, out), 4);
    assert_string_equal(out, "\xef\xbf\xbd" "a");
    /* a byte that cannot start a sequence is one U+FFFD each */
    assert_int_equal(push(d, ff, out), 3);
    assert_int_equal(push(d, x80, out), 3);
    assert_string_equal(out, "\xef\xbf\xbd");
    /* an incomplete sequence at the end is flushed as one U+FFFD */
    assert_int_equal(push(d, e4, out), 0);
    assert_int_equal(trit_detok_flush(d, out, sizeof out), 3);
    assert_string_equal(out, "\xef\xbf\xbd");
    assert_int_equal(trit_detok_flush(d, out, sizeof out), 0);
    /* ids that name no token add nothing */
    assert_int_equal(push(d, -1, out), 0);
    assert_int_equal(push(d, 1 << 30, out), 0);
    trit_detok_free(d);

    /* specials are text unless skipped */
    d = trit_detok_new(g_tok, false);
    assert_int_equal(push(d, 128009, out), 10);
    assert_string_equal(out, "<|eot_id|>");
    /* too small a buffer: -1 and nothing consumed */
    assert_int_equal(trit_detok_push(d, 22691, out, 3), -1);
    assert_int_equal(trit_detok_push(d, 22691, out, 0), -1);
    assert_int_equal(push(d, 22691, out), 6);
    assert_string_equal(out, " Hello");
    trit_detok_free(d);
    assert_null(trit_detok_new(NULL, false));
}

static void test_chat_template(void **state) {
    trit_chat_msg msgs[] = {
        {"system", "  You are a helpful assistant.\n"},
        {"USER", "Hi <|eot_id|> there"},
        {"assistant", "\xe3\x80\x80Hello!\xc2\x85"},
    };
    char *text;
    trit_error err = {0};
    assert_int_equal(trit_chat_format_text(msgs, 3, true, &text, &err), TRIT_OK);
    assert_string_equal(text, "<|begin_of_text|>System: You are a helpful assistant.<|eot_id|>User: Hi <|eot_id|> "
                              "there<|eot_id|>Assistant: Hello!<|eot_id|>Assistant: ");
    free(text);
    int32_t *ids;
    size_t n;
    assert_int_equal(trit_chat_format(g_tok, msgs, 3, true, &ids, &n, &err), TRIT_OK);
    assert_int_equal(ids[0], 128000);
    int n_eot = 0;
    for (size_t i = 0; i < n; i++)
        n_eot += ids[i] == 128009;
    assert_int_equal(n_eot, 3); /* the user's "<|eot_id|>" is text, not the control token */
    assert_int_equal(ids[n - 1], 220); /* "Assistant: " ends in a lone space token (spec §7) */
    free(ids);
    /* without the user's special text, ids == tokenize(text, SPECIAL) */
    msgs[1].content = "What is 2+2?";
    assert_int_equal(trit_chat_format_text(msgs, 2, true, &text, &err), TRIT_OK);
    assert_int_equal(trit_chat_format(g_tok, msgs, 2, true, &ids, &n, &err), TRIT_OK);
    size_t k;
    int32_t *ref = tt_encode(g_tok, text, strlen(text), TRIT_TOK_SPECIAL, &k);
    assert_int_equal(n, k);
    assert_memory_equal(ids, ref, n * sizeof *ids);
    free(ref);
    free(ids);
    free(text);
    assert_int_equal(trit_chat_format(g_tok, msgs, 0, false, &ids, &n, &err), TRIT_OK);
    assert_int_equal(n, 1);
    free(ids);
    trit_chat_msg bad = {"", "x"};
    assert_int_equal(trit_chat_format(g_tok, &bad, 1, false, &ids, &n, &err), TRIT_E_ARG);
}

static void test_long_inputs(void **state) {
    const size_t n = 200000;
    char *s = malloc(n);
    const char fill[] = {' ', 'a', '\n', '7', '!', '\xe4'};
    for (size_t f = 0; f < sizeof fill; f++) {
        memset(s, fill[f], n);
        size_t k, m;
        int32_t *ids = tt_encode(g_tok, s, n, 0, &k);
        assert_non_null(ids);
        bool valid;
        char *back = tt_detok(g_tok, ids, k, false, &m, &valid);
        if (fill[f] != '\xe4') {
            assert_int_equal(m, n);
            assert_memory_equal(back, s, n);
        }
        free(back);
        free(ids);
    }
    free(s);
}

/* The scan and heap merge paths agree on fresh random words over a small alphabet (so many merges apply). */
static void test_merge_paths_agree(void **state) {
    static const char *alpha[] = {"a", "b", "e", "t", "h", " ", "in", "er", "\xe4\xbd\xa0", "1"};
    uint64_t seed = tt_seed() ^ 0x5bd1e995u;
    fprintf(stderr, "merge seed %llu\n", (unsigned long long)seed);
    int32_t s1[400], s2[400];
    char word[400];
    for (int r = 0; r < 2000; r++) {
        size_t len = 0;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        size_t target = 2 + (seed >> 33) % 90;
        if (r % 10 == 0)
            target = 90 + (seed >> 33) % 290;
        while (len < target) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            const char *a = alpha[(seed >> 33) % 10];
            size_t al = strlen(a);
            if (len + al > sizeof word)
                break;
            memcpy(word + len, a, al);
            len += al;
        }
        for (size_t i = 0; i < len; i++)
            s1[i] = s2[i] = g_tok->byte_id[(uint8_t)word[i]];
        size_t m1 = len, m2 = len;
        trit_error err = {0};
        assert_int_equal(tok_bpe_merge(g_tok, s1, &m1, false, &err), TRIT_OK);
        assert_int_equal(tok_bpe_merge(g_tok, s2, &m2, true, &err), TRIT_OK);
        assert_int_equal(m1, m2);
        assert_memory_equal(s1, s2, m1 * sizeof *s1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_cpp_cases),    cmocka_unit_test(test_golden),
        cmocka_unit_test(test_vocab_and_specials), cmocka_unit_test(test_tokenize_capacity),
        cmocka_unit_test(test_roundtrip_cases),    cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_unicode_whitespace), cmocka_unit_test(test_detok_stream),
        cmocka_unit_test(test_chat_template),      cmocka_unit_test(test_long_inputs),
        cmocka_unit_test(test_merge_paths_agree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
