/* test_weights.c — BitNet weight reading: HF packed uint8 read back bit-exact, float masters ternarized as
 * transformers' WeightQuant does, multiply vs divide scale, and the bad inputs (code 3, missing or bad
 * weight_scale, wrong shapes and dtypes). */
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
#include "formats/weights.h"
#include "formats_st.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void) { /* xorshift64*: fresh inputs every run are not needed, varied ones are */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (uint32_t)((g_rng * 2685821657736338717ull) >> 32);
}

static float rnd_normal(void) { /* sum of uniforms: a bell shape is all these tests need */
    float s = 0;
    for (int i = 0; i < 4; i++)
        s += (float)rnd() / 4294967296.0f;
    return (s - 2.0f) * 1.7f;
}

/* A folder holding one model.safetensors with the given tensors, opened as a set. */
typedef struct {
    char *dir;
    trit_st_set *set;
} model_dir;

static void make_set(model_dir *m, const st_spec *t, int n) {
    size_t size;
    uint8_t *img = st_build(t, n, &size);
    m->dir = st_tmpdir();
    assert_non_null(m->dir);
    assert_int_equal(st_write(m->dir, "model.safetensors", img, size), 0);
    free(img);
    trit_error err;
    trit_status st = trit_st_open_dir(m->dir, &m->set, &err);
    if (st != TRIT_OK)
        print_error("%s\n", err.msg);
    assert_int_equal(st, TRIT_OK);
}

static void drop_set(model_dir *m) {
    trit_st_set_close(m->set);
    st_rmtree(m->dir);
}

static trit_config cfg_with(trit_scale_dir dir) {
    trit_config c;
    memset(&c, 0, sizeof c);
    c.scale_dir = dir;
    return c;
}

/* The HF layout (transformers pack_weights): byte [r][c] |= (w[i·R + r][c] + 1) << 2i, R = N/4. */
static uint8_t *pack_hf(const int8_t *w, int N, int K) {
    int R = N / 4;
    uint8_t *p = calloc((size_t)R * K, 1);
    for (int i = 0; i < 4; i++)
        for (int r = 0; r < R; r++)
            for (int c = 0; c < K; c++)
                p[r * K + c] |= (uint8_t)((w[(i * R + r) * K + c] + 1) << (2 * i));
    return p;
}

static int8_t *random_codes(int N, int K) {
    int8_t *w = malloc((size_t)N * K);
    for (int i = 0; i < N * K; i++)
        w[i] = (int8_t)((int)(rnd() % 3) - 1);
    return w;
}

// --- packed

static void check_packed(int N, int K, const char *scale_dtype) {
    int8_t *w = random_codes(N, K);
    uint8_t *p = pack_hf(w, N, K);
    uint8_t scale[4];
    size_t scale_bytes;
    float ws = 1.5546875f; /* exact in bf16, f16 and f32 */
    if (strcmp(scale_dtype, "BF16") == 0) {
        uint16_t h = trit_f32_to_bf16(ws);
        memcpy(scale, &h, 2);
        scale_bytes = 2;
    } else if (strcmp(scale_dtype, "F16") == 0) {
        uint16_t h = 0x3e38; /* 1.5546875 = 1 + 0x238/1024 */
        memcpy(scale, &h, 2);
        scale_bytes = 2;
    } else {
        memcpy(scale, &ws, 4);
        scale_bytes = 4;
    }
    st_spec t[] = {
        {"model.layers.0.self_attn.q_proj.weight", "U8", 2, {N / 4, K}, p, (size_t)N / 4 * K},
        {"model.layers.0.self_attn.q_proj.weight_scale", scale_dtype, 1, {1}, scale, scale_bytes},
    };
    model_dir m;
    make_set(&m, t, 2);
    int8_t *codes = malloc((size_t)N * K);
    float gamma = 0;
    trit_error err;
    trit_config cm = cfg_with(TRIT_SCALE_MULTIPLY), cd = cfg_with(TRIT_SCALE_DIVIDE);
    assert_int_equal(trit_weights_linear(m.set, &cm, "model.layers.0.self_attn.q_proj", N, K, codes, &gamma, &err),
                     TRIT_OK);
    assert_memory_equal(codes, w, (size_t)N * K);
    assert_true(gamma == ws);
    memset(codes, 5, (size_t)N * K);
    assert_int_equal(trit_weights_linear(m.set, &cd, "model.layers.0.self_attn.q_proj", N, K, codes, &gamma, &err),
                     TRIT_OK);
    assert_memory_equal(codes, w, (size_t)N * K);
    assert_true(gamma == 1.0f / ws);
    drop_set(&m);
    free(codes);
    free(p);
    free(w);
}

static void test_packed_round_trip(void **state) {
    (void)state;
    check_packed(4, 1, "BF16");
    check_packed(12, 7, "BF16");
    check_packed(40, 33, "F16");
    check_packed(64, 160, "F32");
    check_packed(160, 64, "BF16");
}

/* The worked example in transformers' unpack_weights docstring: packed [[0b10100001, 0b00011000],
 * [0b10010000, 0b00001010]] unpacks to rows [0,-1],[-1,1],[-1,1],[-1,1],[1,0],[0,-1],[1,-1],[1,-1]. */
static void test_packed_hf_example(void **state) {
    (void)state;
    uint8_t p[4] = {0xa1, 0x18, 0x90, 0x0a};
    float one = 1.0f;
    st_spec t[] = {{"x.weight", "U8", 2, {2, 2}, p, 4}, {"x.weight_scale", "F32", 0, {0}, &one, 4}};
    model_dir m;
    make_set(&m, t, 2);
    static const int8_t want[16] = {0, -1, -1, 1, -1, 1, -1, 1, 1, 0, 0, -1, 1, -1, 1, -1};
    int8_t codes[16];
    float gamma;
    trit_error err;
    trit_config c = cfg_with(TRIT_SCALE_MULTIPLY);
    assert_int_equal(trit_weights_linear(m.set, &c, "x", 8, 2, codes, &gamma, &err), TRIT_OK);
    assert_memory_equal(codes, want, 16);
    drop_set(&m);
}

static void test_packed_code3(void **state) {
    (void)state;
    int N = 16, K = 9;
    int8_t *w = random_codes(N, K);
    uint8_t *p = pack_hf(w, N, K);
    p[2 * K + 5] |= 3u << 4; /* byte [2][5], bits 5..4: weight row 2·4 + 2 = 10, column 5 */
    float one = 1.0f;
    st_spec t[] = {{"blk.weight", "U8", 2, {N / 4, K}, p, (size_t)N / 4 * K},
                   {"blk.weight_scale", "F32", 1, {1}, &one, 4}};
    model_dir m;
    make_set(&m, t, 2);
    int8_t *codes = malloc((size_t)N * K);
    float gamma;
    trit_error err;
    trit_config c = cfg_with(TRIT_SCALE_MULTIPLY);
    assert_int_equal(trit_weights_linear(m.set, &c, "blk", N, K, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "blk.weight"));
    assert_non_null(strstr(err.msg, "[2][5]"));
    assert_non_null(strstr(err.msg, "row 10, column 5"));
    drop_set(&m);
    free(codes);
    free(p);
    free(w);
}

static void test_packed_bad_scale_and_shape(void **state) {
    (void)state;
    int N = 8, K = 4;
    uint8_t p[8] = {0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55}; /* all codes 1: zeros */
    float bad_vals[] = {0.0f, -1.0f, NAN, INFINITY, 1e-45f};
    int8_t codes[32];
    float gamma;
    trit_error err;
    trit_config cm = cfg_with(TRIT_SCALE_MULTIPLY), cd = cfg_with(TRIT_SCALE_DIVIDE);
    model_dir m;

    /* missing weight_scale */
    st_spec only[] = {{"a.weight", "U8", 2, {2, 4}, p, 8}};
    make_set(&m, only, 1);
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", N, K, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "a.weight_scale"));
    assert_non_null(strstr(err.msg, "not found"));
    /* wrong expected shapes: N not a multiple of 4, K off by one, N off by 4 */
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", 6, K, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", N, K + 1, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "expected shape [2, 5]"));
    assert_non_null(strstr(err.msg, "found U8 [2, 4]"));
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", N + 4, K, codes, &gamma, &err), TRIT_E_FORMAT);
    /* missing tensor, bad arguments */
    assert_int_equal(trit_weights_linear(m.set, &cm, "b", N, K, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "b.weight"));
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", 0, K, codes, &gamma, &err), TRIT_E_ARG);
    drop_set(&m);

    for (size_t i = 0; i < sizeof bad_vals / sizeof bad_vals[0]; i++) {
        st_spec t[] = {{"a.weight", "U8", 2, {2, 4}, p, 8}, {"a.weight_scale", "F32", 1, {1}, &bad_vals[i], 4}};
        make_set(&m, t, 2);
        trit_status want = i == 4 ? TRIT_OK : TRIT_E_FORMAT; /* a subnormal is > 0: fine to multiply... */
        assert_int_equal(trit_weights_linear(m.set, &cm, "a", N, K, codes, &gamma, &err), want);
        if (want != TRIT_OK)
            assert_non_null(strstr(err.msg, "a.weight_scale"));
        /* ...but its reciprocal overflows */
        assert_int_equal(trit_weights_linear(m.set, &cd, "a", N, K, codes, &gamma, &err), TRIT_E_FORMAT);
        drop_set(&m);
    }
    /* weight_scale of two elements, or of an integer dtype */
    float two[2] = {1, 2};
    st_spec t2[] = {{"a.weight", "U8", 2, {2, 4}, p, 8}, {"a.weight_scale", "F32", 1, {2}, two, 8}};
    make_set(&m, t2, 2);
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", N, K, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "found F32 [2]"));
    drop_set(&m);
    uint8_t u = 1;
    st_spec t3[] = {{"a.weight", "U8", 2, {2, 4}, p, 8}, {"a.weight_scale", "U8", 1, {1}, &u, 1}};
    make_set(&m, t3, 2);
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", N, K, codes, &gamma, &err), TRIT_E_FORMAT);
    drop_set(&m);
    /* I8 weights are neither published form; an F64 weight is named as unsupported */
    double d[32] = {0};
    st_spec t4[] = {{"a.weight", "I8", 2, {8, 4}, d, 32}, {"b.weight", "F64", 2, {8, 4}, d, 256}};
    make_set(&m, t4, 2);
    assert_int_equal(trit_weights_linear(m.set, &cm, "a", N, K, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "I8"));
    assert_int_equal(trit_weights_linear(m.set, &cm, "b", N, K, codes, &gamma, &err), TRIT_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "b.weight"));
    assert_non_null(strstr(err.msg, "F64"));
    drop_set(&m);
}

// --- float masters

/* WeightQuant written out plainly: every step of transformers' forward, one element at a time. */
static void weight_quant_ref(const trit_st_tensor *t, int N, int K, int8_t *codes, float *gamma) {
    double sum = 0;
    for (int i = 0; i < N * K; i++)
        sum += fabs((double)trit_st_read_f32(t, i));
    float mean = (float)(sum / (N * K));
    float s = 1.0f / (mean < 1e-5f ? 1e-5f : mean); /* 1.0 / x.abs().mean().clamp_(min=1e-5) */
    for (int i = 0; i < N * K; i++) {
        float q = nearbyintf(trit_st_read_f32(t, i) * s); /* torch.round: half to even */
        codes[i] = (int8_t)(q > 1 ? 1 : q < -1 ? -1 : q);
    }
    *gamma = 1.0f / s;
}

static void check_master(const char *dtype, int N, int K) {
    size_t esz = strcmp(dtype, "F32") == 0 ? 4 : 2;
    uint8_t *raw = malloc((size_t)N * K * esz);
    for (int i = 0; i < N * K; i++) {
        float v = rnd_normal();
        if (rnd() % 7 == 0)
            v = 0.0f;
        if (esz == 4) {
            memcpy(raw + 4 * i, &v, 4);
        } else {
            uint16_t h = trit_f32_to_bf16(v);
            if (strcmp(dtype, "F16") == 0) { /* multiples of 0.25 in [-2, 2]: exact in f16, rich in ties */
                int q = (int)(rnd() % 17) - 8;
                float fv = (float)q * 0.25f;
                h = 0;
                if (fv != 0) { /* f16 bits of fv, a normal number: fv = m·2^e with m in [0.5, 1) */
                    int e;
                    float mant = frexpf(fabsf(fv), &e);
                    h = (uint16_t)((fv < 0 ? 0x8000 : 0) | ((e - 1 + 15) << 10) | (int)((mant * 2 - 1) * 1024));
                }
            }
            memcpy(raw + 2 * i, &h, 2);
        }
    }
    st_spec t[] = {{"m.weight", dtype, 2, {N, K}, raw, (size_t)N * K * esz}};
    model_dir m;
    make_set(&m, t, 1);
    int8_t *codes = malloc((size_t)N * K), *want = malloc((size_t)N * K);
    float gamma, want_gamma;
    trit_error err;
    trit_config c = cfg_with(TRIT_SCALE_DIVIDE); /* the scale direction only concerns packed weights */
    assert_int_equal(trit_weights_linear(m.set, &c, "m", N, K, codes, &gamma, &err), TRIT_OK);
    weight_quant_ref(trit_st_find(m.set, "m.weight"), N, K, want, &want_gamma);
    assert_memory_equal(codes, want, (size_t)N * K);
    assert_true(gamma == want_gamma);
    drop_set(&m);
    free(codes);
    free(want);
    free(raw);
}

static void test_float_masters(void **state) {
    (void)state;
    check_master("BF16", 13, 29);
    check_master("F32", 64, 96);
    check_master("F16", 20, 21);
    check_master("BF16", 1, 1);
}

static void test_master_ties_and_edges(void **state) {
    (void)state;
    /* mean |W| = 1 exactly, so s = 1 and W·s hits the .5 ties: half-to-even gives 0, 0, 2→1, -2→-1 */
    float w[8] = {0.5f, -0.5f, 1.5f, -1.5f, 2.0f, -0.25f, 0.75f, -1.0f};
    st_spec t[] = {{"tie.weight", "F32", 2, {2, 4}, w, sizeof w}};
    model_dir m;
    make_set(&m, t, 1);
    int8_t codes[8];
    float gamma;
    trit_error err;
    trit_config c = cfg_with(TRIT_SCALE_MULTIPLY);
    assert_int_equal(trit_weights_linear(m.set, &c, "tie", 2, 4, codes, &gamma, &err), TRIT_OK);
    static const int8_t want[8] = {0, 0, 1, -1, 1, 0, 1, -1};
    assert_memory_equal(codes, want, 8);
    assert_true(gamma == 1.0f);
    drop_set(&m);

    /* all zeros: mean clamps at 1e-5, codes 0 */
    float z[6] = {0};
    st_spec tz[] = {{"z.weight", "F32", 2, {3, 2}, z, sizeof z}};
    make_set(&m, tz, 1);
    assert_int_equal(trit_weights_linear(m.set, &c, "z", 3, 2, codes, &gamma, &err), TRIT_OK);
    assert_memory_equal(codes, (int8_t[6]){0}, 6);
    assert_true(gamma == 1.0f / (1.0f / 1e-5f));
    /* wrong shape names expected and found */
    assert_int_equal(trit_weights_linear(m.set, &c, "z", 2, 3, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "expected shape [2, 3], found F32 [3, 2]"));
    drop_set(&m);

    /* NaN or inf in a master */
    float bad[4] = {1, NAN, 1, 1};
    st_spec tb[] = {{"n.weight", "F32", 2, {2, 2}, bad, sizeof bad}};
    make_set(&m, tb, 1);
    assert_int_equal(trit_weights_linear(m.set, &c, "n", 2, 2, codes, &gamma, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "n.weight"));
    drop_set(&m);
    bad[1] = INFINITY;
    make_set(&m, tb, 1);
    assert_int_equal(trit_weights_linear(m.set, &c, "n", 2, 2, codes, &gamma, &err), TRIT_E_FORMAT);
    drop_set(&m);
}

// --- vectors and matrices

static void test_vector_matrix(void **state) {
    (void)state;
    uint16_t bf[5];
    for (int i = 0; i < 5; i++)
        bf[i] = trit_f32_to_bf16(0.5f * (float)i + 1.0f);
    uint16_t emb[12];
    for (int i = 0; i < 12; i++)
        emb[i] = trit_f32_to_bf16((float)i);
    uint8_t u[12] = {0};
    st_spec t[] = {{"norm.weight", "BF16", 1, {5}, bf, sizeof bf},
                   {"embed.weight", "BF16", 2, {4, 3}, emb, sizeof emb},
                   {"packed.weight", "U8", 2, {4, 3}, u, sizeof u}};
    model_dir m;
    make_set(&m, t, 3);
    float out[5];
    trit_error err;
    assert_int_equal(trit_weights_vector(m.set, "norm.weight", 5, out, &err), TRIT_OK);
    for (int i = 0; i < 5; i++)
        assert_true(out[i] == 0.5f * (float)i + 1.0f);
    assert_int_equal(trit_weights_vector(m.set, "norm.weight", 4, out, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "expected float [4], found BF16 [5]"));
    assert_int_equal(trit_weights_vector(m.set, "embed.weight", 12, out, &err), TRIT_E_FORMAT);
    assert_int_equal(trit_weights_vector(m.set, "missing.weight", 5, out, &err), TRIT_E_FORMAT);
    assert_non_null(strstr(err.msg, "missing.weight"));

    const trit_st_tensor *e;
    assert_int_equal(trit_weights_matrix(m.set, "embed.weight", 4, 3, &e, &err), TRIT_OK);
    assert_true(trit_st_read_f32(e, 7) == 7.0f);
    assert_int_equal(trit_weights_matrix(m.set, "embed.weight", 3, 4, &e, &err), TRIT_E_FORMAT);
    assert_null(e);
    assert_non_null(strstr(err.msg, "expected shape [3, 4], found BF16 [4, 3]"));
    assert_int_equal(trit_weights_matrix(m.set, "packed.weight", 4, 3, &e, &err), TRIT_E_FORMAT);
    assert_int_equal(trit_weights_matrix(m.set, "norm.weight", 5, 1, &e, &err), TRIT_E_FORMAT);
    drop_set(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_round_trip),     cmocka_unit_test(test_packed_hf_example),
        cmocka_unit_test(test_packed_code3),          cmocka_unit_test(test_packed_bad_scale_and_shape),
        cmocka_unit_test(test_float_masters),         cmocka_unit_test(test_master_ties_and_edges),
        cmocka_unit_test(test_vector_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
