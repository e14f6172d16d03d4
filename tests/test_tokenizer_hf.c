/* test_tokenizer_hf.c — tokenizer.json loading on a hand-made fixture (tests/data/tokenizer-tiny.json: 15
 * single-byte tokens, 13 merges, a whole-word token reachable only with ignore_merges, 4 added tokens, a BOS
 * template) and on malformed files.
 *
 * tests/data/tokenizer-tiny.out was produced by the Hugging Face tokenizers library (npm @anush008/tokenizers
 * 0.6.0): node tests/npm/ref_encode.js --engine hf --model tests/data/tokenizer-tiny.json
 *   --in tests/data/tokenizer-tiny.inp --out tests/data/tokenizer-tiny.out --cases
 * (HF always recognises added tokens, so it corresponds to TRIT_TOK_SPECIAL.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "test_tokenizer_common.h"

static char *g_json; /* tokenizer-tiny.json */
static size_t g_len;

static int setup(void **state) {
    char path[1024];
    g_json = tt_read(tt_path(path, sizeof path, "%s/tests/data/tokenizer-tiny.json", tt_source_dir()), &g_len);
    if (!g_json)
        fprintf(stderr, "cannot read %s\n", path);
    return g_json ? 0 : -1;
}

static int teardown(void **state) {
    free(g_json);
    return 0;
}

static trit_tokenizer *load_mem(const char *s, size_t n, trit_status want, const char *want_msg) {
    trit_tokenizer *t = NULL;
    trit_error err = {0};
    trit_status st = trit_tokenizer_load_hf_mem(s, n, "fixture", &t, &err);
    if (st != want || (want_msg && !strstr(err.msg, want_msg))) {
        fprintf(stderr, "want %s \"%s\", got %s: %s\n", trit_status_name(want), want_msg ? want_msg : "",
                trit_status_name(st), err.msg);
        fail();
    }
    if (st != TRIT_OK) {
        assert_null(t);
        assert_true(err.msg[0] != 0);
    }
    return t;
}

/* The fixture with `from` replaced by `to` (first occurrence; the test fails if absent). */
static char *patched(const char *from, const char *to, size_t *n) {
    const char *at = strstr(g_json, from);
    assert_non_null(at);
    size_t a = (size_t)(at - g_json), fl = strlen(from), tl = strlen(to);
    char *s = malloc(g_len - fl + tl + 1);
    memcpy(s, g_json, a);
    memcpy(s + a, to, tl);
    memcpy(s + a + tl, at + fl, g_len - a - fl + 1);
    *n = g_len - fl + tl;
    return s;
}

static void expect(const trit_tokenizer *t, const char *text, int flags, const int32_t *want, size_t n_want) {
    size_t k;
    int32_t *ids = tt_encode(t, text, strlen(text), flags, &k);
    assert_non_null(ids);
    if (k != n_want || (k && memcmp(ids, want, k * sizeof *ids))) {
        fprintf(stderr, "\"%s\" flags %d: got", text, flags);
        for (size_t i = 0; i < k; i++)
            fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\n");
        fail();
    }
    free(ids);
}

static void test_fixture_cases_both_merge_forms(void **state) {
    const char *d = tt_source_dir();
    char inp[1024], out[1024], pairs[1024];
    tt_path(inp, sizeof inp, "%s/tests/data/tokenizer-tiny.inp", d);
    tt_path(out, sizeof out, "%s/tests/data/tokenizer-tiny.out", d);
    tt_path(pairs, sizeof pairs, "%s/tests/data/tokenizer-tiny-pairs.json", d);
    trit_tokenizer *t = load_mem(g_json, g_len, TRIT_OK, NULL), *tp = NULL;
    trit_error err = {0};
    assert_int_equal(trit_tokenizer_load_hf(pairs, &tp, &err), TRIT_OK);
    int n = 0;
    assert_int_equal(tt_run_cases(t, inp, out, TRIT_TOK_SPECIAL, &n), 0);
    assert_int_equal(n, 16);
    assert_int_equal(tt_run_cases(tp, inp, out, TRIT_TOK_SPECIAL, &n), 0);
    trit_tokenizer_free(t);
    trit_tokenizer_free(tp);
}

static void test_fixture_details(void **state) {
    trit_tokenizer *t = load_mem(g_json, g_len, TRIT_OK, NULL);
    assert_int_equal(trit_tokenizer_vocab_size(t), 33);
    assert_int_equal(trit_tokenizer_bos(t), 29);             /* from TemplateProcessing */
    assert_int_equal(trit_tokenizer_eos(t), 30);             /* <|endoftext|> */
    assert_int_equal(trit_tokenizer_find(t, " world"), 23);  /* raw bytes, not the byte-level form */
    assert_int_equal(trit_tokenizer_find(t, "\xc3\xa9"), 26); /* é */
    assert_int_equal(trit_tokenizer_find(t, "[X]"), 32);
    assert_true(trit_tokenizer_is_special(t, 29));
    assert_false(trit_tokenizer_is_special(t, 32)); /* added but not special */
    size_t len;
    const char *b = trit_token_bytes(t, 12, &len);
    assert_int_equal(len, 1);
    assert_int_equal(b[0], '\n');
    /* BOS and special recognition on/off */
    expect(t, "hello world!", TRIT_TOK_ADD_BOS, (int32_t[]){29, 18, 23, 0}, 4);
    expect(t, "<|bos|>hello", TRIT_TOK_SPECIAL, (int32_t[]){29, 18}, 2);
    expect(t, "<|endoftext|>+", TRIT_TOK_SPECIAL, (int32_t[]){31}, 1); /* longest match */
    /* without TRIT_TOK_SPECIAL: specials are text (here mostly bytes without tokens, dropped as HF does);
     * the non-special added token [X] is still recognised */
    expect(t, "<|bos|>hello[X]", 0, (int32_t[]){2, 8, 18, 32}, 4);
    /* ignore_merges: "cab" is in the vocabulary but no merge builds it */
    expect(t, "cab", 0, (int32_t[]){3, 24}, 2);
    size_t n;
    char *s = patched("\"ignore_merges\": false", "\"ignore_merges\": true", &n);
    trit_tokenizer *tw = load_mem(s, n, TRIT_OK, NULL);
    expect(tw, "cab", 0, (int32_t[]){28}, 1);
    expect(tw, "hello world", 0, (int32_t[]){18, 23}, 2);
    trit_tokenizer_free(tw);
    free(s);
    /* unk_token: bytes without a token become unk instead of being dropped */
    s = patched("\"unk_token\": null", "\"unk_token\": \"!\"", &n);
    tw = load_mem(s, n, TRIT_OK, NULL);
    expect(tw, "xa", 0, (int32_t[]){0, 1}, 2);
    trit_tokenizer_free(tw);
    free(s);
    /* GPT-2 pre-tokenizer (ByteLevel use_regex) with add_prefix_space, no template: no BOS */
    json_t *root = json_loadb(g_json, g_len, 0, NULL);
    assert_non_null(root);
    json_object_set_new(root, "pre_tokenizer", json_pack("{s:s, s:b, s:b}", "type", "ByteLevel", "use_regex", 1,
                                                         "add_prefix_space", 1));
    json_object_del(root, "post_processor");
    s = json_dumps(root, 0);
    json_decref(root);
    tw = load_mem(s, strlen(s), TRIT_OK, NULL);
    assert_int_equal(trit_tokenizer_bos(tw), -1);
    expect(tw, "hello world", TRIT_TOK_ADD_BOS, (int32_t[]){11, 18, 23}, 3);
    /* HF prepends the space to every segment between added tokens (checked with HF tokenizers) */
    expect(tw, "hello<|bos|>world", TRIT_TOK_SPECIAL, (int32_t[]){11, 18, 29, 23}, 4);
    expect(tw, "[X]hello", TRIT_TOK_SPECIAL, (int32_t[]){32, 11, 18}, 3);
    trit_tokenizer_free(tw);
    free(s);
    /* streaming decode of é split over two byte tokens */
    trit_detok *d = trit_detok_new(t, false);
    char out[64];
    assert_int_equal(trit_detok_push(d, 13, out, sizeof out), 0);
    assert_int_equal(trit_detok_push(d, 14, out, sizeof out), 2);
    assert_string_equal(out, "\xc3\xa9");
    trit_detok_free(d);
    trit_tokenizer_free(t);
}

static void test_holes_in_ids(void **state) {
    /* ids need not be dense: the vocabulary size is max id + 1 and holes have no bytes */
    const char *j = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":5},\"merges\":[]},"
                    "\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}";
    trit_tokenizer *t = load_mem(j, strlen(j), TRIT_OK, NULL);
    assert_int_equal(trit_tokenizer_vocab_size(t), 6);
    size_t len = 9;
    assert_null(trit_token_bytes(t, 3, &len));
    assert_int_equal(len, 0);
    expect(t, "ab", 0, (int32_t[]){0, 5}, 2);
    trit_tokenizer_free(t);
}

static void test_malformed(void **state) {
    struct {
        const char *from, *to;
        trit_status st;
        const char *msg;
    } cases[] = {
        {"\"vocab\": {", "\"vocab\": [], \"v\": {", TRIT_E_FORMAT, "vocab"},
        {"\"!\": 0,", "\"!\": \"0\",", TRIT_E_FORMAT, "not an integer"},
        {"\"!\": 0,", "\"!\": 0.5,", TRIT_E_FORMAT, "not an integer"},
        {"\"!\": 0,", "\"!\": -1,", TRIT_E_RANGE, "outside"},
        {"\"!\": 0,", "\"!\": 99999999999,", TRIT_E_RANGE, "outside"},
        {"\"!\": 0,", "\"!\": 16777216,", TRIT_E_RANGE, "outside"},
        {"\"!\": 0,", "\"!\": 1e30,", TRIT_E_FORMAT, "not an integer"},
        {"\"!\": 0,", "\"!\": 1,", TRIT_E_FORMAT, "duplicate token id 1"},
        {"\"h e\"", "\"q z\"", TRIT_E_FORMAT, "not in the vocabulary"},
        {"\"h e\"", "\"a d\"", TRIT_E_FORMAT, "gives a token that is not in the vocabulary"},
        {"\"h e\"", "\"he\"", TRIT_E_FORMAT, "is not \"a b\""},
        {"\"h e\"", "\"h e x\"", TRIT_E_FORMAT, "is not \"a b\""},
        {"\"h e\"", "7", TRIT_E_FORMAT, "neither"},
        {"\"merges\": [", "\"merges\": {}, \"m\": [", TRIT_E_FORMAT, "merges"},
        {"\"id\": 29,", "\"id\": \"29\",", TRIT_E_FORMAT, "added_tokens[0]"},
        {"\"id\": 29,", "\"id\": 5,", TRIT_E_FORMAT, "duplicate token id 5"},
        {"\"id\": 29,", "\"id\": 4000000000,", TRIT_E_RANGE, "added_tokens[0]"},
        {"\"special\": true", "\"special\": 1", TRIT_E_FORMAT, "special"},
        {"\"type\": \"BPE\"", "\"type\": \"WordPiece\"", TRIT_E_UNSUPPORTED, "WordPiece"},
        {"\"normalizer\": null", "\"normalizer\": {\"type\": \"NFC\"}", TRIT_E_UNSUPPORTED, "NFC"},
        {"\"Isolated\"", "\"Removed\"", TRIT_E_UNSUPPORTED, "Removed"},
        {"\"Regex\": \"", "\"Regex\": \"(", TRIT_E_FORMAT, "does not compile"},
        {"\"type\": \"ByteLevel\",\n    \"add_prefix_space\": false", "\"type\": \"Digits\"", TRIT_E_UNSUPPORTED,
         "Digits"},
        {"\"ids\": [\n       29", "\"ids\": [\n       7777", TRIT_E_RANGE, "not in the vocabulary"},
        {"\"model\": {", "\"model\": 3, \"m\": {", TRIT_E_FORMAT, "model"},
        {"\"unk_token\": null", "\"unk_token\": \"zzz\"", TRIT_E_FORMAT, "unk_token"},
        {"\"lstrip\": false", "\"lstrip\": true", TRIT_E_UNSUPPORTED, "lstrip"},
        {"\"single_word\": false", "\"single_word\": true", TRIT_E_UNSUPPORTED, "single_word"},
        {"\"continuing_subword_prefix\": null", "\"continuing_subword_prefix\": \"##\"", TRIT_E_UNSUPPORTED,
         "continuing_subword_prefix"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        size_t n;
        char *s = patched(cases[c].from, cases[c].to, &n);
        load_mem(s, n, cases[c].st, cases[c].msg);
        free(s);
    }
    load_mem("[1, 2]", 6, TRIT_E_FORMAT, "not an object");
    load_mem("", 0, TRIT_E_FORMAT, "JSON");
    const char *empty = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}";
    load_mem(empty, strlen(empty), TRIT_E_FORMAT, "empty");
    const char *no_bl = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}";
    load_mem(no_bl, strlen(no_bl), TRIT_E_UNSUPPORTED, "ByteLevel");
    trit_tokenizer *t = NULL;
    trit_error err = {0};
    assert_int_equal(trit_tokenizer_load_hf("/nonexistent/tokenizer.json", &t, &err), TRIT_E_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/tokenizer.json"));
    assert_int_equal(trit_tokenizer_load_tiktoken("/nonexistent/tokenizer.model", &t, &err), TRIT_E_IO);
    assert_int_equal(trit_tokenizer_load_hf(NULL, &t, &err), TRIT_E_ARG);
}

static void test_truncated_and_flipped(void **state) {
    for (size_t n = 0; n < g_len - 2; n += 3) {
        trit_tokenizer *t = NULL;
        trit_error err = {0};
        assert_int_not_equal(trit_tokenizer_load_hf_mem(g_json, n, "truncated", &t, &err), TRIT_OK);
        assert_null(t);
    }
    uint64_t seed = tt_seed();
    fprintf(stderr, "bit-flip seed %llu\n", (unsigned long long)seed);
    char *s = malloc(g_len);
    for (int r = 0; r < 400; r++) {
        memcpy(s, g_json, g_len);
        for (int k = 0; k < 1 + r % 4; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            s[(seed >> 33) % g_len] ^= (char)(1u << ((seed >> 20) & 7));
        }
        trit_tokenizer *t = NULL;
        trit_error err = {0};
        if (trit_tokenizer_load_hf_mem(s, g_len, "flipped", &t, &err) == TRIT_OK) {
            size_t k;
            static const char text[] = "hello world <|bos|> [X] \xff\xc3";
            int32_t *ids = tt_encode(t, text, sizeof text - 1, TRIT_TOK_SPECIAL, &k);
            assert_non_null(ids);
            free(ids);
            trit_tokenizer_free(t);
        }
    }
    free(s);
    /* tiktoken files: truncated lines, bad base64, bad ranks, duplicates */
    struct {
        const char *text;
        trit_status st;
    } tk[] = {
        {"", TRIT_E_FORMAT},          {"QQ==", TRIT_E_FORMAT},     {"QQ== x", TRIT_E_FORMAT},
        {"Q=== 0", TRIT_E_FORMAT},    {"QQ== 99999999999999999999", TRIT_E_FORMAT},
        {"QQ== 0\nQg== 0", TRIT_E_FORMAT}, {"QQ== 0\nQQ== 1", TRIT_E_FORMAT}, {"QQ== 5", TRIT_E_FORMAT},
        {"QQ== 0\nQg== 1\n", TRIT_E_FORMAT}, /* valid lines but not all 256 single bytes */
    };
    for (size_t c = 0; c < sizeof tk / sizeof *tk; c++) {
        trit_tokenizer *t = NULL;
        trit_error err = {0};
        trit_status st = trit_tokenizer_load_tiktoken_mem(tk[c].text, strlen(tk[c].text), "tk", &t, &err);
        if (st != tk[c].st)
            fprintf(stderr, "tiktoken case %zu: %s: %s\n", c, trit_status_name(st), err.msg);
        assert_int_equal(st, tk[c].st);
        assert_null(t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_cases_both_merge_forms),
        cmocka_unit_test(test_fixture_details),
        cmocka_unit_test(test_holes_in_ids),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_truncated_and_flipped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
