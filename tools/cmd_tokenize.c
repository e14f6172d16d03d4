/* cmd_tokenize.c — `trit tokenize`: text to token ids or pieces with the model's tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common.h"

static void tokenize_help(void) {
    printf("usage: trit tokenize [-m DIR | --tokenizer FILE] (-p TEXT | -f FILE) [--ids | --pieces] [--no-bos]\n"
           "                     [--special]\n\n"
           "Prints the token ids of the text on one line, space-separated (--ids, the default), or one token per\n"
           "line as `id<TAB>piece` (--pieces; bytes that are not printable UTF-8 are shown as \\xNN).\n\n"
           "  -m, --model DIR       model folder whose tokenizer.json is used (default " TRIT_DEFAULT_MODEL ")\n"
           "      --tokenizer FILE  a tokenizer.json, or a tiktoken rank file (Llama 3 specials) given by\n"
           "                        --tiktoken FILE\n"
           "  -p, --prompt TEXT     the text\n"
           "  -f, --file FILE       read the text from a file\n"
           "      --no-bos          do not prepend the BOS token\n"
           "      --special         recognise special-token text such as <|eot_id|>\n");
}

static void print_piece(const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\')
            fputs("\\\\", stdout);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else if (c < 0x80)
            putchar(c);
        else {
            /* print a complete, valid UTF-8 sequence as is; stray bytes as \xNN */
            int need = c >= 0xf0 && c < 0xf5 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : -1;
            bool ok = need > 0 && i + (size_t)need < n + 0;
            for (int k = 1; ok && k <= need; k++)
                ok = ((unsigned char)p[i + k] & 0xc0) == 0x80;
            if (ok) {
                fwrite(p + i, 1, (size_t)need + 1, stdout);
                i += (size_t)need;
            } else {
                printf("\\x%02x", c);
            }
        }
    }
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = getenv("TRIT_MODEL");
    if (!model || !*model)
        model = TRIT_DEFAULT_MODEL;
    const char *tok_file = NULL, *tiktoken = NULL, *text = NULL, *file = NULL;
    bool pieces = false, bos = true, special = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tokenize_help();
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (arg_str(argc, argv, &i, &model) < 0)
                return 2;
        } else if (!strcmp(a, "--tokenizer")) {
            if (arg_str(argc, argv, &i, &tok_file) < 0)
                return 2;
        } else if (!strcmp(a, "--tiktoken")) {
            if (arg_str(argc, argv, &i, &tiktoken) < 0)
                return 2;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (arg_str(argc, argv, &i, &text) < 0)
                return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (arg_str(argc, argv, &i, &file) < 0)
                return 2;
        } else if (!strcmp(a, "--ids")) {
            pieces = false;
        } else if (!strcmp(a, "--pieces")) {
            pieces = true;
        } else if (!strcmp(a, "--no-bos")) {
            bos = false;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else {
            fprintf(stderr, "trit tokenize: unknown option '%s' (see trit tokenize --help)\n", a);
            return 2;
        }
    }
    char *buf = NULL;
    size_t len = 0;
    if (file) {
        if (!(buf = tool_read_file(file, &len)))
            return 1;
        text = buf;
    } else if (text) {
        len = strlen(text);
    } else {
        fprintf(stderr, "trit tokenize: give the text with -p TEXT or -f FILE\n");
        return 2;
    }
    trit_error err = {0};
    trit_tokenizer *tok = NULL;
    char path[4096];
    trit_status s;
    if (tiktoken) {
        s = trit_tokenizer_load_tiktoken(tiktoken, &tok, &err);
    } else {
        if (!tok_file) {
            snprintf(path, sizeof path, "%s/tokenizer.json", model);
            tok_file = path;
        }
        s = trit_tokenizer_load_hf(tok_file, &tok, &err);
    }
    if (s != TRIT_OK) {
        free(buf);
        return tool_fail("cannot load the tokenizer", &err);
    }
    size_t cap = len + 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    int flags = (bos ? TRIT_TOK_ADD_BOS : 0) | (special ? TRIT_TOK_SPECIAL : 0);
    int rc = 0;
    if (!ids || trit_tokenize(tok, text, len, flags, ids, cap, &n, &err) != TRIT_OK) {
        rc = tool_fail("cannot tokenize", &err);
    } else if (pieces) {
        for (size_t i = 0; i < n; i++) {
            size_t pl = 0;
            const char *p = trit_token_bytes(tok, ids[i], &pl);
            printf("%d\t", ids[i]);
            if (p)
                print_piece(p, pl);
            putchar('\n');
        }
    } else {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    free(ids);
    free(buf);
    trit_tokenizer_free(tok);
    return rc;
}
