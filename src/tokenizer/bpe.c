/* bpe.c — byte-pair merging of one pre-token, and the per-call pre-token cache.
 *
 * Rule: repeatedly merge the adjacent pair with the lowest priority (leftmost on ties) until no adjacent pair
 * is in the pair table. Short pre-tokens (almost all of them) use a plain scan over an array; long ones use a
 * binary heap of (priority, position) with lazy invalidation, so a hostile 1 MB "word" costs O(n log n). */
#include "tokenizer/tok-impl.h"

#include <stdlib.h>
#include <string.h>

#define BPE_SCAN_MAX 96   /* longest symbol run merged by the O(m^2) scan */
#define CACHE_WORD_MAX 64 /* longest pre-token kept in the cache (bytes) */
#define CACHE_MAX_ENTRIES (1u << 16)

// --- output buffer

trit_status tok_out_push(tok_out *o, int32_t id, trit_error *err) {
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 256;
        int32_t *g = realloc(o->ids, nc * sizeof *g);
        if (!g)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenize: out of memory for %zu ids", nc);
        o->ids = g;
        o->cap = nc;
    }
    o->ids[o->n++] = id;
    return TRIT_OK;
}

// --- merging

static uint64_t pair_prio(const trit_tokenizer *t, int32_t a, int32_t b) {
    uint64_t v;
    if (tok_map64_get(&t->pairs, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, &v))
        return v;
    return UINT64_MAX;
}

static size_t merge_scan(const trit_tokenizer *t, int32_t *sym, size_t m) {
    uint64_t pr[BPE_SCAN_MAX]; /* pr[i]: (priority << 32 | merged id) of pair (sym[i], sym[i+1]) */
    for (size_t i = 0; i + 1 < m; i++)
        pr[i] = pair_prio(t, sym[i], sym[i + 1]);
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if ((pr[i] >> 32) < (pr[best] >> 32))
                best = i;
        if (pr[best] == UINT64_MAX)
            break;
        sym[best] = (int32_t)(uint32_t)pr[best];
        memmove(sym + best + 1, sym + best + 2, (m - best - 2) * sizeof *sym);
        if (best + 3 <= m) /* pairs right of the merged one shift left by one */
            memmove(pr + best + 1, pr + best + 2, (m - best - 3) * sizeof *pr);
        m--;
        if (best > 0)
            pr[best - 1] = pair_prio(t, sym[best - 1], sym[best]);
        if (best + 1 < m)
            pr[best] = pair_prio(t, sym[best], sym[best + 1]);
    }
    return m;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v) {
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= v)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

static trit_status merge_heap(const trit_tokenizer *t, int32_t *sym, size_t *pm, trit_error *err) {
    size_t m = *pm;
    if (m > UINT32_MAX)
        return TRIT_FAIL(err, TRIT_E_RANGE, "tokenize: pre-token of %zu symbols is too long", m);
    int32_t *next = malloc(m * sizeof *next), *prev = malloc(m * sizeof *prev);
    uint64_t *heap = malloc(3 * m * sizeof *heap); /* m-1 initial pairs + at most 2 per merge */
    if (!next || !prev || !heap) {
        free(next);
        free(prev);
        free(heap);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenize: out of memory merging a %zu-byte pre-token", m);
    }
    size_t hn = 0;
    for (size_t i = 0; i < m; i++) {
        next[i] = i + 1 < m ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
        if (i + 1 < m) {
            uint64_t p = pair_prio(t, sym[i], sym[i + 1]);
            if (p != UINT64_MAX)
                heap_push(heap, &hn, (p >> 32) << 32 | i);
        }
    }
    while (hn) {
        uint64_t top = heap_pop(heap, &hn);
        uint32_t prio = (uint32_t)(top >> 32), i = (uint32_t)top;
        if (sym[i] < 0 || next[i] < 0)
            continue; /* merged away, or no right neighbour any more */
        int32_t j = next[i];
        uint64_t p = pair_prio(t, sym[i], sym[j]);
        if (p == UINT64_MAX || (uint32_t)(p >> 32) != prio)
            continue; /* stale: the pair at i changed since this entry was pushed */
        sym[i] = (int32_t)(uint32_t)p;
        sym[j] = -1;
        next[i] = next[j];
        if (next[j] >= 0)
            prev[next[j]] = (int32_t)i;
        if (prev[i] >= 0) {
            uint64_t q = pair_prio(t, sym[prev[i]], sym[i]);
            if (q != UINT64_MAX)
                heap_push(heap, &hn, (q >> 32) << 32 | (uint32_t)prev[i]);
        }
        if (next[i] >= 0) {
            uint64_t q = pair_prio(t, sym[i], sym[next[i]]);
            if (q != UINT64_MAX)
                heap_push(heap, &hn, (q >> 32) << 32 | i);
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        if (sym[i] >= 0)
            sym[k++] = sym[i];
    *pm = k;
    free(next);
    free(prev);
    free(heap);
    return TRIT_OK;
}

trit_status tok_bpe_merge(const trit_tokenizer *t, int32_t *sym, size_t *m, bool use_heap, trit_error *err) {
    if (!use_heap && *m <= BPE_SCAN_MAX) {
        *m = merge_scan(t, sym, *m);
        return TRIT_OK;
    }
    return merge_heap(t, sym, m, err);
}

// --- per-call cache

typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len;
    uint32_t ids_off, ids_n;
} cache_slot;

struct tok_cache {
    pcre2_match_data *md;
    cache_slot *slot; /* open addressing; key_len == 0 marks empty (empty words are never cached) */
    size_t cap, n;
    uint8_t *keys;
    size_t keys_len, keys_cap;
    int32_t *ids;
    size_t ids_len, ids_cap;
};

tok_cache *tok_cache_new(const trit_tokenizer *t) {
    tok_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (t->re) {
        c->md = pcre2_match_data_create_from_pattern(t->re, NULL);
        if (!c->md) {
            free(c);
            return NULL;
        }
    }
    return c;
}

void tok_cache_free(tok_cache *c) {
    if (!c)
        return;
    if (c->md)
        pcre2_match_data_free(c->md);
    free(c->slot);
    free(c->keys);
    free(c->ids);
    free(c);
}

pcre2_match_data *tok_cache_match_data(tok_cache *c) { return c ? c->md : NULL; }

static bool cache_get(tok_cache *c, uint64_t h, const uint8_t *p, size_t n, tok_out *o, trit_error *err,
                      trit_status *st) {
    if (!c->cap)
        return false;
    for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
        cache_slot *s = &c->slot[i];
        if (!s->key_len)
            return false;
        if (s->hash == h && s->key_len == n && !memcmp(c->keys + s->key_off, p, n)) {
            for (uint32_t k = 0; k < s->ids_n; k++)
                if ((*st = tok_out_push(o, c->ids[s->ids_off + k], err)) != TRIT_OK)
                    return true;
            *st = TRIT_OK;
            return true;
        }
    }
}

static bool grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : 4096;
    while (nc < need)
        nc *= 2;
    void *g = realloc(*buf, nc * elem);
    if (!g)
        return false;
    *buf = g;
    *cap = nc;
    return true;
}

/* Best effort: a failed allocation only means the word is not cached. */
static void cache_put(tok_cache *c, uint64_t h, const uint8_t *p, size_t n, const int32_t *ids, size_t k) {
    if (c->n >= CACHE_MAX_ENTRIES || !c->cap) { /* bounded: start over when full */
        free(c->slot);
        c->cap = c->cap ? c->cap : 1024;
        if (c->n >= CACHE_MAX_ENTRIES)
            c->cap = 2 * CACHE_MAX_ENTRIES;
        c->slot = calloc(c->cap, sizeof *c->slot);
        c->n = c->keys_len = c->ids_len = 0;
        if (!c->slot) {
            c->cap = 0;
            return;
        }
    } else if ((c->n + 1) * 2 > c->cap) {
        cache_slot *g = calloc(c->cap * 2, sizeof *g);
        if (!g)
            return;
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->slot[i].key_len)
                continue;
            size_t j = c->slot[i].hash & (c->cap * 2 - 1);
            while (g[j].key_len)
                j = (j + 1) & (c->cap * 2 - 1);
            g[j] = c->slot[i];
        }
        free(c->slot);
        c->slot = g;
        c->cap *= 2;
    }
    if (!grow((void **)&c->keys, &c->keys_cap, c->keys_len + n, 1) ||
        !grow((void **)&c->ids, &c->ids_cap, c->ids_len + k, sizeof *c->ids))
        return;
    size_t i = h & (c->cap - 1);
    while (c->slot[i].key_len)
        i = (i + 1) & (c->cap - 1);
    c->slot[i] = (cache_slot){h, (uint32_t)c->keys_len, (uint32_t)n, (uint32_t)c->ids_len, (uint32_t)k};
    memcpy(c->keys + c->keys_len, p, n);
    if (k) /* a word of bytes without tokens (dropped) caches as zero ids */
        memcpy(c->ids + c->ids_len, ids, k * sizeof *ids);
    c->keys_len += n;
    c->ids_len += k;
    c->n++;
}

// --- one pre-token

trit_status tok_bpe_word(const trit_tokenizer *t, const uint8_t *p, size_t n, tok_cache *cache, tok_out *o,
                         trit_error *err) {
    if (!n)
        return TRIT_OK;
    if (t->whole_word) {
        int32_t id = tok_strmap_get(t, &t->bpe_map, p, n);
        if (id >= 0)
            return tok_out_push(o, id, err);
    }
    bool cacheable = cache && n <= CACHE_WORD_MAX;
    uint64_t h = 0;
    if (cacheable) {
        h = tok_hash_bytes(p, n);
        trit_status st;
        if (cache_get(cache, h, p, n, o, err, &st))
            return st;
    }
    int32_t stack_sym[BPE_SCAN_MAX];
    int32_t *sym = n <= BPE_SCAN_MAX ? stack_sym : malloc(n * sizeof *sym);
    if (!sym)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenize: out of memory for a %zu-byte pre-token", n);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = t->byte_id[p[i]];
        if (id < 0)
            id = t->unk_id; /* HF BPE: a byte without a token becomes unk, or is dropped when there is none */
        if (id >= 0)
            sym[m++] = id;
    }
    trit_status st = tok_bpe_merge(t, sym, &m, false, err);
    for (size_t i = 0; st == TRIT_OK && i < m; i++)
        st = tok_out_push(o, sym[i], err);
    if (st == TRIT_OK && cacheable)
        cache_put(cache, h, p, n, sym, m);
    if (sym != stack_sym)
        free(sym);
    return st;
}
