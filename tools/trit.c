/* trit.c — the trit command: one binary, several subcommands. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "interactive chat with the model's chat template"},
    {"tokenize", cmd_tokenize, "print the token ids or pieces of a text"},
    {"ppl", cmd_ppl, "perplexity of a text file, and KL divergence against a saved run"},
    {"bench", cmd_bench, "kernel and end-to-end benchmarks (table or JSON)"},
};

static void usage(FILE *f) {
    fprintf(f, "trit — inference engine for ternary (BitNet b1.58) language models\n\n"
               "usage: trit <command> [options]     (trit <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\nenvironment: TRIT_MODEL (default model folder), TRIT_BACKEND (auto, ref, cpu, cuda)\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("trit " TRIT_VERSION "\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trit: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
