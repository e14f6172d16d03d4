/* safetensors.c — validating, mmap-backed reader of .safetensors files (see safetensors.h).
 *
 * Layout: u64 little-endian header length H, H bytes of JSON, then the data area. Each JSON entry other than
 * "__metadata__" is {"dtype": s, "shape": [ints], "data_offsets": [begin, end]}, offsets relative to the data
 * area. Everything is checked before a tensor is exposed: dtype, shape (non-negative, ≤ 8 dims, product × element
 * size == end − begin with overflow checks), begin ≤ end ≤ data size, no two tensors overlapping, unique names.
 * Tensors of a well-formed but unsupported dtype (F64, I64, BOOL, ...) do not make the file fail: they are kept
 * aside so that a lookup of that very tensor can say why it cannot be used. Not a writer. */
#include "formats/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* 100 MB: real headers are well under 1 MB */

// --- types

typedef struct st_unsupported {
    char *name;
    char dtype[16];
} st_unsupported;

struct trit_st_file {
    char *path;            /* file path or label, for messages */
    void *map;             /* mmap base, NULL for in-memory images */
    size_t map_size;
    const uint8_t *base;   /* the whole image */
    size_t size;
    int32_t n;
    trit_st_tensor *t;     /* [n], sorted by name */
    int32_t n_unsup;
    st_unsupported *unsup; /* [n_unsup] tensors of a dtype trit cannot use */
};

struct trit_st_set {
    int32_t n_files;
    trit_st_file **files;
    int32_t n;
    const trit_st_tensor **t; /* [n] all tensors of all files, sorted by name */
};

static const struct {
    const char *name;
    trit_st_dtype dt;
    size_t size;
} k_dtypes[] = {
    {"BF16", TRIT_ST_BF16, 2}, {"F16", TRIT_ST_F16, 2}, {"F32", TRIT_ST_F32, 4},
    {"U8", TRIT_ST_U8, 1},     {"I8", TRIT_ST_I8, 1},
};

/* dtypes of the safetensors spec that trit does not read; their size is still used to validate offsets */
static const struct {
    const char *name;
    size_t size;
} k_other_dtypes[] = {
    {"F64", 8}, {"I64", 8}, {"U64", 8}, {"I32", 4}, {"U32", 4}, {"I16", 2}, {"U16", 2}, {"BOOL", 1},
    {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
};

const char *trit_st_dtype_name(trit_st_dtype dt) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (k_dtypes[i].dt == dt)
            return k_dtypes[i].name;
    return "?";
}

size_t trit_st_dtype_size(trit_st_dtype dt) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (k_dtypes[i].dt == dt)
            return k_dtypes[i].size;
    return 0;
}

// --- element conversion (the scalar conversions live in core/fp16.h)

float trit_st_read_f32(const trit_st_tensor *t, int64_t i) {
    if (!t || i < 0 || i >= t->n_elems)
        return NAN;
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case TRIT_ST_BF16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return trit_bf16_to_f32(h);
    }
    case TRIT_ST_F16: {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        return trit_f16_to_f32(h);
    }
    case TRIT_ST_F32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case TRIT_ST_U8: return (float)p[i];
    case TRIT_ST_I8: return (float)(int8_t)p[i];
    }
    return NAN;
}

// --- header parsing

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const trit_st_tensor *)a)->name, ((const trit_st_tensor *)b)->name);
}

typedef struct {
    uint64_t begin, end;
    const char *name;
} st_span;

static int cmp_span(const void *a, const void *b) {
    const st_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static void file_free(trit_st_file *f) {
    if (!f)
        return;
    for (int32_t i = 0; i < f->n; i++)
        free((char *)f->t[i].name);
    for (int32_t i = 0; i < f->n_unsup; i++)
        free(f->unsup[i].name);
    free(f->t);
    free(f->unsup);
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->path);
    free(f);
}

/* Non-negative JSON integer → u64; anything else (real, negative, string) fails. */
static int get_uint(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

/* Validates one entry and fills `t` (dtype known) or `u` (dtype unsupported). *is_known tells which.
 * *span receives the byte range for the overlap check. */
static trit_status parse_entry(trit_st_file *f, const char *name, const json_t *v, uint64_t data_size,
                               trit_st_tensor *t, st_unsupported *u, int *is_known, st_span *span,
                               trit_error *err) {
    const char *path = f->path;
    if (!json_is_object(v))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": header entry is not an object", path, name);
    const json_t *jd = json_object_get(v, "dtype");
    const json_t *js = json_object_get(v, "shape");
    const json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": needs string \"dtype\", array \"shape\" and "
                         "array \"data_offsets\"", path, name);
    const char *ds = json_string_value(jd);
    size_t esize = 0;
    *is_known = 0;
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (strcmp(ds, k_dtypes[i].name) == 0) {
            t->dtype = k_dtypes[i].dt;
            esize = k_dtypes[i].size;
            *is_known = 1;
        }
    for (size_t i = 0; !*is_known && i < sizeof k_other_dtypes / sizeof k_other_dtypes[0]; i++)
        if (strcmp(ds, k_other_dtypes[i].name) == 0)
            esize = k_other_dtypes[i].size;
    /* a dtype name trit has never heard of is kept as unsupported too (future safetensors dtypes); its size is
     * unknown, so only its offsets are checked */
    if (strlen(ds) == 0 || strlen(ds) >= sizeof u->dtype)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": bad dtype \"%.32s\"", path, name, ds);

    size_t nd = json_array_size(js);
    if (nd > TRIT_ST_MAX_DIMS)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": %zu dims (at most %d)", path, name, nd,
                         TRIT_ST_MAX_DIMS);
    uint64_t n_elems = 1, shape[TRIT_ST_MAX_DIMS];
    for (size_t i = 0; i < nd; i++) {
        if (!get_uint(json_array_get(js, i), &shape[i]))
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": shape[%zu] is not a non-negative integer",
                             path, name, i);
        if (__builtin_mul_overflow(n_elems, shape[i], &n_elems) || n_elems > (uint64_t)INT64_MAX)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": element count overflows", path, name);
    }
    uint64_t bytes;
    if (__builtin_mul_overflow(n_elems, (uint64_t)esize, &bytes))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": byte size overflows", path, name);

    uint64_t begin, end;
    if (json_array_size(jo) != 2 || !get_uint(json_array_get(jo, 0), &begin) ||
        !get_uint(json_array_get(jo, 1), &end))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": data_offsets must be two non-negative integers",
                         path, name);
    if (begin > end || end > data_size)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": data_offsets [%llu, %llu] outside the data area "
                         "of %llu bytes", path, name, (unsigned long long)begin, (unsigned long long)end,
                         (unsigned long long)data_size);
    if (esize != 0 && end - begin != bytes)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensor \"%s\": shape and dtype %s give %llu bytes but "
                         "data_offsets span %llu", path, name, ds, (unsigned long long)bytes,
                         (unsigned long long)(end - begin));

    char *copy = strdup(name);
    if (!copy)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", path);
    span->begin = begin;
    span->end = end;
    span->name = copy;
    if (!*is_known) {
        u->name = copy;
        snprintf(u->dtype, sizeof u->dtype, "%s", ds);
        return TRIT_OK;
    }
    t->name = copy;
    t->n_dims = (int32_t)nd;
    for (size_t i = 0; i < TRIT_ST_MAX_DIMS; i++)
        t->shape[i] = i < nd ? (int64_t)shape[i] : 0;
    t->n_elems = (int64_t)n_elems;
    t->bytes = (size_t)bytes;
    t->data = f->base + (f->size - data_size) + begin; /* data area starts after 8 + H bytes */
    t->file = f->path;
    return TRIT_OK;
}

/* Parses f->base/f->size into f->t / f->unsup. On failure f keeps what it owns so file_free can release it. */
static trit_status parse_image(trit_st_file *f, trit_error *err) {
    const char *path = f->path;
    if (f->size < 8)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: %zu bytes, too short for a safetensors file (8-byte header "
                         "length missing)", path, f->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | f->base[i];
    if (hlen > ST_MAX_HEADER || hlen > f->size - 8)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: header length %llu is larger than %s (%zu bytes)", path,
                         (unsigned long long)hlen, hlen > ST_MAX_HEADER ? "the 100 MB limit" : "the file",
                         f->size);
    uint64_t data_size = f->size - 8 - hlen;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)f->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: header JSON invalid at byte %d: %s", path, jerr.position,
                         jerr.text);
    trit_status st = TRIT_OK;
    st_span *spans = NULL;
    size_t n_keys = json_is_object(root) ? json_object_size(root) : 0;
    if (!json_is_object(root)) {
        st = TRIT_FAIL(err, TRIT_E_FORMAT, "%s: header JSON is not an object", path);
        goto done;
    }
    f->t = calloc(n_keys + 1, sizeof *f->t);
    f->unsup = calloc(n_keys + 1, sizeof *f->unsup);
    spans = calloc(n_keys + 1, sizeof *spans);
    if (!f->t || !f->unsup || !spans) {
        st = TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory for %zu header entries", path, n_keys);
        goto done;
    }
    size_t n_spans = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0)
            continue; /* free-form string map; nothing trit needs */
        int known = 0;
        st = parse_entry(f, key, val, data_size, &f->t[f->n], &f->unsup[f->n_unsup], &known, &spans[n_spans],
                         err);
        if (st != TRIT_OK)
            goto done;
        n_spans++;
        if (known)
            f->n++;
        else
            f->n_unsup++;
    }
    /* overlap: sorted by begin, each non-empty range must start at or after the previous one's end */
    qsort(spans, n_spans, sizeof *spans, cmp_span);
    uint64_t prev_end = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < n_spans; i++) {
        if (spans[i].begin == spans[i].end)
            continue;
        if (prev && spans[i].begin < prev_end) {
            st = TRIT_FAIL(err, TRIT_E_FORMAT, "%s: tensors \"%s\" and \"%s\" overlap (data_offsets %llu < %llu)",
                           path, prev, spans[i].name, (unsigned long long)spans[i].begin,
                           (unsigned long long)prev_end);
            goto done;
        }
        prev_end = spans[i].end;
        prev = spans[i].name;
    }
    qsort(f->t, (size_t)f->n, sizeof *f->t, cmp_tensor_name);
done:
    free(spans);
    json_decref(root);
    return st;
}

static trit_status file_new(const char *label, trit_st_file **out, trit_error *err) {
    trit_st_file *f = calloc(1, sizeof *f);
    if (f)
        f->path = strdup(label ? label : "(memory)");
    if (!f || !f->path) {
        free(f);
        return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", label ? label : "(memory)");
    }
    *out = f;
    return TRIT_OK;
}

// --- lifecycle

trit_status trit_st_open_memory(const void *data, size_t size, const char *label, trit_st_file **out,
                                trit_error *err) {
    *out = NULL;
    trit_st_file *f = NULL;
    TRIT_TRY(file_new(label, &f, err));
    f->base = data;
    f->size = size;
    trit_status st = parse_image(f, err);
    if (st != TRIT_OK) {
        file_free(f);
        return st;
    }
    *out = f;
    return TRIT_OK;
}

trit_status trit_st_open(const char *path, trit_st_file **out, trit_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TRIT_FAIL(err, TRIT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return TRIT_FAIL(err, TRIT_E_IO, "%s: not a regular file", path);
    }
    if (sb.st_size < 8) {
        close(fd);
        return TRIT_FAIL(err, TRIT_E_FORMAT, "%s: %lld bytes, too short for a safetensors file", path,
                         (long long)sb.st_size);
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED)
        return TRIT_FAIL(err, TRIT_E_IO, "%s: mmap of %lld bytes failed: %s", path, (long long)sb.st_size,
                         strerror(map_errno));
    trit_st_file *f = NULL;
    trit_status st = file_new(path, &f, err);
    if (st != TRIT_OK) {
        munmap(map, (size_t)sb.st_size);
        return st;
    }
    f->map = map;
    f->map_size = (size_t)sb.st_size;
    f->base = map;
    f->size = (size_t)sb.st_size;
    st = parse_image(f, err);
    if (st != TRIT_OK) {
        file_free(f);
        return st;
    }
    *out = f;
    return TRIT_OK;
}

void trit_st_close(trit_st_file *f) { file_free(f); }

int32_t trit_st_count(const trit_st_file *f) { return f ? f->n : 0; }

const trit_st_tensor *trit_st_get(const trit_st_file *f, int32_t i) {
    return f && i >= 0 && i < f->n ? &f->t[i] : NULL;
}

const trit_st_tensor *trit_st_file_find(const trit_st_file *f, const char *name) {
    if (!f || !name)
        return NULL;
    trit_st_tensor key = {.name = name};
    return bsearch(&key, f->t, (size_t)f->n, sizeof *f->t, cmp_tensor_name);
}

const char *trit_st_file_unsupported_dtype(const trit_st_file *f, const char *name) {
    for (int32_t i = 0; f && name && i < f->n_unsup; i++)
        if (strcmp(f->unsup[i].name, name) == 0)
            return f->unsup[i].dtype;
    return NULL;
}

// --- folder of files

static int cmp_tensor_ptr(const void *a, const void *b) {
    return strcmp((*(const trit_st_tensor *const *)a)->name, (*(const trit_st_tensor *const *)b)->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n > m && strcmp(s + n - m, suf) == 0;
}

void trit_st_set_close(trit_st_set *s) {
    if (!s)
        return;
    for (int32_t i = 0; i < s->n_files; i++)
        file_free(s->files[i]);
    free(s->files);
    free(s->t);
    free(s);
}

/* Lists dir's *.safetensors (sorted) into *names; model.safetensors alone when present. */
static trit_status list_files(const char *dir, char ***names, size_t *count, trit_error *err) {
    *names = NULL;
    *count = 0;
    size_t cap = 0;
    char single[4096];
    snprintf(single, sizeof single, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(single, &sb) == 0) {
        *names = malloc(sizeof **names);
        if (*names && ((*names)[0] = strdup("model.safetensors")) != NULL) {
            *count = 1;
            return TRIT_OK;
        }
        free(*names);
        *names = NULL;
        return TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", dir);
    }
    DIR *d = opendir(dir);
    if (!d)
        return TRIT_FAIL(err, TRIT_E_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    struct dirent *e;
    trit_status st = TRIT_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".safetensors"))
            continue;
        if (*count == cap) {
            cap = cap ? 2 * cap : 8;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown) {
                st = TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", dir);
                break;
            }
            *names = grown;
        }
        if (((*names)[*count] = strdup(e->d_name)) == NULL) {
            st = TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", dir);
            break;
        }
        (*count)++;
    }
    closedir(d);
    if (st == TRIT_OK && *count == 0)
        st = TRIT_FAIL(err, TRIT_E_IO, "%s: no model.safetensors and no *.safetensors files", dir);
    if (st == TRIT_OK)
        qsort(*names, *count, sizeof **names, cmp_str);
    return st;
}

trit_status trit_st_open_dir(const char *dir, trit_st_set **out, trit_error *err) {
    *out = NULL;
    char **names;
    size_t count;
    trit_status st = list_files(dir, &names, &count, err);
    trit_st_set *s = NULL;
    if (st != TRIT_OK)
        goto done;
    s = calloc(1, sizeof *s);
    if (!s || !(s->files = calloc(count, sizeof *s->files))) {
        st = TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
            st = TRIT_FAIL(err, TRIT_E_ARG, "%s/%s: path too long", dir, names[i]);
            goto done;
        }
        if ((st = trit_st_open(path, &s->files[s->n_files], err)) != TRIT_OK)
            goto done;
        total += (size_t)s->files[s->n_files]->n;
        s->n_files++;
    }
    if (!(s->t = malloc((total + 1) * sizeof *s->t))) {
        st = TRIT_FAIL(err, TRIT_E_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    for (int32_t i = 0; i < s->n_files; i++)
        for (int32_t j = 0; j < s->files[i]->n; j++)
            s->t[s->n++] = &s->files[i]->t[j];
    qsort(s->t, (size_t)s->n, sizeof *s->t, cmp_tensor_ptr);
    for (int32_t i = 1; i < s->n; i++)
        if (strcmp(s->t[i - 1]->name, s->t[i]->name) == 0) {
            st = TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" is in both %s and %s", s->t[i]->name,
                           s->t[i - 1]->file, s->t[i]->file);
            goto done;
        }
    /* a name held as a usable tensor in one file and an unsupported one in another is a duplicate too */
    for (int32_t i = 0; i < s->n_files; i++)
        for (int32_t j = 0; j < s->files[i]->n_unsup; j++) {
            const trit_st_tensor *t = trit_st_find(s, s->files[i]->unsup[j].name);
            if (t) {
                st = TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" is in both %s and %s", t->name, t->file,
                               s->files[i]->path);
                goto done;
            }
        }
done:
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (st != TRIT_OK) {
        trit_st_set_close(s);
        return st;
    }
    *out = s;
    return TRIT_OK;
}

const trit_st_tensor *trit_st_find(const trit_st_set *s, const char *name) {
    if (!s || !name)
        return NULL;
    trit_st_tensor key = {.name = name};
    const trit_st_tensor *kp = &key;
    const trit_st_tensor *const *hit = bsearch(&kp, s->t, (size_t)s->n, sizeof *s->t, cmp_tensor_ptr);
    return hit ? *hit : NULL;
}

int32_t trit_st_set_count(const trit_st_set *s) { return s ? s->n : 0; }

const trit_st_tensor *trit_st_set_get(const trit_st_set *s, int32_t i) {
    return s && i >= 0 && i < s->n ? s->t[i] : NULL;
}

const char *trit_st_unsupported_dtype(const trit_st_set *s, const char *name, const char **file) {
    for (int32_t i = 0; s && i < s->n_files; i++) {
        const char *dt = trit_st_file_unsupported_dtype(s->files[i], name);
        if (dt) {
            if (file)
                *file = s->files[i]->path;
            return dt;
        }
    }
    return NULL;
}

void trit_st_set_release(const trit_st_set *s, const trit_st_tensor *t) {
    if (!s || !t)
        return;
    for (int32_t i = 0; i < s->n_files; i++) {
        const trit_st_file *f = s->files[i];
        const uint8_t *lo = (const uint8_t *)t->data, *hi = lo + t->bytes;
        if (!f->map || lo < f->base || hi > f->base + f->size)
            continue;
        long page = sysconf(_SC_PAGESIZE);
        uintptr_t a = ((uintptr_t)lo + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
        uintptr_t b = (uintptr_t)hi & ~((uintptr_t)page - 1);
        if (b > a)
            madvise((void *)a, b - a, MADV_DONTNEED); /* private read-only file mapping: pages are dropped */
        return;
    }
}
