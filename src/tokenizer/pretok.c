/* pretok.c — pre-tokenization with PCRE2 (UTF + UCP, JIT), and encoding of one segment of text.
 *
 * Semantics follow HF Split(behavior = Isolated): every regex match is a pre-token, and so is every stretch of
 * text between matches (for the Llama 3 and GPT-2 patterns such gaps only arise from invalid UTF-8).
 *
 * \s: PCRE2's \s under UCP is \p{Zs} + \h + \v, which adds U+180E to Unicode White_Space (what Rust regex,
 * fancy-regex and Oniguruma use). The pattern is therefore rewritten: \s becomes the explicit White_Space set
 * and \S (outside character classes) its complement. A \S inside a character class is left to PCRE2.
 *
 * Invalid UTF-8 (policy): the regex runs with PCRE2_MATCH_INVALID_UTF, so no match spans an invalid sequence;
 * in the gaps, each byte of an invalid sequence is a pre-token of its own and valid stretches are one pre-token.
 * HF and tiktoken only accept valid strings, so there is no reference to match for such input; the rule keeps
 * every byte (decode(encode(x)) == x) and never merges across the invalid byte. */
#include "tokenizer/tok-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WS_SET "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}" \
               "\\x{205F}\\x{3000}"

/* Rewrites \s / \S (see the file comment). Returns a malloc'd NUL-terminated pattern or NULL (no memory). */
static char *rewrite_ws(const char *pat, size_t len) {
    size_t cap = len * 8 + sizeof WS_SET * 8 + 1, o = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    bool in_class = false;
    for (size_t i = 0; i < len;) {
        if (o + sizeof WS_SET + 8 >= cap) {
            cap *= 2;
            char *g = realloc(out, cap);
            if (!g) {
                free(out);
                return NULL;
            }
            out = g;
        }
        char c = pat[i];
        if (c == '\\' && i + 1 < len) {
            char d = pat[i + 1];
            if (d == 's') {
                o += (size_t)sprintf(out + o, in_class ? "%s" : "[%s]", WS_SET);
            } else if (d == 'S' && !in_class) {
                o += (size_t)sprintf(out + o, "[^%s]", WS_SET);
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out[o++] = pat[i++];
            if (i < len && pat[i] == '^')
                out[o++] = pat[i++];
            if (i < len && pat[i] == ']') /* a leading ']' is a literal */
                out[o++] = pat[i++];
            continue;
        }
        if (in_class && c == '[' && i + 1 < len && pat[i + 1] == ':') { /* POSIX [:name:] */
            const char *end = strstr(pat + i + 2, ":]");
            if (end && (size_t)(end - pat) < len) {
                size_t n = (size_t)(end - (pat + i)) + 2;
                memcpy(out + o, pat + i, n); /* fits: n <= len and cap >= 8 * len */
                o += n;
                i += n;
                continue;
            }
        }
        if (in_class && c == ']')
            in_class = false;
        out[o++] = pat[i++];
    }
    out[o] = 0;
    return out;
}

trit_status tok_set_pattern(trit_tokenizer *t, const char *pat, size_t len, bool literal, trit_error *err) {
    char *p = NULL;
    if (!literal) {
        p = rewrite_ws(pat, len);
        if (!p)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory for the pattern", t->name);
    }
    int ec;
    PCRE2_SIZE eo;
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : 0);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(literal ? pat : p), literal ? len : PCRE2_ZERO_TERMINATED, opts,
                                   &ec, &eo, NULL);
    free(p);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: pre-tokenizer regex does not compile at offset %zu: %s",
                         t->name, (size_t)eo, (const char *)msg);
    }
    if (t->re)
        pcre2_code_free(t->re);
    t->re = re;
    t->re_jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0; /* without JIT the interpreter is used */
    return TRIT_OK;
}

/* Text between matches: valid UTF-8 stretches are one pre-token each, invalid bytes one each. */
static trit_status encode_gap(const trit_tokenizer *t, const uint8_t *p, size_t n, tok_cache *cache, tok_out *o,
                              trit_error *err) {
    size_t i = 0, run = 0;
    while (i < n) {
        uint32_t cp;
        int k = tok_utf8_decode(p + i, n - i, &cp);
        if (k) {
            i += (size_t)k;
            continue;
        }
        TRIT_TRY(tok_bpe_word(t, p + run, i - run, cache, o, err));
        TRIT_TRY(tok_bpe_word(t, p + i, 1, cache, o, err));
        run = ++i;
    }
    return tok_bpe_word(t, p + run, n - run, cache, o, err);
}

static int run_match(const trit_tokenizer *t, const uint8_t *p, size_t n, size_t pos, pcre2_match_data *md) {
    int rc;
    if (t->re_jit) {
        rc = pcre2_jit_match(t->re, p, n, pos, 0, md, NULL);
        if (rc != PCRE2_ERROR_JIT_STACKLIMIT)
            return rc;
    }
    /* The interpreter keeps its backtracking frames on the heap (bounded by PCRE2's heap limit). */
    return pcre2_match(t->re, p, n, pos, PCRE2_NO_JIT, md, NULL);
}

static trit_status split_and_encode(const trit_tokenizer *t, const uint8_t *p, size_t n, tok_cache *cache,
                                    tok_out *o, trit_error *err) {
    pcre2_match_data *md = tok_cache_match_data(cache);
    if (!md)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenize: no match data");
    size_t pos = 0, done = 0; /* done: end of the text already turned into pre-tokens */
    while (pos <= n) {
        int rc = run_match(t, p, n, pos, md);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return TRIT_FAIL(err, TRIT_E_RANGE, "tokenize: pre-tokenizer regex failed at byte %zu: %s", pos,
                             (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (s < done || e < s || e > n)
            return TRIT_FAIL(err, TRIT_E_RANGE, "tokenize: regex match [%zu, %zu) out of order", s, e);
        if (s > done)
            TRIT_TRY(encode_gap(t, p + done, s - done, cache, o, err));
        if (e > s) {
            TRIT_TRY(tok_bpe_word(t, p + s, e - s, cache, o, err));
            done = pos = e;
        } else { /* empty match: step over one character (one byte if invalid) */
            done = s;
            uint32_t cp;
            int k = tok_utf8_decode(p + s, n - s, &cp);
            pos = s + (k ? (size_t)k : 1);
        }
    }
    if (done < n)
        TRIT_TRY(encode_gap(t, p + done, n - done, cache, o, err));
    return TRIT_OK;
}

trit_status tok_encode_segment(const trit_tokenizer *t, const uint8_t *p, size_t n, tok_cache *cache, tok_out *o,
                               trit_error *err) {
    if (!n)
        return TRIT_OK;
    uint8_t *tmp = NULL;
    if (t->add_prefix_space && p[0] != ' ') { /* HF ByteLevel(add_prefix_space): per segment */
        tmp = malloc(n + 1);
        if (!tmp)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenize: out of memory");
        tmp[0] = ' ';
        memcpy(tmp + 1, p, n);
        p = tmp;
        n++;
    }
    trit_status st = t->re ? split_and_encode(t, p, n, cache, o, err) : encode_gap(t, p, n, cache, o, err);
    free(tmp);
    return st;
}
