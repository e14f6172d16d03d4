/* head_i8_avx2.c — the AVX2 int8 LM head (TRIT_DT_I8ROW, backend.h); the same scheme as head_i8.c (AVX-512) at
 * 8 lanes: int8 widened exactly to f32 (vpmovsxbd + vcvtdq2ps), FMA with f32 x, the row scale applied once to
 * the sum; a row tail of D % 8 columns in scalar f32. Compiled with -mavx2 -mfma; only called when
 * trit_cpu_detect says so. */
#include <immintrin.h>
#include <string.h>

#include "cpu/fast/cpu.h"
#include "cpu/x86/head_i8_tiles.h"

static inline __m256 widen8(const int8_t *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(v)));
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float dot_row(const int8_t *row, const float *x, int32_t D) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int32_t d = 0;
    for (; d + 32 <= D; d += 32) {
        s0 = _mm256_fmadd_ps(widen8(row + d), _mm256_loadu_ps(x + d), s0);
        s1 = _mm256_fmadd_ps(widen8(row + d + 8), _mm256_loadu_ps(x + d + 8), s1);
        s2 = _mm256_fmadd_ps(widen8(row + d + 16), _mm256_loadu_ps(x + d + 16), s2);
        s3 = _mm256_fmadd_ps(widen8(row + d + 24), _mm256_loadu_ps(x + d + 24), s3);
    }
    for (; d + 8 <= D; d += 8)
        s0 = _mm256_fmadd_ps(widen8(row + d), _mm256_loadu_ps(x + d), s0);
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; d < D; d++)
        sum += (float)row[d] * x[d];
    return sum;
}

static void dot_row_x4(const int8_t *row, const float *x0, int32_t D, float out[4]) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const float *x1 = x0 + D, *x2 = x1 + D, *x3 = x2 + D;
    int32_t d = 0;
    for (; d + 8 <= D; d += 8) {
        const __m256 t = widen8(row + d);
        s0 = _mm256_fmadd_ps(t, _mm256_loadu_ps(x0 + d), s0);
        s1 = _mm256_fmadd_ps(t, _mm256_loadu_ps(x1 + d), s1);
        s2 = _mm256_fmadd_ps(t, _mm256_loadu_ps(x2 + d), s2);
        s3 = _mm256_fmadd_ps(t, _mm256_loadu_ps(x3 + d), s3);
    }
    out[0] = hsum8(s0), out[1] = hsum8(s1), out[2] = hsum8(s2), out[3] = hsum8(s3);
    for (; d < D; d++) {
        const float t = (float)row[d];
        out[0] += t * x0[d], out[1] += t * x1[d], out[2] += t * x2[d], out[3] += t * x3[d];
    }
}

void trit_cpu_head_i8_avx2(const int8_t *q, const float *scale, int32_t D, int32_t V, int32_t v0, int32_t v1,
                           const float *x, int32_t M, float *logits) {
    head_i8_tiles(q, scale, D, V, v0, v1, x, M, logits, dot_row, dot_row_x4);
}
