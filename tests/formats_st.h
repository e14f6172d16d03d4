/* formats_st.h — test helper: builds safetensors images in memory (and on disk) from a list of tensors, so the
 * reader's tests and the weights tests can make valid files and then corrupt them byte by byte. */
#ifndef TRIT_TESTS_FORMATS_ST_H
#define TRIT_TESTS_FORMATS_ST_H

#include <stddef.h>
#include <stdint.h>

typedef struct st_spec {
    const char *name;
    const char *dtype;   /* "BF16", "F32", "U8", ... (any string: the builder does not check it) */
    int n_dims;
    int64_t shape[8];
    const void *data;    /* bytes of the tensor, stored in list order */
    size_t bytes;
} st_spec;

/* A complete file image (malloc'd; *size set): header length, JSON header padded with spaces to a multiple of 8,
 * then the tensors' data back to back. data_offsets follow from the list order and byte counts. */
uint8_t *st_build(const st_spec *t, int n, size_t *size);
/* An image with a caller-written JSON header and data area. */
uint8_t *st_build_raw(const char *header, const void *data, size_t data_len, size_t *size);
/* Header length of an image (its first 8 bytes, little-endian). */
uint64_t st_header_len(const uint8_t *img);

/* Temporary folder helpers (paths malloc'd). */
char *st_tmpdir(void);
int st_write(const char *dir, const char *name, const void *img, size_t size); /* 0 on success */
void st_rmtree(char *dir); /* removes the files in dir, dir itself, and frees the path */

#endif
