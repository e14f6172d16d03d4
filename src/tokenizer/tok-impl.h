/* tok-impl.h — private to src/tokenizer/: the tokenizer struct, its hash tables and the helpers the module's
 * files share. Other modules include tokenizer.h (and chat.h), never this file.
 *
 * Model: byte-level BPE. Every token has raw bytes; a pre-token's bytes start as single-byte symbols and adjacent
 * symbols (a, b) merge by the lowest priority found in `pairs`. The priority is the merge index for tokenizer.json
 * (HF rule) and the rank of the concatenated token for tiktoken files (tiktoken rule); ties go to the leftmost
 * pair in both. */
#ifndef TRIT_TOKENIZER_TOK_IMPL_H
#define TRIT_TOKENIZER_TOK_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/status.h"
#include "trit.h"

#define TOK_MAX_VOCAB (1 << 24) /* ids at or above this are rejected as hostile */
#define TOK_MAX_TOKEN_LEN 4096  /* longest token (bytes) we accept in a file */

enum { TOK_PRESENT = 1, TOK_SPECIAL = 2, TOK_ADDED = 4, TOK_MODEL = 8 /* in the BPE vocabulary */ };

typedef struct {
    uint32_t off;   /* into trit_tokenizer.blob */
    uint32_t len;   /* bytes */
    uint8_t flags;  /* TOK_* */
} tok_entry;

/* u64 -> u64 open-addressing map; key UINT64_MAX marks an empty slot. */
typedef struct {
    uint64_t *keys;
    uint64_t *vals;
    size_t cap; /* power of two */
    size_t n;
} tok_map64;

/* byte string -> id map over the token table (slots hold id + 1; 0 = empty). */
typedef struct {
    uint32_t *slot;
    uint32_t *hash;
    size_t cap;
    size_t n;
} tok_strmap;

struct trit_tokenizer {
    int32_t n_vocab;      /* max id + 1 */
    tok_entry *tok;       /* [n_vocab]; allocated for tok_cap, entries past n_vocab are zero */
    size_t tok_cap;
    char *blob;           /* token bytes */
    size_t blob_len, blob_cap;
    tok_strmap bpe_map;   /* bytes -> id for BPE (model) tokens */
    tok_strmap added_map; /* bytes -> id for added / special tokens */
    tok_map64 pairs;      /* (a << 32 | b) -> (priority << 32 | merged id) */
    int32_t byte_id[256]; /* id of the single-byte token, -1 if the vocab lacks it */
    int32_t unk_id;       /* HF model.unk_token, -1 if none (bytes without a token are then dropped) */
    bool whole_word;      /* a pre-token that is itself a token maps to it directly (tiktoken, ignore_merges) */
    bool add_prefix_space;
    int32_t bos, eos;
    size_t max_token_len;
    /* added-token trie for the text splitter: (node << 8 | byte) -> child; node_tok[node] = id or -1 */
    tok_map64 trie;
    int32_t *node_tok;
    uint8_t *node_special; /* 1 if the token ending at this node is special (needs TRIT_TOK_SPECIAL) */
    size_t n_nodes;
    bool trie_first[256];  /* bytes that start some added token */
    /* pre-tokenizer */
    pcre2_code *re;        /* NULL: no regex split (whole segment is one pre-token) */
    bool re_jit;
    char *name;            /* file name for messages */
};

/* --- tables (tok-core.c) */
uint64_t tok_hash_bytes(const void *p, size_t n);
trit_status tok_map64_init(tok_map64 *m, size_t expect, trit_error *err);
void tok_map64_free(tok_map64 *m);
bool tok_map64_get(const tok_map64 *m, uint64_t key, uint64_t *val);
/* Inserts or (when replace) overwrites; returns false when the key existed and was kept. */
trit_status tok_map64_put(tok_map64 *m, uint64_t key, uint64_t val, bool replace, bool *inserted, trit_error *err);
int32_t tok_strmap_get(const trit_tokenizer *t, const tok_strmap *m, const void *p, size_t n);

/* --- building (tok-core.c) */
trit_status tok_new(const char *name, trit_tokenizer **out, trit_error *err);
/* Sets token `id` to bytes p[0..n); fails on a duplicate id or an id out of range. */
trit_status tok_set(trit_tokenizer *t, int32_t id, const void *p, size_t n, uint8_t flags, trit_error *err);
/* Builds the maps after all tokens are set (pairs are added by the loaders afterwards). */
trit_status tok_finish(trit_tokenizer *t, trit_error *err);
/* Adds merge (a, b) -> merged at `prio`; an existing pair keeps its lower priority. */
trit_status tok_add_pair(trit_tokenizer *t, int32_t a, int32_t b, int32_t merged, uint32_t prio, trit_error *err);
/* Compiles the pre-tokenizer pattern (\s and \S rewritten to Unicode White_Space, see pretok.c). */
trit_status tok_set_pattern(trit_tokenizer *t, const char *pat, size_t len, bool literal, trit_error *err);

/* GPT-2 byte-level alphabet: byte -> code point, and code point -> byte (-1 if not in the alphabet). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp);
/* Decodes one UTF-8 code point at p[0..n); returns its length (1..4) or 0 if the bytes there are not a valid,
 * shortest-form, non-surrogate sequence. */
int tok_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp);

/* --- encoding (bpe.c, pretok.c) */
/* Per-call state of trit_tokenize: PCRE2 match data and a bounded pre-token -> ids cache. */
typedef struct tok_cache tok_cache;
tok_cache *tok_cache_new(const trit_tokenizer *t);
void tok_cache_free(tok_cache *c);
pcre2_match_data *tok_cache_match_data(tok_cache *c);

/* Growable output id buffer of one trit_tokenize call. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} tok_out;
trit_status tok_out_push(tok_out *o, int32_t id, trit_error *err);

/* Merges the symbol ids sym[0..*m) in place by the pair priorities and updates *m. use_heap picks the
 * O(m log m) path (taken above a length threshold); both give identical results (tested). */
trit_status tok_bpe_merge(const trit_tokenizer *t, int32_t *sym, size_t *m, bool use_heap, trit_error *err);
/* BPE of one pre-token (bytes) appended to o; cache may be NULL. */
trit_status tok_bpe_word(const trit_tokenizer *t, const uint8_t *p, size_t n, tok_cache *cache, tok_out *o,
                         trit_error *err);
/* Splits one segment (text between added tokens) into pre-tokens and BPE-encodes each. */
trit_status tok_encode_segment(const trit_tokenizer *t, const uint8_t *p, size_t n, tok_cache *cache, tok_out *o,
                               trit_error *err);

#endif
