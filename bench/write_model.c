/* write_model.c — writes a random-weight BitNet model folder (config.json + model.safetensors, packed uint8 +
 * weight_scale, or bf16 masters) of any shape, so that load time and peak memory of real files at the 2B-4T shapes
 * can be measured without a download:
 *   bench_write_model DIR [--bf16] [--small]     (default: the 2B-4T shapes, packed: about 1.2 GB)
 * The folder has no tokenizer.json (bench model mode feeds token ids). Uses the test fixture writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_fixture.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [--bf16] [--small]\n", argv[0]);
        return 2;
    }
    fixture_cfg c = {.hidden = 2560, .inter = 6912, .layers = 30, .heads = 20, .kv_heads = 5, .vocab = 128256,
                     .max_pos = 4096, .tied = true, .packed = true, .seed = 1};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bf16"))
            c.packed = false;
        else if (!strcmp(argv[i], "--small"))
            c.hidden = 256, c.inter = 688, c.layers = 4, c.heads = 4, c.kv_heads = 1, c.vocab = 4096;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    c.dir = argv[1];
    char *dir = fixture_write(&c);
    if (!dir) {
        fprintf(stderr, "cannot write the model to %s\n", argv[1]);
        return 1;
    }
    free(dir);
    printf("wrote %s\n", argv[1]);
    return 0;
}
