/* fuzz_tokenizer.c — libFuzzer target for the tokenizer.
 *
 * The first input byte picks the mode:
 *   odd:  the rest is a tokenizer.json, loaded from memory; when it loads, a fixed text (and the input itself)
 *         is encoded with and without special recognition and decoded again;
 *   even: the rest is text, encoded by a small fixed tokenizer (all 256 bytes, a few merges, the Llama 3
 *         pattern and specials, built once as a tiktoken file in memory). Checked: the token bytes concatenate
 *         back to the input exactly, and the streaming decoder emits only well-formed UTF-8.
 * Any failure other than a clean error status is a crash (ASan/UBSan) or an abort() here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "trit.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64(const uint8_t *p, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = B64[w >> 18 & 63];
        out[o++] = B64[w >> 12 & 63];
        out[o++] = i + 1 < n ? B64[w >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? B64[w & 63] : '=';
    }
    return o;
}

static trit_tokenizer *small_tokenizer(void) {
    static const char *merged[] = {"he", "ll", "llo", "hello", " w", "or", " wor", "ld", " world", "  ", "\n\n",
                                   "\xe4\xbd", "\xe4\xbd\xa0", "12", "123", "<|", "|>", "\xf0\x9f"};
    size_t cap = 64 * (256 + sizeof merged / sizeof *merged), n = 0;
    char *f = malloc(cap);
    if (!f)
        abort();
    int rank = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        n += b64(&c, 1, f + n);
        n += (size_t)sprintf(f + n, " %d\n", rank++);
    }
    for (size_t i = 0; i < sizeof merged / sizeof *merged; i++) {
        n += b64((const uint8_t *)merged[i], strlen(merged[i]), f + n);
        n += (size_t)sprintf(f + n, " %d\n", rank++);
    }
    trit_tokenizer *t = NULL;
    trit_error err;
    if (trit_tokenizer_load_tiktoken_mem(f, n, "fuzz-small", &t, &err) != TRIT_OK) {
        fprintf(stderr, "fuzz_tokenizer: fixed tokenizer does not load: %s\n", err.msg);
        abort();
    }
    free(f);
    return t;
}

static bool utf8_ok(const char *s, int n) {
    for (int i = 0; i < n;) {
        unsigned c = (unsigned char)s[i];
        int l = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!l || i + l > n)
            return false;
        for (int k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80)
                return false;
        i += l;
    }
    return true;
}

static void encode_decode(const trit_tokenizer *t, const char *text, size_t len, int flags, bool check_bytes) {
    int32_t *ids;
    size_t n;
    trit_error err;
    if (trit_tokenize_alloc(t, text, len, flags, &ids, &n, &err) != TRIT_OK)
        return; /* a clean error (e.g. out of memory) is fine */
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t tl;
        const char *b = trit_token_bytes(t, ids[i], &tl);
        if (!b)
            abort(); /* the encoder produced an id without bytes */
        if (check_bytes && (pos + tl > len || memcmp(b, text + pos, tl)))
            abort(); /* not byte-exact */
        pos += tl;
    }
    if (check_bytes && pos != len && !(flags & TRIT_TOK_ADD_BOS))
        abort();
    size_t cap = 8 + 3 * trit_tokenizer_max_token_len(t);
    char *out = malloc(cap);
    trit_detok *d = trit_detok_new(t, (flags & 1) != 0);
    if (out && d) {
        for (size_t i = 0; i <= n; i++) {
            int k = i < n ? trit_detok_push(d, ids[i], out, cap) : trit_detok_flush(d, out, cap);
            if (k < 0 || !utf8_ok(out, k))
                abort();
        }
    }
    trit_detok_free(d);
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static trit_tokenizer *small;
    if (!small)
        small = small_tokenizer();
    if (size == 0)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        trit_tokenizer *t = NULL;
        trit_error err;
        if (trit_tokenizer_load_hf_mem(rest, n, "fuzz", &t, &err) == TRIT_OK) {
            static const char sample[] = "Hello world! <|eot_id|> 123 \xe4\xbd\xa0\xe5\xa5\xbd \xff\n\n  x";
            encode_decode(t, sample, sizeof sample - 1, TRIT_TOK_SPECIAL | TRIT_TOK_ADD_BOS, false);
            encode_decode(t, rest, n < 4096 ? n : 4096, 0, false);
            trit_tokenizer_free(t);
        }
        return 0;
    }
    encode_decode(small, rest, n, 0, true);
    encode_decode(small, rest, n, TRIT_TOK_SPECIAL, true);
    return 0;
}
