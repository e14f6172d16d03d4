/* model.h — the model's weights on a back end, and the one forward pass (forward.c) that every back end runs.
 * Internal to libtrit; the public face is trit_model / trit_ctx in include/trit.h. */
#ifndef TRIT_MODEL_MODEL_H
#define TRIT_MODEL_MODEL_H

#include <stdint.h>

#include "backend/backend.h"
#include "trit.h"

/* One transformer block. Norm vectors and tmats live in back-end memory. */
typedef struct trit_layer {
    float *attn_norm;     /* [D]      input_layernorm */
    float *attn_sub_norm; /* [H*hd]   self_attn.attn_sub_norm, before o_proj */
    float *ffn_norm;      /* [D]      post_attention_layernorm */
    float *ffn_sub_norm;  /* [F]      mlp.ffn_sub_norm, before down_proj */
    trit_tmat qkv;        /* [(H+2*Hkv)*hd][D], segments q | k | v */
    trit_tmat o;          /* [D][H*hd] */
    trit_tmat gate_up;    /* [2F][D], segments gate | up */
    trit_tmat down;       /* [D][F] */
} trit_layer;

struct trit_model {
    trit_config cfg;
    trit_backend *be;
    trit_layer *layers;   /* [n_layers] */
    float *final_norm;    /* [D] model.norm */
    void *embed;          /* [V][D] back-end memory, embed_dt */
    trit_dtype embed_dt;
    void *lm_head;        /* [V][D]; == embed when tied */
    trit_dtype lm_head_dt;
    bool embed_borrowed;  /* embed points into the file mapping `st` (host-memory back ends), not freed */
    bool lm_head_borrowed;
    struct trit_st_set *st; /* kept open while a table is borrowed from it */
    trit_tokenizer *tok;  /* NULL when the folder has no tokenizer.json */
    char *dir;            /* model folder (NULL for generated models) */
};

/* Builds a model with random weights for a config (benchmarks, tests): ternary codes uniform over {-1,0,1},
 * γ in [0.5, 2), norms 1 ± 0.1, bf16 embeddings N(0, 1). Deterministic for a seed. No tokenizer. */
trit_status trit_model_random(const trit_config *cfg, uint64_t seed, const trit_model_params *params,
                              trit_model **out, trit_error *err);

/* The 2B-4T config (spec §1.1), for benchmarks of its shapes without a download. */
trit_config trit_config_bitnet_2b4t(void);

/* Checks a config for values the forward cannot run (called by the loader and trit_model_random). */
trit_status trit_config_check(const trit_config *cfg, trit_error *err);

/* Forward of M tokens through all layers (forward.c). Inputs are back-end arrays [M]; `rows` lists the n_out
 * token indices whose logits are wanted (back-end memory), written to `logits` [n_out][V] (back-end memory).
 * Scratch buffers come from the context. */
struct trit_fwd_scratch {
    int32_t cap;   /* rows the buffers hold */
    float *h;      /* [cap][D] residual stream */
    float *qkv;    /* [cap][Nqkv] */
    float *att;    /* [cap][H*hd] */
    float *gu;     /* [cap][2F] */
    float *ffn;    /* [cap][F] */
    int8_t *q8;    /* [cap][max(D, H*hd, F)] quantized activations */
    float *qs;     /* [cap] activation scales */
    float *xo;     /* [cap][D] rows gathered for the LM head */
};

void trit_forward(const trit_model *m, trit_kvcache *kv, struct trit_fwd_scratch *s, const int32_t *tokens,
                  const int32_t *seq, const int32_t *pos, int32_t M, const int32_t *rows, int32_t n_out,
                  float *logits);

#endif
