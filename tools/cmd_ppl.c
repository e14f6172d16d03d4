/* cmd_ppl.c — `trit ppl`: perplexity over a text file, and KL divergence against a saved run.
 *
 * Chunking (default, as llama.cpp's llama-perplexity): the whole file is tokenized once with BOS; it is cut
 * into non-overlapping windows of --ctx tokens (n_chunks = n_tokens / ctx, the tail is dropped); the first
 * token of each window is replaced by BOS; each window is evaluated from an empty cache and only its second
 * half is scored: the logits at window positions j in [ctx/2, ctx-1) predict token j+1.
 * Strided (--stride S, as transformers' perplexity guide): windows of --ctx tokens start every S tokens; each
 * scores only the tokens no earlier window scored (the first token of the file is never a target).
 * PPL = exp(mean NLL); its ± is ppl * sqrt(var(NLL) / (N-1)), as llama.cpp prints it.
 *
 * --save-logits FILE writes the tokens and, for every scored token, its full log-softmax (f32, exact: a
 * vocab of 128256 costs 512 KB per scored token); --kl-base FILE re-runs the same tokens and windows and
 * compares: mean/max KL(base || this run), top-1 agreement, both perplexities. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common.h"

#define KL_MAGIC 0x4c4b5254u /* "TRKL" */
#define KL_VERSION 1

typedef struct kl_header {
    uint32_t magic, version;
    int32_t n_vocab, ctx, stride, n_tokens, n_chunks, reserved;
} kl_header;

typedef struct ppl_acc {
    double nll, nll2;
    long count;
    /* KL statistics (when a base is given) */
    double kl, kl2, kl_max;
    long same_top1;
    double base_nll;
    float *kl_values;
    long kl_n, kl_cap;
} ppl_acc;

static void ppl_help(void) {
    printf("usage: trit ppl [-m DIR] -f FILE [--ctx N] [--stride S] [--chunks N] [--save-logits OUT]\n"
           "                [--kl-base BASE] [--json]\n\n"
           "Perplexity of the model over a text file, chunked like llama.cpp's llama-perplexity (windows of --ctx\n"
           "tokens, first token replaced by BOS, second half of each window scored), or with --stride S like\n"
           "transformers' strided evaluation. Prints a progress bar with the running value, then PPL ± error.\n\n"
           "  -f, --file FILE        the text\n"
           "      --ctx N            window length in tokens (default 512)\n"
           "      --stride S         transformers-style strided windows every S tokens instead\n"
           "      --chunks N         evaluate at most N windows\n"
           "      --save-logits OUT  save tokens and log-probabilities of every scored token (for --kl-base)\n"
           "      --kl-base BASE     compare with a run saved by --save-logits (same tokens; -f not needed)\n"
           "      --json             print the result as one JSON line on stdout\n"
           "  -m, --model DIR        model folder (default " TRIT_DEFAULT_MODEL ")\n"
           "      --backend NAME     auto, ref, cpu or cuda\n"
           "  -t, --threads N        CPU threads\n"
           "  -b, --batch N          most tokens per forward call (default: the window)\n"
           "      --lm-head-int8     LM head in int8 with a scale per row (compare with --kl-base)\n");
}

/* log-softmax of logits[V] into lp[V]; returns nothing, exact in double for the normaliser. */
static void log_softmax(const float *logits, int32_t V, float *lp) {
    float mx = logits[0];
    for (int32_t v = 1; v < V; v++)
        mx = logits[v] > mx ? logits[v] : mx;
    double sum = 0;
    for (int32_t v = 0; v < V; v++)
        sum += exp((double)logits[v] - mx);
    double lse = mx + log(sum);
    for (int32_t v = 0; v < V; v++)
        lp[v] = (float)((double)logits[v] - lse);
}

static int argmax(const float *x, int32_t n) {
    int best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = (int)i;
    return best;
}

static void progress(int done, int total, const ppl_acc *a, bool tty) {
    double ppl = a->count ? exp(a->nll / a->count) : 0;
    if (tty) {
        int w = 30, fill = total ? done * w / total : w;
        fprintf(stderr, "\r[");
        for (int i = 0; i < w; i++)
            fputc(i < fill ? '#' : '.', stderr);
        fprintf(stderr, "] %d/%d  ppl %.4f", done, total, ppl);
        if (done == total)
            fputc('\n', stderr);
    } else {
        fprintf(stderr, "[%d/%d] ppl %.4f\n", done, total, ppl);
    }
    fflush(stderr);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Scores one target: logits of the position before it. Writes/reads the saved log-probs. */
static int score(ppl_acc *a, const float *logits, int32_t V, int32_t target, float *lp, FILE *save, FILE *base,
                 float *lp_base) {
    log_softmax(logits, V, lp);
    double nll = -(double)lp[target];
    a->nll += nll;
    a->nll2 += nll * nll;
    a->count++;
    if (save && fwrite(lp, sizeof(float), (size_t)V, save) != (size_t)V) {
        fprintf(stderr, "trit ppl: cannot write the saved log-probabilities\n");
        return -1;
    }
    if (base) {
        if (fread(lp_base, sizeof(float), (size_t)V, base) != (size_t)V) {
            fprintf(stderr, "trit ppl: the --kl-base file is truncated\n");
            return -1;
        }
        double kl = 0;
        for (int32_t v = 0; v < V; v++) {
            if (!isfinite(lp_base[v]) && lp_base[v] > 0) {
                fprintf(stderr, "trit ppl: the --kl-base file holds invalid log-probabilities\n");
                return -1;
            }
            double pb = exp((double)lp_base[v]);
            if (pb > 0)
                kl += pb * ((double)lp_base[v] - (double)lp[v]);
        }
        a->kl += kl;
        a->kl2 += kl * kl;
        if (kl > a->kl_max)
            a->kl_max = kl;
        a->same_top1 += argmax(lp_base, V) == argmax(lp, V);
        a->base_nll += -(double)lp_base[target];
        if (a->kl_n == a->kl_cap) {
            long nc = a->kl_cap ? a->kl_cap * 2 : 1024;
            float *nv = realloc(a->kl_values, (size_t)nc * sizeof(float));
            if (!nv)
                return -1;
            a->kl_values = nv;
            a->kl_cap = nc;
        }
        a->kl_values[a->kl_n++] = (float)kl;
    }
    return 0;
}

int cmd_ppl(int argc, char **argv) {
    tool_opts o;
    tool_opts_init(&o);
    const char *file = NULL, *save_path = NULL, *base_path = NULL;
    int ctx_len = 512, stride = 0, max_chunks = -1;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--ctx")) {
            if (arg_int(argc, argv, &i, &ctx_len) < 0)
                return 2;
            continue;
        }
        int r = tool_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            ppl_help();
            return 0;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (arg_str(argc, argv, &i, &file) < 0)
                return 2;
        } else if (!strcmp(a, "--stride")) {
            if (arg_int(argc, argv, &i, &stride) < 0)
                return 2;
        } else if (!strcmp(a, "--chunks")) {
            if (arg_int(argc, argv, &i, &max_chunks) < 0)
                return 2;
        } else if (!strcmp(a, "--save-logits")) {
            if (arg_str(argc, argv, &i, &save_path) < 0)
                return 2;
        } else if (!strcmp(a, "--kl-base")) {
            if (arg_str(argc, argv, &i, &base_path) < 0)
                return 2;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            fprintf(stderr, "trit ppl: unknown option '%s' (see trit ppl --help)\n", a);
            return 2;
        }
    }
    if (ctx_len < 4) {
        fprintf(stderr, "trit ppl: --ctx must be at least 4\n");
        return 2;
    }
    if (stride < 0 || stride > ctx_len) {
        fprintf(stderr, "trit ppl: --stride must be in [1, ctx]\n");
        return 2;
    }
    if (!file && !base_path) {
        fprintf(stderr, "trit ppl: give the text with -f FILE (see trit ppl --help)\n");
        return 2;
    }
    o.n_ctx = ctx_len;
    if (o.n_batch == 0 || o.n_batch > ctx_len)
        o.n_batch = ctx_len;

    int rc = 0;
    trit_model *m = NULL;
    trit_ctx *c = NULL;
    int32_t *tokens = NULL;
    char *text = NULL;
    FILE *save = NULL, *base = NULL;
    float *lp = NULL, *lp_base = NULL;
    uint8_t *want = NULL;
    ppl_acc acc = {0};
    kl_header bh = {0};
    if (base_path) {
        base = fopen(base_path, "rb");
        if (!base || fread(&bh, sizeof bh, 1, base) != 1 || bh.magic != KL_MAGIC || bh.version != KL_VERSION ||
            bh.n_tokens <= 0 || bh.n_vocab <= 0 || bh.ctx < 4) {
            fprintf(stderr, "trit ppl: '%s' is not a log-probability file written by trit ppl --save-logits\n",
                    base_path);
            rc = 1;
            goto out;
        }
        ctx_len = bh.ctx;
        stride = bh.stride;
        o.n_ctx = ctx_len;
        if (o.n_batch == 0 || o.n_batch > ctx_len)
            o.n_batch = ctx_len;
    }
    if ((rc = tool_load(&o, 1, &m, &c, NULL)))
        goto out;
    const trit_config *cfg = trit_model_get_config(m);
    const int32_t V = cfg->vocab_size;
    trit_tokenizer *tok = trit_model_tokenizer(m);
    trit_error err = {0};
    size_t n_tok = 0;
    if (base) {
        if (bh.n_vocab != V) {
            fprintf(stderr, "trit ppl: the base run has a vocabulary of %d, this model %d\n", bh.n_vocab, V);
            rc = 1;
            goto out;
        }
        n_tok = (size_t)bh.n_tokens;
        tokens = malloc(n_tok * sizeof *tokens);
        if (!tokens || fread(tokens, sizeof *tokens, n_tok, base) != n_tok) {
            fprintf(stderr, "trit ppl: the --kl-base file is truncated\n");
            rc = 1;
            goto out;
        }
        for (size_t i = 0; i < n_tok; i++)
            if (tokens[i] < 0 || tokens[i] >= V) {
                fprintf(stderr, "trit ppl: the --kl-base file holds a token id out of range\n");
                rc = 1;
                goto out;
            }
    } else {
        if (!tok) {
            fprintf(stderr, "trit ppl: the model folder has no tokenizer.json\n");
            rc = 1;
            goto out;
        }
        size_t len;
        if (!(text = tool_read_file(file, &len))) {
            rc = 1;
            goto out;
        }
        tokens = malloc((len + 2) * sizeof *tokens);
        if (!tokens || trit_tokenize(tok, text, len, TRIT_TOK_ADD_BOS, tokens, len + 2, &n_tok, &err) != TRIT_OK) {
            rc = tool_fail("cannot tokenize the text", &err);
            goto out;
        }
    }
    int32_t bos = tok ? trit_tokenizer_bos(tok) : cfg->bos_id;

    /* windows: [begin, begin+len) with scored window positions [s0, s1) (logit j predicts token begin+j+1) */
    int n_windows;
    if (stride == 0) {
        n_windows = (int)(n_tok / (size_t)ctx_len);
        if (n_tok < 2 * (size_t)ctx_len) {
            fprintf(stderr, "trit ppl: the text has %zu tokens; a context of %d needs at least %d (2 x ctx)\n", n_tok,
                    ctx_len, 2 * ctx_len);
            rc = 1;
            goto out;
        }
    } else {
        n_windows = 0;
        for (size_t b0 = 0, prev_end = 0; prev_end < n_tok; b0 += (size_t)stride) {
            size_t end = b0 + (size_t)ctx_len < n_tok ? b0 + (size_t)ctx_len : n_tok;
            n_windows++;
            prev_end = end;
        }
    }
    if (base)
        n_windows = bh.n_chunks; /* the windows of the base run, in its order */
    if (max_chunks >= 0 && max_chunks < n_windows)
        n_windows = max_chunks;
    if (save_path) {
        save = fopen(save_path, "wb");
        kl_header h = {KL_MAGIC, KL_VERSION, V, ctx_len, stride, (int32_t)n_tok, n_windows, 0};
        if (!save || fwrite(&h, sizeof h, 1, save) != 1 || fwrite(tokens, sizeof *tokens, n_tok, save) != n_tok) {
            fprintf(stderr, "trit ppl: cannot write '%s'\n", save_path);
            rc = 1;
            goto out;
        }
    }
    lp = malloc((size_t)V * sizeof *lp);
    lp_base = malloc((size_t)V * sizeof *lp_base);
    want = malloc((size_t)ctx_len);
    if (!lp || !lp_base || !want) {
        fprintf(stderr, "trit ppl: out of memory\n");
        rc = 1;
        goto out;
    }
    bool tty = isatty(2);
    double t0 = tool_now();
    size_t prev_end = 0;
    for (int w = 0; w < n_windows; w++) {
        size_t begin, len;
        int32_t s0, s1;
        if (stride == 0) {
            begin = (size_t)w * ctx_len;
            len = (size_t)ctx_len;
            s0 = ctx_len / 2;
            s1 = ctx_len - 1;
        } else {
            begin = (size_t)w * stride;
            size_t end = begin + (size_t)ctx_len < n_tok ? begin + (size_t)ctx_len : n_tok;
            len = end - begin;
            /* targets are absolute indices [max(prev_end, begin+1), end); logit index = target - 1 - begin */
            size_t first_target = prev_end > begin + 1 ? prev_end : begin + 1;
            s0 = (int32_t)(first_target - 1 - begin);
            s1 = (int32_t)(len - 1);
            prev_end = end;
        }
        int32_t first_tok = tokens[begin];
        if (stride == 0 && bos >= 0)
            tokens[begin] = bos; /* llama.cpp: each window starts with BOS */
        memset(want, 0, len);
        for (int32_t j = s0; j < s1; j++)
            want[j] = 1;
        trit_ctx_seq_clear(c, 0);
        trit_batch b = {.n_tokens = (int32_t)len, .tokens = tokens + begin, .want_logits = want};
        trit_status st = trit_ctx_decode(c, &b, &err);
        tokens[begin] = first_tok;
        if (st != TRIT_OK) {
            rc = tool_fail("evaluation failed", &err);
            goto out;
        }
        for (int32_t j = s0; j < s1; j++)
            if (score(&acc, trit_ctx_logits(c, j), V, tokens[begin + (size_t)j + 1], lp, save, base, lp_base)) {
                rc = 1;
                goto out;
            }
        progress(w + 1, n_windows, &acc, tty);
    }
    double secs = tool_now() - t0;
    if (acc.count < 2) {
        fprintf(stderr, "trit ppl: too few tokens were scored\n");
        rc = 1;
        goto out;
    }
    double mean = acc.nll / acc.count, var = acc.nll2 / acc.count - mean * mean;
    double ppl = exp(mean), ppl_err = var > 0 ? ppl * sqrt(var / (acc.count - 1)) : 0;
    fprintf(stderr, "[trit ppl] %d windows of %d tokens%s, %ld scored tokens, %.1f tokens/s, backend %s\n",
            n_windows, ctx_len, stride ? " (strided)" : "", acc.count,
            (double)n_windows * ctx_len / (secs > 0 ? secs : 1), trit_model_backend_name(m));
    printf("PPL = %.4f +/- %.4f\n", ppl, ppl_err);
    double kl_mean = 0, kl_err = 0, kl_p99 = 0, top1 = 0, base_ppl = 0;
    if (base) {
        kl_mean = acc.kl / acc.count;
        double kv = acc.kl2 / acc.count - kl_mean * kl_mean;
        kl_err = kv > 0 ? sqrt(kv / (acc.count - 1)) : 0;
        qsort(acc.kl_values, (size_t)acc.kl_n, sizeof(float), cmp_float);
        kl_p99 = acc.kl_values[(size_t)((acc.kl_n - 1) * 0.99)];
        top1 = 100.0 * acc.same_top1 / acc.count;
        base_ppl = exp(acc.base_nll / acc.count);
        printf("base PPL = %.4f\nKL divergence: mean %.6g +/- %.6g, max %.6g, 99%% %.6g\ntop-1 agreement: %.3f%%\n",
               base_ppl, kl_mean, kl_err, acc.kl_max, kl_p99, top1);
    }
    if (json) {
        printf("{\"ppl\": %.6f, \"ppl_err\": %.6f, \"n_scored\": %ld, \"ctx\": %d, \"stride\": %d, \"windows\": %d",
               ppl, ppl_err, acc.count, ctx_len, stride, n_windows);
        if (base)
            printf(", \"base_ppl\": %.6f, \"kl_mean\": %.8g, \"kl_err\": %.8g, \"kl_max\": %.8g, \"kl_p99\": %.8g, "
                   "\"top1_agreement\": %.4f",
                   base_ppl, kl_mean, kl_err, acc.kl_max, kl_p99, top1);
        printf("}\n");
    }
out:
    if (save && fclose(save) != 0) {
        fprintf(stderr, "trit ppl: cannot write '%s'\n", save_path);
        rc = 1;
    }
    if (base)
        fclose(base);
    free(acc.kl_values);
    free(want);
    free(lp);
    free(lp_base);
    free(tokens);
    free(text);
    trit_ctx_free(c);
    trit_model_free(m);
    return rc;
}
