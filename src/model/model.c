/* model.c — loading a Hugging Face BitNet folder onto a back end (config.json, *.safetensors, tokenizer.json),
 * and generating random-weight models of any config for benchmarks. Ternary matrices are read one at a time
 * into a host int8 code buffer and handed to the back end's tmat_pack, so peak host memory stays at the packed
 * model plus one matrix of codes. q|k|v and gate|up are fused into one tmat each with per-segment scales. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fp16.h"
#include "core/status.h"
#include "cpu/ref/ref.h" /* trit_ref_i8row_quantize: the int8 LM head's one definition */
#include "formats/config.h"
#include "formats/safetensors.h"
#include "formats/weights.h"
#include "model/model.h"

trit_model_params trit_model_default_params(void) {
    trit_model_params p = {.backend = NULL, .n_threads = 0, .lm_head_int8 = false};
    return p;
}

const trit_config *trit_model_get_config(const trit_model *m) { return &m->cfg; }
const char *trit_model_backend_name(const trit_model *m) { return m->be->ops->name; }
trit_tokenizer *trit_model_tokenizer(trit_model *m) { return m->tok; }

trit_config trit_config_bitnet_2b4t(void) {
    trit_config c = {
        .hidden_size = 2560, .intermediate_size = 6912, .n_layers = 30, .n_heads = 20, .n_kv_heads = 5,
        .head_dim = 128, .vocab_size = 128256, .max_positions = 4096, .rope_theta = 500000.0f, .rms_eps = 1e-5f,
        .tie_embeddings = true, .act = TRIT_ACT_RELU2, .scale_dir = TRIT_SCALE_MULTIPLY, .offline_quant = true,
        .bos_id = 128000, .eos_id = 128001,
    };
    return c;
}

trit_status trit_config_check(const trit_config *c, trit_error *err) {
    if (c->hidden_size <= 0 || c->intermediate_size <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->head_dim <= 0 || c->vocab_size <= 0 || c->max_positions <= 0)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "model config has a non-positive size");
    if (c->n_heads % c->n_kv_heads)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                         c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "head_dim %d is odd (rotary embedding needs pairs)", c->head_dim);
    if (c->intermediate_size % 4 || c->hidden_size % 4 || (c->n_kv_heads * c->head_dim) % 4)
        return TRIT_FAIL(err, TRIT_E_FORMAT,
                         "packed ternary weights need output sizes divisible by 4 (hidden %d, intermediate %d, kv %d)",
                         c->hidden_size, c->intermediate_size, c->n_kv_heads * c->head_dim);
    return TRIT_OK;
}

/* ------------------------------------------------------------------------------------------------ helpers */

static float *upload_f32(trit_backend *be, const float *host, size_t n, trit_error *err) {
    float *p = be->ops->alloc(be, n * sizeof(float));
    if (!p) {
        TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate %zu floats on back end %s", n, be->ops->name);
        return NULL;
    }
    if (be->ops->upload(be, p, host, n * sizeof(float), err) != TRIT_OK) {
        be->ops->free(be, p);
        return NULL;
    }
    return p;
}

static void free_layer(trit_backend *be, trit_layer *L) {
    be->ops->free(be, L->attn_norm);
    be->ops->free(be, L->attn_sub_norm);
    be->ops->free(be, L->ffn_norm);
    be->ops->free(be, L->ffn_sub_norm);
    trit_tmat *mats[4] = {&L->qkv, &L->o, &L->gate_up, &L->down};
    for (int i = 0; i < 4; i++)
        if (mats[i]->data || mats[i]->aux)
            be->ops->tmat_free(be, mats[i]);
}

void trit_model_free(trit_model *m) {
    if (!m)
        return;
    if (m->be) {
        if (m->layers)
            for (int32_t l = 0; l < m->cfg.n_layers; l++)
                free_layer(m->be, &m->layers[l]);
        m->be->ops->free(m->be, m->final_norm);
        if (m->lm_head && m->lm_head != m->embed && !m->lm_head_borrowed)
            m->be->ops->free(m->be, m->lm_head);
        if (!m->embed_borrowed)
            m->be->ops->free(m->be, m->embed);
        trit_backend_destroy(m->be);
    }
    trit_st_set_close(m->st);
    free(m->layers);
    if (m->tok)
        trit_tokenizer_free(m->tok);
    free(m->dir);
    free(m);
}

static trit_status model_alloc(const trit_config *cfg, const trit_model_params *params, trit_model **out,
                               trit_error *err) {
    TRIT_TRY(trit_config_check(cfg, err));
    trit_model_params def = trit_model_default_params();
    if (!params)
        params = &def;
    trit_model *m = calloc(1, sizeof *m);
    if (!m)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "out of memory");
    m->cfg = *cfg;
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    if (!m->layers) {
        free(m);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "out of memory");
    }
    trit_status st = trit_backend_create(params->backend, params->n_threads, &m->be, err);
    if (st != TRIT_OK) {
        free(m->layers);
        free(m);
        return st;
    }
    *out = m;
    return TRIT_OK;
}

/* Sets the shape and segments of a fused tmat: segment i has rows[i] rows and scale gammas[i]. */
static void tmat_shape(trit_tmat *w, int32_t K, int n_seg, const int32_t *rows, const float *gammas) {
    memset(w, 0, sizeof *w);
    w->K = K;
    w->n_seg = n_seg;
    int32_t end = 0;
    for (int i = 0; i < n_seg; i++) {
        end += rows[i];
        w->seg_end[i] = end;
        w->seg_scale[i] = gammas[i];
    }
    w->N = end;
}

/* ------------------------------------------------------------------------------------------------ load */

static trit_status load_fused(trit_model *m, const trit_st_set *st, trit_tmat *w, int32_t K, int n,
                              const char *const *prefixes, const int32_t *rows, int8_t *codes, trit_error *err) {
    float gammas[TRIT_TMAT_MAX_SEG];
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        TRIT_TRY(trit_weights_linear(st, &m->cfg, prefixes[i], rows[i], K, codes + off, &gammas[i], err));
        char name[192];
        snprintf(name, sizeof name, "%s.weight", prefixes[i]);
        trit_st_set_release(st, trit_st_find(st, name)); /* its bytes are in `codes` now */
        off += (size_t)rows[i] * K;
    }
    tmat_shape(w, K, n, rows, gammas);
    return m->be->ops->tmat_pack(m->be, w, codes, err);
}

static trit_status load_vector(trit_model *m, const trit_st_set *st, const char *name, int32_t n, float *tmp,
                               float **out, trit_error *err) {
    TRIT_TRY(trit_weights_vector(st, name, n, tmp, err));
    *out = upload_f32(m->be, tmp, (size_t)n, err);
    return *out ? TRIT_OK : err->status;
}

/* Embedding / LM head table: bf16 and f32 go up as they are; f16 is widened to f32 (exact). */
static trit_status load_table(trit_model *m, const trit_st_set *st, const char *name, void **out, trit_dtype *dt,
                              bool *borrowed, trit_error *err) {
    const trit_config *c = &m->cfg;
    const trit_st_tensor *t;
    TRIT_TRY(trit_weights_matrix(st, name, c->vocab_size, c->hidden_size, &t, err));
    size_t n = (size_t)c->vocab_size * (size_t)c->hidden_size;
    trit_backend *be = m->be;
    *borrowed = false;
    if (t->dtype == TRIT_ST_BF16 || t->dtype == TRIT_ST_F32) {
        *dt = t->dtype == TRIT_ST_BF16 ? TRIT_DT_BF16 : TRIT_DT_F32;
        /* CPU back ends read the table where it lies in the file mapping: no copy (656 MB for 2B-4T), no second
         * resident image of it, and pages the embedding lookups never touch stay on disk. */
        if (be->ops->host_memory && (uintptr_t)t->data % trit_st_dtype_size(t->dtype) == 0) {
            *out = (void *)t->data;
            *borrowed = true;
            return TRIT_OK;
        }
        void *p = be->ops->alloc(be, t->bytes);
        if (!p)
            return TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate %zu bytes for %s", t->bytes, name);
        trit_status st2 = be->ops->upload(be, p, t->data, t->bytes, err);
        if (st2 != TRIT_OK) {
            be->ops->free(be, p);
            return st2;
        }
        *out = p;
        return TRIT_OK;
    }
    float *tmp = malloc(n * sizeof(float));
    if (!tmp)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate %zu floats for %s", n, name);
    for (size_t i = 0; i < n; i++)
        tmp[i] = trit_st_read_f32(t, (int64_t)i);
    *dt = TRIT_DT_F32;
    *out = upload_f32(be, tmp, n, err);
    free(tmp);
    return *out ? TRIT_OK : err->status;
}

/* Source of an int8 LM head: a tensor of the file (any float dtype) or a bf16 table [V][D] in back-end memory. */
typedef struct head_src {
    const trit_st_tensor *t;
    const void *be_bf16;
} head_src;

#define HEAD_I8_BLOCK 256 /* rows quantized per upload: host memory holds one block, never the whole table */

/* Builds the int8 LM head (TRIT_DT_I8ROW, backend.h) of a [V][D] table in back-end memory; *out is NULL on error. */
static trit_status build_head_i8(trit_model *m, const head_src *src, const char *name, void **out, trit_error *err) {
    trit_backend *be = m->be;
    const int32_t V = m->cfg.vocab_size, D = m->cfg.hidden_size;
    const size_t bytes = trit_i8row_bytes(V, D);
    *out = NULL;
    char *p = be->ops->alloc(be, bytes);
    float *row = malloc((size_t)D * sizeof(float)), *scale = malloc((size_t)V * sizeof(float));
    int8_t *blk = malloc((size_t)HEAD_I8_BLOCK * D);
    uint16_t *h = src->be_bf16 ? malloc((size_t)HEAD_I8_BLOCK * D * sizeof(uint16_t)) : NULL;
    trit_status s = TRIT_OK;
    if (!p || !row || !scale || !blk || (src->be_bf16 && !h))
        s = TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate the %zu-byte int8 LM head from %s", bytes, name);
    for (int32_t r0 = 0; r0 < V && s == TRIT_OK; r0 += HEAD_I8_BLOCK) {
        const int32_t n = V - r0 < HEAD_I8_BLOCK ? V - r0 : HEAD_I8_BLOCK;
        const size_t off = (size_t)r0 * D, len = (size_t)n * D;
        if (h && (s = be->ops->download(be, h, (const uint16_t *)src->be_bf16 + off, len * sizeof(uint16_t), err)))
            break;
        for (int32_t r = 0; r < n; r++) {
            for (int32_t d = 0; d < D; d++) {
                const size_t i = (size_t)r * D + d;
                row[d] = h ? trit_bf16_to_f32(h[i]) : trit_st_read_f32(src->t, (int64_t)(off + i));
            }
            trit_ref_i8row_quantize(row, D, blk + (size_t)r * D, &scale[r0 + r]);
        }
        s = be->ops->upload(be, p + off, blk, len, err);
    }
    if (s == TRIT_OK)
        s = be->ops->upload(be, p + trit_i8row_scale_offset(V, D), scale, (size_t)V * sizeof(float), err);
    free(row), free(scale), free(blk), free(h);
    if (s != TRIT_OK) {
        if (p)
            be->ops->free(be, p);
        return s;
    }
    *out = p;
    return TRIT_OK;
}

/* The int8 LM head from tensor `name` of the file (checked like any table). */
static trit_status load_head_i8(trit_model *m, const trit_st_set *st, const char *name, trit_error *err) {
    head_src src = {0};
    TRIT_TRY(trit_weights_matrix(st, name, m->cfg.vocab_size, m->cfg.hidden_size, &src.t, err));
    TRIT_TRY(build_head_i8(m, &src, name, &m->lm_head, err));
    m->lm_head_dt = TRIT_DT_I8ROW;
    return TRIT_OK;
}

static trit_status load_weights(trit_model *m, const trit_st_set *st, bool head_i8, trit_error *err) {
    const trit_config *c = &m->cfg;
    const int32_t D = c->hidden_size, F = c->intermediate_size, Dq = c->n_heads * c->head_dim;
    const int32_t Dkv = c->n_kv_heads * c->head_dim;
    int32_t maxK = D > F ? D : F;
    maxK = maxK > Dq ? maxK : Dq;
    size_t biggest = (size_t)(Dq + 2 * Dkv) * D;
    if ((size_t)2 * F * D > biggest)
        biggest = (size_t)2 * F * D;
    if ((size_t)D * maxK > biggest)
        biggest = (size_t)D * maxK;
    int8_t *codes = malloc(biggest);
    float *tmp = malloc((size_t)maxK * sizeof(float));
    trit_status st_ = TRIT_OK;
    if (!codes || !tmp) {
        st_ = TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate %zu bytes of weight codes", biggest);
        goto done;
    }
    for (int32_t l = 0; l < c->n_layers && st_ == TRIT_OK; l++) {
        trit_layer *L = &m->layers[l];
        char n[8][160];
        const char *fmt[8] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                              "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", NULL};
        for (int i = 0; fmt[i]; i++)
            snprintf(n[i], sizeof n[i], "model.layers.%d.%s", l, fmt[i]);
        const char *qkv[3] = {n[0], n[1], n[2]}, *o[1] = {n[3]}, *gu[2] = {n[4], n[5]}, *down[1] = {n[6]};
        int32_t r_qkv[3] = {Dq, Dkv, Dkv}, r_o[1] = {D}, r_gu[2] = {F, F}, r_down[1] = {D};
        char v[4][160];
        snprintf(v[0], sizeof v[0], "model.layers.%d.input_layernorm.weight", l);
        snprintf(v[1], sizeof v[1], "model.layers.%d.self_attn.attn_sub_norm.weight", l);
        snprintf(v[2], sizeof v[2], "model.layers.%d.post_attention_layernorm.weight", l);
        snprintf(v[3], sizeof v[3], "model.layers.%d.mlp.ffn_sub_norm.weight", l);
        if ((st_ = load_fused(m, st, &L->qkv, D, 3, qkv, r_qkv, codes, err)) ||
            (st_ = load_fused(m, st, &L->o, Dq, 1, o, r_o, codes, err)) ||
            (st_ = load_fused(m, st, &L->gate_up, D, 2, gu, r_gu, codes, err)) ||
            (st_ = load_fused(m, st, &L->down, F, 1, down, r_down, codes, err)) ||
            (st_ = load_vector(m, st, v[0], D, tmp, &L->attn_norm, err)) ||
            (st_ = load_vector(m, st, v[1], Dq, tmp, &L->attn_sub_norm, err)) ||
            (st_ = load_vector(m, st, v[2], D, tmp, &L->ffn_norm, err)) ||
            (st_ = load_vector(m, st, v[3], F, tmp, &L->ffn_sub_norm, err)))
            break;
    }
    if (st_ == TRIT_OK)
        st_ = load_vector(m, st, "model.norm.weight", D, tmp, &m->final_norm, err);
    if (st_ == TRIT_OK)
        st_ = load_table(m, st, "model.embed_tokens.weight", &m->embed, &m->embed_dt, &m->embed_borrowed, err);
    if (st_ == TRIT_OK) {
        if (c->tie_embeddings || !trit_st_find(st, "lm_head.weight")) {
            if (!c->tie_embeddings) {
                st_ = TRIT_FAIL(err, TRIT_E_FORMAT, "tensor lm_head.weight is missing and tie_word_embeddings is false");
            } else if (head_i8) { // embeddings stay exact: the int8 head is a second table
                st_ = load_head_i8(m, st, "model.embed_tokens.weight", err);
            } else {
                m->lm_head = m->embed;
                m->lm_head_dt = m->embed_dt;
                m->lm_head_borrowed = m->embed_borrowed;
            }
        } else if (head_i8) {
            st_ = load_head_i8(m, st, "lm_head.weight", err);
        } else {
            st_ = load_table(m, st, "lm_head.weight", &m->lm_head, &m->lm_head_dt, &m->lm_head_borrowed, err);
        }
    }
done:
    free(codes);
    free(tmp);
    return st_;
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

trit_status trit_model_load(const char *dir, const trit_model_params *params, trit_model **out, trit_error *err) {
    trit_error local;
    if (!err)
        err = &local;
    *out = NULL;
    struct stat sb;
    if (!dir || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return TRIT_FAIL(err, TRIT_E_IO, "model folder '%s' does not exist or is not a directory", dir ? dir : "");
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    trit_config cfg;
    TRIT_TRY(trit_config_load(path, &cfg, err));
    trit_st_set *st = NULL;
    TRIT_TRY(trit_st_open_dir(dir, &st, err));
    trit_model *m = NULL;
    trit_status s = model_alloc(&cfg, params, &m, err);
    if (s == TRIT_OK)
        s = load_weights(m, st, params && params->lm_head_int8, err);
    if (m && (m->embed_borrowed || m->lm_head_borrowed))
        m->st = st; /* freed with the model */
    else
        trit_st_set_close(st);
    if (s == TRIT_OK) {
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        if (file_exists(path)) {
            s = trit_tokenizer_load_hf(path, &m->tok, err);
            if (s == TRIT_OK && trit_tokenizer_vocab_size(m->tok) > cfg.vocab_size)
                s = TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tokenizer has %d tokens but the model's vocab_size is %d", path,
                              trit_tokenizer_vocab_size(m->tok), cfg.vocab_size);
        }
    }
    if (s == TRIT_OK) {
        m->dir = strdup(dir);
        if (!m->dir)
            s = TRIT_FAIL(err, TRIT_E_NOMEM, "out of memory");
    }
    if (s != TRIT_OK) {
        trit_model_free(m);
        return s;
    }
    *out = m;
    return TRIT_OK;
}

/* ------------------------------------------------------------------------------------------------ random */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float rand_unit(uint64_t *x) { return (float)(splitmix64(x) >> 40) / (float)(1 << 24); }

static trit_status random_tmat(trit_model *m, trit_tmat *w, int32_t K, int n, const int32_t *rows, int8_t *codes,
                               uint64_t *rng, trit_error *err) {
    float g[TRIT_TMAT_MAX_SEG];
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        g[i] = 0.5f + 1.5f * rand_unit(rng);
        total += (size_t)rows[i] * K;
    }
    for (size_t i = 0; i < total; i++)
        codes[i] = (int8_t)(splitmix64(rng) % 3) - 1;
    tmat_shape(w, K, n, rows, g);
    return m->be->ops->tmat_pack(m->be, w, codes, err);
}

static trit_status random_vector(trit_model *m, int32_t n, float *tmp, uint64_t *rng, float **out, trit_error *err) {
    for (int32_t i = 0; i < n; i++)
        tmp[i] = 0.9f + 0.2f * rand_unit(rng);
    *out = upload_f32(m->be, tmp, (size_t)n, err);
    return *out ? TRIT_OK : err->status;
}

trit_status trit_model_random(const trit_config *cfg, uint64_t seed, const trit_model_params *params,
                              trit_model **out, trit_error *err) {
    trit_error local;
    if (!err)
        err = &local;
    *out = NULL;
    trit_model *m = NULL;
    TRIT_TRY(model_alloc(cfg, params, &m, err));
    const trit_config *c = &m->cfg;
    const int32_t D = c->hidden_size, F = c->intermediate_size, Dq = c->n_heads * c->head_dim;
    const int32_t Dkv = c->n_kv_heads * c->head_dim;
    uint64_t rng = seed;
    size_t biggest = (size_t)(Dq + 2 * Dkv) * D;
    if ((size_t)2 * F * D > biggest)
        biggest = (size_t)2 * F * D;
    if ((size_t)Dq * D > biggest)
        biggest = (size_t)Dq * D;
    int32_t maxK = D > F ? D : F;
    maxK = maxK > Dq ? maxK : Dq;
    int8_t *codes = malloc(biggest);
    float *tmp = malloc((size_t)maxK * sizeof(float));
    trit_status s = (codes && tmp) ? TRIT_OK : TRIT_FAIL(err, TRIT_E_NOMEM, "out of memory");
    for (int32_t l = 0; l < c->n_layers && s == TRIT_OK; l++) {
        trit_layer *L = &m->layers[l];
        int32_t r_qkv[3] = {Dq, Dkv, Dkv}, r_o[1] = {D}, r_gu[2] = {F, F}, r_down[1] = {D};
        if ((s = random_tmat(m, &L->qkv, D, 3, r_qkv, codes, &rng, err)) ||
            (s = random_tmat(m, &L->o, Dq, 1, r_o, codes, &rng, err)) ||
            (s = random_tmat(m, &L->gate_up, D, 2, r_gu, codes, &rng, err)) ||
            (s = random_tmat(m, &L->down, F, 1, r_down, codes, &rng, err)) ||
            (s = random_vector(m, D, tmp, &rng, &L->attn_norm, err)) ||
            (s = random_vector(m, Dq, tmp, &rng, &L->attn_sub_norm, err)) ||
            (s = random_vector(m, D, tmp, &rng, &L->ffn_norm, err)) ||
            (s = random_vector(m, F, tmp, &rng, &L->ffn_sub_norm, err)))
            break;
    }
    if (s == TRIT_OK)
        s = random_vector(m, D, tmp, &rng, &m->final_norm, err);
    if (s == TRIT_OK) {
        /* bf16 embedding, approximately N(0,1) by summing uniforms (Irwin–Hall) */
        size_t n = (size_t)c->vocab_size * D;
        uint16_t *e = malloc(n * sizeof(uint16_t));
        void *p = e ? m->be->ops->alloc(m->be, n * sizeof(uint16_t)) : NULL;
        if (!e || !p) {
            s = TRIT_FAIL(err, TRIT_E_NOMEM, "cannot allocate the %zu-element embedding", n);
        } else {
            for (size_t i = 0; i < n; i++) {
                uint64_t r = splitmix64(&rng);
                float u = (float)(r & 0xffff) + (float)((r >> 16) & 0xffff) + (float)((r >> 32) & 0xffff) +
                          (float)((r >> 48) & 0xffff);
                e[i] = trit_f32_to_bf16((u / 65536.0f - 2.0f) * 1.7320508f);
            }
            s = m->be->ops->upload(m->be, p, e, n * sizeof(uint16_t), err);
            m->embed = p;
            m->embed_dt = TRIT_DT_BF16;
            m->lm_head = p;
            m->lm_head_dt = TRIT_DT_BF16;
            m->cfg.tie_embeddings = true;
        }
        free(e);
        if (s == TRIT_OK && params && params->lm_head_int8) { // from the uploaded table, after the host copy is gone
            head_src src = {.be_bf16 = p};
            void *head = NULL;
            s = build_head_i8(m, &src, "the random embedding", &head, err);
            if (s == TRIT_OK) {
                m->lm_head = head;
                m->lm_head_dt = TRIT_DT_I8ROW;
            }
        }
    }
    free(codes);
    free(tmp);
    if (s != TRIT_OK) {
        trit_model_free(m);
        return s;
    }
    *out = m;
    return TRIT_OK;
}
