/* encode.c — trit_tokenize: BOS, splitting the text at added tokens (leftmost-longest, as HF's added-token
 * matcher), then pre-tokenizing and BPE-encoding the segments between them.
 *
 * Special tokens (added tokens marked special) are recognised only with TRIT_TOK_SPECIAL; without it their text
 * is encoded as ordinary text (tiktoken encode_ordinary, HF split_special_tokens). Non-special added tokens are
 * always recognised, as HF does. */
#include "tokenizer/tokenizer.h"
#include "tokenizer/tok-impl.h"

#include <stdlib.h>
#include <string.h>

static trit_status encode_all(const trit_tokenizer *t, const char *text, size_t len, int flags, tok_out *o,
                              trit_error *err) {
    if (!t || (!text && len))
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_tokenize: NULL tokenizer or text");
    if ((flags & TRIT_TOK_ADD_BOS) && t->bos >= 0)
        TRIT_TRY(tok_out_push(o, t->bos, err));
    if (!len)
        return TRIT_OK;
    tok_cache *cache = tok_cache_new(t);
    if (!cache)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "trit_tokenize: out of memory");
    const uint8_t *p = (const uint8_t *)text;
    bool specials = (flags & TRIT_TOK_SPECIAL) != 0;
    trit_status st = TRIT_OK;
    size_t seg = 0, i = 0;
    while (i < len && t->n_nodes > 1) {
        if (!t->trie_first[p[i]]) {
            i++;
            continue;
        }
        uint64_t node = 0;
        int32_t best = -1;
        size_t best_len = 0;
        for (size_t j = i; j < len && tok_map64_get(&t->trie, node << 8 | p[j], &node); j++) {
            if (t->node_tok[node] >= 0 && (specials || !t->node_special[node])) {
                best = t->node_tok[node];
                best_len = j - i + 1;
            }
        }
        if (best < 0) {
            i++;
            continue;
        }
        if ((st = tok_encode_segment(t, p + seg, i - seg, cache, o, err)) != TRIT_OK ||
            (st = tok_out_push(o, best, err)) != TRIT_OK)
            break;
        i += best_len;
        seg = i;
    }
    if (st == TRIT_OK)
        st = tok_encode_segment(t, p + seg, len - seg, cache, o, err);
    tok_cache_free(cache);
    return st;
}

trit_status trit_tokenize_alloc(const trit_tokenizer *t, const char *text, size_t len, int flags, int32_t **ids,
                                size_t *n, trit_error *err) {
    if (!ids || !n)
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_tokenize_alloc: NULL output");
    tok_out o = {0};
    trit_status st = encode_all(t, text, len, flags, &o, err);
    if (st == TRIT_OK && !o.ids && !(o.ids = malloc(sizeof *o.ids))) /* never NULL on success, even for 0 ids */
        st = TRIT_FAIL(err, TRIT_E_NOMEM, "trit_tokenize_alloc: out of memory");
    if (st != TRIT_OK) {
        free(o.ids);
        return st;
    }
    *ids = o.ids;
    *n = o.n;
    return TRIT_OK;
}

trit_status trit_tokenize(const trit_tokenizer *t, const char *text, size_t len, int flags, int32_t *ids,
                          size_t cap, size_t *n_out, trit_error *err) {
    if (!n_out || (!ids && cap))
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_tokenize: NULL output");
    tok_out o = {0};
    trit_status st = encode_all(t, text, len, flags, &o, err);
    if (st == TRIT_OK) {
        *n_out = o.n;
        if (o.n && cap)
            memcpy(ids, o.ids, (o.n < cap ? o.n : cap) * sizeof *ids);
        if (o.n > cap)
            st = TRIT_FAIL(err, TRIT_E_RANGE, "trit_tokenize: the text needs %zu ids, the buffer holds %zu", o.n, cap);
    }
    free(o.ids);
    return st;
}

size_t trit_tokenizer_max_token_len(const trit_tokenizer *t) { return t ? t->max_token_len : 0; }
