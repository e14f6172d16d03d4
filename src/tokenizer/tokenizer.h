/* tokenizer.h — what other modules (model loader, server, fuzzers, tests) use of the tokenizer beyond trit.h.
 * The chat template lives in chat.h. */
#ifndef TRIT_TOKENIZER_TOKENIZER_H
#define TRIT_TOKENIZER_TOKENIZER_H

#include "trit.h"

/* Same as trit_tokenizer_load_hf / _load_tiktoken, from a buffer (not NUL-terminated); `name` is used in error
 * messages. The buffer is not kept. */
trit_status trit_tokenizer_load_hf_mem(const char *data, size_t len, const char *name, trit_tokenizer **out,
                                       trit_error *err);
trit_status trit_tokenizer_load_tiktoken_mem(const char *data, size_t len, const char *name, trit_tokenizer **out,
                                             trit_error *err);

/* Reads a whole file into a malloc'd buffer (the caller frees it). */
trit_status tok_read_file(const char *path, char **data, size_t *len, trit_error *err);

/* Longest token in bytes (sizes trit_detok_push buffers: 8 + 3 * this always suffices). */
size_t trit_tokenizer_max_token_len(const trit_tokenizer *t);

/* Encodes into a malloc'd array (*ids, *n; the caller frees it). Same flags and errors as trit_tokenize. */
trit_status trit_tokenize_alloc(const trit_tokenizer *t, const char *text, size_t len, int flags, int32_t **ids,
                                size_t *n, trit_error *err);

#endif
