/* common.h — what the trit subcommands share: option parsing for model/back-end flags, loading with clear
 * messages, timing. Only tools/ turns a trit_status into an exit code. */
#ifndef TRIT_TOOLS_COMMON_H
#define TRIT_TOOLS_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trit.h"

#ifndef TRIT_DEFAULT_MODEL
#define TRIT_DEFAULT_MODEL "models/bitnet-b1.58-sotu-25m"
#endif

typedef struct tool_opts {
    const char *model;   /* -m DIR */
    const char *backend; /* --backend NAME */
    int threads;         /* -t N */
    int n_ctx;           /* --ctx N */
    int n_batch;         /* -b N */
    bool lm_head_int8;   /* --lm-head-int8 */
} tool_opts;

void tool_opts_init(tool_opts *o);
/* Consumes argv[*i] (and its value) if it is one of the shared options; returns 1 if consumed, 0 if not, -1 on
 * a bad value (message printed). */
int tool_opts_parse(tool_opts *o, int argc, char **argv, int *i);
extern const char *const TOOL_OPTS_HELP;

/* Reads the value of option argv[*i] into *out; -1 with a message if missing or malformed. */
int arg_int(int argc, char **argv, int *i, int *out);
int arg_float(int argc, char **argv, int *i, float *out);
int arg_u64(int argc, char **argv, int *i, uint64_t *out);
int arg_str(int argc, char **argv, int *i, const char **out);

int tool_fail(const char *what, const trit_error *err); /* prints "trit: what: msg" to stderr, returns 1 */

/* The model parameters the options ask for (back end, threads, LM head). */
trit_model_params tool_model_params(const tool_opts *o);

/* Loads the model (prints load time to stderr when verbose) and makes a context. */
int tool_load(const tool_opts *o, int n_seq, trit_model **m, trit_ctx **ctx, double *load_s);

/* Reads a whole file (NUL-terminated; *len without the NUL). NULL + message on failure. */
char *tool_read_file(const char *path, size_t *len);

double tool_now(void); /* monotonic seconds */

#endif
