/* test_safetensors.c — the safetensors reader: round trip, every kind of corrupt header, truncation at every
 * length, bit flips at every header byte, sharded folders, and the bf16/f16 conversions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "formats/safetensors.h"
#include "formats_st.h"

/* A small valid image with one tensor of each readable dtype, a scalar and an empty tensor. */
static uint8_t *sample(size_t *size) {
    static uint16_t bf[15];
    static float f32[4] = {1.5f, -2.25f, 0.0f, 1e-3f};
    static uint8_t u8[6] = {0, 1, 2, 3, 254, 255};
    static int8_t i8[7] = {-128, -1, 0, 1, 2, 3, 127};
    static uint16_t f16 = 0x3c00; /* 1.0 */
    for (int i = 0; i < 15; i++)
        bf[i] = trit_f32_to_bf16((float)i - 7.0f);
    st_spec t[] = {
        {"model.embed_tokens.weight", "BF16", 2, {3, 5}, bf, sizeof bf},
        {"model.norm.weight", "F32", 1, {4}, f32, sizeof f32},
        {"layers.0.q_proj.weight", "U8", 2, {2, 3}, u8, sizeof u8},
        {"empty", "F32", 2, {0, 3}, NULL, 0},
        {"scalar", "F16", 0, {0}, &f16, 2},
        {"i8", "I8", 1, {7}, i8, sizeof i8},
    };
    return st_build(t, 6, size);
}

static trit_status open_img(const uint8_t *img, size_t size, trit_st_file **f, trit_error *err) {
    trit_error_clear(err);
    return trit_st_open_memory(img, size, "test.safetensors", f, err);
}

/* Whatever a successful parse hands out must lie inside the image; touching every byte lets ASan check it. */
static void check_inside(const trit_st_file *f, const uint8_t *img, size_t size) {
    unsigned sum = 0;
    for (int32_t i = 0; i < trit_st_count(f); i++) {
        const trit_st_tensor *t = trit_st_get(f, i);
        const uint8_t *p = t->data;
        assert_true(p >= img + 8 && p + t->bytes <= img + size);
        assert_int_equal(t->bytes, (size_t)t->n_elems * trit_st_dtype_size(t->dtype));
        for (size_t b = 0; b < t->bytes; b++)
            sum += p[b];
        assert_ptr_equal(trit_st_file_find(f, t->name), t);
    }
    (void)sum;
}

// --- valid files

static void test_round_trip(void **state) {
    (void)state;
    size_t size;
    uint8_t *img = sample(&size);
    trit_st_file *f;
    trit_error err;
    assert_int_equal(open_img(img, size, &f, &err), TRIT_OK);
    assert_int_equal(trit_st_count(f), 6);
    for (int32_t i = 1; i < trit_st_count(f); i++) /* handed out sorted by name */
        assert_true(strcmp(trit_st_get(f, i - 1)->name, trit_st_get(f, i)->name) < 0);
    assert_null(trit_st_get(f, 6));
    assert_null(trit_st_file_find(f, "__metadata__"));
    assert_null(trit_st_file_find(f, "nope"));

    const trit_st_tensor *t = trit_st_file_find(f, "model.embed_tokens.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, TRIT_ST_BF16);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 5);
    assert_int_equal(t->n_elems, 15);
    assert_int_equal(t->bytes, 30);
    assert_string_equal(t->file, "test.safetensors");
    for (int i = 0; i < 15; i++)
        assert_true(trit_st_read_f32(t, i) == (float)i - 7.0f);
    assert_true(isnan(trit_st_read_f32(t, 15)));

    t = trit_st_file_find(f, "model.norm.weight");
    assert_int_equal(t->dtype, TRIT_ST_F32);
    assert_true(trit_st_read_f32(t, 1) == -2.25f);
    t = trit_st_file_find(f, "layers.0.q_proj.weight");
    assert_int_equal(t->dtype, TRIT_ST_U8);
    static const uint8_t want_u8[6] = {0, 1, 2, 3, 254, 255};
    assert_memory_equal(t->data, want_u8, 6);
    t = trit_st_file_find(f, "i8");
    assert_true(trit_st_read_f32(t, 0) == -128.0f);
    t = trit_st_file_find(f, "empty");
    assert_int_equal(t->n_elems, 0);
    assert_int_equal(t->bytes, 0);
    t = trit_st_file_find(f, "scalar");
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->n_elems, 1);
    assert_true(trit_st_read_f32(t, 0) == 1.0f);
    check_inside(f, img, size);
    trit_st_close(f);

    /* the same through a real file (mmap path) and a folder */
    char *dir = st_tmpdir();
    assert_non_null(dir);
    assert_int_equal(st_write(dir, "model.safetensors", img, size), 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(trit_st_open(path, &f, &err), TRIT_OK);
    t = trit_st_file_find(f, "model.norm.weight");
    assert_string_equal(t->file, path);
    assert_true(trit_st_read_f32(t, 0) == 1.5f);
    trit_st_close(f);
    trit_st_set *s;
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_OK);
    assert_int_equal(trit_st_set_count(s), 6);
    assert_non_null(trit_st_find(s, "scalar"));
    assert_null(trit_st_find(s, "missing"));
    assert_string_equal(trit_st_set_get(s, 0)->name, "empty");
    trit_st_set_close(s);
    st_rmtree(dir);
    free(img);
}

static void test_dtype_table(void **state) {
    (void)state;
    assert_string_equal(trit_st_dtype_name(TRIT_ST_BF16), "BF16");
    assert_string_equal(trit_st_dtype_name(TRIT_ST_I8), "I8");
    assert_int_equal(trit_st_dtype_size(TRIT_ST_F32), 4);
    assert_int_equal(trit_st_dtype_size(TRIT_ST_F16), 2);
    assert_int_equal(trit_st_dtype_size(TRIT_ST_U8), 1);
}

// --- corruption

static void test_truncated_every_length(void **state) {
    (void)state;
    size_t size;
    uint8_t *img = sample(&size);
    for (size_t len = 0; len < size; len++) {
        uint8_t *cut = malloc(len + 1); /* exact-size copy so ASan sees any read past len */
        memcpy(cut, img, len);
        trit_st_file *f = NULL;
        trit_error err;
        trit_status st = open_img(cut, len, &f, &err);
        assert_int_equal(st, TRIT_E_FORMAT);
        assert_null(f);
        assert_non_null(strstr(err.msg, "test.safetensors"));
        free(cut);
    }
    free(img);
}

static void test_bit_flips_in_header(void **state) {
    (void)state;
    size_t size;
    uint8_t *img = sample(&size);
    size_t hend = 8 + (size_t)st_header_len(img);
    int n_ok = 0, n_err = 0;
    for (size_t pos = 0; pos < hend; pos++)
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *m = malloc(size);
            memcpy(m, img, size);
            m[pos] ^= (uint8_t)(1u << bit);
            trit_st_file *f = NULL;
            trit_error err;
            trit_status st = open_img(m, size, &f, &err);
            if (st == TRIT_OK) {
                check_inside(f, m, size);
                trit_st_close(f);
                n_ok++;
            } else {
                assert_null(f);
                assert_true(err.msg[0] != 0);
                n_err++;
            }
            free(m);
        }
    assert_true(n_err > 0 && n_ok > 0); /* some flips hit names or padding and stay valid */
    free(img);
}

typedef struct {
    const char *header;
    size_t data_len;
    const char *want; /* substring of the message */
} bad_case;

static void test_bad_headers(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"[]", 0, "not an object"},
        {"42", 0, "JSON"}, /* jansson refuses non-container documents itself */
        {"\"x\"", 0, "JSON"},
        {"null", 0, "JSON"},
        {"{", 0, "JSON invalid"},
        {"", 0, "JSON invalid"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} trailing", 8, "JSON invalid"},
        /* duplicate names */
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
         "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2, "JSON invalid"},
        /* overlapping */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}", 8, "overlap"},
        /* offsets past the end, reversed, malformed */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 12, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 12, "outside"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 9, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.0,8]}}", 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 8, "JSON invalid"},
        /* shape / size mismatch and overflow */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "bytes"},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 8, "bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", 8, "overflow"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}}", 8, "overflow"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,0]}}", 8, "overflow"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 8, "dims"},
        /* entry structure */
        {"{\"a\":[1,2]}", 0, "not an object"},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "dtype"},
        {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "dtype"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", 1, "shape"},
        {"{\"a\":{\"dtype\":\"\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "bad dtype"},
        {"{\"a\":{\"dtype\":\"AVERYLONGDTYPENAME\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "bad dtype"},
        {"{\"a\":{\"dtype\":\"U8\\u0000\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "JSON invalid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t zeros[32] = {0};
        size_t size;
        uint8_t *img = st_build_raw(cases[i].header, zeros, cases[i].data_len, &size);
        trit_st_file *f = NULL;
        trit_error err;
        trit_status st = open_img(img, size, &f, &err);
        if (st != TRIT_E_FORMAT || !strstr(err.msg, cases[i].want))
            print_error("case %zu: header %s\n  status %d, message: %s\n", i, cases[i].header, st, err.msg);
        assert_int_equal(st, TRIT_E_FORMAT);
        assert_non_null(strstr(err.msg, cases[i].want));
        assert_non_null(strstr(err.msg, "test.safetensors"));
        assert_null(f);
        free(img);
    }
}

static void test_messages_name_tensor(void **state) {
    (void)state;
    size_t size;
    uint8_t data[8] = {0};
    uint8_t *img = st_build_raw("{\"ok\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                                "\"model.layers.7.mlp.up_proj.weight\":{\"dtype\":\"F32\",\"shape\":[3],"
                                "\"data_offsets\":[4,8]}}", data, 8, &size);
    trit_st_file *f;
    trit_error err;
    assert_int_equal(open_img(img, size, &f, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "model.layers.7.mlp.up_proj.weight"));
    assert_non_null(strstr(err.msg, "12 bytes"));
    free(img);
}

static void test_huge_header_length(void **state) {
    (void)state;
    size_t size;
    uint8_t *img = sample(&size);
    const uint64_t lens[] = {UINT64_MAX, (uint64_t)1 << 63, 100000001, size - 7, size - 8 + 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        uint8_t *m = malloc(size);
        memcpy(m, img, size);
        for (int b = 0; b < 8; b++)
            m[b] = (uint8_t)(lens[i] >> (8 * b));
        trit_st_file *f;
        trit_error err;
        assert_int_equal(open_img(m, size, &f, &err), TRIT_E_FORMAT);
        assert_non_null(strstr(err.msg, "header length"));
        free(m);
    }
    free(img);
}

static void test_unsupported_dtype_opens(void **state) {
    (void)state;
    double f64[2] = {1, 2};
    int64_t i64[3] = {1, 2, 3};
    float f32[1] = {3};
    st_spec t[] = {
        {"rope.inv_freq", "F64", 1, {2}, f64, sizeof f64},
        {"position_ids", "I64", 1, {3}, i64, sizeof i64},
        {"w", "F32", 1, {1}, f32, sizeof f32},
        {"future", "F4_NEW", 1, {5}, f32, 3}, /* unknown dtype: size unknown, only offsets checked */
    };
    size_t size;
    uint8_t *img = st_build(t, 4, &size);
    trit_st_file *f;
    trit_error err;
    assert_int_equal(open_img(img, size, &f, &err), TRIT_OK);
    assert_int_equal(trit_st_count(f), 1);
    assert_null(trit_st_file_find(f, "rope.inv_freq"));
    assert_string_equal(trit_st_file_unsupported_dtype(f, "rope.inv_freq"), "F64");
    assert_string_equal(trit_st_file_unsupported_dtype(f, "position_ids"), "I64");
    assert_string_equal(trit_st_file_unsupported_dtype(f, "future"), "F4_NEW");
    assert_null(trit_st_file_unsupported_dtype(f, "w"));
    trit_st_close(f);
    free(img);

    /* a known-size unsupported dtype still has its size checked */
    st_spec bad[] = {{"x", "I64", 1, {3}, i64, 16}};
    img = st_build(bad, 1, &size);
    assert_int_equal(open_img(img, size, &f, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "\"x\""));
    free(img);
}

static void test_file_errors(void **state) {
    (void)state;
    char *dir = st_tmpdir();
    trit_st_file *f;
    trit_st_set *s;
    trit_error err;
    char path[1024];
    snprintf(path, sizeof path, "%s/none.safetensors", dir);
    assert_int_equal(trit_st_open(path, &f, &err), TRIT_E_IO);
    assert_non_null(strstr(err.msg, "none.safetensors"));
    assert_int_equal(trit_st_open(dir, &f, &err), TRIT_E_IO); /* a folder is not a file */
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_E_IO);  /* no safetensors at all */
    assert_null(s);
    for (size_t len = 0; len < 8; len++) { /* 0..7-byte files */
        assert_int_equal(st_write(dir, "short.safetensors", "\x10\0\0\0\0\0\0", len), 0);
        snprintf(path, sizeof path, "%s/short.safetensors", dir);
        assert_int_equal(trit_st_open(path, &f, &err), TRIT_E_FORMAT);
        assert_non_null(strstr(err.msg, "too short"));
        assert_non_null(strstr(err.msg, path));
    }
    st_rmtree(dir);
    char missing[] = "/nonexistent-trit-dir";
    assert_int_equal(trit_st_open_dir(missing, &s, &err), TRIT_E_IO);
}

// --- folders

static void test_sharded_dir(void **state) {
    (void)state;
    float a[2] = {1, 2}, b[3] = {3, 4, 5};
    st_spec s1[] = {{"model.a", "F32", 1, {2}, a, sizeof a}};
    st_spec s2[] = {{"model.b", "F32", 1, {3}, b, sizeof b}, {"lm_head.weight", "F32", 1, {2}, a, sizeof a}};
    size_t n1, n2;
    uint8_t *i1 = st_build(s1, 1, &n1), *i2 = st_build(s2, 2, &n2);
    char *dir = st_tmpdir();
    assert_int_equal(st_write(dir, "model-00002-of-00002.safetensors", i2, n2), 0);
    assert_int_equal(st_write(dir, "model-00001-of-00002.safetensors", i1, n1), 0);
    assert_int_equal(st_write(dir, "notes.txt", "x", 1), 0);
    trit_st_set *s;
    trit_error err;
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_OK);
    assert_int_equal(trit_st_set_count(s), 3);
    const trit_st_tensor *t = trit_st_find(s, "model.b");
    assert_non_null(t);
    assert_non_null(strstr(t->file, "model-00002-of-00002.safetensors"));
    assert_true(trit_st_read_f32(t, 2) == 5.0f);
    assert_non_null(strstr(trit_st_find(s, "model.a")->file, "model-00001-of-00002"));
    assert_string_equal(trit_st_set_get(s, 0)->name, "lm_head.weight");
    assert_null(trit_st_set_get(s, 3));
    trit_st_set_close(s);

    /* the same tensor in two shards is an error naming both files */
    st_spec dup[] = {{"model.a", "F32", 1, {2}, a, sizeof a}};
    size_t n3;
    uint8_t *i3 = st_build(dup, 1, &n3);
    assert_int_equal(st_write(dir, "model-00003-of-00003.safetensors", i3, n3), 0);
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "model.a"));
    assert_non_null(strstr(err.msg, "model-00001-of-00002"));
    assert_non_null(strstr(err.msg, "model-00003-of-00003"));

    /* a corrupt shard fails the folder with that file's name */
    assert_int_equal(st_write(dir, "model-00003-of-00003.safetensors", i3, n3 - 1), 0);
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "model-00003-of-00003"));

    /* model.safetensors, when present, is the model: the shards beside it are not read */
    assert_int_equal(st_write(dir, "model.safetensors", i1, n1), 0);
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_OK);
    assert_int_equal(trit_st_set_count(s), 1);
    trit_st_set_close(s);
    st_rmtree(dir);

    /* a name that is a usable tensor in one shard and an unsupported one in another is a duplicate too */
    double d2[2] = {1, 2};
    st_spec f64[] = {{"model.a", "F64", 1, {2}, d2, sizeof d2}};
    size_t n4;
    uint8_t *i4 = st_build(f64, 1, &n4);
    dir = st_tmpdir();
    assert_int_equal(st_write(dir, "a-1.safetensors", i1, n1), 0);
    assert_int_equal(st_write(dir, "a-2.safetensors", i4, n4), 0);
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "a-2.safetensors"));
    assert_int_equal(st_write(dir, "a-1.safetensors", i2, n2), 0); /* no clash: the F64 one is looked up by name */
    assert_int_equal(trit_st_open_dir(dir, &s, &err), TRIT_OK);
    const char *file = NULL;
    assert_string_equal(trit_st_unsupported_dtype(s, "model.a", &file), "F64");
    assert_non_null(strstr(file, "a-2.safetensors"));
    assert_null(trit_st_unsupported_dtype(s, "model.b", NULL));
    trit_st_set_close(s);
    st_rmtree(dir);
    free(i1);
    free(i2);
    free(i3);
    free(i4);
}

// --- conversions

/* f16 → f32 by the definition: (-1)^s × 2^(e-15) × (1 + m/1024), subnormals 2^-14 × m/1024. */
static float f16_by_definition(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v;
    if (e == 31)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp((double)m, -24);
    else
        v = ldexp(1024.0 + m, e - 25);
    return (float)(s ? -v : v);
}

static void test_f16_exhaustive(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float got = trit_f16_to_f32((uint16_t)h), want = f16_by_definition((uint16_t)h);
        if (isnan(want)) {
            assert_true(isnan(got));
            continue;
        }
        assert_true(got == want);
        assert_int_equal(signbit(got) != 0, (h >> 15) != 0); /* -0 keeps its sign */
    }
    assert_true(trit_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(trit_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(trit_f16_to_f32(0xfc00) == -INFINITY);
}

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void test_bf16(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) { /* bf16 → f32 → bf16 is the identity (NaNs stay NaN) */
        float f = trit_bf16_to_f32((uint16_t)h);
        assert_int_equal(bits(f), h << 16);
        uint16_t back = trit_f32_to_bf16(f);
        if (isnan(f))
            assert_true(isnan(trit_bf16_to_f32(back)));
        else
            assert_int_equal(back, h);
    }
    assert_int_equal(trit_f32_to_bf16(from_bits(0x3f808000)), 0x3f80); /* tie → even (down) */
    assert_int_equal(trit_f32_to_bf16(from_bits(0x3f818000)), 0x3f82); /* tie → even (up) */
    assert_int_equal(trit_f32_to_bf16(from_bits(0x3f808001)), 0x3f81); /* above half → up */
    assert_int_equal(trit_f32_to_bf16(from_bits(0x3f807fff)), 0x3f80); /* below half → down */
    assert_int_equal(trit_f32_to_bf16(from_bits(0xbf818000)), 0xbf82);
    assert_int_equal(trit_f32_to_bf16(3.4028235e38f), 0x7f80);         /* rounds up to inf */
    assert_int_equal(trit_f32_to_bf16(-INFINITY), 0xff80);
    uint16_t n = trit_f32_to_bf16(from_bits(0x7f800001)); /* NaN whose payload sits in the low half */
    assert_true(isnan(trit_bf16_to_f32(n)));
    n = trit_f32_to_bf16(from_bits(0xffffffff));
    assert_true(isnan(trit_bf16_to_f32(n)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_dtype_table),
        cmocka_unit_test(test_truncated_every_length),
        cmocka_unit_test(test_bit_flips_in_header),
        cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_messages_name_tensor),
        cmocka_unit_test(test_huge_header_length),
        cmocka_unit_test(test_unsupported_dtype_opens),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_sharded_dir),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
