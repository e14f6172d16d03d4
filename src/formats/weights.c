/* weights.c — BitNet tensors out of a safetensors set (see weights.h): packed uint8 ternary + weight_scale, or
 * float masters ternarized here with transformers' WeightQuant arithmetic. Every shape and dtype is checked
 * against what the caller expects before a byte is read; errors name the tensor, its file, expected and found. */
#include "formats/weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define NAME_MAX_LEN 256

static void shape_str(const trit_st_tensor *t, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int32_t i = 0; i < t->n_dims && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static bool is_float(trit_st_dtype dt) { return dt == TRIT_ST_BF16 || dt == TRIT_ST_F16 || dt == TRIT_ST_F32; }

/* Looks a tensor up; a missing one is TRIT_E_FORMAT, one of a dtype trit cannot read is TRIT_E_UNSUPPORTED. */
static trit_status find(const trit_st_set *s, const char *name, const trit_st_tensor **out, trit_error *err) {
    *out = trit_st_find(s, name);
    if (*out)
        return TRIT_OK;
    const char *file = NULL;
    const char *dt = trit_st_unsupported_dtype(s, name, &file);
    if (dt)
        return TRIT_FAIL(err, TRIT_E_UNSUPPORTED, "tensor \"%s\" in %s has dtype %s, which trit does not read "
                         "(BF16, F16, F32, U8, I8)", name, file, dt);
    return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" not found in the model's safetensors files", name);
}

static trit_status check_2d(const trit_st_tensor *t, int64_t rows, int64_t cols, trit_error *err) {
    if (t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols)
        return TRIT_OK;
    char found[160];
    shape_str(t, found, sizeof found);
    return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: expected shape [%lld, %lld], found %s %s", t->name,
                     t->file, (long long)rows, (long long)cols, trit_st_dtype_name(t->dtype), found);
}

/* Converts n elements of a float tensor starting at element `first` into dst (switch hoisted out of the loop). */
static void read_row(const trit_st_tensor *t, int64_t first, int64_t n, float *dst) {
    const uint8_t *p = (const uint8_t *)t->data;
    switch (t->dtype) {
    case TRIT_ST_BF16:
    case TRIT_ST_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * (first + i), 2);
            dst[i] = t->dtype == TRIT_ST_BF16 ? trit_bf16_to_f32(h) : trit_f16_to_f32(h);
        }
        break;
    case TRIT_ST_F32: memcpy(dst, p + 4 * first, (size_t)n * 4); break;
    default:
        for (int64_t i = 0; i < n; i++)
            dst[i] = trit_st_read_f32(t, first + i);
        break;
    }
}

// --- linear weights

/* Packed HF layout (spec §3.5): byte [r][c] of the [N/4, K] tensor holds W[i·R + r][c] in bits 2i+1..2i,
 * R = N/4, code = w + 1. */
static trit_status unpack(const trit_st_tensor *t, int32_t N, int32_t K, int8_t *codes, trit_error *err) {
    const uint8_t *p = (const uint8_t *)t->data;
    int64_t R = N / 4;
    for (int64_t r = 0; r < R; r++) {
        const uint8_t *row = p + r * K;
        /* code 3 (both bits of a pair set) is invalid: find any first, then decode branch-free (vectorizes) */
        uint8_t bad = 0;
        for (int64_t c = 0; c < K; c++)
            bad |= row[c] & (row[c] >> 1) & 0x55;
        if (bad) {
            for (int64_t c = 0; c < K; c++)
                for (int i = 0; i < 4; i++)
                    if (((row[c] >> (2 * i)) & 3) == 3)
                        return TRIT_FAIL(err, TRIT_E_FORMAT,
                                         "tensor \"%s\" in %s: invalid ternary code 3 in packed byte [%lld][%lld] "
                                         "bits %d..%d (weight row %lld, column %lld)",
                                         t->name, t->file, (long long)r, (long long)c, 2 * i, 2 * i + 1,
                                         (long long)(i * R + r), (long long)c);
        }
        for (int i = 0; i < 4; i++) {
            int8_t *dst = codes + (i * R + r) * K;
            for (int64_t c = 0; c < K; c++)
                dst[c] = (int8_t)(((row[c] >> (2 * i)) & 3) - 1);
        }
    }
    return TRIT_OK;
}

static trit_status read_scale(const trit_st_set *s, const trit_config *cfg, const char *prefix, float *gamma,
                              trit_error *err) {
    char name[NAME_MAX_LEN];
    if ((size_t)snprintf(name, sizeof name, "%s.weight_scale", prefix) >= sizeof name)
        return TRIT_FAIL(err, TRIT_E_ARG, "tensor prefix \"%.64s...\" too long", prefix);
    const trit_st_tensor *t;
    TRIT_TRY(find(s, name, &t, err));
    if (!is_float(t->dtype) || t->n_elems != 1) {
        char found[160];
        shape_str(t, found, sizeof found);
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: expected one BF16/F16/F32 element, found %s %s",
                         name, t->file, trit_st_dtype_name(t->dtype), found);
    }
    float ws = trit_st_read_f32(t, 0);
    if (!(ws > 0) || !isfinite(ws))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: weight scale %g must be finite and > 0", name,
                         t->file, (double)ws);
    /* autobitlinear multiplies by weight_scale (= γ); bitlinear divides by it (= 1/γ) — spec §3.4 */
    *gamma = cfg->scale_dir == TRIT_SCALE_DIVIDE ? 1.0f / ws : ws;
    if (!isfinite(*gamma))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: 1 / weight scale %g overflows", name, t->file,
                         (double)ws);
    return TRIT_OK;
}

/* Float masters, as transformers' WeightQuant: s = 1 / max(mean|W|, 1e-5) in f32, code = clamp(round(W·s), ±1)
 * (round half to even), W_eff = code / s. The mean is summed in double, then rounded to f32 (torch sums in f32
 * with cascaded partial sums; both land on the correctly-rounded mean or within an ulp of it). */
static trit_status ternarize(const trit_st_tensor *t, int32_t N, int32_t K, int8_t *codes, float *gamma,
                             trit_error *err) {
    float *row = malloc((size_t)K * sizeof *row);
    if (!row)
        return TRIT_FAIL(err, TRIT_E_NOMEM, "tensor \"%s\": out of memory for a row of %d", t->name, K);
    double sum = 0.0;
    for (int64_t n = 0; n < N; n++) {
        read_row(t, n * K, K, row);
        for (int32_t k = 0; k < K; k++)
            sum += fabs((double)row[k]);
    }
    float mean = (float)(sum / ((double)N * (double)K));
    if (!isfinite(mean)) {
        free(row);
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: holds NaN or infinite values (mean |W| = %g)",
                         t->name, t->file, (double)mean);
    }
    float s = 1.0f / fmaxf(mean, 1e-5f);
    for (int64_t n = 0; n < N; n++) {
        read_row(t, n * K, K, row);
        for (int32_t k = 0; k < K; k++) {
            float q = rintf(row[k] * s); /* an integer value (mean is finite, so every |w| is too) */
            codes[n * K + k] = (int8_t)(q >= 1.0f ? 1 : q <= -1.0f ? -1 : 0);
        }
    }
    free(row);
    *gamma = 1.0f / s;
    return TRIT_OK;
}

trit_status trit_weights_linear(const trit_st_set *s, const trit_config *cfg, const char *prefix, int32_t N,
                                int32_t K, int8_t *codes, float *gamma, trit_error *err) {
    if (!s || !cfg || !prefix || !codes || !gamma || N <= 0 || K <= 0)
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_weights_linear(%s, N=%d, K=%d): invalid argument",
                         prefix ? prefix : "(null)", N, K);
    char name[NAME_MAX_LEN];
    if ((size_t)snprintf(name, sizeof name, "%s.weight", prefix) >= sizeof name)
        return TRIT_FAIL(err, TRIT_E_ARG, "tensor prefix \"%.64s...\" too long", prefix);
    const trit_st_tensor *t;
    TRIT_TRY(find(s, name, &t, err));
    if (t->dtype == TRIT_ST_U8) {
        if (N % 4 != 0)
            return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: packed ternary needs out_features %% 4 == 0, "
                             "expected N = %d", name, t->file, N);
        TRIT_TRY(check_2d(t, N / 4, K, err));
        TRIT_TRY(read_scale(s, cfg, prefix, gamma, err));
        return unpack(t, N, K, codes, err);
    }
    if (!is_float(t->dtype))
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: dtype %s is neither packed ternary (U8) nor a "
                         "float master (BF16/F16/F32)", name, t->file, trit_st_dtype_name(t->dtype));
    TRIT_TRY(check_2d(t, N, K, err));
    return ternarize(t, N, K, codes, gamma, err);
}

// --- float tensors

trit_status trit_weights_vector(const trit_st_set *s, const char *name, int32_t n, float *out, trit_error *err) {
    if (!s || !name || !out || n <= 0)
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_weights_vector(%s, n=%d): invalid argument", name ? name : "(null)",
                         n);
    const trit_st_tensor *t;
    TRIT_TRY(find(s, name, &t, err));
    if (!is_float(t->dtype) || t->n_dims != 1 || t->shape[0] != n) {
        char found[160];
        shape_str(t, found, sizeof found);
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: expected float [%d], found %s %s", name, t->file,
                         n, trit_st_dtype_name(t->dtype), found);
    }
    read_row(t, 0, n, out);
    return TRIT_OK;
}

trit_status trit_weights_matrix(const trit_st_set *s, const char *name, int64_t rows, int64_t cols,
                                const trit_st_tensor **out, trit_error *err) {
    if (!s || !name || !out || rows <= 0 || cols <= 0)
        return TRIT_FAIL(err, TRIT_E_ARG, "trit_weights_matrix(%s): invalid argument", name ? name : "(null)");
    *out = NULL;
    const trit_st_tensor *t;
    TRIT_TRY(find(s, name, &t, err));
    if (!is_float(t->dtype)) {
        char found[160];
        shape_str(t, found, sizeof found);
        return TRIT_FAIL(err, TRIT_E_FORMAT, "tensor \"%s\" in %s: expected float [%lld, %lld], found %s %s", name,
                         t->file, (long long)rows, (long long)cols, trit_st_dtype_name(t->dtype), found);
    }
    TRIT_TRY(check_2d(t, rows, cols, err));
    *out = t;
    return TRIT_OK;
}
