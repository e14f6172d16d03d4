/* harness.h — the back-end op-test harness (modelled on llama.cpp's test-backend-ops).
 *
 * Every op of backend/backend.h runs on the back end under test, on fresh random inputs at odd and real shapes,
 * and its result is compared with an oracle:
 *  - for a back end other than ref ("cpu", "cuda"): the reference functions trit_ref_* (cpu/ref/ref.h);
 *  - for ref itself (the self-test, so the harness runs in every build): independent straightforward code in the
 *    case files (dense int matmul from the original codes, double-precision norms and attention, ...).
 * Integer results are compared bit for bit (memcmp); float results with NMSE and max-abs (or a per-element
 * error bound), the limits stated next to each op with the reason.
 *
 * A case is a struct: op name, integer/float parameters (printed on failure), and a run function. Each case draws
 * its inputs from its own seed (the run's base seed plus the case's index in the full list), so a failure prints
 * a command line that reproduces it: test_backend_ops -b <backend> -o <op> -s <base seed>.
 */
#ifndef TRIT_TESTS_OPS_HARNESS_H
#define TRIT_TESTS_OPS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "cpu/ref/ref.h"

#define OPS_MAX_BUFS 64

typedef struct ops_env {
    trit_backend *be;  /* back end under test */
    int naive;         /* 1: oracle = naive code in the case (self-test of ref); 0: oracle = trit_ref_* */
    uint64_t rng[4];   /* xoshiro256** for the case's inputs */
    uint64_t seed;     /* the case's seed */
    const char *op;
    char params[200];  /* the case's parameters, for messages */
    int failed;        /* a check of this case failed */
    void *dev[OPS_MAX_BUFS];  /* back-end buffers of the case, freed after it */
    int n_dev;
    void *host[OPS_MAX_BUFS]; /* host buffers of the case */
    int n_host;
    trit_tmat *tmats[8];      /* back-end packed matrices of the case */
    int n_tmats;
} ops_env;

typedef struct ops_case {
    const char *op;
    void (*run)(ops_env *e, const struct ops_case *c);
    int32_t p[6]; /* op-specific integer parameters (named by the case's print of them) */
    float f;      /* op-specific float parameter */
} ops_case;

/* Case lists, one per op family (cases_*.c). */
const ops_case *ops_cases_quant(size_t *n);
const ops_case *ops_cases_matmul(size_t *n);
const ops_case *ops_cases_attn(size_t *n);
const ops_case *ops_cases_misc(size_t *n);

// ---- inputs
uint64_t ops_rand(ops_env *e);
float ops_randf(ops_env *e, float lo, float hi);   /* uniform in [lo, hi) */
int32_t ops_randi(ops_env *e, int32_t lo, int32_t hi); /* uniform in [lo, hi] */
void ops_fill(ops_env *e, float *x, size_t n, float lo, float hi);

// ---- buffers (freed when the case ends; a failed allocation fails the case and returns NULL)
void *ops_host(ops_env *e, size_t bytes);                           /* zeroed host memory */
void *ops_dev(ops_env *e, size_t bytes);                            /* back-end memory */
void *ops_upload(ops_env *e, const void *host, size_t bytes);      /* ops_dev + upload */
int ops_download(ops_env *e, void *host, const void *dev, size_t bytes); /* sync + download; 0 on success */
trit_tmat *ops_tmat(ops_env *e, trit_tmat shape, const int8_t *codes); /* tmat_pack on the back end */

// ---- checks: each returns 1 when it passes, else prints why and marks the case failed
void ops_fail(ops_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ops_expect_bytes(ops_env *e, const char *what, const void *want, const void *got, size_t n, size_t elem);
int ops_expect_i8(ops_env *e, const char *what, const int8_t *want, const int8_t *got, size_t n);
/* exact values (+0 == -0; NaN never equal) */
int ops_expect_f32_exact(ops_env *e, const char *what, const float *want, const float *got, size_t n);
/* NMSE = Σ(got-want)² / Σ want² ≤ nmse_max and max |got-want| ≤ abs_max */
int ops_expect_close(ops_env *e, const char *what, const float *want, const float *got, size_t n, double nmse_max,
                     double abs_max);
/* |got[i] - want[i]| ≤ bound[i] for every i (bounds derived from the op's error analysis) */
int ops_expect_bound(ops_env *e, const char *what, const double *want, const float *got, const double *bound,
                     size_t n);

#endif
