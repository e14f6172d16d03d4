/* tok-core.c — the tokenizer's token table, hash maps, byte-level alphabet and the public accessors.
 * Loading lives in load-hf.c / load-tiktoken.c, encoding in encode.c / bpe.c / pretok.c, decoding in detok.c. */
#include "tokenizer/tok-impl.h"

#include <stdlib.h>
#include <string.h>

// --- hashing

uint64_t tok_hash_bytes(const void *p_, size_t n) {
    const uint8_t *p = p_;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

// --- u64 map

trit_status tok_map64_init(tok_map64 *m, size_t expect, trit_error *err) {
    m->cap = pow2_at_least(expect * 2);
    m->n = 0;
    m->keys = malloc(m->cap * sizeof *m->keys);
    m->vals = malloc(m->cap * sizeof *m->vals);
    if (!m->keys || !m->vals) {
        free(m->keys);
        free(m->vals);
        m->keys = m->vals = NULL;
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer: out of memory for a %zu-slot table", m->cap);
    }
    memset(m->keys, 0xff, m->cap * sizeof *m->keys);
    return TRIT_OK;
}

void tok_map64_free(tok_map64 *m) {
    free(m->keys);
    free(m->vals);
    m->keys = m->vals = NULL;
    m->cap = m->n = 0;
}

bool tok_map64_get(const tok_map64 *m, uint64_t key, uint64_t *val) {
    if (!m->cap)
        return false;
    size_t mask = m->cap - 1, i = mix64(key) & mask;
    for (;;) {
        uint64_t k = m->keys[i];
        if (k == key) {
            *val = m->vals[i];
            return true;
        }
        if (k == UINT64_MAX)
            return false;
        i = (i + 1) & mask;
    }
}

static trit_status map64_grow(tok_map64 *m, trit_error *err) {
    tok_map64 g;
    TRIT_TRY(tok_map64_init(&g, m->cap, err)); /* doubles the capacity */
    for (size_t i = 0; i < m->cap; i++) {
        if (m->keys[i] == UINT64_MAX)
            continue;
        size_t j = mix64(m->keys[i]) & (g.cap - 1);
        while (g.keys[j] != UINT64_MAX)
            j = (j + 1) & (g.cap - 1);
        g.keys[j] = m->keys[i];
        g.vals[j] = m->vals[i];
    }
    g.n = m->n;
    tok_map64_free(m);
    *m = g;
    return TRIT_OK;
}

trit_status tok_map64_put(tok_map64 *m, uint64_t key, uint64_t val, bool replace, bool *inserted, trit_error *err) {
    if ((m->n + 1) * 2 > m->cap)
        TRIT_TRY(map64_grow(m, err));
    size_t mask = m->cap - 1, i = mix64(key) & mask;
    while (m->keys[i] != UINT64_MAX && m->keys[i] != key)
        i = (i + 1) & mask;
    bool fresh = m->keys[i] == UINT64_MAX;
    if (fresh || replace) {
        m->keys[i] = key;
        m->vals[i] = val;
    }
    m->n += fresh;
    if (inserted)
        *inserted = fresh;
    return TRIT_OK;
}

// --- string map over the token table

static trit_status strmap_build(trit_tokenizer *t, tok_strmap *m, uint8_t need, uint8_t avoid, trit_error *err) {
    size_t n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        n += (t->tok[i].flags & need) && !(t->tok[i].flags & avoid);
    m->cap = pow2_at_least(n * 2 + 2);
    m->slot = calloc(m->cap, sizeof *m->slot);
    m->hash = calloc(m->cap, sizeof *m->hash);
    if (!m->slot || !m->hash)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory for the vocabulary map", t->name);
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->tok[id];
        if (!(e->flags & need) || (e->flags & avoid))
            continue;
        uint64_t h = tok_hash_bytes(t->blob + e->off, e->len);
        size_t i = h & (m->cap - 1);
        bool dup = false;
        while (m->slot[i]) {
            const tok_entry *o = &t->tok[m->slot[i] - 1];
            if (m->hash[i] == (uint32_t)h && o->len == e->len && !memcmp(t->blob + o->off, t->blob + e->off, e->len)) {
                dup = true; /* two ids with the same bytes: the lower id wins */
                break;
            }
            i = (i + 1) & (m->cap - 1);
        }
        if (!dup) {
            m->slot[i] = (uint32_t)id + 1;
            m->hash[i] = (uint32_t)h;
            m->n++;
        }
    }
    return TRIT_OK;
}

int32_t tok_strmap_get(const trit_tokenizer *t, const tok_strmap *m, const void *p, size_t n) {
    if (!m->cap)
        return -1;
    uint64_t h = tok_hash_bytes(p, n);
    size_t i = h & (m->cap - 1);
    while (m->slot[i]) {
        const tok_entry *e = &t->tok[m->slot[i] - 1];
        if (m->hash[i] == (uint32_t)h && e->len == n && !memcmp(t->blob + e->off, p, n))
            return (int32_t)m->slot[i] - 1;
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

// --- byte-level alphabet (GPT-2 bytes_to_unicode)

static bool printable_byte(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

uint32_t tok_byte_to_cp(uint8_t b) {
    if (printable_byte(b))
        return b;
    unsigned k = 0; /* the others map to 256.. in byte order */
    for (unsigned i = 0; i < b; i++)
        k += !printable_byte(i);
    return 256 + k;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256)
        return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    unsigned k = cp - 256;
    for (unsigned i = 0; i < 256; i++)
        if (!printable_byte(i) && k-- == 0)
            return (int)i;
    return -1;
}

int tok_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp) {
    if (!n)
        return 0;
    uint8_t c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, lo = 0x80, hi = 0xbf; /* allowed range of the second byte (Unicode table 3-7) */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < (size_t)len || p[1] < lo || p[1] > hi)
        return 0;
    v = (v << 6) | (p[1] & 0x3f);
    for (int i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    *cp = v;
    return len;
}

// --- building

trit_status tok_new(const char *name, trit_tokenizer **out, trit_error *err) {
    trit_tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory", name);
    t->name = strdup(name ? name : "(memory)");
    if (!t->name) {
        free(t);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory", name);
    }
    t->bos = t->eos = t->unk_id = -1;
    for (int i = 0; i < 256; i++)
        t->byte_id[i] = -1;
    *out = t;
    return TRIT_OK;
}

trit_status tok_set(trit_tokenizer *t, int32_t id, const void *p, size_t n, uint8_t flags, trit_error *err) {
    if (id < 0 || id >= TOK_MAX_VOCAB)
        return TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: token id %d is outside [0, %d)", t->name, (int)id,
                         TOK_MAX_VOCAB);
    if (n > TOK_MAX_TOKEN_LEN)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: token id %d is %zu bytes long (limit %d)", t->name,
                         (int)id, n, TOK_MAX_TOKEN_LEN);
    if (id >= t->n_vocab) {
        size_t cap = t->tok_cap, want = (size_t)id + 1;
        if (want > cap) {
            size_t nc = cap ? cap : 1024;
            while (nc < want)
                nc *= 2;
            tok_entry *g = realloc(t->tok, nc * sizeof *g);
            if (!g)
                return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory for %zu tokens", t->name, nc);
            memset(g + cap, 0, (nc - cap) * sizeof *g);
            t->tok = g;
            t->tok_cap = nc;
        }
        t->n_vocab = id + 1;
    }
    tok_entry *e = &t->tok[id];
    if (e->flags & TOK_PRESENT) {
        bool same = e->len == n && !memcmp(t->blob + e->off, p, n);
        if (same && (flags & TOK_ADDED)) { /* an added token restating a vocab entry */
            e->flags |= flags;
            return TRIT_OK;
        }
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: duplicate token id %d", t->name, (int)id);
    }
    if (t->blob_len + n > UINT32_MAX)
        return TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: token bytes exceed 4 GiB", t->name);
    if (t->blob_len + n > t->blob_cap) {
        size_t nc = t->blob_cap ? t->blob_cap : 1 << 16;
        while (nc < t->blob_len + n)
            nc *= 2;
        char *g = realloc(t->blob, nc);
        if (!g)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory for token bytes", t->name);
        t->blob = g;
        t->blob_cap = nc;
    }
    if (n)
        memcpy(t->blob + t->blob_len, p, n);
    e->off = (uint32_t)t->blob_len;
    e->len = (uint32_t)n;
    e->flags = flags | TOK_PRESENT;
    t->blob_len += n;
    return TRIT_OK;
}

static trit_status trie_build(trit_tokenizer *t, trit_error *err) {
    size_t total = 1;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->tok[id].flags & TOK_ADDED)
            total += t->tok[id].len;
    t->node_tok = malloc(total * sizeof *t->node_tok);
    t->node_special = calloc(total, 1);
    if (!t->node_tok || !t->node_special)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory for the added-token trie", t->name);
    TRIT_TRY(tok_map64_init(&t->trie, total, err));
    t->node_tok[0] = -1;
    t->n_nodes = 1;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->tok[id];
        if (!(e->flags & TOK_ADDED) || !e->len)
            continue; /* an empty added token can never match */
        const uint8_t *p = (const uint8_t *)t->blob + e->off;
        uint64_t node = 0;
        for (uint32_t i = 0; i < e->len; i++) {
            uint64_t child;
            if (!tok_map64_get(&t->trie, node << 8 | p[i], &child)) {
                child = t->n_nodes++;
                t->node_tok[child] = -1;
                TRIT_TRY(tok_map64_put(&t->trie, node << 8 | p[i], child, false, NULL, err));
            }
            node = child;
        }
        if (t->node_tok[node] < 0) { /* same text twice: the lower id wins */
            t->node_tok[node] = id;
            t->node_special[node] = (e->flags & TOK_SPECIAL) != 0;
        }
        t->trie_first[p[0]] = true;
    }
    return TRIT_OK;
}

trit_status tok_finish(trit_tokenizer *t, trit_error *err) {
    if (t->n_vocab == 0)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: the vocabulary is empty", t->name);
    TRIT_TRY(strmap_build(t, &t->bpe_map, TOK_MODEL, 0, err));
    TRIT_TRY(strmap_build(t, &t->added_map, TOK_ADDED, 0, err));
    for (int b = 0; b < 256; b++) {
        uint8_t c = (uint8_t)b;
        t->byte_id[b] = tok_strmap_get(t, &t->bpe_map, &c, 1);
    }
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->tok[id].len > t->max_token_len)
            t->max_token_len = t->tok[id].len;
    TRIT_TRY(trie_build(t, err));
    return TRIT_OK;
}

trit_status tok_add_pair(trit_tokenizer *t, int32_t a, int32_t b, int32_t merged, uint32_t prio, trit_error *err) {
    if (!t->pairs.cap)
        TRIT_TRY(tok_map64_init(&t->pairs, 1024, err));
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b, old;
    if (tok_map64_get(&t->pairs, key, &old) && (old >> 32) <= prio)
        return TRIT_OK; /* a repeated merge keeps its first (lowest) rank, as HF does */
    return tok_map64_put(&t->pairs, key, (uint64_t)prio << 32 | (uint32_t)merged, true, NULL, err);
}

// --- public accessors

void trit_tokenizer_free(trit_tokenizer *t) {
    if (!t)
        return;
    free(t->tok);
    free(t->blob);
    free(t->bpe_map.slot);
    free(t->bpe_map.hash);
    free(t->added_map.slot);
    free(t->added_map.hash);
    tok_map64_free(&t->pairs);
    tok_map64_free(&t->trie);
    free(t->node_tok);
    free(t->node_special);
    if (t->re)
        pcre2_code_free(t->re);
    free(t->name);
    free(t);
}

int32_t trit_tokenizer_vocab_size(const trit_tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t trit_tokenizer_bos(const trit_tokenizer *t) { return t ? t->bos : -1; }
int32_t trit_tokenizer_eos(const trit_tokenizer *t) { return t ? t->eos : -1; }

int32_t trit_tokenizer_find(const trit_tokenizer *t, const char *text) {
    if (!t || !text)
        return -1;
    size_t n = strlen(text);
    int32_t id = tok_strmap_get(t, &t->added_map, text, n);
    return id >= 0 ? id : tok_strmap_get(t, &t->bpe_map, text, n);
}

bool trit_tokenizer_is_special(const trit_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_vocab && (t->tok[id].flags & TOK_SPECIAL);
}

const char *trit_token_bytes(const trit_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_vocab || !(t->tok[id].flags & TOK_PRESENT)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = t->tok[id].len;
    return t->blob ? t->blob + t->tok[id].off : "";
}
