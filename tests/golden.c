/* golden.c — see golden.h. Reads the whole file, then walks it with a bounds-checked cursor. */
#include "golden.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* generous but finite limits: a hostile count can never make us allocate or loop beyond the file */
enum { MAX_CASES = 4096, MAX_VOCAB = 1 << 22, MAX_TOKENS = 1 << 20 };

typedef struct {
    const uint8_t *p;
    size_t len, off;
    const char *name;
} cursor;

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static trit_status need(cursor *c, uint64_t n, const char *what, trit_error *err) {
    if (n > c->len - c->off)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: truncated: %s needs %llu bytes at offset %zu, %zu left", c->name,
                         what, (unsigned long long)n, c->off, c->len - c->off);
    return TRIT_OK;
}

static trit_status get_i32(cursor *c, int32_t *v, const char *what, trit_error *err) {
    TRIT_TRY(need(c, 4, what, err));
    *v = (int32_t)le32(c->p + c->off);
    c->off += 4;
    return TRIT_OK;
}

/* n ids, each checked to lie in [0, vocab) */
static trit_status get_ids(cursor *c, int32_t n, int32_t vocab, int32_t **out, const char *what, trit_error *err) {
    TRIT_TRY(need(c, (uint64_t)n * 4, what, err));
    int32_t *ids = malloc((size_t)n * sizeof *ids + 1);
    if (!ids)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: %s: out of memory", c->name, what);
    for (int32_t i = 0; i < n; i++) {
        int32_t id = (int32_t)le32(c->p + c->off + 4 * (size_t)i);
        if (id < 0 || id >= vocab) {
            free(ids);
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: %s[%d] = %d at offset %zu is outside [0, %d)", c->name, what, i,
                             id, c->off + 4 * (size_t)i, vocab);
        }
        ids[i] = id;
    }
    c->off += (size_t)n * 4;
    *out = ids;
    return TRIT_OK;
}

static trit_status get_logits(cursor *c, int32_t n, int32_t vocab, float **out, trit_error *err) {
    uint64_t count = (uint64_t)n * (uint64_t)vocab; /* <= 2^20 * 2^22: no overflow in 64 bits */
    TRIT_TRY(need(c, count * 4, "logits", err));
    float *v = malloc((size_t)count * sizeof *v);
    if (!v)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: logits: out of memory (%llu floats)", c->name,
                         (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t u = le32(c->p + c->off + 4 * i);
        memcpy(&v[i], &u, 4);
        if (!isfinite(v[i])) {
            free(v);
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: non-finite logit at offset %llu", c->name,
                             (unsigned long long)(c->off + 4 * i));
        }
    }
    c->off += (size_t)count * 4;
    *out = v;
    return TRIT_OK;
}

static trit_status parse_case(cursor *c, int32_t vocab, int idx, golden_case *gc, trit_error *err) {
    int32_t kind, n;
    size_t at = c->off;
    TRIT_TRY(get_i32(c, &kind, "case kind", err));
    if (kind < GOLDEN_PREFILL || kind > GOLDEN_GREEDY)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: case %d at offset %zu: unknown kind %d", c->name, idx, at, kind);
    gc->kind = (golden_kind)kind;
    TRIT_TRY(get_i32(c, &n, "n_tokens", err));
    if (n < 1 || n > MAX_TOKENS)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: case %d: n_tokens %d outside [1, %d]", c->name, idx, n, MAX_TOKENS);
    gc->n_tokens = n;
    TRIT_TRY(get_ids(c, n, vocab, &gc->tokens, "tokens", err));
    if (kind == GOLDEN_GREEDY) {
        int32_t ng;
        TRIT_TRY(get_i32(c, &ng, "n_gen", err));
        if (ng < 0 || ng > MAX_TOKENS)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: case %d: n_gen %d outside [0, %d]", c->name, idx, ng,
                             MAX_TOKENS);
        gc->n_gen = ng;
        return get_ids(c, ng, vocab, &gc->gen, "gen", err);
    }
    return get_logits(c, n, vocab, &gc->logits, err);
}

trit_status golden_parse(const uint8_t *buf, size_t len, const char *name, golden_file *out, trit_error *err) {
    memset(out, 0, sizeof *out);
    cursor c = {buf, len, 0, name};
    int32_t h[8];
    for (int i = 0; i < 8; i++)
        TRIT_TRY(get_i32(&c, &h[i], "header", err));
    if ((uint32_t)h[0] != GOLDEN_MAGIC)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: bad magic 0x%08x (want 0x%08x \"TRGL\")", name, (uint32_t)h[0],
                         GOLDEN_MAGIC);
    if (h[1] != GOLDEN_VERSION)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: version %d, this reader knows %d", name, h[1], GOLDEN_VERSION);
    if (h[2] < 1 || h[2] > MAX_CASES)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: n_cases %d outside [1, %d]", name, h[2], MAX_CASES);
    if (h[3] < 1 || h[3] > MAX_VOCAB)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: vocab %d outside [1, %d]", name, h[3], MAX_VOCAB);
    for (int i = 4; i < 8; i++)
        if (h[i] != 0)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: reserved header word %d is %d, not 0", name, i, h[i]);
    out->cases = calloc((size_t)h[2], sizeof *out->cases);
    if (!out->cases)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", name);
    out->vocab = h[3];
    for (int i = 0; i < h[2]; i++) {
        out->n_cases = i + 1; /* so golden_free releases what parse_case allocated */
        trit_status st = parse_case(&c, h[3], i, &out->cases[i], err);
        if (st != TRIT_OK) {
            golden_free(out);
            return st;
        }
    }
    if (c.off != len) {
        golden_free(out);
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: %zu trailing bytes after the last case", name, len - c.off);
    }
    return TRIT_OK;
}

trit_status golden_load(const char *path, golden_file *out, trit_error *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return TRIT_FAIL(err, TRIT_E_IO, "%s: cannot open", path);
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory reading the file", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return TRIT_FAIL(err, TRIT_E_IO, "%s: read error", path);
    }
    trit_status st = golden_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

void golden_free(golden_file *g) {
    if (!g)
        return;
    for (int i = 0; i < g->n_cases; i++) {
        free(g->cases[i].tokens);
        free(g->cases[i].logits);
        free(g->cases[i].gen);
    }
    free(g->cases);
    memset(g, 0, sizeof *g);
}
