/* ops_avx512.c — the float-side kernels of the AVX-512 set and its kernel table: activation quantization (plain
 * and fused with RMSNorm), the f32 dot/axpy of attention, the LM head over f32/bf16 tables, relu²·up.
 *  - quantize: the same f32 operations as ref in the same order per element (x*s, round half to even through
 *    vcvtps2dq under the default MXCSR rounding, saturating narrow = clamp), so q and s are bit-exact.
 *  - rmsnorm: the sum of squares in f64 as ref (x² is exact in f64), only the order of the adds differs.
 *  - lm_head: bf16 widened exactly by a 16-bit shift and multiplied in f32 (no vdpbf16ps: that would round the
 *    activations to bf16 and change the numerics); f32 sums in a different order than ref.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni and -ffp-contract=off. */
#include <immintrin.h>
#include <math.h>

#include "cpu/fast/cpu.h"

void trit_cpu_tq_gemm_avx512(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1);
void trit_cpu_tq_gemm_amx(const trit_cpu_tq_args *a, int32_t nb0, int32_t nb1); /* tq_amx.c */
size_t trit_cpu_amx_scratch_bytes(int32_t K);
int32_t trit_cpu_sum_i8_avx512(const int8_t *q, int32_t K);

static inline __mmask16 tail_mask(int32_t n) { return (__mmask16)((1u << n) - 1); }

// ------------------------------------------------------------------------------------------------ quantize

static void quantize_scaled(const float *x, const float *w, float rs, int32_t K, float sc, int8_t *q) {
    // q[k] = sat8(rint(y*sc)) with y = x (w == NULL) or (x*rs)*w
    const __m512 vs = _mm512_set1_ps(sc), vr = _mm512_set1_ps(rs);
    int32_t k = 0;
    for (; k < K; k += 16) {
        const __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : tail_mask(K - k);
        __m512 y = _mm512_maskz_loadu_ps(mk, x + k);
        if (w)
            y = _mm512_mul_ps(_mm512_mul_ps(y, vr), _mm512_maskz_loadu_ps(mk, w + k));
        const __m512i i = _mm512_cvtps_epi32(_mm512_mul_ps(y, vs));
        _mm512_mask_cvtsepi32_storeu_epi8(q + k, mk, i);
    }
}

static void quantize_row(const float *x, int32_t K, int8_t *q, float *s) {
    __m512 mx = _mm512_setzero_ps();
    for (int32_t k = 0; k < K; k += 16) {
        const __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : tail_mask(K - k);
        mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps(mk, x + k)));
    }
    const float sc = 127.0f / fmaxf(_mm512_reduce_max_ps(mx), 1e-5f);
    quantize_scaled(x, NULL, 1.0f, K, sc, q);
    *s = sc;
}

static void rmsnorm_quantize_row(const float *x, const float *w, int32_t K, float eps, int8_t *q, float *s) {
    __m512d s0 = _mm512_setzero_pd(), s1 = s0;
    for (int32_t k = 0; k < K; k += 16) {
        const __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : tail_mask(K - k);
        const __m512 v = _mm512_maskz_loadu_ps(mk, x + k);
        const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        s0 = _mm512_fmadd_pd(lo, lo, s0); // x*x is exact in f64, so the fma rounds like ref's separate add
        s1 = _mm512_fmadd_pd(hi, hi, s1);
    }
    const float rs = trit_cpu_rms_scale(_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)), K, eps);
    const __m512 vr = _mm512_set1_ps(rs);
    __m512 mx = _mm512_setzero_ps();
    for (int32_t k = 0; k < K; k += 16) {
        const __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : tail_mask(K - k);
        const __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(mk, x + k), vr),
                                       _mm512_maskz_loadu_ps(mk, w + k));
        mx = _mm512_max_ps(mx, _mm512_abs_ps(y));
    }
    const float sc = 127.0f / fmaxf(_mm512_reduce_max_ps(mx), 1e-5f);
    quantize_scaled(x, w, rs, K, sc, q);
    *s = sc;
}

// ------------------------------------------------------------------------------------------------ attention helpers

static float dot_f32(const float *a, const float *b, int32_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int32_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i < n; i += 16) {
        const __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + i), _mm512_maskz_loadu_ps(mk, b + i), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static void axpy_f32(float a, const float *x, float *y, int32_t n) {
    const __m512 va = _mm512_set1_ps(a);
    for (int32_t i = 0; i < n; i += 16) {
        const __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, mk,
                              _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(mk, x + i), _mm512_maskz_loadu_ps(mk, y + i)));
    }
}

/* scores of tn positions; D up to 128 keeps q in 8 registers for the whole block */
static void attn_scores(const float *q, const float *k, size_t stride, int32_t tn, int32_t D, float scale,
                        float *sc) {
    if (D != 128) {
        for (int32_t t = 0; t < tn; t++)
            sc[t] = dot_f32(q, k + (size_t)t * stride, D) * scale;
        return;
    }
    __m512 qv[8];
    for (int c = 0; c < 8; c++)
        qv[c] = _mm512_loadu_ps(q + 16 * c);
    for (int32_t t = 0; t < tn; t++) {
        const float *kt = k + (size_t)t * stride;
        __m512 s0 = _mm512_mul_ps(qv[0], _mm512_loadu_ps(kt)), s1 = _mm512_mul_ps(qv[1], _mm512_loadu_ps(kt + 16));
        s0 = _mm512_fmadd_ps(qv[2], _mm512_loadu_ps(kt + 32), s0);
        s1 = _mm512_fmadd_ps(qv[3], _mm512_loadu_ps(kt + 48), s1);
        s0 = _mm512_fmadd_ps(qv[4], _mm512_loadu_ps(kt + 64), s0);
        s1 = _mm512_fmadd_ps(qv[5], _mm512_loadu_ps(kt + 80), s1);
        s0 = _mm512_fmadd_ps(qv[6], _mm512_loadu_ps(kt + 96), s0);
        s1 = _mm512_fmadd_ps(qv[7], _mm512_loadu_ps(kt + 112), s1);
        sc[t] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) * scale;
    }
}

/* acc += Σ p[t] v_t, acc held in registers across the block (chunks of 128 floats) */
static void attn_accum(const float *p, const float *v, size_t stride, int32_t tn, int32_t D, float *acc) {
    int32_t d0 = 0;
    for (; d0 + 128 <= D; d0 += 128) {
        __m512 a[8];
        for (int c = 0; c < 8; c++)
            a[c] = _mm512_loadu_ps(acc + d0 + 16 * c);
        for (int32_t t = 0; t < tn; t++) {
            const __m512 pt = _mm512_set1_ps(p[t]);
            const float *vt = v + (size_t)t * stride + d0;
            for (int c = 0; c < 8; c++)
                a[c] = _mm512_fmadd_ps(pt, _mm512_loadu_ps(vt + 16 * c), a[c]);
        }
        for (int c = 0; c < 8; c++)
            _mm512_storeu_ps(acc + d0 + 16 * c, a[c]);
    }
    if (d0 < D)
        for (int32_t t = 0; t < tn; t++)
            axpy_f32(p[t], v + (size_t)t * stride + d0, acc + d0, D - d0);
}

/* exp(x) for x <= 0 (softmax after the max is subtracted): Cephes' expf scheme — n = round(x·log2 e), r = x − n·ln 2
 * in two parts, a degree-5 polynomial for e^r, times 2^n by vscalefps (which also underflows to 0 cleanly) */
static inline __m512 exp_neg(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f)); // e^-104 is below the smallest denormal: result 0
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static float exp_sub_sum(float *x, int32_t n, float m) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    for (int32_t i = 0; i < n; i += 16) {
        const __mmask16 mk = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        const __m512 e = exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), vm));
        _mm512_mask_storeu_ps(x + i, mk, e);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(mk, e));
    }
    return _mm512_reduce_add_ps(sum);
}

// ------------------------------------------------------------------------------------------------ lm_head

/* 16 table elements as f32 (bf16: exact widening by a 16-bit shift) */
static inline __m512 load_row(const void *table, trit_dtype dt, size_t off, __mmask16 mk) {
    if (dt == TRIT_DT_F32)
        return _mm512_maskz_loadu_ps(mk, (const float *)table + off);
    const __m256i h = _mm256_maskz_loadu_epi16(mk, (const uint16_t *)table + off);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* decode over a bf16 table, one row at a time (one sequential stream per thread, which the prefetchers follow
 * best). A 64-byte load holds 16 pairs of bf16: (dword << 16) is the even elements as f32, (dword & 0xffff0000)
 * the odd ones — no cross-lane widening — against x split the same way into xe/xo. */
#define HEAD_MAX_D 8192
#ifndef HEAD_PREFETCH
#define HEAD_PREFETCH 2048 /* bytes ahead; prefetches never fault, so running past the table is harmless */
#endif
static void head_m1_bf16(const uint16_t *table, int32_t D, int32_t v0, int32_t v1, const float *x,
                         float *logits) {
    float xe[HEAD_MAX_D / 2], xo[HEAD_MAX_D / 2];
    const int32_t P = D / 2; // pairs per row
    for (int32_t j = 0; j < P; j++)
        xe[j] = x[2 * j], xo[j] = x[2 * j + 1];
    const __m512i hi_mask = _mm512_set1_epi32((int)0xffff0000u);
    for (int32_t v = v0; v < v1; v++) {
        const uint16_t *row = table + (size_t)v * D;
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        int32_t j = 0;
        for (; j + 32 <= P; j += 32) {
            _mm_prefetch((const char *)(row + 2 * j) + HEAD_PREFETCH, _MM_HINT_T0);
            _mm_prefetch((const char *)(row + 2 * j) + HEAD_PREFETCH + 64, _MM_HINT_T0);
            const __m512i w0 = _mm512_loadu_si512((const void *)(row + 2 * j));
            const __m512i w1 = _mm512_loadu_si512((const void *)(row + 2 * j + 32));
            s0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)), _mm512_loadu_ps(xe + j), s0);
            s1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(w0, hi_mask)), _mm512_loadu_ps(xo + j), s1);
            s2 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w1, 16)), _mm512_loadu_ps(xe + j + 16), s2);
            s3 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(w1, hi_mask)), _mm512_loadu_ps(xo + j + 16),
                                 s3);
        }
        for (; j < P; j += 16) {
            const __mmask16 mk = P - j >= 16 ? (__mmask16)0xffff : tail_mask(P - j);
            const __m512i w0 = _mm512_maskz_loadu_epi32(mk, (const void *)(row + 2 * j));
            s0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(w0, 16)), _mm512_maskz_loadu_ps(mk, xe + j), s0);
            s1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(w0, hi_mask)), _mm512_maskz_loadu_ps(mk, xo + j),
                                 s1);
        }
        logits[v] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    }
}

/* decode: 4 vocabulary rows per pass share each load of x */
static void head_m1(const void *table, trit_dtype dt, int32_t D, int32_t v0, int32_t v1, const float *x,
                    float *logits) {
    int32_t v = v0;
    for (; v + 4 <= v1; v += 4) {
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        const size_t r0 = (size_t)v * D;
        for (int32_t d = 0; d < D; d += 16) {
            const __mmask16 mk = D - d >= 16 ? (__mmask16)0xffff : tail_mask(D - d);
            const __m512 xv = _mm512_maskz_loadu_ps(mk, x + d);
            s0 = _mm512_fmadd_ps(load_row(table, dt, r0 + d, mk), xv, s0);
            s1 = _mm512_fmadd_ps(load_row(table, dt, r0 + (size_t)D + d, mk), xv, s1);
            s2 = _mm512_fmadd_ps(load_row(table, dt, r0 + 2 * (size_t)D + d, mk), xv, s2);
            s3 = _mm512_fmadd_ps(load_row(table, dt, r0 + 3 * (size_t)D + d, mk), xv, s3);
        }
        logits[v] = _mm512_reduce_add_ps(s0);
        logits[v + 1] = _mm512_reduce_add_ps(s1);
        logits[v + 2] = _mm512_reduce_add_ps(s2);
        logits[v + 3] = _mm512_reduce_add_ps(s3);
    }
    for (; v < v1; v++) {
        __m512 s0 = _mm512_setzero_ps();
        for (int32_t d = 0; d < D; d += 16) {
            const __mmask16 mk = D - d >= 16 ? (__mmask16)0xffff : tail_mask(D - d);
            s0 = _mm512_fmadd_ps(load_row(table, dt, (size_t)v * D + d, mk), _mm512_maskz_loadu_ps(mk, x + d), s0);
        }
        logits[v] = _mm512_reduce_add_ps(s0);
    }
}

/* several rows of x: one table row (in L1 after the first pass) against 4 rows of x at a time */
static void lm_head_rows(const void *table, trit_dtype dt, int32_t D, int32_t V, int32_t v0, int32_t v1,
                         const float *x, int32_t M, float *logits) {
    if (M == 1 && dt == TRIT_DT_BF16 && D % 2 == 0 && D <= HEAD_MAX_D) {
        head_m1_bf16(table, D, v0, v1, x, logits);
        return;
    }
    if (M == 1) {
        head_m1(table, dt, D, v0, v1, x, logits);
        return;
    }
    for (int32_t v = v0; v < v1; v++) {
        const size_t r0 = (size_t)v * D;
        int32_t m = 0;
        for (; m + 4 <= M; m += 4) {
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            const float *x0 = x + (size_t)m * D;
            for (int32_t d = 0; d < D; d += 16) {
                const __mmask16 mk = D - d >= 16 ? (__mmask16)0xffff : tail_mask(D - d);
                const __m512 t = load_row(table, dt, r0 + d, mk);
                s0 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x0 + d), s0);
                s1 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x0 + (size_t)D + d), s1);
                s2 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x0 + 2 * (size_t)D + d), s2);
                s3 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x0 + 3 * (size_t)D + d), s3);
            }
            logits[(size_t)m * V + v] = _mm512_reduce_add_ps(s0);
            logits[(size_t)(m + 1) * V + v] = _mm512_reduce_add_ps(s1);
            logits[(size_t)(m + 2) * V + v] = _mm512_reduce_add_ps(s2);
            logits[(size_t)(m + 3) * V + v] = _mm512_reduce_add_ps(s3);
        }
        for (; m < M; m++)
            head_m1(table, dt, D, v, v + 1, x + (size_t)m * D, logits + (size_t)m * V);
    }
}

// ------------------------------------------------------------------------------------------------ glu

static void relu2_mul(const float *g, const float *u, int32_t F, float *out) {
    const __m512 z = _mm512_setzero_ps();
    for (int32_t f = 0; f < F; f += 16) {
        const __mmask16 mk = F - f >= 16 ? (__mmask16)0xffff : tail_mask(F - f);
        const __m512 r = _mm512_max_ps(_mm512_maskz_loadu_ps(mk, g + f), z); // NaN -> 0, as fmaxf(g, 0)
        _mm512_mask_storeu_ps(out + f, mk, _mm512_mul_ps(_mm512_mul_ps(r, r), _mm512_maskz_loadu_ps(mk, u + f)));
    }
}

static const trit_cpu_kernels k_avx512 = {
    .name = "avx512",
    .tq_gemm = trit_cpu_tq_gemm_avx512,
    .quantize_row = quantize_row,
    .rmsnorm_quantize_row = rmsnorm_quantize_row,
    .sum_i8 = trit_cpu_sum_i8_avx512,
    .dot_f32 = dot_f32,
    .axpy_f32 = axpy_f32,
    .exp_sub_sum = exp_sub_sum,
    .attn_scores = attn_scores,
    .attn_accum = attn_accum,
    .lm_head_rows = lm_head_rows,
    .relu2_mul = relu2_mul,
};

const trit_cpu_kernels *trit_cpu_kernels_avx512(void) { return &k_avx512; }

/* the same set with the AMX-INT8 GEMM for prefill (tq_amx.c; untested, opt-in: see there) */
static const trit_cpu_kernels k_amx = {
    .name = "amx",
    .tq_gemm = trit_cpu_tq_gemm_amx,
    .gemm_scratch = trit_cpu_amx_scratch_bytes,
    .quantize_row = quantize_row,
    .rmsnorm_quantize_row = rmsnorm_quantize_row,
    .sum_i8 = trit_cpu_sum_i8_avx512,
    .dot_f32 = dot_f32,
    .axpy_f32 = axpy_f32,
    .attn_scores = attn_scores,
    .attn_accum = attn_accum,
    .exp_sub_sum = exp_sub_sum,
    .lm_head_rows = lm_head_rows,
    .relu2_mul = relu2_mul,
};

const trit_cpu_kernels *trit_cpu_kernels_amx(void) { return &k_amx; }
