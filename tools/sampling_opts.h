/* sampling_opts.h — the sampling flags shared by run, chat (and later serve). */
#ifndef TRIT_TOOLS_SAMPLING_OPTS_H
#define TRIT_TOOLS_SAMPLING_OPTS_H

#include "trit.h"

extern const char *const SAMPLING_HELP;
/* 1 consumed, 0 not a sampling flag, -1 bad value (message printed). */
int sampling_opts_parse(trit_sampler_params *p, int argc, char **argv, int *i);

#endif
