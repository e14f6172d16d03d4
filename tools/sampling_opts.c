/* sampling_opts.c — see sampling_opts.h. */
#include "sampling_opts.h"

#include <stdio.h>
#include <string.h>

#include "common.h"

const char *const SAMPLING_HELP =
    "      --temp T            temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K           keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P           nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P           drop tokens below P x the top probability; 0 = off (default 0.05)\n"
    "      --repeat-penalty R  penalise recent tokens; 1 = off (default 1, off)\n"
    "      --repeat-last-n N   how many recent tokens the penalty sees (default 64)\n"
    "      --seed S            random seed; the same seed gives the same text (default 0)\n"
    "      --greedy            same as --temp 0\n";

int sampling_opts_parse(trit_sampler_params *p, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--temp")) {
        if (arg_float(argc, argv, i, &p->temperature) < 0 || p->temperature < 0) {
            fprintf(stderr, "trit: --temp must be >= 0\n");
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--greedy")) {
        p->temperature = 0;
        return 1;
    }
    if (!strcmp(a, "--top-k")) {
        if (arg_int(argc, argv, i, &p->top_k) < 0 || p->top_k < 0) {
            fprintf(stderr, "trit: --top-k must be >= 0\n");
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--top-p")) {
        if (arg_float(argc, argv, i, &p->top_p) < 0 || p->top_p <= 0 || p->top_p > 1) {
            fprintf(stderr, "trit: --top-p must be in (0, 1]\n");
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--min-p")) {
        if (arg_float(argc, argv, i, &p->min_p) < 0 || p->min_p < 0 || p->min_p > 1) {
            fprintf(stderr, "trit: --min-p must be in [0, 1]\n");
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--repeat-penalty")) {
        if (arg_float(argc, argv, i, &p->repeat_penalty) < 0 || p->repeat_penalty <= 0) {
            fprintf(stderr, "trit: --repeat-penalty must be > 0\n");
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--repeat-last-n")) {
        if (arg_int(argc, argv, i, &p->repeat_last_n) < 0 || p->repeat_last_n < 0) {
            fprintf(stderr, "trit: --repeat-last-n must be >= 0\n");
            return -1;
        }
        return 1;
    }
    if (!strcmp(a, "--seed"))
        return arg_u64(argc, argv, i, &p->seed);
    return 0;
}
