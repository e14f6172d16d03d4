/* bench_kernels.c — kernel mode of `trit bench`: ternary GEMV/GEMM of the "cpu" back end over a list of shapes,
 * with the machine's memory bandwidth measured in the same run so every figure has its roofline next to it.
 *
 *   bench_kernels [--threads N] [--isa scalar|avx2|avx512|neon] [--layout t16|tq1|tl] [--shapes NxK,NxK,...]
 *                 [--m 1,128,512] [--reps R] [--head VxD|0] [--json]
 *
 * --layout picks the weight layout (cpu.h: T16, the compact TQ1, the lookup-table TL; default TRIT_CPU_WEIGHTS,
 * else the back end's measured default). Per shape and M: median and min..max µs over R runs (after 2 warm-ups),
 * GB/s of packed weight bytes read (N·K/4 in T16 and TL, N·K/5 in TQ1) and that as a share of the measured read
 * bandwidth, and GOPS (2·N·K·M int8 ops) for M > 1.
 * GEMV weights are cycled through enough copies (≥ 256 MB) that they come from DRAM as in a real decode step,
 * not from the 32 MB-class L3. Also prints the thread pool's dispatch overhead and times the LM head (bf16 table
 * V×D, default 128256×2560 as in 2B-4T, and the optional int8 head with row scales, TRIT_DT_I8ROW; --head 0
 * skips them), which is the largest single read of a decode step.
 *
 * `trit bench` calls trit_bench_kernels_main(argc, argv); built on its own (bench/CMakeLists.txt makes every
 * bench_*.c a program) it has its own main, defined unless TRIT_BENCH_NO_MAIN is set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "cpu/fast/cpu.h"

int trit_bench_kernels_main(int argc, char **argv);

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rnd(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// ------------------------------------------------------------------------------------------------ bandwidth

typedef struct {
    const char *buf;
    size_t n;
    size_t found;
} bw_job;

#define BW_CHUNK ((size_t)4 << 20)

/* glibc's memchr is the best SIMD read loop this machine has; the buffer holds no zero byte, so it reads all.
 * Items are 4 MB pieces of the buffer. */
static void bw_read(void *ctx, int64_t lo, int64_t hi, int ith) {
    bw_job *j = ctx;
    for (int64_t i = lo; i < hi; i++)
        if (memchr(j->buf + (size_t)i * BW_CHUNK, 0, BW_CHUNK))
            j->found++;
}

/* read bandwidth (GB/s) of all pool threads over a buffer far larger than the caches: best of 5 */
static double measure_read_bw(trit_pool *pool) {
    const size_t bytes = (size_t)1 << 30;
    char *buf = malloc(bytes);
    if (!buf)
        return 0.0;
    memset(buf, 1, bytes);
    bw_job j = {buf, bytes, 0};
    (void)j.n;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        trit_pool_for(pool, (int64_t)(bytes / BW_CHUNK), 1, bw_read, &j);
        double t = now_s() - t0;
        best = t < best ? t : best;
    }
    free(buf);
    return (double)bytes / best / 1e9;
}

static double measure_memcpy_bw(void) {
    const size_t bytes = (size_t)256 << 20;
    char *a = malloc(bytes), *b = malloc(bytes);
    double best = 1e30;
    if (a && b) {
        memset(a, 1, bytes);
        memset(b, 2, bytes);
        for (int r = 0; r < 5; r++) {
            double t0 = now_s();
            memcpy(b, a, bytes);
            double t = now_s() - t0;
            best = t < best ? t : best;
        }
    }
    free(a);
    free(b);
    return a && b ? 2.0 * (double)bytes / best / 1e9 : 0.0; // read + write
}

static void nop_job(void *ctx, int64_t lo, int64_t hi, int ith) { (void)ctx, (void)lo, (void)hi, (void)ith; }

static double measure_dispatch_us(trit_pool *pool) {
    const int n = 20000;
    for (int i = 0; i < 1000; i++)
        trit_pool_for(pool, 64, 1, nop_job, NULL);
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        trit_pool_for(pool, 64, 1, nop_job, NULL);
    return (now_s() - t0) / n * 1e6;
}

// ------------------------------------------------------------------------------------------------ shapes

typedef struct {
    int32_t N, K;
} shape;

static const shape DEFAULT_SHAPES[] = {
    // 2B-4T fused: q|k|v, o, gate|up, down
    {3840, 2560}, {2560, 2560}, {13824, 2560}, {2560, 6912},
    // Microsoft's published W2A8 table
    {2560, 2560}, {3840, 2560}, {13824, 2560}, {2560, 6912}, {3200, 3200}, {4800, 3200}, {3200, 10240}, {20480, 3200},
};

typedef struct {
    int32_t N, K, M;
    double med_us, min_us, max_us, gbs, share, gops;
} result;

static int bench_one(trit_backend *be, shape sh, int32_t M, int reps, double bw, result *r, trit_error *err) {
    uint64_t rng = 0x1234567ull + (uint64_t)sh.N * 31 + (uint64_t)sh.K;
    int8_t *codes = malloc((size_t)sh.N * sh.K);
    int8_t *q = malloc((size_t)M * sh.K);
    float *s = malloc(sizeof(float) * (size_t)M), *y = malloc(sizeof(float) * (size_t)M * sh.N);
    if (!codes || !q || !s || !y) {
        free(codes), free(q), free(s), free(y);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "bench: out of memory for %dx%d", (int)sh.N, (int)sh.K);
    }
    for (size_t i = 0; i < (size_t)sh.N * sh.K; i++)
        codes[i] = (int8_t)(rnd(&rng) % 3) - 1;
    for (size_t i = 0; i < (size_t)M * sh.K; i++)
        q[i] = (int8_t)(rnd(&rng) & 0xff);
    for (int32_t m = 0; m < M; m++)
        s[m] = 12.7f;
    // GEMV reads cold weights in a real decode step: cycle through copies totalling >= 256 MB
    const int tq1 = trit_cpu_backend_layout(be) == TRIT_CPU_TQ1;
    const size_t wbytes = (size_t)sh.N * sh.K / (tq1 ? 5 : 4);
    int copies = M == 1 ? (int)(((size_t)256 << 20) / wbytes) + 1 : 1;
    trit_tmat *w = calloc((size_t)copies, sizeof *w);
    int packed = 0;
    trit_status st = w ? TRIT_OK : TRIT_FAIL(err, TRIT_E_NOMEM, "bench: out of memory");
    for (int c = 0; c < copies && st == TRIT_OK; c++) {
        w[c] = (trit_tmat){.N = sh.N, .K = sh.K, .n_seg = 1, .seg_end = {sh.N}, .seg_scale = {1.0f}};
        st = be->ops->tmat_pack(be, &w[c], codes, err);
        packed += st == TRIT_OK;
    }
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (st == TRIT_OK && !t)
        st = TRIT_FAIL(err, TRIT_E_NOMEM, "bench: out of memory");
    if (st == TRIT_OK) {
        for (int i = 0; i < 2; i++)
            be->ops->matmul_tq(be, &w[i % copies], q, s, M, y, 0);
        for (int i = 0; i < reps; i++) {
            const trit_tmat *wi = &w[(i + 2) % copies];
            double t0 = now_s();
            be->ops->matmul_tq(be, wi, q, s, M, y, 0);
            t[i] = (now_s() - t0) * 1e6;
        }
        qsort(t, (size_t)reps, sizeof(double), cmp_d);
        r->N = sh.N, r->K = sh.K, r->M = M;
        r->med_us = t[reps / 2], r->min_us = t[0], r->max_us = t[reps - 1];
        r->gbs = (double)wbytes / (r->med_us * 1e-6) / 1e9;
        r->share = bw > 0 ? r->gbs / bw : 0.0;
        r->gops = 2.0 * sh.N * sh.K * (double)M / (r->med_us * 1e-6) / 1e9;
    }
    for (int c = 0; c < packed; c++)
        be->ops->tmat_free(be, &w[c]);
    free(w), free(t), free(codes), free(q), free(s), free(y);
    return st;
}

/* bytes of an LM head table [V][D] of type dt (bf16, or the int8 head with its row scales) */
static double head_bytes(trit_dtype dt, int32_t V, int32_t D) {
    return dt == TRIT_DT_I8ROW ? (double)trit_i8row_bytes(V, D) : 2.0 * V * D;
}

/* LM head over a bf16 or int8 (TRIT_DT_I8ROW) table [V][D] for one token: GB/s of table bytes (it is read once
 * per token) */
static int bench_head(trit_backend *be, trit_dtype dt, int32_t V, int32_t D, int reps, double *med_us,
                      double *min_us, double *max_us, trit_error *err) {
    const size_t tb = (size_t)head_bytes(dt, V, D);
    void *table = malloc(tb);
    float *x = malloc(sizeof(float) * (size_t)D), *logits = malloc(sizeof(float) * (size_t)V);
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!table || !x || !logits || !t) {
        free(table), free(x), free(logits), free(t);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "bench: out of memory for the %dx%d head", (int)V, (int)D);
    }
    uint64_t rng = 99;
    if (dt == TRIT_DT_I8ROW) {
        int8_t *q = table;
        float *scale = (float *)((char *)table + trit_i8row_scale_offset(V, D));
        for (size_t i = 0; i < (size_t)V * D; i++)
            q[i] = (int8_t)(rnd(&rng) % 255 - 127);
        for (int32_t v = 0; v < V; v++)
            scale[v] = 1e-4f;
    } else {
        uint16_t *h = table;
        for (size_t i = 0; i < (size_t)V * D; i++)
            h[i] = (uint16_t)(0x3c00 + (rnd(&rng) & 0x3ff)); // bf16 values in [0.0078, 0.0156)
    }
    for (int32_t d = 0; d < D; d++)
        x[d] = 1.0f;
    be->ops->lm_head(be, table, dt, V, D, x, 1, logits);
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();
        be->ops->lm_head(be, table, dt, V, D, x, 1, logits);
        t[i] = (now_s() - t0) * 1e6;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_d);
    *med_us = t[reps / 2], *min_us = t[0], *max_us = t[reps - 1];
    free(table), free(x), free(logits), free(t);
    return TRIT_OK;
}

static int parse_list(const char *s, int32_t *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0)
            return -1;
        out[n++] = (int32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

static int parse_shapes(const char *s, shape *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long a = strtol(s, &end, 10);
        if (end == s || *end != 'x' || a <= 0)
            return -1;
        long b = strtol(end + 1, &end, 10);
        if (b <= 0 || (*end && *end != ','))
            return -1;
        out[n].N = (int32_t)a, out[n].K = (int32_t)b, n++;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_kernels [--threads N] [--isa scalar|avx2|avx512|neon] [--layout t16|tq1|tl] "
               "[--shapes NxK,...] [--m 1,128,512] [--reps R] [--head VxD|0] [--json]\n");
}

int trit_bench_kernels_main(int argc, char **argv) {
    int threads = 0, reps = 0, json = 0;
    int32_t head_v = 128256, head_d = 2560;
    const char *isa = NULL, *layout = getenv("TRIT_CPU_WEIGHTS");
    shape shapes[64];
    int n_shapes = (int)(sizeof DEFAULT_SHAPES / sizeof DEFAULT_SHAPES[0]);
    memcpy(shapes, DEFAULT_SHAPES, sizeof DEFAULT_SHAPES);
    int32_t ms[16] = {1, 128, 512};
    int n_ms = 3;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (v && !strcmp(a, "--threads")) {
            threads = atoi(v), i++;
        } else if (v && !strcmp(a, "--reps")) {
            reps = atoi(v), i++;
        } else if (v && !strcmp(a, "--isa")) {
            isa = v, i++;
        } else if (v && !strcmp(a, "--layout")) {
            layout = v, i++;
        } else if (v && !strcmp(a, "--m")) {
            if ((n_ms = parse_list(v, ms, 16)) <= 0)
                return usage(stderr), 2;
            i++;
        } else if (v && !strcmp(a, "--head")) {
            shape h;
            if (!strcmp(v, "0"))
                head_v = 0;
            else if (parse_shapes(v, &h, 1) == 1)
                head_v = h.N, head_d = h.K;
            else
                return usage(stderr), 2;
            i++;
        } else if (v && !strcmp(a, "--shapes")) {
            if ((n_shapes = parse_shapes(v, shapes, 64)) <= 0)
                return usage(stderr), 2;
            i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    trit_backend *be;
    trit_error err = {0};
    if (trit_cpu_backend_create_opts(threads, isa, layout, &be, &err) != TRIT_OK) {
        fprintf(stderr, "bench_kernels: %s\n", err.msg);
        return 1;
    }
    trit_pool *pool;
    if (trit_pool_create(be->n_threads, &pool, &err) != TRIT_OK) {
        fprintf(stderr, "bench_kernels: %s\n", err.msg);
        be->ops->destroy(be);
        return 1;
    }
    const double bw = measure_read_bw(pool), cbw = measure_memcpy_bw(), disp = measure_dispatch_us(pool);
    trit_pool_destroy(pool);
    const char *kname = trit_cpu_backend_kernels(be)->name;
    const trit_cpu_layout lay = trit_cpu_backend_layout(be);
    const char *lname = lay == TRIT_CPU_TQ1 ? "tq1" : lay == TRIT_CPU_TL ? "tl" : "t16";
    if (json)
        printf("{\"mode\":\"kernels\",\"isa\":\"%s\",\"layout\":\"%s\",\"threads\":%d,\"read_bw_gbs\":%.2f,"
               "\"memcpy_bw_gbs\":%.2f,\"dispatch_us\":%.3f,\"results\":[",
               kname, lname, be->n_threads, bw, cbw, disp);
    else
        printf("kernels %s, weights %s, %d threads; read bandwidth %.1f GB/s (all threads), memcpy %.1f GB/s "
               "(1 thread, read+write); pool dispatch %.2f us\n%7s %6s %5s %10s %21s %8s %6s %8s\n",
               kname, lname, be->n_threads, bw, cbw, disp, "N", "K", "M", "median_us", "min..max_us", "GB/s", "of_bw",
               "GOPS");
    int first = 1, rc = 0;
    for (int si = 0; si < n_shapes; si++)
        for (int mi = 0; mi < n_ms; mi++) {
            result r = {0};
            int rr = reps > 0 ? reps : ms[mi] == 1 ? 31 : 7;
            if (bench_one(be, shapes[si], ms[mi], rr, bw, &r, &err) != TRIT_OK) {
                fprintf(stderr, "bench_kernels: %s\n", err.msg);
                rc = 1;
                continue;
            }
            if (json) {
                printf("%s{\"N\":%d,\"K\":%d,\"M\":%d,\"median_us\":%.2f,\"min_us\":%.2f,\"max_us\":%.2f,"
                       "\"weight_gbs\":%.3f,\"bw_share\":%.4f,\"gops\":%.2f}",
                       first ? "" : ",", r.N, r.K, r.M, r.med_us, r.min_us, r.max_us, r.gbs, r.share, r.gops);
                first = 0;
            } else {
                char mm[48];
                snprintf(mm, sizeof mm, "%.1f..%.1f", r.min_us, r.max_us);
                printf("%7d %6d %5d %10.1f %21s %8.2f %5.0f%% %8.1f\n", r.N, r.K, r.M, r.med_us, mm, r.gbs,
                       100.0 * r.share, r.M > 1 ? r.gops : 0.0);
            }
            fflush(stdout);
        }
    if (json)
        printf("]");
    // the bf16 head (2B-4T's tied table) and the optional int8 head (--lm-head-int8), JSON keys lm_head, lm_head_i8
    for (int h = 0; h < 2 && head_v > 0; h++) {
        const trit_dtype hdt = h ? TRIT_DT_I8ROW : TRIT_DT_BF16;
        const char *hname = h ? "i8row" : "bf16";
        double hm = 0, hmin = 0, hmax = 0;
        const double hbytes = head_bytes(hdt, head_v, head_d);
        if (bench_head(be, hdt, head_v, head_d, 9, &hm, &hmin, &hmax, &err) != TRIT_OK) {
            fprintf(stderr, "bench_kernels: %s\n", err.msg);
            rc = 1;
            continue;
        }
        if (json)
            printf(",\"lm_head%s\":{\"V\":%d,\"D\":%d,\"dtype\":\"%s\",\"M\":1,\"median_us\":%.2f,\"min_us\":%.2f,"
                   "\"max_us\":%.2f,\"gbs\":%.3f,\"bw_share\":%.4f}",
                   h ? "_i8" : "", head_v, head_d, hname, hm, hmin, hmax, hbytes / (hm * 1e-6) / 1e9,
                   hbytes / (hm * 1e-6) / 1e9 / bw);
        else
            printf("lm_head %s %dx%d M=1: median %.1f us (%.1f..%.1f), %.2f GB/s, %.0f%% of read bandwidth\n", hname,
                   head_v, head_d, hm, hmin, hmax, hbytes / (hm * 1e-6) / 1e9, 100.0 * hbytes / (hm * 1e-6) / 1e9 / bw);
    }
    if (json)
        printf("}\n");
    be->ops->destroy(be);
    return rc;
}

#ifndef TRIT_BENCH_NO_MAIN
int main(int argc, char **argv) { return trit_bench_kernels_main(argc, argv); }
#endif
