/* cmd_chat.c — `trit chat`: an interactive conversation with the model's chat template, the whole conversation
 * kept in the KV cache (each turn only feeds its new tokens).
 * Template (BitNet b1.58 2B-4T, spec §7 format 1): <|begin_of_text|> once, then `Role: content<|eot_id|>` per
 * message (System/User/Assistant, content trimmed), and `Assistant: ` to ask for a reply. Special tokens are
 * inserted by id, so text the user types is never read as a special token. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "common.h"
#include "generate.h"
#include "sampling_opts.h"
#include "tokenizer/chat.h"

static void chat_help(void) {
    printf("usage: trit chat [-m DIR] [-s SYSTEM] [options]\n\n"
           "Interactive chat on stdin/stdout. Each line you type is one user message; /reset starts over,\n"
           "/exit (or end of input) quits. The conversation stays in the KV cache; when the context is full,\n"
           "trit says so and waits for /reset.\n\n"
           "  -s, --system TEXT    system message\n"
           "  -n, --n-predict N    most tokens per reply (default -1: until <|eot_id|> or a full context)\n"
           "      --stats          print speeds after each reply (stderr)\n"
           "%s%s",
           TOOL_OPTS_HELP, SAMPLING_HELP);
}

/* Ids of the next turn: the system message (first turn only) and the user message, then "Assistant: ". The
 * template starts every formatted prompt with <|begin_of_text|>; later turns continue the cached conversation,
 * so their leading BOS is dropped. */
static trit_status turn_ids(const trit_tokenizer *tok, const char *system, const char *user, bool first,
                            int32_t **ids, size_t *n, trit_error *err) {
    trit_chat_msg msgs[2];
    size_t k = 0;
    if (first && system && *system)
        msgs[k++] = (trit_chat_msg){"system", system};
    msgs[k++] = (trit_chat_msg){"user", user};
    trit_status s = trit_chat_format(tok, msgs, k, true, ids, n, err);
    if (s == TRIT_OK && !first && *n > 0 && (*ids)[0] == trit_tokenizer_bos(tok)) {
        memmove(*ids, *ids + 1, (*n - 1) * sizeof **ids);
        (*n)--;
    }
    return s;
}

int cmd_chat(int argc, char **argv) {
    tool_opts o;
    tool_opts_init(&o);
    trit_sampler_params sp = trit_sampler_default_params();
    const char *system = NULL;
    int n_predict = -1;
    bool stats = false;
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
            chat_help();
            return 0;
        } else if (!strcmp(a, "-s") || !strcmp(a, "--system")) {
            if (arg_str(argc, argv, &i, &system) < 0)
                return 2;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            if (arg_int(argc, argv, &i, &n_predict) < 0)
                return 2;
        } else if (!strcmp(a, "--stats")) {
            stats = true;
        } else {
            fprintf(stderr, "trit chat: unknown option '%s' (see trit chat --help)\n", a);
            return 2;
        }
    }
    trit_model *m = NULL;
    trit_ctx *ctx = NULL;
    int rc = tool_load(&o, 1, &m, &ctx, NULL);
    if (rc)
        return rc;
    trit_tokenizer *tok = trit_model_tokenizer(m);
    trit_error err = {0};
    trit_sampler *smp = NULL;
    int32_t *turn = NULL;
    char *line = NULL;
    size_t line_cap = 0;
    int32_t eot = tok ? trit_tokenizer_find(tok, "<|eot_id|>") : -1;
    if (!tok || eot < 0 || trit_tokenizer_find(tok, "<|begin_of_text|>") < 0) {
        fprintf(stderr, "trit chat: the model's tokenizer lacks <|begin_of_text|> or <|eot_id|>, which its chat "
                        "template needs\n");
        rc = 1;
        goto out;
    }
    if (trit_sampler_new(&sp, trit_model_get_config(m)->vocab_size, &smp, &err) != TRIT_OK) {
        rc = tool_fail("bad sampling parameters", &err);
        goto out;
    }
    bool tty = isatty(0);
    if (tty)
        fprintf(stderr, "trit chat — model %s, context %d tokens. /reset starts over, /exit quits.\n", o.model,
                trit_ctx_n_ctx(ctx));
    for (;;) {
        if (tty)
            fprintf(stderr, "\n> ");
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got < 0)
            break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit"))
            break;
        if (!strcmp(line, "/reset")) {
            trit_ctx_seq_clear(ctx, 0);
            trit_sampler_reset(smp);
            fprintf(stderr, "[conversation cleared]\n");
            continue;
        }
        if (got == 0)
            continue;
        free(turn);
        turn = NULL;
        size_t n_turn = 0;
        trit_status s = turn_ids(tok, system, line, trit_ctx_seq_len(ctx, 0) == 0, &turn, &n_turn, &err);
        if (s != TRIT_OK) {
            rc = tool_fail("cannot format the message", &err);
            break;
        }
        int32_t room = trit_ctx_n_ctx(ctx) - trit_ctx_seq_len(ctx, 0);
        if ((int32_t)n_turn >= room) {
            fprintf(stderr,
                    "[context full: the conversation holds %d of %d tokens and this message needs %zu more; type "
                    "/reset to start over, or restart with a larger --ctx]\n",
                    trit_ctx_seq_len(ctx, 0), trit_ctx_n_ctx(ctx), n_turn + 1);
            continue;
        }
        gen_opts go = {.n_predict = n_predict, .ignore_eos = false, .feed_last = true, .out = stdout};
        gen_stats gs;
        int32_t before = trit_ctx_seq_len(ctx, 0);
        s = generate(m, ctx, smp, turn, (int)n_turn, &go, &gs, &err);
        printf("\n");
        fflush(stdout);
        if (s != TRIT_OK) {
            rc = tool_fail("generation failed", &err);
            break;
        }
        if (!gs.stopped_eos) {
            /* The reply was cut (token budget or full context): close the turn so the history stays in the
             * template's shape, if there is room for the end-of-turn token. */
            if (trit_ctx_seq_len(ctx, 0) < trit_ctx_n_ctx(ctx)) {
                trit_batch b = {.n_tokens = 1, .tokens = &eot};
                if (trit_ctx_decode(ctx, &b, &err) != TRIT_OK) {
                    rc = tool_fail("generation failed", &err);
                    break;
                }
            }
            if (gs.context_full)
                fprintf(stderr, "[context full (%d tokens): the reply was cut; type /reset to start over]\n",
                        trit_ctx_n_ctx(ctx));
        }
        if (stats)
            fprintf(stderr, "[%d prompt tokens %.1f tok/s | %d generated %.1f tok/s | context %d/%d (+%d)]\n",
                    gs.n_prompt, gs.prompt_s > 0 ? gs.n_prompt / gs.prompt_s : 0.0, gs.n_gen,
                    gs.gen_s > 0 ? gs.n_gen / gs.gen_s : 0.0, trit_ctx_seq_len(ctx, 0), trit_ctx_n_ctx(ctx),
                    trit_ctx_seq_len(ctx, 0) - before);
    }
out:
    free(line);
    free(turn);
    trit_sampler_free(smp);
    trit_ctx_free(ctx);
    trit_model_free(m);
    return rc;
}
