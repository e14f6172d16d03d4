/* model_fixture.c — see model_fixture.h. */
#include "model_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fp16.h"
#include "formats_st.h"

fixture_cfg fixture_default(void) {
    fixture_cfg c = {.hidden = 64, .inter = 120, .layers = 2, .heads = 4, .kv_heads = 2, .vocab = 97,
                     .max_pos = 64, .tied = false, .packed = true, .silu = false, .seed = 7};
    return c;
}

static uint64_t next(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}
static float unit(uint64_t *s) { return (float)next(s) / 2147483648.0f; }

#define FIXTURE_MAX_TENSORS 4096 /* 2B-4T has 543 */

typedef struct blob {
    st_spec spec[FIXTURE_MAX_TENSORS];
    void *mem[FIXTURE_MAX_TENSORS];
    int n;
} blob;

static void add(blob *b, const char *name, const char *dtype, int n_dims, int64_t d0, int64_t d1, void *data,
                size_t bytes, const fixture_cfg *c) {
    if (c->omit_tensor && !strcmp(name, c->omit_tensor)) {
        free(data);
        return;
    }
    if (b->n == FIXTURE_MAX_TENSORS) {
        free(data);
        return;
    }
    st_spec *s = &b->spec[b->n];
    s->name = strdup(name);
    s->dtype = dtype;
    s->n_dims = n_dims;
    s->shape[0] = d0;
    s->shape[1] = d1;
    if (c->bad_shape && !strcmp(name, c->bad_shape)) {
        /* same bytes, wrong shape: a matrix transposed, a vector as [1, n] */
        if (n_dims == 2) {
            s->shape[0] = d1;
            s->shape[1] = d0;
        } else {
            s->n_dims = 2;
            s->shape[0] = 1;
            s->shape[1] = d0;
        }
    }
    s->data = data;
    s->bytes = bytes;
    b->mem[b->n++] = data;
}

static void add_vec(blob *b, const char *name, int n, uint64_t *rng, const fixture_cfg *c) {
    uint16_t *v = malloc((size_t)n * 2);
    for (int i = 0; i < n; i++)
        v[i] = trit_f32_to_bf16(0.8f + 0.4f * unit(rng));
    add(b, name, "BF16", 1, n, 0, v, (size_t)n * 2, c);
}

static void add_linear(blob *b, const char *prefix, int N, int K, uint64_t *rng, const fixture_cfg *c) {
    char name[320];
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (c->packed) {
        int R = N / 4;
        uint8_t *p = calloc((size_t)R * K, 1);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) {
                int code = (int)(next(rng) % 3); /* w + 1 */
                p[(size_t)(n % R) * K + k] |= (uint8_t)(code << (2 * (n / R)));
            }
        add(b, name, "U8", 2, R, K, p, (size_t)R * K, c);
        uint16_t *ws = malloc(2);
        ws[0] = trit_f32_to_bf16(0.5f + unit(rng));
        snprintf(name, sizeof name, "%s.weight_scale", prefix);
        add(b, name, "BF16", 1, 1, 0, ws, 2, c);
    } else {
        uint16_t *w = malloc((size_t)N * K * 2);
        for (size_t i = 0; i < (size_t)N * K; i++)
            w[i] = trit_f32_to_bf16(2.0f * unit(rng) - 1.0f);
        add(b, name, "BF16", 2, N, K, w, (size_t)N * K * 2, c);
    }
}

char *fixture_write(const fixture_cfg *c) {
    char *dir = NULL;
    if (c->dir) {
        mkdir(c->dir, 0755); /* an existing folder is fine; a failure shows when the files are written */
        dir = strdup(c->dir);
    } else {
        dir = st_tmpdir();
    }
    if (!dir)
        return NULL;
    char cfg[1024];
    int hd = c->hidden / c->heads;
    snprintf(cfg, sizeof cfg,
             "{\"model_type\": \"bitnet\", \"architectures\": [\"BitNetForCausalLM\"], \"hidden_size\": %d, "
             "\"intermediate_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
             "\"num_key_value_heads\": %d, \"vocab_size\": %d, \"max_position_embeddings\": %d, "
             "\"rope_theta\": 10000.0, \"rms_norm_eps\": 1e-5, \"tie_word_embeddings\": %s, \"hidden_act\": \"%s\", "
             "\"bos_token_id\": 1, \"eos_token_id\": 2, \"quantization_config\": {\"quant_method\": \"bitnet\", "
             "\"linear_class\": \"autobitlinear\", \"quantization_mode\": \"%s\"}}",
             c->hidden, c->inter, c->layers, c->heads, c->kv_heads, c->vocab, c->max_pos, c->tied ? "true" : "false",
             c->silu ? "silu" : "relu2", c->packed ? "offline" : "online");
    if (st_write(dir, "config.json", cfg, strlen(cfg))) {
        st_rmtree(dir);
        return NULL;
    }
    blob *bp = calloc(1, sizeof *bp);
    if (!bp) {
        st_rmtree(dir);
        return NULL;
    }
    uint64_t rng = c->seed;
    uint16_t *emb = malloc((size_t)c->vocab * c->hidden * 2);
    for (size_t i = 0; i < (size_t)c->vocab * c->hidden; i++)
        emb[i] = trit_f32_to_bf16(2.0f * unit(&rng) - 1.0f);
    add(bp, "model.embed_tokens.weight", "BF16", 2, c->vocab, c->hidden, emb, (size_t)c->vocab * c->hidden * 2, c);
    char name[200];
    for (int l = 0; l < c->layers; l++) {
        const char *lin[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
        int NK[7][2] = {{c->heads * hd, c->hidden},  {c->kv_heads * hd, c->hidden}, {c->kv_heads * hd, c->hidden},
                        {c->hidden, c->heads * hd},  {c->inter, c->hidden},         {c->inter, c->hidden},
                        {c->hidden, c->inter}};
        for (int i = 0; i < 7; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, lin[i]);
            add_linear(bp, name, NK[i][0], NK[i][1], &rng, c);
        }
        const char *norms[4] = {"input_layernorm", "self_attn.attn_sub_norm", "post_attention_layernorm",
                                "mlp.ffn_sub_norm"};
        int nw[4] = {c->hidden, c->heads * hd, c->hidden, c->inter};
        for (int i = 0; i < 4; i++) {
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, norms[i]);
            add_vec(bp, name, nw[i], &rng, c);
        }
    }
    add_vec(bp, "model.norm.weight", c->hidden, &rng, c);
    if (!c->tied) {
        uint16_t *lm = malloc((size_t)c->vocab * c->hidden * 2);
        for (size_t i = 0; i < (size_t)c->vocab * c->hidden; i++)
            lm[i] = trit_f32_to_bf16(2.0f * unit(&rng) - 1.0f);
        add(bp, "lm_head.weight", "BF16", 2, c->vocab, c->hidden, lm, (size_t)c->vocab * c->hidden * 2, c);
    }
    size_t size;
    uint8_t *img = st_build(bp->spec, bp->n, &size);
    int rc = img ? st_write(dir, "model.safetensors", img, size) : -1;
    free(img);
    for (int i = 0; i < bp->n; i++) {
        free((void *)bp->spec[i].name);
        free(bp->mem[i]);
    }
    free(bp);
    if (rc) {
        st_rmtree(dir);
        return NULL;
    }
    return dir;
}
