/* generate.h — the token loop shared by `trit run` and `trit chat`: feed a prompt, then sample, stream the
 * text (valid UTF-8 only) and stop on an end token, the token budget or a full context. */
#ifndef TRIT_TOOLS_GENERATE_H
#define TRIT_TOOLS_GENERATE_H

#include <stdio.h>

#include "trit.h"

typedef struct gen_opts {
    int n_predict;       /* most tokens to generate; < 0 = until an end token or the context is full */
    bool ignore_eos;     /* keep going past end tokens */
    bool feed_last;      /* feed the last token (end token or not) into the cache: chat keeps the whole reply and
                          * its "<|eot_id|>" in the history */
    FILE *out;           /* where text streams (stdout) */
} gen_opts;

typedef struct gen_stats {
    int n_prompt;
    double prompt_s;
    int n_gen;
    double gen_s;
    bool stopped_eos;    /* ended on an end token */
    bool context_full;   /* ended because the context was full */
} gen_stats;

/* Feeds `prompt` (n ids) to sequence 0 of ctx (appending to what it holds) and generates. Returns TRIT_OK or
 * the failing status (err filled). TRIT_E_CONTEXT_FULL for the prompt itself is returned as an error; a
 * context that fills during generation ends generation normally with stats->context_full set. */
trit_status generate(trit_model *m, trit_ctx *ctx, trit_sampler *smp, const int32_t *prompt, int n,
                     const gen_opts *o, gen_stats *stats, trit_error *err);

/* The ids that end a turn: eos of config and tokenizer, "<|eot_id|>", "<|end_of_text|>". */
bool gen_is_stop(const trit_model *m, int32_t id);

#endif
