/* load-tiktoken.c — tiktoken rank file ("base64(bytes) rank" per line) with the Llama 3 pattern and specials.
 *
 * The ids are the ranks. The 256 Llama 3 special tokens follow the base vocabulary (ids n..n+255 for n rank
 * lines, 128000..128255 for Llama 3). tiktoken's rule "merge the adjacent pair whose concatenation has the
 * lowest rank" is put into the shared pair table: for every token and every split of its bytes into two tokens
 * (a, b), the pair (a, b) merges into it with priority = its rank. */
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok-impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLAMA3_PATTERN                                                                                            \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"     \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define LLAMA3_N_SPECIAL 256

static int b64_val(uint8_t c) {
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Strict base64 (padding required to a multiple of 4). Returns the decoded length or -1. out holds n*3/4. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out) {
    if (n == 0 || n % 4)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (s[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = b64_val(s[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    return (long)o;
}

static void special_name(int i, char *buf, size_t cap) {
    static const char *fixed[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                  "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                                  "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                                  "<|reserved_special_token_4|>", "<|eot_id|>"};
    if (i < 10)
        snprintf(buf, cap, "%s", fixed[i]);
    else
        snprintf(buf, cap, "<|reserved_special_token_%d|>", i - 5);
}

static trit_status parse_ranks(trit_tokenizer *t, const uint8_t *d, size_t len, int32_t *n_base, trit_error *err) {
    uint8_t *buf = malloc(TOK_MAX_TOKEN_LEN + 4);
    if (!buf)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tokenizer %s: out of memory", t->name);
    size_t line = 0, pos = 0;
    int32_t n = 0;
    *n_base = 0;
    trit_status st = TRIT_OK;
    while (pos < len && st == TRIT_OK) {
        const uint8_t *nl = memchr(d + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - d) : len, e = end;
        line++;
        if (e > pos && d[e - 1] == '\r')
            e--;
        if (e > pos) { /* blank lines are skipped, as tiktoken does */
            const uint8_t *sp = memchr(d + pos, ' ', e - pos);
            size_t bl = sp ? (size_t)(sp - (d + pos)) : 0;
            long tl = sp && bl <= (TOK_MAX_TOKEN_LEN / 3) * 4 ? b64_decode(d + pos, bl, buf) : -1;
            int64_t rank = -1;
            if (sp && sp + 1 < d + e) {
                rank = 0;
                for (const uint8_t *q = sp + 1; q < d + e; q++) {
                    if (*q < '0' || *q > '9' || rank >= TOK_MAX_VOCAB) {
                        rank = -1;
                        break;
                    }
                    rank = rank * 10 + (*q - '0');
                }
            }
            if (tl < 0 || rank < 0)
                st = TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: line %zu is not \"base64 rank\"", t->name, line);
            else if (rank >= TOK_MAX_VOCAB)
                st = TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: line %zu: rank %lld is too large", t->name, line,
                               (long long)rank);
            else if ((st = tok_set(t, (int32_t)rank, buf, (size_t)tl, TOK_MODEL, err)) == TRIT_E_FORMAT)
                st = TRIT_FAIL(err, st, "tokenizer %s: line %zu: duplicate rank %lld", t->name, line, (long long)rank);
            n++;
        }
        pos = end + 1;
    }
    free(buf);
    if (st == TRIT_OK && n == 0)
        st = TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: no ranks", t->name);
    if (st == TRIT_OK && n > TOK_MAX_VOCAB - LLAMA3_N_SPECIAL)
        st = TRIT_FAIL(err, TRIT_E_RANGE, "tokenizer %s: %d ranks is too many", t->name, (int)n);
    *n_base = n;
    return st;
}

static trit_status build_pairs(trit_tokenizer *t, trit_error *err) {
    TRIT_TRY(tok_map64_init(&t->pairs, (size_t)t->n_vocab * 3, err));
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const tok_entry *e = &t->tok[id];
        if (!(e->flags & TOK_MODEL) || e->len < 2)
            continue;
        const char *p = t->blob + e->off;
        for (uint32_t k = 1; k < e->len; k++) {
            int32_t a = tok_strmap_get(t, &t->bpe_map, p, k);
            if (a < 0)
                continue;
            int32_t b = tok_strmap_get(t, &t->bpe_map, p + k, e->len - k);
            if (b >= 0)
                TRIT_TRY(tok_add_pair(t, a, b, id, (uint32_t)id, err));
        }
    }
    return TRIT_OK;
}

static trit_status load(trit_tokenizer *t, const uint8_t *d, size_t len, trit_error *err) {
    int32_t n_base = 0;
    TRIT_TRY(parse_ranks(t, d, len, &n_base, err));
    for (int i = 0; i < LLAMA3_N_SPECIAL; i++) {
        char name[64];
        special_name(i, name, sizeof name);
        trit_status st = tok_set(t, n_base + i, name, strlen(name), TOK_ADDED | TOK_SPECIAL, err);
        if (st != TRIT_OK)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: special token %s would take id %d, which a rank "
                             "already uses (ranks are not 0..%d)", t->name, name, (int)(n_base + i), (int)n_base - 1);
    }
    if (t->n_vocab != n_base + LLAMA3_N_SPECIAL)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: ranks are not the dense range 0..%d", t->name,
                         (int)n_base - 1);
    TRIT_TRY(tok_finish(t, err));
    if (t->bpe_map.n != (size_t)n_base)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: %zu ranks share their bytes with another rank", t->name,
                         (size_t)n_base - t->bpe_map.n);
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tokenizer %s: no rank for the single byte 0x%02x", t->name, b);
    TRIT_TRY(build_pairs(t, err));
    TRIT_TRY(tok_set_pattern(t, LLAMA3_PATTERN, strlen(LLAMA3_PATTERN), false, err));
    t->whole_word = true; /* tiktoken returns a piece that is itself a rank directly */
    t->bos = n_base;
    t->eos = n_base + 1;
    return TRIT_OK;
}

trit_status trit_tokenizer_load_tiktoken_mem(const char *data, size_t len, const char *name, trit_tokenizer **out,
                                             trit_error *err) {
    if (!out || (!data && len))
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_tokenizer_load_tiktoken_mem: NULL argument");
    *out = NULL;
    trit_tokenizer *t;
    TRIT_TRY(tok_new(name, &t, err));
    trit_status st = load(t, (const uint8_t *)data, len, err);
    if (st != TRIT_OK) {
        trit_tokenizer_free(t);
        return st;
    }
    *out = t;
    return TRIT_OK;
}

trit_status trit_tokenizer_load_tiktoken(const char *path, trit_tokenizer **out, trit_error *err) {
    if (!path || !out)
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_tokenizer_load_tiktoken: NULL argument");
    char *data;
    size_t len;
    TRIT_TRY(tok_read_file(path, &data, &len, err));
    trit_status st = trit_tokenizer_load_tiktoken_mem(data, len, path, out, err);
    free(data);
    return st;
}
