/* test_tokenizer_common.h — helpers shared by the tokenizer tests (test_tokenizer*.c): file reading, the
 * llama.cpp .inp/.out case format, round trips through the streaming decoder. Header-only (static functions). */
#ifndef TRIT_TEST_TOKENIZER_COMMON_H
#define TRIT_TEST_TOKENIZER_COMMON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"
#include "trit.h"

/* Whole file, NUL-terminated (not counted in *n); NULL if it cannot be read. */
static inline char *tt_read(const char *path, size_t *n) {
    if (n)
        *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0; /* len stays 0 if the first allocation fails */
    char *buf = malloc(cap + 1);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        cap *= 2;
        char *g = realloc(buf, cap + 1);
        if (!g)
            free(buf);
        buf = g;
    }
    fclose(f);
    if (buf)
        buf[len] = 0;
    if (n)
        *n = len;
    return buf;
}

static inline const char *tt_source_dir(void) {
    const char *s = getenv("TRIT_SOURCE_DIR");
    return s && *s ? s : ".";
}

static inline char *tt_path(char *buf, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return buf;
}

/* Seed of the random tests: $TRIT_TEST_SEED when set (to replay a failure), else the time. Printed by callers. */
static inline uint64_t tt_seed(void) {
    const char *s = getenv("TRIT_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
}

static inline bool tt_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

/* Encodes text (no flags beyond `flags`) into a malloc'd array; fails the test on error. */
static inline int32_t *tt_encode(const trit_tokenizer *t, const char *s, size_t n, int flags, size_t *k) {
    int32_t *ids = NULL;
    trit_error err = {0};
    *k = 0;
    trit_status st = trit_tokenize_alloc(t, s, n, flags, &ids, k, &err);
    if (st != TRIT_OK)
        fprintf(stderr, "tokenize failed: %s (%s)\n", err.msg, err.where);
    return st == TRIT_OK ? ids : NULL;
}

/* Runs every case of a llama.cpp .inp/.out pair (encoded with `flags`); prints the first mismatches; returns
 * the number of failures (or -1 if the files do not match up). */
static inline int tt_run_cases(const trit_tokenizer *t, const char *inp_path, const char *out_path, int flags,
                        int *n_cases) {
    size_t ni, no;
    char *inp = tt_read(inp_path, &ni), *out = tt_read(out_path, &no);
    if (!inp || !out) {
        fprintf(stderr, "cannot read %s or %s\n", inp_path, out_path);
        free(inp);
        free(out);
        return -1;
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    int fails = 0, k = 0;
    char *p = inp, *line = out;
    for (char *e; (e = strstr(p, sep)); p = e + sizeof sep - 1, k++) {
        if (!*line) {
            fprintf(stderr, "%s: fewer lines than cases (%d)\n", out_path, k);
            fails = -1;
            break;
        }
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        size_t n;
        int32_t *ids = tt_encode(t, p, (size_t)(e - p), flags, &n);
        /* compare against the expected line */
        size_t j = 0;
        bool ok = ids != NULL;
        char *q = line;
        while (ok) {
            while (*q == ' ')
                q++;
            if (!*q)
                break;
            long v = strtol(q, &q, 10);
            ok = j < n && ids[j] == v;
            j++;
        }
        ok = ok && j == n;
        if (!ok && fails++ < 5) {
            fprintf(stderr, "case %d %.60s%s\n  expected:%s\n  got:     ", k, p, e - p > 60 ? "..." : "", line);
            for (size_t i = 0; ids && i < n; i++)
                fprintf(stderr, " %d", (int)ids[i]);
            fprintf(stderr, "\n");
        }
        free(ids);
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(inp);
    free(out);
    if (n_cases)
        *n_cases = k;
    return fails;
}

/* Decodes ids with the streaming decoder (pushing one id at a time) into a malloc'd string; checks that each
 * push returns well-formed UTF-8 only. */
static inline char *tt_detok(const trit_tokenizer *t, const int32_t *ids, size_t n, bool skip_special, size_t *len,
                      bool *each_valid) {
    trit_detok *d = trit_detok_new(t, skip_special);
    size_t cap = 8 + 3 * trit_tokenizer_max_token_len(t), total = 0;
    char *piece = malloc(cap), *out = malloc(n * cap + cap + 1);
    *each_valid = true;
    for (size_t i = 0; i <= n; i++) {
        int k = i < n ? trit_detok_push(d, ids[i], piece, cap) : trit_detok_flush(d, piece, cap);
        if (k < 0) {
            *each_valid = false;
            break;
        }
        for (int j = 0; j < k;) { /* each piece must be complete, well-formed UTF-8 */
            unsigned char c = (unsigned char)piece[j];
            int l = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
            if (!l || j + l > k) {
                *each_valid = false;
                break;
            }
            j += l;
        }
        memcpy(out + total, piece, (size_t)k);
        total += (size_t)k;
    }
    out[total] = 0;
    *len = total;
    free(piece);
    trit_detok_free(d);
    return out;
}

#endif
