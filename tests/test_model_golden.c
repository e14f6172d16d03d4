/* test_model_golden.c — trit against transformers: the logits and greedy tokens in a golden file written by
 * scripts/make_goldens.py (transformers' BitNetForCausalLM, float32, TF32 off) are reproduced through the public API.
 *
 *   test_model_golden                       CTest case: tests/data/tiny-packed + golden-tiny-packed.bin and
 *                                           tests/data/tiny-bf16 + golden-tiny-bf16.bin, on every back end in the
 *                                           build; exits 77 (skipped) when those files are not there yet
 *   test_model_golden --model DIR --golden FILE [--backend NAME] [--tol X]    one pair (e.g. 2B-4T on a GPU host)
 *
 * Cases: prefill = the whole sequence as one batch with logits at every position; decode = one token per call
 * through the KV cache; greedy = the prompt, then argmax (ties -> lowest id) token by token, which must give the
 * golden continuation exactly.
 *
 * Tolerances, per row of logits, relative to that golden row's range (max - min):
 *  - exact rows: max |trit - transformers| <= 1e-5. trit's BitLinears are integer-exact and the rest is f32;
 *    transformers (f32, TF32 off) runs the same maths summed in another order: observed <= 4e-7 on the tiny model.
 *  - every row: <= tol, 2e-2 by default. Where the two sides' f32 inputs to an activation quantizer differ in the last
 *    bit, an int8 code can flip at a .5 boundary (about 1 value in 400k); that moves the logits of the token and,
 *    through the KV cache, of all later tokens by up to ~1e-2 of the range (observed 9e-3 on the tiny model).
 *  - the first row of every case and at least --min-exact (default 0.25) of all rows must be exact: a flip in the
 *    first token is rare at small sizes, while any systematic error (scale rounding or direction, RoPE, a norm, GQA
 *    mapping) moves every row by far more than 1e-5. At 2B-4T shapes (600k quantized values per token) flips happen
 *    in nearly every row: use --min-exact 0 there.
 * Top-1 agreement is reported; greedy continuations (prompts chosen by make_goldens.py so that every step's top-2
 * gap is >= 0.5% of the range) must match token for token. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "trit.h"

#define EXACT_REL 1e-5 /* summation-order noise only; see the header comment */

typedef struct {
    double max_abs, max_rel, range;
    int rows, top1_ok, exact, first_exact;
} cmp_stats;

typedef struct {
    int rows, exact;
} totals;

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) /* strict: ties keep the lowest id */
            best = i;
    return best;
}

static void cmp_row(const float *got, const float *want, int vocab, cmp_stats *s) {
    float lo = want[0], hi = want[0];
    double d = 0;
    for (int i = 0; i < vocab; i++) {
        lo = fminf(lo, want[i]);
        hi = fmaxf(hi, want[i]);
        double e = fabs((double)got[i] - want[i]);
        if (!(e <= d)) /* also catches NaN */
            d = isnan(e) ? INFINITY : e;
    }
    double range = (double)hi - lo;
    double rel = range > 0 ? d / range : d;
    s->max_abs = fmax(s->max_abs, d);
    s->range = fmax(s->range, range);
    s->max_rel = fmax(s->max_rel, rel);
    if (rel <= EXACT_REL) {
        s->exact++;
        if (s->rows == 0)
            s->first_exact = 1;
    }
    s->rows++;
    s->top1_ok += argmax(want, vocab) == argmax(got, vocab);
}

static int decode(trit_ctx *c, const int32_t *toks, int n, const uint8_t *want, const char *what) {
    trit_batch b = {.n_tokens = n, .tokens = toks, .want_logits = want};
    trit_error err = {0};
    if (trit_ctx_decode(c, &b, &err) != TRIT_OK) {
        fprintf(stderr, "  %s: trit_ctx_decode: %s (%s) [%s]\n", what, err.msg, trit_status_name(err.status),
                err.where);
        return -1;
    }
    return 0;
}

/* returns 1 when the case passes */
static int run_case(trit_ctx *c, const golden_file *g, int idx, double tol, double min_exact, totals *t) {
    const golden_case *gc = &g->cases[idx];
    const int V = g->vocab, n = gc->n_tokens;
    cmp_stats s = {0};
    trit_ctx_seq_clear(c, 0);
    if (gc->kind == GOLDEN_PREFILL) {
        uint8_t *want = malloc((size_t)n);
        if (!want)
            return 0;
        memset(want, 1, (size_t)n);
        int rc = decode(c, gc->tokens, n, want, "prefill");
        free(want);
        if (rc)
            return 0;
        for (int i = 0; i < n; i++) {
            const float *lg = trit_ctx_logits(c, i);
            if (!lg) {
                fprintf(stderr, "  case %d: no logits for batch row %d\n", idx, i);
                return 0;
            }
            cmp_row(lg, gc->logits + (size_t)i * V, V, &s);
        }
    } else if (gc->kind == GOLDEN_DECODE) {
        for (int i = 0; i < n; i++) {
            if (decode(c, gc->tokens + i, 1, NULL, "decode"))
                return 0;
            const float *lg = trit_ctx_logits(c, 0);
            if (!lg) {
                fprintf(stderr, "  case %d: no logits after token %d\n", idx, i);
                return 0;
            }
            cmp_row(lg, gc->logits + (size_t)i * V, V, &s);
        }
    } else {
        if (decode(c, gc->tokens, n, NULL, "greedy prompt"))
            return 0;
        int diverge = -1;
        for (int i = 0; i < gc->n_gen; i++) {
            /* i indexes the last batch: the prompt's last token first, then the single fed-back token */
            const float *lg = trit_ctx_logits(c, i == 0 ? n - 1 : 0);
            if (!lg) {
                fprintf(stderr, "  case %d: no logits before generated token %d\n", idx, i);
                return 0;
            }
            int32_t t = argmax(lg, V);
            if (t != gc->gen[i]) {
                diverge = i;
                printf("  case %2d greedy  n=%-4d first divergence at generated token %d: trit %d, transformers %d\n",
                       idx, n, i, t, gc->gen[i]);
                break;
            }
            if (i + 1 < gc->n_gen && decode(c, &t, 1, NULL, "greedy"))
                return 0;
        }
        if (diverge < 0)
            printf("  case %2d greedy  n=%-4d %d generated tokens identical\n", idx, n, gc->n_gen);
        return diverge < 0;
    }
    t->rows += s.rows;
    t->exact += s.exact;
    int ok = s.max_rel <= tol && (min_exact <= 0 || s.first_exact);
    printf("  case %2d %-7s n=%-4d max|dlogit| %.3g  range %.3g  max rel %.3g  exact rows %d/%d%s  top-1 %d/%d  %s\n",
           idx, gc->kind == GOLDEN_PREFILL ? "prefill" : "decode", n, s.max_abs, s.range, s.max_rel, s.exact, s.rows,
           s.first_exact ? "" : " (first row not exact)", s.top1_ok, s.rows, ok ? "ok" : "FAIL");
    return ok;
}

/* 1 = pass, 0 = fail, -1 = back end not available */
static int check_pair(const char *dir, const char *golden, const char *backend, double tol, double min_exact) {
    golden_file g;
    trit_error err = {0};
    if (golden_load(golden, &g, &err) != TRIT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    trit_model_params mp = trit_model_default_params();
    mp.backend = backend;
    trit_model *m = NULL;
    trit_status st = trit_model_load(dir, &mp, &m, &err);
    if (st != TRIT_OK) {
        golden_free(&g);
        if (st == TRIT_E_BACKEND && backend && strcmp(backend, "ref") != 0) {
            printf("%s on %s: back end not available (%s)\n", dir, backend, err.msg);
            return -1;
        }
        fprintf(stderr, "%s: load failed: %s [%s]\n", dir, err.msg, err.where);
        return 0;
    }
    const trit_config *cfg = trit_model_get_config(m);
    int pass = 1;
    if (cfg->vocab_size != g.vocab) {
        fprintf(stderr, "%s: vocab %d, golden %s has %d\n", dir, cfg->vocab_size, golden, g.vocab);
        pass = 0;
    }
    int longest = 1, widest = 1;
    for (int i = 0; i < g.n_cases; i++) {
        int len = g.cases[i].n_tokens + g.cases[i].n_gen;
        longest = len > longest ? len : longest;
        widest = g.cases[i].n_tokens > widest ? g.cases[i].n_tokens : widest;
    }
    trit_ctx_params cp = trit_ctx_default_params();
    cp.n_ctx = longest + 1;
    cp.n_seq = 1;
    cp.n_batch = widest;
    trit_ctx *c = NULL;
    if (pass && trit_ctx_new(m, &cp, &c, &err) != TRIT_OK) {
        fprintf(stderr, "%s: trit_ctx_new: %s\n", dir, err.msg);
        pass = 0;
    }
    if (pass) {
        printf("%s  vs  %s  [back end %s; every row within %.3g of its range, exact = within %.0e]\n", dir, golden,
               trit_model_backend_name(m), tol, EXACT_REL);
        totals t = {0, 0};
        for (int i = 0; i < g.n_cases; i++)
            pass &= run_case(c, &g, i, tol, min_exact, &t);
        double frac = t.rows ? (double)t.exact / t.rows : 1.0;
        if (frac < min_exact) {
            printf("  only %d of %d rows exact (%.2f < --min-exact %.2f)\n", t.exact, t.rows, frac, min_exact);
            pass = 0;
        }
        printf("%s: %s (%d/%d rows exact)\n", dir, pass ? "PASS" : "FAIL", t.exact, t.rows);
    }
    trit_ctx_free(c);
    trit_model_free(m);
    golden_free(&g);
    return pass;
}

static int exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

int main(int argc, char **argv) {
    const char *model = NULL, *golden = NULL, *backend = NULL;
    double tol = 2e-2, min_exact = 0.25;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc)
            model = argv[++i];
        else if (!strcmp(argv[i], "--golden") && i + 1 < argc)
            golden = argv[++i];
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
            backend = argv[++i];
        else if (!strcmp(argv[i], "--tol") && i + 1 < argc)
            tol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-exact") && i + 1 < argc)
            min_exact = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--model DIR --golden FILE] [--backend NAME] [--tol X] [--min-exact F]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!(tol > 0 && tol < 1) || !(min_exact >= 0 && min_exact <= 1)) {
        fprintf(stderr, "--tol must be in (0, 1), --min-exact in [0, 1]\n");
        return 2;
    }
    if (model || golden) {
        if (!model || !golden) {
            fprintf(stderr, "--model and --golden go together\n");
            return 2;
        }
        return check_pair(model, golden, backend, tol, min_exact) == 1 ? 0 : 1;
    }

    /* CTest default: the committed tiny model in both forms, every back end in the build */
    const char *src = getenv("TRIT_SOURCE_DIR");
    char dirs[2][1024], goldens[2][1024];
    const char *forms[2] = {"packed", "bf16"};
    for (int f = 0; f < 2; f++) {
        snprintf(dirs[f], sizeof dirs[f], "%s/tests/data/tiny-%s", src ? src : ".", forms[f]);
        snprintf(goldens[f], sizeof goldens[f], "%s/tests/data/golden-tiny-%s.bin", src ? src : ".", forms[f]);
        char cfgp[1100];
        snprintf(cfgp, sizeof cfgp, "%s/config.json", dirs[f]);
        if (!exists(cfgp) || !exists(goldens[f])) {
            printf("SKIP: %s or %s not present yet (they come from scripts/gpu/phase1.sh on a GPU host)\n", dirs[f],
                   goldens[f]);
            return 77;
        }
    }
    static const char *backends[] = {"ref", "cpu", "cuda"};
    int fails = 0, ran = 0;
    for (size_t b = 0; b < sizeof backends / sizeof backends[0]; b++) {
        if (backend && strcmp(backend, backends[b]))
            continue;
        for (int f = 0; f < 2; f++) {
            int r = check_pair(dirs[f], goldens[f], backends[b], tol, min_exact);
            if (r >= 0) {
                ran++;
                fails += r == 0;
            }
        }
    }
    printf("test_model_golden: %d checks, %d failed\n", ran, fails);
    return fails || !ran ? 1 : 0;
}
