/* harness.c — the driver of test_backend_ops (see harness.h): picks the back ends, runs the cases, reports.
 *
 * usage: test_backend_ops [-b backend] [-o op] [-s seed] [-v]
 *   -b  ref | cpu | cuda: only that back end ("ref" runs the self-test against the naive oracles). Default: the
 *       self-test, then every back end of this build that is not ref (a back end that cannot start is skipped
 *       with its reason; "cpu" in a build without the fast kernels is ref under another name and is skipped).
 *   -o  only the cases of that op
 *   -s  base seed (default: from the clock); case i uses seed + i, so -s reproduces any failure
 *   -v  print every case
 */
#include "ops/harness.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ------------------------------------------------------------------------------------------------ inputs

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ops_rand(ops_env *e) { // xoshiro256**
    uint64_t *s = e->rng;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

float ops_randf(ops_env *e, float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(ops_rand(e) >> 11) * 0x1.0p-53);
}

int32_t ops_randi(ops_env *e, int32_t lo, int32_t hi) {
    return lo + (int32_t)(ops_rand(e) % (uint64_t)((int64_t)hi - lo + 1));
}

void ops_fill(ops_env *e, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = ops_randf(e, lo, hi);
}

// ------------------------------------------------------------------------------------------------ buffers

void *ops_host(ops_env *e, size_t bytes) {
    if (e->n_host == OPS_MAX_BUFS) {
        ops_fail(e, "harness: too many host buffers in one case");
        return NULL;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        ops_fail(e, "harness: cannot allocate %zu host bytes", bytes);
        return NULL;
    }
    return e->host[e->n_host++] = p;
}

void *ops_dev(ops_env *e, size_t bytes) {
    if (e->n_dev == OPS_MAX_BUFS) {
        ops_fail(e, "harness: too many back-end buffers in one case");
        return NULL;
    }
    void *p = e->be->ops->alloc(e->be, bytes);
    if (!p) {
        ops_fail(e, "alloc(%zu) returned NULL", bytes);
        return NULL;
    }
    return e->dev[e->n_dev++] = p;
}

void *ops_upload(ops_env *e, const void *host, size_t bytes) {
    void *p = ops_dev(e, bytes);
    if (!p)
        return NULL;
    trit_error err;
    if (e->be->ops->upload(e->be, p, host, bytes, &err) != TRIT_OK) {
        ops_fail(e, "upload of %zu bytes failed: %s (%s)", bytes, err.msg, err.where);
        return NULL;
    }
    return p;
}

int ops_download(ops_env *e, void *host, const void *dev, size_t bytes) {
    trit_error err;
    if (e->be->ops->sync(e->be, &err) != TRIT_OK) {
        ops_fail(e, "sync failed: %s (%s)", err.msg, err.where);
        return 1;
    }
    if (e->be->ops->download(e->be, host, dev, bytes, &err) != TRIT_OK) {
        ops_fail(e, "download of %zu bytes failed: %s (%s)", bytes, err.msg, err.where);
        return 1;
    }
    return 0;
}

trit_tmat *ops_tmat(ops_env *e, trit_tmat shape, const int8_t *codes) {
    if (e->n_tmats == (int)(sizeof e->tmats / sizeof e->tmats[0])) {
        ops_fail(e, "harness: too many matrices in one case");
        return NULL;
    }
    trit_tmat *w = malloc(sizeof *w);
    if (!w) {
        ops_fail(e, "harness: out of memory");
        return NULL;
    }
    *w = shape;
    w->data = NULL, w->aux = NULL, w->bytes = 0;
    trit_error err;
    if (e->be->ops->tmat_pack(e->be, w, codes, &err) != TRIT_OK) {
        ops_fail(e, "tmat_pack [%d][%d] failed: %s (%s)", (int)w->N, (int)w->K, err.msg, err.where);
        free(w);
        return NULL;
    }
    return e->tmats[e->n_tmats++] = w;
}

static void release(ops_env *e) {
    for (int i = 0; i < e->n_tmats; i++) {
        e->be->ops->tmat_free(e->be, e->tmats[i]);
        free(e->tmats[i]);
    }
    for (int i = 0; i < e->n_dev; i++)
        e->be->ops->free(e->be, e->dev[i]);
    for (int i = 0; i < e->n_host; i++)
        free(e->host[i]);
    e->n_tmats = e->n_dev = e->n_host = 0;
}

// ------------------------------------------------------------------------------------------------ checks

void ops_fail(ops_env *e, const char *fmt, ...) {
    if (!e->failed)
        printf("  [FAIL] %s %s(%s) seed=%" PRIu64 " vs %s\n", e->be->ops->name, e->op, e->params, e->seed,
               e->naive ? "naive oracle" : "ref");
    e->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    printf("         ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

int ops_expect_bytes(ops_env *e, const char *what, const void *want, const void *got, size_t n, size_t elem) {
    if (memcmp(want, got, n * elem) == 0)
        return 1;
    size_t i = 0, bad = 0;
    for (size_t j = 0; j < n; j++)
        if (memcmp((const char *)want + j * elem, (const char *)got + j * elem, elem)) {
            if (!bad)
                i = j;
            bad++;
        }
    ops_fail(e, "%s: %zu of %zu elements differ (must be bit-exact); first at [%zu]", what, bad, n, i);
    return 0;
}

int ops_expect_i8(ops_env *e, const char *what, const int8_t *want, const int8_t *got, size_t n) {
    if (memcmp(want, got, n) == 0)
        return 1;
    size_t bad = 0, i = 0;
    for (size_t j = 0; j < n; j++)
        if (want[j] != got[j] && !bad++)
            i = j;
    ops_fail(e, "%s: %zu of %zu codes differ (must be bit-exact); first [%zu] want %d got %d", what, bad, n, i,
             want[i], got[i]);
    return 0;
}

int ops_expect_f32_exact(ops_env *e, const char *what, const float *want, const float *got, size_t n) {
    // equal values: +0 and -0 count as equal (the sign of a zero never matters downstream)
    size_t bad = 0, i = 0;
    for (size_t j = 0; j < n; j++)
        if (!(want[j] == got[j]) && !bad++)
            i = j;
    if (!bad)
        return 1;
    ops_fail(e, "%s: %zu of %zu floats differ (must be exact); first [%zu] want %.9g got %.9g", what, bad, n, i,
             want[i], got[i]);
    return 0;
}

int ops_expect_close(ops_env *e, const char *what, const float *want, const float *got, size_t n, double nmse_max,
                     double abs_max) {
    double num = 0, den = 0, amax = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)want[i];
        if (d != d) { // NaN anywhere fails
            ops_fail(e, "%s: NaN at [%zu] (want %.9g got %.9g)", what, i, want[i], got[i]);
            return 0;
        }
        num += d * d;
        den += (double)want[i] * want[i];
        if (d < 0)
            d = -d;
        if (d > amax)
            amax = d, at = i;
    }
    double nmse = den > 0 ? num / den : num;
    if (nmse <= nmse_max && amax <= abs_max)
        return 1;
    ops_fail(e, "%s: nmse %.3g (limit %.3g), max abs err %.3g (limit %.3g) at [%zu]: want %.9g got %.9g", what,
             nmse, nmse_max, amax, abs_max, at, want[at], got[at]);
    return 0;
}

int ops_expect_bound(ops_env *e, const char *what, const double *want, const float *got, const double *bound,
                     size_t n) {
    size_t bad = 0, i = 0;
    for (size_t j = 0; j < n; j++) {
        double d = (double)got[j] - want[j];
        if (!(d <= bound[j] && -d <= bound[j]) && !bad++) // NaN fails too
            i = j;
    }
    if (!bad)
        return 1;
    ops_fail(e, "%s: %zu of %zu outside their error bound; first [%zu]: want %.9g got %.9g bound %.3g", what, bad,
             n, i, want[i], got[i], bound[i]);
    return 0;
}

// ------------------------------------------------------------------------------------------------ driver

typedef struct {
    const ops_case *c;
    size_t n;
} case_list;

static int run_backend(trit_backend *be, int naive, const case_list *lists, size_t n_lists, const char *only_op,
                       uint64_t base_seed, int verbose) {
    size_t idx = 0, ran = 0, failed = 0;
    for (size_t l = 0; l < n_lists; l++) {
        for (size_t i = 0; i < lists[l].n; i++, idx++) {
            const ops_case *c = &lists[l].c[i];
            if (only_op && strcmp(only_op, c->op) != 0)
                continue;
            ops_env e = {.be = be, .naive = naive, .seed = base_seed + idx, .op = c->op};
            uint64_t x = e.seed;
            for (int k = 0; k < 4; k++)
                e.rng[k] = splitmix64(&x);
            snprintf(e.params, sizeof e.params, "%d,%d,%d,%d,%d,%d f=%g", c->p[0], c->p[1], c->p[2], c->p[3],
                     c->p[4], c->p[5], (double)c->f);
            c->run(&e, c);
            release(&e);
            ran++;
            failed += e.failed != 0;
            if (verbose && !e.failed)
                printf("  [ OK ] %s %s(%s)\n", be->ops->name, c->op, e.params);
        }
    }
    printf("%s%s: %zu/%zu cases passed\n", be->ops->name, naive ? " (self-test vs naive oracles)" : " vs ref",
           ran - failed, ran);
    if (failed)
        printf("  reproduce: test_backend_ops -b %s%s%s -s %" PRIu64 "\n", naive ? "ref" : be->ops->name,
               only_op ? " -o " : "", only_op ? only_op : "", base_seed);
    return failed != 0;
}

int main(int argc, char **argv) {
    const char *only_be = NULL, *only_op = NULL;
    uint64_t seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)clock();
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc)
            only_be = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            only_op = argv[++i];
        else if (!strcmp(argv[i], "-s") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else {
            fprintf(stderr, "usage: %s [-b ref|cpu|cuda] [-o op] [-s seed] [-v]\n", argv[0]);
            return 2;
        }
    }
    case_list lists[4];
    lists[0].c = ops_cases_quant(&lists[0].n);
    lists[1].c = ops_cases_matmul(&lists[1].n);
    lists[2].c = ops_cases_attn(&lists[2].n);
    lists[3].c = ops_cases_misc(&lists[3].n);
    if (only_op) {
        int known = 0;
        for (size_t l = 0; l < 4; l++)
            for (size_t i = 0; i < lists[l].n; i++)
                known |= !strcmp(lists[l].c[i].op, only_op);
        if (!known) {
            fprintf(stderr, "unknown op '%s'\n", only_op);
            return 2;
        }
    }
    printf("test_backend_ops: seed %" PRIu64 "\n", seed);

    int fail = 0;
    const char *names[] = {"ref", "cpu", "cuda"};
    for (size_t b = 0; b < 3; b++) {
        if (only_be && strcmp(only_be, names[b]) != 0)
            continue;
        trit_backend *be = NULL;
        trit_error err;
        if (trit_backend_create(names[b], 2, &be, &err) != TRIT_OK) {
            printf("%s: skipped (%s)\n", names[b], err.msg);
            if (only_be)
                fail = 1; // asked for explicitly: not having it is a failure
            continue;
        }
        int naive = !strcmp(names[b], "ref");
        if (!naive && !strcmp(be->ops->name, "ref")) {
            printf("%s: skipped (this build maps it to the ref back end)\n", names[b]);
        } else {
            fail |= run_backend(be, naive, lists, 4, only_op, seed, verbose);
        }
        trit_backend_destroy(be);
    }
    if (only_be && strcmp(only_be, "ref") && strcmp(only_be, "cpu") && strcmp(only_be, "cuda")) {
        fprintf(stderr, "unknown back end '%s'\n", only_be);
        return 2;
    }
    return fail;
}
