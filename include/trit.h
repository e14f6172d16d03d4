/* trit.h — the one public header of libtrit, an inference engine for ternary (BitNet b1.58) language models.
 *
 * Conventions: opaque handles; every fallible call returns a trit_status and, on failure, fills the
 * caller-owned trit_error with a message that names the file/tensor/offset at fault. The library never
 * exits or aborts on bad input. Sizes are int64_t or size_t; token ids are int32_t.
 */
#ifndef TRIT_H
#define TRIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------------ status */

typedef enum {
    TRIT_OK = 0,
    TRIT_E_IO,           /* a file could not be opened, read or mapped */
    TRIT_E_FORMAT,       /* a file is malformed: bad header, JSON, shape, dtype, offset, missing tensor */
    TRIT_E_NOMEM,        /* an allocation failed */
    TRIT_E_RANGE,        /* a value is outside what is allowed: token id, position, length, buffer size */
    TRIT_E_UNSUPPORTED,  /* well-formed but not supported: unknown model_type, activation, dtype */
    TRIT_E_ARG,          /* the caller passed an invalid argument */
    TRIT_E_CONTEXT_FULL, /* the KV cache of a sequence has no room for the tokens given; cache left unchanged */
    TRIT_E_BACKEND,      /* a back end (CPU kernels, CUDA) failed or is not available */
} trit_status;

/* Caller-owned error record. `msg` is NUL-terminated and human-readable; `where` is "file.c:line". */
typedef struct trit_error {
    trit_status status;
    char msg[512];
    char where[64];
} trit_error;

const char *trit_status_name(trit_status st);

/* ------------------------------------------------------------------------------------------------ config */

typedef enum { TRIT_ACT_RELU2 = 0, TRIT_ACT_SILU = 1 } trit_act;

/* weight_scale direction (quantization_config.linear_class, spec §3.4) */
typedef enum { TRIT_SCALE_MULTIPLY = 0 /* autobitlinear */, TRIT_SCALE_DIVIDE = 1 /* bitlinear */ } trit_scale_dir;

typedef struct trit_config {
    int32_t hidden_size;       /* d_model, e.g. 2560 */
    int32_t intermediate_size; /* FFN width, e.g. 6912 */
    int32_t n_layers;
    int32_t n_heads;
    int32_t n_kv_heads;        /* GQA: query head h reads kv head h / (n_heads / n_kv_heads) */
    int32_t head_dim;          /* hidden_size / n_heads unless config.json says otherwise */
    int32_t vocab_size;
    int32_t max_positions;     /* max_position_embeddings */
    float rope_theta;
    float rms_eps;
    bool tie_embeddings;
    trit_act act;
    trit_scale_dir scale_dir;
    bool offline_quant;        /* quantization_mode "offline" (packed weights) vs "online" (float masters) */
    int32_t bos_id;            /* -1 when absent */
    int32_t eos_id;            /* -1 when absent */
} trit_config;

/* ------------------------------------------------------------------------------------------------ model */

typedef struct trit_model trit_model;

typedef struct trit_model_params {
    const char *backend; /* "auto" (NULL), "ref", "cpu", "cuda"; env TRIT_BACKEND overrides "auto" */
    int n_threads;       /* 0 = all cores */
    bool lm_head_int8;   /* LM head as int8 with one f32 scale per row (half the bytes of bf16; embeddings stay
                            exact, so a tied table is kept twice); default false */
} trit_model_params;

trit_model_params trit_model_default_params(void);

/* Loads a Hugging Face model folder: config.json, *.safetensors (packed uint8 + weight_scale, or bf16/f16/f32
 * masters ternarized at load), tokenizer.json. */
trit_status trit_model_load(const char *dir, const trit_model_params *params, trit_model **out, trit_error *err);
void trit_model_free(trit_model *m);
const trit_config *trit_model_get_config(const trit_model *m);
const char *trit_model_backend_name(const trit_model *m);
struct trit_tokenizer *trit_model_tokenizer(trit_model *m); /* owned by the model; NULL if the folder had none */

/* ------------------------------------------------------------------------------------------------ context */

typedef struct trit_ctx trit_ctx;

typedef struct trit_ctx_params {
    int32_t n_ctx;     /* KV-cache length per sequence; 0 = max_positions */
    int32_t n_seq;     /* number of sequence slots (independent KV caches); 0 = 1 */
    int32_t n_batch;   /* most tokens one trit_ctx_decode call may carry; 0 = 512 */
} trit_ctx_params;

trit_ctx_params trit_ctx_default_params(void);
trit_status trit_ctx_new(trit_model *m, const trit_ctx_params *params, trit_ctx **out, trit_error *err);
void trit_ctx_free(trit_ctx *c);

/* A batch of tokens from one or more sequences, each at its own position (tokens of one sequence in order,
 * contiguous positions continuing that sequence's cache). want_logits[i] asks for the logits of token i. */
typedef struct trit_batch {
    int32_t n_tokens;
    const int32_t *tokens;
    const int32_t *seq;         /* sequence slot of each token; NULL = all slot 0 */
    const int32_t *pos;         /* position of each token; NULL = continue each sequence */
    const uint8_t *want_logits; /* NULL = logits of the last token only */
} trit_batch;

/* Runs the model over the batch, appending to the KV caches. On TRIT_E_CONTEXT_FULL / TRIT_E_RANGE the caches
 * are left unchanged. */
trit_status trit_ctx_decode(trit_ctx *c, const trit_batch *b, trit_error *err);
/* Logits [vocab] of the i-th token of the last batch that asked for them (i indexes the batch); NULL if not. */
const float *trit_ctx_logits(const trit_ctx *c, int32_t i);
int32_t trit_ctx_seq_len(const trit_ctx *c, int32_t seq);  /* tokens in that sequence's cache */
int32_t trit_ctx_n_ctx(const trit_ctx *c);
void trit_ctx_seq_clear(trit_ctx *c, int32_t seq);          /* forget a sequence */
/* Keep the first n tokens of a sequence, drop the rest (for chat re-use and rollback). */
trit_status trit_ctx_seq_truncate(trit_ctx *c, int32_t seq, int32_t n, trit_error *err);

/* ------------------------------------------------------------------------------------------------ tokenizer */

typedef struct trit_tokenizer trit_tokenizer;

/* Hugging Face tokenizer.json (byte-level BPE: vocab, merges, added tokens, pre-tokenizer, post-processor). */
trit_status trit_tokenizer_load_hf(const char *path, trit_tokenizer **out, trit_error *err);
/* tiktoken rank file ("base64 rank" per line) with the Llama 3 pattern and the 256 Llama 3 special tokens. */
trit_status trit_tokenizer_load_tiktoken(const char *path, trit_tokenizer **out, trit_error *err);
void trit_tokenizer_free(trit_tokenizer *t);

enum {
    TRIT_TOK_ADD_BOS = 1 << 0, /* prepend the BOS token (when the tokenizer has one) */
    TRIT_TOK_SPECIAL = 1 << 1, /* recognise special-token text (e.g. "<|eot_id|>") in the input */
};

/* Encodes `len` bytes of text. Writes up to `cap` ids; *n_out is the number of ids the text needs (if it is
 * larger than cap, TRIT_E_RANGE is returned and nothing beyond cap is written). */
trit_status trit_tokenize(const trit_tokenizer *t, const char *text, size_t len, int flags, int32_t *ids,
                          size_t cap, size_t *n_out, trit_error *err);
int32_t trit_tokenizer_vocab_size(const trit_tokenizer *t);
int32_t trit_tokenizer_bos(const trit_tokenizer *t);        /* -1 if none */
int32_t trit_tokenizer_eos(const trit_tokenizer *t);        /* -1 if none */
/* Id of a token given by its text (special or normal piece in raw bytes), or -1. */
int32_t trit_tokenizer_find(const trit_tokenizer *t, const char *text);
bool trit_tokenizer_is_special(const trit_tokenizer *t, int32_t id);
/* Raw bytes of a token (byte-level BPE decoded); *len set. NULL for an out-of-range id. */
const char *trit_token_bytes(const trit_tokenizer *t, int32_t id, size_t *len);

/* Streaming decoder: feed ids, get UTF-8 text out; a partial multi-byte sequence is held back until complete
 * (or flushed as U+FFFD at trit_detok_flush when invalid). */
typedef struct trit_detok trit_detok;
trit_detok *trit_detok_new(const trit_tokenizer *t, bool skip_special);
/* Appends the text completed by `id` to out (at most cap-1 bytes, NUL-terminated); returns bytes written or -1
 * when cap is too small, consuming nothing (cap >= 8 + 3 x the longest token always suffices; for Llama 3,
 * 192 bytes). */
int trit_detok_push(trit_detok *d, int32_t id, char *out, size_t cap);
int trit_detok_flush(trit_detok *d, char *out, size_t cap);
void trit_detok_free(trit_detok *d);

/* ------------------------------------------------------------------------------------------------ sampling */

typedef struct trit_sampler_params {
    float temperature;        /* 0 = greedy */
    int32_t top_k;            /* 0 = off */
    float top_p;              /* 1 = off */
    float min_p;              /* 0 = off */
    float repeat_penalty;     /* 1 = off; divides positive logits, multiplies negative ones (CTRL rule) */
    int32_t repeat_last_n;    /* window of recent tokens the penalty looks at */
    uint64_t seed;
} trit_sampler_params;

typedef struct trit_sampler trit_sampler;
trit_sampler_params trit_sampler_default_params(void);
trit_status trit_sampler_new(const trit_sampler_params *p, int32_t vocab, trit_sampler **out, trit_error *err);
void trit_sampler_free(trit_sampler *s);
/* Picks a token from logits[vocab] (not modified). The repetition penalty looks at the tokens passed to
 * trit_sampler_accept (prompt and generated ones). Same seed and same inputs give the same choices. */
int32_t trit_sampler_sample(trit_sampler *s, const float *logits);
void trit_sampler_accept(trit_sampler *s, int32_t token);
void trit_sampler_reset(trit_sampler *s); /* forget accepted tokens (the RNG keeps its state) */

#ifdef __cplusplus
}
#endif
#endif /* TRIT_H */
