/* cmd_run.c — `trit run`: prompt in, streamed text out; load time and speeds on stderr. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"
#include "generate.h"
#include "sampling_opts.h"

static void run_help(void) {
    printf("usage: trit run [-m DIR] (-p TEXT | -f FILE) [-n N] [options]\n\n"
           "Generates a continuation of the prompt and streams it to stdout; load time, prompt tokens/s and\n"
           "generation tokens/s go to stderr.\n\n"
           "  -p, --prompt TEXT    the prompt\n"
           "  -f, --file FILE      read the prompt from a file\n"
           "  -n, --n-predict N    tokens to generate (default 128; -1 = until an end token or a full context)\n"
           "      --no-bos         do not prepend the BOS token\n"
           "      --special        recognise special-token text such as <|eot_id|> in the prompt\n"
           "      --ignore-eos     keep generating past end tokens\n"
           "      --echo           print the prompt before the continuation\n"
           "  -q, --quiet          no statistics on stderr\n"
           "%s%s",
           TOOL_OPTS_HELP, SAMPLING_HELP);
}

int cmd_run(int argc, char **argv) {
    tool_opts o;
    tool_opts_init(&o);
    trit_sampler_params sp = trit_sampler_default_params();
    const char *prompt = NULL, *file = NULL;
    int n_predict = 128;
    bool bos = true, special = false, ignore_eos = false, echo = false, quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = tool_opts_parse(&o, argc, argv, &i);
        if (r == 0)
            r = sampling_opts_parse(&sp, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_help();
            return 0;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (arg_str(argc, argv, &i, &prompt) < 0)
                return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (arg_str(argc, argv, &i, &file) < 0)
                return 2;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (arg_int(argc, argv, &i, &n_predict) < 0)
                return 2;
        } else if (!strcmp(a, "--no-bos")) {
            bos = false;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = true;
        } else if (!strcmp(a, "--echo")) {
            echo = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else {
            fprintf(stderr, "trit run: unknown option '%s' (see trit run --help)\n", a);
            return 2;
        }
    }
    char *file_text = NULL;
    size_t len = 0;
    if (file) {
        if (!(file_text = tool_read_file(file, &len)))
            return 1;
        prompt = file_text;
    } else if (prompt) {
        len = strlen(prompt);
    } else {
        fprintf(stderr, "trit run: give a prompt with -p TEXT or -f FILE (see trit run --help)\n");
        return 2;
    }

    trit_model *m = NULL;
    trit_ctx *ctx = NULL;
    double load_s = 0;
    int rc = tool_load(&o, 1, &m, &ctx, &load_s);
    if (rc) {
        free(file_text);
        return rc;
    }
    trit_tokenizer *tok = trit_model_tokenizer(m);
    trit_error err = {0};
    int32_t *ids = NULL;
    trit_sampler *smp = NULL;
    if (!tok) {
        fprintf(stderr, "trit run: the model folder %s has no tokenizer.json\n", o.model);
        rc = 1;
        goto out;
    }
    size_t n_ids = 0, cap = len + 16;
    ids = malloc(cap * sizeof *ids);
    int flags = (bos ? TRIT_TOK_ADD_BOS : 0) | (special ? TRIT_TOK_SPECIAL : 0);
    if (!ids || trit_tokenize(tok, prompt, len, flags, ids, cap, &n_ids, &err) != TRIT_OK) {
        rc = tool_fail("cannot tokenize the prompt", &err);
        goto out;
    }
    if (n_ids == 0) {
        fprintf(stderr, "trit run: the prompt is empty (and no BOS token was added)\n");
        rc = 2;
        goto out;
    }
    if (trit_sampler_new(&sp, trit_model_get_config(m)->vocab_size, &smp, &err) != TRIT_OK) {
        rc = tool_fail("bad sampling parameters", &err);
        goto out;
    }
    if (echo) {
        fwrite(prompt, 1, len, stdout);
        fflush(stdout);
    }
    gen_opts go = {.n_predict = n_predict, .ignore_eos = ignore_eos, .feed_last = false, .out = stdout};
    gen_stats gs;
    trit_status s = generate(m, ctx, smp, ids, (int)n_ids, &go, &gs, &err);
    printf("\n");
    if (s != TRIT_OK) {
        rc = tool_fail("generation failed", &err);
        goto out;
    }
    if (!quiet) {
        fprintf(stderr, "\n[trit] backend %s | load %.3f s | prompt %d tok, %.1f tok/s | generated %d tok, %.1f tok/s%s\n",
                trit_model_backend_name(m), load_s, gs.n_prompt, gs.prompt_s > 0 ? gs.n_prompt / gs.prompt_s : 0.0,
                gs.n_gen, gs.gen_s > 0 ? gs.n_gen / gs.gen_s : 0.0,
                gs.context_full ? " | stopped: context full" : (gs.stopped_eos ? " | stopped: end token" : ""));
    }
out:
    trit_sampler_free(smp);
    free(ids);
    trit_ctx_free(ctx);
    trit_model_free(m);
    free(file_text);
    return rc;
}
