/* generate.c — see generate.h. */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

bool gen_is_stop(const trit_model *m, int32_t id) {
    const trit_config *c = trit_model_get_config(m);
    if (id == c->eos_id)
        return true;
    trit_tokenizer *tok = trit_model_tokenizer((trit_model *)m);
    if (!tok)
        return false;
    if (id == trit_tokenizer_eos(tok))
        return true;
    static const char *const names[] = {"<|eot_id|>", "<|end_of_text|>", "<|im_end|>", NULL};
    for (int i = 0; names[i]; i++)
        if (trit_tokenizer_find(tok, names[i]) == id)
            return true;
    return false;
}

trit_status generate(trit_model *m, trit_ctx *ctx, trit_sampler *smp, const int32_t *prompt, int n,
                     const gen_opts *o, gen_stats *st, trit_error *err) {
    memset(st, 0, sizeof *st);
    trit_tokenizer *tok = trit_model_tokenizer(m);
    int32_t n_ctx = trit_ctx_n_ctx(ctx);
    if (trit_ctx_seq_len(ctx, 0) + n > n_ctx) {
        err->status = TRIT_E_CONTEXT_FULL;
        snprintf(err->msg, sizeof err->msg,
                 "the prompt has %d tokens but the context has room for %d more (context %d tokens; raise --ctx up "
                 "to the model's max_position_embeddings, or shorten the prompt)",
                 n, n_ctx - trit_ctx_seq_len(ctx, 0), n_ctx);
        return TRIT_E_CONTEXT_FULL;
    }
    for (int i = 0; i < n; i++)
        trit_sampler_accept(smp, prompt[i]);
    double t0 = tool_now();
    trit_batch b = {.n_tokens = n, .tokens = prompt};
    trit_status s = trit_ctx_decode(ctx, &b, err);
    if (s != TRIT_OK)
        return s;
    st->n_prompt = n;
    st->prompt_s = tool_now() - t0;

    trit_detok *dt = trit_detok_new(tok, true);
    if (!dt) {
        err->status = TRIT_E_NOMEM;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return TRIT_E_NOMEM;
    }
    char buf[4096];
    double t1 = tool_now();
    int32_t id = -1;
    while (o->n_predict != 0) {
        const float *logits = trit_ctx_logits(ctx, b.n_tokens - 1);
        id = trit_sampler_sample(smp, logits);
        bool stop = gen_is_stop(m, id) && !o->ignore_eos;
        if (stop) {
            st->stopped_eos = true;
        } else {
            int w = trit_detok_push(dt, id, buf, sizeof buf);
            if (w > 0) {
                fwrite(buf, 1, (size_t)w, o->out);
                fflush(o->out);
            }
            st->n_gen++;
            trit_sampler_accept(smp, id);
        }
        bool done = stop || (o->n_predict >= 0 && st->n_gen >= o->n_predict);
        if (done && !o->feed_last)
            break; /* run: the last token need not enter the cache */
        if (trit_ctx_seq_len(ctx, 0) >= n_ctx) {
            st->context_full = true; /* chat: the token just shown could not enter the cache */
            break;
        }
        trit_batch nb = {.n_tokens = 1, .tokens = &id};
        b = nb;
        s = trit_ctx_decode(ctx, &b, err);
        if (s != TRIT_OK || done)
            break;
    }
    int w = trit_detok_flush(dt, buf, sizeof buf);
    if (w > 0)
        fwrite(buf, 1, (size_t)w, o->out);
    fflush(o->out);
    trit_detok_free(dt);
    st->gen_s = tool_now() - t1;
    return s;
}
