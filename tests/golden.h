/* golden.h — reader of the reference files scripts/make_goldens.py writes from transformers (test support, not
 * part of libtrit).
 *
 * Format (little-endian): int32 header[8] = {0x4C475254 "TRGL", 1 (version), n_cases, vocab, 0, 0, 0, 0}; then per
 * case: int32 kind, int32 n_tokens, int32 tokens[n_tokens], then
 *   kind 0 (prefill: logits at every position of one batch) / kind 1 (step-by-step decode through the KV cache):
 *       float32 logits[n_tokens][vocab]
 *   kind 2 (greedy continuation of the prompt `tokens`): int32 n_gen, int32 gen[n_gen]
 * The reader treats the file as hostile: every count, id and size is checked against the file before use, the
 * logits must be finite, and trailing bytes are an error. */
#ifndef TRIT_TESTS_GOLDEN_H
#define TRIT_TESTS_GOLDEN_H

#include <stdint.h>

#include "trit.h"

#define GOLDEN_MAGIC 0x4C475254
#define GOLDEN_VERSION 1

typedef enum { GOLDEN_PREFILL = 0, GOLDEN_DECODE = 1, GOLDEN_GREEDY = 2 } golden_kind;

typedef struct golden_case {
    golden_kind kind;
    int32_t n_tokens;
    int32_t *tokens; /* [n_tokens], each in [0, vocab) */
    float *logits;   /* [n_tokens * vocab] for PREFILL / DECODE, else NULL */
    int32_t n_gen;   /* GREEDY: number of generated tokens */
    int32_t *gen;    /* GREEDY: [n_gen], each in [0, vocab) */
} golden_case;

typedef struct golden_file {
    int32_t vocab;
    int32_t n_cases;
    golden_case *cases; /* [n_cases] */
} golden_file;

/* Reads and validates `path`. On failure returns TRIT_E_IO / TRIT_E_FORMAT / TRIT_E_NOMEM with a message naming the
 * file, case and byte offset, and leaves *out empty. */
trit_status golden_load(const char *path, golden_file *out, trit_error *err);
/* Same, from a buffer (the parser the fuzz-style tests drive). `name` is used in messages. */
trit_status golden_parse(const uint8_t *buf, size_t len, const char *name, golden_file *out, trit_error *err);
void golden_free(golden_file *g);

#endif
