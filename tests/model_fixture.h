/* model_fixture.h — test helper: writes a random-weight BitNet model folder (config.json + model.safetensors)
 * in the packed (uint8 + weight_scale) or float-master form, so model tests run without downloaded files. */
#ifndef TRIT_TESTS_MODEL_FIXTURE_H
#define TRIT_TESTS_MODEL_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct fixture_cfg {
    int hidden, inter, layers, heads, kv_heads, vocab, max_pos;
    bool tied, packed, silu;
    uint64_t seed;
    const char *omit_tensor; /* leave this tensor out (error tests); NULL = complete */
    const char *bad_shape;   /* give this tensor a wrong shape (error tests) */
    const char *dir;         /* write here (created if missing); NULL = a new temporary folder */
} fixture_cfg;

fixture_cfg fixture_default(void);
/* Writes the folder; returns its path (malloc'd; remove with st_rmtree) or NULL. */
char *fixture_write(const fixture_cfg *c);

#endif
