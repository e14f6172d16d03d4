/* fuzz_safetensors.c — libFuzzer target for the safetensors header parser (trit_st_open_memory).
 * Any input must give an error or a file whose every tensor lies inside the input; the tensors' bytes are all
 * read so ASan sees an out-of-bounds pointer, and the invariants are checked explicitly. */
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    trit_st_file *f = NULL;
    trit_error err;
    if (trit_st_open_memory(data, size, "fuzz.safetensors", &f, &err) != TRIT_OK) {
        if (f || err.msg[0] == 0)
            __builtin_trap(); /* a failure must leave no file and must say why */
        return 0;
    }
    volatile unsigned sum = 0;
    for (int32_t i = 0; i < trit_st_count(f); i++) {
        const trit_st_tensor *t = trit_st_get(f, i);
        const uint8_t *p = (const uint8_t *)t->data;
        if (p < data + 8 || t->bytes > size || p + t->bytes > data + size ||
            t->bytes != (size_t)t->n_elems * trit_st_dtype_size(t->dtype) || t->n_dims < 0 ||
            t->n_dims > TRIT_ST_MAX_DIMS || trit_st_file_find(f, t->name) != t)
            __builtin_trap();
        for (size_t b = 0; b < t->bytes; b++)
            sum += p[b];
        if (t->n_elems > 0) {
            float a = trit_st_read_f32(t, 0), z = trit_st_read_f32(t, t->n_elems - 1);
            sum += (a == a) + (z == z);
        }
    }
    (void)sum;
    trit_st_close(f);
    return 0;
}
