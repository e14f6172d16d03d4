/* ref_ops.c — the reference compute ops, plain scalar C (see ref.h for the numerics and why). Not optimised, on
 * purpose: every line should be checkable against backend.h by eye. */
#include <math.h>
#include <string.h>

#include "core/fp16.h"
#include "cpu/ref/ref.h"

/* element d of row `row` of a float table [rows][D] in dtype dt, as f32 */
static float table_at(const void *table, trit_dtype dt, size_t row, int32_t D, int32_t d) {
    size_t i = row * (size_t)D + (size_t)d;
    if (dt == TRIT_DT_BF16)
        return trit_bf16_to_f32(((const uint16_t *)table)[i]);
    return ((const float *)table)[i];
}

// ------------------------------------------------------------------------------------------------ embed

void trit_ref_embed(const void *table, trit_dtype dt, int32_t D, const int32_t *tokens, int32_t M, float *out) {
    // table: [V][D] (f32 or bf16); tokens: [M]; out: [M][D]
    for (int32_t m = 0; m < M; m++)
        for (int32_t d = 0; d < D; d++)
            out[(size_t)m * D + d] = table_at(table, dt, (size_t)tokens[m], D, d);
}

// ------------------------------------------------------------------------------------------------ rmsnorm, quantize

/* 1 / rms of a row: sum of squares in double (exact enough that summation order cannot move the f32 mean by
 * more than an ulp), mean narrowed to float before eps is added (ggml's order). */
static float rms_scale(const float *x, int32_t K, float eps) {
    // x: [K]
    double ss = 0.0;
    for (int32_t k = 0; k < K; k++)
        ss += (double)x[k] * (double)x[k];
    float mean = (float)(ss / (double)K);
    return 1.0f / sqrtf(mean + eps);
}

static int8_t quantize_one(float v, float sc) {
    float r = rintf(v * sc); // default rounding mode: half to even
    if (r > 127.0f)
        r = 127.0f;
    else if (r < -128.0f)
        r = -128.0f;
    else if (r != r)
        r = 0.0f; // NaN (from inf/NaN input): a defined code instead of an undefined conversion; garbage in
    return (int8_t)r;
}

void trit_ref_rmsnorm(const float *x, const float *w, int32_t M, int32_t K, float eps, float *y) {
    // x: [M][K]; w: [K]; y: [M][K] (may alias x)
    for (int32_t m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * K;
        float *ym = y + (size_t)m * K;
        float scale = rms_scale(xm, K, eps);
        for (int32_t k = 0; k < K; k++)
            ym[k] = (xm[k] * scale) * w[k];
    }
}

void trit_ref_quantize(const float *x, int32_t M, int32_t K, int8_t *q, float *s) {
    // x: [M][K]; q: [M][K]; s: [M] (the scale of each row: q ≈ x * s)
    for (int32_t m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * K;
        int8_t *qm = q + (size_t)m * K;
        float amax = 0.0f;
        for (int32_t k = 0; k < K; k++)
            amax = fmaxf(amax, fabsf(xm[k]));
        float sc = 127.0f / fmaxf(amax, 1e-5f);
        for (int32_t k = 0; k < K; k++)
            qm[k] = quantize_one(xm[k], sc);
        s[m] = sc;
    }
}

void trit_ref_rmsnorm_quantize(const float *x, const float *w, int32_t M, int32_t K, float eps, int8_t *q,
                               float *s) {
    // x: [M][K]; w: [K]; q: [M][K]; s: [M]. The normalised value (x*scale)*w is recomputed in each pass instead
    // of stored, so no [K] scratch is needed; it is the same expression as rmsnorm, hence bit-identical results.
    for (int32_t m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * K;
        int8_t *qm = q + (size_t)m * K;
        float scale = rms_scale(xm, K, eps);
        float amax = 0.0f;
        for (int32_t k = 0; k < K; k++)
            amax = fmaxf(amax, fabsf((xm[k] * scale) * w[k]));
        float sc = 127.0f / fmaxf(amax, 1e-5f);
        for (int32_t k = 0; k < K; k++)
            qm[k] = quantize_one((xm[k] * scale) * w[k], sc);
        s[m] = sc;
    }
}

// ------------------------------------------------------------------------------------------------ ternary matmul

int32_t trit_ref_dot_i8_codes(const uint8_t *row, const int8_t *q, int32_t K) {
    // row: [ceil(K/4)] packed codes; q: [K]
    int32_t acc = 0;
    for (int32_t k = 0; k < K; k++) {
        int code = (row[k / 4] >> (2 * (k % 4))) & 3;
        acc += (int32_t)q[k] * (code - 1);
    }
    return acc;
}

/* y = (float)acc / s[m] * γ, or y += that; the output is f32 (y32) or bf16 bits (y16, the f32 result rounded) */
static void matmul_tq_out(const trit_tmat *w, const int8_t *q, const float *s, int32_t M, float *y32, uint16_t *y16,
                          int accumulate) {
    // w: [N][K] ternary (ref layout); q: [M][K]; s: [M]; y: [M][N]
    const int32_t N = w->N, K = w->K;
    const size_t rb = trit_ref_tmat_row_bytes(K);
    const uint8_t *data = (const uint8_t *)w->data;
    for (int32_t m = 0; m < M; m++) {
        const int8_t *qm = q + (size_t)m * K;
        const size_t row = (size_t)m * N;
        int seg = 0;
        for (int32_t n = 0; n < N; n++) {
            while (n >= w->seg_end[seg])
                seg++;
            int32_t acc = trit_ref_dot_i8_codes(data + (size_t)n * rb, qm, K);
            float v = (float)acc / s[m] * w->seg_scale[seg];
            if (y32) {
                y32[row + n] = accumulate ? y32[row + n] + v : v;
            } else {
                const float old = trit_bf16_to_f32(y16[row + n]);
                y16[row + n] = trit_f32_to_bf16(accumulate ? old + v : v);
            }
        }
    }
}

void trit_ref_matmul_tq(const trit_tmat *w, const int8_t *q, const float *s, int32_t M, float *y, int accumulate) {
    matmul_tq_out(w, q, s, M, y, NULL, accumulate);
}

void trit_ref_matmul_tq_bf16(const trit_tmat *w, const int8_t *q, const float *s, int32_t M, uint16_t *y,
                             int accumulate) {
    matmul_tq_out(w, q, s, M, NULL, y, accumulate);
}

// ------------------------------------------------------------------------------------------------ rope

float trit_ref_rope_inv_freq(float theta, int32_t i, int32_t D) {
    return 1.0f / powf(theta, (float)(2 * i) / (float)D);
}

void trit_ref_rope(float *x, int32_t M, int32_t n_heads, int32_t D, int32_t stride, const int32_t *pos,
                   float theta) {
    // x: [M][stride], heads at [h*D, h*D+D) for h < n_heads; pos: [M]
    const int32_t half = D / 2;
    for (int32_t m = 0; m < M; m++) {
        for (int32_t h = 0; h < n_heads; h++) {
            float *xh = x + (size_t)m * stride + (size_t)h * D;
            for (int32_t i = 0; i < half; i++) {
                float angle = (float)pos[m] * trit_ref_rope_inv_freq(theta, i, D);
                float c = cosf(angle), sn = sinf(angle);
                float x0 = xh[i], x1 = xh[i + half];
                xh[i] = x0 * c - x1 * sn;
                xh[i + half] = x1 * c + x0 * sn;
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------ kv cache, attention

void trit_ref_kv_store(trit_kvcache *kv, int32_t layer, const float *k, const float *v, int32_t stride,
                       const int32_t *seq, const int32_t *pos, int32_t M) {
    // k, v: [M][stride], the first n_kv_heads*head_dim floats of each row are stored
    const size_t w = (size_t)kv->n_kv_heads * kv->head_dim;
    for (int32_t m = 0; m < M; m++) {
        size_t off = trit_kv_offset(kv, layer, seq[m], pos[m]);
        memcpy(kv->k + off, k + (size_t)m * stride, w * sizeof(float));
        memcpy(kv->v + off, v + (size_t)m * stride, w * sizeof(float));
    }
}

void trit_ref_attention(const trit_kvcache *kv, int32_t layer, const float *q, int32_t q_stride, int32_t n_heads,
                        const int32_t *seq, const int32_t *pos, int32_t M, float *out) {
    // q: [M][q_stride] (heads at h*D); out: [M][n_heads*D]; cache of (layer, seq[m]): [n_ctx][n_kv_heads][D]
    const int32_t D = kv->head_dim;
    const int32_t group = n_heads / kv->n_kv_heads; // query heads per kv head
    const float scale = 1.0f / sqrtf((float)D);
    for (int32_t m = 0; m < M; m++) {
        const float *kbase = kv->k + trit_kv_offset(kv, layer, seq[m], 0); // [n_ctx][n_kv_heads][D]
        const float *vbase = kv->v + trit_kv_offset(kv, layer, seq[m], 0);
        const size_t tstride = (size_t)kv->n_kv_heads * D; // floats between positions
        for (int32_t h = 0; h < n_heads; h++) {
            const float *qh = q + (size_t)m * q_stride + (size_t)h * D; // [D]
            const int32_t kvh = h / group;
            float *oh = out + (size_t)m * n_heads * D + (size_t)h * D; // [D]
            // pass 1: the largest score, so exp() never overflows
            float smax = -INFINITY;
            for (int32_t t = 0; t <= pos[m]; t++) {
                const float *kt = kbase + (size_t)t * tstride + (size_t)kvh * D;
                float dot = 0.0f;
                for (int32_t d = 0; d < D; d++)
                    dot += qh[d] * kt[d];
                smax = fmaxf(smax, dot * scale);
            }
            // pass 2: unnormalised weights p_t = exp(score_t - max), out = Σ p_t v_t / Σ p_t
            for (int32_t d = 0; d < D; d++)
                oh[d] = 0.0f;
            float sum = 0.0f;
            for (int32_t t = 0; t <= pos[m]; t++) {
                const float *kt = kbase + (size_t)t * tstride + (size_t)kvh * D;
                const float *vt = vbase + (size_t)t * tstride + (size_t)kvh * D;
                float dot = 0.0f;
                for (int32_t d = 0; d < D; d++)
                    dot += qh[d] * kt[d];
                float p = expf(dot * scale - smax);
                sum += p;
                for (int32_t d = 0; d < D; d++)
                    oh[d] += p * vt[d];
            }
            for (int32_t d = 0; d < D; d++)
                oh[d] /= sum;
        }
    }
}

// ------------------------------------------------------------------------------------------------ ffn, residual, head

void trit_ref_glu(const float *gu, int32_t M, int32_t F, trit_act act, float *out) {
    // gu: [M][2F] (gate | up); out: [M][F]
    for (int32_t m = 0; m < M; m++) {
        const float *g = gu + (size_t)m * 2 * F;
        const float *u = g + F;
        float *o = out + (size_t)m * F;
        for (int32_t f = 0; f < F; f++) {
            float a;
            if (act == TRIT_ACT_RELU2) {
                float r = fmaxf(g[f], 0.0f);
                a = r * r;
            } else {
                a = g[f] / (1.0f + expf(-g[f]));
            }
            o[f] = a * u[f];
        }
    }
}

void trit_ref_add(float *h, const float *x, size_t n) {
    // h, x: [n]
    for (size_t i = 0; i < n; i++)
        h[i] += x[i];
}

void trit_ref_lm_head(const void *table, trit_dtype dt, int32_t V, int32_t D, const float *x, int32_t M,
                      float *logits) {
    // table: [V][D] (I8ROW: int8 [V][D], then f32 scale [V]); x: [M][D]; logits: [M][V]
    if (dt == TRIT_DT_I8ROW) {
        const int8_t *q = table;
        const float *scale = (const float *)((const char *)table + trit_i8row_scale_offset(V, D));
        for (int32_t m = 0; m < M; m++) {
            const float *xm = x + (size_t)m * D;
            for (int32_t v = 0; v < V; v++) {
                float acc = 0.0f;
                for (int32_t d = 0; d < D; d++)
                    acc += (float)q[(size_t)v * D + d] * xm[d];
                logits[(size_t)m * V + v] = scale[v] * acc;
            }
        }
        return;
    }
    for (int32_t m = 0; m < M; m++) {
        const float *xm = x + (size_t)m * D;
        for (int32_t v = 0; v < V; v++) {
            float acc = 0.0f;
            for (int32_t d = 0; d < D; d++)
                acc += table_at(table, dt, (size_t)v, D, d) * xm[d];
            logits[(size_t)m * V + v] = acc;
        }
    }
}

void trit_ref_i8row_quantize(const float *w, int32_t D, int8_t *q, float *scale) {
    // w: [D]; q: [D]
    float amax = 0.0f;
    for (int32_t d = 0; d < D; d++)
        amax = fmaxf(amax, fabsf(w[d]));
    const float s = amax / 127.0f;
    for (int32_t d = 0; d < D; d++) {
        float r = s > 0.0f ? rintf(w[d] / s) : 0.0f;
        q[d] = (int8_t)fminf(fmaxf(r, -127.0f), 127.0f); // w/s can land an ulp past ±127
    }
    *scale = s;
}
