/* cmd_bench.c — `trit bench`: end-to-end model figures (this file) and kernel figures (bench/bench_kernels.c
 * for CPU, src/cuda/cuda_bench.cu for CUDA). Benchmarks time; tests don't. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "commands.h"
#include "common.h"
#include "formats/config.h"
#include "model/model.h"

#ifdef TRIT_HAVE_BENCH_KERNELS
int trit_bench_kernels_main(int argc, char **argv);
#endif
#ifdef TRIT_HAVE_CUDA
int trit_cuda_bench_main(int argc, char **argv);
#endif

static void bench_help(void) {
    printf("usage: trit bench model  [-m DIR | --random NAME|CONFIG.json] [-p LIST] [-n N] [-r REPS] [--json]\n"
           "       trit bench kernels [options]        (CPU ternary GEMV/GEMM; trit bench kernels --help)\n"
           "       trit bench kernels --device cuda [options]\n\n"
           "model mode: load time, prompt processing tokens/s for each length in -p (default 128,512),\n"
           "generation tokens/s over -n tokens (default 128), peak RSS; median and spread of -r runs\n"
           "(default 3). --random 2b4t builds a random-weight model of the BitNet b1.58 2B-4T shapes (or of any\n"
           "config.json) so those shapes can be measured without a download.\n%s",
           TOOL_OPTS_HELP);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stat3 {
    double med, lo, hi;
} stat3;

static stat3 stats(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    stat3 s = {v[n / 2], v[0], v[n - 1]};
    return s;
}

static int bench_model(int argc, char **argv) {
    tool_opts o;
    tool_opts_init(&o);
    const char *random = NULL, *plist = "128,512";
    int n_gen = 128, reps = 3;
    bool json = false, model_given = false;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            model_given = true;
        int r = tool_opts_parse(&o, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_help();
            return 0;
        } else if (!strcmp(a, "--random")) {
            if (arg_str(argc, argv, &i, &random) < 0)
                return 2;
        } else if (!strcmp(a, "-p")) {
            if (arg_str(argc, argv, &i, &plist) < 0)
                return 2;
        } else if (!strcmp(a, "-n")) {
            if (arg_int(argc, argv, &i, &n_gen) < 0 || n_gen < 0)
                return 2;
        } else if (!strcmp(a, "-r")) {
            if (arg_int(argc, argv, &i, &reps) < 0 || reps < 1 || reps > 1000)
                return 2;
        } else if (!strcmp(a, "--seed")) {
            if (arg_u64(argc, argv, &i, &seed) < 0)
                return 2;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            fprintf(stderr, "trit bench model: unknown option '%s'\n", a);
            return 2;
        }
    }
    int pp[16], n_pp = 0, max_pp = 0;
    for (const char *s = plist; *s && n_pp < 16;) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 1 << 20) {
            fprintf(stderr, "trit bench: -p takes a comma-separated list of positive lengths\n");
            return 2;
        }
        pp[n_pp++] = (int)v;
        max_pp = (int)v > max_pp ? (int)v : max_pp;
        s = *end == ',' ? end + 1 : end;
    }
    trit_error err = {0};
    trit_model *m = NULL;
    trit_model_params mp = tool_model_params(&o);
    double t0 = tool_now();
    const char *what = o.model;
    if (random) {
        trit_config cfg;
        if (!strcmp(random, "2b4t")) {
            cfg = trit_config_bitnet_2b4t();
        } else if (trit_config_load(random, &cfg, &err) != TRIT_OK) {
            return tool_fail("cannot read the config", &err);
        }
        what = random;
        if (trit_model_random(&cfg, seed, &mp, &m, &err) != TRIT_OK)
            return tool_fail("cannot build the random model", &err);
    } else {
        (void)model_given;
        if (trit_model_load(o.model, &mp, &m, &err) != TRIT_OK)
            return tool_fail("cannot load the model", &err);
    }
    double load_s = tool_now() - t0;
    const trit_config *cfg = trit_model_get_config(m);
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_ctx = max_pp > n_gen + 1 ? max_pp : n_gen + 1;
    if (cp.n_ctx > cfg->max_positions)
        cp.n_ctx = cfg->max_positions;
    cp.n_batch = o.n_batch ? o.n_batch : max_pp;
    trit_ctx *c = NULL;
    if (trit_ctx_new(m, &cp, &c, &err) != TRIT_OK) {
        trit_model_free(m);
        return tool_fail("cannot create the context", &err);
    }
    int32_t *tok = malloc((size_t)(max_pp > n_gen ? max_pp : n_gen + 1) * sizeof *tok);
    double *t = malloc((size_t)reps * sizeof *t);
    stat3 pp_s[16], tg_s = {0};
    int rc = 0;
    uint64_t x = seed;
    for (int i = 0; i < (max_pp > n_gen ? max_pp : n_gen + 1); i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        tok[i] = (int32_t)((x >> 33) % (uint64_t)cfg->vocab_size);
    }
    /* warm-up: one short pass so page faults and thread start-up stay out of the numbers */
    {
        trit_batch b = {.n_tokens = 8 < max_pp ? 8 : max_pp, .tokens = tok};
        if (trit_ctx_decode(c, &b, &err) != TRIT_OK) {
            rc = tool_fail("forward failed", &err);
            goto out;
        }
    }
    for (int p = 0; p < n_pp && !rc; p++) {
        for (int r = 0; r < reps; r++) {
            trit_ctx_seq_clear(c, 0);
            trit_batch b = {.n_tokens = pp[p], .tokens = tok};
            double s0 = tool_now();
            if (trit_ctx_decode(c, &b, &err) != TRIT_OK) {
                rc = tool_fail("forward failed", &err);
                goto out;
            }
            t[r] = pp[p] / (tool_now() - s0);
        }
        pp_s[p] = stats(t, reps);
    }
    if (n_gen > 0) {
        for (int r = 0; r < reps; r++) {
            trit_ctx_seq_clear(c, 0);
            double s0 = tool_now();
            for (int i = 0; i < n_gen; i++) {
                trit_batch b = {.n_tokens = 1, .tokens = &tok[i]};
                if (trit_ctx_decode(c, &b, &err) != TRIT_OK) {
                    rc = tool_fail("forward failed", &err);
                    goto out;
                }
            }
            t[r] = n_gen / (tool_now() - s0);
        }
        tg_s = stats(t, reps);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    if (json) {
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"lm_head\": \"%s\", \"load_s\": %.4f, "
               "\"peak_rss_mb\": %.1f, \"reps\": %d",
               what, trit_model_backend_name(m), o.threads, o.lm_head_int8 ? "int8" : "model", load_s, rss_mb, reps);
        for (int p = 0; p < n_pp; p++)
            printf(", \"pp%d\": {\"tok_s\": %.2f, \"min\": %.2f, \"max\": %.2f}", pp[p], pp_s[p].med, pp_s[p].lo,
                   pp_s[p].hi);
        if (n_gen > 0)
            printf(", \"tg%d\": {\"tok_s\": %.2f, \"min\": %.2f, \"max\": %.2f}", n_gen, tg_s.med, tg_s.lo, tg_s.hi);
        printf("}\n");
    } else {
        printf("model %s | backend %s | threads %d |%s load %.3f s | peak RSS %.1f MB | %d runs\n", what,
               trit_model_backend_name(m), o.threads, o.lm_head_int8 ? " int8 LM head |" : "", load_s, rss_mb, reps);
        printf("| test   | tokens/s (median) | min      | max      |\n|--------|-------------------|----------|----------|\n");
        for (int p = 0; p < n_pp; p++)
            printf("| pp%-4d | %17.2f | %8.2f | %8.2f |\n", pp[p], pp_s[p].med, pp_s[p].lo, pp_s[p].hi);
        if (n_gen > 0)
            printf("| tg%-4d | %17.2f | %8.2f | %8.2f |\n", n_gen, tg_s.med, tg_s.lo, tg_s.hi);
    }
out:
    free(tok);
    free(t);
    trit_ctx_free(c);
    trit_model_free(m);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        bench_help();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "model"))
        return bench_model(argc - 1, argv + 1);
    if (!strcmp(argv[1], "kernels")) {
        for (int i = 2; i + 1 < argc; i++)
            if (!strcmp(argv[i], "--device") && !strcmp(argv[i + 1], "cuda")) {
#ifdef TRIT_HAVE_CUDA
                return trit_cuda_bench_main(argc - 1, argv + 1);
#else
                fprintf(stderr, "trit bench: this build has no CUDA back end\n");
                return 1;
#endif
            }
#ifdef TRIT_HAVE_BENCH_KERNELS
        return trit_bench_kernels_main(argc - 1, argv + 1);
#else
        fprintf(stderr, "trit bench: this build has no CPU kernel benchmark\n");
        return 1;
#endif
    }
    fprintf(stderr, "trit bench: unknown mode '%s' (model or kernels; see trit bench --help)\n", argv[1]);
    return 2;
}
