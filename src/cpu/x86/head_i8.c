/* head_i8.c — the AVX-512 int8 LM head (TRIT_DT_I8ROW, backend.h): int8 table rows widened exactly to f32
 * (vpmovsxbd + vcvtdq2ps: every int8 is an f32) and multiplied with f32 x by FMA, so the only difference from ref
 * is the order of the f32 sum; the row scale multiplies the sum once at the end, as in ref.
 *  - decode (M = 1): one table row at a time, 64 bytes (one line) per step into 4 accumulators, prefetching
 *    ahead: one sequential stream per thread, the table read once at half the bytes of bf16.
 *  - several rows of x: x is tiled so a tile stays in L2 while the table rows of this thread's range pass it,
 *    and each widened table vector is used by 4 rows of x.
 * Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mfma (and -ffp-contract=off like the module). */
#include <immintrin.h>

#include "cpu/fast/cpu.h"
#include "cpu/x86/head_i8_tiles.h"

#ifndef HEAD_I8_PREFETCH
#define HEAD_I8_PREFETCH 1024 /* bytes ahead; prefetches never fault, so running past the table is harmless */
#endif
static inline __mmask16 tail_mask(int32_t n) { return (__mmask16)((1u << n) - 1); }

/* 16 int8 at p as f32 (mk: which of them exist) */
static inline __m512 widen16(const int8_t *p, __mmask16 mk) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, p)));
}
static inline __m512 widen16_full(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

static float dot_row(const int8_t *row, const float *x, int32_t D) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int32_t d = 0;
    for (; d + 64 <= D; d += 64) {
        _mm_prefetch((const char *)(row + d) + HEAD_I8_PREFETCH, _MM_HINT_T0);
        s0 = _mm512_fmadd_ps(widen16_full(row + d), _mm512_loadu_ps(x + d), s0);
        s1 = _mm512_fmadd_ps(widen16_full(row + d + 16), _mm512_loadu_ps(x + d + 16), s1);
        s2 = _mm512_fmadd_ps(widen16_full(row + d + 32), _mm512_loadu_ps(x + d + 32), s2);
        s3 = _mm512_fmadd_ps(widen16_full(row + d + 48), _mm512_loadu_ps(x + d + 48), s3);
    }
    for (; d < D; d += 16) {
        const __mmask16 mk = D - d >= 16 ? (__mmask16)0xffff : tail_mask(D - d);
        s0 = _mm512_fmadd_ps(widen16(row + d, mk), _mm512_maskz_loadu_ps(mk, x + d), s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* table row `row` against rows x0..x0+3 (D apart): 4 sums */
static void dot_row_x4(const int8_t *row, const float *x0, int32_t D, float out[4]) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    const float *x1 = x0 + D, *x2 = x1 + D, *x3 = x2 + D;
    for (int32_t d = 0; d < D; d += 16) {
        const __mmask16 mk = D - d >= 16 ? (__mmask16)0xffff : tail_mask(D - d);
        const __m512 t = widen16(row + d, mk);
        s0 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x0 + d), s0);
        s1 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x1 + d), s1);
        s2 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x2 + d), s2);
        s3 = _mm512_fmadd_ps(t, _mm512_maskz_loadu_ps(mk, x3 + d), s3);
    }
    out[0] = _mm512_reduce_add_ps(s0);
    out[1] = _mm512_reduce_add_ps(s1);
    out[2] = _mm512_reduce_add_ps(s2);
    out[3] = _mm512_reduce_add_ps(s3);
}

void trit_cpu_head_i8_avx512(const int8_t *q, const float *scale, int32_t D, int32_t V, int32_t v0, int32_t v1,
                             const float *x, int32_t M, float *logits) {
    head_i8_tiles(q, scale, D, V, v0, v1, x, M, logits, dot_row, dot_row_x4);
}
