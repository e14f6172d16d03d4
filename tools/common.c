/* common.c — see common.h. */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const TOOL_OPTS_HELP =
    "  -m, --model DIR      model folder (config.json, *.safetensors, tokenizer.json); default " TRIT_DEFAULT_MODEL "\n"
    "      --backend NAME   auto (default), ref, cpu or cuda (env TRIT_BACKEND also picks it)\n"
    "  -t, --threads N      CPU threads (default: all cores)\n"
    "      --ctx N          context length in tokens (default: the model's max_position_embeddings)\n"
    "  -b, --batch N        most tokens per forward call (default 512)\n"
    "      --lm-head-int8   LM head in int8 with a scale per row (half the bytes of bf16, slightly different logits)\n";

void tool_opts_init(tool_opts *o) {
    const char *env = getenv("TRIT_MODEL");
    o->model = env && *env ? env : TRIT_DEFAULT_MODEL;
    o->backend = NULL;
    o->threads = 0;
    o->n_ctx = 0;
    o->n_batch = 0;
    o->lm_head_int8 = false;
}

int arg_str(int argc, char **argv, int *i, const char **out) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "trit: option %s needs a value\n", argv[*i]);
        return -1;
    }
    *out = argv[++*i];
    return 1;
}

int arg_int(int argc, char **argv, int *i, int *out) {
    const char *s;
    if (arg_str(argc, argv, i, &s) < 0)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) {
        fprintf(stderr, "trit: option %s: '%s' is not an integer\n", argv[*i - 1], s);
        return -1;
    }
    *out = (int)v;
    return 1;
}

int arg_u64(int argc, char **argv, int *i, uint64_t *out) {
    const char *s;
    if (arg_str(argc, argv, i, &s) < 0)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-') {
        fprintf(stderr, "trit: option %s: '%s' is not a non-negative integer\n", argv[*i - 1], s);
        return -1;
    }
    *out = v;
    return 1;
}

int arg_float(int argc, char **argv, int *i, float *out) {
    const char *s;
    if (arg_str(argc, argv, i, &s) < 0)
        return -1;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v) {
        fprintf(stderr, "trit: option %s: '%s' is not a number\n", argv[*i - 1], s);
        return -1;
    }
    *out = v;
    return 1;
}

int tool_opts_parse(tool_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "-m") || !strcmp(a, "--model"))
        return arg_str(argc, argv, i, &o->model);
    if (!strcmp(a, "--backend"))
        return arg_str(argc, argv, i, &o->backend);
    if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        if (arg_int(argc, argv, i, &o->threads) < 0 || o->threads < 0)
            return -1;
        return 1;
    }
    if (!strcmp(a, "--ctx")) {
        if (arg_int(argc, argv, i, &o->n_ctx) < 0 || o->n_ctx < 0)
            return -1;
        return 1;
    }
    if (!strcmp(a, "--lm-head-int8")) {
        o->lm_head_int8 = true;
        return 1;
    }
    if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
        if (arg_int(argc, argv, i, &o->n_batch) < 0 || o->n_batch < 0)
            return -1;
        return 1;
    }
    return 0;
}

int tool_fail(const char *what, const trit_error *err) {
    fprintf(stderr, "trit: %s: %s\n", what, err->msg[0] ? err->msg : trit_status_name(err->status));
    if (getenv("TRIT_DEBUG") && err->where[0])
        fprintf(stderr, "  (at %s)\n", err->where);
    return 1;
}

double tool_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

trit_model_params tool_model_params(const tool_opts *o) {
    trit_model_params mp = trit_model_default_params();
    mp.backend = o->backend;
    mp.n_threads = o->threads;
    mp.lm_head_int8 = o->lm_head_int8;
    return mp;
}

int tool_load(const tool_opts *o, int n_seq, trit_model **m, trit_ctx **ctx, double *load_s) {
    trit_error err = {0};
    double t0 = tool_now();
    trit_model_params mp = tool_model_params(o);
    if (trit_model_load(o->model, &mp, m, &err) != TRIT_OK)
        return tool_fail("cannot load the model", &err);
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_seq = n_seq;
    cp.n_batch = o->n_batch;
    const trit_config *cfg = trit_model_get_config(*m);
    if (cp.n_ctx > cfg->max_positions) {
        fprintf(stderr, "trit: --ctx %d is larger than the model's max_position_embeddings (%d)\n", cp.n_ctx,
                cfg->max_positions);
        trit_model_free(*m);
        *m = NULL;
        return 1;
    }
    if (trit_ctx_new(*m, &cp, ctx, &err) != TRIT_OK) {
        trit_model_free(*m);
        *m = NULL;
        return tool_fail("cannot create the context", &err);
    }
    if (load_s)
        *load_s = tool_now() - t0;
    return 0;
}

char *tool_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "trit: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (!buf || ferror(f)) {
        fprintf(stderr, "trit: cannot read '%s'\n", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}
