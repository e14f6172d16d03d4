/* ctx.c — an inference context: the KV cache of n_seq sequence slots, scratch buffers, and the batch
 * bookkeeping around trit_forward. A call to trit_ctx_decode is validated completely before anything runs, so
 * a bad batch (token out of range, full context, non-contiguous positions) leaves every cache unchanged. Large
 * batches are run in chunks of n_batch tokens. */
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "model/model.h"

struct trit_ctx {
    trit_model *m;
    trit_kvcache kv;
    int32_t n_batch;
    int32_t *seq_len;                  /* [n_seq] tokens in each sequence's cache */
    struct trit_fwd_scratch s;         /* back-end buffers for n_batch rows */
    int32_t *meta_dev;                 /* back end [4][n_batch]: tokens, seq, pos, rows */
    int32_t *meta_host;                /* host copy being filled */
    float *logits_dev;                 /* back end [n_batch][V] */
    float *logits;                     /* host [logits_cap][V]: logits of the last batch's wanted tokens */
    int32_t logits_cap;
    int32_t *logit_row;                /* host [n_tokens of last batch]: row in `logits` or -1 */
    int32_t logit_row_cap;
    int32_t n_last;                    /* tokens in the last batch */
};

trit_ctx_params trit_ctx_default_params(void) {
    trit_ctx_params p = {.n_ctx = 0, .n_seq = 1, .n_batch = 512};
    return p;
}

static void *be_alloc(trit_backend *be, size_t bytes, bool *ok) {
    void *p = be->ops->alloc(be, bytes ? bytes : 1);
    if (!p)
        *ok = false;
    return p;
}

void trit_ctx_free(trit_ctx *c) {
    if (!c)
        return;
    trit_backend *be = c->m->be;
    void *bufs[] = {c->kv.k, c->kv.v, c->s.h, c->s.qkv, c->s.att, c->s.gu, c->s.ffn, c->s.q8, c->s.qs, c->s.xo,
                    c->meta_dev, c->logits_dev};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i])
            be->ops->free(be, bufs[i]);
    free(c->seq_len);
    free(c->meta_host);
    free(c->logits);
    free(c->logit_row);
    free(c);
}

trit_status trit_ctx_new(trit_model *m, const trit_ctx_params *params, trit_ctx **out, trit_error *err) {
    trit_error local;
    if (!err)
        err = &local;
    *out = NULL;
    trit_ctx_params p = params ? *params : trit_ctx_default_params();
    const trit_config *c = &m->cfg;
    if (p.n_ctx <= 0)
        p.n_ctx = c->max_positions;
    if (p.n_seq <= 0)
        p.n_seq = 1;
    if (p.n_batch <= 0)
        p.n_batch = 512;
    if (p.n_ctx > (1 << 24) || p.n_seq > 4096 || p.n_batch > (1 << 20))
        return TRIT_FAIL(err, TRIT_E_RANGE, "context parameters too large (n_ctx %d, n_seq %d, n_batch %d)", p.n_ctx,
                         p.n_seq, p.n_batch);
    trit_ctx *x = calloc(1, sizeof *x);
    if (!x)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "out of memory");
    x->m = m;
    x->n_batch = p.n_batch;
    trit_backend *be = m->be;
    const size_t D = c->hidden_size, F = c->intermediate_size, Dq = (size_t)c->n_heads * c->head_dim;
    const size_t Dkv = (size_t)c->n_kv_heads * c->head_dim, B = p.n_batch;
    size_t maxK = D > F ? D : F;
    maxK = maxK > Dq ? maxK : Dq;
    x->kv = (trit_kvcache){.n_layers = c->n_layers, .n_seq = p.n_seq, .n_ctx = p.n_ctx,
                           .n_kv_heads = c->n_kv_heads, .head_dim = c->head_dim};
    size_t kv_elems = (size_t)c->n_layers * p.n_seq * p.n_ctx * Dkv;
    bool ok = true;
    x->kv.k = be_alloc(be, kv_elems * sizeof(float), &ok);
    x->kv.v = be_alloc(be, kv_elems * sizeof(float), &ok);
    x->s.cap = p.n_batch;
    x->s.h = be_alloc(be, B * D * sizeof(float), &ok);
    x->s.qkv = be_alloc(be, B * (Dq + 2 * Dkv) * sizeof(float), &ok);
    x->s.att = be_alloc(be, B * Dq * sizeof(float), &ok);
    x->s.gu = be_alloc(be, B * 2 * F * sizeof(float), &ok);
    x->s.ffn = be_alloc(be, B * F * sizeof(float), &ok);
    x->s.q8 = be_alloc(be, B * maxK, &ok);
    x->s.qs = be_alloc(be, B * sizeof(float), &ok);
    x->s.xo = be_alloc(be, B * D * sizeof(float), &ok);
    x->meta_dev = be_alloc(be, 4 * B * sizeof(int32_t), &ok);
    x->meta_host = malloc(4 * B * sizeof(int32_t));
    x->seq_len = calloc((size_t)p.n_seq, sizeof(int32_t));
    if (!ok || !x->meta_host || !x->seq_len) {
        trit_ctx_free(x);
        return TRIT_FAIL(err, TRIT_E_NOMEM,
                         "cannot allocate the context (KV cache %zu MiB for n_ctx %d x n_seq %d; lower --ctx)",
                         2 * kv_elems * sizeof(float) >> 20, p.n_ctx, p.n_seq);
    }
    /* The logits buffer on the back end is sized for a whole chunk only when asked; start with 1 row. */
    *out = x;
    return TRIT_OK;
}

int32_t trit_ctx_n_ctx(const trit_ctx *c) { return c->kv.n_ctx; }

int32_t trit_ctx_seq_len(const trit_ctx *c, int32_t seq) {
    return (seq >= 0 && seq < c->kv.n_seq) ? c->seq_len[seq] : -1;
}

void trit_ctx_seq_clear(trit_ctx *c, int32_t seq) {
    if (seq >= 0 && seq < c->kv.n_seq)
        c->seq_len[seq] = 0;
}

trit_status trit_ctx_seq_truncate(trit_ctx *c, int32_t seq, int32_t n, trit_error *err) {
    if (seq < 0 || seq >= c->kv.n_seq)
        return TRIT_FAIL(err, TRIT_E_RANGE, "sequence %d out of range [0, %d)", seq, c->kv.n_seq);
    if (n < 0 || n > c->seq_len[seq])
        return TRIT_FAIL(err, TRIT_E_RANGE, "cannot keep %d tokens of sequence %d, which has %d", n, seq,
                         c->seq_len[seq]);
    c->seq_len[seq] = n;
    return TRIT_OK;
}

const float *trit_ctx_logits(const trit_ctx *c, int32_t i) {
    if (i < 0 || i >= c->n_last || !c->logit_row || c->logit_row[i] < 0)
        return NULL;
    return c->logits + (size_t)c->logit_row[i] * c->m->cfg.vocab_size;
}

static trit_status grow_host(trit_ctx *c, int32_t n_tokens, int32_t n_want, trit_error *err) {
    const size_t V = c->m->cfg.vocab_size;
    if (n_tokens > c->logit_row_cap) {
        int32_t *r = realloc(c->logit_row, (size_t)n_tokens * sizeof(int32_t));
        if (!r)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "out of memory");
        c->logit_row = r;
        c->logit_row_cap = n_tokens;
    }
    if (n_want > c->logits_cap) {
        float *l = realloc(c->logits, (size_t)n_want * V * sizeof(float));
        if (!l)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate logits for %d tokens", n_want);
        c->logits = l;
        c->logits_cap = n_want;
    }
    if (!c->logits_dev) {
        trit_backend *be = c->m->be;
        c->logits_dev = be->ops->alloc(be, (size_t)c->n_batch * V * sizeof(float));
        if (!c->logits_dev)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate logits for %d rows on the back end", c->n_batch);
    }
    return TRIT_OK;
}

trit_status trit_ctx_decode(trit_ctx *c, const trit_batch *b, trit_error *err) {
    trit_error local;
    if (!err)
        err = &local;
    const trit_config *cfg = &c->m->cfg;
    const int32_t n = b->n_tokens;
    if (n <= 0 || !b->tokens)
        return TRIT_FAIL(err, TRIT_E_ARG, "empty batch");
    /* ---- validate everything first; caches stay untouched on failure */
    int32_t *next = malloc((size_t)c->kv.n_seq * sizeof(int32_t));
    int32_t *pos = malloc((size_t)n * sizeof(int32_t));
    if (!next || !pos) {
        free(next);
        free(pos);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "out of memory");
    }
    memcpy(next, c->seq_len, (size_t)c->kv.n_seq * sizeof(int32_t));
    trit_status st = TRIT_OK;
    int32_t n_want = 0;
    for (int32_t i = 0; i < n && st == TRIT_OK; i++) {
        int32_t t = b->tokens[i], s = b->seq ? b->seq[i] : 0;
        if (t < 0 || t >= cfg->vocab_size)
            st = TRIT_FAIL(err, TRIT_E_RANGE, "token %d at batch index %d is outside the vocabulary [0, %d)", t, i,
                           cfg->vocab_size);
        else if (s < 0 || s >= c->kv.n_seq)
            st = TRIT_FAIL(err, TRIT_E_RANGE, "sequence %d at batch index %d is outside [0, %d)", s, i, c->kv.n_seq);
        else if (b->pos && b->pos[i] != next[s])
            st = TRIT_FAIL(err, TRIT_E_RANGE,
                           "position %d at batch index %d does not continue sequence %d (next position %d)", b->pos[i],
                           i, s, next[s]);
        else if (next[s] >= c->kv.n_ctx)
            st = TRIT_FAIL(err, TRIT_E_CONTEXT_FULL, "sequence %d is full: the context holds %d tokens", s,
                           c->kv.n_ctx);
        else
            pos[i] = next[s]++;
        if (b->want_logits ? b->want_logits[i] != 0 : i == n - 1)
            n_want++;
    }
    if (st == TRIT_OK)
        st = grow_host(c, n, n_want, err);
    if (st != TRIT_OK) {
        free(next);
        free(pos);
        return st;
    }

    /* ---- run in chunks of n_batch tokens */
    trit_backend *be = c->m->be;
    const size_t V = cfg->vocab_size;
    int32_t out_row = 0;
    c->n_last = n;
    for (int32_t i0 = 0; i0 < n && st == TRIT_OK; i0 += c->n_batch) {
        int32_t M = n - i0 < c->n_batch ? n - i0 : c->n_batch;
        int32_t *tok = c->meta_host, *seq = tok + M, *ps = seq + M, *rows = ps + M;
        int32_t n_out = 0;
        for (int32_t j = 0; j < M; j++) {
            int32_t i = i0 + j;
            tok[j] = b->tokens[i];
            seq[j] = b->seq ? b->seq[i] : 0;
            ps[j] = pos[i];
            bool want = b->want_logits ? b->want_logits[i] != 0 : i == n - 1;
            c->logit_row[i] = want ? out_row + n_out : -1;
            if (want)
                rows[n_out++] = j;
        }
        st = be->ops->upload(be, c->meta_dev, c->meta_host, (size_t)(3 * M + n_out) * sizeof(int32_t), err);
        if (st != TRIT_OK)
            break;
        int32_t *d_tok = c->meta_dev, *d_seq = d_tok + M, *d_pos = d_seq + M, *d_rows = d_pos + M;
        trit_forward(c->m, &c->kv, &c->s, d_tok, d_seq, d_pos, M, d_rows, n_out, c->logits_dev);
        if (n_out)
            st = be->ops->download(be, c->logits + (size_t)out_row * V, c->logits_dev, (size_t)n_out * V * sizeof(float),
                                   err);
        else
            st = be->ops->sync(be, err);
        out_row += n_out;
    }
    if (st == TRIT_OK)
        memcpy(c->seq_len, next, (size_t)c->kv.n_seq * sizeof(int32_t));
    else
        c->n_last = 0;
    free(next);
    free(pos);
    return st;
}
