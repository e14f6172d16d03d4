/* kernels_generic.c — the portable C kernel set ("scalar"): the ternary matmul over each weight layout (T16, TQ1,
 * TL) and the float ops in plain C.
 * It is the kernel set of CPUs without a SIMD path here, the tail code of the ISA files, and the level
 * TRIT_CPU_ISA=scalar forces for testing. Compiled without ISA flags (the compiler may still auto-vectorise) and
 * with -ffp-contract=off like the reference, so products and sums round exactly as ref's do. */
#include <math.h>
#include <string.h>

#include "cpu/fast/cpu.h"

// ------------------------------------------------------------------------------------------------ ternary matmul

/* epilogue shared by every kernel set: the backend.h order, (float)acc / s * γ */
static inline void store_out(float *y, float v, int accumulate) {
    if (accumulate)
        *y += v;
    else
        *y = v;
}

void trit_cpu_tq_gemm_generic(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    const int32_t KF = a->K / TRIT_T16_COLS; // full tiles; a last partial one reads a zero-padded copy of q
    for (int32_t nb = nb0; nb < nb1; nb++) {
        const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_T16_BYTES; // [KT][64]
        for (int32_t m = 0; m < a->M; m++) {
            const int8_t *qm = a->q + (size_t)m * a->K; // [K]
            int8_t qt[TRIT_T16_COLS] = {0};
            if (KF < a->KT)
                memcpy(qt, qm + (size_t)KF * TRIT_T16_COLS, (size_t)(a->K - KF * TRIT_T16_COLS));
            int32_t acc[TRIT_T16_ROWS] = {0};
            for (int32_t kt = 0; kt < a->KT; kt++) {
                const uint8_t *t = blk + (size_t)kt * TRIT_T16_BYTES;
                const int8_t *qk = kt < KF ? qm + (size_t)kt * TRIT_T16_COLS : qt;
                for (int b = 0; b < TRIT_T16_BYTES; b++) { // byte b: row b/4, columns 4i + b%4
                    const int j = b % 4, c = t[b];
                    acc[b / 4] += (c & 3) * qk[j] + ((c >> 2) & 3) * qk[4 + j] + ((c >> 4) & 3) * qk[8 + j] +
                                  (c >> 6) * qk[12 + j];
                }
            }
            int32_t n0 = nb * TRIT_T16_ROWS;
            for (int r = 0; r < TRIT_T16_ROWS && n0 + r < a->N; r++) {
                float v = (float)(acc[r] - a->qsum[m]) / a->s[m] * a->rowscale[n0 + r];
                store_out(a->y + (size_t)m * a->N + n0 + r, v, a->accumulate);
            }
        }
    }
}

/* TQ1 tiles (cpu.h): byte b of a tile holds codes of row b/4 at columns 4j + b%4, j = 0..4 */
void trit_cpu_tq1_gemm_generic(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    const int32_t KF = a->K / TRIT_TQ1_COLS; // full tiles; a last partial one reads a zero-padded copy of q
    for (int32_t nb = nb0; nb < nb1; nb++) {
        const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_TQ1_BYTES;
        for (int32_t m = 0; m < a->M; m++) {
            const int8_t *qm = a->q + (size_t)m * a->K;
            int8_t qt[TRIT_TQ1_COLS] = {0};
            if (KF < a->KT)
                memcpy(qt, qm + (size_t)KF * TRIT_TQ1_COLS, (size_t)(a->K - KF * TRIT_TQ1_COLS));
            int32_t acc[TRIT_T16_ROWS] = {0};
            for (int32_t kt = 0; kt < a->KT; kt++) {
                const uint8_t *t = blk + (size_t)kt * TRIT_TQ1_BYTES;
                const int8_t *qk = kt < KF ? qm + (size_t)kt * TRIT_TQ1_COLS : qt;
                for (int b = 0; b < TRIT_TQ1_BYTES; b++) {
                    unsigned x = t[b]; // x·3^j mod 256 step by step, code j = (x·3) >> 8
                    int s = 0;
                    for (int j = 0; j < 5; j++) {
                        x *= 3u;
                        s += (int)(x >> 8) * qk[4 * j + b % 4];
                        x &= 0xffu;
                    }
                    acc[b / 4] += s;
                }
            }
            for (int r = 0; r < TRIT_T16_ROWS; r++) {
                const int32_t n = nb * TRIT_T16_ROWS + r;
                if (n < a->N)
                    store_out(&a->y[(size_t)m * a->N + n], (float)(acc[r] - a->qsum[m]) / a->s[m] * a->rowscale[n],
                              a->accumulate);
            }
        }
    }
}

/* TL tiles (cpu.h): nibbles are indices 3·c0 + c1 of column pairs; the generic kernel reads q, not the tables */
void trit_cpu_tl_gemm_generic(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1) {
    for (int32_t nb = nb0; nb < nb1; nb++) {
        const uint8_t *blk = a->w + (size_t)nb * a->KT * TRIT_TL_BYTES;
        for (int32_t m = 0; m < a->M; m++) {
            const int8_t *qm = a->q + (size_t)m * a->K;
            int32_t acc[TRIT_T16_ROWS] = {0};
            for (int32_t kt = 0; kt < a->KT; kt++) {
                int8_t qk[TRIT_TL_COLS] = {0}; // zero-padded past K
                const int32_t k0 = kt * TRIT_TL_COLS, nk = a->K - k0 < TRIT_TL_COLS ? a->K - k0 : TRIT_TL_COLS;
                memcpy(qk, qm + k0, (size_t)nk);
                const uint8_t *t = blk + (size_t)kt * TRIT_TL_BYTES;
                for (int b = 0; b < TRIT_TL_BYTES; b++) { // byte b: row b%16, columns 4·(b/16) + 0..3
                    const int c = 4 * (b / 16), lo = t[b] & 15, hi = t[b] >> 4;
                    acc[b % 16] += (lo / 3 - 1) * qk[c] + (lo % 3 - 1) * qk[c + 1] + (hi / 3 - 1) * qk[c + 2] +
                                   (hi % 3 - 1) * qk[c + 3];
                }
            }
            for (int r = 0; r < TRIT_T16_ROWS; r++) {
                const int32_t n = nb * TRIT_T16_ROWS + r;
                if (n < a->N)
                    store_out(&a->y[(size_t)m * a->N + n], (float)acc[r] / a->s[m] * a->rowscale[n], a->accumulate);
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------ quantize

static inline int8_t quantize_one(float v, float sc) {
    float r = rintf(v * sc); // round half to even under the default rounding mode
    r = r > 127.0f ? 127.0f : r;
    r = r < -128.0f ? -128.0f : r;
    return (int8_t)r;
}

void trit_cpu_quantize_row_generic(const float *x, int32_t K, int8_t *q, float *s) {
    float amax = 0.0f;
    for (int32_t k = 0; k < K; k++)
        amax = fmaxf(amax, fabsf(x[k]));
    float sc = 127.0f / fmaxf(amax, 1e-5f);
    for (int32_t k = 0; k < K; k++)
        q[k] = quantize_one(x[k], sc);
    *s = sc;
}

float trit_cpu_rms_scale(double sumsq, int32_t K, float eps) {
    float mean = (float)(sumsq / (double)K);
    return 1.0f / sqrtf(mean + eps);
}

void trit_cpu_rmsnorm_quantize_row_generic(const float *x, const float *w, int32_t K, float eps, int8_t *q,
                                           float *s) {
    double ss = 0.0;
    for (int32_t k = 0; k < K; k++)
        ss += (double)x[k] * (double)x[k];
    float scale = trit_cpu_rms_scale(ss, K, eps);
    float amax = 0.0f;
    for (int32_t k = 0; k < K; k++)
        amax = fmaxf(amax, fabsf((x[k] * scale) * w[k]));
    float sc = 127.0f / fmaxf(amax, 1e-5f);
    for (int32_t k = 0; k < K; k++)
        q[k] = quantize_one((x[k] * scale) * w[k], sc);
    *s = sc;
}

int32_t trit_cpu_sum_i8_generic(const int8_t *q, int32_t K) {
    int32_t sum = 0;
    for (int32_t k = 0; k < K; k++)
        sum += q[k];
    return sum;
}

// ------------------------------------------------------------------------------------------------ float ops

float trit_cpu_dot_f32_generic(const float *a, const float *b, int32_t n) {
    float acc[8] = {0}; // 8 partial sums so the compiler can vectorise without reassociation licence
    int32_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    float sum = 0.0f;
    for (int j = 0; j < 8; j++)
        sum += acc[j];
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

void trit_cpu_axpy_f32_generic(float a, const float *x, float *y, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

void trit_cpu_attn_scores_generic(const float *q, const float *k, size_t stride, int32_t tn, int32_t D, float scale,
                                  float *sc) {
    for (int32_t t = 0; t < tn; t++)
        sc[t] = trit_cpu_dot_f32_generic(q, k + (size_t)t * stride, D) * scale;
}

void trit_cpu_attn_accum_generic(const float *p, const float *v, size_t stride, int32_t tn, int32_t D, float *acc) {
    for (int32_t t = 0; t < tn; t++)
        trit_cpu_axpy_f32_generic(p[t], v + (size_t)t * stride, acc, D);
}

float trit_cpu_exp_sub_sum_generic(float *x, int32_t n, float m) {
    float sum = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - m);
        sum += x[i];
    }
    return sum;
}

static void widen_bf16(const uint16_t *src, float *dst, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &bits, sizeof bits);
    }
}

void trit_cpu_lm_head_rows_generic(const void *table, trit_dtype dt, int32_t D, int32_t V, int32_t v0, int32_t v1,
                                   const float *x, int32_t M, float *logits) {
    float row[1024];
    for (int32_t v = v0; v < v1; v++) {
        for (int32_t m = 0; m < M; m++) {
            const float *xm = x + (size_t)m * D;
            float acc = 0.0f;
            if (dt == TRIT_DT_F32) {
                acc = trit_cpu_dot_f32_generic((const float *)table + (size_t)v * D, xm, D);
            } else {
                const uint16_t *t = (const uint16_t *)table + (size_t)v * D;
                for (int32_t d0 = 0; d0 < D; d0 += 1024) { // widen in chunks that stay in L1
                    int32_t len = D - d0 < 1024 ? D - d0 : 1024;
                    widen_bf16(t + d0, row, len);
                    acc += trit_cpu_dot_f32_generic(row, xm + d0, len);
                }
            }
            logits[(size_t)m * V + v] = acc;
        }
    }
}

void trit_cpu_relu2_mul_generic(const float *g, const float *u, int32_t F, float *out) {
    for (int32_t f = 0; f < F; f++) {
        float r = fmaxf(g[f], 0.0f);
        out[f] = (r * r) * u[f];
    }
}

const trit_cpu_kernels trit_cpu_kernels_scalar = {
    .name = "scalar",
    .tq_gemm = trit_cpu_tq_gemm_generic,
    .quantize_row = trit_cpu_quantize_row_generic,
    .rmsnorm_quantize_row = trit_cpu_rmsnorm_quantize_row_generic,
    .sum_i8 = trit_cpu_sum_i8_generic,
    .dot_f32 = trit_cpu_dot_f32_generic,
    .axpy_f32 = trit_cpu_axpy_f32_generic,
    .exp_sub_sum = trit_cpu_exp_sub_sum_generic,
    .attn_scores = trit_cpu_attn_scores_generic,
    .attn_accum = trit_cpu_attn_accum_generic,
    .lm_head_rows = trit_cpu_lm_head_rows_generic,
    .relu2_mul = trit_cpu_relu2_mul_generic,
};
