/* safetensors.h — read-only, mmap-backed reader of .safetensors files and of a folder of them.
 * Every number in the header is treated as hostile: the JSON header is validated (dtype known, shape
 * consistent with byte size, offsets inside the data area, no overlap, overflow-safe arithmetic) before any
 * tensor pointer is handed out. Not a writer. */
#ifndef TRIT_FORMATS_SAFETENSORS_H
#define TRIT_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/fp16.h"
#include "trit.h"

typedef enum {
    TRIT_ST_BF16,
    TRIT_ST_F16,
    TRIT_ST_F32,
    TRIT_ST_U8,
    TRIT_ST_I8,
} trit_st_dtype;

#define TRIT_ST_MAX_DIMS 8

typedef struct trit_st_tensor {
    const char *name;  /* NUL-terminated, owned by the file */
    trit_st_dtype dtype;
    int32_t n_dims;
    int64_t shape[TRIT_ST_MAX_DIMS];
    int64_t n_elems;
    const void *data;  /* inside the mapping; not necessarily aligned to the element size */
    size_t bytes;
    const char *file;  /* path of the file it came from (for messages) */
} trit_st_tensor;

typedef struct trit_st_file trit_st_file;
typedef struct trit_st_set trit_st_set; /* all *.safetensors of a model folder */

trit_status trit_st_open(const char *path, trit_st_file **out, trit_error *err);
/* Parses a safetensors image already in memory (used by the fuzzer and tests); `data` must outlive the file. */
trit_status trit_st_open_memory(const void *data, size_t size, const char *label, trit_st_file **out,
                                trit_error *err);
void trit_st_close(trit_st_file *f);
int32_t trit_st_count(const trit_st_file *f);
const trit_st_tensor *trit_st_get(const trit_st_file *f, int32_t i);
const trit_st_tensor *trit_st_file_find(const trit_st_file *f, const char *name);

/* Opens model.safetensors or every *.safetensors in dir (sorted; model.safetensors.index.json not required).
 * A tensor name present in two files is an error. */
trit_status trit_st_open_dir(const char *dir, trit_st_set **out, trit_error *err);
void trit_st_set_close(trit_st_set *s);
const trit_st_tensor *trit_st_find(const trit_st_set *s, const char *name);
int32_t trit_st_set_count(const trit_st_set *s);
const trit_st_tensor *trit_st_set_get(const trit_st_set *s, int32_t i);

/* Tensors whose dtype trit cannot read (F64, I64, BOOL, unknown names) do not make a file fail to open; they are
 * not returned by the find/get calls. These return their dtype name (and file) so a lookup can say why, or NULL. */
const char *trit_st_file_unsupported_dtype(const trit_st_file *f, const char *name);
const char *trit_st_unsupported_dtype(const trit_st_set *s, const char *name, const char **file);

/* Tells the OS that the bytes of tensor `t` (a tensor of set s) will not be read again, so the pages of the
 * mapping that lie wholly inside it can leave memory (they are read again from the file if touched). Keeps peak
 * memory at the packed model instead of packed model + file while weights are repacked. No-op for in-memory
 * images. */
void trit_st_set_release(const trit_st_set *s, const trit_st_tensor *t);

const char *trit_st_dtype_name(trit_st_dtype dt);
size_t trit_st_dtype_size(trit_st_dtype dt);

/* Element conversions: trit_bf16_to_f32, trit_f16_to_f32, trit_f32_to_bf16 (core/fp16.h). */
/* Reads element i of a float tensor (bf16/f16/f32) as f32. */
float trit_st_read_f32(const trit_st_tensor *t, int64_t i);

#endif
