/* config.c — config.json of a Hugging Face BitNet model folder → trit_config (see config.h).
 * Defaults are those of transformers' BitNetConfig unless noted; a JSON null counts as absent (transformers writes
 * nulls for unset optional keys). Limits below keep every size product the engine forms (hidden × vocab,
 * hidden × intermediate, layers × positions × kv width) far from int64 overflow. Not a writer. */
#include "formats/config.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define CFG_MAX_FILE (16 << 20)        /* a config.json is a few KB */
#define CFG_MAX_DIM (1 << 20)          /* hidden / intermediate / head_dim upper bound */
#define CFG_MAX_COUNT 1024             /* layers, heads */
#define CFG_MAX_VOCAB (1 << 24)
#define CFG_MAX_POS (1 << 24)
#define CFG_MAX_PRODUCT ((int64_t)1 << 40) /* hidden × vocab, hidden × intermediate */

// --- typed getters: each names the key and the file on failure

/* Optional integer key in [lo, hi]; absent/null → def. */
static trit_status get_int(const json_t *o, const char *key, const char *label, int required, int64_t def,
                           int64_t lo, int64_t hi, int32_t *out, trit_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: required key \"%s\" is missing", label, key);
        *out = (int32_t)def;
        return TRIT_OK;
    }
    if (!json_is_integer(v))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" must be an integer", label, key);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" = %lld is outside [%lld, %lld]", label, key,
                         (long long)x, (long long)lo, (long long)hi);
    *out = (int32_t)x;
    return TRIT_OK;
}

/* Optional number (integer or real) that must be finite and > 0. */
static trit_status get_pos_float(const json_t *o, const char *key, const char *label, double def, float *out,
                                 trit_error *err) {
    const json_t *v = json_object_get(o, key);
    double x = def;
    if (v && !json_is_null(v)) {
        if (!json_is_number(v))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" must be a number", label, key);
        x = json_number_value(v);
    }
    /* x <= FLT_MAX keeps the cast defined (and rejects NaN); the cast result must stay > 0 (1e-50 underflows) */
    if (!(x > 0) || !(x <= FLT_MAX) || !((float)x > 0))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" = %g must be a number > 0 that a float holds", label,
                         key, x);
    *out = (float)x;
    return TRIT_OK;
}

static trit_status get_bool(const json_t *o, const char *key, const char *label, bool def, bool *out,
                            trit_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return TRIT_OK;
    }
    if (!json_is_boolean(v))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" must be true or false", label, key);
    *out = json_is_true(v);
    return TRIT_OK;
}

/* Optional string; absent/null → def (may be NULL). */
static trit_status get_str(const json_t *o, const char *key, const char *label, const char *def, const char **out,
                           trit_error *err) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return TRIT_OK;
    }
    if (!json_is_string(v))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" must be a string", label, key);
    *out = json_string_value(v);
    return TRIT_OK;
}

/* bos_token_id / eos_token_id: an integer, a list of integers (the first is taken), or absent/null → -1. */
static trit_status get_token_id(const json_t *o, const char *key, const char *label, int32_t vocab, int32_t *out,
                                trit_error *err) {
    const json_t *v = json_object_get(o, key);
    *out = -1;
    if (!v || json_is_null(v))
        return TRIT_OK;
    if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            return TRIT_OK;
        v = json_array_get(v, 0);
    }
    if (!json_is_integer(v))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" must be an integer or a list of integers", label, key);
    json_int_t x = json_integer_value(v);
    if (x < 0 || x >= vocab)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"%s\" = %lld is not a token id of the %d-entry vocabulary",
                         label, key, (long long)x, vocab);
    *out = (int32_t)x;
    return TRIT_OK;
}

// --- model type and quantization

/* true when architectures (a list of strings) contains `name` */
static bool has_arch(const json_t *o, const char *name) {
    const json_t *a = json_object_get(o, "architectures");
    for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++) {
        const json_t *s = json_array_get(a, i);
        if (json_is_string(s) && strcmp(json_string_value(s), name) == 0)
            return true;
    }
    return false;
}

static trit_status parse_quant(const json_t *o, const char *label, trit_config *cfg, trit_error *err) {
    const json_t *q = json_object_get(o, "quantization_config");
    cfg->scale_dir = TRIT_SCALE_MULTIPLY;
    cfg->offline_quant = false; /* no quantization_config: float masters, ternarized at load */
    if (!q || json_is_null(q))
        return TRIT_OK;
    if (!json_is_object(q))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"quantization_config\" must be an object", label);
    const char *method = NULL, *cls = NULL, *mode = NULL;
    TRIT_TRY(get_str(q, "quant_method", label, "bitnet", &method, err));
    TRIT_TRY(get_str(q, "linear_class", label, "autobitlinear", &cls, err));
    TRIT_TRY(get_str(q, "quantization_mode", label, "offline", &mode, err));
    if (strcmp(method, "bitnet") != 0)
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "%s: quantization_config.quant_method \"%.64s\" is not supported "
                         "(only \"bitnet\")", label, method);
    if (strcmp(cls, "autobitlinear") == 0)
        cfg->scale_dir = TRIT_SCALE_MULTIPLY;
    else if (strcmp(cls, "bitlinear") == 0)
        cfg->scale_dir = TRIT_SCALE_DIVIDE;
    else
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "%s: quantization_config.linear_class \"%.64s\" is not supported "
                         "(\"autobitlinear\" or \"bitlinear\")", label, cls);
    if (strcmp(mode, "offline") == 0)
        cfg->offline_quant = true;
    else if (strcmp(mode, "online") == 0)
        cfg->offline_quant = false;
    else
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "%s: quantization_config.quantization_mode \"%.64s\" is not "
                         "supported (\"offline\" or \"online\")", label, mode);
    return TRIT_OK;
}

// --- parse

static trit_status parse_obj(const json_t *o, const char *label, trit_config *cfg, trit_error *err) {
    memset(cfg, 0, sizeof *cfg);
    const char *model_type = NULL;
    TRIT_TRY(get_str(o, "model_type", label, NULL, &model_type, err));
    if (!model_type)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: required key \"model_type\" is missing", label);
    bool llama_style = false;
    if (strcmp(model_type, "bitnet") == 0) {
        llama_style = false;
    } else if (strcmp(model_type, "llama") == 0 && has_arch(o, "BitnetForCausalLM")) {
        llama_style = true; /* 1bitLLM community models: llama config, BitNet linears */
    } else {
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "%s: model_type \"%.64s\" is not supported (\"bitnet\", or "
                         "\"llama\" with architectures [\"BitnetForCausalLM\"])", label, model_type);
    }

    TRIT_TRY(get_int(o, "hidden_size", label, 1, 0, 1, CFG_MAX_DIM, &cfg->hidden_size, err));
    TRIT_TRY(get_int(o, "intermediate_size", label, 1, 0, 1, CFG_MAX_DIM, &cfg->intermediate_size, err));
    TRIT_TRY(get_int(o, "num_hidden_layers", label, 1, 0, 1, CFG_MAX_COUNT, &cfg->n_layers, err));
    TRIT_TRY(get_int(o, "num_attention_heads", label, 1, 0, 1, CFG_MAX_COUNT, &cfg->n_heads, err));
    TRIT_TRY(get_int(o, "num_key_value_heads", label, 0, cfg->n_heads, 1, CFG_MAX_COUNT, &cfg->n_kv_heads, err));
    TRIT_TRY(get_int(o, "vocab_size", label, 1, 0, 1, CFG_MAX_VOCAB, &cfg->vocab_size, err));
    TRIT_TRY(get_int(o, "max_position_embeddings", label, 0, 2048, 1, CFG_MAX_POS, &cfg->max_positions, err));

    const json_t *hd = json_object_get(o, "head_dim");
    if (!hd || json_is_null(hd)) {
        if (cfg->hidden_size % cfg->n_heads != 0)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"hidden_size\" = %d is not divisible by "
                             "\"num_attention_heads\" = %d (and there is no \"head_dim\")", label, cfg->hidden_size,
                             cfg->n_heads);
        cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    } else {
        TRIT_TRY(get_int(o, "head_dim", label, 1, 0, 1, CFG_MAX_DIM, &cfg->head_dim, err));
    }
    if (cfg->head_dim % 2 != 0)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"head_dim\" = %d is odd (RoPE rotates pairs)", label,
                         cfg->head_dim);
    if ((int64_t)cfg->n_heads * cfg->head_dim > CFG_MAX_DIM)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"head_dim\": num_attention_heads × head_dim = %lld is too "
                         "large", label, (long long)cfg->n_heads * cfg->head_dim);
    if (cfg->n_heads % cfg->n_kv_heads != 0)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"num_key_value_heads\" = %d does not divide "
                         "\"num_attention_heads\" = %d", label, cfg->n_kv_heads, cfg->n_heads);
    if ((int64_t)cfg->hidden_size * cfg->vocab_size > CFG_MAX_PRODUCT)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"vocab_size\": hidden_size × vocab_size = %lld is too large",
                         label, (long long)cfg->hidden_size * cfg->vocab_size);
    if ((int64_t)cfg->hidden_size * cfg->intermediate_size > CFG_MAX_PRODUCT)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: key \"intermediate_size\": hidden_size × intermediate_size = "
                         "%lld is too large", label, (long long)cfg->hidden_size * cfg->intermediate_size);

    TRIT_TRY(get_pos_float(o, "rope_theta", label, llama_style ? 10000.0 : 500000.0, &cfg->rope_theta, err));
    TRIT_TRY(get_pos_float(o, "rms_norm_eps", label, 1e-5, &cfg->rms_eps, err));
    TRIT_TRY(get_bool(o, "tie_word_embeddings", label, false, &cfg->tie_embeddings, err));

    const char *act = NULL;
    /* BitNetConfig defaults to relu2; a llama-style config (LlamaConfig) defaults to silu */
    TRIT_TRY(get_str(o, "hidden_act", label, llama_style ? "silu" : "relu2", &act, err));
    if (strcmp(act, "relu2") == 0)
        cfg->act = TRIT_ACT_RELU2;
    else if (strcmp(act, "silu") == 0)
        cfg->act = TRIT_ACT_SILU;
    else
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "%s: hidden_act \"%.64s\" is not supported (\"relu2\" or "
                         "\"silu\")", label, act);

    TRIT_TRY(parse_quant(o, label, cfg, err));
    TRIT_TRY(get_token_id(o, "bos_token_id", label, cfg->vocab_size, &cfg->bos_id, err));
    TRIT_TRY(get_token_id(o, "eos_token_id", label, cfg->vocab_size, &cfg->eos_id, err));
    return TRIT_OK;
}

trit_status trit_config_parse(const char *json, size_t len, const char *label, trit_config *cfg, trit_error *err) {
    if (!label)
        label = "config.json";
    if (!json || !cfg)
        return TRIT_FAIL(err, TRIT_E_ARG, "%s: NULL argument", label);
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: invalid JSON at line %d column %d: %s", label, jerr.line,
                         jerr.column, jerr.text);
    trit_status st;
    if (!json_is_object(root))
        st = TRIT_FAIL(err, TRIT_E_FORMAT, "%s: top level is not a JSON object", label);
    else
        st = parse_obj(root, label, cfg, err);
    json_decref(root);
    return st;
}

trit_status trit_config_load(const char *path, trit_config *cfg, trit_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return TRIT_FAIL(err, TRIT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(CFG_MAX_FILE + 1);
    if (!buf) {
        fclose(fp);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, CFG_MAX_FILE + 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    trit_status st;
    if (bad)
        st = TRIT_FAIL(err, TRIT_E_IO, "%s: read error", path);
    else if (n > CFG_MAX_FILE)
        st = TRIT_FAIL(err, TRIT_E_FORMAT, "%s: larger than %d bytes; not a config.json", path, CFG_MAX_FILE);
    else
        st = trit_config_parse(buf, n, path, cfg, err);
    free(buf);
    return st;
}
